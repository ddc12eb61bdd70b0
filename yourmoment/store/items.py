"""Work items (ai_comments): recording discoveries and moving statuses by compare-and-set."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from yourmoment.comment_cap import over_cap_reason
from yourmoment.messages import StatusCounts, WorkItemRef
from yourmoment.mymoment.types import ArticleDetail, ArticleSummary
from yourmoment.statuses import CommentStatus
from yourmoment.store.db import row_count
from yourmoment.store.limits import max_length
from yourmoment.store.models import AIComment, new_id, utcnow
from yourmoment.store.moves import cas, inserted
from yourmoment.store.posting import claim_refusal, slot_holders

S = CommentStatus
BASELINE_REASON = "on the page when the process started (comment_on_existing is off)"


def _ref(item: AIComment) -> WorkItemRef:
    return WorkItemRef(
        item_id=item.id,
        login_id=item.login_id,
        article_id=item.mymoment_article_id,
        prompt_slot=item.prompt_slot,
    )


def left_out_reason(article: ArticleSummary) -> str | None:
    """Why a listed article cannot become a work item, or None. Its texts are bounded by their types
    (mymoment/types.py); an id cannot be cut, so one longer than the column is left out, alone."""
    limit = max_length(AIComment.mymoment_article_id) or 0
    if len(article.id) <= limit:
        return None
    return f"article {article.id[:12]}… left out: its id is longer than {limit} characters"


def record_discovered(
    session: Session,
    process_id: str,
    login_id: str,
    account_key: str,
    articles: list[ArticleSummary],
    prompt_slots: list[str],
    baseline: bool,
    *,
    aliases: Sequence[str] = (),
    cap: tuple[str, int] | None = None,
) -> tuple[list[WorkItemRef], int]:
    """Records one item per new (article, slot); returns the items to work on and how many were set aside.

    Items the account's claims or the article's full places (`cap`: site and MAX_AI_COMMENTS_PER_ARTICLE)
    already rule out are recorded as skipped, to spare the LLM; the claims at posting decide.

    The items to work on include every item of this process and login still in `discovered`: an
    earlier attempt may have recorded them and died before the workflow learnt of them. Starting
    them twice is harmless (the workflow and Temporal refuse a second child for one item).
    """
    known = {
        (a, slot)
        for a, slot in session.execute(
            select(AIComment.mymoment_article_id, AIComment.prompt_slot).where(
                AIComment.process_id == process_id, AIComment.login_id == login_id
            )
        )
    }
    set_aside = 0
    for article in articles:
        if left_out_reason(article):
            continue  # reported by the discovery (DiscoverResult.left_out); the others are recorded
        for slot in prompt_slots:
            if (article.id, slot) in known:
                continue
            status, error = S.DISCOVERED, None
            if baseline:
                status, error = S.SKIPPED, BASELINE_REASON
            elif refusal := claim_refusal(session, account_key, article.id, slot, process_id, None, aliases):
                status, error = S.SKIPPED, refusal
            elif cap is not None and len(slot_holders(session, cap[0], article.id)) >= cap[1]:
                status, error = S.SKIPPED, over_cap_reason(cap[1])
            if (
                _insert_once(session, process_id, login_id, article, slot, status, error)
                and status != S.DISCOVERED
            ):
                set_aside += 1
    waiting = session.scalars(
        select(AIComment)
        .where(
            AIComment.process_id == process_id,
            AIComment.login_id == login_id,
            AIComment.status == S.DISCOVERED,
        )
        .order_by(AIComment.created_at)
    )
    return [_ref(item) for item in waiting], set_aside


def _insert_once(
    session: Session,
    process_id: str,
    login_id: str,
    article: ArticleSummary,
    slot: str,
    status: str,
    error: str | None,
) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on the work item's natural key; True when this call inserted it.

    One statement, so a concurrent discovery cannot make it fail, and no savepoint is needed (SQLite's
    driver commits savepoints on their own, which would break the unit of work).
    """
    dialect = session.get_bind().dialect.name
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    now = utcnow()
    statement = (
        insert(AIComment)
        .values(
            id=new_id(),
            process_id=process_id,
            login_id=login_id,
            mymoment_article_id=article.id,
            prompt_slot=slot,
            article_title=article.title,
            article_author=article.author,
            article_url=article.url,
            status=status,
            error=error,
            attempts=0,
            is_hidden=False,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(
            index_elements=["process_id", "login_id", "mymoment_article_id", "prompt_slot"]
        )
    )
    return inserted(session, statement)


# The page's fields a work item keeps, each in the column `article_<field>` (read back by the prompt).
STORED_ARTICLE_FIELDS = ("title", "author", "url", "category", "task", "content", "raw_html")


def store_article(
    session: Session,
    item_id: str,
    detail: ArticleDetail,
    scraped_at: datetime,
    page_ai_accounts: str | None = None,
) -> bool:
    """The page's fields, when it was read and (comment_cap.to_column) whose AI comments it showed."""
    columns = {
        f"article_{name}": value
        for name, value in detail.model_dump(include=set(STORED_ARTICLE_FIELDS)).items()
    }
    return cas(
        session,
        item_id,
        [S.DISCOVERED],
        S.PREPARED,
        scraped_at=scraped_at,
        page_ai_accounts=page_ai_accounts,
        **columns,
    )


def get_item(session: Session, item_id: str) -> AIComment | None:
    return session.get(AIComment, item_id)


def counts(session: Session, process_id: str) -> StatusCounts:
    rows = session.execute(
        select(AIComment.status, func.count())
        .where(AIComment.process_id == process_id)
        .group_by(AIComment.status)
    )
    return StatusCounts(**{status: n for status, n in rows})


def ids_with_status(session: Session, process_id: str, statuses: Iterable[str]) -> set[str]:
    """The ids of the process's items in one of `statuses` (ids only: no text is loaded)."""
    query = select(AIComment.id).where(
        AIComment.process_id == process_id, AIComment.status.in_(list(statuses))
    )
    return set(session.scalars(query))


def list_items(session: Session, process_id: str, status: str | None = None) -> list[AIComment]:
    query = select(AIComment).where(AIComment.process_id == process_id).order_by(AIComment.created_at)
    if status:
        query = query.where(AIComment.status == status)
    return list(session.scalars(query))


def pending_for_resume(session: Session, process_id: str, include_posting: bool) -> list[WorkItemRef]:
    """Items a new run picks up: generated-but-not-posted (posting processes) and unfinished earlier work."""
    statuses = [S.DISCOVERED, S.PREPARED]
    if include_posting:
        statuses += [S.GENERATED, S.POSTING]
    items = session.scalars(
        select(AIComment).where(AIComment.process_id == process_id, AIComment.status.in_(statuses))
    )
    return [_ref(item) for item in items]


def settle_leftovers(session: Session, process_id: str, reason: str) -> tuple[int, int]:
    """Leaves nothing in an in-between state when a run ends.

    Items not yet generated are skipped. An item caught in `posting` goes back to `generated` with
    its attempts kept, so the next post reads the page first and cannot post twice.
    """
    skipped = session.execute(
        update(AIComment)
        .where(AIComment.process_id == process_id, AIComment.status.in_([S.DISCOVERED, S.PREPARED]))
        .values(status=S.SKIPPED, error=reason, updated_at=utcnow())
    )
    returned = session.execute(
        update(AIComment)
        .where(AIComment.process_id == process_id, AIComment.status == S.POSTING)
        .values(
            status=S.GENERATED,
            error="post interrupted; the page is checked before the next try",
            updated_at=utcnow(),
        )
    )
    return row_count(skipped), row_count(returned)
