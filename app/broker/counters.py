"""In-process counters of the source adapter, for the observability work to publish.

Plain attributes, no locking: everything that touches them runs on the worker's event loop.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class AdapterCounters:
    #: Entries whose `type` is none of commit/identity/account, by type: acknowledged and skipped.
    unknown_types: Counter[str] = field(default_factory=Counter)
    #: Dead letters written: entries the adapter rejected plus those the handlers gave back.
    dead_letters: int = 0
    #: Wall seconds in XREADGROUP (reply parsing included; when the stream is idle, also the wait
    #: for new entries) and in decoding entries, summed over the pipelines.
    stage_seconds: Counter[str] = field(default_factory=Counter)
