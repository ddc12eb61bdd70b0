"""What the myMoment imitation knows: accounts, classes, articles, comments, sessions, request log, faults."""

from __future__ import annotations

import random
import re
import secrets
import string
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from imitation.mymoment.security import random_string
from imitation.mymoment.vocabulary import ARTICLE_STATUSES, CATEGORIES, TASKS

REQUEST_KINDS = ("login", "probe", "list", "article", "dashboard", "post", "redirect", "other")
# The site shows times in Swiss local time (the dashboard's last-modified column).
SITE_TIMEZONE = ZoneInfo("Europe/Zurich")

_ARTICLE_PATH = re.compile(r"^/article/(\d+)/$")
_COMMENT_POST_PATH = re.compile(r"^/article/(\d+)/comment/$")
_DASHBOARD_PATH = re.compile(r"^/dashboard/user/(\d+)/$")

Role = Literal["pupil", "teacher"]
RequestKind = Literal["login", "probe", "list", "article", "dashboard", "post", "redirect", "other"]


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
    # Site-local time of the last change (the dashboard's last-modified column); None: `created`.
    modified: datetime | None = None

    @property
    def last_modified(self) -> datetime:
        return self.modified or self.created


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
        return {**asdict(self), "created": self.created.isoformat(timespec="seconds")}


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
        """The entry as `/_admin/stats` lists it; the User-Agent stays out (tests read it off the entry)."""
        return {name: value for name, value in asdict(self).items() if name != "user_agent"}


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
    broken_article_ids: tuple[int, ...]

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
        modified: datetime | str | None = None,
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
        if isinstance(modified, str):
            modified = datetime.fromisoformat(modified)
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
                modified=modified,
            )
            return article_id

    def edit_article(
        self,
        article_id: int,
        paragraphs: Iterable[str] | None = None,
        title: str | None = None,
        modified: datetime | str | None = None,
    ) -> Article:
        """A pupil's edit: new text and/or title, last-modified now (site-local time, to the second) or
        at `modified` (a benchmark backdates the edits of a simulated hour)."""
        if isinstance(paragraphs, str):
            raise ValueError("paragraphs must be a list of strings")
        if isinstance(modified, str):
            modified = datetime.fromisoformat(modified)
        with self._lock:
            article = self.articles.get(int(article_id))
            if article is None:
                raise ValueError(f"unknown article {article_id}")
            if paragraphs is not None:
                article.paragraphs = [str(p) for p in paragraphs]
            if title is not None:
                article.title = str(title)
            article.modified = modified or site_now()
            return article

    def account_by_uid(self, uid: int) -> Account | None:
        with self._lock:
            return next((a for a in self.accounts.values() if a.uid == uid), None)

    def dashboard_articles(self, pupil: Account) -> list[Article]:
        """Every article of the pupil, drafts too, most recently changed first."""
        with self._lock:
            mine = [a for a in self.articles.values() if a.author == pupil.username]
        return sorted(mine, key=lambda a: (a.last_modified, a.id), reverse=True)

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
            session = Session(
                key=random_string(32, string.ascii_lowercase + string.digits),
                username=username,
                created=time.monotonic(),
            )
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
        if method == "GET" and _DASHBOARD_PATH.match(path):
            return "dashboard"
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


def site_now() -> datetime:
    """Now as the site shows it: Swiss local time, naive, to the second."""
    return datetime.now(SITE_TIMEZONE).replace(tzinfo=None, microsecond=0)


def peak_in_window(times: list[float], window: float) -> int:
    """Largest number of timestamps inside any half-open window [t, t + window)."""
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best
