"""Tracked pupils and their articles' versions (docs/versions.md): tracking, what a backup run reads,
storing a version exactly once, listing, retention."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yourmoment.errors import NotFoundError, ValidationError
from yourmoment.mymoment.parsers import listed_time_utc
from yourmoment.mymoment.types import ArticleDetail, DashboardRow
from yourmoment.statuses import TrackState
from yourmoment.store.db import row_count
from yourmoment.store.models import (
    ArticleVersion,
    MyMomentLogin,
    TrackedArticle,
    TrackedPupil,
    User,
    utcnow,
)

# A listed time is to the minute and our clock may differ from the site's: an article read before its
# listed minute ended (plus this margin) may have changed again unseen, so the next run reads it again.
CLOCK_MARGIN = timedelta(seconds=60)


# --- content identity -----------------------------------------------------------------------------


def normalised(title: str, content: str) -> str:
    """Title and text as compared: NFC, whitespace collapsed per line, empty lines dropped."""
    lines = [" ".join(line.split()) for line in f"{title}\n{content}".splitlines()]
    return unicodedata.normalize("NFC", "\n".join(line for line in lines if line))


def content_hash(title: str, content: str) -> str:
    return hashlib.sha256(normalised(title, content).encode("utf-8")).hexdigest()


# --- tracking --------------------------------------------------------------------------------------


def check_student_id(student_id: str) -> str:
    text = student_id.strip()
    if not text.isdigit() or len(text) > 32:
        raise ValidationError([f"STUDENT_ID must be the pupil's myMoment id (digits), not {student_id!r}"])
    return text


def find_tracked(session: Session, user: User, student_id: str) -> TrackedPupil | None:
    query = select(TrackedPupil).where(TrackedPupil.user_id == user.id, TrackedPupil.student_id == student_id)
    return session.scalars(query).first()


def get_tracked(session: Session, user: User, student_id: str) -> TrackedPupil:
    pupil = find_tracked(session, user, check_student_id(student_id))
    if pupil is None:
        raise NotFoundError(f"pupil {student_id} is not tracked; see 'starter.py track list'")
    return pupil


def check_can_track(session: Session, user: User, student_id: str, limit: int) -> None:
    """Refuses a pupil tracked already and one beyond STUDENT_BACKUP_MAX_TRACKED_STUDENTS_PER_USER."""
    if find_tracked(session, user, student_id) is not None:
        raise ValidationError([f"pupil {student_id} is tracked already; see 'starter.py track list'"])
    count = session.scalar(select(func.count()).where(TrackedPupil.user_id == user.id)) or 0
    if count >= limit:
        raise ValidationError(
            [f"you track {count} pupils, the most STUDENT_BACKUP_MAX_TRACKED_STUDENTS_PER_USER allows"]
        )


def add_tracked(
    session: Session,
    user: User,
    login: MyMomentLogin,
    student_id: str,
    label: str | None,
    name: str,
    limit: int,
) -> TrackedPupil:
    check_can_track(session, user, student_id, limit)
    pupil = TrackedPupil(
        user_id=user.id,
        login_id=login.id,
        student_id=student_id,
        label=label,
        name=name,
        state=TrackState.NEW,
        paused=False,
        articles_listed=0,
    )
    session.add(pupil)
    session.flush()
    return pupil


def list_tracked(session: Session, user: User) -> list[TrackedPupil]:
    query = select(TrackedPupil).where(TrackedPupil.user_id == user.id).order_by(TrackedPupil.created_at)
    return list(session.scalars(query))


def pupils_to_back_up(session: Session, student_ids: list[str] | None, user_id: str | None) -> list[str]:
    """Ids of the tracked pupils a run backs up: the ones asked for (paused too), else all not paused."""
    query = select(TrackedPupil.id).order_by(TrackedPupil.created_at)
    if user_id is not None:
        query = query.where(TrackedPupil.user_id == user_id)
    if student_ids:
        query = query.where(TrackedPupil.student_id.in_(student_ids))
    else:
        query = query.where(TrackedPupil.paused.is_(False))
    return list(session.scalars(query))


# --- a backup run ---------------------------------------------------------------------------------


@dataclass
class PupilWork:
    """What a run needs of one tracked pupil, read before the dashboard (ids and bookkeeping only)."""

    pupil_id: str
    user_id: str
    login_id: str
    student_id: str
    listed: dict[str, tuple[str | None, datetime | None]] = field(default_factory=dict)


def pupil_work(session: Session, pupil_id: str) -> PupilWork | None:
    pupil = session.get(TrackedPupil, pupil_id)
    if pupil is None:
        return None
    rows = session.scalars(select(TrackedArticle).where(TrackedArticle.pupil_id == pupil_id))
    return PupilWork(
        pupil_id=pupil.id,
        user_id=pupil.user_id,
        login_id=pupil.login_id,
        student_id=pupil.student_id,
        listed={r.mymoment_article_id: (r.listed_modified, r.read_at) for r in rows},
    )


def needs_read(row: DashboardRow, known: tuple[str | None, datetime | None] | None) -> bool:
    """New, its listed time moved, or read before its listed minute was over (it may have moved unseen)."""
    if known is None:
        return True
    listed, read_at = known
    if listed != row.modified or read_at is None:
        return True
    moment = listed_time_utc(row.modified)
    return moment is not None and read_at < moment + timedelta(minutes=1) + CLOCK_MARGIN


def record_state(
    session: Session,
    pupil_id: str,
    state: TrackState,
    error: str | None = None,
    name: str | None = None,
    listed: int | None = None,
) -> None:
    pupil = session.get(TrackedPupil, pupil_id)
    if pupil is None:
        return
    pupil.state, pupil.last_error, pupil.last_run_at = state, error, utcnow()
    if name:
        pupil.name = name
    if listed is not None:
        pupil.articles_listed = listed


@dataclass
class StoredRead:
    version: ArticleVersion
    created: bool


def store_version(
    session: Session,
    *,
    user_id: str,
    detail: ArticleDetail,
    max_versions: int,
    source: str,
    student_id: str | None = None,
    row: DashboardRow | None = None,
    item_id: str | None = None,
) -> StoredRead:
    """The article's content as a new version, unless its latest version has the same hash.

    Exactly once, whatever crashes: a retried read finds its version as the latest and adds none, and
    two runs racing for the next number meet the unique (user, article, number): the loser reads again.
    Beyond `max_versions` the oldest versions of the article are deleted.
    """
    digest = content_hash(detail.title, detail.content)
    for _ in range(3):
        latest = latest_version(session, user_id, detail.id)
        if latest is not None and latest.content_hash == digest:
            return StoredRead(latest, created=False)
        version = ArticleVersion(
            user_id=user_id,
            mymoment_article_id=detail.id,
            number=(latest.number + 1) if latest is not None else 1,
            content_hash=digest,
            student_id=student_id,
            title=detail.title,
            author=detail.author,
            content=detail.content,
            status=row.status if row else None,
            visibility=row.visibility if row else None,
            category=(row.category if row else detail.category) or None,
            site_modified=row.modified if row else None,
            chars=len(detail.content),
            words=len(detail.content.split()),
            source=source,
            item_id=item_id,
            fetched_at=utcnow(),
        )
        try:
            with session.begin_nested():
                session.add(version)
        except IntegrityError:
            continue  # another run stored this number meanwhile: compare with it
        _keep_newest(session, user_id, detail.id, max_versions)
        return StoredRead(version, created=True)
    raise NotFoundError(f"article {detail.id}: could not number its next version")


def latest_version(session: Session, user_id: str, article_id: str) -> ArticleVersion | None:
    query = (
        select(ArticleVersion)
        .where(ArticleVersion.user_id == user_id, ArticleVersion.mymoment_article_id == article_id)
        .order_by(ArticleVersion.number.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def _keep_newest(session: Session, user_id: str, article_id: str, keep: int) -> None:
    numbers = select(ArticleVersion.number).where(
        ArticleVersion.user_id == user_id, ArticleVersion.mymoment_article_id == article_id
    )
    cutoff = session.scalars(numbers.order_by(ArticleVersion.number.desc()).offset(keep).limit(1)).first()
    if cutoff is not None:
        session.execute(
            delete(ArticleVersion).where(
                ArticleVersion.user_id == user_id,
                ArticleVersion.mymoment_article_id == article_id,
                ArticleVersion.number <= cutoff,
            )
        )


def store_backup_read(
    session: Session, work: PupilWork, row: DashboardRow, detail: ArticleDetail, max_versions: int
) -> bool:
    """One article read by a backup run: its version (if new) and the listing it was read for, together."""
    stored = store_version(
        session,
        user_id=work.user_id,
        detail=detail,
        max_versions=max_versions,
        source="backup",
        student_id=work.student_id,
        row=row,
    )
    mark_listed(session, work.pupil_id, row.id, row.modified, utcnow())
    return stored.created


def mark_listed(
    session: Session, pupil_id: str, article_id: str, listed: str | None, read_at: datetime | None
) -> None:
    tracked = session.get(TrackedArticle, (pupil_id, article_id))
    if tracked is None:
        session.add(
            TrackedArticle(
                pupil_id=pupil_id, mymoment_article_id=article_id, listed_modified=listed, read_at=read_at
            )
        )
    else:
        tracked.listed_modified, tracked.read_at = listed, read_at


# --- reading versions -----------------------------------------------------------------------------


def list_versions(
    session: Session, user: User, student_id: str | None = None, article_id: str | None = None
) -> list[ArticleVersion]:
    query = select(ArticleVersion).where(ArticleVersion.user_id == user.id)
    if student_id is not None:
        query = query.where(ArticleVersion.student_id == student_id)
    if article_id is not None:
        query = query.where(ArticleVersion.mymoment_article_id == article_id)
    return list(session.scalars(query.order_by(ArticleVersion.mymoment_article_id, ArticleVersion.number)))


def get_version(session: Session, user: User, version_id: int) -> ArticleVersion:
    version = session.get(ArticleVersion, version_id)
    if version is None or version.user_id != user.id:
        raise NotFoundError(f"no version {version_id}; see 'starter.py versions list'")
    return version


def version_by_number(session: Session, user: User, article_id: str, number: int) -> ArticleVersion:
    query = select(ArticleVersion).where(
        ArticleVersion.user_id == user.id,
        ArticleVersion.mymoment_article_id == article_id,
        ArticleVersion.number == number,
    )
    version = session.scalars(query).first()
    if version is None:
        raise NotFoundError(f"article {article_id} has no version {number}; see 'starter.py versions list'")
    return version


# --- retention ------------------------------------------------------------------------------------


def blank_pupil_data(session: Session, before: datetime) -> int:
    """Versions' texts, titles and author names read before `before` (RETENTION_DAYS) are blanked; the
    hash and the counts stay. A tracked pupil's name goes too when no run read it since."""
    result = session.execute(
        update(ArticleVersion)
        .where(
            ArticleVersion.fetched_at < before,
            ArticleVersion.content.is_not(None)
            | ArticleVersion.title.is_not(None)
            | ArticleVersion.author.is_not(None),
        )
        .values(content=None, title=None, author=None)
    )
    session.execute(
        update(TrackedPupil)
        .where(
            TrackedPupil.name.is_not(None),
            func.coalesce(TrackedPupil.last_run_at, TrackedPupil.created_at) < before,
        )
        .values(name=None)
    )
    return row_count(result)
