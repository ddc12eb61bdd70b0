"""one posting claim per myMoment account and article (and prompt in `all` mode)

Revision ID: 0003_one_claim_per_account
Revises: 0002_process_login_state
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_one_claim_per_account"
down_revision: str | None = "0002_process_login_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Items posted before this revision have no claim (their account keys need the encryption key,
    # which a migration does not have); the page check at preparation still sees their comments.
    op.create_table(
        "posting_claims",
        sa.Column("account_key", sa.String(length=64), nullable=False),
        sa.Column("mymoment_article_id", sa.String(length=32), nullable=False),
        sa.Column("prompt_slot", sa.String(length=36), nullable=False),
        sa.Column("process_id", sa.String(length=36), nullable=True),
        sa.Column("item_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["ai_comments.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["process_id"], ["monitoring_processes.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("account_key", "mymoment_article_id", "prompt_slot"),
    )
    with op.batch_alter_table("posting_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_posting_claims_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("posting_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_posting_claims_item_id"))
    op.drop_table("posting_claims")
