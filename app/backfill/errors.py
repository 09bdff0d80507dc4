"""What can go wrong fetching and reading a repository, as types the caller decides on.

Three outcomes matter to whoever schedules repositories:
- `RepoInactive`: the PDS says the repository is deactivated, taken down, suspended or not there.
  The repository ends as inactive (with that status); retrying would get the same answer.
- `TransientError`: worth retrying later (timeouts, connection errors, 5xx, rate limits,
  a CAR cut short or corrupted in transit).
- `PermanentError`: retrying gives the same failure (a DID that does not resolve, an invalid DID
  document, a 4xx that is not a rate limit, a CAR that is not a valid repository).

`CarError` and its subclasses are permanent failures of one snapshot file; a caller that
suspects transport damage may fetch once more.
"""

from __future__ import annotations


class BackfillError(Exception):
    """Base of every error of this package; the message is one line, safe to log."""


class TransientError(BackfillError):
    """Try again later; `retry_after` (seconds) when the server said how long to wait."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """A host answered 429 (or its budget is spent) for longer than this process waits in place."""


class PermanentError(BackfillError):
    """The same request will fail the same way."""


class RepoInactive(BackfillError):
    """The PDS will not serve the repository: `status` is `deactivated`, `takendown`,
    `suspended` or `not_found` (from the XRPC error names RepoDeactivated, RepoTakendown,
    RepoSuspended, RepoNotFound)."""

    def __init__(self, did: str, status: str, message: str = "") -> None:
        super().__init__(f"{did}: repository {status}" + (f" ({message})" if message else ""))
        self.did = did
        self.status = status


# --- identity -----------------------------------------------------------------------------------------


class IdentityError(PermanentError):
    """The DID cannot be turned into a PDS endpoint."""


class InvalidDid(IdentityError):
    """The string is not a DID of a supported method (did:plc, did:web) with valid syntax."""


class DidNotFound(IdentityError):
    """The directory or the web host has no document for the DID (or it is tombstoned)."""


class InvalidDidDocument(IdentityError):
    """The document is not JSON, names another DID, or has no usable `#atproto_pds` endpoint."""


# --- CAR / repository structure ---------------------------------------------------------------------


class CarError(PermanentError):
    """The CAR file is not a readable repository snapshot."""


class CorruptCar(CarError):
    """The archive framing is broken, or a block's bytes do not hash to its CID."""


class MissingBlock(CarError):
    """A block the commit or the MST points at is not in the archive."""


class CommitMismatch(CarError):
    """The CAR root is missing, is not a commit, or is the commit of another DID."""


class UnsupportedRepoVersion(CarError):
    """The commit is of a repository format other than version 3 (version 2 commits name no
    `rev`, which a snapshot needs as its version)."""


class BadMstNode(CarError):
    """An MST node does not decode to the node shape, or its keys are out of order or invalid."""
