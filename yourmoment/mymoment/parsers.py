"""Pure parsers for myMoment pages (see docs/protocol.md): HTML in, typed models out, no I/O."""

from __future__ import annotations

import copy
import re
import unicodedata
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bs4 import BeautifulSoup, Tag

from yourmoment.comment_rules import carries_disclosure
from yourmoment.errors import NotFoundError, PageParseError
from yourmoment.mymoment.account import same_username
from yourmoment.mymoment.types import (
    ArticleDetail,
    ArticleSummary,
    Dashboard,
    DashboardRow,
    ExistingComment,
    Tab,
)

# Fixed name → id maps of the site (see docs/protocol.md#categories-and-tasks); names compared after NFC normalisation.
CATEGORY_IDS: dict[str, int] = {
    "Anleiten": 4,
    "Berichten": 14,
    "Erklären": 5,
    "Fragen": 6,
    "Informieren": 7,
    "Überzeugen": 8,
    "Unterhalten": 9,
}
TASK_IDS: dict[str, int] = {
    "Fiktionaler Dialog zwischen zwei Gegenständen": 4,
    "Wo ist Hugo? (Anleitung schreiben)": 10,
    "Storymap: Mehrere Ideen für eine Geschichte": 12,
    "Verzweigte Geschichten": 13,
}

# The site writes times in Swiss local time (the dashboard's last-modified column).
SITE_TIMEZONE = ZoneInfo("Europe/Zurich")
LOGIN_PATH = "/accounts/login/"
LOGOUT_PATH = "/accounts/logout/"
CARD_STATUSES = ("entwurf", "lehrpersonenkontrolle", "publiziert")

_ARTICLE_HREF = re.compile(r"/article/(?:edit/)?(\d+)/?(?:[?#].*)?$")
_ANY_COMMENT_ACTION = re.compile(r"/article/\d+/comment/")
_PROFILE_HREF = re.compile(r"^/accounts/\d+/profile/?$")

Document = str | BeautifulSoup


def soup_of(document: Document) -> BeautifulSoup:
    """Parse once, reuse everywhere: every public parser accepts either HTML or a parsed soup."""
    if isinstance(document, BeautifulSoup):
        return document
    return BeautifulSoup(document, "lxml")


def collapse(text: str) -> str:
    return " ".join(text.split())


def html_to_plain(html: str) -> str:
    """The visible text of an HTML fragment, tags stripped and whitespace collapsed."""
    return collapse(BeautifulSoup(html, "lxml").get_text(" "))


def same_text(html_a: str, html_b: str) -> bool:
    """Whether two HTML fragments carry the same text, whatever whitespace the server re-renders."""
    return "".join(html_to_plain(html_a).split()) == "".join(html_to_plain(html_b).split())


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", collapse(text))


def _text(node: Tag | None, default: str) -> str:
    if node is None:
        return default
    return collapse(node.get_text(" ")) or default


def _article_id(href: str | None) -> str | None:
    if not href:
        return None
    match = _ARTICLE_HREF.search(urlsplit(href).path)
    return match.group(1) if match else None


def article_url(base_url: str, article_id: str) -> str:
    return f"{base_url.rstrip('/')}/article/{article_id}/"


# --- session markers ----------------------------------------------------------------------------


def is_logged_in(document: Document) -> bool:
    """A logged-in page carries the logout form: a form whose action is exactly /accounts/logout/."""
    return soup_of(document).find("form", attrs={"action": LOGOUT_PATH}) is not None


def logged_in_username(document: Document) -> str | None:
    """The username the page was rendered for: the nav's profile button, else the page title."""
    soup = soup_of(document)
    if not is_logged_in(soup):
        return None
    link = soup.find("a", href=_PROFILE_HREF)
    if link is not None and (name := collapse(link.get_text(" "))):
        return name
    title = soup.title.get_text() if soup.title else ""
    if "|" in title:
        return collapse(title.split("|", 1)[1]) or None
    return None


def is_login_page(url: str, document: Document) -> bool:
    """The login page: by its path, or by a password form on a page without the logout form."""
    if urlsplit(url).path.startswith(LOGIN_PATH):
        return True
    soup = soup_of(document)
    return not is_logged_in(soup) and soup.find("input", attrs={"name": "password"}) is not None


def _csrf_in(node: Tag) -> str | None:
    field = node.find("input", attrs={"name": "csrfmiddlewaretoken"})
    value = field.get("value") if field is not None else None
    return str(value) if value else None


def find_form_csrf(document: Document) -> str | None:
    """The first CSRF token on the page (a Django token is valid for every form of its session)."""
    return _csrf_in(soup_of(document))


def find_comment_csrf(document: Document, article_id: str) -> str | None:
    """The token of the article's comment form; any comment form's token as fallback (see docs/protocol.md#comment-form-and-post)."""
    soup = soup_of(document)
    forms = soup.find_all("form", action=lambda a: bool(a) and f"/article/{article_id}/comment/" in a)
    forms = forms or soup.find_all("form", action=_ANY_COMMENT_ACTION)
    for form in forms:
        if (token := _csrf_in(form)) is not None:
            return token
    return None


# --- article list -------------------------------------------------------------------------------


def _tab_kind(tab_id: str) -> str:
    return tab_id if tab_id in ("home", "alle") else "class"


def parse_tabs(document: Document) -> list[Tab]:
    """The tab buttons of `ul#pills-tab` (see docs/protocol.md#tabs)."""
    nav = soup_of(document).find("ul", id="pills-tab")
    if nav is None:
        raise PageParseError("article list page without tab navigation (ul#pills-tab)")
    tabs: list[Tab] = []
    for button in nav.find_all("button", attrs={"role": "tab"}):
        target = str(button.get("data-bs-target") or "")
        if target.startswith("#pills-") and (tab_id := target.removeprefix("#pills-")):
            tabs.append(Tab(id=tab_id, name=collapse(button.get_text(" ")), kind=_tab_kind(tab_id)))
    return tabs


def _card_status(card: Tag) -> str:
    header = card.find("div", class_="card-header")
    if header is None:
        return "Unknown"
    for css in header.get("class") or []:
        if css in CARD_STATUSES:
            return css.capitalize()
    return "Unknown"


def _parse_card(card: Tag, base_url: str) -> ArticleSummary | None:
    link = card.find("a", href=True)
    article_id = _article_id(str(link["href"])) if link is not None else None
    if article_id is None:
        return None
    return ArticleSummary(
        id=article_id,
        title=_text(card.find("div", class_="article-title"), "Unknown Title"),
        author=_text(card.find("div", class_="article-author"), "Unknown Author"),
        status=_card_status(card),
        visibility=_text(card.find("div", class_="article-classroom"), "Unknown"),
        date=_text(card.find("div", class_="article-date"), "Unknown Date"),
        url=article_url(base_url, article_id),
    )


def _parse_row(row: Tag, base_url: str) -> ArticleSummary | None:
    cells = row.find_all("td", recursive=False)
    if len(cells) < 7:
        return None
    link = cells[0].find("a", href=True)
    article_id = _article_id(str(link["href"])) if link is not None else None
    if article_id is None:
        return None
    return ArticleSummary(
        id=article_id,
        title=_text(cells[0], "Unknown Title"),
        author=_text(cells[1], "Unknown Author"),
        status=_text(cells[5], "Unknown"),
        visibility=_text(cells[2], "Unknown"),
        date=_text(cells[6], "Unknown Date"),
        url=article_url(base_url, article_id),
    )


def _pane_items(pane: Tag, base_url: str) -> list[ArticleSummary]:
    """Cards (pupil view) or table rows (teacher view) of one pane (see docs/protocol.md#article-list)."""
    card_list = pane.find("div", class_="article-list", recursive=False)
    if card_list is not None:
        items = (_parse_card(card, base_url) for card in card_list.find_all("div", recursive=False))
    elif (table := pane.find("table")) is not None:
        body = table.find("tbody") or table
        items = (_parse_row(row, base_url) for row in body.find_all("tr"))
    else:
        return []  # a pane that is present but empty: the page proves there is nothing to list
    return [item for item in items if item is not None]


def parse_article_list(
    document: Document, tab: str, base_url: str, search: str | None = None, limit: int = 20
) -> list[ArticleSummary]:
    """The articles of one tab pane, title-filtered (case-insensitive) before `limit` is applied."""
    soup = soup_of(document)
    pane = soup.find("div", id=f"pills-{tab}")
    if pane is None:
        if soup.find("ul", id="pills-tab") is None:
            raise PageParseError(f"article list page without tabs or pane for tab {tab!r}")
        raise NotFoundError(f"tab {tab!r} is not visible to this login")
    items = _pane_items(pane, base_url)
    if search:
        needle = search.casefold()
        items = [item for item in items if needle in item.title.casefold()]
    return items[: max(limit, 0)]


# --- article detail -----------------------------------------------------------------------------


def _title_and_author(h1: Tag) -> tuple[str, str]:
    """Split "<title> von <author>" at the last " von ": usernames hold no spaces, titles may."""
    text = collapse(h1.get_text(" "))
    if " von " not in text:
        return text, "Unknown Author"
    title, author = text.rsplit(" von ", 1)
    return title.strip(), author.strip()


def _category_and_task(soup: BeautifulSoup) -> tuple[str | None, str | None]:
    category = task = None
    for item in soup.find_all("li", class_="list-group-item"):
        text = collapse(item.get_text(" "))
        if text.startswith("Kategorie:") and category is None:
            category = _nfc(text.removeprefix("Kategorie:")) or None
        elif text.startswith("Aufgabe:") and task is None:
            task = _nfc(text.removeprefix("Aufgabe:")) or None
    return category, task


def _content(article: Tag) -> str:
    target = article.find(class_="highlight-target")
    paragraphs = [collapse(p.get_text(" ")) for p in target.find_all("p")] if target is not None else []
    text = "\n".join(p for p in paragraphs if p)
    if text:
        return text
    speech = article.find("textarea", id="text-to-speech")
    return speech.get_text().strip() if speech is not None else ""


def _raw_html(article: Tag) -> str:
    clone = copy.copy(article)  # a deep copy: the caller's soup keeps its textareas
    for textarea in clone.find_all("textarea"):
        textarea.decompose()
    return str(clone)


def parse_comments(document: Document) -> list[ExistingComment]:
    """Existing comments (see docs/protocol.md#existing-comments): author from "von <name>", HTML body, hidden by `d-none`."""
    comments: list[ExistingComment] = []
    for block in soup_of(document).find_all("div", class_="comment"):
        body = block.find("span", class_="card-text")
        if body is None:
            continue
        author = _text(block.find("h5", class_="card-title"), "")
        author = author.removeprefix("von ").strip() or "Unknown Author"
        hidden = (
            "d-none" in (body.get("class") or []) or block.find("button", class_="comment-show") is not None
        )
        comments.append(ExistingComment(author=author, text=body.decode_contents().strip(), hidden=hidden))
    return comments


def parse_article_detail(document: Document, article_id: str, base_url: str) -> ArticleDetail:
    """The article page (see docs/protocol.md#article-page): title/author from the first h1, body, category, task, comments."""
    soup = soup_of(document)
    h1 = soup.find(lambda tag: tag.name == "h1" and "modal-title" not in (tag.get("class") or []))
    if h1 is None:
        raise PageParseError(f"article page {article_id} without a title (h1)")
    article = soup.find("div", class_="article")
    if article is None:
        raise PageParseError(f"article page {article_id} without an article body (div.article)")
    title, author = _title_and_author(h1)
    category, task = _category_and_task(soup)
    return ArticleDetail(
        id=article_id,
        title=title,
        author=author,
        category=category,
        category_id=CATEGORY_IDS.get(category) if category else None,
        task=task,
        task_id=TASK_IDS.get(task) if task else None,
        content=_content(article),
        raw_html=_raw_html(article),
        url=article_url(base_url, article_id),
        comments=parse_comments(soup),
    )


# --- student dashboard ---------------------------------------------------------------------------


def _dashboard_row(row: Tag, base_url: str) -> DashboardRow | None:
    cells = row.find_all("td", recursive=False)
    if len(cells) < 5:
        return None
    link = cells[0].find("a", href=True)
    article_id = _article_id(str(link["href"])) if link is not None else None
    if article_id is None:
        return None
    categories = [collapse(li.get_text(" ")) for li in cells[2].find_all("li")]
    return DashboardRow(
        id=article_id,
        title=_text(cells[0], "Unknown Title"),
        url=article_url(base_url, article_id),
        visibility=_text(cells[1], "Unknown"),
        category=", ".join(c for c in categories if c) or _text(cells[2], ""),
        status=_text(cells[3], "Unknown"),
        modified=_text(cells[4], ""),
    )


def parse_dashboard(document: Document, student_id: str, base_url: str) -> Dashboard:
    """A pupil's dashboard (see docs/protocol.md#student-dashboard): the table in #pills-articles (or
    the page's first table), rows of at least five cells; the pupil's name from the first h1."""
    soup = soup_of(document)
    pane = soup.find("div", id="pills-articles")
    table = (pane or soup).find("table")
    if table is None:
        if pane is None:
            raise PageParseError(f"dashboard of pupil {student_id} without an article table")
        rows: list[DashboardRow] = []
    else:
        body = table.find("tbody") or table
        found = (_dashboard_row(row, base_url) for row in body.find_all("tr"))
        rows = [row for row in found if row is not None]
    heading = soup.find("h1")
    name = _text(heading, "").removeprefix("Dashboard").removeprefix(" von").strip()
    return Dashboard(student_id=student_id, name=name or f"pupil {student_id}", articles=rows)


def parse_listed_time(text: str) -> datetime | None:
    """ "07.12.2026 um 14:05 Uhr" as a naive site-local datetime; None for anything else."""
    match = _LISTED_TIME.search(text)
    if match is None:
        return None
    day, month, year, hour, minute = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute)
    except ValueError:
        return None


def listed_time_utc(text: str) -> datetime | None:
    """A listed time as an aware UTC moment (the site writes Swiss local time)."""
    moment = parse_listed_time(text)
    return moment.replace(tzinfo=SITE_TIMEZONE).astimezone(UTC) if moment is not None else None


_LISTED_TIME = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})\D+(\d{1,2}):(\d{2})")


# --- comment matching ---------------------------------------------------------------------------


def ai_comments(detail: ArticleDetail) -> list[ExistingComment]:
    """Every comment on the page that carries the AI disclosure, whoever posted it (hidden ones too)."""
    return [c for c in detail.comments if carries_disclosure(html_to_plain(c.text))]


def own_ai_comments(detail: ArticleDetail, username: str, prefix: str) -> list[ExistingComment]:
    """Comments by `username` that carry the AI disclosure `prefix`."""
    return [
        c for c in detail.comments if same_username(c.author, username) and prefix in html_to_plain(c.text)
    ]


def find_own_comment(detail: ArticleDetail, username: str, html: str, prefix: str) -> ExistingComment | None:
    """This login's AI comment with the same text as `html`, if the page already shows it."""
    return next((c for c in own_ai_comments(detail, username, prefix) if same_text(c.text, html)), None)


def reply_below(detail: ArticleDetail, username: str, html: str, prefix: str) -> bool | None:
    """Whether someone else commented below this login's comment `html` (the site lists comments oldest
    first, in one flat list: a reply is a later comment); None when the page no longer shows ours."""
    own = find_own_comment(detail, username, html, prefix)
    if own is None:
        return None
    later = detail.comments[detail.comments.index(own) + 1 :]
    return any(not same_username(c.author, username) for c in later)
