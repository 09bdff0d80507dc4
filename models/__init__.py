"""SQLAlchemy models of the AppView schema (DIRECTION §3), grouped by domain.

Importing this package registers every table on `Base.metadata`, which Alembic compares against.
"""

from models.actors import PLACEHOLDER_HANDLE, User
from models.base import Base
from models.bookkeeping import AccountTombstone, AsideRecord, RecordVersion
from models.feed import (
    Bookmark,
    FeedGenerator,
    FeedItem,
    Like,
    Post,
    PostAggregation,
    PostGate,
    Quote,
    Repost,
    ThreadGate,
)
from models.graph import Block, Follow, List, ListBlock, ListItem, StarterPack, Verification
from models.moderation import Label, LabelerService
from models.notifications import Notification
from models.records import GenericRecord

__all__ = [
    "PLACEHOLDER_HANDLE",
    "AccountTombstone",
    "AsideRecord",
    "Base",
    "Block",
    "Bookmark",
    "FeedGenerator",
    "FeedItem",
    "Follow",
    "GenericRecord",
    "Label",
    "LabelerService",
    "Like",
    "List",
    "ListBlock",
    "ListItem",
    "Notification",
    "Post",
    "PostAggregation",
    "PostGate",
    "Quote",
    "RecordVersion",
    "Repost",
    "StarterPack",
    "ThreadGate",
    "User",
    "Verification",
]
