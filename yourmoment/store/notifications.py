"""The notifications sent and not sent (yourmoment/notify.py): recorded for `health` and so that a
stuck workflow is announced once a day, not at every health check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from yourmoment.statuses import CommentStatus
from yourmoment.store.db import row_count
from yourmoment.store.models import AIComment, MonitoringProcess, NotificationRecord, utcnow

ERROR_LENGTH = 1000


def record(
    session: Session,
    kind: str,
    *,
    process_id: str | None = None,
    subject: str | None = None,
    error: str | None = None,
) -> None:
    """One attempt: delivered when `error` is None."""
    session.add(
        NotificationRecord(
            kind=kind,
            process_id=process_id,
            subject=subject,
            delivered=error is None,
            error=error[:ERROR_LENGTH] if error else None,
            created_at=utcnow(),
        )
    )


def delete_older(session: Session, before: datetime) -> int:
    """The retention schedule's share: attempts older than the retention period (they name processes)."""
    return row_count(
        session.execute(delete(NotificationRecord).where(NotificationRecord.created_at < before))
    )


def sent_since(session: Session, kind: str, subject: str, since: datetime) -> bool:
    """Whether a message of `kind` about `subject` was delivered after `since`."""
    query = select(NotificationRecord.id).where(
        NotificationRecord.kind == kind,
        NotificationRecord.subject == subject,
        NotificationRecord.delivered.is_(True),
        NotificationRecord.created_at >= since,
    )
    return session.scalar(query.limit(1)) is not None


@dataclass(frozen=True)
class Outcomes:
    last_delivered_at: datetime | None
    last_failed_at: datetime | None
    last_error: str | None

    @property
    def failing(self) -> bool:
        """The newest attempt failed."""
        return self.last_failed_at is not None and (
            self.last_delivered_at is None or self.last_failed_at > self.last_delivered_at
        )


def outcomes(session: Session) -> Outcomes:
    """The newest delivery and the newest failure, for `health`."""
    delivered = session.scalar(
        select(func.max(NotificationRecord.created_at)).where(NotificationRecord.delivered.is_(True))
    )
    failed = session.execute(
        select(NotificationRecord.created_at, NotificationRecord.error)
        .where(NotificationRecord.delivered.is_(False))
        .order_by(NotificationRecord.created_at.desc(), NotificationRecord.id.desc())
        .limit(1)
    ).first()
    return Outcomes(delivered, failed[0] if failed else None, failed[1] if failed else None)


def unposted(session: Session, process_id: str) -> Unposted:
    """The process's generated comments nobody approved yet, and whether they wait for a person (a
    process that requires approval or only generates) or for `post` (a posting process that stopped)."""
    process = session.get(MonitoringProcess, process_id)
    query = select(func.count(AIComment.id)).where(
        AIComment.process_id == process_id,
        AIComment.status == CommentStatus.GENERATED,
        AIComment.approved_at.is_(None),
    )
    count = int(session.scalar(query) or 0)
    for_a_person = process is None or process.require_approval or process.generate_only
    return Unposted(count, 0) if for_a_person else Unposted(0, count)


def waiting_for_approval(session: Session, process_id: str) -> int:
    """The process's generated comments a person must approve (as `comments review` counts them)."""
    return unposted(session, process_id).waiting_for_approval


@dataclass(frozen=True)
class Unposted:
    waiting_for_approval: int  # a person decides (require-approval and generate-only processes)
    left_by_a_stop: int  # a posting process stopped before posting them: `post --process` sends them
