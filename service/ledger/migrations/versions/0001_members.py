"""The members table: one row per Spot and member.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("spot_id", sa.String(36), nullable=False),
        sa.Column("sub", sa.String(255), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("host_email", sa.String(255), nullable=False),
        sa.Column("first_seen", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.BigInteger(), nullable=False),
        sa.Column("logins", sa.Integer(), nullable=False),
        sa.Column("groups_join", sa.JSON(), nullable=False),
        sa.Column("groups_leave", sa.JSON(), nullable=False),
        sa.Column("custom_properties", sa.JSON(), nullable=False),
        sa.Column("domains_set", sa.JSON(), nullable=False),
        sa.Column("domains_unset", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("spot_id", "sub", name="pk_members"),
    )
    op.create_index("ix_members_spot_id_last_seen", "members", ["spot_id", "last_seen"])
    op.create_index("ix_members_spot_id_email", "members", ["spot_id", "email"])
    op.create_index("ix_members_last_seen", "members", ["last_seen"])


def downgrade() -> None:
    op.drop_table("members")
