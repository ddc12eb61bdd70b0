"""At most MAX_AI_COMMENTS_PER_ARTICLE AI comments per article, and one site identity however it is spelt.

The store's half (places numbered 1..cap under a primary key, taken with the account's claim) is raced on
SQLite and PostgreSQL; the page's half (AI comments from elsewhere) and the site's spelling are run end to
end: workers in their own processes, the myMoment and LLM imitations, starter.py.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from imitation import llm_server, mymoment
from tests.conftest import CliEnv, CliResult, MyMomentServer, RunCli
from tests.support import run_starter
from tests.test_account_claim import (
    configure_user,
    create_process,
    environment,
    item_rows,
    run_until_settled,
    settled,
    starter,
)
from tests.test_e2e import database_url
from yourmoment import comment_cap
from yourmoment.mymoment.account import account_key, legacy_account_keys, site_identity
from yourmoment.store import posting
from yourmoment.store.db import session_scope
from yourmoment.store.models import (
    AIComment,
    ArticleCommentSlot,
    MonitoringProcess,
    MyMomentLogin,
    PostingClaim,
    User,
    utcnow,
)
from yourmoment_dev.harness import DevServer, Imitations, WorkerProcess, add_articles, wait_until

PREFIX = "[Dieser Kommentar stammt von einem KI-ChatBot.]"
SITE = "localhost:8000"
CAP_REASON = "MAX_AI_COMMENTS_PER_ARTICLE="


# --- the site's identity -----------------------------------------------------------------------------


SPELLINGS_OF_ONE_SITE = [
    "http://localhost:8000",
    "http://localhost:8000/",
    "http://127.0.0.1:8000",
    "http://127.0.0.1:8000/",
    "HTTP://LOCALHOST:8000",
    "http://www.localhost:8000",
    "http://[::1]:8000/",
    "http://0.0.0.0:8000",
    "  http://Localhost.:8000//  ",
]


def test_every_spelling_of_one_site_is_one_identity_and_one_account() -> None:
    assert {site_identity(url) for url in SPELLINGS_OF_ONE_SITE} == {SITE}
    assert {account_key(url, " Pupil-A") for url in SPELLINGS_OF_ONE_SITE} == {
        account_key("http://localhost:8000", "pupil-a")
    }
    real = [
        "https://www.mymoment.ch",
        "https://MyMoment.ch:443/",
        "http://mymoment.ch",
        "http://WWW.mymoment.ch:80/x",
    ]
    assert {site_identity(url) for url in real} == {"mymoment.ch"}
    # Another port or host is another site.
    assert site_identity("http://localhost:8001") != SITE
    assert site_identity("https://mymoment.ch:8443") == "mymoment.ch:8443"
    assert site_identity("https://beta.mymoment.ch") == "beta.mymoment.ch"


def old_account_key(host: str, username: str) -> str:
    """The key as the previous release made it (host spelt as the base URL spelt it, loopback not unified)."""
    return hashlib.sha256(f"yourmoment-account\n{host}\n{username}".encode()).hexdigest()


def test_keys_of_the_real_site_are_unchanged_and_old_loopback_keys_are_known() -> None:
    assert account_key("https://www.mymoment.ch/", "Pupil-A") == old_account_key("mymoment.ch", "pupil-a")
    assert legacy_account_keys("https://www.mymoment.ch", "pupil-a") == []
    legacy = legacy_account_keys("http://localhost:8000", "pupil-a")
    assert old_account_key("127.0.0.1:8000", "pupil-a") in legacy
    assert old_account_key("::1:8000", "pupil-a") in legacy
    assert account_key("http://127.0.0.1:8000", "pupil-a") == old_account_key("localhost:8000", "pupil-a")


@pytest.mark.parametrize(
    ("saved_by", "restored_by"),
    [
        ("http://localhost:{port}", "http://127.0.0.1:{port}/"),
        ("http://127.0.0.1:{port}", "http://LOCALHOST:{port}"),
    ],
)
async def test_a_session_saved_through_one_spelling_serves_a_worker_on_another(
    mymoment_server: MyMomentServer, saved_by: str, restored_by: str
) -> None:
    """No second login: the stored cookies belong to the site, whichever spelling stored them."""
    from yourmoment.mymoment.client import MemorySessionStore, MyMomentClient
    from yourmoment.ratelimit import LocalRateLimiter

    state = mymoment_server.state
    state.add_class(82, "Beispielklasse A", "Testschule")
    state.add_account("pupil-a", "pass-a", "pupil", [82])
    port = urlsplit(mymoment_server.url).port
    store, limiter = MemorySessionStore(), LocalRateLimiter()
    clients = [
        MyMomentClient(
            base.format(port=port),
            login_id="login-1",
            username="pupil-a",
            password="pass-a",
            session_store=store,
            limiter=limiter,
            rate_per_second=100,
        )
        for base in (saved_by, restored_by)
    ]
    try:
        for client in clients:
            assert [tab.id for tab in await client.tabs()][:2] == ["home", "82"]
    finally:
        for client in clients:
            await client.close()
    assert state.stats()["logins"] == {"pupil-a": 1}
    assert clients[1].requests == 1  # the tab page, with the restored session
    assert clients[0].site == clients[1].site == f"localhost:{port}"


# --- the setting and the process warning -------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "6", "", "two", "2.5", "-1"])
def test_max_ai_comments_per_article_allows_1_to_5_and_nothing_turns_it_off(
    env: CliEnv, run_cli: RunCli, value: str
) -> None:
    env.set(MAX_AI_COMMENTS_PER_ARTICLE=value)
    result = run_cli("user", "list")
    assert result.code == 2, result
    assert result.err.strip().splitlines() == [
        f"error: invalid setting MAX_AI_COMMENTS_PER_ARTICLE={value!r}: must be a whole number between 1 and 5"
    ]


def test_process_create_warns_when_all_mode_asks_for_more_comments_than_the_cap(
    env: CliEnv, run_cli: RunCli
) -> None:
    assert run_cli("user", "add", "lehrerin@example.ch").code == 0
    for name in ("bot-1", "bot-2"):
        added = run_cli("login", "add", name, "--username", f"pupil-{name}", "--password-stdin", stdin="pw")
        assert added.code == 0, added
    assert (
        run_cli(
            "provider", "add", "gpt", "--provider", "openai", "--model", "m", "--api-key-stdin", stdin="sk-x"
        ).code
        == 0
    )
    assert run_cli("template", "seed").code == 0
    templates = [row["name"] for row in run_cli("template", "list", "--json").json()][:3]
    prompts = [arg for name in templates for arg in ("--prompt", name)]

    def create(name: str, *extra: str) -> CliResult:
        return run_cli("process", "create", "--name", name, "--tab", "82", "--provider", "gpt", *extra)

    fits = create("eins", "--login", "bot-1", *prompts[:4], "--prompt-mode", "all")  # 1 x 2 = the cap
    assert fits.code == 0 and fits.err == "", fits
    many = create("drei", "--login", "bot-1", *prompts, "--prompt-mode", "all", "--json")
    assert many.code == 0, many  # still created
    assert many.err.strip().splitlines() == [
        "warning: 1 login(s) x 3 prompt(s) in 'all' mode ask for 3 AI comments per article, but "
        "MAX_AI_COMMENTS_PER_ARTICLE=2: the comments beyond 2 per article will be skipped"
    ]
    assert many.json()["prompt_mode"] == "all"
    env.set(MAX_AI_COMMENTS_PER_ARTICLE=5)
    assert (
        create("fünf", "--login", "bot-1", "--login", "bot-2", *prompts[:4], "--prompt-mode", "all").err == ""
    )
    env.set(MAX_AI_COMMENTS_PER_ARTICLE=1)
    two_logins = create("zwei", "--login", "bot-1", "--login", "bot-2", *prompts[:2])
    assert two_logins.code == 0 and "warning: 2 logins ask for 2 AI comments per article" in two_logins.err
    names = {row["name"] for row in run_cli("process", "list", "--json").json()}
    assert names == {"eins", "drei", "fünf", "zwei"}


# --- what counts against the cap ---------------------------------------------------------------------


def test_a_page_comment_counts_once_whether_or_not_its_account_holds_a_place() -> None:
    ours, other, third = "a" * 64, "b" * 64, "c" * 64
    # Our comment on the page is the place it holds; the other installation's comments come on top.
    assert comment_cap.comments_counted([ours], [ours, other, third]) == 3
    assert comment_cap.comments_counted([ours], [ours]) == 1
    assert comment_cap.comments_counted([ours, ours], [ours]) == 2  # one posted, one still on its way
    assert comment_cap.comments_counted([], [other, other]) == 2
    assert comment_cap.cap_refusal(2, [ours], [other]) is not None
    assert comment_cap.cap_refusal(3, [ours], [other]) is None


# --- the places in the database, raced on SQLite and PostgreSQL --------------------------------------


def seed_items(url: str, accounts: int, articles: list[str]) -> dict[str, list[tuple[str, str]]]:
    """One process whose `accounts` logins each have a generated item per article: article -> (item, key)."""
    made: dict[str, list[tuple[str, str]]] = {article: [] for article in articles}
    with session_scope(url) as session:
        user = User(email=f"{uuid.uuid4().hex[:8]}@example.ch")
        session.add(user)
        session.flush()
        process = MonitoringProcess(user_id=user.id, name=f"p-{uuid.uuid4().hex[:6]}", tab="82")
        session.add(process)
        session.flush()
        for n in range(accounts):
            login = MyMomentLogin(user_id=user.id, name=f"bot-{n}", username_enc="x", password_enc="x")
            session.add(login)
            session.flush()
            for article in articles:
                item = AIComment(
                    process_id=process.id,
                    login_id=login.id,
                    mymoment_article_id=article,
                    prompt_slot="",
                    status="generated",
                    attempts=0,
                )
                session.add(item)
                session.flush()
                made[article].append((item.id, account_key(f"http://{SITE}", f"pupil-{n}")))
    return made


def claim(url: str, item_id: str, key: str, cap: int, hold: threading.Event | None = None) -> str | None:
    """As the post activity does: the account's claim and a place in one transaction, rolled back on a refusal."""
    with session_scope(url) as session:
        item = session.get(AIComment, item_id)
        assert item is not None
        reason = posting.claim_for_posting(session, item, key) or posting.take_article_slot(
            session, SITE, item, key, cap
        )
        if reason:
            session.rollback()
        elif hold is not None:
            hold.wait(10)  # keep the transaction open while another worker tries
        return reason


def contend(url: str, item_id: str, key: str, cap: int, start: threading.Barrier) -> str | None:
    start.wait(10)  # every contender at once
    return claim(url, item_id, key, cap)


def places(url: str, article: str) -> list[tuple[int, str | None]]:
    with session_scope(url) as session:
        rows = session.execute(
            sa.select(ArticleCommentSlot.slot, ArticleCommentSlot.item_id)
            .where(ArticleCommentSlot.site == SITE, ArticleCommentSlot.mymoment_article_id == article)
            .order_by(ArticleCommentSlot.slot)
        )
        return [(slot, item_id) for slot, item_id in rows]


@pytest.mark.parametrize("cap", [1, 2, 3])
def test_workers_racing_for_an_article_never_hold_more_places_than_the_cap(any_db_url: str, cap: int) -> None:
    accounts, articles = 8, [str(4500 + n) for n in range(6)]
    seeded = seed_items(any_db_url, accounts, articles)
    for article in articles:
        contenders = seeded[article]
        start = threading.Barrier(len(contenders))
        with ThreadPoolExecutor(len(contenders)) as pool:
            futures = [pool.submit(contend, any_db_url, item, key, cap, start) for item, key in contenders]
            reasons = [future.result(30) for future in futures]
        winners = [item for (item, _key), reason in zip(contenders, reasons, strict=True) if reason is None]
        assert len(winners) == cap, reasons
        assert all(CAP_REASON + str(cap) in r for r in reasons if r is not None), reasons
        held = places(any_db_url, article)
        assert [slot for slot, _ in held] == list(range(1, cap + 1))
        assert sorted(item or "" for _, item in held) == sorted(winners)
    # The losers' account claims went back with their transactions: only the winners hold one.
    with session_scope(any_db_url) as session:
        claims = session.scalar(sa.select(sa.func.count()).select_from(PostingClaim))
    assert claims == cap * len(articles)


def test_a_second_worker_waits_for_the_first_ones_place_and_then_is_refused(any_db_url: str) -> None:
    """Two transactions at once: the database makes the second wait for the first, so both cannot win."""
    (first, first_key), (second, second_key) = seed_items(any_db_url, 2, ["4601"])["4601"]
    release = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        holder = pool.submit(claim, any_db_url, first, first_key, 1, release)
        time.sleep(0.5)  # the first transaction holds place 1, not yet committed
        contender = pool.submit(claim, any_db_url, second, second_key, 1)
        time.sleep(1.0)
        assert not contender.done()  # it waits on the first transaction's row (or SQLite's write lock)
        release.set()
        assert holder.result(15) is None
        assert CAP_REASON + "1" in (contender.result(15) or "")
    assert places(any_db_url, "4601") == [(1, first)]


def test_a_place_given_back_is_taken_again_and_a_lowered_cap_counts_every_place(any_db_url: str) -> None:
    contenders = seed_items(any_db_url, 5, ["4701"])["4701"]
    assert [claim(any_db_url, item, key, 3) for item, key in contenders[:3]] == [None, None, None]
    with session_scope(any_db_url) as session:
        posting.release_article_slot(session, contenders[0][0])  # it ended before its POST
    assert claim(any_db_url, *contenders[3], 3) is None
    assert [slot for slot, _ in places(any_db_url, "4701")] == [1, 2, 3]
    # The operator lowers the cap to 2: three places are held, so no fourth item gets one, whatever number.
    with session_scope(any_db_url) as session:
        posting.release_article_slot(session, contenders[3][0])
    assert CAP_REASON + "2" in (claim(any_db_url, *contenders[4], 2) or "")
    # An item that holds a place keeps it on a retry, whatever the cap.
    assert claim(any_db_url, *contenders[1], 1) is None


def test_claims_stored_under_an_old_spelling_of_the_site_still_hold(any_db_url: str) -> None:
    """A claim made through `127.0.0.1` by the previous release keeps a worker on `localhost` off the article."""
    [(old_item, _)] = seed_items(any_db_url, 1, ["4801"])["4801"]  # another user's process
    [(new_item, _)] = seed_items(any_db_url, 1, ["4801"])["4801"]
    with session_scope(any_db_url) as session:
        old = session.get(AIComment, old_item)
        assert old is not None
        session.add(
            PostingClaim(
                account_key=old_account_key("127.0.0.1:8000", "pupil-a"),
                mymoment_article_id="4801",
                prompt_slot="",
                process_id=old.process_id,
                item_id=old_item,
            )
        )
    base = "http://localhost:8000"
    with session_scope(any_db_url) as session:
        item = session.get(AIComment, new_item)
        assert item is not None
        key = account_key(base, "pupil-a")
        assert (
            posting.claim_refusal(session, key, "4801", "", item.process_id, item.id) is None
        )  # not without them
        aliases = legacy_account_keys(base, "pupil-a")
        assert posting.claim_for_posting(session, item, key, aliases) == posting.ANOTHER_PROCESS


# --- end to end: workers in their own processes, the imitations, starter.py --------------------------

ACCOUNTS = {"a": ("pupil-a", "pass-a"), "b": ("pupil-b", "pass-b"), "c": ("pupil-c", "pass-c")}
AI_COMMENT = f"<p>{PREFIX}</p><p>Eine spannende Geschichte, weiter so!</p>"
# Another installation's spelling of the disclosure: other spaces, brackets and case, still the disclosure.
AI_COMMENT_SPELT_OTHERWISE = "<p>[ dieser Kommentar stammt von einem KI-Chatbot ]</p><p>Toll erzählt.</p>"


@pytest.fixture
def site() -> Iterator[tuple[Any, str, str]]:
    """The imitations with class 82 and the pupil accounts of ACCOUNTS: (myMoment state, its URL, LLM URL)."""
    mm_state, llm_state = mymoment.MyMomentState(), llm_server.LLMState()
    mm_state.add_class(82, "Beispielklasse A", "Testschule")
    for username, password in ACCOUNTS.values():
        mm_state.add_account(username, password, "pupil", [82])
    with Imitations(mm_state, llm_state) as imitations:
        yield mm_state, imitations.mm_url, imitations.llm_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database on SQLite (the migrated copy) and an empty one on PostgreSQL (`db upgrade` migrates it)."""
    return database_url(tmp_path, request.param, request)


def rows_of(env: dict[str, str], runs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [row for email, process_id in runs for row in item_rows(env, email, process_id)]


def comments_per_article(mm_state: Any) -> dict[int, int]:
    return {article: len(mm_state.comments_for(article)) for article in mm_state.articles}


@pytest.mark.slow
async def test_three_bot_accounts_with_a_cap_of_one_post_one_comment_per_article(
    backend: str, dev_server: DevServer, site: tuple[Any, str, str]
) -> None:
    """Two users, two processes, three accounts, MAX_AI_COMMENTS_PER_ARTICLE=1: one AI comment per article."""
    mm_state, mm_url, llm_url = site
    env = environment(backend, mm_url, dev_server, MAX_AI_COMMENTS_PER_ARTICLE="1")
    starter(env, "db", "upgrade")
    runs = []
    for email, logins in [("lehrerin@example.ch", ["a", "b"]), ("lehrer@example.ch", ["c"])]:
        configure_user(env, email, llm_url, {name: ACCOUNTS[name] for name in logins})
        runs.append((email, create_process(env, email, logins)))
    await run_until_settled(env, mm_state, runs, items_per_article=3)
    assert (
        comments_per_article(mm_state) == dict.fromkeys(mm_state.articles, 1) and len(mm_state.articles) == 5
    )
    assert all(c["text"].startswith(f"<p>{PREFIX}</p>") for c in mm_state.all_comments())
    rows = rows_of(env, runs)
    assert Counter(row["status"] for row in rows) == {"posted": 5, "skipped": 10}, rows
    skipped = [row["error"] or "" for row in rows if row["status"] == "skipped"]
    assert all(CAP_REASON + "1" in reason for reason in skipped), skipped
    # The other accounts are not spent: a skipped item's account holds no claim on the article.
    with session_scope(env["DATABASE_URL"]) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ArticleCommentSlot)) == 5


@pytest.mark.slow
async def test_a_page_that_carries_the_cap_in_ai_comments_from_elsewhere_gets_none(
    backend: str, dev_server: DevServer, site: tuple[Any, str, str]
) -> None:
    """The cap (2) counts the AI comments another installation left on the page; a pupil's comment does not."""
    mm_state, mm_url, llm_url = site
    env = environment(backend, mm_url, dev_server)
    starter(env, "db", "upgrade")
    email = "lehrerin@example.ch"
    configure_user(env, email, llm_url, {"a": ACCOUNTS["a"], "b": ACCOUNTS["b"]})
    full, one, free = add_articles(mm_state, 3)
    mm_state.add_comment(full, author="fremder-bot-1", text=AI_COMMENT)
    mm_state.add_comment(full, author="fremder-bot-2", text=AI_COMMENT_SPELT_OTHERWISE)
    mm_state.add_comment(full, author="Kind7", text="<p>Cool, ich mag Hunde auch.</p>")
    mm_state.add_comment(one, author="fremder-bot-1", text=AI_COMMENT)
    mm_state.add_comment(free, author="Kind7", text="<p>Schön!</p>")
    runs = [(email, create_process(env, email, ["a", "b"]))]
    worker = WorkerProcess(env)
    worker.start()
    try:
        starter(env, "--user", email, "start", runs[0][1])
        await wait_until(lambda: settled(env, runs, 6), 120, "every item posted or skipped")
        starter(env, "--user", email, "stop", runs[0][1], "--wait")
    finally:
        worker.terminate()
    ours = Counter(c["article_id"] for c in mm_state.all_comments() if c["author"] in ("pupil-a", "pupil-b"))
    assert (ours[full], ours[one], ours[free]) == (0, 1, 2), ours
    rows = rows_of(env, runs)
    assert Counter(row["status"] for row in rows) == {"posted": 3, "skipped": 3}, rows
    assert all(CAP_REASON + "2" in (row["error"] or "") for row in rows if row["status"] == "skipped"), rows


@pytest.mark.slow
async def test_the_page_is_read_again_before_a_post_whose_prepared_page_is_old(
    backend: str, dev_server: DevServer, site: tuple[Any, str, str]
) -> None:
    """A comment posted long after its article was read (a reviewer's, say) is checked on the page as it is
    then: AI comments that arrived meanwhile from elsewhere fill the cap, and it is skipped, not posted."""
    mm_state, mm_url, llm_url = site
    env = environment(backend, mm_url, dev_server)
    starter(env, "db", "upgrade")
    email = "lehrerin@example.ch"
    configure_user(env, email, llm_url, {"a": ACCOUNTS["a"]})
    filled, open_one = add_articles(mm_state, 2)
    process_id = create_process(env, email, ["a"], mode="--generate-only")
    worker = WorkerProcess(env)
    worker.start()
    try:
        starter(env, "--user", email, "start", process_id)
        await wait_until(
            lambda: [r["status"] for r in item_rows(env, email, process_id)] == ["generated"] * 2,
            90,
            "two generated comments",
        )
        starter(env, "--user", email, "stop", process_id, "--wait")
        mm_state.add_comment(filled, author="fremder-bot-1", text=AI_COMMENT)
        mm_state.add_comment(filled, author="fremder-bot-2", text=AI_COMMENT_SPELT_OTHERWISE)
        with session_scope(env["DATABASE_URL"]) as session:  # the comments waited an hour for review
            session.execute(
                sa.update(AIComment)
                .where(AIComment.process_id == process_id)
                .values(scraped_at=utcnow() - timedelta(hours=1))
            )
        code, out, err = run_starter(env, "--user", email, "post", "--process", process_id)
    finally:
        worker.terminate()
    assert code == 1, out + err  # one was skipped, which is not success
    assert [c["author"] for c in mm_state.comments_for(filled)] == ["fremder-bot-1", "fremder-bot-2"]
    assert [c["author"] for c in mm_state.comments_for(open_one)] == ["pupil-a"]
    errors = [r["error"] or "" for r in item_rows(env, email, process_id) if r["status"] == "skipped"]
    assert len(errors) == 1 and CAP_REASON + "2" in errors[0], errors


@pytest.mark.slow
async def test_two_workers_spelling_the_site_differently_post_once_per_account(
    backend: str, dev_server: DevServer, site: tuple[Any, str, str]
) -> None:
    """One installation, two workers: one says `localhost` with a slash, the other `127.0.0.1`. Two users
    with the same pupil account run at once and POST answers are slow: one comment per article."""
    mm_state, mm_url, llm_url = site
    port = urlsplit(mm_url).port
    spellings = [f"http://LOCALHOST:{port}/", f"http://127.0.0.1:{port}"]
    env = environment(backend, spellings[1], dev_server)
    starter(env, "db", "upgrade")
    runs = []
    for i, username in enumerate(["pupil-a", " pupil-a "]):
        email = f"lehrerin{i}@example.ch"
        configure_user(env, email, llm_url, {"mine": (username, "pass-a")})
        runs.append((email, create_process(env, email, ["mine"])))
    add_articles(mm_state, 5)
    mm_state.set_faults(post_latency_ms=1500)
    workers = [WorkerProcess({**env, "MYMOMENT_BASE_URL": spelling}) for spelling in spellings]
    for worker in workers:
        worker.start()
    try:
        for email, process_id in runs:
            starter(env, "--user", email, "start", process_id)
        try:
            await wait_until(lambda: settled(env, runs, 10), 150, "every item posted or skipped")
        except AssertionError:
            statuses = [(r["status"], r["error"]) for r in rows_of(env, runs)]
            states = [run_starter(env, "--user", email, "status", pid, "--json")[1] for email, pid in runs]
            logs = ["".join(w.output[-15:]) for w in workers]
            raise AssertionError(f"items: {statuses}\nprocesses: {states}\nworkers: {logs}") from None
        for email, process_id in runs:
            starter(env, "--user", email, "stop", process_id, "--wait")
    finally:
        for worker in workers:
            worker.terminate()
    assert comments_per_article(mm_state) == dict.fromkeys(mm_state.articles, 1)
    assert {c["author"] for c in mm_state.all_comments()} == {"pupil-a"}
    rows = rows_of(env, runs)
    assert Counter(row["status"] for row in rows) == {"posted": 5, "skipped": 5}, rows
    assert all("myMoment account" in (r["error"] or "") for r in rows if r["status"] == "skipped"), rows
    posted_by = [sum("comment posted" in line for line in w.output) for w in workers]
    print("comments posted per worker (localhost, 127.0.0.1):", posted_by)
