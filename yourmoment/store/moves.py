"""A work item's status moves by compare-and-set on its row, and inserts that the primary key lets one
writer win: of two workers (or a worker and a reviewer) acting at once, exactly one changes the row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from yourmoment.store.db import row_count
from yourmoment.store.models import AIComment, Base, utcnow


def cas(session: Session, item_id: str, expected: Iterable[str], new: str, **values: object) -> bool:
    """Moves an item to `new` only if it is in one of `expected`; True when this call made the move."""
    result = session.execute(
        update(AIComment)
        .where(AIComment.id == item_id, AIComment.status.in_(list(expected)))
        .values(status=new, updated_at=utcnow(), **values)
    )
    return row_count(result) == 1


def insert_once(session: Session, model: type[Base], unique: Sequence[str], **values: object) -> bool:
    """INSERT … ON CONFLICT (`unique`) DO NOTHING in the session's dialect; True when this call inserted
    the row. Two writers inserting the same key wait for each other, and exactly one of them wins.

    SQLAlchemy reads an INSERT's row count only when asked to (`preserve_rowcount`); without it
    PostgreSQL's reads as -1."""
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    statement = insert(model).values(**values).on_conflict_do_nothing(index_elements=list(unique))
    result = session.execute(statement.execution_options(preserve_rowcount=True))
    return row_count(result) == 1
