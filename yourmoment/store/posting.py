"""Posting a comment, one transaction each way: the account's claim on the article, one of the article's
places, the move to `posting` (compare-and-set), and the outcome that ends it.

Every rule that keeps a comment from being posted twice or over the cap is decided here, on database
constraints that hold across users, processes and workers (docs/rules.md#exactly-once-posting); the
posting activity (activities/comments.py) calls `claim` before its POST and `settle` after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from yourmoment import comment_cap
from yourmoment.comment_cap import over_cap_reason
from yourmoment.comment_rules import posting_problems
from yourmoment.errors import NotFoundError, PermanentError
from yourmoment.statuses import CommentStatus, EventKind, PostOutcome
from yourmoment.store import review
from yourmoment.store.models import AIComment, ArticleCommentSlot, MonitoringProcess, PostingClaim, utcnow
from yourmoment.store.moves import cas, insert_once

S = CommentStatus


@dataclass(frozen=True)
class Claimed:
    """The item is `posting` and holds its claim and place: its POST may be sent."""

    item: AIComment
    first_try: bool  # no POST was ever sent for it: the page read when it was prepared may serve
    account_comments: list[str]  # the account's other expected comments on the page (`all` mode)


@dataclass(frozen=True)
class NotPosted:
    """Why no POST is sent; `already_posted` when an earlier try posted it."""

    outcome: str  # "skipped", "already_posted" or "held" (a stop of the process)
    reason: str | None = None


@dataclass(frozen=True)
class Account:
    """Who posts: the login's id, the account's key (and the keys older versions stored it under), the site."""

    login_id: str
    key: str
    aliases: Sequence[str]
    site: str


HELD_REASON = "the process was stopped before this comment was posted; 'starter.py post' sends it"


def stop_hold(session: Session, process_id: str) -> str | None:
    """Why the process's own workflows post nothing more (a stop without --drain), or None."""
    process = session.get(MonitoringProcess, process_id)
    return HELD_REASON if process is not None and process.posting_stopped_at is not None else None


def claim(
    session: Session, item_id: str, account: Account, cap: int, *, held_by_stop: bool = False
) -> Claimed | NotPosted:
    """Moves the item to `posting` once it holds the account's claim on the article and one of the
    article's places; an item that loses either is skipped (and keeps nothing). With `held_by_stop`
    (the process's own article workflow), a stop of the process leaves the item `generated` instead."""
    item = session.get(AIComment, item_id)
    if item is None:
        raise NotFoundError(f"work item {item_id} does not exist")
    if item.login_id != account.login_id:
        raise PermanentError(f"work item {item_id} belongs to another login than the one posting")
    if refused := _not_postable(session, item, held_by_stop):
        return refused
    if refusal := claim_for_posting(session, item, account.key, account.aliases):
        cas(session, item_id, [S.GENERATED, S.POSTING], S.SKIPPED, error=refusal)
        return NotPosted("skipped", refusal)
    # The places left by the AI comments from elsewhere the prepared page showed.
    others = slot_holders(session, account.site, item.mymoment_article_id, but=item.id)
    shown = comment_cap.from_column(item.page_ai_accounts) or []
    elsewhere = comment_cap.from_elsewhere(others, shown)
    if over_cap := take_article_slot(session, account.site, item, account.key, cap, elsewhere):
        session.rollback()  # the account's claim goes back too: this comment never comes
        cas(session, item_id, [S.GENERATED, S.POSTING], S.SKIPPED, error=over_cap)
        return NotPosted("skipped", over_cap)
    first_try = item.status == S.GENERATED and item.attempts == 0
    if not cas(session, item_id, [S.GENERATED, S.POSTING], S.POSTING, attempts=item.attempts + 1):
        session.rollback()  # another call moved the item meanwhile: it holds what the item needs
        return NotPosted("skipped", "claimed elsewhere")
    # Read again now that this transaction holds the row: a reviewer's edit committed before the move to
    # `posting` is the text posted, and one that took the approval away stops the post.
    session.refresh(item)
    if review.waits_for_approval(session, item):
        session.rollback()
        return NotPosted("skipped", "the comment was changed and waits for a reviewer's approval again")
    # Checked again here: a comment stored by an older version or edited in the database.
    if problems := posting_problems(item.comment_html or ""):
        raise PermanentError(f"the stored comment is never posted: {' '.join(problems)}")
    return Claimed(item, first_try, account_comments(session, account.key, item, account.aliases))


def _not_postable(session: Session, item: AIComment, held_by_stop: bool) -> NotPosted | None:
    if item.status == S.POSTED:
        return NotPosted("already_posted")
    if item.status not in (S.GENERATED, S.POSTING):
        return NotPosted("skipped", f"item is {item.status}")
    if held_by_stop and (held := stop_hold(session, item.process_id)):
        if item.status == S.POSTING:  # a try interrupted earlier: the next `post` reads the page first
            cas(session, item.id, [S.POSTING], S.GENERATED)
        return NotPosted(PostOutcome.HELD, held)
    if review.waits_for_approval(session, item):
        return NotPosted(
            "skipped", "the comment waits for a reviewer's approval ('starter.py comments approve')"
        )
    return None


def settle(
    session: Session, item_id: str, status: str, values: dict[str, object], release_place: bool
) -> bool:
    """The outcome of a `posting` item; `release_place` gives its place on the article back (it ends
    unposted). True when this call moved it."""
    moved = cas(session, item_id, [S.POSTING], status, **values)
    if moved and release_place:
        release_article_slot(session, item_id)
    if moved and status == S.POSTED:
        item = session.get(AIComment, item_id)
        review.add_event(session, item_id, EventKind.POSTED, comment_html=item.comment_html if item else None)
    return moved


# --- posting claims: one comment per myMoment account and article (and prompt in `all` mode) ---------

ARTICLE_CLAIM = ""  # the prompt slot of the claim every comment on an article needs
ANOTHER_PROCESS = "this myMoment account already comments on the article in another process"
ANOTHER_LOGIN = "another login of this myMoment account already comments on the article"


def claim_row(
    session: Session, account_key: str, article_id: str, slot: str, aliases: Sequence[str] = ()
) -> PostingClaim | None:
    """The claim under the account's key, else under one of its older keys (account.legacy_account_keys):
    claims stored by an older version stay in force. Old keys are never written, so no race needs them."""
    for key in (account_key, *aliases):
        row = session.get(PostingClaim, (key, article_id, slot), populate_existing=True)
        if row is not None:
            return row
    return None


def claim_refusal(
    session: Session,
    account_key: str,
    article_id: str,
    slot: str,
    process_id: str,
    item_id: str | None,
    aliases: Sequence[str] = (),
) -> str | None:
    """Why an item (None: one not yet recorded) may not comment, judged from the claims already held.

    The article's claim belongs to one process: in `weighted` mode to one item, in `all` mode the
    process's items then claim one prompt each.
    """
    article = claim_row(session, account_key, article_id, ARTICLE_CLAIM, aliases)
    if article is None:
        return None
    if article.process_id != process_id:
        return ANOTHER_PROCESS
    if slot == ARTICLE_CLAIM:
        return None if article.item_id == item_id else ANOTHER_LOGIN
    held = claim_row(session, account_key, article_id, slot, aliases)
    return None if held is None or held.item_id == item_id else ANOTHER_LOGIN


def claim_for_posting(
    session: Session, item: AIComment, account_key: str, aliases: Sequence[str] = ()
) -> str | None:
    """Takes the item's claims (inserts that the primary key lets only one item win); returns None when
    the item holds them, else why it may not post. Concurrent callers wait for each other's insert."""
    article_id, slot = item.mymoment_article_id, item.prompt_slot
    if refusal := claim_refusal(session, account_key, article_id, slot, item.process_id, item.id, aliases):
        return refusal  # held already, maybe under an older key: nothing to insert
    _insert_claim(session, account_key, item, ARTICLE_CLAIM)
    article = claim_row(session, account_key, article_id, ARTICLE_CLAIM)
    if slot != ARTICLE_CLAIM and article is not None and article.process_id == item.process_id:
        _insert_claim(session, account_key, item, slot)  # `all` mode: this process's prompt, once
    return claim_refusal(session, account_key, article_id, slot, item.process_id, item.id, aliases)


def _insert_claim(session: Session, account_key: str, item: AIComment, slot: str) -> None:
    keys = ["account_key", "mymoment_article_id", "prompt_slot"]
    insert_once(session, PostingClaim, keys, account_key=account_key, prompt_slot=slot, **_held_by(item))


def _held_by(item: AIComment) -> dict[str, object]:
    """The columns a claim and a place share: the article, and the item and process holding it."""
    return {
        "mymoment_article_id": item.mymoment_article_id,
        "process_id": item.process_id,
        "item_id": item.id,
        "created_at": utcnow(),
    }


def account_comments(
    session: Session, account_key: str, item: AIComment, aliases: Sequence[str] = ()
) -> list[str]:
    """The texts of the account's other claimed comments on the item's article (`all` mode siblings):
    the page may show them; any other AI comment by the account there stops a retry."""
    rows = session.scalars(
        select(AIComment.comment_html)
        .join(PostingClaim, PostingClaim.item_id == AIComment.id)
        .where(
            PostingClaim.account_key.in_([account_key, *aliases]),
            PostingClaim.mymoment_article_id == item.mymoment_article_id,
            AIComment.id != item.id,
            AIComment.comment_html.is_not(None),
        )
    )
    return sorted({html for html in rows if html})


# --- the article's places: at most MAX_AI_COMMENTS_PER_ARTICLE AI comments, all accounts together ------


def take_article_slot(
    session: Session, site: str, item: AIComment, account_key: str, cap: int, from_elsewhere: int = 0
) -> str | None:
    """Takes a free place for the item's comment (it keeps one it holds already); returns why it may not
    have one. Places are numbered 1..cap, less the AI comments from elsewhere its page showed. Call it
    in the transaction that takes the account's claim, and roll that transaction back on a refusal, so
    the account's claim is not spent on a comment that never comes.

    Each number is an INSERT … ON CONFLICT DO NOTHING on the primary key: two workers trying one number
    wait for each other and one of them moves on, so however many try at once, at most `cap` hold one.
    """
    if _held_slot(session, item.id) is not None:
        return None
    room = cap - from_elsewhere
    for number in range(1, room + 1):
        if _insert_slot(session, site, item, account_key, number):
            break
    else:
        return over_cap_reason(cap)
    # The cap may have been lowered since other places were taken: they all count.
    if len(slot_holders(session, site, item.mymoment_article_id)) > room:
        return over_cap_reason(cap)
    return None


def _held_slot(session: Session, item_id: str) -> ArticleCommentSlot | None:
    return session.scalar(select(ArticleCommentSlot).where(ArticleCommentSlot.item_id == item_id))


def _insert_slot(session: Session, site: str, item: AIComment, account_key: str, number: int) -> bool:
    keys = ["site", "mymoment_article_id", "slot"]
    return insert_once(
        session, ArticleCommentSlot, keys, site=site, slot=number, account_key=account_key, **_held_by(item)
    )


def slot_holders(session: Session, site: str, article_id: str, but: str | None = None) -> list[str]:
    """The accounts holding the article's places, one entry per place; `but` leaves out one item's."""
    query = select(ArticleCommentSlot.account_key).where(
        ArticleCommentSlot.site == site, ArticleCommentSlot.mymoment_article_id == article_id
    )
    if but is not None:
        query = query.where((ArticleCommentSlot.item_id != but) | ArticleCommentSlot.item_id.is_(None))
    return list(session.scalars(query))


def release_article_slot(session: Session, item_id: str) -> None:
    """Gives the item's place back: only for an item that ends before its POST was sent."""
    session.execute(delete(ArticleCommentSlot).where(ArticleCommentSlot.item_id == item_id))
