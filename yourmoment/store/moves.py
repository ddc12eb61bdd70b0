"""A work item's status moves by compare-and-set on its row, and inserts that the primary key lets one
writer win: of two workers (or a worker and a reviewer) acting at once, exactly one changes the row."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from yourmoment.store.db import row_count
from yourmoment.store.models import AIComment, utcnow


def cas(session: Session, item_id: str, expected: Iterable[str], new: str, **values: object) -> bool:
    """Moves an item to `new` only if it is in one of `expected`; True when this call made the move."""
    result = session.execute(
        update(AIComment)
        .where(AIComment.id == item_id, AIComment.status.in_(list(expected)))
        .values(status=new, updated_at=utcnow(), **values)
    )
    return row_count(result) == 1


def inserted(session: Session, statement: Executable) -> bool:
    """Runs an INSERT … ON CONFLICT DO NOTHING; True when it inserted the row. SQLAlchemy reads an
    INSERT's row count only when asked to (`preserve_rowcount`); without it PostgreSQL's reads as -1."""
    result = session.execute(statement.execution_options(preserve_rowcount=True))
    return row_count(result) == 1
