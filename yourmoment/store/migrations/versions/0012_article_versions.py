"""article versions: tracked pupils, their articles' versions, follow-up reads after a comment

Revision ID: 0012_article_versions
Revises: 0011_notifications

`tracked_pupils` (`track add`), `tracked_articles` (what each pupil's dashboard last listed),
`article_versions` (one row per distinct content of an article, numbered per user and article; the
unique number makes a retried or racing run store a version once) and `follow_ups` (a read of a
commented article FOLLOW_UP_AFTER its comment: changed or not, how much, a reply under it or not).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_article_versions"
down_revision: str | None = "0011_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracked_pupils",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("login_id", sa.String(length=36), nullable=False),
        sa.Column("student_id", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("articles_listed", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["login_id"], ["mymoment_logins.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "student_id", name="uq_tracked_pupil"),
    )
    op.create_index("ix_tracked_pupils_user_id", "tracked_pupils", ["user_id"])
    op.create_table(
        "tracked_articles",
        sa.Column("pupil_id", sa.String(length=36), nullable=False),
        sa.Column("mymoment_article_id", sa.String(length=32), nullable=False),
        sa.Column("listed_modified", sa.String(length=40), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["pupil_id"], ["tracked_pupils.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pupil_id", "mymoment_article_id"),
    )
    op.create_table(
        "article_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("mymoment_article_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("student_id", sa.String(length=32), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=True),
        sa.Column("visibility", sa.String(length=200), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("site_modified", sa.String(length=40), nullable=True),
        sa.Column("chars", sa.Integer(), nullable=False),
        sa.Column("words", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["item_id"], ["ai_comments.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "mymoment_article_id", "number", name="uq_article_version"),
    )
    op.create_index("ix_article_versions_user_id", "article_versions", ["user_id"])
    op.create_index("ix_article_versions_item_id", "article_versions", ["item_id"])
    op.create_index("ix_article_versions_article", "article_versions", ["user_id", "mymoment_article_id"])
    op.create_table(
        "follow_ups",
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("interval", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("changed", sa.Boolean(), nullable=True),
        sa.Column("chars_added", sa.Integer(), nullable=True),
        sa.Column("chars_removed", sa.Integer(), nullable=True),
        sa.Column("words_added", sa.Integer(), nullable=True),
        sa.Column("words_removed", sa.Integer(), nullable=True),
        sa.Column("edit_distance", sa.Integer(), nullable=True),
        sa.Column("reply_seen", sa.Boolean(), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["ai_comments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["version_id"], ["article_versions.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("item_id", "interval"),
    )


def downgrade() -> None:
    op.drop_table("follow_ups")
    op.drop_index("ix_article_versions_article", table_name="article_versions")
    op.drop_index("ix_article_versions_item_id", table_name="article_versions")
    op.drop_index("ix_article_versions_user_id", table_name="article_versions")
    op.drop_table("article_versions")
    op.drop_table("tracked_articles")
    op.drop_index("ix_tracked_pupils_user_id", table_name="tracked_pupils")
    op.drop_table("tracked_pupils")
