"""appview-indexer: the Faust application (`faust -A app worker`).

`app.app` is built on first access, not at import: importing any module of the package (tests, the
migrations, the benchmark) must not read the environment or load the indexing handlers.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from app.application import build_app
    from app.indexing.collections.generic import ANY_COLLECTION
    from app.indexing.handlers import IndexingHandlers
    from app.maintenance import schedule_tombstone_expiry
    from app.observability import Observability
    from app.settings import ConfigurationError, Settings

    try:
        settings = Settings.from_env()
    except ConfigurationError as exc:
        # Before logging is set up: the interpreter prints this one line to stderr, exit status 1.
        raise SystemExit(f"appview-indexer: cannot start: {exc}") from None
    handlers = IndexingHandlers(settings)
    observability = Observability(settings, collections=set(handlers.registry.by_nsid) - {ANY_COLLECTION})
    observability.watch_indexing(handlers)
    production = build_app(settings, handlers, observability)
    schedule_tombstone_expiry(production, handlers, settings.tombstone_sweep_interval_s)
    globals()["app"] = production
    return production
