"""Local imitation of the myMoment site (PROTOCOL.md §10) with an admin API and fault switches for tests."""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import secrets
import string
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from imitation.serve import run_forever
from imitation.templates.mymoment_pages import (
    ARTICLE_STATUSES,
    CATEGORIES,
    COMMENT_STATUSES,
    TASKS,
    render_article,
    render_articles,
    render_error,
    render_landing,
    render_login,
)

REQUEST_KINDS = ("login", "probe", "list", "article", "post", "redirect", "other")

CSRF_COOKIE = "csrftoken"
SESSION_COOKIE = "sessionid"
ADMIN_PREFIX = "/_admin/"
_CSRF_CHARS = string.ascii_letters + string.digits
_CSRF_SECRET_LEN = 32
_CSRF_COOKIE_MAX_AGE = 31_449_600  # Django default: one year
_SESSION_COOKIE_MAX_AGE = 1_209_600  # Django default: two weeks
_ARTICLE_PATH = re.compile(r"^/article/(\d+)/$")
_COMMENT_POST_PATH = re.compile(r"^/article/(\d+)/comment/$")
_CONTROL_KEY = "mymoment.control"

Role = Literal["pupil", "teacher"]
RequestKind = Literal["login", "probe", "list", "article", "post", "redirect", "other"]


# --- Data model ----------------------------------------------------------------------------------------


@dataclass
class Account:
    uid: int
    username: str
    password: str = field(repr=False)
    role: Role
    class_ids: list[int]


@dataclass
class Classroom:
    id: int
    name: str
    school: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.school})"


@dataclass
class Article:
    id: int
    title: str
    author: str
    class_id: int | None
    category_id: int | None
    task_id: int | None
    status: str
    paragraphs: list[str]
    created: datetime
    likes: int = 0
    views: int = 0


@dataclass
class Comment:
    id: int
    article_id: int
    author: str
    text: str
    status: int
    hidden: bool
    highlight: str
    created: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "article_id": self.article_id,
            "author": self.author,
            "text": self.text,
            "hidden": self.hidden,
            "status": self.status,
            "highlight": self.highlight,
            "created": self.created.isoformat(timespec="seconds"),
        }


@dataclass
class Session:
    key: str
    username: str
    created: float  # time.monotonic()
    # Articles this session just commented on: the next GET of each is the POST's redirect follow-up.
    awaiting_redirect: set[int] = field(default_factory=set)


@dataclass
class LoggedRequest:
    t: float  # time.monotonic()
    wall: float  # time.time()
    method: str
    path: str
    query: str
    kind: RequestKind
    login: str | None
    status: int | None = None  # None while unanswered or when the connection was dropped
    user_agent: str = ""  # what the client says it is; the site's operators read it to reach the operator

    def as_dict(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "wall": self.wall,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "kind": self.kind,
            "login": self.login,
            "status": self.status,
        }


FAULT_DEFAULTS: dict[str, Any] = {
    "latency_ms": 0,
    "post_latency_ms": 0,
    "login_delay_ms": 0,
    "error_rate": 0.0,
    "seed": 0,
    "session_expiry_seconds": None,
    "backslash_redirects": False,
    "drop_after_store": 0,
    # Article pages served without their body (div.article), as if the site's markup had changed.
    "broken_article_ids": (),
}


def _non_negative_int(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be >= 0")
    return number


def _fraction(value: Any) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError("must be between 0 and 1")
    return number


def _optional_seconds(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    if number < 0:
        raise ValueError("must be >= 0")
    return number


def _strict_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


_FAULT_PARSERS: dict[str, Any] = {
    "latency_ms": _non_negative_int,
    "post_latency_ms": _non_negative_int,
    "login_delay_ms": _non_negative_int,
    "error_rate": _fraction,
    "seed": int,
    "session_expiry_seconds": _optional_seconds,
    "backslash_redirects": _strict_bool,
    "drop_after_store": _non_negative_int,
    "broken_article_ids": lambda value: tuple(sorted(int(v) for v in value)),
}


class MyMomentState:
    """Everything the imitation knows: accounts, classes, articles, comments, sessions, log, faults.

    Methods are thread-safe: tests call them from the main thread while uvicorn serves in another.
    """

    latency_ms: int
    post_latency_ms: int
    login_delay_ms: int
    error_rate: float
    seed: int
    session_expiry_seconds: float | None
    backslash_redirects: bool
    drop_after_store: int

    def __init__(
        self, first_article_id: int = 4501, first_comment_id: int = 9001, first_uid: int = 2000
    ) -> None:
        self._lock = threading.RLock()
        self._first_article_id = first_article_id
        self._first_comment_id = first_comment_id
        self._first_uid = first_uid
        self.reset()

    # --- lifecycle ---

    def reset(self) -> None:
        """Forget all data, sessions, the request log, and reset every fault switch."""
        with self._lock:
            self.accounts: dict[str, Account] = {}
            self.classes: dict[int, Classroom] = {}
            self.articles: dict[int, Article] = {}
            self.comments: list[Comment] = []
            self.sessions: dict[str, Session] = {}
            self.requests: list[LoggedRequest] = []
            self.logins: Counter[str] = Counter()
            self._next_article_id = self._first_article_id
            self._next_comment_id = self._first_comment_id
            self._next_uid = self._first_uid
            for name, value in FAULT_DEFAULTS.items():
                setattr(self, name, value)
            self._rng = random.Random(self.seed)

    # --- fixtures ---

    def add_class(self, id: int, name: str, school: str) -> Classroom:
        with self._lock:
            classroom = Classroom(id=int(id), name=str(name), school=str(school))
            self.classes[classroom.id] = classroom
            return classroom

    def add_account(
        self, username: str, password: str, role: Role = "pupil", class_ids: Iterable[int] = ()
    ) -> Account:
        if role not in ("pupil", "teacher"):
            raise ValueError(f"unknown role {role!r}")
        if not username or not password:
            raise ValueError("username and password are required")
        with self._lock:
            ids = [int(c) for c in class_ids]
            missing = [c for c in ids if c not in self.classes]
            if missing:
                raise ValueError(f"unknown class ids {missing}")
            existing = self.accounts.get(username)
            uid = existing.uid if existing else self._next_uid
            if not existing:
                self._next_uid += 1
            account = Account(uid=uid, username=username, password=password, role=role, class_ids=ids)
            self.accounts[username] = account
            return account

    def add_article(
        self,
        title: str,
        author: str,
        class_id: int | None = None,
        category_id: int | None = None,
        task_id: int | None = None,
        status: str = "publiziert",
        paragraphs: Iterable[str] = (),
        id: int | None = None,
        created: datetime | str | None = None,
    ) -> int:
        """Add an article and return its id (ids count up from 4501 unless given)."""
        if status not in ARTICLE_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if category_id is not None and int(category_id) not in CATEGORIES:
            raise ValueError(f"unknown category {category_id!r}")
        if task_id is not None and int(task_id) not in TASKS:
            raise ValueError(f"unknown task {task_id!r}")
        if isinstance(paragraphs, str):
            raise ValueError("paragraphs must be a list of strings")
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        with self._lock:
            if class_id is not None and int(class_id) not in self.classes:
                raise ValueError(f"unknown class {class_id!r}")
            article_id = self._next_article_id if id is None else int(id)
            if article_id in self.articles:
                raise ValueError(f"article {article_id} exists")
            self._next_article_id = max(self._next_article_id, article_id + 1)
            self.articles[article_id] = Article(
                id=article_id,
                title=str(title),
                author=str(author),
                class_id=None if class_id is None else int(class_id),
                category_id=None if category_id is None else int(category_id),
                task_id=None if task_id is None else int(task_id),
                status=status,
                paragraphs=[str(p) for p in paragraphs],
                created=created or datetime.now().replace(microsecond=0),
            )
            return article_id

    # --- queries used by the pages ---

    def account(self, username: str) -> Account | None:
        with self._lock:
            return self.accounts.get(username)

    def account_list(self) -> list[Account]:
        with self._lock:
            return list(self.accounts.values())

    def article_list(self) -> list[Article]:
        with self._lock:
            return list(self.articles.values())

    def article(self, article_id: int) -> Article | None:
        with self._lock:
            return self.articles.get(article_id)

    def check_credentials(self, username: str, password: str) -> Account | None:
        with self._lock:
            account = self.accounts.get(username)
        if account is None or not secrets.compare_digest(account.password.encode(), password.encode()):
            return None
        return account

    def tabs_for(self, account: Account) -> list[tuple[str, str]]:
        """(tab id, label) in page order: Meine, the account's classes, Alle."""
        with self._lock:
            classes = [self.classes[c] for c in account.class_ids if c in self.classes]
        return [("home", "Meine"), *[(str(c.id), c.label) for c in classes], ("alle", "Alle")]

    def visibility_label(self, article: Article) -> str:
        with self._lock:
            classroom = self.classes.get(article.class_id) if article.class_id is not None else None
        return classroom.label if classroom else "Alle"

    def pane_articles(
        self, account: Account, tab_id: str, kategorie: int | None = None, aufgabe: int | None = None
    ) -> list[Article]:
        """Articles of one pane, newest first, with the category/task filters applied."""
        with self._lock:
            articles = list(self.articles.values())
        if tab_id == "home":
            chosen = [a for a in articles if a.author == account.username]
        elif tab_id == "alle":
            chosen = [
                a
                for a in articles
                if a.status == "publiziert" and (a.class_id is None or a.class_id in account.class_ids)
            ]
        else:
            class_id = int(tab_id)
            chosen = [a for a in articles if a.status == "publiziert" and a.class_id == class_id]
        if kategorie is not None:
            chosen = [a for a in chosen if a.category_id == kategorie]
        if aufgabe is not None:
            chosen = [a for a in chosen if a.task_id == aufgabe]
        return sorted(chosen, key=lambda a: (a.created, a.id), reverse=True)

    def count_view(self, article_id: int) -> None:
        with self._lock:
            if article_id in self.articles:
                self.articles[article_id].views += 1

    def count_like(self, article_id: int) -> None:
        with self._lock:
            if article_id in self.articles:
                self.articles[article_id].likes += 1

    # --- comments ---

    def add_comment(
        self,
        article_id: int,
        author: str,
        text: str,
        status: int = 20,
        hidden: bool = False,
        highlight: str = "",
    ) -> Comment:
        with self._lock:
            if article_id not in self.articles:
                raise ValueError(f"unknown article {article_id}")
            comment = Comment(
                id=self._next_comment_id,
                article_id=article_id,
                author=author,
                text=text,
                status=status,
                hidden=hidden,
                highlight=highlight,
                created=datetime.now().replace(microsecond=0),
            )
            self._next_comment_id += 1
            self.comments.append(comment)
            return comment

    def comment_objects(self, article_id: int) -> list[Comment]:
        with self._lock:
            return [c for c in self.comments if c.article_id == article_id]

    def comments_for(self, article_id: int) -> list[dict[str, Any]]:
        return [c.as_dict() for c in self.comment_objects(article_id)]

    def all_comments(self) -> list[dict[str, Any]]:
        with self._lock:
            return [c.as_dict() for c in self.comments]

    # --- sessions ---

    def create_session(self, username: str) -> Session:
        with self._lock:
            session = Session(key=_random_string(32, string.ascii_lowercase + string.digits), username=username,
                              created=time.monotonic())  # fmt: skip
            self.sessions[session.key] = session
            self.logins[username] += 1
            return session

    def session(self, key: str | None) -> Session | None:
        """The live session for a cookie value; expired ones are dropped."""
        if not key:
            return None
        with self._lock:
            session = self.sessions.get(key)
            if session is None:
                return None
            expiry = self.session_expiry_seconds
            if expiry is not None and time.monotonic() - session.created >= expiry:
                del self.sessions[key]
                return None
            if session.username not in self.accounts:
                return None
            return session

    def end_session(self, key: str | None) -> None:
        with self._lock:
            self.sessions.pop(key or "", None)

    def expire_all_sessions(self) -> int:
        with self._lock:
            count = len(self.sessions)
            self.sessions.clear()
            return count

    # --- faults ---

    def set_faults(self, **switches: Any) -> dict[str, Any]:
        """Partial update of the fault switches; returns all of them. `seed` re-seeds the error RNG."""
        unknown = set(switches) - set(_FAULT_PARSERS)
        if unknown:
            raise ValueError(f"unknown fault switches {sorted(unknown)}")
        parsed = {name: _FAULT_PARSERS[name](value) for name, value in switches.items()}
        with self._lock:
            for name, value in parsed.items():
                setattr(self, name, value)
            if "seed" in parsed:
                self._rng = random.Random(self.seed)
            return self.faults()

    def faults(self) -> dict[str, Any]:
        with self._lock:
            return {name: getattr(self, name) for name in FAULT_DEFAULTS}

    def roll_error(self) -> bool:
        with self._lock:
            return self.error_rate > 0 and self._rng.random() < self.error_rate

    def take_drop(self) -> bool:
        with self._lock:
            if self.drop_after_store <= 0:
                return False
            self.drop_after_store -= 1
            return True

    # --- request log ---

    def log_request(self, method: str, path: str, query: str, session_key: str | None) -> LoggedRequest:
        """Record one non-admin request; classify it before the handler runs."""
        with self._lock:
            session = self.session(session_key)
            kind = self._classify(method, path, session)
            entry = LoggedRequest(
                t=time.monotonic(),
                wall=time.time(),
                method=method,
                path=path,
                query=query,
                kind=kind,
                login=session.username if session else None,
            )
            self.requests.append(entry)
            return entry

    def _classify(self, method: str, path: str, session: Session | None) -> RequestKind:
        if path == "/accounts/login/" and method in ("GET", "POST"):
            return "login"
        if method == "GET" and path == "/":
            return "probe"
        if method == "GET" and path == "/articles/":
            return "list"
        if method == "POST" and _COMMENT_POST_PATH.match(path):
            return "post"
        match = _ARTICLE_PATH.match(path)
        if method == "GET" and match:
            article_id = int(match.group(1))
            if session is not None and article_id in session.awaiting_redirect:
                session.awaiting_redirect.discard(article_id)
                return "redirect"
            return "article"
        return "other"

    def expect_redirect_follow(self, session: Session, article_id: int) -> None:
        with self._lock:
            session.awaiting_redirect.add(article_id)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            entries = list(self.requests)
            logins = dict(self.logins)
        by_kind = dict.fromkeys(REQUEST_KINDS, 0)
        by_kind.update(Counter(e.kind for e in entries))
        return {
            "total": len(entries),
            "by_kind": by_kind,
            "by_path": dict(Counter(e.path for e in entries)),
            # Requests without a login are counted under "".
            "by_login": dict(Counter(e.login or "" for e in entries)),
            "logins": logins,
            "peak_rps_1s": peak_in_window([e.t for e in entries], 1.0),
            "requests": [e.as_dict() for e in entries],
        }

    def reset_stats(self) -> None:
        with self._lock:
            self.requests.clear()
            self.logins.clear()


def peak_in_window(times: list[float], window: float) -> int:
    """Largest number of timestamps inside any half-open window [t, t + window)."""
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _random_string(length: int, alphabet: str) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


# --- Django-like CSRF -------------------------------------------------------------------------------


def _valid_secret(value: str | None) -> bool:
    return bool(value) and len(value) == _CSRF_SECRET_LEN and all(c in _CSRF_CHARS for c in value)


def mask_token(secret: str) -> str:
    """Django's masking: a fresh 32-char mask followed by the secret shifted by it, so renders differ."""
    mask = _random_string(_CSRF_SECRET_LEN, _CSRF_CHARS)
    n = len(_CSRF_CHARS)
    cipher = "".join(
        _CSRF_CHARS[(_CSRF_CHARS.index(s) + _CSRF_CHARS.index(m)) % n]
        for s, m in zip(secret, mask, strict=True)
    )
    return mask + cipher


def unmask_token(token: str) -> str | None:
    if len(token) != 2 * _CSRF_SECRET_LEN or any(c not in _CSRF_CHARS for c in token):
        return None
    mask, cipher = token[:_CSRF_SECRET_LEN], token[_CSRF_SECRET_LEN:]
    n = len(_CSRF_CHARS)
    return "".join(
        _CSRF_CHARS[(_CSRF_CHARS.index(c) - _CSRF_CHARS.index(m)) % n]
        for c, m in zip(cipher, mask, strict=True)
    )


class CsrfContext:
    """Per-request CSRF state: one masked token per render, cookie set only when the secret is new."""

    def __init__(self, request: Request) -> None:
        cookie = request.cookies.get(CSRF_COOKIE)
        self.secret = cookie if _valid_secret(cookie) else None
        self._is_new = False
        self._token: str | None = None

    def token(self) -> str:
        if self.secret is None:
            self.rotate()
        if self._token is None:
            self._token = mask_token(self.secret or "")
        return self._token

    def rotate(self) -> None:
        self.secret = _random_string(_CSRF_SECRET_LEN, _CSRF_CHARS)
        self._is_new = True
        self._token = None

    def apply(self, response: Response) -> Response:
        if self._is_new and self.secret:
            response.set_cookie(
                CSRF_COOKIE, self.secret, max_age=_CSRF_COOKIE_MAX_AGE, path="/", samesite="lax"
            )
        return response


def csrf_failure(request: Request, form: Any) -> str | None:
    """Why the POST fails Django's CSRF check, or None when it passes."""
    secret = request.cookies.get(CSRF_COOKIE)
    if not _valid_secret(secret):
        return "CSRF-Cookie nicht gesetzt."
    token = str(form.get("csrfmiddlewaretoken") or request.headers.get("x-csrftoken") or "")
    if not token:
        return "CSRF-Token fehlt."
    candidate = unmask_token(token) if len(token) == 2 * _CSRF_SECRET_LEN else token
    if candidate is None or not secrets.compare_digest(candidate.encode(), (secret or "").encode()):
        return "CSRF-Token falsch."
    return None


def referer_failure(request: Request) -> str | None:
    referer = request.headers.get("referer")
    if not referer:
        return "Referer-Prüfung fehlgeschlagen: kein Referer."
    parts = urlsplit(referer)
    if (parts.scheme, parts.netloc) != (request.url.scheme, request.url.netloc):
        return "Referer-Prüfung fehlgeschlagen: Referer passt zu keinem vertrauenswürdigen Ursprung."
    return None


# --- Request helpers ----------------------------------------------------------------------------------


@dataclass
class _RequestControl:
    """Shared between the outer ASGI layer and a handler: lets a handler ask to drop the connection."""

    drop: bool = False


def _state(request: Request) -> MyMomentState:
    return request.app.state.mymoment


def _current(request: Request) -> tuple[Session | None, Account | None]:
    state = _state(request)
    session = state.session(request.cookies.get(SESSION_COOKIE))
    return session, (state.account(session.username) if session else None)


def _redirect(request: Request, location: str) -> Response:
    """A Django-style 302; with `backslash_redirects` the Location mimics the site's old bug."""
    if _state(request).backslash_redirects:
        location = f"{request.url.scheme}://{request.url.netloc}\\{location.lstrip('/')}"
    # A raw header: Starlette's RedirectResponse would percent-encode the backslash.
    return Response(status_code=302, headers={"location": location})


def _login_redirect(request: Request) -> Response:
    full_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _redirect(request, f"/accounts/login/?next={quote(full_path, safe='/')}")


def _safe_next(value: str) -> str:
    if value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


def _forbidden(reason: str) -> HTMLResponse:
    detail = f"CSRF-Verifizierung fehlgeschlagen. Anfrage abgebrochen. {reason}"
    return HTMLResponse(render_error(403, "Verboten", detail), status_code=403)


def _not_found() -> HTMLResponse:
    return HTMLResponse(
        render_error(404, "Nicht gefunden", "Die Seite wurde nicht gefunden."), status_code=404
    )


def _optional_int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _html(csrf: CsrfContext, body: str, status: int = 200) -> Response:
    return csrf.apply(HTMLResponse(body, status_code=status))


async def _read_form(request: Request) -> dict[str, str]:
    """URL-encoded form fields (first value per name); python-multipart is not a dependency."""
    fields: dict[str, str] = {}
    for name, value in parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(name, value)
    return fields


# --- Site handlers ------------------------------------------------------------------------------------


async def landing(request: Request) -> Response:
    _session, account = _current(request)
    csrf = CsrfContext(request)
    token = csrf.token() if account else None
    return _html(csrf, render_landing(account, token))


async def login(request: Request) -> Response:
    state = _state(request)
    _session, account = _current(request)
    csrf = CsrfContext(request)
    if request.method == "GET":
        next_url = request.query_params.get("next", "")
        return _html(csrf, render_login(account, csrf.token(), next_url))
    form = await _read_form(request)
    failure = referer_failure(request) or csrf_failure(request, form)
    if failure:
        return _forbidden(failure)
    if state.login_delay_ms:
        await asyncio.sleep(state.login_delay_ms / 1000)
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    next_url = str(form.get("next") or "")
    matched = state.check_credentials(username, password)
    if matched is None:
        error = (
            "Bitte einen gültigen Benutzername und ein Passwort eingeben. "
            "Beide Felder berücksichtigen die Groß-/Kleinschreibung."
        )
        return _html(csrf, render_login(account, csrf.token(), next_url, username, error))
    session = state.create_session(matched.username)
    response = _redirect(request, _safe_next(next_url) if next_url else "/")
    response.set_cookie(
        SESSION_COOKIE, session.key, max_age=_SESSION_COOKIE_MAX_AGE, path="/", httponly=True, samesite="lax"
    )
    csrf.rotate()  # Django rotates the CSRF secret on login.
    return csrf.apply(response)


async def logout(request: Request) -> Response:
    form = await _read_form(request)
    failure = csrf_failure(request, form)
    if failure:
        return _forbidden(failure)
    _state(request).end_session(request.cookies.get(SESSION_COOKIE))
    response = _redirect(request, "/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def articles(request: Request) -> Response:
    state = _state(request)
    _session, account = _current(request)
    if account is None:
        return _login_redirect(request)
    csrf = CsrfContext(request)
    tabs = state.tabs_for(account)
    tab_ids = [tab_id for tab_id, _ in tabs]
    active = request.query_params.get("tab") or "home"
    if active not in tab_ids:
        active = "home"
    kategorie = _optional_int(request.query_params.get("kategorie"))
    aufgabe = _optional_int(request.query_params.get("aufgabe"))
    panes = {tab_id: state.pane_articles(account, tab_id, kategorie, aufgabe) for tab_id in tab_ids}
    labels = {a.id: state.visibility_label(a) for pane in panes.values() for a in pane}
    body = render_articles(account, csrf.token(), tabs, panes, labels, active, kategorie, aufgabe)
    return _html(csrf, body)


async def article_detail(request: Request) -> Response:
    state = _state(request)
    _session, account = _current(request)
    if account is None:
        return _login_redirect(request)
    article_id = int(request.path_params["article_id"])
    article = state.article(article_id)
    if article is None:
        return _not_found()
    state.count_view(article_id)
    csrf = CsrfContext(request)
    body = render_article(account, csrf.token(), article, state.comment_objects(article_id))
    if article_id in state.broken_article_ids:
        body = body.replace('<div class="article">', '<div class="beitrag">')
    return _html(csrf, body)


def _validate_comment(form: Any) -> tuple[list[str], int]:
    errors = []
    if not str(form.get("text") or "").strip():
        errors.append("Text: Dieses Feld ist zwingend erforderlich.")
    status = _optional_int(str(form.get("status") or ""))
    if status not in COMMENT_STATUSES:
        errors.append("Status: Bitte eine gültige Auswahl treffen.")
    return errors, status or 0


def _hide_checked(form: Any) -> bool:
    # Django's CheckboxInput: absent or "false"/"" means unchecked; any other value (e.g. "on") checks it.
    if "hide" not in form:
        return False
    value = str(form.get("hide") or "")
    return value != "" and value.lower() != "false"


async def comment_create(request: Request) -> Response:
    state = _state(request)
    form = await _read_form(request)
    # Django's CSRF middleware runs before the view's login check.
    failure = csrf_failure(request, form)
    if failure:
        return _forbidden(failure)
    session, account = _current(request)
    if account is None or session is None:
        return _login_redirect(request)
    article_id = int(request.path_params["article_id"])
    article = state.article(article_id)
    if article is None:
        return _not_found()
    errors, status = _validate_comment(form)
    if errors:
        # Django re-renders an invalid form with status 200 (the reference client counts that as posted).
        csrf = CsrfContext(request)
        body = render_article(account, csrf.token(), article, state.comment_objects(article_id), errors)
        return _html(csrf, body)
    if state.post_latency_ms:
        await asyncio.sleep(state.post_latency_ms / 1000)
    state.add_comment(
        article_id,
        author=account.username,
        text=str(form.get("text")),
        status=status,
        hidden=_hide_checked(form),
        highlight=str(form.get("highlight") or ""),
    )
    if state.take_drop():
        request.scope[_CONTROL_KEY].drop = True
        return Response(status_code=500)
    state.expect_redirect_follow(session, article_id)
    return _redirect(request, f"/article/{article_id}/")


async def increment_likes(request: Request) -> Response:
    state = _state(request)
    form = await _read_form(request)
    failure = csrf_failure(request, form)
    if failure:
        return _forbidden(failure)
    _session, account = _current(request)
    if account is None:
        return _login_redirect(request)
    article_id = int(request.path_params["article_id"])
    if state.article(article_id) is None:
        return _not_found()
    state.count_like(article_id)
    return _redirect(request, f"/article/{article_id}/")


# --- Admin JSON API -----------------------------------------------------------------------------------


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _admin(handler: Any) -> Any:
    """Turn bad input into a 400 with a message instead of a 500."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request, _state(request))
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return wrapped


async def admin_reset(request: Request, state: MyMomentState) -> Response:
    body = await _json_body(request)
    state.reset()
    if body.get("demo"):
        seed_demo(state)
    return JSONResponse({"ok": True})


async def admin_add_account(request: Request, state: MyMomentState) -> Response:
    body = await _json_body(request)
    account = state.add_account(
        body["username"], body["password"], body.get("role", "pupil"), body.get("class_ids") or []
    )
    return JSONResponse(_account_dict(account), status_code=201)


def _account_dict(account: Account) -> dict[str, Any]:
    # Never echo passwords back.
    return {
        "uid": account.uid,
        "username": account.username,
        "role": account.role,
        "class_ids": account.class_ids,
    }


async def admin_list_accounts(request: Request, state: MyMomentState) -> Response:
    return JSONResponse([_account_dict(a) for a in state.account_list()])


async def admin_add_class(request: Request, state: MyMomentState) -> Response:
    body = await _json_body(request)
    classroom = state.add_class(body["id"], body["name"], body["school"])
    return JSONResponse(
        {"id": classroom.id, "name": classroom.name, "school": classroom.school, "label": classroom.label},
        status_code=201,
    )


async def admin_add_article(request: Request, state: MyMomentState) -> Response:
    body = await _json_body(request)
    known = {"title", "author", "class_id", "category_id", "task_id", "status", "paragraphs", "id", "created"}
    unknown = set(body) - known
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    article_id = state.add_article(**body)
    return JSONResponse(
        {"id": article_id, "url": f"{str(request.base_url).rstrip('/')}/article/{article_id}/"},
        status_code=201,
    )


async def admin_list_articles(request: Request, state: MyMomentState) -> Response:
    items = state.article_list()
    return JSONResponse(
        [
            {
                "id": a.id, "title": a.title, "author": a.author, "class_id": a.class_id,
                "category_id": a.category_id, "task_id": a.task_id, "status": a.status,
                "created": a.created.isoformat(timespec="seconds"), "views": a.views,
            }
            for a in items
        ]
    )  # fmt: skip


async def admin_article_comments(request: Request, state: MyMomentState) -> Response:
    article_id = int(request.path_params["article_id"])
    if state.article(article_id) is None:
        return JSONResponse({"error": f"unknown article {article_id}"}, status_code=404)
    return JSONResponse(state.comments_for(article_id))


async def admin_comments(request: Request, state: MyMomentState) -> Response:
    return JSONResponse(state.all_comments())


async def admin_stats(request: Request, state: MyMomentState) -> Response:
    return JSONResponse(state.stats())


async def admin_reset_stats(request: Request, state: MyMomentState) -> Response:
    state.reset_stats()
    return JSONResponse({"ok": True})


async def admin_faults(request: Request, state: MyMomentState) -> Response:
    if request.method == "GET":
        return JSONResponse(state.faults())
    return JSONResponse(state.set_faults(**await _json_body(request)))


async def admin_expire_sessions(request: Request, state: MyMomentState) -> Response:
    return JSONResponse({"expired": state.expire_all_sessions()})


# --- Application ------------------------------------------------------------------------------------


class MyMomentApp(Starlette):
    """Starlette plus an outer layer for the request log, latency, injected errors and dropped connections."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await super().__call__(scope, receive, send)
            return
        state: MyMomentState = self.state.mymoment
        request = Request(scope)
        entry = state.log_request(
            scope["method"], scope["path"], request.url.query, request.cookies.get(SESSION_COOKIE)
        )
        entry.user_agent = request.headers.get("user-agent", "")
        if state.latency_ms:
            await asyncio.sleep(state.latency_ms / 1000)
        if state.roll_error():
            entry.status = 500
            await HTMLResponse(render_error(500, "Serverfehler", "Server Error (500)"), status_code=500)(
                scope, receive, send
            )
            return
        control = _RequestControl()
        scope[_CONTROL_KEY] = control

        async def guarded_send(message: Message) -> None:
            if control.drop:
                return
            if message["type"] == "http.response.start":
                entry.status = message["status"]
            await send(message)

        await super().__call__(scope, receive, guarded_send)
        if control.drop:
            await _abort_connection(send)


async def _abort_connection(send: Send) -> None:
    """Close the TCP connection without any response bytes (the comment is already stored)."""
    # uvicorn passes its per-request cycle's bound `send`; the cycle holds the connection's transport.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        # Let connection_lost run so uvicorn sees the disconnect instead of sending its own 500.
        for _ in range(3):
            await asyncio.sleep(0)
        return
    # Other servers: start a response that can never complete; the client sees a broken message.
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4096")]})
    raise ConnectionAbortedError("connection dropped after storing the comment")


async def _not_found_handler(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith(ADMIN_PREFIX):
        return JSONResponse({"error": "not found"}, status_code=404)
    return _not_found()


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return HTMLResponse(render_error(status, "Fehler", str(getattr(exc, "detail", ""))), status_code=status)


def _routes() -> list[Route]:
    return [
        Route("/", landing, methods=["GET"]),
        Route("/accounts/login/", login, methods=["GET", "POST"]),
        Route("/accounts/logout/", logout, methods=["POST"]),
        Route("/articles/", articles, methods=["GET"]),
        Route("/article/{article_id:int}/", article_detail, methods=["GET"]),
        Route("/article/{article_id:int}/comment/", comment_create, methods=["POST"]),
        Route("/article/{article_id:int}/increment_likes/", increment_likes, methods=["POST"]),
        Route("/_admin/reset", _admin(admin_reset), methods=["POST"]),
        Route("/_admin/accounts", _admin(admin_add_account), methods=["POST"]),
        Route("/_admin/accounts", _admin(admin_list_accounts), methods=["GET"]),
        Route("/_admin/classes", _admin(admin_add_class), methods=["POST"]),
        Route("/_admin/articles", _admin(admin_add_article), methods=["POST"]),
        Route("/_admin/articles", _admin(admin_list_articles), methods=["GET"]),
        Route("/_admin/articles/{article_id:int}/comments", _admin(admin_article_comments), methods=["GET"]),
        Route("/_admin/comments", _admin(admin_comments), methods=["GET"]),
        Route("/_admin/stats", _admin(admin_stats), methods=["GET"]),
        Route("/_admin/stats/reset", _admin(admin_reset_stats), methods=["POST"]),
        Route("/_admin/faults", _admin(admin_faults), methods=["GET", "POST"]),
        Route("/_admin/expire-sessions", _admin(admin_expire_sessions), methods=["POST"]),
    ]


def create_app(state: MyMomentState | None = None) -> MyMomentApp:
    """The imitation as an ASGI app; `app.state.mymoment` is the MyMomentState it serves."""
    app = MyMomentApp(
        routes=_routes(),
        exception_handlers={404: _not_found_handler, 405: _http_error_handler},
    )
    app.state.mymoment = state if state is not None else MyMomentState()
    return app


# --- Demo data ----------------------------------------------------------------------------------------

_DEMO_ARTICLES: list[dict[str, Any]] = [
    {
        "title": "Der Regenschirm und die Gummistiefel",
        "author": "Lea-S",
        "category_id": 9,
        "task_id": 4,
        "created": "2026-02-04T18:04:00",
        "paragraphs": [
            "Regenschirm: Endlich regnet es wieder! Ich habe den ganzen Sommer im Schrank gewartet.",
            "Gummistiefel: Du hast es gut. Mich hat der kleine Bruder im Sandkasten vergessen.",
            "Regenschirm: Dann komm mit, heute gehen wir beide zur Schule.",
            "Gummistiefel: Nur wenn du mich vor der grossen Pfütze warnst.",
            "Regenschirm: Versprochen. Aber ehrlich gesagt springst du doch am liebsten hinein!",
        ],
    },
    {
        "title": "Wie Bienen Honig machen",
        "author": "Timo-R",
        "category_id": 7,
        "task_id": None,
        "created": "2026-03-25T09:15:00",
        "paragraphs": [
            "Bienen fliegen von Blüte zu Blüte und sammeln dabei süssen Nektar.",
            "Im Bienenstock geben sie den Nektar an andere Bienen weiter, die ihn eindicken.",
            "Die Waben werden mit Wachs verschlossen, damit der Honig lange haltbar bleibt.",
            "Ein Bienenvolk braucht viele tausend Flüge für ein einziges Glas Honig.",
        ],
    },
    {
        "title": "Warum wir einen Schulgarten brauchen",
        "author": "Ayla-M",
        "category_id": 8,
        "task_id": None,
        "created": "2026-04-01T10:39:00",
        "paragraphs": [
            "Ein Schulgarten zeigt uns, woher unser Gemüse kommt.",
            "Wenn wir selbst säen und giessen, lernen wir Geduld und Verantwortung.",
            "Ausserdem macht Arbeiten an der frischen Luft einfach gute Laune.",
            "Darum finde ich: Jede Schule sollte ein kleines Beet haben.",
        ],
    },
]


def seed_demo(state: MyMomentState) -> None:
    """Two classes, two pupils and a teacher (password "demo-pass"), three published class articles."""
    state.add_class(82, "Beispielklasse A", "Testschule")
    state.add_class(91, "Beispielklasse B", "Testschule")
    state.add_account("demo-pupil-1", "demo-pass", "pupil", [82])
    state.add_account("demo-pupil-2", "demo-pass", "pupil", [82])
    state.add_account("demo-teacher", "demo-pass", "teacher", [82, 91])
    for spec in _DEMO_ARTICLES:
        state.add_article(class_id=82, status="publiziert", **spec)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the local myMoment imitation server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--seed-demo", action="store_true", help="add demo classes, accounts and articles")
    args = parser.parse_args(argv)
    state = MyMomentState()
    if args.seed_demo:
        seed_demo(state)
    run_forever(create_app(state), args.host, args.port)


if __name__ == "__main__":
    main()
