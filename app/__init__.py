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
    from app.indexing.handlers import IndexingHandlers
    from app.maintenance import schedule_tombstone_expiry
    from app.settings import Settings

    settings = Settings.from_env()
    handlers = IndexingHandlers(settings)
    production = build_app(settings, handlers)
    schedule_tombstone_expiry(production, handlers, settings.tombstone_sweep_interval_s)
    globals()["app"] = production
    return production
