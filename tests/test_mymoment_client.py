"""MyMomentClient over real HTTP against the myMoment imitation: sessions, reading, exactly-once posting."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, replace

import httpx
import pytest
from bs4 import Tag

from imitation.mymoment import MyMomentState, create_app
from tests.support import TABS_OF_CLASSES_82_AND_91
from yourmoment.comment_rules import DISCLOSURE
from yourmoment.errors import (
    AmbiguousPostError,
    BadCredentialsError,
    CommentValidationError,
    NotFoundError,
    PermanentError,
    SessionExpiredError,
    TransientError,
)
from yourmoment.mymoment.client import (
    MemorySessionStore,
    MyMomentClient,
    _raise_for_status,
    shared_tls_context,
)
from yourmoment.ratelimit import LocalRateLimiter, RateLimiter
from yourmoment.serving import serve_in_thread
from yourmoment_dev.harness import wait_until

PUPIL, PUPIL_PASSWORD = "pupil-anna", "Geheim-Anna-42"
TEACHER, TEACHER_PASSWORD = "teacher-berg", "Geheim-Berg-77"
COMMENT = f"<p>{DISCLOSURE}</p><p>Deine Geschichte ist spannend und gut verständlich geschrieben.</p>"


@dataclass
class Site:
    state: MyMomentState
    url: str
    class_a: list[str]  # article ids in class 82, newest first
    class_b: list[str]  # article ids in class 91


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[MyMomentState, str]]:
    state = MyMomentState()
    with serve_in_thread(create_app(state)) as running:
        yield state, running.url


@pytest.fixture
def site(server: tuple[MyMomentState, str]) -> Site:
    """A fresh imitation: classes 82 and 91, a pupil in 82, a teacher of both, a few articles."""
    state, url = server
    state.reset()
    state.add_class(82, "Klasse 4a", "Schule Nord")
    state.add_class(91, "Klasse 6b", "Schule Nord")
    state.add_account(PUPIL, PUPIL_PASSWORD, "pupil", [82])
    state.add_account(TEACHER, TEACHER_PASSWORD, "teacher", [82, 91])
    specs = [
        ("Mein Hund Bello", 82, 7, None, "2026-03-01T10:00:00"),
        ("Die Reise zum Mond", 82, 9, 13, "2026-03-02T10:00:00"),
        ("Wie Bienen Honig machen", 82, 7, 4, "2026-03-03T10:00:00"),
        ("Ferien am Meer", 91, 14, None, "2026-03-04T10:00:00"),
    ]
    ids: dict[int, list[str]] = {82: [], 91: []}
    for index, (title, class_id, category, task, created) in enumerate(specs):
        article_id = state.add_article(
            title,
            f"kind{index}",
            class_id=class_id,
            category_id=category,
            task_id=task,
            paragraphs=["Es war einmal.", "Dann geschah etwas."],
            created=created,
        )
        ids[class_id].insert(0, str(article_id))
    return Site(state=state, url=url, class_a=ids[82], class_b=ids[91])


@pytest.fixture
def limiter() -> RateLimiter:
    return LocalRateLimiter()


@pytest.fixture
def store() -> MemorySessionStore:
    return MemorySessionStore()


@dataclass(frozen=True)
class Login:
    """One of our logins: its id and the site account it signs in as (named as MyMomentClient's arguments)."""

    login_id: str
    username: str
    password: str


PUPIL_LOGIN = Login("login-1", PUPIL, PUPIL_PASSWORD)


def make_client(
    site: Site,
    store: MemorySessionStore,
    limiter: RateLimiter,
    login: Login = PUPIL_LOGIN,
    *,
    rate: float = 500.0,
    burst: int = 50,
    timeout: float = 10.0,
) -> MyMomentClient:
    return MyMomentClient(
        site.url,
        **asdict(login),
        session_store=store,
        limiter=limiter,
        rate_per_second=rate,
        burst=burst,
        timeout=timeout,
    )


@pytest.fixture
async def client(
    site: Site, store: MemorySessionStore, limiter: RateLimiter
) -> AsyncIterator[MyMomentClient]:
    async with make_client(site, store, limiter) as made:
        yield made


def kinds(state: MyMomentState) -> dict[str, int]:
    return {kind: count for kind, count in state.stats()["by_kind"].items() if count}


# --- memory ------------------------------------------------------------------------------------


def _live_tags() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, Tag))


async def test_a_read_leaves_no_parsed_tree_for_the_cyclic_collector(
    site: Site, client: MyMomentClient
) -> None:
    """A parsed page is a web of cycles: left whole, it waits for Python's rare full collections."""
    await client.list_articles("82")  # the login's own pages are behind us
    gc.collect()
    gc.disable()
    try:
        before = _live_tags()
        assert await client.list_articles("82")
        assert (await client.get_article(site.class_a[0])).content
        assert await client.tabs()
        assert _live_tags() - before < 10  # a tree of the list page alone holds hundreds of tags
    finally:
        gc.enable()


# --- sessions ----------------------------------------------------------------------------------


async def test_login_lands_on_the_requested_page(
    site: Site, client: MyMomentClient, store: MemorySessionStore
) -> None:
    articles = await client.list_articles("82")
    assert [a.id for a in articles] == site.class_a
    # GET form + POST, whose redirect (next=) is the list itself: no probe of "/".
    assert kinds(site.state) == {"login": 2, "list": 1}
    assert site.state.stats()["logins"] == {PUPIL: 1}
    assert client.requests == 3
    saved = store.sessions["login-1"]
    assert {c["name"] for c in saved.cookies} >= {"sessionid", "csrftoken"}
    assert saved.csrf_token


async def test_ensure_session_logs_in_once_when_nothing_is_stored(site: Site, client: MyMomentClient) -> None:
    assert await client.ensure_session() is False  # a login was needed
    assert await client.ensure_session() is True
    assert site.state.stats()["logins"] == {PUPIL: 1}


async def test_wrong_password_is_bad_credentials(
    site: Site, store: MemorySessionStore, limiter: RateLimiter
) -> None:
    async with make_client(site, store, limiter, replace(PUPIL_LOGIN, password="falsch-123")) as wrong:
        with pytest.raises(BadCredentialsError) as caught:
            await wrong.list_articles("82")
    assert PUPIL in str(caught.value)
    assert "falsch-123" not in str(caught.value)
    assert "login-1" not in store.sessions
    assert site.state.stats()["logins"] == {}


async def test_second_client_reuses_the_stored_session(
    site: Site, client: MyMomentClient, store: MemorySessionStore, limiter: RateLimiter
) -> None:
    await client.list_articles("82")
    async with make_client(site, store, limiter) as second:
        assert await second.ensure_session() is True  # restored, not logged in
        assert second.requests == 0  # and not probed either
        detail = await second.get_article(site.class_a[0])
        assert second.requests == 1
    assert detail.title == "Wie Bienen Honig machen"
    assert site.state.stats()["logins"] == {PUPIL: 1}
    assert kinds(site.state) == {"login": 2, "list": 1, "article": 1}


async def test_expiry_mid_run_costs_exactly_one_relogin(site: Site, client: MyMomentClient) -> None:
    await client.list_articles("82")
    site.state.expire_all_sessions()
    site.state.reset_stats()
    detail = await client.get_article(site.class_a[1])
    assert detail.title == "Die Reise zum Mond"
    # The expired GET (302, not followed), login GET + POST, and the login's redirect to the article.
    assert kinds(site.state) == {"article": 2, "login": 2}
    assert site.state.stats()["logins"] == {PUPIL: 1}
    assert len(await client.list_articles("82")) == 3
    assert site.state.stats()["logins"] == {PUPIL: 1}


async def test_concurrent_requests_on_expiry_share_one_relogin(site: Site, client: MyMomentClient) -> None:
    await client.list_articles("82")
    site.state.expire_all_sessions()
    site.state.reset_stats()
    details = await asyncio.gather(*(client.get_article(a) for a in site.class_a))
    assert [d.id for d in details] == site.class_a
    assert site.state.stats()["logins"] == {PUPIL: 1}


async def test_second_expiry_raises_session_expired(site: Site, client: MyMomentClient) -> None:
    site.state.set_faults(session_expiry_seconds=0)
    with pytest.raises(SessionExpiredError):
        await client.get_article(site.class_a[0])
    assert site.state.stats()["logins"] == {PUPIL: 1}


async def test_backslash_redirects_are_repaired(site: Site, client: MyMomentClient) -> None:
    site.state.set_faults(backslash_redirects=True)
    assert len(await client.list_articles("82")) == 3
    site.state.expire_all_sessions()
    detail = await client.get_article(site.class_a[0])
    assert detail.id == site.class_a[0]
    result = await client.post_comment(site.class_a[0], COMMENT, hide=False, known_page=detail)
    assert result.outcome == "posted"
    assert len(site.state.comments_for(int(site.class_a[0]))) == 1


async def test_probe_reports_validity_and_drops_a_dead_session(
    site: Site, client: MyMomentClient, store: MemorySessionStore
) -> None:
    await client.list_articles("82")
    assert await client.probe() is True
    site.state.expire_all_sessions()
    assert await client.probe() is False
    assert "login-1" not in store.sessions


# --- reading -----------------------------------------------------------------------------------


async def test_tabs_and_teacher_table(site: Site, store: MemorySessionStore, limiter: RateLimiter) -> None:
    async with make_client(site, store, limiter, Login("login-1", TEACHER, TEACHER_PASSWORD)) as teacher:
        tabs = await teacher.tabs()
        assert [(t.id, t.kind) for t in tabs] == TABS_OF_CLASSES_82_AND_91
        assert tabs[1].name == "Klasse 4a (Schule Nord)"
        rows = await teacher.list_articles("91")
    assert [(r.id, r.title, r.author, r.status) for r in rows] == [
        (site.class_b[0], "Ferien am Meer", "kind3", "Publiziert")
    ]
    assert rows[0].date == "04.03.2026 um 10:00 Uhr"
    assert rows[0].visibility == "Klasse 6b (Schule Nord)"


async def test_list_filters_search_and_limit(site: Site, client: MyMomentClient) -> None:
    assert [a.title for a in await client.list_articles("82", category_id=7)] == [
        "Wie Bienen Honig machen",
        "Mein Hund Bello",
    ]
    assert [a.title for a in await client.list_articles("82", task_id=13)] == ["Die Reise zum Mond"]
    assert [a.title for a in await client.list_articles("82", category_id=7, task_id=4)] == [
        "Wie Bienen Honig machen"
    ]
    assert [a.title for a in await client.list_articles("82", search="MOND")] == ["Die Reise zum Mond"]
    assert [a.id for a in await client.list_articles("82", limit=2)] == site.class_a[:2]
    assert [a.title for a in await client.list_articles("82", search="e", limit=1)] == [
        "Wie Bienen Honig machen"
    ]
    queries = [r["query"] for r in site.state.stats()["requests"] if r["kind"] == "list"]
    assert "tab=82&kategorie=7&aufgabe=4" in queries


async def test_tab_of_another_class_is_not_found(site: Site, client: MyMomentClient) -> None:
    with pytest.raises(NotFoundError):
        await client.list_articles("91")


async def test_article_detail_with_comments(site: Site, client: MyMomentClient) -> None:
    article_id = int(site.class_a[0])
    site.state.add_comment(article_id, author=TEACHER, text="<p>Sehr schön!</p>")
    site.state.add_comment(
        article_id, author="bot", text=f"<p>{DISCLOSURE}</p><p>Versteckt.</p>", hidden=True
    )
    detail = await client.get_article(str(article_id))
    assert (detail.title, detail.author) == ("Wie Bienen Honig machen", "kind2")
    assert (detail.category, detail.category_id, detail.task_id) == ("Informieren", 7, 4)
    assert detail.content == "Es war einmal.\nDann geschah etwas."
    assert [(c.author, c.hidden) for c in detail.comments] == [(TEACHER, False), ("bot", True)]
    assert detail.comments[0].text == "<p>Sehr schön!</p>"


async def test_missing_article_is_not_found(client: MyMomentClient) -> None:
    with pytest.raises(NotFoundError):
        await client.get_article("999999")


async def test_server_errors_are_transient(site: Site, client: MyMomentClient) -> None:
    await client.list_articles("82")
    site.state.set_faults(error_rate=1.0)
    with pytest.raises(TransientError) as caught:
        await client.list_articles("82")
    assert not isinstance(caught.value, AmbiguousPostError)
    assert "500" in str(caught.value)


# --- posting -----------------------------------------------------------------------------------


async def test_prepare_and_post_cost_three_requests(
    site: Site, client: MyMomentClient, store: MemorySessionStore, limiter: RateLimiter
) -> None:
    await client.list_articles("82")
    site.state.reset_stats()
    article_id = site.class_a[0]
    page = await client.get_article(article_id)  # the preparation step
    # Posting runs later in another activity: a new client restored from the store, with the page.
    async with make_client(site, store, limiter) as poster:
        result = await poster.post_comment(article_id, COMMENT, hide=False, known_page=page)
    assert result.outcome == "posted"
    assert result.requests == 2
    assert kinds(site.state) == {"article": 1, "post": 1, "redirect": 1}
    comments = site.state.comments_for(int(article_id))
    assert [(c["author"], c["text"], c["status"], c["hidden"]) for c in comments] == [
        (PUPIL, COMMENT, 20, False)
    ]


async def test_post_without_known_page_costs_three_requests(site: Site, client: MyMomentClient) -> None:
    await client.list_articles("82")
    site.state.reset_stats()
    result = await client.post_comment(site.class_a[1], COMMENT, hide=False)
    assert (result.outcome, result.requests) == ("posted", 3)
    assert kinds(site.state) == {"article": 1, "post": 1, "redirect": 1}


async def test_first_try_without_verification_costs_two_requests(
    site: Site, client: MyMomentClient, store: MemorySessionStore, limiter: RateLimiter
) -> None:
    await client.list_articles("82")  # the stored session carries a form token
    site.state.reset_stats()
    async with make_client(site, store, limiter) as poster:
        result = await poster.post_comment(site.class_a[0], COMMENT, hide=False, verify_first=False)
    assert (result.outcome, result.requests) == ("posted", 2)
    assert kinds(site.state) == {"post": 1, "redirect": 1}


async def test_concurrent_posts_on_one_client_count_their_own_requests(
    site: Site, client: MyMomentClient
) -> None:
    await client.list_articles("82")
    results = await asyncio.gather(*(client.post_comment(a, COMMENT, hide=False) for a in site.class_a))
    assert [(r.outcome, r.requests) for r in results] == [("posted", 3)] * 3
    assert all(len(site.state.comments_for(int(a))) == 1 for a in site.class_a)


async def test_a_post_withdrawn_right_before_sending_sends_nothing(
    site: Site, client: MyMomentClient
) -> None:
    """The last check after pacing (a stop of the process since the claim): no POST leaves."""
    await client.list_articles("82")
    site.state.reset_stats()
    asked: list[str] = []

    async def stopped() -> str | None:
        asked.append("asked")
        return "the process was stopped"

    async def wanted() -> str | None:
        return None

    held = await client.post_comment(site.class_a[0], COMMENT, hide=False, before_send=stopped)
    assert (held.outcome, held.reason, asked) == ("withdrawn", "the process was stopped", ["asked"])
    assert site.state.stats()["by_kind"]["post"] == 0 and site.state.comments_for(int(site.class_a[0])) == []
    sent = await client.post_comment(site.class_a[0], COMMENT, hide=False, before_send=wanted)
    assert sent.outcome == "posted" and len(site.state.comments_for(int(site.class_a[0]))) == 1


async def test_posting_the_same_item_twice_posts_once(site: Site, client: MyMomentClient) -> None:
    article_id = site.class_a[0]
    first = await client.post_comment(article_id, COMMENT, hide=False)
    page = await client.get_article(article_id)
    second = await client.post_comment(article_id, COMMENT, hide=False, known_page=page)
    third = await client.post_comment(article_id, COMMENT.replace("</p><p>", "</p>\n  <p>"), hide=False)
    assert (first.outcome, second.outcome, third.outcome) == ("posted", "already_posted", "already_posted")
    assert second.requests == 0
    assert len(site.state.comments_for(int(article_id))) == 1
    assert site.state.stats()["by_kind"]["post"] == 1


async def test_dropped_connection_after_store_is_ambiguous_then_already_posted(
    site: Site, client: MyMomentClient
) -> None:
    article_id = site.class_a[0]
    page = await client.get_article(article_id)
    site.state.set_faults(drop_after_store=1)
    with pytest.raises(AmbiguousPostError):
        await client.post_comment(article_id, COMMENT, hide=True, known_page=page)
    assert len(site.state.comments_for(int(article_id))) == 1
    retry = await client.post_comment(article_id, COMMENT, hide=True, known_page=None)
    assert retry.outcome == "already_posted"
    assert retry.requests == 1
    detail = await client.get_article(article_id)
    assert [(c.author, c.hidden) for c in detail.comments] == [(PUPIL, True)]
    assert site.state.stats()["by_kind"]["post"] == 1


async def test_timeout_during_post_is_ambiguous_and_the_retry_reads_first(
    site: Site, store: MemorySessionStore, limiter: RateLimiter
) -> None:
    article_id = site.class_a[2]
    async with make_client(site, store, limiter, timeout=0.3) as slow:
        page = await slow.get_article(article_id)
        site.state.set_faults(post_latency_ms=700)
        with pytest.raises(AmbiguousPostError):
            await slow.post_comment(article_id, COMMENT, hide=False, known_page=page)
        await wait_until(
            lambda: bool(site.state.comments_for(int(article_id))), 5, "the slow POST stored", every=0.05
        )
        retry = await slow.post_comment(article_id, COMMENT, hide=False)
    assert retry.outcome == "already_posted"
    assert len(site.state.comments_for(int(article_id))) == 1


async def test_hide_flag_reaches_the_post(site: Site, client: MyMomentClient) -> None:
    visible, hidden = site.class_a[0], site.class_a[1]
    await client.post_comment(visible, COMMENT, hide=False)
    await client.post_comment(hidden, COMMENT, hide=True)
    assert [c["hidden"] for c in site.state.comments_for(int(visible))] == [False]
    assert [c["hidden"] for c in site.state.comments_for(int(hidden))] == [True]
    assert [c.hidden for c in (await client.get_article(hidden)).comments] == [True]


async def test_stale_token_is_refreshed_once(
    site: Site, client: MyMomentClient, store: MemorySessionStore, limiter: RateLimiter
) -> None:
    article_id = site.class_a[0]
    page = await client.get_article(article_id)
    store.sessions["login-1"].csrf_token = "x" * 64  # e.g. a token from before a CSRF rotation
    site.state.reset_stats()
    async with make_client(site, store, limiter) as poster:
        result = await poster.post_comment(article_id, COMMENT, hide=False, known_page=page)
    assert (result.outcome, result.requests) == ("posted", 4)
    assert kinds(site.state) == {"post": 2, "article": 1, "redirect": 1}
    assert len(site.state.comments_for(int(article_id))) == 1


async def test_expired_session_at_post_time(site: Site, client: MyMomentClient) -> None:
    article_id = site.class_a[0]
    page = await client.get_article(article_id)
    site.state.expire_all_sessions()
    result = await client.post_comment(article_id, COMMENT, hide=False, known_page=page)
    assert result.outcome == "posted"
    assert site.state.stats()["logins"] == {PUPIL: 2}
    assert len(site.state.comments_for(int(article_id))) == 1


async def test_comment_without_disclosure_is_refused_before_any_request(
    site: Site, client: MyMomentClient
) -> None:
    with pytest.raises(CommentValidationError):
        await client.post_comment(site.class_a[0], "<p>Ganz ohne Hinweis geschrieben.</p>", hide=False)
    assert client.requests == 0
    assert site.state.comments_for(int(site.class_a[0])) == []


async def test_post_server_error_is_transient(site: Site, client: MyMomentClient) -> None:
    page = await client.get_article(site.class_a[0])
    site.state.set_faults(error_rate=1.0)
    with pytest.raises(TransientError):
        await client.post_comment(site.class_a[0], COMMENT, hide=False, known_page=page)


# --- politeness and secrets --------------------------------------------------------------------


async def test_clients_sharing_a_limiter_keep_the_global_pace(site: Site, store: MemorySessionStore) -> None:
    shared = LocalRateLimiter()
    # The times are the imitation's, so a loaded machine shifts each by some milliseconds: the
    # tolerance is half an interval, and a limiter that let one request more through would still be
    # an interval early.
    rate, burst = 10.0, 2
    tolerance = 0.5 / rate
    clients = [
        make_client(site, store, shared, replace(PUPIL_LOGIN, login_id=f"login-{n}"), rate=rate, burst=burst)
        for n in range(2)
    ]
    try:
        await asyncio.gather(*(c.list_articles("82") for c in clients))
        await asyncio.gather(*(c.get_article(a) for c in clients for a in site.class_a))
    finally:
        for made in clients:
            await made.close()
    times = sorted(r["t"] for r in site.state.stats()["requests"])
    assert len(times) == 12  # 2 logins of 3 requests, 6 article pages
    for k, at in enumerate(times):
        assert at - times[0] >= (k - burst + 1) / rate - tolerance, f"request {k} came too early"


async def test_logs_hold_no_secrets(
    site: Site, client: MyMomentClient, store: MemorySessionStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included: their traces must stay clean too
    secrets: list[str] = []

    def remember_session() -> None:
        saved = store.sessions["login-1"]
        secrets.extend(str(c["value"]) for c in saved.cookies)
        secrets.append(saved.csrf_token or "")

    await client.list_articles("82")
    remember_session()
    await client.post_comment(site.class_a[0], COMMENT, hide=False)
    remember_session()
    site.state.expire_all_sessions()
    await client.get_article(site.class_a[1])
    remember_session()
    text = caplog.text
    assert "mymoment login=login-1" in text  # the client did log, by id
    assert "logged in" in text
    assert PUPIL_PASSWORD not in text
    assert len(set(secrets)) >= 5
    assert all(value and value not in text for value in secrets)
    assert "Deine Geschichte ist spannend" not in text
    assert PUPIL not in text


def test_status_mapping_and_retry_after() -> None:
    url = "https://www.mymoment.ch/articles/"
    with pytest.raises(TransientError) as limited:
        _raise_for_status(httpx.Response(429, headers={"Retry-After": "7"}), url)
    assert limited.value.retry_after == 7.0
    with pytest.raises(TransientError) as unavailable:
        _raise_for_status(httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), url)
    assert unavailable.value.retry_after == 0.0  # a date in the past: try again now
    with pytest.raises(NotFoundError):
        _raise_for_status(httpx.Response(404), url)
    with pytest.raises(PermanentError):
        _raise_for_status(httpx.Response(403), url)
    _raise_for_status(httpx.Response(200), url)


async def test_clients_share_one_tls_context(
    site: Site, store: MemorySessionStore, limiter: RateLimiter
) -> None:
    """A client per login must not load the CA bundle again (0.9 MB each; CHANGELOG.md)."""
    first, second = make_client(site, store, limiter), make_client(site, store, limiter)
    try:
        contexts = {id(c._http._transport._pool._ssl_context) for c in (first, second)}  # type: ignore[attr-defined]  # httpx's private pool
        assert contexts == {id(shared_tls_context())}
    finally:
        await first.close()
        await second.close()
