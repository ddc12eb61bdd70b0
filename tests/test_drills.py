"""Fault drills (issue 5): crashes, a Temporal restart, a faulty site and LLM, two workers on PostgreSQL+Redis.

Each drill runs the real worker process(es) and starter.py against the imitations and asserts the
same things: every article ends posted exactly once or failed with a reason, no work item is left in
an in-between state, the process status is right after the stop, and no pupil's text or secret is in
the raw histories, the dev server's database, the worker and CLI output or Redis (the leak scan, issue 8).
Each prints one JSON line (`DRILL {...}`, visible with -s). DRILL_SEED=<int> replays or varies the random
choices.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from temporalio.client import Client

from imitation.mymoment import peak_in_window
from tests.drill_support import (
    CLASS_ID,
    Deployment,
    Site,
    add_articles,
    assert_running,
    configure,
    connect,
    deployment_env,
    discover_now,
    emit_summary,
    imitations,
    item_rows,
    post_outcomes,
    posts_in_flight,
    scan_for_leaks,
    secrets_of,
    status_counts,
    stop_and_check,
    wait_until_settled,
)
from tests.support import live_status
from yourmoment.codec import generate_payload_key
from yourmoment.ratelimit import KEY_PREFIX
from yourmoment.store.db import get_engine
from yourmoment_dev.harness import DevServer, wait_until

pytestmark = pytest.mark.slow
POST_LATENCY_MS = 1000
SEED = int(os.environ.get("DRILL_SEED", "20240605"))


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'drill.db'}"


def login_counts(site: Site) -> dict[str, int]:
    return dict(site.mm.stats()["logins"])


# --- drill 1: kill -9 -----------------------------------------------------------------------------------


def kill_all(dep: Deployment, site: Site, kind: str, started: float) -> dict[str, object]:
    """kill -9 every live worker, noting what was on the wire."""
    in_flight = posts_in_flight(site)
    for worker in dep.live_workers():
        worker.kill()
    return {"at_s": round(time.monotonic() - started, 1), "kind": kind, "posts_in_flight": in_flight}


async def kill_mid_post(dep: Deployment, site: Site, started: float) -> dict[str, object]:
    """Waits for a comment POST, then kills while the site stores it (the answer never arrives)."""

    def explain() -> str:
        return f"{status_counts(dep.db_url, dep.process_id)}\n{dep.worker_log_tail(60)}"

    await wait_until(
        lambda: posts_in_flight(site) > 0, 30, "a comment POST in flight", explain=explain, every=0.02
    )
    await asyncio.sleep(0.15)  # the handler has read the form and sleeps in its post latency
    return kill_all(dep, site, "mid-post", started)


async def kill_mid_discovery(
    dep: Deployment, site: Site, client: Client, batch: int, n: int, started: float
) -> dict[str, object]:
    """New articles, a discovery at once, and a kill the moment its first work item is in the database."""
    before = len(item_rows(dep.db_url, dep.process_id))
    add_articles(site, n, batch=batch)
    await discover_now(client, dep.process_id)
    await wait_until(
        lambda: len(item_rows(dep.db_url, dep.process_id)) > before,
        60,
        "the discovery's first row",
        every=0.003,
    )
    kill = kill_all(dep, site, "mid-discovery", started)
    kill["items_recorded"] = len(item_rows(dep.db_url, dep.process_id)) - before
    return kill


async def test_drill_worker_killed_at_random_moments(tmp_path: Path, dev_server: DevServer) -> None:
    """50 articles (arriving in three batches), one login, the worker killed -9 five times: twice while
    the site stores a POST, once while discovery writes its work items, twice at seeded random moments."""
    assert dev_server.client is not None  # the fixture has connected it
    started, rng = time.monotonic(), random.Random(SEED)
    batches = [20, 15, 15]
    kills: list[dict[str, object]] = []
    with imitations(["a"]) as site:
        db_url = sqlite_url(tmp_path)
        dep = configure(deployment_env(db_url, site, dev_server.address), db_url, site)
        site.mm.set_faults(post_latency_ms=POST_LATENCY_MS)  # so kills can land while a POST is stored
        add_articles(site, batches[0], batch=0)

        async def restart_worker() -> None:
            await asyncio.to_thread(dep.start_worker)

        try:
            await restart_worker()
            dep.starter("start", dep.process_id)
            kills.append(await kill_mid_post(dep, site, started))
            await restart_worker()
            await asyncio.sleep(rng.uniform(2, 6))
            kills.append(kill_all(dep, site, "random", started))
            await restart_worker()
            kills.append(await kill_mid_discovery(dep, site, dev_server.client, 1, batches[1], started))
            await restart_worker()
            kills.append(await kill_mid_post(dep, site, started))
            await restart_worker()
            add_articles(site, batches[2], batch=2)
            await discover_now(dev_server.client, dep.process_id)
            await asyncio.sleep(rng.uniform(2, 6))
            kills.append(kill_all(dep, site, "random", started))
            await restart_worker()
            await wait_until_settled(dep, dev_server.client, sum(batches), timeout=120)
            assert_running(dep)
            counts = await stop_and_check(dep, dev_server.client, sum(batches))
        finally:
            dep.stop_workers()
        leak_scan = await scan_for_leaks(dep, dev_server.address, dev_server.db_file)
        per_article = {a: len(site.mm.comments_for(a)) for a in site.mm.articles}
        stats = site.mm.stats()
    outcomes = post_outcomes(dep.workers)
    assert counts == {"posted": 50}, counts
    assert per_article == dict.fromkeys(per_article, 1) and len(per_article) == 50
    # A POST stored while its worker died was found on the page instead of being sent again.
    assert outcomes.get("already_posted", 0) >= 1, (outcomes, kills)
    emit_summary(
        "kill-9",
        started,
        seed=SEED,
        kills=len(kills),
        kill_log=kills,
        post_requests=stats["by_kind"]["post"],
        post_outcomes=outcomes,
        posted=counts["posted"],
        failed=counts.get("failed", 0),
        logins=stats["logins"],
        leak_scan_bytes=leak_scan,
    )


# --- drill 2: Temporal dev server restart ---------------------------------------------------------------


@pytest.mark.drill
async def test_drill_dev_server_restarted_mid_run(tmp_path: Path) -> None:
    """The server stops (SIGTERM) and later crashes (SIGKILL) mid-run; the same worker reconnects."""
    started = time.monotonic()
    server = DevServer(
        tmp_path / "temporal.db", log_file=tmp_path / "temporal.log", log_level="error"
    ).start()
    await server.ready()
    restarts: list[dict[str, object]] = []
    try:
        with imitations(["a", "b"]) as site:
            db_url = sqlite_url(tmp_path)
            dep = configure(deployment_env(db_url, site, server.address), db_url, site)
            site.mm.set_faults(post_latency_ms=300)
            add_articles(site, 8, batch=0)
            try:
                worker = await asyncio.to_thread(dep.start_worker)
                dep.starter("start", dep.process_id)
                await wait_until(
                    lambda: posts_in_flight(site) > 0, 60, "a comment POST in flight", every=0.02
                )
                restarts.append({"hard": False, "posts_in_flight": posts_in_flight(site)})
                await server.restart(hard=False, down_seconds=3)
                await wait_until(
                    lambda: posts_in_flight(site) > 0, 90, "posting after the restart", every=0.02
                )
                restarts.append({"hard": True, "posts_in_flight": posts_in_flight(site)})
                # Articles that appear while Temporal is down are found after it is back.
                await server.restart(
                    hard=True, down_seconds=3, while_down=lambda: add_articles(site, 4, batch=1)
                )
                client = await connect(server.address)
                await discover_now(client, dep.process_id)
                await wait_until_settled(dep, client, 24, timeout=120)
                assert_running(dep)
                counts = await stop_and_check(dep, client, 24)
                assert dep.workers == [worker] and worker.proc is not None and worker.proc.poll() is None
            finally:
                dep.stop_workers()
            logins = login_counts(site)
            leak_scan = await scan_for_leaks(dep, server.address, server.db_file)
    finally:
        server.stop()
    assert counts == {"posted": 24}, counts
    emit_summary(
        "temporal-restart",
        started,
        restarts=server.restarts,
        restart_log=restarts,
        posted=counts["posted"],
        failed=counts.get("failed", 0),
        post_outcomes=post_outcomes(dep.workers),
        logins=logins,
        leak_scan_bytes=leak_scan,
    )


# --- drill 3: a faulty myMoment -------------------------------------------------------------------------

# The issue asks for session expiry every 2 minutes; 20 s gives the same re-login path several
# times within a drill that lasts about a minute.
SESSION_EXPIRY_S = 20


async def latency_spikes(site: Site, rng: random.Random, spikes: list[int], base_ms: int = 20) -> None:
    """Every few seconds the site answers slowly for a moment (each spike's latency goes to `spikes`)."""
    while True:
        await asyncio.sleep(rng.uniform(3, 6))
        spikes.append(rng.choice([800, 1500, 2500]))
        site.mm.set_faults(latency_ms=spikes[-1])
        await asyncio.sleep(rng.uniform(1, 2))
        site.mm.set_faults(latency_ms=base_ms)


@pytest.mark.drill
async def test_drill_faulty_mymoment(tmp_path: Path, dev_server: DevServer) -> None:
    """10 % 5xx, latency spikes, sessions expiring every 20 s, backslash redirects; two logins."""
    assert dev_server.client is not None  # the fixture has connected it
    started, rng = time.monotonic(), random.Random(SEED)
    batches = [6, 5, 5]
    spike_log: list[int] = []
    with imitations(["a", "b"]) as site:
        db_url = sqlite_url(tmp_path)
        dep = configure(deployment_env(db_url, site, dev_server.address), db_url, site)
        site.mm.set_faults(
            error_rate=0.1,
            seed=SEED,
            latency_ms=20,
            session_expiry_seconds=SESSION_EXPIRY_S,
            backslash_redirects=True,
        )
        add_articles(site, batches[0], batch=0)
        spikes = asyncio.create_task(latency_spikes(site, rng, spike_log))
        try:
            await asyncio.to_thread(dep.start_worker)
            dep.starter("start", dep.process_id)
            for batch, n in enumerate(batches[1:], start=1):
                await asyncio.sleep(SESSION_EXPIRY_S)  # each batch is worked on with an expired session
                add_articles(site, n, batch=batch)
                await discover_now(dev_server.client, dep.process_id)
            await wait_until_settled(dep, dev_server.client, 2 * sum(batches), timeout=180)
            spikes.cancel()
            site.mm.set_faults(error_rate=0.0, latency_ms=0)  # the stop and the checks run on a calm site
            assert_running(dep)
            run_seconds = time.monotonic() - started
            counts = await stop_and_check(dep, dev_server.client, 2 * sum(batches))
        finally:
            spikes.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await spikes
            dep.stop_workers()
        stats = site.mm.stats()
        leak_scan = await scan_for_leaks(dep, dev_server.address, dev_server.db_file)
    by_status = Counter(r["status"] for r in stats["requests"])
    logins = stats["logins"]
    # One login per session lifetime at most, plus the first one and one for a race at a boundary.
    allowed = int(run_seconds // SESSION_EXPIRY_S) + 2
    assert all(n <= allowed for n in logins.values()), (logins, allowed, run_seconds)
    assert sum(logins.values()) > len(logins), logins  # sessions did expire and were renewed
    assert by_status[500] > 0 and by_status[302] > 0, by_status  # 5xx were injected, redirects followed
    emit_summary(
        "mymoment-faults",
        started,
        seed=SEED,
        posted=counts.get("posted", 0),
        failed=counts.get("failed", 0),
        requests=stats["total"],
        injected_5xx=by_status[500],
        latency_spikes_ms=spike_log,
        redirects=by_status[302],
        logins=logins,
        login_allowance=allowed,
        session_expiry_s=SESSION_EXPIRY_S,
        leak_scan_bytes=leak_scan,
    )


# --- drill 4: a faulty LLM ------------------------------------------------------------------------------


@pytest.mark.drill
async def test_drill_faulty_llm(tmp_path: Path, dev_server: DevServer) -> None:
    """429 with Retry-After, 500 and malformed JSON, interleaved, more faults than articles."""
    assert dev_server.client is not None  # the fixture has connected it
    started = time.monotonic()
    articles, rounds = 15, 8
    with imitations(["a"]) as site:
        db_url = sqlite_url(tmp_path)
        dep = configure(deployment_env(db_url, site, dev_server.address), db_url, site)
        for _ in range(rounds):
            for kind in ("429", "500", "malformed"):
                site.llm.fail_next(kind)
        add_articles(site, articles, batch=0)
        try:
            await asyncio.to_thread(dep.start_worker)
            dep.starter("start", dep.process_id)
            await wait_until_settled(dep, dev_server.client, articles, timeout=120)
            assert_running(dep)
            counts = await stop_and_check(dep, dev_server.client, articles)
        finally:
            dep.stop_workers()
        llm = site.llm.stats()
        leak_scan = await scan_for_leaks(dep, dev_server.address, dev_server.db_file)
        attempts = sorted(row["attempts"] for row in item_rows(db_url, dep.process_id))
    assert counts == {"posted": articles}, counts
    assert llm["pending_faults"] == [], llm  # every fault was served, so every one was survived
    assert llm["by_status"].get("429") == rounds and llm["by_status"].get("500") == rounds, llm
    assert llm["calls"] >= articles + 3 * rounds, llm
    emit_summary(
        "llm-faults",
        started,
        faults={"429": rounds, "500": rounds, "malformed": rounds},
        llm_calls=llm["calls"],
        llm_by_status=llm["by_status"],
        posted=counts["posted"],
        failed=counts.get("failed", 0),
        max_post_attempts=attempts[-1],
        leak_scan_bytes=leak_scan,
    )


# --- drill 5: two workers, PostgreSQL and Redis, global pacing ------------------------------------------

RATE, BURST = 2.0, 5


def flush_rate_limits(redis_url: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{KEY_PREFIX}*"))
        return client.delete(*keys) if keys else 0
    finally:
        client.close()


@pytest.mark.drill
async def test_drill_two_workers_postgres_redis(pg_url: str, dev_server: DevServer) -> None:
    """Two worker processes share PostgreSQL and the Redis pacing; the site sees ≤ 2 req/s (burst 5)."""
    assert dev_server.client is not None  # the fixture has connected it
    redis_url = os.environ.get("YOURMOMENT_TEST_REDIS_URL")
    if not redis_url:
        print("drill skipped: set YOURMOMENT_TEST_REDIS_URL (and YOURMOMENT_TEST_DATABASE_URL); .ci/run does")
        pytest.skip("the two-worker drill needs YOURMOMENT_TEST_REDIS_URL")
    started = time.monotonic()
    flush_rate_limits(redis_url)
    articles = 12
    with imitations(["a", "b"]) as site:
        env = deployment_env(
            pg_url,
            site,
            dev_server.address,
            redis_url,
            SCRAPING_RATE_LIMIT=str(RATE),
            SCRAPING_BURST_LIMIT=str(BURST),
        )
        dep = configure(env, pg_url, site)
        add_articles(site, articles, batch=0)
        try:
            first, second = await asyncio.gather(
                asyncio.to_thread(dep.start_worker), asyncio.to_thread(dep.start_worker)
            )
            dep.starter("start", dep.process_id)
            await wait_until_settled(dep, dev_server.client, 2 * articles, timeout=180)
            assert_running(dep)
            counts = await stop_and_check(dep, dev_server.client, 2 * articles)
        finally:
            dep.stop_workers()
        times = sorted(r.t for r in site.mm.requests)
        logins = login_counts(site)
        leak_scan = await scan_for_leaks(dep, dev_server.address, dev_server.db_file, redis_url)
    share = [sum(post_outcomes([w]).values()) for w in (first, second)]
    span = times[-1] - times[0]
    peak_1s, peak_10s = peak_in_window(times, 1.0), peak_in_window(times, 10.0)
    average = len(times) / span
    assert counts == {"posted": 2 * articles}, counts
    assert peak_1s <= RATE + BURST, times  # GCRA: a burst of 5, then 2 per second
    # Sustained: 10 s windows and the whole run, with one request of slack for arrival jitter.
    assert peak_10s <= RATE * 10 + BURST + 1, peak_10s
    assert len(times) <= RATE * span + BURST + 1, (len(times), span)
    assert min(share) > 0, share  # both workers posted, so the pace was shared, not one worker's own
    emit_summary(
        "two-workers-pacing",
        started,
        workers=2,
        posts_per_worker=share,
        posted=counts["posted"],
        failed=counts.get("failed", 0),
        requests=len(times),
        span_s=round(span, 1),
        peak_1s=peak_1s,
        peak_10s=peak_10s,
        average_rps=round(average, 2),
        rate=RATE,
        burst=BURST,
        logins=logins,
        leak_scan_bytes=leak_scan,
    )


# --- drill 6: failures at every activity leak nothing ---------------------------------------------------

# A write the database refuses (issue 8: "a SQLite trigger on ai_comments that raises").
REFUSE_ARTICLE = (
    "CREATE TRIGGER leak_drill_refuse BEFORE UPDATE ON ai_comments "
    "WHEN NEW.article_content LIKE '%Sperrvermerk%' BEGIN SELECT RAISE(ABORT, 'refused by the drill'); END"
)


def corrupt_stored_session(dep: Deployment, login_name: str, cookie: str) -> None:
    """A stored session this version cannot read: reading it raises pydantic's error, which quotes the cookie."""
    from yourmoment.crypto import Encryptor
    from yourmoment.store.db import session_scope
    from yourmoment.store.models import MyMomentLogin, MyMomentSession, utcnow

    jar = json.dumps({"cookies": [{"name": "sessionid", "value": [cookie], "domain": "127.0.0.1"}]})
    enc = Encryptor(dep.env["YOURMOMENT_ENCRYPTION_KEY"])
    with session_scope(dep.db_url) as session:
        login = session.scalars(select(MyMomentLogin).where(MyMomentLogin.name == login_name)).one()
        session.add(
            MyMomentSession(
                login_id=login.id,
                session_enc=enc.encrypt(jar),
                saved_at=utcnow(),
                expires_at=utcnow() + timedelta(hours=1),
                is_active=True,
            )
        )


async def test_drill_failures_leak_nothing(tmp_path: Path, dev_server: DevServer) -> None:
    """A failure at each kind of activity, with a payload key: a database write refused (prepare_article),
    a page myMoment changed (parse error), an LLM error that quotes the prompt (generate_comment) and an
    unexpected exception quoting a cookie (open_session). Each ends as a readable failure, and the leak
    scan finds none of the texts, the password, the API key or the cookies anywhere."""
    assert dev_server.client is not None  # the fixture has connected it
    started = time.monotonic()
    redis_url = os.environ.get("YOURMOMENT_TEST_REDIS_URL")
    secret_tag = os.urandom(4).hex()
    cookie = f"c00kie-{secret_tag}"
    with imitations(["a", "b"]) as site:
        db_url = sqlite_url(tmp_path)
        env = deployment_env(
            db_url,
            site,
            dev_server.address,
            redis_url,
            YOURMOMENT_PAYLOAD_KEY=generate_payload_key(),
            LOG_LEVEL="DEBUG",
        )
        dep = configure(env, db_url, site, api_key=f"sk-leak-{secret_tag}")
        ids = {
            kind: site.mm.add_article(
                title=f"Geheimer Titel {kind} {secret_tag}",
                author=f"Kind{kind}{secret_tag}",
                class_id=CLASS_ID,
                category_id=7,
                paragraphs=[f"Mein Hund {kind} heisst Bello-{secret_tag}.", second],
            )
            for kind, second in [
                ("db", "Sperrvermerk: ich schreibe weiter."),
                ("parse", "Ich mag Katzen."),
                ("llm", "Ich mag Pferde."),
                ("ok", "Ich mag Fische."),
            ]
        }
        with get_engine(db_url).begin() as conn:
            conn.execute(text(REFUSE_ARTICLE))
        site.mm.set_faults(broken_article_ids=[ids["parse"]])
        site.llm.fail_next("echo")  # the first generation (the "llm" or the "ok" article) is refused
        corrupt_stored_session(dep, "b", cookie)
        try:
            await asyncio.to_thread(dep.start_worker)
            dep.starter("start", dep.process_id)
            await wait_until_settled(dep, dev_server.client, len(ids), timeout=180)
            assert_running(dep)
            status = await live_status(dep.env, dep.process_id)  # the logins' errors: the workflow knows them
            counts = await stop_and_check(dep, dev_server.client, len(ids))
        finally:
            dep.stop_workers()
        rows = {row["article_id"]: row for row in item_rows(db_url, dep.process_id)}
        secrets = secrets_of(dep)
        leak_scan = await scan_for_leaks(dep, dev_server.address, dev_server.db_file, redis_url)
    assert cookie in secrets.values() and dep.api_key in secrets.values()
    assert counts == {"failed": 3, "posted": 1}, counts
    assert rows[ids["db"]]["error"].startswith("database error (IntegrityError"), rows[ids["db"]]
    assert "without an article body" in rows[ids["parse"]]["error"], rows[ids["parse"]]
    refused = [rows[ids[k]]["error"] for k in ("llm", "ok") if rows[ids[k]]["status"] == "failed"]
    assert len(refused) == 1 and "withheld" in refused[0], refused
    login_b = next(login for login in status["logins"] if login["name"] == "b")
    assert "unexpected pydantic_core" in login_b["error"] and "ValidationError" in login_b["error"], login_b
    worker_log = "".join(line for w in dep.workers for line in w.output)
    assert "Completing activity as failed" in worker_log  # the SDK's failure lines were there to scan
    emit_summary(
        "failures-leak-nothing",
        started,
        failed=counts["failed"],
        posted=counts["posted"],
        errors={kind: rows[i]["error"] for kind, i in ids.items()},
        login_b=login_b["error"],
        secrets_checked=len(secrets),
        leak_scan_bytes=leak_scan,
    )
