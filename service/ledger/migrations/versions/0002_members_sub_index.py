"""An index on members.sub: `spot-sso members show|forget SUB` on every Spot.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_members_sub", "members", ["sub"])


def downgrade() -> None:
    op.drop_index("ix_members_sub", table_name="members")
