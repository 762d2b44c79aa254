"""Wired links' bandwidth and what sessions hold on them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 05:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision: the links (filled by the control plane's setup) and their holds."""
    op.create_table(
        "links",
        sa.Column("link", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("a", sa.String(length=100), nullable=False),
        sa.Column("b", sa.String(length=100), nullable=False),
        sa.Column("capacity_mbps", sa.Float(), nullable=False),
        sa.Column("background_mbps", sa.Float(), nullable=False),
        sa.Column("reserved_mbps", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("link"),
    )
    op.create_table(
        "link_holds",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("link", sa.Integer(), nullable=False),
        sa.Column("mbps", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["link"], ["links.link"]),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.session_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("session_id", "link"),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("link_holds")
    op.drop_table("links")
