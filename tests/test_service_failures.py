"""Infrastructure failures say what failed (issue 18, item 10).

Redis, PostgreSQL, the LLM and the myMoment site are named by service, host and port in `health`,
`status`, the worker's start-up and the errors activities raise; never a password, user name or query
string of their URLs. A post queued where no worker polls names that task queue on every later call.
Real components only: closed ports, the real PostgreSQL, the dev server, the worker wiring, the imitations.
(The one-line refusals of the CLI and the worker are rows of tests/test_bad_input.py.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import make_url

from activities.errors import to_application_error
from tests.conftest import PG_ENV
from tests.support import cli, cli_ok, configure_class_82, isolate_temporal, process_create, provider_add
from yourmoment.errors import LLMUnavailableError
from yourmoment.llm.client import LLMClient, ProviderConfig
from yourmoment.messages import workflow_id_for_process
from yourmoment.ratelimit import RedisRateLimiter
from yourmoment.services import address
from yourmoment.settings import get_settings
from yourmoment.store import items
from yourmoment.store.db import database_address, session_scope
from yourmoment.store.models import MonitoringProcess
from yourmoment_dev.harness import WorkerProcess, add_articles, running_worker, wait_until

SECRET = "pw-Geheim-7"  # a password in every URL below: it must never show
DB_USER = "dbuser-x7"  # a user name in the database URL: not shown either (libpq quotes it)
CLOSED = "127.0.0.1:1"  # nothing listens on port 1: connections are refused at once
REDIS_DOWN = f"redis://:{SECRET}@{CLOSED}/0"
POSTGRES_DOWN = f"postgresql://{DB_USER}:{SECRET}@{CLOSED}/yourmoment?connect_timeout=3"
UNREACHABLE_TEMPORAL = "127.0.0.1:9"


def no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text and DB_USER not in text and "connect_timeout" not in text, text


def checks(result: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in result.json()["checks"]}


# --- addresses -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://:{SECRET}@redis.internal:6380/2?ssl_cert_reqs=none", "redis.internal:6380"),
        (f"rediss://user:{SECRET}@[::1]/0", "[::1]:6379"),
        (f"https://{DB_USER}:{SECRET}@www.mymoment.ch/articles/?token={SECRET}", "www.mymoment.ch:443"),
        ("http://127.0.0.1:9", "127.0.0.1:9"),
        ("unix:///run/redis.sock", "unix socket /run/redis.sock"),
    ],
)
def test_an_address_is_host_and_port_only(url: str, shown: str) -> None:
    assert address(url) == shown


def test_a_database_address_is_host_and_port_only() -> None:
    assert database_address(make_url(POSTGRES_DOWN)) == CLOSED
    assert database_address(make_url(f"postgresql+psycopg://{DB_USER}:{SECRET}@db/ym")) == "db:5432"
    assert database_address(make_url("postgresql+psycopg:///ym?host=/run/postgresql")) == (
        "unix socket /run/postgresql"
    )


# --- the LLM: a typed error that leaves an activity as it is -----------------------------------------------


async def test_an_unreachable_llm_is_a_typed_error_naming_host_and_port() -> None:
    config = ProviderConfig(
        provider="openai-compatible", model="m", base_url=f"http://{CLOSED}/v1", api_key=SECRET
    )
    async with LLMClient(config, timeout=5) as client:
        with pytest.raises(LLMUnavailableError) as info:
            await client.complete([{"role": "user", "content": "Hallo"}])
    message = "LLM openai-compatible (m) at 127.0.0.1:1 refused the connection"
    assert str(info.value) == message
    failure = to_application_error(info.value, "activity generate_comment")
    assert (failure.message, failure.type, failure.non_retryable) == (message, "LLMUnavailableError", False)


# --- health ----------------------------------------------------------------------------------------------


def test_health_names_redis_postgresql_and_the_site_by_host_and_port(env, run_cli) -> None:  # type: ignore[no-untyped-def]
    env.set(REDIS_URL=REDIS_DOWN, TEMPORAL_ADDRESS=UNREACHABLE_TEMPORAL)  # the site: http://127.0.0.1:9
    result = run_cli("health", "--json")
    assert result.code == 1
    by_name = checks(result)
    assert by_name["redis"] == {
        "name": "redis",
        "ok": False,
        "detail": "Redis at 127.0.0.1:1 refused the connection (REDIS_URL)",
    }
    assert by_name["mymoment"]["detail"] == (
        "myMoment at 127.0.0.1:9 refused the connection (MYMOMENT_BASE_URL)"
    )
    assert by_name["database"]["ok"]
    no_secret(result.out, result.err)

    env.set(DATABASE_URL=POSTGRES_DOWN)
    result = run_cli("health", "--json")
    assert result.code == 1
    assert checks(result)["database"]["detail"] == (
        "PostgreSQL at 127.0.0.1:1 refused the connection (DATABASE_URL)"
    )
    text = run_cli("health")
    assert "PostgreSQL at 127.0.0.1:1 refused the connection" in text.out and "UNHEALTHY" in text.out
    no_secret(result.out, result.err, text.out, text.err)


def add_running_process_with_llm_at(run_cli: Any, database_url: str, llm_url: str) -> None:
    """A user, a login, provider `lokal` at `llm_url` and process "Klasse 82" marked running."""
    for args, stdin in (
        (["user", "add", "t@example.org"], None),
        (["login", "add", "bot", "--username", "pupil-1", "--password-stdin"], "pw\n"),
        (provider_add("lokal", "m", base_url=llm_url), None),
        (["template", "seed"], None),
        (process_create("Klasse 82", "lokal", "bot", "Ermutigendes Feedback:1"), None),
    ):
        assert run_cli(*args, stdin=stdin).code == 0, args
    with session_scope(database_url) as session:
        for process in session.query(MonitoringProcess):
            process.status = "running"


def test_health_names_the_llm_a_running_process_uses(env, run_cli) -> None:  # type: ignore[no-untyped-def]
    add_running_process_with_llm_at(run_cli, env.database_url, f"http://{CLOSED}/v1")
    env.set(TEMPORAL_ADDRESS=UNREACHABLE_TEMPORAL)
    result = run_cli("health", "--json")
    assert checks(result)["llm:127.0.0.1:1"] == {
        "name": "llm:127.0.0.1:1",
        "ok": False,
        "detail": "LLM at 127.0.0.1:1 refused the connection (provider lokal)",
    }


@pytest.mark.postgres
def test_a_refused_postgresql_login_names_host_and_port_but_not_the_user(run_cli, env) -> None:  # type: ignore[no-untyped-def]
    """libpq's text quotes the user name ('role "…" does not exist'); the line names the server only.
    The test server is only asked to log in (as nobody it knows): its database is left alone."""
    pg_url = os.environ.get(PG_ENV)
    if not pg_url:
        pytest.skip("PostgreSQL tests need YOURMOMENT_TEST_DATABASE_URL")
    parts = urlsplit(pg_url)
    wrong_user = urlunsplit(
        parts._replace(netloc=f"{DB_USER}:{SECRET}@{parts.hostname}:{parts.port or 5432}")
    )
    env.set(DATABASE_URL=wrong_user)
    result = run_cli("process", "list")
    assert result.code == 2
    assert result.err.splitlines() == [
        f"error: PostgreSQL at {parts.hostname}:{parts.port or 5432} refused the user or password (DATABASE_URL)"
    ]
    no_secret(result.out, result.err)


# --- the worker's start-up and `status` (against the dev server) -------------------------------------------


@pytest.mark.slow
async def test_the_worker_names_the_site_and_llm_it_cannot_reach(env, dev_env, run_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """It starts (the site and the LLM come back; activities retry) but says what it cannot reach."""
    add_running_process_with_llm_at(run_cli, env.database_url, f"http://{CLOSED}/v1")
    isolate_temporal(env, tmp_path, "w", TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host)
    worker = WorkerProcess(dict(os.environ), "--no-schedules", cwd=Path.cwd())
    worker.start(timeout=60)
    worker.stop()
    output = "".join(worker.output)
    ready = output.index("worker ready")
    for line in (
        "myMoment at 127.0.0.1:9 refused the connection (MYMOMENT_BASE_URL); work that needs it waits",
        "LLM at 127.0.0.1:1 refused the connection (provider lokal); work that needs it waits",
    ):
        assert 0 <= output.find(line) < ready, output
    no_secret(output)


@pytest.mark.slow
async def test_status_names_redis_while_its_activity_is_retried(
    env, dev_env, run_cli, mymoment_server, llm_server, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Redis went away after the worker started: every paced request fails. `status` says so at once,
    not only when the retries are used up, and names Redis' host and port."""
    process_id = await configure_class_82(run_cli, mymoment_server, llm_server.url)
    isolate_temporal(env, tmp_path, "s", TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host)
    limiter = RedisRateLimiter(REDIS_DOWN)
    expected = "Redis at 127.0.0.1:1 refused the connection (REDIS_URL)"

    async def retried() -> bool:
        shown = (await cli_ok(run_cli, "status", "Klasse 82", "--json")).json()
        return any(expected in line for line in shown["retrying"])

    async with running_worker(dev_env.client, get_settings(), limiter=limiter):
        await cli_ok(run_cli, "start", "Klasse 82")
        await wait_until(retried, 30, "status naming Redis", every=1.0)
        text = await cli_ok(run_cli, "status", "Klasse 82")
        assert "  retrying open_session, attempt " in text.out and expected in text.out, text.out
        no_secret(text.out, text.err)
        await dev_env.client.get_workflow_handle(workflow_id_for_process(process_id)).terminate("test over")
    await limiter.close()


# --- a queued post on a task queue no worker polls ---------------------------------------------------------


@pytest.mark.slow
async def test_a_queued_post_names_the_queue_no_worker_polls_on_every_later_call(
    env, dev_env, run_cli, mymoment_server, llm_server, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    process_id = await configure_class_82(run_cli, mymoment_server, llm_server.url, "--generate-only")
    temporal = dev_env.client.service_client.config.target_host
    add_articles(mymoment_server.state, 1)
    isolate_temporal(env, tmp_path, "g", TEMPORAL_ADDRESS=temporal)
    async with running_worker(dev_env.client, get_settings()):
        await cli_ok(run_cli, "start", "Klasse 82")
        await wait_until(lambda: generated(env.database_url, process_id), 60, "a generated comment")
        await cli_ok(run_cli, "stop", "Klasse 82", "--wait")
    [item_id] = generated(env.database_url, process_id)
    # From here on, queues of another prefix: the server remembers a stopped worker's pollers for minutes.
    isolate_temporal(env, tmp_path, "q", TEMPORAL_ADDRESS=temporal)
    settings = get_settings()
    queue = settings.task_queue("comments")
    waits = (
        f"the queued post of comment {item_id} waits on task queue {queue}, which no worker polls for "
        "activity tasks (start one: 'python worker.py --task-queues comments')"
    )

    # A worker without the comments queue: the post's workflow runs, its activity waits.
    async with running_worker(dev_env.client, settings, queues=("monitoring", "sessions", "maintenance")):
        first = await cli(run_cli, "post", item_id, "--timeout", "3")
        assert first.code == 1
        assert f"comment {item_id} not posted within 3 s: it waits on task queue {queue}" in first.err
        again = await cli(run_cli, "post", item_id, "--timeout", "1")
        assert f"warning: {waits}" in again.err.splitlines(), again.err
        status = await cli_ok(run_cli, "status", "Klasse 82")
        assert f"warning: {waits}" in status.err.splitlines(), status.err
        shown = await cli_ok(run_cli, "comments", "show", item_id)
        assert f"warning: {waits}" in shown.err.splitlines(), shown.err

    # A worker for it takes the queued post; nothing is named any more.
    async with running_worker(dev_env.client, settings):
        posted = await cli_ok(run_cli, "post", item_id, "--json")
        assert posted.json()[0]["outcome"] == "posted" and posted.err == ""
        assert (await cli_ok(run_cli, "status", "Klasse 82")).err == ""


def generated(database_url: str, process_id: str) -> list[str]:
    with session_scope(database_url) as session:
        return [i.id for i in items.list_items(session, process_id) if i.status == "generated"]
