"""One comment per myMoment account and article, and the account's comment interval as the site sees it.

The account (site host + normalised username), not the stored login, is what myMoment sees: two logins
of one account, or two users with the same account, must not post two comments on one article, and
the comment interval holds between the POSTs that reach the site, however long pacing held them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from imitation import llm_server, mymoment
from tests.conftest import CliEnv, RunCli
from tests.support import process_create, provider_add, run_starter, run_starter_here
from tests.test_e2e import DEV_SERVER_ARGS, database_url
from yourmoment.crypto import Encryptor, generate_key
from yourmoment.store.db import session_scope
from yourmoment_dev.harness import (
    DevServer,
    Imitations,
    WorkerProcess,
    add_articles,
    hermetic_env,
    wait_until,
)

PREFIX = "[Dieser Kommentar stammt von einem KI-ChatBot.]"
__all__ = ["DEV_SERVER_ARGS"]  # the shared dev_server fixture runs as in test_e2e


def one_error_line(result: Any) -> str:
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.err, result.err
    return lines[0]


# --- storing logins ----------------------------------------------------------------------------------


def test_login_add_refuses_a_second_login_of_one_account(
    env: CliEnv, run_cli: RunCli, any_db_url: str
) -> None:
    assert run_cli("user", "add", "lehrerin@example.ch").code == 0
    first = run_cli("login", "add", "a", "--username", "pupil-a", "--password-stdin", stdin="pw")
    assert first.code == 0, first
    # Spaces, case and Unicode compatibility forms (NFKC, as Django's login form) name the same account.
    for i, spelling in enumerate([" pupil-a ", "pupil-a", "Pupil-A", "PUPIL-A\t", "ｐｕｐｉｌ-ａ"]):
        result = run_cli("login", "add", f"again-{i}", "--username", spelling, "--password-stdin", stdin="pw")
        line = one_error_line(result)
        assert "login 'a' is already this myMoment account" in line, line
        assert "pw" not in result.err.replace("pupil", "")  # no password in the message
    assert run_cli("login", "add", "admin", "--username", "PUPIL-A", "--admin", stdin="pw").code == 2
    other = run_cli("login", "add", "b", "--username", "pupil-b", "--password-stdin", stdin="pw")
    assert other.code == 0, other
    # A removed login frees its account for a new login.
    assert run_cli("login", "remove", "a").code == 0
    again = run_cli("login", "add", "a2", "--username", " Pupil-A ", "--password-stdin", stdin="pw")
    assert again.code == 0, again
    names = [row["name"] for row in run_cli("login", "list", "--json").json()]
    assert sorted(names) == ["a2", "b"]


def test_account_key_normalises_host_and_username() -> None:
    from yourmoment.mymoment.account import account_key

    key = account_key("https://www.mymoment.ch", "pupil-a")
    assert len(key) == 64 and "pupil" not in key  # a digest: the username itself is never stored
    for base, name in [
        ("https://mymoment.ch/", " Pupil-A"),
        ("https://WWW.MyMoment.ch:443", "ｐｕｐｉｌ-ａ"),
    ]:
        assert account_key(base, name) == key
    assert account_key("https://www.mymoment.ch", "pupil-b") != key
    assert account_key("http://127.0.0.1:8001", "pupil-a") != account_key("http://127.0.0.1:8002", "pupil-a")


# --- the claim in the database -----------------------------------------------------------------------


def test_database_rejects_a_second_claim_for_one_account_article_and_prompt(any_db_url: str) -> None:
    """The rule is a primary key, not a query: a plain INSERT of a duplicate claim fails on both databases."""
    key, now = "a" * 64, "2026-01-01 00:00:00"
    row = "INSERT INTO posting_claims (account_key, mymoment_article_id, prompt_slot, created_at) VALUES "
    with session_scope(any_db_url) as session:
        session.execute(
            sa.text(row + "(:k, '4501', '', :t), (:k, '4501', 'tpl-1', :t)"), {"k": key, "t": now}
        )
        session.execute(
            sa.text(row + "(:k, '4502', '', :t), (:o, '4501', '', :t)"), {"k": key, "o": "b" * 64, "t": now}
        )
    for slot in ("", "tpl-1"):
        with pytest.raises(IntegrityError), session_scope(any_db_url) as session:
            session.execute(sa.text(row + "(:k, '4501', :s, :t)"), {"k": key, "s": slot, "t": now})
    with session_scope(any_db_url) as session:
        assert session.execute(sa.text("SELECT count(*) FROM posting_claims")).scalar() == 4


# --- end to end: one comment per account and article -------------------------------------------------


@pytest.fixture
def site() -> Iterator[tuple[mymoment.MyMomentState, str, str]]:
    mm_state, llm_state = mymoment.MyMomentState(), llm_server.LLMState()
    mm_state.add_class(82, "Beispielklasse A", "Testschule")
    mm_state.add_account("pupil-a", "pass-a", "pupil", [82])
    with Imitations(mm_state, llm_state) as imitations:
        yield mm_state, imitations.mm_url, imitations.llm_url


def environment(db_url: str, mm_url: str, dev_server: Any, **extra: str) -> dict[str, str]:
    values = {
        "DATABASE_URL": db_url,
        "YOURMOMENT_ENCRYPTION_KEY": generate_key(),
        "MYMOMENT_BASE_URL": mm_url,
        "TEMPORAL_ADDRESS": dev_server.address,
        "TEMPORAL_TASK_QUEUE_PREFIX": f"acct{uuid.uuid4().hex[:6]}-",
        "COMMENT_RATE_LIMIT_SECONDS": "0",
        "SCRAPING_RATE_LIMIT": "20",
        "SCRAPING_BURST_LIMIT": "10",
    }
    return hermetic_env(**{**values, **extra})


def starter(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """`starter.py ARGS` in this process (exactly `env`), which must succeed; returns what it printed.
    The workers run in their own processes; the commands around them are not what these tests are
    about, and each in a new interpreter would cost a core's second (one test keeps `post` as a user
    runs it, for its exit code)."""
    code, out, err = run_starter_here(env, *args, stdin=stdin)
    assert code == 0, f"{args}: {out}{err}"
    return out


def configure_user(env: dict[str, str], email: str, llm_url: str, logins: dict[str, tuple[str, str]]) -> None:
    """A user with the given logins (name -> username, password), a provider and the templates."""
    starter(env, "user", "add", email)
    starter(env, "template", "seed")
    for name, (username, password) in logins.items():
        starter(
            env,
            "--user",
            email,
            "login",
            "add",
            name,
            "--username",
            username,
            "--password-stdin",
            stdin=password + "\n",
        )
    starter(env, "--user", email, *provider_add("local", "imitation", base_url=f"{llm_url}/v1"))


def create_process(
    env: dict[str, str], email: str, logins: list[str], *extra: str, mode: str = "--post"
) -> str:
    template = json.loads(starter(env, "--user", email, "template", "list", "--json"))[0]["name"]
    out = starter(
        env,
        "--user",
        email,
        *process_create(f"p-{uuid.uuid4().hex[:6]}", "local", logins, template),
        mode,
        "--interval",
        "5",
        "--max-duration",
        "30",
        *extra,
        "--json",
    )
    return json.loads(out)["id"]


def add_legacy_login(env: dict[str, str], email: str, name: str, username: str, password: str) -> None:
    """A second login of an account already stored, as a database from before this rule holds them
    (`login add` refuses it now): written straight into the table."""
    from yourmoment.store.models import MyMomentLogin, User

    enc = Encryptor(env["YOURMOMENT_ENCRYPTION_KEY"])
    with session_scope(env["DATABASE_URL"]) as session:
        user = session.scalar(sa.select(User).where(User.email == email))
        assert user is not None
        session.add(
            MyMomentLogin(
                user_id=user.id,
                name=name,
                username_enc=enc.encrypt(username),
                password_enc=enc.encrypt(password),
                is_active=True,
                is_admin=False,
            )
        )


def item_rows(env: dict[str, str], email: str, process_id: str) -> list[dict[str, Any]]:
    """The process's work items, read from the database (polling through starter.py would load 2 cores)."""
    from yourmoment.store.models import AIComment

    with session_scope(env["DATABASE_URL"]) as session:
        rows = session.scalars(sa.select(AIComment).where(AIComment.process_id == process_id))
        return [{"login_id": r.login_id, "status": r.status, "error": r.error} for r in rows]


def settled(env: dict[str, str], runs: list[tuple[str, str]], expected: int) -> bool:
    rows = [row for email, pid in runs for row in item_rows(env, email, pid)]
    return len(rows) == expected and all(row["status"] in ("posted", "skipped") for row in rows)


async def run_until_settled(
    env: dict[str, str], mm_state: Any, runs: list[tuple[str, str]], items_per_article: int
) -> None:
    """Starts every process at once, adds articles while they run, and waits until every item is done."""
    add_articles(mm_state, 2)
    worker = WorkerProcess(env)
    worker.start()
    try:
        for email, process_id in runs:
            starter(env, "--user", email, "start", process_id)
        await wait_until(lambda: len(mm_state.all_comments()) >= 2, 90, "the first comments")
        add_articles(mm_state, 3, author="Neu")  # new articles arrive while both run
        for email, process_id in runs:
            starter(env, "--user", email, "discover-now", process_id)
        try:
            await wait_until(
                lambda: settled(env, runs, 5 * items_per_article), 120, "every item posted or skipped"
            )
        except AssertionError:
            rows = [(r["status"], r["error"]) for email, pid in runs for r in item_rows(env, email, pid)]
            raise AssertionError(f"items: {rows}\nworker: {''.join(worker.output[-30:])}") from None
        for email, process_id in runs:
            starter(env, "--user", email, "stop", process_id, "--wait")
    finally:
        worker.terminate()


def assert_one_comment_per_article(mm_state: Any) -> None:
    per_article = {a: len(mm_state.comments_for(a)) for a in mm_state.articles}
    assert len(per_article) == 5 and set(per_article.values()) == {1}, per_article
    for comment in mm_state.all_comments():
        assert comment["author"] == "pupil-a" and comment["text"].startswith(f"<p>{PREFIX}</p>")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated_env(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    dev_server: DevServer,
    site: tuple[mymoment.MyMomentState, str, str],
) -> dict[str, str]:
    """The deployment's environment on SQLite and on PostgreSQL, its database migrated by `db upgrade`."""
    env = environment(database_url(tmp_path, request.param, request), site[1], dev_server)
    starter(env, "db", "upgrade")
    return env


@pytest.mark.slow
async def test_two_logins_of_one_account_in_one_process_comment_once(
    migrated_env: dict[str, str], site: tuple[mymoment.MyMomentState, str, str]
) -> None:
    env = migrated_env
    mm_state, _mm_url, llm_url = site
    email = "lehrerin@example.ch"
    configure_user(env, email, llm_url, {"a": ("pupil-a", "pass-a")})
    add_legacy_login(env, email, "a-again", "pupil-a", "pass-a")  # ` pupil-a ` as `login add` stored it
    process_id = create_process(env, email, ["a", "a-again"])
    await run_until_settled(env, mm_state, [(email, process_id)], items_per_article=2)
    assert_one_comment_per_article(mm_state)
    rows = item_rows(env, email, process_id)
    assert sorted(Counter(row["login_id"] for row in rows).values()) == [5, 5]  # both logins worked
    skipped = [row for row in rows if row["status"] == "skipped"]
    assert len(skipped) == 5 and sum(row["status"] == "posted" for row in rows) == 5
    assert all("myMoment account" in (row["error"] or "") for row in skipped), skipped


@pytest.mark.slow
async def test_two_users_with_one_account_running_at_once_comment_once(
    migrated_env: dict[str, str], site: tuple[mymoment.MyMomentState, str, str]
) -> None:
    env = migrated_env
    mm_state, _mm_url, llm_url = site
    runs = []
    for i, username in enumerate(["pupil-a", " pupil-a "]):  # the same account, spelt differently
        email = f"lehrerin{i}@example.ch"
        configure_user(env, email, llm_url, {"mine": (username, "pass-a")})
        runs.append((email, create_process(env, email, ["mine"])))
    await run_until_settled(env, mm_state, runs, items_per_article=2)
    assert_one_comment_per_article(mm_state)
    rows = [row for email, pid in runs for row in item_rows(env, email, pid)]
    assert sum(row["status"] == "posted" for row in rows) == 5
    assert all("myMoment account" in (row["error"] or "") for row in rows if row["status"] == "skipped")


@pytest.mark.slow
async def test_post_exits_1_when_the_account_has_commented_already(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    dev_server: DevServer,
    site: tuple[mymoment.MyMomentState, str, str],
) -> None:
    """A reviewed comment whose account claimed the article meanwhile ends skipped, which is not success."""
    from yourmoment.mymoment.account import account_key

    mm_state, mm_url, llm_url = site
    env = environment(database_url(tmp_path, "sqlite", request), mm_url, dev_server)
    starter(env, "db", "upgrade")
    add_articles(mm_state, 2)
    email = "lehrerin@example.ch"
    configure_user(env, email, llm_url, {"mine": ("pupil-a", "pass-a")})
    process_id = create_process(env, email, ["mine"], mode="--generate-only")
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
        # Another process of this account (since deleted) commented on one of the articles meanwhile.
        with session_scope(env["DATABASE_URL"]) as session:
            article = session.execute(
                sa.text("SELECT mymoment_article_id FROM ai_comments WHERE process_id = :p LIMIT 1"),
                {"p": process_id},
            ).scalar_one()
            session.execute(
                sa.text(
                    "INSERT INTO posting_claims (account_key, mymoment_article_id, prompt_slot, created_at) "
                    "VALUES (:k, :a, '', CURRENT_TIMESTAMP)"
                ),
                {"k": account_key(mm_url, "pupil-a"), "a": article},
            )
        code, out, err = run_starter(env, "--user", email, "post", "--process", process_id)
    finally:
        worker.terminate()
    assert code == 1, out + err
    lines = sorted(out.strip().splitlines())
    assert len(lines) == 2 and ": posted" in "".join(lines) and ": skipped - " in "".join(lines), out
    assert len(mm_state.all_comments()) == 1


# --- the comment interval at the site ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("limiter", ["local", pytest.param("redis", marks=pytest.mark.redis)])
async def test_comment_interval_holds_between_posts_as_the_site_sees_them(
    limiter: str, tmp_path: Path, dev_server: DevServer
) -> None:
    """With pacing on, one account's POSTs reach the imitation at least COMMENT_RATE_LIMIT_SECONDS apart."""
    interval = 2.0
    extra = {
        "COMMENT_RATE_LIMIT_SECONDS": str(interval),
        "SCRAPING_RATE_LIMIT": "2",
        "SCRAPING_BURST_LIMIT": "5",
    }
    if limiter == "redis":
        redis_url = os.environ.get("YOURMOMENT_TEST_REDIS_URL")
        if not redis_url:
            pytest.skip("Redis tests need YOURMOMENT_TEST_REDIS_URL")
        extra["REDIS_URL"] = redis_url
    mm_state, llm_state = mymoment.MyMomentState(), llm_server.LLMState()
    mm_state.add_class(82, "Beispielklasse A", "Testschule")
    logins = {"a": ("pupil-a", "pass-a"), "b": ("pupil-b", "pass-b")}
    for username, password in logins.values():
        mm_state.add_account(username, password, "pupil", [82])
    with Imitations(mm_state, llm_state) as imitations:
        env = environment(f"sqlite:///{tmp_path / 'pacing.db'}", imitations.mm_url, dev_server, **extra)
        starter(env, "db", "upgrade")
        email = "lehrerin@example.ch"
        configure_user(env, email, imitations.llm_url, logins)
        process_id = create_process(env, email, ["a", "b"])
        add_articles(mm_state, 5)
        workers = [WorkerProcess(env) for _ in range(2 if limiter == "redis" else 1)]  # Redis: two workers
        for worker in workers:
            worker.start()
        try:
            starter(env, "--user", email, "start", process_id)
            await wait_until(lambda: len(mm_state.all_comments()) >= 10, 120, "ten comments")
            starter(env, "--user", email, "stop", process_id, "--wait")
        finally:
            for worker in workers:
                worker.terminate()
        posts = [r for r in mm_state.stats()["requests"] if r["kind"] == "post"]
    gaps = {}
    for username in ("pupil-a", "pupil-b"):
        times = sorted(r["t"] for r in posts if r["login"] == username)
        assert len(times) == 5, (username, times)
        gaps[username] = [round(b - a, 3) for a, b in pairwise(times)]
    print("POST gaps per account at the imitation:", gaps)
    # The times are the imitation's: on a loaded machine a POST can reach it a little later than it was
    # sent, shortening the gap to the next one. Pacing that failed would leave gaps of milliseconds.
    arrival_jitter = 0.25
    assert all(gap >= interval - arrival_jitter for account in gaps.values() for gap in account), gaps
    assert {a: len(mm_state.comments_for(a)) for a in mm_state.articles} == dict.fromkeys(
        mm_state.articles, 2
    )
