"""at most MAX_AI_COMMENTS_PER_ARTICLE AI comments per article, all accounts together

Revision ID: 0007_article_comment_cap
Revises: 0006_review_and_research

`article_comment_slots`: one row per place an AI comment holds on an article, primary key (site, article,
slot number); a worker takes a free number from 1 to the cap in the transaction of the account's claim.
`ai_comments.page_ai_accounts`: which accounts' AI comments the page showed when it was prepared.

Comments posted before this revision hold no place; they are on their pages, which every check counts.
Claims keyed by an older spelling of a loopback site (`127.0.0.1` where the key now says `localhost`)
are not rewritten (the key is a digest of the username, which a migration cannot read): the claim
lookups also try the old keys (yourmoment.mymoment.account.legacy_account_keys).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_article_comment_cap"
down_revision: str | None = "0006_review_and_research"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "article_comment_slots",
        sa.Column("site", sa.String(length=300), nullable=False),
        sa.Column("mymoment_article_id", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("account_key", sa.String(length=64), nullable=False),
        sa.Column("process_id", sa.String(length=36), nullable=True),
        sa.Column("item_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["ai_comments.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["process_id"], ["monitoring_processes.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("site", "mymoment_article_id", "slot"),
    )
    op.create_index("ix_article_comment_slots_item_id", "article_comment_slots", ["item_id"])
    # Plain ADD COLUMN, not batch mode (see 0006: a batch copy on SQLite loses an expression index).
    op.add_column("ai_comments", sa.Column("page_ai_accounts", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ai_comments") as batch:
        batch.drop_column("page_ai_accounts")
    op.drop_index("ix_article_comment_slots_item_id", table_name="article_comment_slots")
    op.drop_table("article_comment_slots")
