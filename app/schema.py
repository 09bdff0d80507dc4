"""Whether a database is at the schema this code was written for (Alembic `head`).

The worker checks it once at start-up, and the readiness endpoint on every probe: indexing into a
schema that is missing or behind would fail on the first batch of a collection whose table or column
is missing, after entries were read, and again on every retry. Stopping at once with the command
that fixes it is kinder to the operator than a stream of database errors.
"""

from __future__ import annotations

import ast
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.broker.retry import POSTGRESQL, retry_transient
from app.settings import ConfigurationError, mask_url

logger = logging.getLogger(__name__)

# The repository's layout (also the container image's): migrations/ beside app/.
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class SchemaNotAtHead(ConfigurationError):
    """The database schema is missing, behind or unknown to this code; the message says what to do."""


@dataclass(frozen=True)
class Revisions:
    """The revision graph of the migration scripts shipped with this code."""

    known: frozenset[str]
    heads: frozenset[str]


@cache
def revisions() -> Revisions:
    """Read from each script's `revision` and `down_revision` assignments rather than through
    Alembic's ScriptDirectory, whose imports (Alembic, Mako, Pygments) would cost the worker about
    9 MB of its memory for a question asked once. tests/migrations checks both agree."""
    versions = MIGRATIONS_DIR / "versions"
    if not versions.is_dir():
        raise ConfigurationError(f"the Alembic migrations are missing ({versions} does not exist)")
    known: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        assigned = _assignments(ast.parse(script.read_text(), str(script)))
        revision = assigned.get("revision")
        if not isinstance(revision, str):
            continue
        known.add(revision)
        down = assigned.get("down_revision")
        parents.update([down] if isinstance(down, str) else down or ())
    return Revisions(frozenset(known), frozenset(known - parents))


def _assignments(module: ast.Module) -> dict[str, object]:
    """Module-level `name = <literal>` and `name: type = <literal>` statements."""
    values: dict[str, object] = {}
    for node in module.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            try:
                values[target.id] = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError):
                continue  # not a literal: nothing Alembic's graph is made of
    return values


def head_revisions() -> frozenset[str]:
    """The head revision(s) of the migration scripts shipped with this code."""
    return revisions().heads


@dataclass(frozen=True)
class SchemaState:
    """The revisions recorded in Alembic's version table (empty when the table is missing)."""

    revisions: frozenset[str]

    @property
    def status(self) -> str:
        """`head`, `missing`, `behind`, or `unknown` (a revision these scripts do not have)."""
        if self.revisions == head_revisions():
            return "head"
        if not self.revisions:
            return "missing"
        return "behind" if self.revisions <= revisions().known else "unknown"

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


# Alembic's version table lives in our own schema; revisions before 0003 kept it in `public`.
VERSION_TABLES = ("indexer.alembic_version", "public.alembic_version")


async def schema_state(conn: AsyncConnection) -> SchemaState:
    for table in VERSION_TABLES:
        exists = await conn.scalar(text(f"SELECT to_regclass('{table}') IS NOT NULL"))
        if exists:
            rows = await conn.scalars(text(f"SELECT version_num FROM {table}"))
            return SchemaState(frozenset(rows))
    return SchemaState(frozenset())


async def require_schema_at_head(engine: AsyncEngine) -> None:
    """Wait for PostgreSQL to answer (it may start after the worker), then insist on `head`."""

    async def read() -> SchemaState:
        async with engine.connect() as conn:
            return await schema_state(conn)

    state = await retry_transient(read, what="schema check", server=POSTGRESQL)
    if not state.at_head:
        raise SchemaNotAtHead(state.problem())
    logger.info("Indexing into %s, schema %s", mask_url(engine.url), state.describe())
