"""process names unique per user (case-insensitive); existing duplicates renamed

Revision ID: 0004_unique_process_names
Revises: 0003_one_claim_per_account

A database may already hold several processes of one user with the same name (spacing and case
ignored). The oldest keeps its name; each later one, in order of creation, gets the first free
" (n)" suffix (n = 2, 3, …). Every rename is printed to stderr. Names are also stored with their
whitespace normalised (stripped, inner runs collapsed), as the CLI does for new names.
"""

import sys
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_unique_process_names"
down_revision: str | None = "0003_one_claim_per_account"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME_LENGTH = 200


def _key(name: str) -> str:
    return " ".join(name.split()).lower()


def _free_name(base: str, taken: set[str]) -> str:
    n = 2
    while True:
        suffix = f" ({n})"
        candidate = base[: NAME_LENGTH - len(suffix)] + suffix
        if _key(candidate) not in taken:
            return candidate
        n += 1


def _rename_duplicates(conn: sa.Connection) -> None:
    table = sa.table(
        "monitoring_processes",
        sa.column("id"),
        sa.column("user_id"),
        sa.column("name"),
        sa.column("created_at"),
    )
    rows = conn.execute(
        sa.select(table.c.id, table.c.user_id, table.c.name).order_by(
            table.c.user_id, table.c.created_at, table.c.id
        )
    ).all()
    keepers: set[tuple[str, str]] = set()
    later: list[tuple[str, str, str]] = []
    for process_id, user_id, name in rows:
        if (user_id, _key(name)) in keepers:
            later.append((process_id, user_id, name))
        else:
            keepers.add((user_id, _key(name)))
            if name != " ".join(name.split()):
                conn.execute(
                    table.update().where(table.c.id == process_id).values(name=" ".join(name.split()))
                )
    # Every kept name is reserved first, so a rename never takes a name an older process already has.
    taken = {user_id: {key for uid, key in keepers if uid == user_id} for user_id, _ in keepers}
    for process_id, user_id, name in later:
        new_name = _free_name(" ".join(name.split()), taken[user_id])
        taken[user_id].add(_key(new_name))
        conn.execute(table.update().where(table.c.id == process_id).values(name=new_name))
        print(
            f"renamed process {process_id} '{name.strip()}' to '{new_name}': names are unique per user",
            file=sys.stderr,
        )


def upgrade() -> None:
    _rename_duplicates(op.get_bind())
    op.create_index(
        "uq_process_name_per_user", "monitoring_processes", ["user_id", sa.text("lower(name)")], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_process_name_per_user", table_name="monitoring_processes")
