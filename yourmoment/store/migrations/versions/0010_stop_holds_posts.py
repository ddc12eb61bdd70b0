"""a stop holds the process's posts: `monitoring_processes.posting_stopped_at`

Revision ID: 0010_stop_holds_posts
Revises: 0008_review_undo_and_templates

Set when a process is stopped without --drain (by `starter.py stop` before it signals, and by the
workflow when the signal arrives from elsewhere); the process's article workflows read it right before
each POST and leave the comment `generated`. Cleared when the process starts again. Rows of earlier
revisions have it null: nothing held.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_stop_holds_posts"
down_revision: str | None = "0008_review_undo_and_templates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode (see 0006: a batch copy on SQLite loses an expression index).
    op.add_column(
        "monitoring_processes", sa.Column("posting_stopped_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("monitoring_processes") as batch:
        batch.drop_column("posting_stopped_at")
