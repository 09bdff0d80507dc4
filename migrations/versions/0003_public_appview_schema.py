"""PublicAppView's schema, exactly, in `public`; our bookkeeping in a schema of our own, `indexer`.

Three ways in, told apart by what the database holds when this revision runs (migrations/layout.py):

(a) An empty database. Revisions 0001/0002 created their (empty) layout just before; it is converted
    as in (c), which leaves every table of PublicAppView's schema.sql and the `indexer` schema.
(b) A PublicAppView database: `public.users` exists and `public.record_versions` does not (no
    Alembic version table either; 0001/0002 did nothing). Its `public` schema must be exactly the
    one this code was written for: any difference (a table, column, type, nullability, default,
    index, constraint or foreign key that differs, is missing or is extra; extra indexes excepted,
    since PublicAppView's API adds a trigram index at its start) stops the upgrade with the list,
    and PostgreSQL's transactional DDL leaves everything as it was. Otherwise only `indexer` is
    created, and nothing of `public` is dropped, retyped or rewritten. Our bookkeeping starts from
    the rows that exist: each record row gets a version of 0, which every event beats, so live events
    update and delete them; the notifications' records are read from their URIs. Counters are
    theirs as they are: run `python -m app recount` afterwards.
(c) A database at our revision 0002: `public.record_versions` exists. First every row that would
    not fit the reference (a value wider than its `varchar(n)`, a null where the reference is NOT
    NULL and no fallback applies) is listed and the upgrade refuses, before anything changes. Then
    the bookkeeping tables move to `indexer` as they are; our columns on public tables are copied
    into `indexer` tables (account status and versions, which record caused each notification,
    followers-only and absent thread-gate rules); the old public tables move aside, the reference
    tables are created, the rows are copied over retyped (`text` to `varchar(n)`, `commit_seq` to
    text; a null `created_at` takes `indexed_at`), a second verification of the same subject goes
    aside in `indexer.aside_records` (the reference is unique per subject), and the old tables are
    dropped.

The schema's comment records which way it came (`created` for a and c, `adopted` for b), so that the
downgrade removes what we created and nothing of a database we adopted. Downgrading a created
database below this revision keeps no rows (the 0002 layout is recreated empty).

The tables are created from the models as they are at this revision; a later revision that changes
a model of a public table must first pin the definitions this one uses.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 18:30:00
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from migrations import layout
from models import INDEXER_SCHEMA, Base, public_metadata

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCRATCH = "indexer_upgrade_0003"  # where the 0002 tables wait while their rows are copied

# Bookkeeping tables of 0001, moved as they are.
MOVED = ("record_versions", "account_tombstones", "aside_records")
# Tables of ours created by this revision.
NEW_OURS = ("account_states", "notification_sources", "thread_gate_rules")
# Public tables of the 0002 layout.
OLD_PUBLIC = (
    "users", "posts", "post_aggregations", "feed_items", "likes", "reposts", "bookmarks", "quotes",
    "follows", "blocks", "list_blocks", "lists", "list_items", "feed_generators", "starter_packs",
    "labeler_services", "labels", "verifications", "thread_gates", "post_gates", "notifications",
    "generic_records",
)  # fmt: skip
# Public tables whose rows are records keyed by their own AT-URI (path b: versions start at 0).
URI_KEYED = (
    "posts", "likes", "reposts", "follows", "blocks", "list_blocks", "lists", "list_items",
    "feed_generators", "starter_packs", "labeler_services", "verifications", "generic_records",
)  # fmt: skip
VERIFICATION = "app.bsky.graph.verification"
# The gate records' URIs follow from the gated post's: same repository, same record key.
GATES = {"thread_gates": "app.bsky.feed.threadgate", "post_gates": "app.bsky.feed.postgate"}


def _indexer_tables(names: Sequence[str]) -> list[sa.Table]:
    return [Base.metadata.tables[f"{INDEXER_SCHEMA}.{name}"] for name in names]


def upgrade() -> None:
    bind = op.get_bind()
    if layout.has_own_old_layout(bind):
        _convert_own_layout(bind)
        layout.set_origin(bind, INDEXER_SCHEMA, layout.CREATED)
    elif layout.is_public_appview(bind):
        _refuse_if_public_differs(bind)
        Base.metadata.create_all(bind, tables=_indexer_tables(MOVED + NEW_OURS))
        _start_bookkeeping(bind)
        layout.set_origin(bind, INDEXER_SCHEMA, layout.ADOPTED)
    else:
        raise RuntimeError(
            "0003: neither our own 0002 layout nor PublicAppView's tables are here; "
            "the public schema holds something else"
        )


def downgrade() -> None:
    bind = op.get_bind()
    adopted = layout.origin(bind, INDEXER_SCHEMA) == layout.ADOPTED
    for table in reversed(_indexer_tables(MOVED + NEW_OURS)):
        table.drop(bind, checkfirst=True)
    bind.execute(sa.text(f"COMMENT ON SCHEMA {INDEXER_SCHEMA} IS NULL"))
    if adopted:
        return  # PublicAppView's tables stay as they were
    public_metadata().drop_all(bind)
    for script in ("0001_initial_schema.py", "0002_thread_gates_allow_followers.py"):
        _load_sibling(script).upgrade()


def _load_sibling(filename: str) -> object:
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"_revision_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- (b) adopting a PublicAppView database -------------------------------------------------------


def _refuse_if_public_differs(bind: Connection) -> None:
    context = MigrationContext.configure(bind, opts={"compare_type": True, "compare_server_default": True})
    diffs = [
        diff for diff in _flatten(compare_metadata(context, public_metadata())) if diff[0] != "remove_index"
    ]
    if diffs:
        listed = "\n".join(f"  - {_describe(diff)}" for diff in diffs)
        raise RuntimeError(
            "0003: this database's public schema differs from the PublicAppView schema this indexer "
            f"writes (another PublicAppView version?); nothing was changed. Differences:\n{listed}"
        )


def _flatten(diffs: list) -> list:
    flat = []
    for diff in diffs:
        flat.extend(diff if isinstance(diff, list) else [diff])
    return flat


def _describe(diff: tuple) -> str:
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        return f"{kind} {diff[1].name}"
    if kind in ("add_column", "remove_column"):
        return f"{kind} {diff[2]}.{diff[3].name}"
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        item = diff[1]
        return f"{kind} {getattr(item, 'name', item)} on {item.table.name}"
    if kind.startswith("modify_"):
        _, _, table, column, _, existing, wanted = diff
        return f"{kind} {table}.{column}: database has {existing!r}, expected {wanted!r}"
    return repr(diff)


def _start_bookkeeping(bind: Connection) -> None:
    """Versions at 0 for the records that exist, and the notifications' records from their URIs."""
    versions = f"{INDEXER_SCHEMA}.record_versions"
    selects = [
        f"SELECT uri, split_part(uri, '/', 3) FROM public.{table} WHERE uri LIKE 'at://%'"
        for table in URI_KEYED
    ]
    selects += [
        f"SELECT {_gate_uri(collection)}, split_part(post_uri, '/', 3) FROM public.{table} "
        "WHERE post_uri LIKE 'at://%'"
        for table, collection in GATES.items()
    ]
    selects.append(
        "SELECT 'at://' || did || '/app.bsky.actor.profile/self', did FROM public.users "
        "WHERE profile_record IS NOT NULL OR display_name IS NOT NULL OR description IS NOT NULL "
        "OR avatar_url IS NOT NULL OR banner_url IS NOT NULL"
    )
    for select in selects:
        bind.execute(
            sa.text(
                f"INSERT INTO {versions} (uri, did, version, deleted) "
                f"SELECT s.uri, s.did, 0, false FROM ({select}) AS s (uri, did) ON CONFLICT (uri) DO NOTHING"
            )
        )
    bind.execute(
        sa.text(
            f"INSERT INTO {INDEXER_SCHEMA}.notification_sources (uri, record_uri) "
            "SELECT uri, split_part(uri, '#', 1) FROM public.notifications"
        )
    )


def _gate_uri(collection: str) -> str:
    return f"'at://' || split_part(post_uri, '/', 3) || '/{collection}/' || split_part(post_uri, '/', 5)"


# -- (a) and (c): our own 0002 layout ------------------------------------------------------------


def _convert_own_layout(bind: Connection) -> None:
    reference = public_metadata()
    problems = _rows_that_do_not_fit(bind, reference)
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise RuntimeError(
            "0003: these rows do not fit PublicAppView's schema; fix or delete them and run the "
            f"upgrade again (nothing was changed):\n{listed}"
        )
    for name in MOVED:
        bind.execute(sa.text(f"ALTER TABLE public.{name} SET SCHEMA {INDEXER_SCHEMA}"))
    bind.execute(sa.text(f"CREATE SCHEMA {SCRATCH}"))
    for name in OLD_PUBLIC:
        bind.execute(sa.text(f"ALTER TABLE public.{name} SET SCHEMA {SCRATCH}"))
    Base.metadata.create_all(bind, tables=_indexer_tables(NEW_OURS))
    reference.create_all(bind)
    _copy_our_columns(bind)
    for name in OLD_PUBLIC:
        _copy_rows(bind, reference.tables[name])
    _set_aside_second_verifications(bind)
    bind.execute(
        sa.text(
            "SELECT setval(pg_get_serial_sequence('public.notifications', 'id'), "
            "coalesce((SELECT max(id) FROM public.notifications), 0) + 1, false)"
        )
    )
    bind.execute(sa.text(f"DROP SCHEMA {SCRATCH} CASCADE"))


def _old_columns(bind: Connection, table: str) -> dict[str, bool]:
    """Column name → nullable, of a table of the 0002 layout in `public`."""
    rows = bind.execute(
        sa.text(
            "SELECT column_name, is_nullable = 'YES' FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = :table"
        ),
        {"table": table},
    )
    return dict(rows.all())


def _key_of(table: sa.Table) -> str:
    return next(iter(table.primary_key.columns)).name


def _rows_that_do_not_fit(bind: Connection, reference: sa.MetaData) -> list[str]:
    problems: list[str] = []
    for name in OLD_PUBLIC:
        table = reference.tables[name]
        old = _old_columns(bind, name)
        key = _key_of(table)
        for column in table.columns:
            if column.name not in old:
                continue
            width = getattr(column.type, "length", None)
            checks = []
            if isinstance(column.type, sa.String) and width is not None:
                checks.append((f"length({column.name}::text) > {width}", f"wider than varchar({width})"))
            if not column.nullable and old[column.name] and _fallback(table, column, old) is None:
                checks.append((f"{column.name} IS NULL", "null where the reference is NOT NULL"))
            for condition, what in checks:
                rows = (
                    bind.execute(
                        sa.text(f"SELECT {key}::text FROM public.{name} WHERE {condition} ORDER BY 1 LIMIT 6")
                    )
                    .scalars()
                    .all()
                )
                if rows:
                    count = bind.scalar(sa.text(f"SELECT count(*) FROM public.{name} WHERE {condition}"))
                    sample = ", ".join(repr(row[:120]) for row in rows[:5])
                    problems.append(f"{name}.{column.name}: {count} row(s) {what} ({key} {sample})")
    return problems


def _fallback(table: sa.Table, column: sa.Column, old: dict[str, bool]) -> str | None:
    """What a null of an old nullable column becomes in a NOT NULL reference column, if anything."""
    if column.server_default is not None:
        return str(column.server_default.arg)
    if isinstance(column.type, sa.DateTime) and "indexed_at" in old:
        return "indexed_at"
    return None


def _copy_rows(bind: Connection, table: sa.Table) -> None:
    old = _old_columns_scratch(bind, table.name)
    names, values = [], []
    for column in table.columns:
        if column.name not in old:
            continue
        type_ = column.type.compile(dialect=bind.dialect)
        value = f"CAST(o.{column.name} AS {type_})"
        fallback = _fallback(table, column, old) if not column.nullable and old[column.name] else None
        if fallback == "indexed_at":
            value = f"coalesce({value}, o.indexed_at)"
        elif fallback is not None:
            value = f"coalesce({value}, {fallback})"
        names.append(column.name)
        values.append(value)
    source = f"{SCRATCH}.{table.name} o"
    if table.name == "verifications":
        # One per subject, the oldest by version; the others go aside (_set_aside_second_verifications).
        source += (
            f" LEFT JOIN {INDEXER_SCHEMA}.record_versions v ON v.uri = o.uri "
            "WHERE o.uri = (SELECT o2.uri FROM {scratch}.verifications o2 "
            f"LEFT JOIN {INDEXER_SCHEMA}.record_versions v2 ON v2.uri = o2.uri "
            "WHERE o2.subject_did = o.subject_did ORDER BY coalesce(v2.version, 0), o2.uri LIMIT 1)"
        ).replace("{scratch}", SCRATCH)
    bind.execute(
        sa.text(
            f"INSERT INTO public.{table.name} ({', '.join(names)}) SELECT {', '.join(values)} FROM {source}"
        )
    )


def _old_columns_scratch(bind: Connection, table: str) -> dict[str, bool]:
    rows = bind.execute(
        sa.text(
            "SELECT column_name, is_nullable = 'YES' FROM information_schema.columns "
            "WHERE table_schema = :schema AND table_name = :table"
        ),
        {"schema": SCRATCH, "table": table},
    )
    return dict(rows.all())


def _copy_our_columns(bind: Connection) -> None:
    """Account status and versions, notifications' records, thread-gate rules: into `indexer`."""
    bind.execute(
        sa.text(
            f"INSERT INTO {INDEXER_SCHEMA}.account_states (did, status, handle_version, status_version) "
            f"SELECT did, status, handle_version, status_version FROM {SCRATCH}.users "
            "WHERE status IS NOT NULL OR handle_version IS NOT NULL OR status_version IS NOT NULL"
        )
    )
    bind.execute(
        sa.text(
            f"INSERT INTO {INDEXER_SCHEMA}.notification_sources (uri, record_uri) "
            f"SELECT uri, record_uri FROM {SCRATCH}.notifications"
        )
    )
    # A gate without `allow` had every flag null; one written before 0002 had no allow_followers.
    bind.execute(
        sa.text(
            f"INSERT INTO {INDEXER_SCHEMA}.thread_gate_rules (post_uri, allow_followers) "
            "SELECT post_uri, CASE WHEN allow_mentions IS NULL THEN NULL "
            f"ELSE coalesce(allow_followers, false) END FROM {SCRATCH}.thread_gates"
        )
    )


def _set_aside_second_verifications(bind: Connection) -> None:
    """Verifications of a subject that already has one in `public` wait aside, in the form
    app.indexing.batch keeps rows aside (the row's columns as JSON, timestamps in ISO form)."""
    bind.execute(
        sa.text(
            f"INSERT INTO {INDEXER_SCHEMA}.aside_records "
            "(uri, collection, author_did, subject, version, cid, row) "
            f"SELECT o.uri, :collection, o.creator_did, o.subject_did, coalesce(v.version, 0), o.cid, "
            "jsonb_build_object('uri', o.uri, 'cid', o.cid, 'subject_did', o.subject_did, "
            "'handle', o.handle, 'verified_at', o.verified_at, 'created_at', o.created_at) "
            f"FROM {SCRATCH}.verifications o LEFT JOIN {INDEXER_SCHEMA}.record_versions v ON v.uri = o.uri "
            "WHERE NOT EXISTS (SELECT 1 FROM public.verifications p WHERE p.uri = o.uri) "
            "ON CONFLICT (uri) DO NOTHING"
        ),
        {"collection": VERIFICATION},
    )
