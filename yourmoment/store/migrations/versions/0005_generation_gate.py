"""generation attempts with the quality gate's reasons; per-provider concurrency and structured output

Revision ID: 0005_generation_gate
Revises: 0004_unique_process_names

`generation_attempts` keeps one row per answer the model gave for a work item (accepted or rejected,
with the gate's reasons; never the rejected text). `llm_providers.max_concurrency` bounds requests in
flight per worker, `llm_providers.structured_output` selects the JSON-schema answer format; NULL in
either means the provider kind's default.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_generation_gate"
down_revision: str | None = "0004_unique_process_names"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("llm_providers") as batch:
        batch.add_column(sa.Column("max_concurrency", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("structured_output", sa.String(16), nullable=True))
    op.create_table(
        "generation_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "item_id", sa.String(36), sa.ForeignKey("ai_comments.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("finish_reason", sa.String(32), nullable=True),
        sa.Column("model_name", sa.String(200), nullable=True),
        sa.Column("prompt_template_id", sa.String(36), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("generation_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("item_id", "number", name="uq_generation_attempts_item_number"),
    )
    op.create_index("ix_generation_attempts_item_id", "generation_attempts", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_generation_attempts_item_id", table_name="generation_attempts")
    op.drop_table("generation_attempts")
    with op.batch_alter_table("llm_providers") as batch:
        batch.drop_column("structured_output")
        batch.drop_column("max_concurrency")
