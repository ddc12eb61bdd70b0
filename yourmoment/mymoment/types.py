"""What the myMoment client returns: plain Pydantic models, safe to pass through Temporal payloads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

TabKind = Literal["home", "class", "alle"]


class Tab(BaseModel):
    id: str
    name: str
    kind: TabKind


class ArticleSummary(BaseModel):
    """One card (pupil view) or table row (teacher view) of the article list."""

    id: str
    title: str
    author: str
    status: str
    visibility: str
    date: str
    url: str


class ExistingComment(BaseModel):
    author: str
    text: str  # the comment's HTML as rendered on the page
    hidden: bool


class ArticleDetail(BaseModel):
    id: str
    title: str
    author: str
    category: str | None
    category_id: int | None
    task: str | None
    task_id: int | None
    content: str  # plain text, one paragraph per line
    raw_html: str  # serialised div.article without textareas
    url: str
    comments: list[ExistingComment]


class SavedSession(BaseModel):
    """A login's myMoment session as the store keeps it (encrypted at rest, never in payloads)."""

    cookies: list[dict[str, str | None]]  # name, value, domain, path, expires (ISO or None)
    csrf_token: str | None = None


# account_commented: the page shows another AI comment by this myMoment account; nothing was sent.
# page_refused: the caller's check of the page (the article's cap of AI comments) said no; nothing was sent.
PostOutcome = Literal["posted", "already_posted", "account_commented", "page_refused"]


class PostResult(BaseModel):
    outcome: PostOutcome
    requests: int  # myMoment requests this call made, for the benchmarks
    reason: str | None = None  # page_refused: why
