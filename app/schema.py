"""Whether a database is at the schema this code was written for (Alembic `head`).

The worker checks it once at start-up, and the readiness endpoint on every probe: indexing into a
schema that is missing or behind would fail on the first batch of a collection whose table or column
is missing, after entries were read, and again on every retry. Stopping at once with the command
that fixes it is kinder to the operator than a stream of database errors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.broker.retry import POSTGRESQL, retry_transient
from app.settings import ConfigurationError, mask_url

logger = logging.getLogger(__name__)

# The repository's layout (also the container image's): migrations/ beside app/.
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class SchemaNotAtHead(ConfigurationError):
    """The database schema is missing, behind or unknown to this code; the message says what to do."""


@cache
def head_revisions() -> frozenset[str]:
    """The head revision(s) of the migration scripts shipped with this code."""
    if not MIGRATIONS_DIR.is_dir():
        raise ConfigurationError(f"the Alembic migrations are missing ({MIGRATIONS_DIR} does not exist)")
    return frozenset(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


@dataclass(frozen=True)
class SchemaState:
    """The revisions recorded in `alembic_version` (empty when the table is missing)."""

    revisions: frozenset[str]

    @property
    def status(self) -> str:
        """`head`, `missing`, `behind`, or `unknown` (a revision these scripts do not have)."""
        if self.revisions == head_revisions():
            return "head"
        if not self.revisions:
            return "missing"
        scripts = ScriptDirectory(str(MIGRATIONS_DIR))
        return "behind" if all(_known(scripts, revision) for revision in self.revisions) else "unknown"

    @property
    def at_head(self) -> bool:
        return self.status == "head"

    def describe(self) -> str:
        heads = ", ".join(sorted(head_revisions()))
        current = ", ".join(sorted(self.revisions))
        return {
            "head": f"at head ({heads})",
            "missing": f"missing (no Alembic revision recorded; head is {heads})",
            "behind": f"behind (at {current}; head is {heads})",
            "unknown": f"at {current}, a revision this code does not know (head is {heads})",
        }[self.status]

    def problem(self) -> str:
        """The one line an operator reads when the worker refuses to start."""
        if self.status == "unknown":
            return f"the database schema is {self.describe()}: run a worker as new as the schema"
        return f"the database schema is {self.describe()}: run `alembic upgrade head` first"


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except Exception:  # alembic raises ResolutionError (and subclasses) for unknown ids
        return False


async def schema_state(conn: AsyncConnection) -> SchemaState:
    exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
    if not exists:
        return SchemaState(frozenset())
    rows = await conn.scalars(text("SELECT version_num FROM alembic_version"))
    return SchemaState(frozenset(rows))


async def require_schema_at_head(engine: AsyncEngine) -> None:
    """Wait for PostgreSQL to answer (it may start after the worker), then insist on `head`."""

    async def read() -> SchemaState:
        async with engine.connect() as conn:
            return await schema_state(conn)

    state = await retry_transient(read, what="schema check", server=POSTGRESQL)
    if not state.at_head:
        raise SchemaNotAtHead(state.problem())
    logger.info("Indexing into %s, schema %s", mask_url(engine.url), state.describe())
