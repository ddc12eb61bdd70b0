"""Reviewing work items: their history and text versions, and every reviewer's change (and its undo)
as a compare-and-set on the row.

Each change (edit, regenerate, reject, approve, unapprove, restore) moves only an item that is
`generated` when the UPDATE runs, so a post that moved it to `posting` first always wins and the
change is refused; a post that comes second finds the changed row (see
`yourmoment/store/posting.py` `claim`). `reopen` moves only a rejected item, back to `generated`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from yourmoment.errors import NotFoundError, ValidationError
from yourmoment.statuses import TEXT_EVENTS, CommentStatus, EventKind
from yourmoment.store.db import row_count
from yourmoment.store.models import AIComment, CommentEvent, MonitoringProcess, User, utcnow

S = CommentStatus

MIN_ID_PREFIX = 8
# The first text of a comment, kept once when a reviewer replaces it.
KEEP_ORIGINAL = func.coalesce(AIComment.original_html, AIComment.comment_html)
REJECTED_PREFIX = "rejected: "


def add_event(
    session: Session,
    item_id: str,
    kind: str,
    *,
    actor: str | None = None,
    comment_html: str | None = None,
    detail: str | None = None,
    version: int | None = None,
) -> None:
    """One step of the item's history; a step that makes a new text numbers it as the next version.

    Called after the step's compare-and-set UPDATE in the same transaction, which holds the row (and
    on SQLite the database) until the commit, so two steps never take the same number."""
    if kind in TEXT_EVENTS and version is None:
        latest = session.scalar(
            select(func.max(CommentEvent.version)).where(
                CommentEvent.item_id == item_id, CommentEvent.kind.in_(TEXT_EVENTS)
            )
        )
        version = (latest or 0) + 1
    session.add(
        CommentEvent(
            item_id=item_id,
            kind=kind,
            actor=actor,
            comment_html=comment_html,
            detail=detail,
            version=version,
        )
    )


def history(session: Session, item_id: str) -> list[CommentEvent]:
    query = select(CommentEvent).where(CommentEvent.item_id == item_id)
    return list(session.scalars(query.order_by(CommentEvent.created_at, CommentEvent.id)))


@dataclass(frozen=True)
class TextVersion:
    """One text the comment had: 1 is the model's first; who made it (None: the model) and when."""

    number: int
    kind: str  # generated, edited or regenerated
    html: str
    actor: str | None
    at: datetime


def text_versions(session: Session, item_id: str) -> list[TextVersion]:
    query = select(CommentEvent).where(
        CommentEvent.item_id == item_id,
        CommentEvent.kind.in_(TEXT_EVENTS),
        CommentEvent.version.is_not(None),
        CommentEvent.comment_html.is_not(None),
    )
    return [
        TextVersion(event.version or 0, event.kind, event.comment_html or "", event.actor, event.created_at)
        for event in session.scalars(query.order_by(CommentEvent.version))
    ]


def current_version(session: Session, item_id: str) -> int | None:
    """The version the comment's text is now: the newest text, or the one a restore brought back."""
    query = select(CommentEvent.version).where(
        CommentEvent.item_id == item_id,
        CommentEvent.kind.in_([*TEXT_EVENTS, EventKind.RESTORED]),
        CommentEvent.version.is_not(None),
    )
    return session.scalar(query.order_by(CommentEvent.created_at.desc(), CommentEvent.id.desc()).limit(1))


def edited_by_person(session: Session, item_id: str) -> TextVersion | None:
    """The current text's version when a person wrote it (`comments edit`), else None."""
    number = current_version(session, item_id)
    found = next((v for v in text_versions(session, item_id) if v.number == number), None)
    return found if found is not None and found.kind == EventKind.EDITED else None


def move(
    session: Session,
    item_id: str,
    expected: Iterable[str],
    new: str,
    *conditions: ColumnElement[bool],
    **values: object,
) -> bool:
    """moves.cas with more conditions (an unchanged text); True when this call changed the row."""
    result = session.execute(
        update(AIComment)
        .where(AIComment.id == item_id, AIComment.status.in_(list(expected)), *conditions)
        .values(status=new, updated_at=utcnow(), **values)
    )
    return row_count(result) == 1


def item_for_user(session: Session, user: User, ref: str) -> tuple[AIComment, MonitoringProcess]:
    """A work item of one of the user's processes, by id or id prefix (8+ characters)."""
    query = (
        select(AIComment, MonitoringProcess)
        .join(MonitoringProcess, MonitoringProcess.id == AIComment.process_id)
        .where(MonitoringProcess.user_id == user.id)
    )
    ref = ref.strip()
    found = session.execute(query.where(AIComment.id == ref)).first()
    if found is None and len(ref) >= MIN_ID_PREFIX:
        matches = session.execute(query.where(AIComment.id.startswith(ref, autoescape=True)).limit(2)).all()
        if len(matches) > 1:
            raise ValidationError([f"'{ref}' matches more than one comment; give more of the id"])
        found = matches[0] if matches else None
    if found is None:
        raise NotFoundError(f"no comment {ref}; see 'starter.py comments PROCESS'")
    return found[0], found[1]


def refusal(item: AIComment, verb: str) -> str:
    """Why a reviewer's change to this item is refused, in the item's current status."""
    if item.status == S.POSTED:
        return f"comment {item.id} has been posted on myMoment; it can no longer be {verb}"
    if item.status == S.POSTING:
        return f"comment {item.id} is being posted right now; it can no longer be {verb}"
    if item.status == S.REGENERATING:
        return f"comment {item.id} is being regenerated; wait for it ('starter.py comments show {item.id}')"
    return f"comment {item.id} is {item.status}; only generated comments can be {verb}"


def _refuse(session: Session, item_id: str, verb: str) -> ValidationError:
    """The refusal for an item whose compare-and-set just failed, read again for its current status."""
    item = session.get(AIComment, item_id, populate_existing=True)
    if item is None:
        return ValidationError([f"comment {item_id} no longer exists"])
    return ValidationError([refusal(item, verb)])


def _replace_text(session: Session, item_id: str, started_from: str | None, new_html: str, verb: str) -> None:
    """`new_html` replaces `started_from`, the text the reviewer saw (a text changed meanwhile is
    refused); the first text stays in `original_html`. An approval was for the old text, so it goes."""
    changed = move(
        session,
        item_id,
        [S.GENERATED],
        S.GENERATED,
        AIComment.comment_html == started_from,
        original_html=KEEP_ORIGINAL,
        comment_html=new_html,
        approved_at=None,
        approved_by=None,
        error=None,
    )
    if not changed:
        current = session.get(AIComment, item_id, populate_existing=True)
        if current is not None and current.status == S.GENERATED:
            raise ValidationError([f"comment {item_id} changed meanwhile; nothing changed, look again"])
        raise _refuse(session, item_id, verb)


def edit(session: Session, item_id: str, started_from: str | None, new_html: str, actor: str) -> None:
    """The reviewer's text replaces the one they edited (see _replace_text); it is the next version."""
    _replace_text(session, item_id, started_from, new_html, "edited")
    add_event(session, item_id, EventKind.EDITED, actor=actor, comment_html=new_html)


def restore(
    session: Session, item_id: str, started_from: str | None, version: TextVersion, html: str, actor: str
) -> None:
    """An earlier text back (see _replace_text), recorded with the version it restores."""
    _replace_text(session, item_id, started_from, html, "restored")
    detail = f"version {version.number}"
    if html != version.html:
        detail += " (as the edit gate accepts it today)"
    add_event(
        session,
        item_id,
        EventKind.RESTORED,
        actor=actor,
        comment_html=html,
        detail=detail,
        version=version.number,
    )


def begin_regeneration(session: Session, item: AIComment) -> bool:
    """generated → regenerating, only while its text is still the one the reviewer saw; False when the
    item is already `regenerating` (its workflow decides). Refused in any other status, and when the
    article's text is gone (RETENTION_DAYS)."""
    if item.status not in (S.GENERATED, S.REGENERATING):
        raise ValidationError([refusal(item, "regenerated")])
    if not item.article_content:
        raise ValidationError(
            [
                f"comment {item.id}: the article's text was removed after RETENTION_DAYS; it cannot be regenerated"
            ]
        )
    if move(session, item.id, [S.GENERATED], S.REGENERATING, AIComment.comment_html == item.comment_html):
        return True
    current = session.get(AIComment, item.id, populate_existing=True)
    if current is not None and current.status == S.REGENERATING:
        return False
    if current is not None and current.status == S.GENERATED:
        raise ValidationError([f"comment {item.id} changed meanwhile; nothing changed, look again"])
    raise _refuse(session, item.id, "regenerated")


def cancel_regeneration(session: Session, item_id: str) -> bool:
    """Back to `generated` with the text unchanged (the workflow could not be started)."""
    return move(session, item_id, [S.REGENERATING], S.GENERATED)


def store_generated(
    session: Session,
    item_id: str,
    expected: Iterable[str],
    values: dict[str, Any],
    *,
    kind: str,
    actor: str | None = None,
    detail: str | None = None,
) -> bool:
    """A generated text stored (first generation, or a regeneration), with its event; False when the
    item had moved on and nothing was stored."""
    extra: dict[str, Any] = {"generated_at": utcnow()}
    if kind == EventKind.REGENERATED:  # a new text: the old approval was for another one
        # `generated_at` stays the first generation's time: research timings (discovery → generation)
        # measure the pipeline, not a reviewer's later request; the event has the regeneration's time.
        extra.update(
            original_html=KEEP_ORIGINAL,
            approved_at=None,
            approved_by=None,
            generated_at=func.coalesce(AIComment.generated_at, utcnow()),
        )
    if not move(session, item_id, expected, S.GENERATED, **values, **extra):
        return False
    add_event(session, item_id, kind, actor=actor, comment_html=values.get("comment_html"), detail=detail)
    return True


def end_regeneration(session: Session, item_id: str, reason: str, actor: str) -> bool:
    """A regeneration that failed: the previous text stays, the reason is the item's error."""
    if not move(
        session, item_id, [S.REGENERATING], S.GENERATED, error=f"regeneration failed: {reason}"[:2000]
    ):
        return False
    add_event(session, item_id, EventKind.REGEN_FAILED, actor=actor, detail=reason[:2000])
    return True


def reject(session: Session, item: AIComment, reason: str, actor: str) -> None:
    """generated → skipped for good, with the reviewer's reason; never posted."""
    if not move(session, item.id, [S.GENERATED], S.SKIPPED, error=f"{REJECTED_PREFIX}{reason}"):
        raise _refuse(session, item.id, "rejected")
    add_event(
        session, item.id, EventKind.REJECTED, actor=actor, comment_html=item.comment_html, detail=reason
    )


def approve(session: Session, item: AIComment, actor: str) -> datetime:
    """Marks the current text approved (the status stays `generated`); an edit or a new text takes it away."""
    now = utcnow()
    if not move(session, item.id, [S.GENERATED], S.GENERATED, approved_at=now, approved_by=actor):
        raise _refuse(session, item.id, "approved")
    add_event(session, item.id, EventKind.APPROVED, actor=actor, comment_html=item.comment_html)
    return now


def unapprove(session: Session, item: AIComment, actor: str) -> None:
    """Takes an approval back: the comment waits again (`post --approved` no longer posts it)."""
    if not move(
        session,
        item.id,
        [S.GENERATED],
        S.GENERATED,
        AIComment.approved_at.is_not(None),
        approved_at=None,
        approved_by=None,
    ):
        current = session.get(AIComment, item.id, populate_existing=True)
        if current is not None and current.status == S.GENERATED:
            raise ValidationError([f"comment {item.id} is not approved; nothing to take back"])
        raise _refuse(session, item.id, "unapproved")
    add_event(session, item.id, EventKind.UNAPPROVED, actor=actor, comment_html=item.comment_html)


def reopen(session: Session, item: AIComment, actor: str) -> None:
    """A rejected comment back to `generated`, unapproved, its text as it was: it can be reviewed again."""
    rejected = AIComment.error.startswith(REJECTED_PREFIX, autoescape=True)
    if not move(
        session, item.id, [S.SKIPPED], S.GENERATED, rejected, error=None, approved_at=None, approved_by=None
    ):
        current = session.get(AIComment, item.id, populate_existing=True)
        if current is None:
            raise ValidationError([f"comment {item.id} no longer exists"])
        if current.status == S.SKIPPED:
            why = current.error or "no reason recorded"
            raise ValidationError(
                [
                    f"comment {item.id} was skipped by the process ({why}), not rejected; only rejected comments can be reopened"
                ]
            )
        raise ValidationError(
            [f"comment {item.id} is {current.status}; only rejected comments can be reopened"]
        )
    add_event(session, item.id, EventKind.REOPENED, actor=actor, comment_html=item.comment_html)


def waits_for_approval(session: Session, item: AIComment) -> bool:
    """The item's process requires approval and its current text has none."""
    if item.approved_at is not None:
        return False
    required = session.scalar(
        select(MonitoringProcess.require_approval).where(MonitoringProcess.id == item.process_id)
    )
    return bool(required)


def waiting_items(session: Session, process_ids: Iterable[str]) -> list[AIComment]:
    """Generated comments nobody approved yet, oldest first: what `comments review` walks."""
    query = select(AIComment).where(
        AIComment.process_id.in_(list(process_ids)),
        AIComment.status == S.GENERATED,
        AIComment.approved_at.is_(None),
    )
    return list(session.scalars(query.order_by(AIComment.created_at, AIComment.id)))


def approved_items(session: Session, process_ids: Iterable[str]) -> list[AIComment]:
    """Generated, approved items of these processes, oldest first (`post --approved`)."""
    query = select(AIComment).where(
        AIComment.process_id.in_(list(process_ids)),
        AIComment.status == S.GENERATED,
        AIComment.approved_at.is_not(None),
    )
    return list(session.scalars(query.order_by(AIComment.created_at)))
