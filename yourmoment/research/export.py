"""`export`: one row per work item for analysis; pupils' texts and names only when asked, never past retention."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import re
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yourmoment.comment_rules import comment_plain_text
from yourmoment.research.report import interval_order
from yourmoment.research.revisions import revision
from yourmoment.statuses import EventKind
from yourmoment.store.models import (
    AIComment,
    ArticleVersion,
    CommentEvent,
    FollowUp,
    GenerationAttempt,
    LLMProvider,
    MonitoringProcess,
    MyMomentLogin,
    PromptTemplate,
    utcnow,
)

FORMATS = ("csv", "jsonl")
# Every row has these keys, in this order (the CSV header); docs/research.md ("Export")
# says what each holds. A new column goes at the end, so scripts reading by position keep working.
COLUMNS = (
    "process",
    "process_id",
    "item_id",
    "login",
    "article_id",
    "article_title",
    "article_category",
    "article_task",
    "article_author",
    "article_text",
    "prompt_template",
    "prompt_template_version",
    "provider",
    "provider_kind",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "generation_ms",
    "gate_attempts",
    "gate_rejected",
    "gate_reasons",
    "edits",
    "regenerations",
    "status",
    "error",
    "discovered_at",
    "generated_at",
    "approved_at",
    "posted_at",
    "comment_text",
    "comment_html",
    "original_comment_text",
    "follow_ups",
    "revised_within",
    "words_added_after_comment",
    "words_removed_after_comment",
    "chars_added_after_comment",
    "chars_removed_after_comment",
    "edit_distance_after_comment",
    "reply_seen",
)
# `export --versions`: one row per stored version (docs/research.md#versions); new columns at the end.
VERSION_COLUMNS = (
    "version_id",
    "article_id",
    "version",
    "source",
    "item_id",
    "process_id",
    "article_author",
    "student_id",
    "article_title",
    "article_status",
    "article_category",
    "site_modified",
    "fetched_at",
    "chars",
    "words",
    "content_sha256",
    "article_text",
    "changed",
    "words_added",
    "words_removed",
    "chars_added",
    "chars_removed",
    "edit_distance",
)
PSEUDONYM_PREFIX = "author-"
_PARAGRAPH_END = re.compile(r"<\s*/\s*p\s*>|<\s*br\s*/?\s*>", re.IGNORECASE)


class Pseudonyms:
    """Author names as `author-1a2b3c4d5e`: an HMAC-SHA256 of the name under a key made for one export
    and never stored. One author keeps one pseudonym within an export and gets another in the next, and
    without the key a pseudonym cannot be traced back, not even by hashing a class list of names."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)

    def of(self, name: str | None) -> str | None:
        clean = (name or "").strip()
        if not clean:
            return None
        digest = hmac.new(self._key, clean.encode("utf-8"), hashlib.sha256).hexdigest()
        return PSEUDONYM_PREFIX + digest[:10]


@dataclass
class ExportOptions:
    with_article_text: bool = False
    with_authors: bool = False
    retention_days: int = 90
    now: datetime = field(default_factory=utcnow)

    @property
    def retention_cutoff(self) -> datetime:
        """Items discovered before this are past RETENTION_DAYS: no pupil's text or name leaves with them."""
        return self.now - timedelta(days=self.retention_days)

    @property
    def asks_for_pupil_data(self) -> bool:
        return self.with_article_text or self.with_authors


@dataclass
class ExportStats:
    rows: int = 0
    # Rows whose article text or author was asked for but withheld because the item is past retention.
    withheld_past_retention: int = 0


@dataclass
class _Attempt:
    number: int
    accepted: bool
    checks: list[str]
    model: str | None
    template_id: str | None
    prompt_tokens: int
    completion_tokens: int
    ms: int


@dataclass
class _ProcessLookups:
    """Names the rows show instead of ids, and each item's answers and history counts, per process."""

    logins: dict[str, str]
    templates: dict[str, str]
    providers: dict[str, tuple[str, str]]  # id -> (name, kind)
    attempts: dict[str, list[_Attempt]]
    events: dict[str, dict[str, int]]  # item id -> kind -> count
    follow_ups: dict[str, list[FollowUp]]  # item id -> its follow-up reads, shortest interval first


def count_rows(session: Session, process_ids: Sequence[str]) -> int:
    query = select(func.count()).select_from(AIComment).where(AIComment.process_id.in_(list(process_ids)))
    return session.scalar(query) or 0


def export_rows(
    session: Session,
    process_list: Sequence[MonitoringProcess],
    options: ExportOptions,
    pseudonyms: Pseudonyms,
    stats: ExportStats,
) -> Iterator[dict[str, Any]]:
    """The rows of every process in turn, each process's items in the order they were discovered."""
    for process in process_list:
        lookups = _lookups(session, process)
        query = (
            select(AIComment)
            .where(AIComment.process_id == process.id)
            .order_by(AIComment.created_at, AIComment.id)
            .execution_options(yield_per=500)
        )
        for item in session.scalars(query):
            stats.rows += 1
            yield _row(process, item, lookups, options, pseudonyms, stats)


def _lookups(session: Session, process: MonitoringProcess) -> _ProcessLookups:
    of_process = select(AIComment.id).where(AIComment.process_id == process.id)
    login_ids = select(AIComment.login_id).where(AIComment.process_id == process.id).distinct()
    logins = {
        login_id: name
        for login_id, name in session.execute(
            select(MyMomentLogin.id, MyMomentLogin.name).where(MyMomentLogin.id.in_(login_ids))
        )
    }
    templates = {
        template_id: name
        for template_id, name in session.execute(select(PromptTemplate.id, PromptTemplate.name))
    }
    providers = {
        row.id: (row.name, row.provider)
        for row in session.execute(
            select(LLMProvider.id, LLMProvider.name, LLMProvider.provider).where(
                LLMProvider.user_id == process.user_id
            )
        )
    }
    attempts: dict[str, list[_Attempt]] = defaultdict(list)
    query = (
        select(GenerationAttempt)
        .where(GenerationAttempt.item_id.in_(of_process))
        .order_by(GenerationAttempt.item_id, GenerationAttempt.number)
    )
    for row in session.scalars(query):
        reasons = json.loads(row.reasons or "[]")
        attempts[row.item_id].append(
            _Attempt(
                number=row.number,
                accepted=row.accepted,
                checks=[str(reason.get("check")) for reason in reasons],
                model=row.model_name,
                template_id=row.prompt_template_id,
                prompt_tokens=row.prompt_tokens,
                completion_tokens=row.completion_tokens,
                ms=row.generation_ms,
            )
        )
    events: dict[str, dict[str, int]] = defaultdict(dict)
    query_events = (
        select(CommentEvent.item_id, CommentEvent.kind, func.count())
        .where(CommentEvent.item_id.in_(of_process))
        .group_by(CommentEvent.item_id, CommentEvent.kind)
    )
    for item_id, kind, n in session.execute(query_events):
        events[item_id][kind] = n
    reads: dict[str, list[FollowUp]] = defaultdict(list)
    for read in session.scalars(select(FollowUp).where(FollowUp.item_id.in_(of_process))):
        reads[read.item_id].append(read)
    for rows in reads.values():
        order = interval_order({r.interval for r in rows})
        rows.sort(key=lambda r: order.index(r.interval))
    return _ProcessLookups(logins, templates, providers, attempts, events, reads)


def _follow_up_columns(reads: list[FollowUp]) -> dict[str, Any]:
    """The follow-up reads of one item: each interval's verdict, the first interval whose read found
    the text revised, the change from the comment to the latest read, and whether a reply was seen."""

    def verdict(row: FollowUp) -> str:
        if row.outcome != "read" or row.changed is None:
            return row.outcome
        return "changed" if row.changed else "unchanged"

    measured = [r for r in reads if r.outcome == "read" and r.changed is not None]
    latest = measured[-1] if measured else None
    replies = [r.reply_seen for r in reads if r.reply_seen is not None]
    return {
        "follow_ups": " ".join(f"{r.interval}:{verdict(r)}" for r in reads) or None,
        "revised_within": next((r.interval for r in measured if r.changed), None),
        "words_added_after_comment": latest.words_added if latest else None,
        "words_removed_after_comment": latest.words_removed if latest else None,
        "chars_added_after_comment": latest.chars_added if latest else None,
        "chars_removed_after_comment": latest.chars_removed if latest else None,
        "edit_distance_after_comment": latest.edit_distance if latest else None,
        "reply_seen": any(replies) if replies else None,
    }


def _row(
    process: MonitoringProcess,
    item: AIComment,
    lookups: _ProcessLookups,
    options: ExportOptions,
    pseudonyms: Pseudonyms,
    stats: ExportStats,
) -> dict[str, Any]:
    past_retention = item.created_at < options.retention_cutoff
    if past_retention and options.asks_for_pupil_data:
        stats.withheld_past_retention += 1
    show_author = options.with_authors and not past_retention
    show_text = options.with_article_text and not past_retention
    tries = lookups.attempts.get(item.id, [])
    provider_id = item.llm_provider_id or process.llm_provider_id
    provider_name, provider_kind = lookups.providers.get(provider_id or "", (None, None))
    events = lookups.events.get(item.id, {})
    # A failed item stored no comment: its answers name the template they were asked with.
    template_id = (
        item.prompt_template_id
        or next((t.template_id for t in reversed(tries) if t.template_id), None)
        or item.prompt_slot
    )
    row = {
        "process": process.name,
        "process_id": process.id,
        "item_id": item.id,
        "login": lookups.logins.get(item.login_id),
        "article_id": item.mymoment_article_id,
        "article_title": item.article_title,
        "article_category": item.article_category,
        "article_task": item.article_task,
        "article_author": item.article_author if show_author else pseudonyms.of(item.article_author),
        "article_text": item.article_content if show_text else None,
        "prompt_template": lookups.templates.get(template_id or ""),
        "prompt_template_version": item.prompt_template_version,
        "provider": provider_name,
        "provider_kind": item.provider_name or provider_kind,
        "model": item.model_name or next((t.model for t in reversed(tries) if t.model), None),
        # Every answer the model gave for the item counts: rejected ones and regenerations cost too.
        "prompt_tokens": sum(t.prompt_tokens for t in tries) if tries else item.prompt_tokens,
        "completion_tokens": sum(t.completion_tokens for t in tries) if tries else item.completion_tokens,
        "generation_ms": sum(t.ms for t in tries) if tries else item.generation_ms,
        "gate_attempts": len(tries),
        "gate_rejected": sum(not t.accepted for t in tries),
        "gate_reasons": "; ".join(f"{t.number}:{'+'.join(t.checks)}" for t in tries if not t.accepted),
        "edits": events.get(EventKind.EDITED, 0),
        "regenerations": events.get(EventKind.REGENERATED, 0),
        "status": item.status,
        "error": item.error,
        "discovered_at": _iso(item.created_at),
        "generated_at": _iso(item.generated_at),
        "approved_at": _iso(item.approved_at),
        "posted_at": _iso(item.posted_at),
        "comment_text": comment_text(item.comment_html),
        "comment_html": item.comment_html,
        "original_comment_text": comment_text(item.original_html),
        **_follow_up_columns(lookups.follow_ups.get(item.id, [])),
    }
    return row


def version_rows(
    session: Session,
    user_id: str,
    process_ids: Sequence[str] | None,
    options: ExportOptions,
    pseudonyms: Pseudonyms,
    stats: ExportStats,
) -> Iterator[dict[str, Any]]:
    """One row per version of the user's articles (of the processes' articles when given), each
    article's versions in order, with what changed from the previous one (while both texts are kept)."""
    query = select(ArticleVersion).where(ArticleVersion.user_id == user_id)
    if process_ids is not None:
        commented = select(AIComment.mymoment_article_id).where(AIComment.process_id.in_(list(process_ids)))
        query = query.where(ArticleVersion.mymoment_article_id.in_(commented))
    item_process = dict(
        session.execute(
            select(AIComment.id, AIComment.process_id).where(
                AIComment.id.in_(select(ArticleVersion.item_id).where(ArticleVersion.user_id == user_id))
            )
        ).all()
    )
    previous: ArticleVersion | None = None
    ordered = query.order_by(ArticleVersion.mymoment_article_id, ArticleVersion.number)
    for version in session.scalars(ordered.execution_options(yield_per=500)):
        if previous is not None and previous.mymoment_article_id != version.mymoment_article_id:
            previous = None
        stats.rows += 1
        past_retention = version.fetched_at < options.retention_cutoff
        if past_retention and options.asks_for_pupil_data:
            stats.withheld_past_retention += 1
        show_author = options.with_authors and not past_retention
        change = (
            revision(previous.content, version.content)
            if previous is not None and previous.content is not None and version.content is not None
            else None
        )
        yield {
            "version_id": version.id,
            "article_id": version.mymoment_article_id,
            "version": version.number,
            "source": version.source,
            "item_id": version.item_id,
            "process_id": item_process.get(version.item_id or ""),
            "article_author": version.author if show_author else pseudonyms.of(version.author),
            "student_id": version.student_id if show_author else None,
            "article_title": version.title,
            "article_status": version.status,
            "article_category": version.category,
            "site_modified": version.site_modified,
            "fetched_at": _iso(version.fetched_at),
            "chars": version.chars,
            "words": version.words,
            "content_sha256": version.content_hash,
            "article_text": version.content if options.with_article_text and not past_retention else None,
            "changed": None if change is None else change.changed,
            "words_added": None if change is None else change.words_added,
            "words_removed": None if change is None else change.words_removed,
            "chars_added": None if change is None else change.chars_added,
            "chars_removed": None if change is None else change.chars_removed,
            "edit_distance": None if change is None else change.edit_distance,
        }
        previous = version


def comment_text(comment_html: str | None) -> str | None:
    """A comment as plain text, one paragraph per block separated by a blank line."""
    if comment_html is None:
        return None
    parts = (comment_plain_text(part) for part in _PARAGRAPH_END.split(comment_html))
    return "\n\n".join(part for part in parts if part)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def write_rows(
    rows: Iterable[dict[str, Any]],
    fmt: str,
    out: TextIO,
    progress: Callable[[int], None] | None = None,
    columns: Sequence[str] = COLUMNS,
) -> int:
    """CSV (a header, then one record per row; None is an empty cell, text with line breaks is quoted)
    or JSON Lines (one object per line, None as null, numbers as numbers). Returns the rows written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    writer = csv.DictWriter(out, fieldnames=columns) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    written = 0
    for row in rows:
        if writer is not None:
            writer.writerow({key: "" if value is None else value for key, value in row.items()})
        else:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        written += 1
        if progress is not None:
            progress(written)
    return written
