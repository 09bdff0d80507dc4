"""Either dialect of a record → lexicon JSON, in one place (DIRECTION §1).

How the dialects are told apart — per JSON object, not per record, because an SDK dump mixes
both: the `atproto` SDK's `model_dump()` tags every object it built from a model of its own with
a string `py_type` (the top level too, possibly beside a `$type` the reader added), while what
it could not model — records of unknown collections, union members with an unknown `$type`,
unknown extra keys — it passes through as it received them, i.e. lexicon-shaped. So:

- an object with a string `py_type` is an *SDK model object*: its snake_case field names are
  mapped back to the lexicon's camelCase names (`LEXICON_NAMES`, exact; unknown extra keys are
  kept as they are), its null fields are dropped (the SDK writes every absent optional field as
  null), and `py_type` becomes `$type` — except on definitions that lexicon JSON carries without
  `$type` because they are never members of a union (`UNTYPED_DEFS`: strong refs, facets,
  byte slices, aspect ratios…), where the SDK invents it;
- any other object is lexicon JSON already and passes through untouched, with one exception:
  blob refs written by Python readers, `"ref": "01551220…"` (hex of the binary CID, what a
  `json.dumps` fallback makes of the bytes the SDK keeps) or `"ref": {"link": CID}` (older
  SDKs), become `"ref": {"$link": CID}`.

Lexicon JSON (Jetstream, the TypeScript stack) is the fast path: nothing is copied unless a blob
ref needs repair, so the record returned is the very object passed in.

What the SDK dialect cannot give back, and this module therefore cannot either: a `$type` the
author wrote on an object that does not need one (e.g. `app.bsky.embed.external#external`), an
explicit null in an SDK model object, and, in records the SDK did not model, CID links other
than blob refs and `$bytes` values (a Python reader turns both into hex strings).

The tables were derived from the lexicons as the SDK models them; tests/records check them
against the installed SDK, so an SDK upgrade that adds fields or definitions fails loudly there.
No SDK and no pydantic here: the worker stays lean.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from app.records.validate import InvalidRecord

# snake_case field name (as the SDK's models spell it) → lexicon field name. Single-word names
# are the same in both dialects and need no entry. Covers every field reachable from a record
# model of the SDK (app.bsky, chat.bsky, com.atproto and the third-party lexicons it ships).
LEXICON_NAMES: dict[str, str] = {
    "accent_foreground": "accentForeground",
    "accepts_interactions": "acceptsInteractions",
    "adult_only": "adultOnly",
    "allow_group_invites": "allowGroupInvites",
    "allow_incoming": "allowIncoming",
    "allow_subscriptions": "allowSubscriptions",
    "aspect_ratio": "aspectRatio",
    "associated_refs": "associatedRefs",
    "basic_theme": "basicTheme",
    "bsky_post_ref": "bskyPostRef",
    "byte_end": "byteEnd",
    "byte_start": "byteStart",
    "canonical_url": "canonicalUrl",
    "content_mode": "contentMode",
    "continuity_proofs": "continuityProofs",
    "cover_image": "coverImage",
    "created_at": "createdAt",
    "current_key": "currentKey",
    "default_setting": "defaultSetting",
    "description_facets": "descriptionFacets",
    "detached_embedding_uris": "detachedEmbeddingUris",
    "display_name": "displayName",
    "duration_minutes": "durationMinutes",
    "embedding_rules": "embeddingRules",
    "ended_at": "endedAt",
    "expires_at": "expiresAt",
    "global_": "global",
    "hidden_replies": "hiddenReplies",
    "hide_from_algorithmic_recommendations": "hideFromAlgorithmicRecommendations",
    "idle_timeout_seconds": "idleTimeoutSeconds",
    "joined_via_starter_pack": "joinedViaStarterPack",
    "key_package": "keyPackage",
    "label_value_definitions": "labelValueDefinitions",
    "label_values": "labelValues",
    "last_seen_at": "lastSeenAt",
    "message_me": "messageMe",
    "message_me_url": "messageMeUrl",
    "mime_type": "mimeType",
    "notification_settings": "notificationSettings",
    "pinned_by": "pinnedBy",
    "pinned_message": "pinnedMessage",
    "pinned_post": "pinnedPost",
    "published_at": "publishedAt",
    "push_notification": "pushNotification",
    "reason_types": "reasonTypes",
    "self_labels": "selfLabels",
    "show_button_to": "showButtonTo",
    "show_in_discover": "showInDiscover",
    "subject_collections": "subjectCollections",
    "subject_types": "subjectTypes",
    "text_content": "textContent",
    "updated_at": "updatedAt",
}

# Definitions that appear in records only as the declared type of a field, never as a union
# member: lexicon JSON needs no `$type` on them and clients do not write one, but the SDK tags
# them anyway. (`app.bsky.embed.record` is not here: it is a union member of post.embed, and
# clients write its `$type` inside recordWithMedia too. The top level always keeps its type.)
UNTYPED_DEFS: frozenset[str] = frozenset(
    {
        "app.bsky.embed.defs#aspectRatio",
        "app.bsky.embed.external#external",
        "app.bsky.embed.images#image",
        "app.bsky.embed.video#caption",
        "app.bsky.feed.post#entity",
        "app.bsky.feed.post#replyRef",
        "app.bsky.feed.post#textSlice",
        "app.bsky.graph.starterpack#feedItem",
        "app.bsky.labeler.defs#labelerPolicies",
        "app.bsky.richtext.facet",
        "app.bsky.richtext.facet#byteSlice",
        "com.atproto.label.defs#labelValueDefinition",
        "com.atproto.label.defs#labelValueDefinitionStrings",
        "com.atproto.label.defs#selfLabel",
        "com.atproto.repo.strongRef",
        "com.germnetwork.declaration#messageMe",
        "place.stream.chat.profile#badgeSelections",
        "place.stream.chat.profile#color",
        "place.stream.chat.profile#streamerBadgeSelection",
        "place.stream.livestream#notificationSettings",
        "site.standard.document#contributor",
        "site.standard.publication#preferences",
        "site.standard.theme.basic",
        "social.grain.defs#aspectRatio",
    }
)

# A binary CIDv1 starts with the version byte 0x01; its hex can never be mistaken for a CID
# string (base32 `b…`, base58 `z…`/`Qm…`).
_HEX_CID = re.compile(r"01(?:[0-9a-f]{2})+")


def to_lexicon(value: Any) -> Any:
    """Return `value` (a record, or any JSON value inside one) as lexicon JSON.

    `value` is what a JSON parser gives (dicts, lists, str, int, float, bool, None). Lexicon JSON
    comes back as the same object, unless a blob ref needed repair; SDK dumps come back as new
    objects. The input is never modified. Raises `InvalidRecord` for absurd nesting
    (hundreds of levels, which no lexicon allows; a RecursionError would be caught far too late).
    """
    try:
        return _normalise(value, top=True)
    except RecursionError:
        raise InvalidRecord("", "nested too deeply") from None


def _hex_to_cid(hex_cid: str) -> str:
    """`"01551220…"` (hex of a binary CIDv1) → its base32 string form `"bafkrei…"`."""
    return "b" + base64.b32encode(bytes.fromhex(hex_cid)).decode("ascii").lower().rstrip("=")


def _normalise(value: Any, top: bool = False) -> Any:
    kind = type(value)
    if kind is dict:
        return _object(value, top)
    if kind is list:
        return _array(value)
    return value


# The walk compares `type(x) is dict` rather than calling isinstance: values come from a JSON
# parser (plain dicts and lists), and on the lexicon fast path the walk is all the cost there is.


def _object(value: dict[str, Any], top: bool = False) -> dict[str, Any]:
    py_type = value.get("py_type")
    if type(py_type) is str:
        return _from_model(value, py_type, top)
    if value.get("$type") == "blob":
        return _blob(value)
    changed: dict[str, Any] | None = None
    for key, item in value.items():
        kind = type(item)
        if kind is dict:
            new: Any = _object(item)
        elif kind is list:
            new = _array(item)
        else:
            continue
        if new is not item:
            if changed is None:
                changed = dict(value)
            changed[key] = new
    return value if changed is None else changed


def _array(value: list[Any]) -> list[Any]:
    copied: list[Any] | None = None
    for index, item in enumerate(value):
        kind = type(item)
        if kind is dict:
            new: Any = _object(item)
        elif kind is list:
            new = _array(item)
        else:
            continue
        if new is not item:
            if copied is None:
                copied = list(value)
            copied[index] = new
    return value if copied is None else copied


def _from_model(node: dict[str, Any], py_type: str, top: bool) -> dict[str, Any]:
    """An SDK model object → lexicon JSON (names, nulls, `$type`; children recursively)."""
    declared = node.get("$type")
    type_ = declared if isinstance(declared, str) else py_type
    out: dict[str, Any] = {}
    if top or type_ not in UNTYPED_DEFS:
        out["$type"] = type_
    for key, item in node.items():
        if item is None or key == "py_type" or key == "$type":
            continue
        out[LEXICON_NAMES.get(key, key)] = _normalise(item)
    return _blob(out) if type_ == "blob" else out


def _blob(node: dict[str, Any]) -> dict[str, Any]:
    """Give a blob its lexicon ref `{"$link": CID}`; any other shape is left for validation."""
    ref = node.get("ref")
    if isinstance(ref, dict):
        link = ref.get("link")
        if "$link" in ref or not isinstance(link, str):
            return node
        cid = link
    elif isinstance(ref, str):
        cid = _hex_to_cid(ref) if _HEX_CID.fullmatch(ref) else ref
    else:
        return node
    out = dict(node)
    out["ref"] = {"$link": cid}
    return out
