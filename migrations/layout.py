"""What a database holds, for revisions that must tell the three ways in apart (see 0003):

- our own layout of revisions 0001/0002: `public.record_versions` exists (our bookkeeping in `public`);
- a PublicAppView database we adopt: `public.users` exists without `public.record_versions`;
- an empty database: neither.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

# How a database at revision 0003 or later came to be, kept as the comment of our schema:
CREATED = "created by appview-indexer"  # empty, or converted from our own 0001/0002 layout
ADOPTED = "adopted from PublicAppView"  # its public tables are not ours to drop


def has_table(bind: Connection, schema: str, name: str) -> bool:
    return bool(bind.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": f"{schema}.{name}"}))


def has_own_old_layout(bind: Connection) -> bool:
    """Revisions 0001/0002 ran here: our bookkeeping is still in `public`."""
    return has_table(bind, "public", "record_versions")


def is_public_appview(bind: Connection) -> bool:
    """PublicAppView's tables are here and ours are not (its `drizzle-kit push` created them)."""
    return has_table(bind, "public", "users") and not has_own_old_layout(bind)


def origin(bind: Connection, schema: str) -> str | None:
    return bind.scalar(
        text("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = :schema"),
        {"schema": schema},
    )


def set_origin(bind: Connection, schema: str, value: str) -> None:
    bind.execute(text(f"COMMENT ON SCHEMA {schema} IS '{value}'"))
