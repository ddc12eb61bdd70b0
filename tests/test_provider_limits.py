"""A provider a small local server can serve: requests in flight per provider, hints for context and
slot answers, structured output per provider. Real HTTP: the openai SDK against the LLM imitation acting
as a small local server (a capacity of N requests, llama.cpp's context message beyond it)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import CliEnv, LLMServer, MyMomentServer, RunCli
from tests.support import provider_add, start_monitoring
from yourmoment import processes_client
from yourmoment.crypto import Encryptor
from yourmoment.errors import LLMPermanentError, LLMTransientError
from yourmoment.llm.client import LLMClient, ProviderConfig
from yourmoment.llm.generation import generate_comment
from yourmoment.llm.slots import ConcurrencyLimiter, ProviderSlot
from yourmoment.llm.system_templates import SYSTEM_TEMPLATES
from yourmoment.llm.templates import ArticleContext, render_messages
from yourmoment.store import accounts, items
from yourmoment.store.db import session_scope
from yourmoment.store.models import LLMProvider
from yourmoment_dev.harness import Harness, add_articles, fast_settings, running_worker, wait_until

ARTICLE_SENTINEL = "Geheimer Satz von Lina über ihren Hamster Krümel"
API_KEY = "sk-test-0123456789abcdef-secret"
WAIT_LINE = "LLM request waits for a free slot"


@pytest.fixture
def messages() -> list[dict[str, str]]:
    template = SYSTEM_TEMPLATES[0]
    ctx = ArticleContext(
        article_title="Krümel und der Käse",
        article_author="Lina",
        article_content=f"{ARTICLE_SENTINEL}.\nEr frisst gern Käse.",
        mymoment_username="bot_1",
    )
    return render_messages(template.system_prompt, template.user_prompt_template, ctx)


def client_for(
    url: str, slots: ConcurrencyLimiter | None = None, limit: int = 2, timeout: float = 5.0, **config: Any
) -> LLMClient:
    """A client as the worker builds one: one per generation, holding a slot of the shared limiter."""
    cfg = ProviderConfig(
        provider=config.pop("provider", "openai-compatible"),
        model="imitation-mini",
        base_url=f"{url}/v1",
        api_key=API_KEY,
        name=config.pop("name", "local"),
        max_concurrency=limit,
        **config,
    )
    slot = ProviderSlot(slots, "llm:test", cfg.concurrency) if slots is not None else None
    return LLMClient(cfg, timeout=timeout, slot=slot)


async def generate_many(
    url: str, messages: list[dict[str, str]], n: int, limit: int, timeout: float = 5.0
) -> list[Any]:
    """`n` generations at once through one limiter; each result is the comment or the error."""
    slots = ConcurrencyLimiter()

    async def one() -> Any:
        async with client_for(url, slots, limit, timeout) as client:
            return await generate_comment(client, messages, min_length=50, max_length=5000)

    return await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)


# --- the limiter -----------------------------------------------------------------------------------------


async def test_the_limiter_serves_in_order_and_follows_a_changed_limit() -> None:
    limiter = ConcurrencyLimiter()
    order: list[int] = []
    release = asyncio.Event()

    async def hold(i: int, limit: int) -> None:
        await limiter.acquire("k", limit)
        order.append(i)
        await release.wait()
        limiter.release("k")

    tasks = [asyncio.create_task(hold(i, 2)) for i in range(5)]
    await asyncio.sleep(0.05)
    assert order == [0, 1] and limiter.in_flight("k") == 2 and limiter.waiting("k") == 3
    # A raised limit (provider set --max-concurrency 4) lets the next waiters in at once, in order.
    tasks.append(asyncio.create_task(hold(5, 4)))
    await asyncio.sleep(0.05)
    assert order == [0, 1, 2, 3] and limiter.waiting("k") == 2
    release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4, 5] and limiter.in_flight("k") == 0


async def test_a_waiter_that_gives_up_or_is_cancelled_leaves_no_slot_behind() -> None:
    limiter = ConcurrencyLimiter()
    await limiter.acquire("k", 1)
    with pytest.raises(TimeoutError):
        await limiter.acquire("k", 1, max_wait=0.05)
    cancelled = asyncio.create_task(limiter.acquire("k", 1))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert limiter.waiting("k") == 0
    limiter.release("k")
    assert await limiter.acquire("k", 1, max_wait=0.05) == 0.0


async def test_a_slot_wait_that_runs_out_is_transient_and_says_why() -> None:
    limiter = ConcurrencyLimiter()
    await limiter.acquire("llm:p", 1)
    slot = ProviderSlot(limiter, "llm:p", 1, max_wait=0.05)
    with pytest.raises(LLMTransientError) as info:
        await slot.hold("openai-compatible (m)")
    assert "no free request slot within 0 s" in str(info.value) and "--max-concurrency" in str(info.value)
    assert not slot.held


# --- a small local server over real HTTP --------------------------------------------------------------------


async def test_limit_at_the_capacity_lets_every_generation_through_and_logs_the_wait(
    llm_server: LLMServer, messages: list[dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    state = llm_server.state
    state.capacity, state.latency_ms = 2, 150
    caplog.set_level(logging.INFO, logger="yourmoment.llm.slots")
    results = await generate_many(llm_server.url, messages, 10, limit=2)
    assert [type(r).__name__ for r in results] == ["GeneratedComment"] * 10
    stats = state.stats()
    assert stats["max_in_flight"] == 2 and stats["overloaded"] == 0 and stats["by_status"] == {"200": 10}
    waits = [r.getMessage() for r in caplog.records if r.getMessage().startswith(WAIT_LINE)]
    assert len(waits) == 8 and all("limit=2" in w for w in waits)
    assert not any(ARTICLE_SENTINEL in r.getMessage() or API_KEY in r.getMessage() for r in caplog.records)


async def test_the_wait_for_a_slot_does_not_count_against_the_request_timeout(
    llm_server: LLMServer, messages: list[dict[str, str]]
) -> None:
    llm_server.state.latency_ms = 300
    started = time.monotonic()
    results = await generate_many(llm_server.url, messages, 4, limit=1, timeout=0.6)
    # The last one waited about 0.9 s for its slot, longer than the 0.6 s it may take to answer.
    assert time.monotonic() - started > 1.1
    assert [type(r).__name__ for r in results] == ["GeneratedComment"] * 4


async def test_a_limit_above_the_capacity_floods_and_the_message_names_cause_and_fix(
    llm_server: LLMServer, messages: list[dict[str, str]]
) -> None:
    state = llm_server.state
    state.capacity, state.latency_ms = 2, 150
    results = await generate_many(llm_server.url, messages, 6, limit=6)
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 4 and state.stats()["overloaded"] == 4
    for error in errors:
        text = str(error)
        assert isinstance(error, LLMTransientError) and not isinstance(error, LLMPermanentError)
        assert text.startswith(
            "openai-compatible (imitation-mini): HTTP 500 (Context size has been exceeded.)"
        )
        assert "ran out of context" in text
        assert "starter.py provider set local --max-concurrency 3" in text
        assert "larger -c or fewer --parallel" in text and "lower --max-tokens (now 800)" in text
        assert ARTICLE_SENTINEL not in text and API_KEY not in text
    # The first refusals come while the other requests still run (later ones after they finished).
    busy = (
        r"ran out of context while (1 other request|\d other requests) from this worker w(as|ere) in flight"
    )
    assert any(re.search(busy, str(error)) for error in errors), errors


@pytest.mark.parametrize(
    ("fault", "permanent", "says"),
    [
        ("context", False, ["ran out of context", "--max-concurrency 1", "larger -c or fewer --parallel"]),
        ("context_400", True, ["does not fit the context", "--max-tokens 400", "-c divided by --parallel"]),
        ("vllm_context", True, ["--max-tokens (800) of answer", "vLLM: --max-model-len"]),
        ("loading", False, ["HTTP 503 (Loading model)", "still loading the model"]),
        ("busy", False, ["no free slot", "OLLAMA_NUM_PARALLEL"]),
    ],
)
async def test_what_local_servers_say_about_context_and_slots_becomes_a_fix(
    llm_server: LLMServer, messages: list[dict[str, str]], fault: str, permanent: bool, says: list[str]
) -> None:
    llm_server.state.fail_next(fault)
    async with client_for(llm_server.url, name="mein llama") as client:
        with pytest.raises(LLMTransientError if not permanent else LLMPermanentError) as info:
            await client.complete(messages)
    text = str(info.value)
    assert all(part in text for part in says), text
    if "provider set" in text:
        assert "starter.py provider set 'mein llama' " in text  # pastes as printed
    assert ARTICLE_SENTINEL not in text and len(text) < 700


async def test_a_timeout_with_others_in_flight_points_at_the_load(
    llm_server: LLMServer, messages: list[dict[str, str]]
) -> None:
    llm_server.state.latency_ms = 1500
    results = await generate_many(llm_server.url, messages, 3, limit=3, timeout=0.4)
    texts = [str(r) for r in results]
    assert all(isinstance(r, LLMTransientError) for r in results)
    assert all(t.startswith("openai-compatible (imitation-mini): no answer within 0.4 s") for t in texts)
    assert any("while 2 other requests from this worker were in flight" in t for t in texts), texts
    assert all("raise LLM_TIMEOUT" in t for t in texts)
    assert any("starter.py provider set local --max-concurrency 1" in t for t in texts)


async def test_a_timeout_alone_on_a_local_server_suggests_time_and_tokens(
    llm_server: LLMServer, messages: list[dict[str, str]]
) -> None:
    llm_server.state.fail_next("timeout")
    llm_server.state.timeout_sleep_s = 1.0
    async with client_for(llm_server.url, ConcurrencyLimiter(), timeout=0.3) as client:
        with pytest.raises(LLMTransientError) as info:
            await client.complete(messages)
    assert str(info.value) == (
        "openai-compatible (imitation-mini): no answer within 0.3 s. A local model may need longer, or the "
        "server is busy with other clients. Fix: raise LLM_TIMEOUT; or lower --max-tokens (now 800)."
    )


@pytest.mark.parametrize(
    ("provider", "mode", "expected"),
    [
        ("openai-compatible", None, "text"),
        ("openai-compatible", "json_schema", "json_schema"),
        ("openai", None, "json_schema"),
        ("openai", "off", "text"),
        ("mistral", None, "json_schema"),
    ],
)
async def test_structured_output_is_chosen_per_provider(
    llm_server: LLMServer, messages: list[dict[str, str]], provider: str, mode: str | None, expected: str
) -> None:
    async with client_for(llm_server.url, provider=provider, structured_output=mode) as client:
        result = await generate_comment(client, messages, min_length=50, max_length=5000)
    assert llm_server.state.stats()["response_formats"] == {expected: 1}
    # The imitation answers a JSON schema with JSON; the comment and its reasoning come out of it.
    assert (result.reasoning is not None) is (expected == "json_schema")
    assert "{" not in result.comment_html


def test_the_imitation_capacity_is_set_over_http(llm_server: LLMServer) -> None:
    answer = httpx.post(f"{llm_server.url}/_admin/capacity", json={"capacity": 2})
    assert answer.status_code == 200 and answer.json()["capacity"] == 2
    assert httpx.post(f"{llm_server.url}/_admin/capacity", json={"capacity": 0}).status_code == 400
    assert httpx.post(f"{llm_server.url}/_admin/capacity", json={"capacity": None}).json()["capacity"] is None


# --- the command line ------------------------------------------------------------------------------------

LOCAL_PROVIDER = provider_add("local", "llama3", base_url="http://localhost:8080/v1")


def test_provider_add_set_and_list_show_the_limits(env: CliEnv, run_cli: RunCli) -> None:
    assert run_cli("user", "add", "lehrerin@example.ch").code == 0
    added = run_cli(*LOCAL_PROVIDER)
    assert added.code == 0, added
    added = run_cli(
        *provider_add(
            "gpt", "gpt-4o-mini", "--api-key-stdin", "--max-concurrency", "3", "--structured", "off"
        ),
        stdin=API_KEY,
    )
    assert added.code == 0, added
    rows = {row["name"]: row for row in run_cli("provider", "list", "--json").json()}
    assert (rows["local"]["max_concurrency"], rows["local"]["structured_output"]) == (2, "off")
    assert rows["local"]["defaults"] == ["max_concurrency", "structured_output"]
    assert (rows["gpt"]["max_concurrency"], rows["gpt"]["structured_output"], rows["gpt"]["defaults"]) == (
        3,
        "off",
        [],
    )
    text = run_cli("provider", "list").out
    assert "MAX_CONCURRENCY" in text and "2 (default)" in text and "off (default)" in text

    changed = run_cli(
        "provider",
        "set",
        "local",
        "--max-concurrency",
        "1",
        "--structured",
        "json_schema",
        "--max-tokens",
        "400",
    )
    assert changed.code == 0, changed
    assert changed.out.strip() == (
        "provider 'local' changed: max_tokens 400, max_concurrency 1, structured_output json_schema"
    )
    shown = run_cli("provider", "set", "local", "--max-concurrency", "1", "--json").json()
    assert shown["changed"] == [] and shown["max_concurrency"] == 1 and shown["defaults"] == []
    assert (
        run_cli("provider", "set", "local", "--max-concurrency", "1").out.strip()
        == "provider 'local' unchanged"
    )
    rekeyed = run_cli("provider", "set", "gpt", "--api-key-stdin", stdin="sk-new-key-0000000000")
    assert rekeyed.out.strip() == "provider 'gpt' changed: API key replaced" and "sk-new" not in rekeyed.out
    assert run_cli("provider", "set", "--help").out.count("per worker process") == 1


def test_provider_set_refuses_bad_values_and_changes_nothing(
    any_db_url: str, env: CliEnv, run_cli: RunCli
) -> None:
    assert run_cli("user", "add", "lehrerin@example.ch").code == 0
    assert run_cli(*LOCAL_PROVIDER).code == 0
    before = run_cli("provider", "list", "--json").json()
    bad = run_cli(
        "provider", "set", "local", "--max-tokens", "300", "--max-concurrency", "0", "--structured", "yes"
    )
    assert bad.code == 2 and bad.err.splitlines() == [
        "error: --max-concurrency must be a whole number between 1 and 1000, not 0; "
        "--structured must be json_schema or off, not 'yes'"
    ]
    assert run_cli("provider", "set", "local", "--base-url", "").err.startswith(
        "error: an openai-compatible provider needs --base-url"
    )
    assert run_cli("provider", "list", "--json").json() == before


# --- through the worker ----------------------------------------------------------------------------------


def set_provider(settings: Any, provider_id: str, **changes: Any) -> None:
    with session_scope(settings.database_url) as session:
        row = session.get(LLMProvider, provider_id)
        assert row is not None
        accounts.update_provider(session, Encryptor(settings.yourmoment_encryption_key), row, **changes)


async def generate_through_the_worker(
    dev_env: WorkflowEnvironment, db_url: str, mymoment_server: Any, llm_server: Any, n: int, limit: int
) -> str:
    """A generate-only process over `n` articles with the provider's concurrency at `limit`, run by the real
    worker wiring against an LLM server with 2 slots and 300 ms per answer until all are generated."""
    llm_server.state.capacity, llm_server.state.latency_ms = 2, 300
    settings = fast_settings(
        db_url, mymoment_server.url, temporal_task_queue_prefix=f"pl{uuid.uuid4().hex[:6]}-"
    )
    world = Harness.seed(settings, mymoment_server.state, llm_server.url)
    set_provider(settings, world.provider_id, max_concurrency=limit)
    add_articles(mymoment_server.state, n)
    process_id = world.create_process(generate_only=True)
    world.mark_running(process_id)

    def generated() -> bool:
        with session_scope(db_url) as session:
            return items.counts(session, process_id).generated == n

    async with running_worker(dev_env.client, settings):
        handle = await start_monitoring(dev_env.client, settings, process_id)
        await wait_until(generated, 90, f"{n} comments generated")
        await processes_client.stop(handle)
        await handle.result()
    return process_id


@pytest.mark.slow
async def test_concurrent_items_through_the_worker_queue_for_the_servers_slots(
    dev_env: WorkflowEnvironment,
    db_url: str,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """8 articles at once, worker concurrency 20, a server with 2 slots: all generated, never flooded."""
    caplog.set_level(logging.INFO, logger="yourmoment.llm.slots")
    process_id = await generate_through_the_worker(dev_env, db_url, mymoment_server, llm_server, 8, limit=2)
    stats = llm_server.state.stats()
    assert stats["max_in_flight"] == 2 and stats["overloaded"] == 0
    assert stats["by_status"] == {"200": 8}
    assert any(r.getMessage().startswith(WAIT_LINE) for r in caplog.records)
    with session_scope(db_url) as session:
        assert all(item.error is None for item in items.list_items(session, process_id))


@pytest.mark.slow
async def test_a_limit_above_the_servers_slots_is_retried_with_a_message_that_names_the_fix(
    dev_env: WorkflowEnvironment,
    db_url: str,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The same with the limit at 6: the server refuses, the worker log says why, retries finish the job."""
    caplog.set_level(logging.WARNING, logger="temporalio.activity")
    await generate_through_the_worker(dev_env, db_url, mymoment_server, llm_server, 6, limit=6)
    assert llm_server.state.stats()["overloaded"] > 0
    failures = [str(r.exc_info[1]) for r in caplog.records if r.exc_info and r.exc_info[1] is not None]
    assert failures and all("ran out of context" in f for f in failures), failures
    assert all("--max-concurrency 3" in f and ARTICLE_SENTINEL not in f for f in failures)
