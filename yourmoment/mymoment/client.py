"""HTTP client for myMoment: reuses stored sessions, answers expiry with one re-login, posts exactly once."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from http.cookiejar import Cookie
from types import TracebackType
from typing import Literal, NoReturn, Protocol, TypeVar
from urllib.parse import urlencode, urljoin, urlsplit

from bs4 import BeautifulSoup

from yourmoment.budget import RequestClass, current_site_request, record_wait, site_request
from yourmoment.comment_rules import DISCLOSURE, posting_problems
from yourmoment.errors import (
    AmbiguousPostError,
    BadCredentialsError,
    CommentValidationError,
    ForbiddenError,
    NotFoundError,
    PageParseError,
    PermanentError,
    SessionExpiredError,
    TransientError,
)
from yourmoment.http_hints import retry_after_seconds
from yourmoment.lean_httpx import httpx
from yourmoment.mymoment import parsers
from yourmoment.mymoment.account import (
    account_key,
    canonical_host,
    legacy_account_keys,
    request_base_url,
    site_identity,
)
from yourmoment.mymoment.types import (
    ArticleDetail,
    ArticleSummary,
    Dashboard,
    PostOutcome,
    PostResult,
    SavedSession,
    Tab,
)
from yourmoment.ratelimit import RateLimiter
from yourmoment.services import address, unavailable
from yourmoment.settings import PRODUCT

log = logging.getLogger(__name__)
_Parsed = TypeVar("_Parsed")
# httpcore's DEBUG trace prints response headers, Set-Cookie values included: keep it quiet unless
# an operator chose its level explicitly.
if logging.getLogger("httpcore").level == logging.NOTSET:
    logging.getLogger("httpcore").setLevel(logging.INFO)

DEFAULT_USER_AGENT = PRODUCT  # callers pass Settings.user_agent, which names the operator's contact
MAX_HOPS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Errors raised before a request left this machine: retrying a POST after them cannot duplicate it.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

SubmitOutcome = Literal["stored", "stale_token", "expired"]
# Why a request is made: the call site where the limiter's priority classes attach (posting first,
# discovery and article reads next, the backup of tracked pupils after them, follow-up reads last).
# Jitter between our clock and the moment the site sees a POST: the comment interval is kept this
# much longer, so the site never sees two of an account's POSTs closer than the interval.
SEND_MARGIN_SECONDS = 0.2
# Longer waits for the account's comment interval end the attempt: Temporal retries it after the wait.
MAX_INTERVAL_WAIT_SECONDS = 60.0

# Requests made inside the current `counting_requests()` block: a context variable, so concurrent
# activities that share one client (one per login and worker) each count only their own requests.
_call_requests: ContextVar[list[int] | None] = ContextVar("mymoment_call_requests", default=None)


@contextmanager
def counting_requests() -> Iterator[list[int]]:
    """Counts the myMoment requests this task makes inside the block (`counter[0]`), with every client.

    Blocks nest: an inner block's requests count in the outer one too (post_comment counts its own
    inside an activity that counts all of its requests for the process).
    """
    counter = [0]
    outer = _call_requests.get()
    token = _call_requests.set(counter)
    try:
        yield counter
    finally:
        _call_requests.reset(token)
        if outer is not None:
            outer[0] += counter[0]


class SessionStore(Protocol):
    """Where a login's session lives between activities and workers (the DB, encrypted, in production)."""

    async def load(self, login_id: str) -> SavedSession | None: ...

    async def save(self, login_id: str, session: SavedSession) -> None: ...

    async def invalidate(self, login_id: str) -> None: ...


class MemorySessionStore:
    """A SessionStore in a dict, for tests and one-off CLI commands."""

    def __init__(self) -> None:
        self.sessions: dict[str, SavedSession] = {}

    async def load(self, login_id: str) -> SavedSession | None:
        saved = self.sessions.get(login_id)
        return saved.model_copy(deep=True) if saved else None

    async def save(self, login_id: str, session: SavedSession) -> None:
        self.sessions[login_id] = session.model_copy(deep=True)

    async def invalidate(self, login_id: str) -> None:
        self.sessions.pop(login_id, None)


@dataclass
class _Page:
    url: str
    soup: BeautifulSoup

    def read(self, parse: Callable[[BeautifulSoup], _Parsed]) -> _Parsed:
        """`parse` the page, then take its tree apart. A parsed tree is a web of reference cycles (each node
        points to its parent and siblings) that only Python's cyclic collector frees, and that runs rarely
        in a worker holding many objects: unread trees piled up (about 15 KB a process at 100 processes).
        The parsers return plain values, so nothing they return refers to the tree."""
        try:
            return parse(self.soup)
        finally:
            # Each child of the root: the root's own decompose() stops at the root (bs4 4.15).
            for element in list(self.soup.contents):
                element.decompose()


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    """One TLS context for every myMoment client of the process. httpx builds one per client by default,
    loading the CA bundle again: about 0.9 MB a login, 43 MB for a worker serving 50 logins. httpcore
    sets the same ALPN list (HTTP/1.1) on it for each connection, so sharing it changes nothing."""
    return httpx.create_ssl_context()


def _fix_location(current_url: str, location: str) -> str:
    """Resolve a redirect target; the real site once sent `…:443\\accounts/login/` (see docs/protocol.md#redirects)."""
    return urljoin(current_url, location.replace("\\", "/"))


async def _repair_location(response: httpx.Response) -> None:
    """Fix a backslash Location before httpx parses it: httpx builds `next_request` even when not
    following redirects, and `…:443\\accounts/` would fail there as an invalid port."""
    location = response.headers.get("location")
    if location and "\\" in location:
        response.headers["location"] = location.replace("\\", "/")


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def _is_login_url(url: str) -> bool:
    return _path(url).startswith(parsers.LOGIN_PATH)


def _raise_for_status(response: httpx.Response, url: str) -> None:
    status, path = response.status_code, _path(url)
    if status == 404:
        raise NotFoundError(f"myMoment has no page {path}")
    if status == 403:
        raise ForbiddenError(f"myMoment refused this login the page {path} (403)")
    if status == 429 or status >= 500:
        raise TransientError(
            f"myMoment answered {status} for {path}", retry_after=retry_after_seconds(response.headers)
        )
    if status >= 300:
        raise PermanentError(f"myMoment answered {status} for {path}")


def _cookie_to_dict(cookie: Cookie) -> dict[str, str | None]:
    expires = datetime.fromtimestamp(cookie.expires, UTC).isoformat() if cookie.expires else None
    return {
        "name": cookie.name,
        "value": cookie.value,
        "domain": cookie.domain,
        "path": cookie.path,
        "expires": expires,
        "secure": "true" if cookie.secure else None,
    }


def _cookie_from_dict(saved: dict[str, str | None], default_domain: str) -> Cookie | None:
    """A jar cookie from its stored form; None when it has expired or is incomplete."""
    name, value = saved.get("name"), saved.get("value")
    if not name or value is None:
        return None
    stored_expiry = saved.get("expires")
    try:
        expires = int(datetime.fromisoformat(stored_expiry).timestamp()) if stored_expiry else None
    except ValueError:
        expires = None  # an unreadable date: let the server decide whether the cookie still works
    if expires is not None and expires <= datetime.now(UTC).timestamp():
        return None
    domain = saved.get("domain") or default_domain
    path = saved.get("path") or "/"
    return Cookie(
        version=0,
        name=name,
        value=value,
        port=None,
        port_specified=False,
        domain=domain,
        domain_specified=domain.startswith("."),
        domain_initial_dot=domain.startswith("."),
        path=path,
        path_specified=True,
        secure=saved.get("secure") == "true",
        expires=expires,
        discard=expires is None,
        comment=None,
        comment_url=None,
        rest={},
    )


def _jar_domain(host: str) -> str:
    """The domain the cookie jar gives a host-only cookie of `host`: it adds `.local` to a name without
    a dot (`localhost` → `localhost.local`, http.cookiejar's effective request host)."""
    return host if "." in host or ":" in host else f"{host}.local"


def _host_of_jar_domain(domain: str) -> str:
    name = domain.removesuffix(".local")
    return name if name != domain and "." not in name else domain


# Told of every response (method, path, status), e.g. to count requests for the metrics.
RequestObserver = Callable[[str, str, int | None], None]
# Judges the article page read right before a POST: a reason not to post, or None (the article's cap).
PageCheck = Callable[[ArticleDetail], str | None]
# Asked right before a comment POST leaves (after pacing): a reason not to send it, or None.
SendCheck = Callable[[], Awaitable[str | None]]


class PostWithdrawn(Exception):
    """The SendCheck said no: the POST was not sent."""


class MyMomentClient:
    """One myMoment login's HTTP session. Every hop is paced by the shared limiter.

    Secrets stay inside: logs carry the login id, method, path and status only.
    """

    def __init__(
        self,
        base_url: str,
        *,
        login_id: str,
        username: str,
        password: str,
        session_store: SessionStore,
        limiter: RateLimiter,
        rate_per_second: float = 2.0,
        burst: int = 5,
        timeout: float = 30.0,
        user_agent: str = DEFAULT_USER_AGENT,
        observer: RequestObserver | None = None,
        comment_interval: float = 0.0,
        login_name: str | None = None,
        user_id: str = "",
    ) -> None:
        self.base_url = request_base_url(base_url)
        self.login_id = login_id
        self.login_name = login_name  # ours (`login add NAME`), for messages; the site knows `username`
        self.username = username
        self.user_id = user_id  # the group of this login's requests in the site's budget (round robin)
        # The site however the base URL spells it: the key of the article's places and of pacing.
        self.site = site_identity(self.base_url)
        # The unit of "one comment per article" and of the comment interval: the site's account.
        self.account_key = account_key(self.base_url, username)
        self.legacy_account_keys = legacy_account_keys(self.base_url, username)
        self._comment_interval = comment_interval
        self._password = password
        self._store = session_store
        self._limiter = limiter
        self._rate = rate_per_second
        self._burst = burst
        self._observer = observer
        self._http = httpx.AsyncClient(
            follow_redirects=False,
            timeout=timeout,
            verify=shared_tls_context(),
            headers={
                "User-Agent": user_agent,
                "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                "Accept-Language": "de-CH,de;q=0.9,en;q=0.5",
            },
            event_hooks={"response": [_repair_location]},
        )
        self._lock = asyncio.Lock()
        self._ready = False  # cookies are loaded (restored or fresh); validity is proven by use
        self._generation = 0  # bumps on every login, so concurrent expiries cause one re-login
        self._csrf: str | None = None  # latest form token of this session (valid for every form)
        self._article_csrf: dict[str, str] = {}
        self.requests = 0  # myMoment requests made by this client, every redirect hop included

    def __repr__(self) -> str:
        return f"MyMomentClient(base_url={self.base_url!r}, login_id={self.login_id!r})"

    async def __aenter__(self) -> MyMomentClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connections. No logout: the stored session is reused by the next client."""
        await self._http.aclose()

    # --- HTTP -----------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        *,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        ambiguous: bool = False,
        comment: bool = False,
        before_send: SendCheck | None = None,
    ) -> httpx.Response:
        """One paced request. With `ambiguous`, a failure after sending raises AmbiguousPostError.

        A `comment` POST also keeps the account's comment interval, measured at the moment of sending.
        `before_send` is asked after the pacing wait; a reason raises PostWithdrawn, nothing sent.
        """
        await self._pace(url, comment)
        if before_send is not None and (reason := await before_send()):
            raise PostWithdrawn(reason)
        self.requests += 1
        if (counter := _call_requests.get()) is not None:
            counter[0] += 1
        path = _path(url)
        try:
            response = await self._http.request(method, url, data=data, headers=headers)
        except NOT_SENT as exc:
            log.warning(
                "mymoment login=%s %s %s: not sent (%s)", self.login_id, method, path, type(exc).__name__
            )
            raise unavailable("myMoment", address(url), exc, f"{method} {path}") from exc
        except httpx.TransportError as exc:
            log.warning(
                "mymoment login=%s %s %s: failed (%s)", self.login_id, method, path, type(exc).__name__
            )
            message = f"myMoment at {address(url)} did not answer {method} {path} ({type(exc).__name__})"
            raise (AmbiguousPostError if ambiguous else TransientError)(message) from exc
        log.debug("mymoment login=%s %s %s -> %s", self.login_id, method, path, response.status_code)
        if self._observer is not None:
            self._observer(method, path, response.status_code)
        return response

    async def _pace(self, url: str, comment: bool) -> None:
        """Wait for the host's pacing; for a comment, then book the account's interval from *now*.

        The interval is checked after the pacing wait, right before the send (Redis' clock when
        shared), so however long pacing held a POST, the next one leaves at least the interval later.
        A POST that must still wait gives its pacing turn back by waiting and pacing again.
        """
        label = current_site_request()
        request = replace(
            label, owner=label.owner or self.login_id, group=label.group or self.user_id or self.login_id
        )
        while True:
            record_wait(
                await self._limiter.acquire(f"host:{site_identity(url)}", self._rate, self._burst, request)
            )
            if not comment or self._comment_interval <= 0:
                return
            interval = self._comment_interval + SEND_MARGIN_SECONDS
            wait = await self._limiter.claim_interval(f"comment-sent:{self.account_key}", interval)
            if wait <= 0:
                return
            if wait > MAX_INTERVAL_WAIT_SECONDS:
                raise TransientError("the myMoment account's comment interval is not over", retry_after=wait)
            await asyncio.sleep(wait)

    async def _get_following(self, url: str, *, stop_at_login: bool = False) -> tuple[httpx.Response, str]:
        """GET and follow redirects by hand (at most MAX_HOPS), returning the last response and URL.

        Only GETs follow: a form POST's redirect (sent with `_send`) is itself the answer, read where it points.
        With `stop_at_login`, a redirect to the login page is returned unfollowed (its target as URL):
        it already proves the session expired, and the re-login fetches that page anyway.
        """
        for _ in range(MAX_HOPS + 1):
            response = await self._send("GET", url)
            location = response.headers.get("location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return response, url
            target = _fix_location(url, location)
            if stop_at_login and _is_login_url(target):
                return response, target
            url = target
        raise TransientError(f"myMoment redirected more than {MAX_HOPS} times from {_path(url)}")

    # --- session --------------------------------------------------------------------------------

    async def ensure_session(self) -> bool:
        """Load the stored cookies without probing them (their first use proves them), else log in.

        Returns True when no login was needed (session already loaded or restored from the store).
        """
        before = self._generation
        await self._ensure(None)
        return self._generation == before

    async def _ensure(self, next_url: str | None) -> _Page | None:
        """Restore or log in; after a login, return the page it landed on (`next_url` when given)."""
        if self._ready:
            return None
        async with self._lock:
            if self._ready:
                return None
            saved = await self._store.load(self.login_id)
            if saved is not None and self._restore(saved):
                log.info("mymoment login=%s: session restored from the store", self.login_id)
                return None
            return await self._login_locked(next_url)

    def _restore(self, saved: SavedSession) -> bool:
        self._http.cookies.clear()
        host = urlsplit(self.base_url).hostname or ""
        cookies = [c for c in (_cookie_from_dict(d, host) for d in saved.cookies) if c is not None]
        for cookie in cookies:
            # Saved by a worker that spells the site otherwise (`localhost` for `127.0.0.1`): still ours.
            if canonical_host(_host_of_jar_domain(cookie.domain)) == canonical_host(host):
                cookie.domain = _jar_domain(host)
        for cookie in cookies:
            self._http.cookies.jar.set_cookie(cookie)
        self._csrf = saved.csrf_token
        self._ready = bool(cookies)
        return self._ready

    async def _save(self) -> None:
        cookies = [_cookie_to_dict(c) for c in self._http.cookies.jar]
        await self._store.save(self.login_id, SavedSession(cookies=cookies, csrf_token=self._csrf))

    async def login(self) -> None:
        """Log in afresh (e.g. `login test`); raises BadCredentialsError when myMoment refuses."""
        async with self._lock:
            await self._login_locked(None)

    async def _relogin(self, seen_generation: int, next_url: str) -> _Page | None:
        """Log in again unless another task already did since `seen_generation` was read."""
        async with self._lock:
            if self._generation != seen_generation:
                return None
            log.info("mymoment login=%s: session expired, logging in again", self.login_id)
            return await self._login_locked(next_url)

    async def _login_locked(self, next_url: str | None) -> _Page | None:
        """GET the form, POST it with Referer, and let the page reached prove success (no probe).

        `next` names the page the caller wants, so the login's own redirect fetches it: a re-login
        costs the login GET and POST only.
        """
        with site_request(min(current_site_request().cls, RequestClass.SESSION)):
            return await self._login_fresh(next_url)

    async def _login_fresh(self, next_url: str | None) -> _Page | None:
        started = self.requests
        self._ready = False
        self._http.cookies.clear()
        self._article_csrf.clear()
        login_url = self.base_url + parsers.LOGIN_PATH
        response, url = await self._get_following(login_url)
        _raise_for_status(response, url)
        token = parsers.find_form_csrf(response.text)
        if token is None:
            raise PageParseError("myMoment login page without a CSRF token")
        form = {
            "csrfmiddlewaretoken": token,
            "username": self.username,
            "password": self._password,
            "next": _local_target(next_url) if next_url else "",
        }
        response = await self._send("POST", login_url, data=form, headers={"Referer": login_url})
        try:
            landing = await self._login_landing(response, login_url, follow=next_url is not None)
        finally:
            if self._ready:  # logged in, even if the page it landed on failed: keep the session
                await self._save()
        log.info("mymoment login=%s: logged in (%d requests)", self.login_id, self.requests - started)
        return landing

    async def _login_landing(self, response: httpx.Response, login_url: str, follow: bool) -> _Page | None:
        """Judge the login POST's answer; with `follow`, return the page it leads to (one GET, no probe).

        Django redirects away from the form only on success and re-renders it on failure, so a
        redirect elsewhere already proves the login: without a page to fetch, nothing more is sent.
        """
        if response.status_code == 403:
            raise TransientError("myMoment refused the login form (CSRF check failed)")
        location = response.headers.get("location")
        url = login_url
        if response.status_code in REDIRECT_STATUSES and location:
            url = _fix_location(login_url, location)
            if _is_login_url(url):
                await self._refused()
            self._mark_logged_in(None)
            if not follow:
                return None
            response, url = await self._get_following(url, stop_at_login=True)
            if _is_login_url(url):
                self._ready = False
                raise SessionExpiredError("myMoment dropped the session right after the login")
        _raise_for_status(response, url)
        soup = parsers.soup_of(response.text)
        if not parsers.is_logged_in(soup):
            self._ready = False
            await self._refused()
        self._mark_logged_in(parsers.find_form_csrf(soup))
        return _Page(url=url, soup=soup)

    def _mark_logged_in(self, csrf: str | None) -> None:
        if not self._ready:
            self._generation += 1
            self._ready = True
        self._csrf = csrf

    async def _refused(self) -> NoReturn:
        await self._store.invalidate(self.login_id)
        login = f"login '{self.login_name}' (myMoment username '{self.username}')"
        if self.login_name is None:
            login = f"myMoment username '{self.username}'"
        raise BadCredentialsError(f"myMoment rejected the username or password of {login}")

    async def _get_page(self, url: str) -> _Page:
        """GET a protected page; an expired session costs one re-login, which lands on the page."""
        landed = await self._ensure(url)
        if landed is not None and _same_target(landed.url, url):
            return landed
        for attempt in (1, 2):
            generation = self._generation
            response, final_url = await self._get_following(url, stop_at_login=True)
            if not _is_login_url(final_url):
                _raise_for_status(response, final_url)
                soup = parsers.soup_of(response.text)
                if parsers.is_logged_in(soup):
                    return _Page(url=final_url, soup=soup)
            if attempt == 1:
                landed = await self._relogin(generation, url)
                if landed is not None and _same_target(landed.url, url):
                    return landed
        self._ready = False
        await self._store.invalidate(self.login_id)
        raise SessionExpiredError(f"myMoment session of login {self.login_id} expired again after a re-login")

    async def probe(self) -> bool:
        """GET / and report whether the session is valid (for `login test`; normal work never probes)."""
        await self.ensure_session()
        response, url = await self._get_following(self.base_url + "/", stop_at_login=True)
        if not _is_login_url(url):
            _raise_for_status(response, url)
            if parsers.is_logged_in(response.text):
                return True
        self._ready = False
        await self._store.invalidate(self.login_id)
        return False

    # --- reading --------------------------------------------------------------------------------

    async def tabs(self) -> list[Tab]:
        page = await self._get_page(f"{self.base_url}/articles/")
        return page.read(parsers.parse_tabs)

    async def list_articles(
        self,
        tab: str,
        category_id: int | None = None,
        task_id: int | None = None,
        search: str | None = None,
        limit: int = 20,
    ) -> list[ArticleSummary]:
        """One tab's articles; category and task filter on the server, the title search here."""
        query: dict[str, str | int] = {"tab": tab}
        if category_id is not None:
            query["kategorie"] = category_id
        if task_id is not None:
            query["aufgabe"] = task_id
        page = await self._get_page(f"{self.base_url}/articles/?{urlencode(query)}")
        return page.read(
            lambda soup: parsers.parse_article_list(soup, tab, self.base_url, search=search, limit=limit)
        )

    async def get_article(self, article_id: str) -> ArticleDetail:
        """The article page; its comment-form token is kept for the next POST and saved with the session."""
        page = await self._get_page(parsers.article_url(self.base_url, _checked(article_id)))
        return await self._article_from(page, article_id)

    async def read_dashboard(self, student_id: str) -> Dashboard:
        """A pupil's dashboard (teacher logins): ForbiddenError without access, NotFoundError for no such pupil.
        A backup read: the lowest class of the site's budget (yourmoment/budget.py)."""
        with site_request(RequestClass.FOLLOW_UP):
            page = await self._get_page(f"{self.base_url}/dashboard/user/{_checked(student_id)}/")
        return page.read(lambda soup: parsers.parse_dashboard(soup, student_id, self.base_url))

    async def read_article(self, article_id: str) -> ArticleDetail:
        """The article page for a backup or a follow-up: a read that keeps no form token (nothing is posted),
        in the lowest class of the site's budget."""
        with site_request(RequestClass.FOLLOW_UP):
            page = await self._get_page(parsers.article_url(self.base_url, _checked(article_id)))
        return page.read(lambda soup: parsers.parse_article_detail(soup, article_id, self.base_url))

    async def _article_from(self, page: _Page, article_id: str) -> ArticleDetail:
        detail, token = page.read(
            lambda soup: (
                parsers.parse_article_detail(soup, article_id, self.base_url),
                parsers.find_comment_csrf(soup, article_id),
            )
        )
        if token is not None:
            self._article_csrf[article_id] = token
            if token != self._csrf:
                self._csrf = token
                await self._save()
        return detail

    # --- posting --------------------------------------------------------------------------------

    async def post_comment(
        self,
        article_id: str,
        html: str,
        *,
        hide: bool,
        known_page: ArticleDetail | None = None,
        verify_first: bool = True,
        account_comments: Sequence[str] = (),
        page_check: PageCheck | None = None,
        before_send: SendCheck | None = None,
    ) -> PostResult:
        """Post `html` exactly once: skip when the page already shows it, confirm it on the page after.

        The page is read first unless `known_page` is given (read earlier, e.g. when preparing) or
        `verify_first` is False (the caller knows no POST was ever sent for this item) and a token
        is at hand. After an AmbiguousPostError, retry with the defaults: the page is read first.
        A page that shows an AI comment by this account with another text than `html` and the
        `account_comments` (this account's other expected comments there) is "account_commented";
        one that `page_check` refuses (the article's cap of AI comments) is "page_refused", with its reason;
        one that `before_send`, asked after pacing right before the POST, withdraws is "withdrawn".
        """
        with counting_requests() as counter, site_request(RequestClass.PREPARE):
            try:
                outcome, reason = await self._post(
                    article_id,
                    html,
                    hide,
                    known_page,
                    verify_first,
                    account_comments,
                    page_check,
                    before_send,
                )
            except PostWithdrawn as withdrawn:
                outcome, reason = "withdrawn", str(withdrawn)
        return PostResult(outcome=outcome, requests=counter[0], reason=reason)

    async def _post(
        self,
        article_id: str,
        html: str,
        hide: bool,
        known_page: ArticleDetail | None,
        verify_first: bool,
        expected: Sequence[str],
        page_check: PageCheck | None,
        before_send: SendCheck | None = None,
    ) -> tuple[PostOutcome, str | None]:
        article = parsers.article_url(self.base_url, _checked(article_id))
        if problems := posting_problems(html):  # the last gate before a child's page
            raise CommentValidationError(f"comment for article {article_id} refused: {' '.join(problems)}")
        landed = await self._ensure(article)
        page: ArticleDetail | None
        if landed is not None and _same_target(landed.url, article):
            page = await self._article_from(landed, article_id)
        elif not (self._article_csrf.get(article_id) or self._csrf) or (known_page is None and verify_first):
            page = await self.get_article(article_id)
        else:
            page = known_page
        outcome: SubmitOutcome = "stale_token"
        for attempt in (1, 2):
            verdict, reason = (None, None)
            if page is not None:
                verdict, reason = self._page_verdict(page, html, expected, page_check)
            if verdict is not None:
                log.info("mymoment login=%s article=%s: %s", self.login_id, article_id, verdict)
                return verdict, reason
            token = self._article_csrf.get(article_id) or self._csrf
            if token is None:
                raise PageParseError(f"article page {article_id} has no comment form")
            generation = self._generation
            with site_request(RequestClass.POST):  # the POST and its redirect go first
                outcome, location = await self._submit(article_id, html, hide, token, before_send)
                if outcome == "stored":
                    await self._confirm(article_id, html, location)
            if outcome == "stored":
                log.info("mymoment login=%s article=%s: comment posted", self.login_id, article_id)
                return "posted", None
            if attempt == 1:
                page = await self._reread(article_id, article, outcome, generation)
        raise TransientError(f"myMoment refused the comment on article {article_id} twice ({outcome})")

    def _page_verdict(
        self, page: ArticleDetail, html: str, expected: Sequence[str], page_check: PageCheck | None
    ) -> tuple[PostOutcome | None, str | None]:
        """What the page says before a POST: ours is there, another AI comment of the account is, the
        caller's check refuses the page, or none of these (None: post)."""
        mine = parsers.own_ai_comments(page, self.username, DISCLOSURE)
        if any(parsers.same_text(c.text, html) for c in mine):
            return "already_posted", None
        if any(not any(parsers.same_text(c.text, other) for other in expected) for c in mine):
            return "account_commented", None
        if page_check is not None and (reason := page_check(page)):
            return "page_refused", reason
        return None, None

    async def _reread(
        self, article_id: str, article: str, outcome: SubmitOutcome, generation: int
    ) -> ArticleDetail:
        """After a refused POST: fresh token (and a fresh look for the comment), re-login when expired."""
        self._article_csrf.pop(article_id, None)
        if outcome == "expired":
            landed = await self._relogin(generation, article)
            if landed is not None and _same_target(landed.url, article):
                return await self._article_from(landed, article_id)
        return await self.get_article(article_id)

    async def _submit(
        self, article_id: str, html: str, hide: bool, token: str, before_send: SendCheck | None = None
    ) -> tuple[SubmitOutcome, str]:
        """One comment POST. Returns what the answer means and, when stored, where it redirects."""
        article = parsers.article_url(self.base_url, article_id)
        url = f"{article}comment/"
        form = {"csrfmiddlewaretoken": token, "text": html, "status": "20", "highlight": ""}
        if hide:
            form["hide"] = "on"
        response = await self._send(
            "POST",
            url,
            data=form,
            headers={"Referer": article},
            ambiguous=True,
            comment=True,
            before_send=before_send,
        )
        status = response.status_code
        if status in REDIRECT_STATUSES and response.headers.get("location"):
            target = _fix_location(url, response.headers["location"])
            return ("expired", target) if _is_login_url(target) else ("stored", target)
        if status == 403:
            return "stale_token", url
        if status >= 500:
            # The server may have stored the comment before failing: only the page can tell.
            raise AmbiguousPostError(
                f"myMoment answered {status} to the comment POST on article {article_id}"
            )
        _raise_for_status(response, url)
        if parsers.is_login_page(url, response.text):
            return "expired", url
        raise PermanentError(f"myMoment did not accept the comment on article {article_id} (status {status})")

    async def _confirm(self, article_id: str, html: str, location: str) -> None:
        """Follow the POST's redirect to the article page and check that the comment is there."""
        article = parsers.article_url(self.base_url, article_id)
        target = location if _path(location) == _path(article) else article
        detail = await self._article_from(await self._get_page(target), article_id)
        if parsers.find_own_comment(detail, self.username, html, DISCLOSURE) is None:
            raise TransientError(f"comment not visible after POST on article {article_id}")


def _local_target(url: str) -> str:
    """The path and query of `url`, as Django's `next` field expects."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _same_target(url_a: str, url_b: str) -> bool:
    return _local_target(url_a) == _local_target(url_b)


def _checked(article_id: str) -> str:
    if not article_id.isdigit():
        raise ValueError(f"not a myMoment article id: {article_id!r}")
    return article_id
