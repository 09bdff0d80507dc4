"""Fixtures of the operating tests: the production worker against the run's test database, with a
fresh database state and the test's own Redis keys."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.broker.harness import Keys
from tests.indexing.conftest import truncate_all


@pytest.fixture
async def keys(redis_prefix: str, engine: AsyncEngine) -> Keys:
    """The test's stream keys, on an emptied database."""
    await truncate_all(engine)
    return Keys(redis_prefix)
