"""app.bsky.actor.profile: the profile lives on the account's `users` row, not in a table of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, null, update

from app.indexing.collection import Collection, RecordRef, Row, did_of, strong_ref_json
from app.indexing.sql import array_param, rows_param, rows_select
from app.records import validate
from models import User

if TYPE_CHECKING:
    from app.indexing.batch import BatchWriter

PROFILE_COLUMNS = (
    "display_name",
    "description",
    "avatar_url",
    "banner_url",
    "profile_record",
    "pinned_post",
)


def parse(ref: RecordRef, record: dict[str, Any]) -> Row:
    if ref.rkey != "self":
        raise validate.InvalidRecord("rkey", f"a profile's record key is 'self', not {ref.rkey[:100]!r}")
    created_at = validate.datetime_(record, "createdAt", required=False)
    return {
        "uri": ref.uri,
        "did": ref.did,
        "display_name": validate.text(record, "displayName", required=False, max_bytes=640, max_graphemes=64),
        "description": validate.text(
            record, "description", required=False, max_bytes=2_560, max_graphemes=256
        ),
        "avatar_url": validate.blob_cid(record, "avatar"),
        "banner_url": validate.blob_cid(record, "banner"),
        "profile_record": validate.clean_json(record),
        "pinned_post": strong_ref_json(record, "pinnedPost"),
        "created_at": created_at,
    }


async def insert_rows(writer: BatchWriter, rows: list[Row]) -> list[Row]:
    users = User.__table__
    names = ("did", *PROFILE_COLUMNS, "created_at")
    source = rows_select(users, names).subquery("profiles")
    statement = (
        update(users)
        .where(users.c.did == source.c.did)
        .values(
            {column: source.c[column] for column in PROFILE_COLUMNS}
            | {"created_at": func.coalesce(source.c.created_at, users.c.created_at)}
        )
        .returning(users.c.did)
    )
    result = await writer.conn.execute(statement, rows_param(names, rows))
    updated = set(result.scalars())
    return [{"uri": row["uri"], "did": row["did"]} for row in rows if row["did"] in updated]


async def delete_rows(writer: BatchWriter, uris: list[str]) -> list[Row]:
    users = User.__table__
    statement = (
        update(users)
        .where(users.c.did == func.any(array_param("dids")))
        # null(): a plain None would be stored as JSON `null` in the jsonb columns, not as NULL.
        .values({column: null() for column in PROFILE_COLUMNS})
        .returning(users.c.did)
    )
    result = await writer.conn.execute(statement, {"dids": sorted({did_of(uri) for uri in uris})})
    return [{"uri": f"at://{did}/app.bsky.actor.profile/self", "did": did} for did in result.scalars()]


COLLECTION = Collection(
    nsid="app.bsky.actor.profile",
    table=User.__table__,
    parse=parse,
    author_column="did",
    insert_rows=insert_rows,
    delete_rows=delete_rows,
    shared_rows=True,  # `users`, whose rows every batch naming the account inserts
)
