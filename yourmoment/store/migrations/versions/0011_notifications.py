"""notifications: each attempt to send a notification (NOTIFY_URLS), for `health` and to send once

Revision ID: 0011_notifications
Revises: 0010_stop_holds_posts

`notifications`: kind (approval, login_rejected, ended, stuck), the process it was about, a subject
where a message must not repeat (a stuck workflow's id), whether it was delivered and why not.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_notifications"
down_revision: str | None = "0010_stop_holds_posts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("process_id", sa.String(length=36), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notifications_process_id", "notifications", ["process_id"])
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_created_at", table_name="notifications")
    op.drop_index("ix_notifications_process_id", table_name="notifications")
    op.drop_table("notifications")
