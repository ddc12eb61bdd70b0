"""What the myMoment client returns: plain Pydantic models, safe to pass through Temporal payloads.

Every text scraped from the site that a work item stores is bounded here, at the type, to the column
that stores it (yourmoment/store/models.py): no page can make an insert fail on PostgreSQL while SQLite
takes it (see docs/rules.md#data-model).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel

from yourmoment.store.limits import fit_text
from yourmoment.store.models import AIComment, ArticleVersion, TrackedArticle, TrackedPupil

TabKind = Literal["home", "class", "alle"]


def _stored_in(column: Any) -> AfterValidator:
    """The value as `column` holds it (store/limits.fit_text: no NUL, at most its length)."""
    return AfterValidator(lambda value: fit_text(value, column))


Title = Annotated[str, _stored_in(AIComment.article_title)]
Author = Annotated[str, _stored_in(AIComment.article_author)]
ArticleUrl = Annotated[str, _stored_in(AIComment.article_url)]
Category = Annotated[str, _stored_in(AIComment.article_category)]
Task = Annotated[str, _stored_in(AIComment.article_task)]
Content = Annotated[str, _stored_in(AIComment.article_content)]
RawHtml = Annotated[str, _stored_in(AIComment.article_raw_html)]
PupilName = Annotated[str, _stored_in(TrackedPupil.name)]
Visibility = Annotated[str, _stored_in(ArticleVersion.visibility)]
VersionCategory = Annotated[str, _stored_in(ArticleVersion.category)]
ArticleStatus = Annotated[str, _stored_in(ArticleVersion.status)]
ListedTime = Annotated[str, _stored_in(TrackedArticle.listed_modified)]


class Tab(BaseModel):
    id: str
    name: str
    kind: TabKind


class ArticleSummary(BaseModel):
    """One card (pupil view) or table row (teacher view) of the article list.

    The id is not bounded: an id is not cut, a work item cannot hold one longer than its column
    (store/items.left_out_reason)."""

    id: str
    title: Title
    author: Author
    status: str
    visibility: str
    date: str
    url: ArticleUrl


class ExistingComment(BaseModel):
    author: str
    text: str  # the comment's HTML as rendered on the page
    hidden: bool


class ArticleDetail(BaseModel):
    id: str
    title: Title
    author: Author
    category: Category | None
    category_id: int | None
    task: Task | None
    task_id: int | None
    content: Content  # plain text, one paragraph per line
    raw_html: RawHtml  # serialised div.article without textareas
    url: ArticleUrl
    comments: list[ExistingComment]


class DashboardRow(BaseModel):
    """One article on a pupil's dashboard (docs/protocol.md#student-dashboard)."""

    id: str
    title: Title
    url: ArticleUrl
    visibility: Visibility
    category: VersionCategory  # one or more categories, joined with ", "
    status: ArticleStatus  # "Publiziert", "Entwurf", "Lehrpersonenkontrolle"
    modified: ListedTime  # as the site writes it: "DD.MM.YYYY um HH:MM Uhr" (Swiss local time)


class Dashboard(BaseModel):
    """A pupil's dashboard as a teacher login sees it: the pupil's name and articles."""

    student_id: str
    name: PupilName
    articles: list[DashboardRow]


class SavedSession(BaseModel):
    """A login's myMoment session as the store keeps it (encrypted at rest, never in payloads)."""

    cookies: list[dict[str, str | None]]  # name, value, domain, path, expires (ISO or None)
    csrf_token: str | None = None


# account_commented: the page shows another AI comment by this myMoment account; nothing was sent.
# page_refused: the caller's check of the page (the article's cap of AI comments) said no; nothing was sent.
# "withdrawn": the caller's last check before the POST said no (its process was stopped); nothing was sent.
PostOutcome = Literal["posted", "already_posted", "account_commented", "page_refused", "withdrawn"]


class PostResult(BaseModel):
    outcome: PostOutcome
    requests: int  # myMoment requests this call made, for the benchmarks
    reason: str | None = None  # page_refused: why
