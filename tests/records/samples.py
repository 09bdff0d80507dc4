"""Realistic lexicon-JSON records of every collection the indexer reads, as clients write them.

`$type` only where lexicon JSON carries it (records, union members, blobs), optional fields
omitted rather than null: the shape Jetstream serves. Used by the dialect round trip and the
normaliser tests.
"""

from __future__ import annotations

from typing import Any

ALICE = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
BOB = "did:plc:z72i7hdynmk6r22z27h6tvur"
CAROL = "did:web:carol.example.com"
POST_CID = "bafyreiftot7eltsc3f6g4qktykmbv6jcmdmhcx5osscan6jpdxkpqcmcza"
OTHER_CID = "bafyreie36hv3vh74dqr7zvswes4ascrqfwd7nrr3tytck5ypyd5d2a5dge"
IMAGE_CID = "bafkreias7oxbr6swsuggccmtnqpoeami4jza5x4w3urltn6gzhqf4k6k2e"
VIDEO_CID = "bafkreihwihm6kpd6zuwhhlro75p5qks5qtrcu55jp3gddbfjsieiv7wuka"
CREATED = "2026-07-04T14:38:08.999Z"

ROOT_URI = f"at://{BOB}/app.bsky.feed.post/3mpsjbtci2c2o"
PARENT_URI = f"at://{CAROL}/app.bsky.feed.post/3mpt5v5trd22k"
QUOTED_URI = f"at://{BOB}/app.bsky.feed.post/3mpt6c57uy22u"
LIST_URI = f"at://{ALICE}/app.bsky.graph.list/3kflf2r3lwg2x"
FEED_URI = f"at://{BOB}/app.bsky.feed.generator/whats-hot"
STARTER_PACK_URI = f"at://{BOB}/app.bsky.graph.starterpack/3l7cddlz5ja24"


def blob(cid: str, mime_type: str, size: int) -> dict[str, Any]:
    return {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime_type, "size": size}


def strong_ref(uri: str, cid: str = POST_CID) -> dict[str, Any]:
    return {"uri": uri, "cid": cid}


FACETS = [
    {
        "index": {"byteStart": 6, "byteEnd": 24},
        "features": [{"$type": "app.bsky.richtext.facet#mention", "did": BOB}],
    },
    {
        "index": {"byteStart": 30, "byteEnd": 53},
        "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/a?b=c"}],
    },
    {
        "index": {"byteStart": 54, "byteEnd": 61},
        "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "atproto"}],
    },
]

IMAGES = {
    "$type": "app.bsky.embed.images",
    "images": [
        {
            "alt": "a cat",
            "image": blob(IMAGE_CID, "image/jpeg", 119635),
            "aspectRatio": {"width": 2000, "height": 1500},
        },
        {"alt": "", "image": blob(OTHER_CID.replace("bafyrei", "bafkrei"), "image/png", 5321)},
    ],
}

VIDEO = {
    "$type": "app.bsky.embed.video",
    "video": blob(VIDEO_CID, "video/mp4", 4_500_000),
    "captions": [{"lang": "en", "file": blob(IMAGE_CID, "text/vtt", 2048)}],
    "alt": "a short clip",
    "aspectRatio": {"width": 1080, "height": 1920},
}

EXTERNAL = {
    "$type": "app.bsky.embed.external",
    "external": {
        "uri": "https://www.youtube.com/watch?v=V5lDo-jw8mA",
        "title": "What does America's 250th anniversary mean?",
        "description": "YouTube video by Reuters",
        "thumb": blob(IMAGE_CID, "image/jpeg", 119635),
    },
}

RECORDS: dict[str, dict[str, Any]] = {
    "post (reply, facets, images, langs, tags, self-labels)": {
        "$type": "app.bsky.feed.post",
        "text": "hello @bob.bsky.social see https://example.com/a?b=c #atproto ✨",
        "facets": FACETS,
        "reply": {"root": strong_ref(ROOT_URI), "parent": strong_ref(PARENT_URI, OTHER_CID)},
        "embed": IMAGES,
        "langs": ["en", "pt-BR"],
        "tags": ["cats", "photography"],
        "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "nudity"}]},
        "createdAt": CREATED,
    },
    "post (video)": {"$type": "app.bsky.feed.post", "text": "", "embed": VIDEO, "createdAt": CREATED},
    "post (external with thumb)": {
        "$type": "app.bsky.feed.post",
        "text": "www.youtube.com/watch?v=V5lD...",
        "embed": EXTERNAL,
        "langs": ["en"],
        "createdAt": CREATED,
    },
    "post (external without thumb)": {
        "$type": "app.bsky.feed.post",
        "text": "link",
        "embed": {
            "$type": "app.bsky.embed.external",
            "external": {"uri": "https://example.com", "title": "", "description": ""},
        },
        "createdAt": CREATED,
    },
    "post (quote)": {
        "$type": "app.bsky.feed.post",
        "text": "this 👇",
        "embed": {"$type": "app.bsky.embed.record", "record": strong_ref(QUOTED_URI)},
        "createdAt": CREATED,
    },
    "post (quote with images)": {
        "$type": "app.bsky.feed.post",
        "text": "quote + media",
        "embed": {
            "$type": "app.bsky.embed.recordWithMedia",
            "record": {"$type": "app.bsky.embed.record", "record": strong_ref(QUOTED_URI)},
            "media": IMAGES,
        },
        "createdAt": CREATED,
    },
    "post (quote with video)": {
        "$type": "app.bsky.feed.post",
        "text": "quote + video",
        "embed": {
            "$type": "app.bsky.embed.recordWithMedia",
            "record": {"$type": "app.bsky.embed.record", "record": strong_ref(LIST_URI)},
            "media": VIDEO,
        },
        "createdAt": CREATED,
    },
    "post (third-party embed, extra key)": {
        "$type": "app.bsky.feed.post",
        "text": "poll",
        "embed": {
            "$type": "com.example.poll",
            "options": ["a", "b"],
            "closesAt": CREATED,
            "image": blob(IMAGE_CID, "image/png", 1),
        },
        "via": "Graysky",
        "createdAt": CREATED,
    },
    "like": {"$type": "app.bsky.feed.like", "subject": strong_ref(ROOT_URI), "createdAt": CREATED},
    "like (via a repost)": {
        "$type": "app.bsky.feed.like",
        "subject": strong_ref(ROOT_URI),
        "via": strong_ref(f"at://{CAROL}/app.bsky.feed.repost/3mpta65gqot2j", OTHER_CID),
        "createdAt": CREATED,
    },
    "repost (via)": {
        "$type": "app.bsky.feed.repost",
        "subject": strong_ref(ROOT_URI),
        "via": strong_ref(f"at://{CAROL}/app.bsky.feed.repost/3mpta65gqot2j", OTHER_CID),
        "createdAt": CREATED,
    },
    "follow": {"$type": "app.bsky.graph.follow", "subject": BOB, "createdAt": CREATED},
    "block": {"$type": "app.bsky.graph.block", "subject": CAROL, "createdAt": CREATED},
    "profile": {
        "$type": "app.bsky.actor.profile",
        "displayName": "Alice ✨",
        "description": "hi\nthere",
        "avatar": blob(IMAGE_CID, "image/jpeg", 40000),
        "banner": blob(OTHER_CID.replace("bafyrei", "bafkrei"), "image/jpeg", 90000),
        "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "!no-unauthenticated"}]},
        "joinedViaStarterPack": strong_ref(STARTER_PACK_URI, OTHER_CID),
        "pinnedPost": strong_ref(ROOT_URI),
        "createdAt": CREATED,
    },
    "profile (minimal)": {"$type": "app.bsky.actor.profile", "displayName": "bob"},
    "list": {
        "$type": "app.bsky.graph.list",
        "purpose": "app.bsky.graph.defs#curatelist",
        "name": "Cat people",
        "description": "people who post cats @bob.bsky.social",
        "descriptionFacets": [FACETS[0]],
        "avatar": blob(IMAGE_CID, "image/png", 1234),
        "createdAt": CREATED,
    },
    "list (moderation)": {
        "$type": "app.bsky.graph.list",
        "purpose": "app.bsky.graph.defs#modlist",
        "name": "spam",
        "createdAt": CREATED,
    },
    "listitem": {"$type": "app.bsky.graph.listitem", "subject": BOB, "list": LIST_URI, "createdAt": CREATED},
    "listblock": {"$type": "app.bsky.graph.listblock", "subject": LIST_URI, "createdAt": CREATED},
    "starterpack": {
        "$type": "app.bsky.graph.starterpack",
        "name": "Cat starter pack",
        "description": "cats #cats",
        "descriptionFacets": [FACETS[2]],
        "list": LIST_URI,
        "feeds": [{"uri": FEED_URI}],
        "createdAt": CREATED,
    },
    "verification": {
        "$type": "app.bsky.graph.verification",
        "subject": BOB,
        "handle": "bob.bsky.social",
        "displayName": "Bob",
        "createdAt": CREATED,
    },
    "feed generator": {
        "$type": "app.bsky.feed.generator",
        "did": "did:web:feeds.example.com",
        "displayName": "What's Hot",
        "description": "the hottest posts",
        "descriptionFacets": [FACETS[1]],
        "avatar": blob(IMAGE_CID, "image/png", 999),
        "acceptsInteractions": True,
        "contentMode": "app.bsky.feed.defs#contentModeVideo",
        "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "sexual"}]},
        "createdAt": CREATED,
    },
    "threadgate": {
        "$type": "app.bsky.feed.threadgate",
        "post": ROOT_URI,
        "allow": [
            {"$type": "app.bsky.feed.threadgate#mentionRule"},
            {"$type": "app.bsky.feed.threadgate#followerRule"},
            {"$type": "app.bsky.feed.threadgate#followingRule"},
            {"$type": "app.bsky.feed.threadgate#listRule", "list": LIST_URI},
        ],
        "hiddenReplies": [PARENT_URI],
        "createdAt": CREATED,
    },
    "threadgate (nobody may reply)": {
        "$type": "app.bsky.feed.threadgate",
        "post": ROOT_URI,
        "allow": [],
        "createdAt": CREATED,
    },
    "postgate": {
        "$type": "app.bsky.feed.postgate",
        "post": ROOT_URI,
        "detachedEmbeddingUris": [QUOTED_URI],
        "embeddingRules": [{"$type": "app.bsky.feed.postgate#disableRule"}],
        "createdAt": CREATED,
    },
    "labeler service": {
        "$type": "app.bsky.labeler.service",
        "policies": {
            "labelValues": ["spam", "rude", "!hide"],
            "labelValueDefinitions": [
                {
                    "identifier": "rude",
                    "severity": "alert",
                    "blurs": "content",
                    "defaultSetting": "warn",
                    "adultOnly": False,
                    "locales": [{"lang": "en", "name": "Rude", "description": "Rude behaviour"}],
                }
            ],
        },
        "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "!no-promote"}]},
        "reasonTypes": ["com.atproto.moderation.defs#reasonSpam"],
        "subjectTypes": ["account", "record"],
        "subjectCollections": ["app.bsky.feed.post"],
        "createdAt": CREATED,
    },
    "third-party record (unknown to the SDK)": {
        "$type": "fm.teal.alpha.actor.status",
        "item": {
            "artists": [{"artistName": "Dianna Lopez"}],
            "trackName": "Sacred Sands",
            "played_time": "2026-07-04T06:24:03.179Z",
            "cover": blob(IMAGE_CID, "image/jpeg", 10),
            "duration": None,
        },
        "time": CREATED,
        "expiry": "2026-07-04T14:48:07.380Z",
    },
}
