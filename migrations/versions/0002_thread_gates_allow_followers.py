"""Thread gates: `allow_followers` for `#followerRule`, which the original schema cannot express (a
followers-only gate would otherwise read as "nobody may reply"). Null when `allow` is absent.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 21:42:55
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import layout

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if not layout.has_own_old_layout(op.get_bind()):
        return  # an adopted PublicAppView database: its thread_gates are not ours to change
    op.add_column("thread_gates", sa.Column("allow_followers", sa.Boolean(), nullable=True))


def downgrade() -> None:
    if not layout.has_own_old_layout(op.get_bind()):
        return
    op.drop_column("thread_gates", "allow_followers")
