"""Follow-up reads of commented articles (docs/versions.md#after-a-comment): the plan of a posted
comment, what a read found, recorded once per comment and interval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from yourmoment.messages import FollowUpOutcome, FollowUpOutcomeKind, FollowUpStep
from yourmoment.mymoment.types import ArticleDetail
from yourmoment.research.revisions import revision
from yourmoment.statuses import CommentStatus
from yourmoment.store import versions
from yourmoment.store.models import AIComment, ArticleVersion, FollowUp, MonitoringProcess, utcnow


def plan(session: Session, item_id: str, intervals: list[tuple[str, int]]) -> list[FollowUpStep]:
    """One step per FOLLOW_UP_AFTER interval, due that long after the comment was posted; none when
    it was not posted, and none for an interval recorded already (a run that resumes)."""
    item = session.get(AIComment, item_id)
    if item is None or item.status != CommentStatus.POSTED or item.posted_at is None:
        return []
    done = set(session.scalars(select(FollowUp.interval).where(FollowUp.item_id == item_id)))
    return [
        FollowUpStep(label=label, seconds=seconds, due_at=item.posted_at + timedelta(seconds=seconds))
        for label, seconds in intervals
        if label not in done
    ]


def recorded(session: Session, item_id: str, label: str) -> FollowUpOutcome | None:
    row = session.get(FollowUp, (item_id, label))
    return _outcome(row) if row is not None else None


def _outcome(row: FollowUp) -> FollowUpOutcome:
    outcome: FollowUpOutcomeKind = row.outcome  # type: ignore[assignment]  # the column holds only these
    return FollowUpOutcome(
        item_id=row.item_id,
        label=row.interval,
        outcome=outcome,
        changed=row.changed,
        reply_seen=row.reply_seen,
    )


@dataclass
class CommentedArticle:
    """What a follow-up read needs of the work item (ids; the texts stay in the database)."""

    item_id: str
    process_id: str
    user_id: str
    login_id: str
    article_id: str


def commented_article(session: Session, item_id: str) -> CommentedArticle | None:
    item = session.get(AIComment, item_id)
    if item is None:
        return None
    process = session.get(MonitoringProcess, item.process_id)
    if process is None:
        return None
    return CommentedArticle(
        item.id, item.process_id, process.user_id, item.login_id, item.mymoment_article_id
    )


def record_outcome(
    session: Session, item_id: str, label: str, outcome: FollowUpOutcomeKind, note: str
) -> FollowUpOutcome:
    """A follow-up that read nothing (skipped, failed); the first record of an interval stays."""
    existing = session.get(FollowUp, (item_id, label))
    if existing is not None:
        return _outcome(existing)
    if session.get(AIComment, item_id) is None:  # deleted with its process meanwhile: nothing to record
        return FollowUpOutcome(item_id=item_id, label=label, outcome="not_posted")
    row = FollowUp(item_id=item_id, interval=label, outcome=outcome, note=note, read_at=utcnow())
    session.add(row)
    session.flush()
    return _outcome(row)


def _has_comment_version(session: Session, item_id: str) -> bool:
    query = select(ArticleVersion.id).where(
        ArticleVersion.item_id == item_id, ArticleVersion.source == "comment"
    )
    return session.scalars(query.limit(1)).first() is not None


def record_read(
    session: Session,
    article: CommentedArticle,
    label: str,
    detail: ArticleDetail,
    reply_seen: bool | None,
    max_versions: int,
) -> FollowUpOutcome:
    """The text read now against the text the comment was written on: stored as a version (the text at
    comment time first, once), changed or not, how much, and whether a reply appeared."""
    existing = session.get(FollowUp, (article.item_id, label))
    if existing is not None:
        return _outcome(existing)

    def store(read: ArticleDetail, source: str) -> versions.StoredRead:
        return versions.store_version(
            session,
            user_id=article.user_id,
            detail=read,
            max_versions=max_versions,
            source=source,
            item_id=article.item_id,
        )

    item = session.get(AIComment, article.item_id)
    baseline = item.article_content if item is not None else None
    if item is not None and baseline is not None and not _has_comment_version(session, article.item_id):
        store(
            detail.model_copy(update={"title": item.article_title or detail.title, "content": baseline}),
            "comment",
        )
    stored = store(detail, "follow_up")
    change = revision(baseline, detail.content) if baseline is not None else None
    row = FollowUp(
        item_id=article.item_id,
        interval=label,
        outcome="read",
        version_id=stored.version.id,
        changed=None if change is None else change.changed,
        chars_added=None if change is None else change.chars_added,
        chars_removed=None if change is None else change.chars_removed,
        words_added=None if change is None else change.words_added,
        words_removed=None if change is None else change.words_removed,
        edit_distance=None if change is None else change.edit_distance,
        reply_seen=reply_seen,
        read_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return _outcome(row)
