"""DAG-CBOR and CAR decoding for what arrives from the network: relay frames, commit blocks, repository
exports. Shared by the firehose reader and the backfill; the worker does not import it.

Every decoder here raises `CodecError` (a `ValueError`) on any input it cannot decode, whatever the
library underneath raised, so a caller catches one type and dead-letters or skips the input.
"""

from __future__ import annotations


class CodecError(ValueError):
    """The bytes are not what the decoder expects (malformed, truncated or not strict DAG-CBOR)."""
