"""review before posting, comment history, research exports and reports

Revision ID: 0006_review_and_research
Revises: 0005_generation_gate

`monitoring_processes.require_approval`: nothing of the process is posted before a reviewer approves it.
`ai_comments`: when the comment was generated and approved and by whom, the first generated text
(kept when the comment is edited or regenerated) and the version of the prompt template used.
`comment_events`: a work item's history (generated, edited, regenerated, approved, rejected, posted)
with who and when; events that change the text keep the new text (our comment, never the pupil's).
`monitoring_processes.mymoment_requests`: requests the process made to myMoment, for reports.
`llm_providers.price_*_per_million`: the provider's prices per million tokens, for cost estimates.
`prompt_templates.version`: counts the template's changes, so an export names the text that was used.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_review_and_research"
down_revision: str | None = "0005_generation_gate"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode: on SQLite a batch copies the table and would lose the
    # expression index uq_process_name_per_user (0004), which SQLite cannot reflect.
    op.add_column(
        "monitoring_processes",
        sa.Column("require_approval", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "monitoring_processes",
        sa.Column("mymoment_requests", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("ai_comments", sa.Column("generated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("ai_comments", sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("ai_comments", sa.Column("approved_by", sa.String(320), nullable=True))
    op.add_column("ai_comments", sa.Column("original_html", sa.Text(), nullable=True))
    op.add_column("ai_comments", sa.Column("prompt_template_version", sa.Integer(), nullable=True))
    op.add_column("llm_providers", sa.Column("price_prompt_per_million", sa.Float(), nullable=True))
    op.add_column("llm_providers", sa.Column("price_completion_per_million", sa.Float(), nullable=True))
    op.add_column("prompt_templates", sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.create_table(
        "comment_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "item_id", sa.String(36), sa.ForeignKey("ai_comments.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(320), nullable=True),
        sa.Column("comment_html", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_comment_events_item_id", "comment_events", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_comment_events_item_id", table_name="comment_events")
    op.drop_table("comment_events")
    with op.batch_alter_table("prompt_templates") as batch:
        batch.drop_column("version")
    with op.batch_alter_table("llm_providers") as batch:
        batch.drop_column("price_completion_per_million")
        batch.drop_column("price_prompt_per_million")
    with op.batch_alter_table("ai_comments") as batch:
        for column in (
            "prompt_template_version",
            "original_html",
            "approved_by",
            "approved_at",
            "generated_at",
        ):
            batch.drop_column(column)
    op.drop_index("uq_process_name_per_user", table_name="monitoring_processes")
    with op.batch_alter_table("monitoring_processes") as batch:
        batch.drop_column("mymoment_requests")
        batch.drop_column("require_approval")
    op.create_index(
        "uq_process_name_per_user", "monitoring_processes", ["user_id", sa.text("lower(name)")], unique=True
    )
