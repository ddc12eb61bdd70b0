"""SQLAlchemy 2.x models (see docs/rules.md#data-model). Secrets are stored encrypted (columns ending in `_enc`)."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from yourmoment.statuses import CommentStatus, ProcessStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class TemplateCategory(enum.StrEnum):
    SYSTEM = "SYSTEM"
    USER = "USER"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both databases (SQLite hands back naive values otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


Timestamp = UTCDateTime()


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class MyMomentLogin(Base):
    __tablename__ = "mymoment_logins"
    __table_args__ = (
        # A name is unique among a user's *active* logins, so a removed login frees its name.
        Index(
            "uq_login_name_active",
            "user_id",
            "name",
            unique=True,
            sqlite_where=text("is_active"),
            postgresql_where=text("is_active"),
        ),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    username_enc: Mapped[str] = mapped_column(Text)
    password_enc: Mapped[str] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    last_used: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class MyMomentSession(Base):
    __tablename__ = "mymoment_sessions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    login_id: Mapped[str] = mapped_column(ForeignKey("mymoment_logins.id", ondelete="CASCADE"), unique=True)
    session_enc: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class LLMProvider(Base):
    __tablename__ = "llm_providers"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    api_key_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    temperature: Mapped[float] = mapped_column(Float, default=0.7)
    max_tokens: Mapped[int] = mapped_column(Integer, default=800)
    requests_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Requests in flight per worker, and "json_schema" or "off"; None: the provider kind's default.
    max_concurrency: Mapped[int | None] = mapped_column(Integer, nullable=True)
    structured_output: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Prices per million tokens, for the cost estimate of `report`; None: unknown.
    price_prompt_per_million: Mapped[float | None] = mapped_column(Float, nullable=True)
    price_completion_per_million: Mapped[float | None] = mapped_column(Float, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class PromptTemplate(Base):
    __tablename__ = "prompt_templates"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    system_prompt: Mapped[str] = mapped_column(Text)
    user_prompt_template: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(10), default=TemplateCategory.USER)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # +1 on every change
    # Retired: offered to no new process; the processes that have it keep it.
    retired_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


# Template names are unique per user (system templates: among themselves), with the process names'
# normalisation (yourmoment/store/processes.py name_key); a name must identify one template.
Index(
    "uq_template_name_per_user",
    func.coalesce(PromptTemplate.user_id, ""),
    func.lower(PromptTemplate.name),
    unique=True,
)


class PromptTemplateVersion(Base):
    """Every text a template had: `template edit` adds one, and comments name the version they used."""

    __tablename__ = "prompt_template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version", name="uq_template_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    template_id: Mapped[str] = mapped_column(
        ForeignKey("prompt_templates.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    system_prompt: Mapped[str] = mapped_column(Text)
    user_prompt_template: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class MonitoringProcess(Base):
    __tablename__ = "monitoring_processes"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    llm_provider_id: Mapped[str | None] = mapped_column(
        ForeignKey("llm_providers.id", ondelete="SET NULL"), nullable=True
    )
    tab: Mapped[str] = mapped_column(String(32))
    category_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    task_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    search: Mapped[str | None] = mapped_column(String(200), nullable=True)
    max_duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    discovery_interval_seconds: Mapped[int] = mapped_column(Integer, default=60)
    generate_only: Mapped[bool] = mapped_column(Boolean, default=True)
    hide_comments: Mapped[bool] = mapped_column(Boolean, default=False)
    prompt_mode: Mapped[str] = mapped_column(String(16), default="weighted")
    comment_on_existing: Mapped[bool] = mapped_column(Boolean, default=True)
    # Nothing is posted before a reviewer approves it (`comments approve`, then `post --approved`).
    require_approval: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    mymoment_requests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16), default=ProcessStatus.CREATED, index=True)
    stop_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    workflow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Set by a stop without --drain: the process's article workflows post nothing more from then on
    # (their post activity reads it right before each POST); cleared when the process starts again.
    posting_stopped_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)

    logins: Mapped[list[ProcessLogin]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    prompts: Mapped[list[ProcessPrompt]] = relationship(cascade="all, delete-orphan", lazy="selectin")


# Process names are unique per user, ignoring case (the CLI also normalises spacing before storing):
# a name must identify one process, or `process delete NAME` could hit the wrong one.
Index("uq_process_name_per_user", MonitoringProcess.user_id, func.lower(MonitoringProcess.name), unique=True)


class ProcessLogin(Base):
    __tablename__ = "process_logins"
    process_id: Mapped[str] = mapped_column(
        ForeignKey("monitoring_processes.id", ondelete="CASCADE"), primary_key=True
    )
    login_id: Mapped[str] = mapped_column(
        ForeignKey("mymoment_logins.id", ondelete="CASCADE"), primary_key=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The login's state when the process's last run ended ("ready" or "failed" and why); None while a
    # run is going or before the first. Only the workflow knows the live state.
    last_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ProcessPrompt(Base):
    __tablename__ = "process_prompts"
    process_id: Mapped[str] = mapped_column(
        ForeignKey("monitoring_processes.id", ondelete="CASCADE"), primary_key=True
    )
    template_id: Mapped[str] = mapped_column(
        ForeignKey("prompt_templates.id", ondelete="CASCADE"), primary_key=True
    )
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class AIComment(Base):
    """One work item: process × login × article (× prompt in `all` mode). Status moves by compare-and-set."""

    __tablename__ = "ai_comments"
    __table_args__ = (
        UniqueConstraint("process_id", "login_id", "mymoment_article_id", "prompt_slot", name="uq_work_item"),
        Index("ix_ai_comments_login_article", "login_id", "mymoment_article_id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    process_id: Mapped[str] = mapped_column(
        ForeignKey("monitoring_processes.id", ondelete="CASCADE"), index=True
    )
    login_id: Mapped[str] = mapped_column(ForeignKey("mymoment_logins.id", ondelete="CASCADE"))
    mymoment_article_id: Mapped[str] = mapped_column(String(32))
    # "" in weighted mode (one comment per article); the template id in `all` mode.
    prompt_slot: Mapped[str] = mapped_column(String(36), default="")
    article_title: Mapped[str | None] = mapped_column(Text, nullable=True)
    article_author: Mapped[str | None] = mapped_column(String(200), nullable=True)
    article_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    article_category: Mapped[str | None] = mapped_column(String(100), nullable=True)
    article_task: Mapped[str | None] = mapped_column(String(200), nullable=True)
    article_content: Mapped[str | None] = mapped_column(Text, nullable=True)
    article_raw_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    scraped_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    # The accounts (account_key digests, a JSON list) of the AI comments on the page when it was scraped:
    # the first POST counts them against the article's cap while that page is recent (yourmoment/comment_cap.py).
    page_ai_accounts: Mapped[str | None] = mapped_column(Text, nullable=True)
    prompt_template_id: Mapped[str | None] = mapped_column(
        ForeignKey("prompt_templates.id", ondelete="SET NULL"), nullable=True
    )
    llm_provider_id: Mapped[str | None] = mapped_column(
        ForeignKey("llm_providers.id", ondelete="SET NULL"), nullable=True
    )
    comment_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    reasoning: Mapped[str | None] = mapped_column(Text, nullable=True)
    model_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    provider_name: Mapped[str | None] = mapped_column(String(32), nullable=True)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    generation_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    is_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=CommentStatus.DISCOVERED, index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    generated_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    original_html: Mapped[str | None] = mapped_column(Text, nullable=True)  # first text, once changed
    prompt_template_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    posted_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)


class GenerationAttempt(Base):
    """One answer the model gave for a work item and the quality gate's verdict on it.

    `reasons` is a JSON list of {"check": ..., "message": ...}; empty when accepted. The rejected text
    itself is never kept: it may quote the pupil and it was never meant to be read.
    """

    __tablename__ = "generation_attempts"
    __table_args__ = (UniqueConstraint("item_id", "number", name="uq_generation_attempts_item_number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("ai_comments.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[str] = mapped_column(Text, default="[]")
    finish_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    model_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    prompt_template_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    generation_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class CommentEvent(Base):
    """One step of a work item's history: generated, edited, regenerated, approved, rejected, posted.

    `comment_html` is the comment's text after the step (ours, never the pupil's); `detail` a reason.
    `version` numbers the texts: each generated, edited or regenerated text is the next version, and a
    restore names the version it brought back (yourmoment/store/review.py).
    """

    __tablename__ = "comment_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("ai_comments.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(320), nullable=True)
    comment_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class PostingClaim(Base):
    """The right of one myMoment account to comment on one article (per prompt in `all` mode).

    The primary key is the rule, enforced by the database across users, processes and workers: the
    first item to insert a row holds it for good (a comment on the page outlives its item), so an
    item's row id and process are kept but cleared, never cascaded, when they are deleted.
    """

    __tablename__ = "posting_claims"
    # yourmoment.mymoment.account.account_key: a digest of the site's host and the normalised username.
    account_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    mymoment_article_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # "" is the article's claim, which every comment needs; a template id is one prompt's in `all` mode.
    prompt_slot: Mapped[str] = mapped_column(String(36), primary_key=True)
    process_id: Mapped[str | None] = mapped_column(
        ForeignKey("monitoring_processes.id", ondelete="SET NULL"), nullable=True
    )
    item_id: Mapped[str | None] = mapped_column(
        ForeignKey("ai_comments.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class ArticleCommentSlot(Base):
    """One of the article's MAX_AI_COMMENTS_PER_ARTICLE places for an AI comment, all accounts together.

    The primary key is the rule's half that the database enforces: slot numbers run from 1 to the cap, so
    however many workers claim at once, no more than the cap hold a place. A place is taken in the
    transaction that takes the account's claim and given back only when its item ends before its POST
    was sent; a posted comment (or one whose POST may have arrived) keeps it, even after its item is
    deleted. The page's AI comments from elsewhere are counted on the page (docs/rules.md#ai-comments-per-article).
    """

    __tablename__ = "article_comment_slots"
    # yourmoment.mymoment.account.site_identity: `mymoment.ch`, `localhost:8000`.
    site: Mapped[str] = mapped_column(String(300), primary_key=True)
    mymoment_article_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64))
    process_id: Mapped[str | None] = mapped_column(
        ForeignKey("monitoring_processes.id", ondelete="SET NULL"), nullable=True
    )
    item_id: Mapped[str | None] = mapped_column(
        ForeignKey("ai_comments.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class NotificationRecord(Base):
    """One attempt to send a notification (NOTIFY_URLS): what it was about and whether it arrived.

    `health` shows the newest failure; `subject` marks what a message was about where it must not be
    repeated (a stuck workflow's id). Ids, kinds and value-free reasons only: never a message's text.
    """

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    process_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    subject: Mapped[str | None] = mapped_column(String(300), nullable=True)
    delivered: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)


class TrackedPupil(Base):
    """A pupil whose texts a user backs up (`track add`): read through a teacher login's dashboard.

    `name` is what the dashboard shows: pupil data, blanked with the texts after RETENTION_DAYS
    without a read (activities/maintenance.py). `state` says how the last read went (TrackState).
    """

    __tablename__ = "tracked_pupils"
    __table_args__ = (UniqueConstraint("user_id", "student_id", name="uq_tracked_pupil"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    login_id: Mapped[str] = mapped_column(ForeignKey("mymoment_logins.id", ondelete="CASCADE"))
    student_id: Mapped[str] = mapped_column(String(32))
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="new")
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_run_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    articles_listed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class TrackedArticle(Base):
    """What a pupil's dashboard last listed for one article, and when we last read the article: a run
    reads an article only when it is new or its last-modified time moved (or may have moved unseen)."""

    __tablename__ = "tracked_articles"
    pupil_id: Mapped[str] = mapped_column(
        ForeignKey("tracked_pupils.id", ondelete="CASCADE"), primary_key=True
    )
    mymoment_article_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    listed_modified: Mapped[str | None] = mapped_column(String(40), nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)


class ArticleVersion(Base):
    """One distinct content of an article as a user read it: a new row only when the SHA-256 of the
    normalised title and text differs from the article's latest (yourmoment/store/versions.py).

    (user, article, number) is unique: two runs racing for the next number store one row, and a run
    retried after a crash finds its version stored and adds none. Title, author and content are
    pupil data: blanked after RETENTION_DAYS like the items' texts; the hash and counts stay.
    """

    __tablename__ = "article_versions"
    __table_args__ = (
        UniqueConstraint("user_id", "mymoment_article_id", "number", name="uq_article_version"),
        Index("ix_article_versions_article", "user_id", "mymoment_article_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    mymoment_article_id: Mapped[str] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    student_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    author: Mapped[str | None] = mapped_column(String(200), nullable=True)
    content: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str | None] = mapped_column(String(40), nullable=True)
    visibility: Mapped[str | None] = mapped_column(String(200), nullable=True)
    category: Mapped[str | None] = mapped_column(String(100), nullable=True)
    site_modified: Mapped[str | None] = mapped_column(String(40), nullable=True)
    chars: Mapped[int] = mapped_column(Integer, default=0)
    words: Mapped[int] = mapped_column(Integer, default=0)
    # "backup" (a tracked pupil's run) or "follow_up" (a read after our comment)
    source: Mapped[str] = mapped_column(String(16), default="backup")
    item_id: Mapped[str | None] = mapped_column(
        ForeignKey("ai_comments.id", ondelete="SET NULL"), nullable=True, index=True
    )
    fetched_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class FollowUp(Base):
    """One read of a commented article FOLLOW_UP_AFTER its comment was posted (1h, 1d, 7d): did the
    pupil change the text since the comment, and did a reply appear under it (docs/versions.md)."""

    __tablename__ = "follow_ups"
    item_id: Mapped[str] = mapped_column(ForeignKey("ai_comments.id", ondelete="CASCADE"), primary_key=True)
    interval: Mapped[str] = mapped_column(String(16), primary_key=True)  # "1h", as FOLLOW_UP_AFTER spells it
    # "read", or "skipped" (the politeness budget stayed saturated), or "failed" (the page could not be read)
    outcome: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("article_versions.id", ondelete="SET NULL"), nullable=True
    )
    changed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    chars_added: Mapped[int | None] = mapped_column(Integer, nullable=True)
    chars_removed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    words_added: Mapped[int | None] = mapped_column(Integer, nullable=True)
    words_removed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    edit_distance: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reply_seen: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    read_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
