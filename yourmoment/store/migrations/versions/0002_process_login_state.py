"""each login's state at the end of a process's last run (shown by `status` when the workflow has ended)

Revision ID: 0002_process_login_state
Revises: 0001
Create Date: 2026-12-03 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_process_login_state"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("process_logins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("process_logins", schema=None) as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("last_state")
