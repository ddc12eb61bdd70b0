"""Workflow behaviour on Temporal's time-skipping test server, with real activities, imitations and SQLite.

A 24-hour process runs in seconds: timers are skipped, while every activity does its real HTTP and
database work against the imitation servers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from imitation import llm_server, mymoment
from tests.conftest import migrated_sqlite
from workflows.article import pick_prompt
from workflows.monitoring import (
    adaptive_discovery_wait,
    discovery_wait,
    next_budget_stretch,
    retry_after_give_up,
)
from yourmoment import processes_client
from yourmoment.messages import (
    MonitorInput,
    MonitorResult,
    MonitorStatus,
    PostInput,
    PostResultMsg,
    PromptChoice,
    StatusCounts,
)
from yourmoment.processes_client import MonitoringHandle
from yourmoment.store import items
from yourmoment.store.db import session_scope
from yourmoment.store.models import MonitoringProcess
from yourmoment_dev.harness import (
    Harness,
    Imitations,
    add_articles,
    fast_settings,
    running_worker,
    wait_until,
)

PREFIX = "[Dieser Kommentar stammt von einem KI-ChatBot.]"


@pytest.fixture
def servers() -> Iterator[tuple[mymoment.MyMomentState, llm_server.LLMState, str, str]]:
    mm_state, llm_state = mymoment.MyMomentState(), llm_server.LLMState()
    with Imitations(mm_state, llm_state) as imitations:
        yield mm_state, llm_state, imitations.mm_url, imitations.llm_url


@pytest.fixture
def mm_state(servers: tuple[mymoment.MyMomentState, llm_server.LLMState, str, str]) -> mymoment.MyMomentState:
    return servers[0]


@pytest.fixture
def llm_state(servers: tuple[mymoment.MyMomentState, llm_server.LLMState, str, str]) -> llm_server.LLMState:
    return servers[1]


@pytest.fixture
def world_factory(
    tmp_path: Path, servers: tuple[mymoment.MyMomentState, llm_server.LLMState, str, str]
) -> Callable[..., Harness]:
    mm_state, _llm_state, mm_url, llm_url = servers
    db_url = migrated_sqlite(tmp_path / "test.db")

    def make(**kw: Any) -> Harness:
        settings = fast_settings(
            db_url, mm_url, temporal_task_queue_prefix=f"t{uuid.uuid4().hex[:8]}-", **kw.pop("settings", {})
        )
        return Harness.seed(settings, mm_state, llm_url, **kw)

    return make


@pytest.fixture
def world(world_factory: Callable[..., Harness]) -> Harness:
    """A world with the factory's defaults."""
    return world_factory()


async def start(env: WorkflowEnvironment, world: Harness, process_id: str, **kw: Any) -> MonitoringHandle:
    world.mark_running(process_id)
    return await processes_client.start_monitoring(
        env.client,
        world.settings,
        process_id,
        inp=MonitorInput(process_id=process_id, use_search_attributes=False, **kw),
    )


async def started_and_discovered(
    env: WorkflowEnvironment, world: Harness, process_id: str, **kw: Any
) -> MonitoringHandle:
    """`start`, returning once the first discovery has run."""
    handle = await start(env, world, process_id, **kw)
    await wait_until(lambda: _runs(handle, 1), what="first discovery")
    return handle


@asynccontextmanager
async def running_process(
    env: WorkflowEnvironment, world: Harness, process_id: str, *, discovered: bool = False, **kw: Any
) -> AsyncIterator[MonitoringHandle]:
    """A worker running, the process started on it (and its first discovery run, if `discovered`)."""
    async with running_worker(env.client, world.settings):
        yield await (started_and_discovered if discovered else start)(env, world, process_id, **kw)


async def stopped(handle: MonitoringHandle) -> MonitorResult:
    """Stops the process and returns its result once it has ended."""
    await processes_client.stop(handle)
    return await handle.result()


async def status_of(handle: MonitoringHandle) -> MonitorStatus:
    return await processes_client.status(handle)


def db_counts(world: Harness, process_id: str) -> StatusCounts:
    with session_scope(world.settings.database_url) as session:
        return items.counts(session, process_id)


def process_row(world: Harness, process_id: str) -> MonitoringProcess:
    with session_scope(world.settings.database_url) as session:
        row = session.get(MonitoringProcess, process_id)
        assert row is not None
        return row


# --- pure workflow logic -----------------------------------------------------------------------------


def test_backoff_doubles_and_caps() -> None:
    assert [discovery_wait(60, s) for s in range(7)] == [60, 60, 120, 240, 480, 600, 600]


def test_pick_prompt_follows_weights() -> None:
    prompts = [PromptChoice(template_id="a", weight=3), PromptChoice(template_id="b", weight=1)]
    picks = Counter(pick_prompt(prompts, i / 1000) for i in range(1000))
    assert picks == {"a": 750, "b": 250}


def test_a_saturated_budget_stretches_discovery_within_the_backoff_cap_and_frees_again() -> None:
    stretch, waits = 0, []
    for _ in range(6):  # every run waited 30 s for its turn (the threshold at 60 s is 15 s)
        stretch = next_budget_stretch(stretch, 30.0, 60)
        waits.append(adaptive_discovery_wait(60, 0, stretch))
    assert waits == [120, 240, 480, 600, 600, 600]
    assert next_budget_stretch(stretch, 10.0, 60) == stretch  # between half the threshold and it: held
    for _ in range(stretch):
        stretch = next_budget_stretch(stretch, 1.0, 60)
    assert (stretch, adaptive_discovery_wait(60, 0, stretch)) == (0, 60)
    # The backoff of empty runs still applies when it is the longer wait; a 1 s interval is stretched too.
    assert adaptive_discovery_wait(60, 4, 1) == 480
    assert next_budget_stretch(0, 2.5, 1) == 2  # 1 s · 2² ≥ the 2.5 s it waited
    # A first discovery that waited 500 s at a 10 s interval stretches at once to the cap (10 · 2^6 ≥ 600).
    assert adaptive_discovery_wait(10, 0, next_budget_stretch(0, 500.0, 10)) == 600


def test_a_discovery_that_gave_up_comes_back_after_the_queue_it_saw_spread_over_as_long_again() -> None:
    # 1,000 processes of one wave saw waits from 5 s to 60 s for a turn; each comes back after its wait
    # plus a random share of it (the draw), never later than the wait of its (capped) interval.
    assert [round(retry_after_give_up(40.0, 600.0, draw), 2) for draw in (0.0, 0.5, 0.999)] == [40, 60, 79.96]
    # A wait past half the interval's wait: from half of it, so the random share still spreads the
    # processes that saw long waits (between 300 s and 600 s here), and never later than the interval.
    assert [retry_after_give_up(500.0, 600.0, draw) for draw in (0.0, 0.999)] == [300.0, 599.7]
    assert retry_after_give_up(0.5, 600.0, 0.0) == 2.0  # a turn just out of reach: the minimum wait


# --- time-skipping runs --------------------------------------------------------------------------------


async def test_day_long_process_backs_off_and_completes(
    ts_env: WorkflowEnvironment, world: Harness, mm_state: mymoment.MyMomentState
) -> None:
    process_id = world.create_process(max_duration_minutes=1440, generate_only=True)
    async with running_process(ts_env, world, process_id) as handle:
        result = await handle.result()
    assert result.status == "completed" and result.reason == "max_duration"
    # Empty runs at 0, 60, 180, 420, 900, then every 600 s (capped) until the 24 h deadline.
    expected = 5 + len(range(1500, 86400, 600))
    assert mm_state.stats()["by_kind"]["list"] == expected
    row = process_row(world, process_id)
    assert row.status == "completed" and row.stop_reason == "max_duration"


async def test_hit_resets_backoff_and_items_are_generated(
    ts_env: WorkflowEnvironment, world: Harness, mm_state: mymoment.MyMomentState
) -> None:
    process_id = world.create_process(max_duration_minutes=60, generate_only=True)
    async with running_process(ts_env, world, process_id, discovered=True) as handle:
        await ts_env.sleep(timedelta(seconds=200))  # runs at 0, 60, 180: streak 3, next at 420
        assert (await status_of(handle)).discovery_runs == 3
        add_articles(mm_state, 2)
        await ts_env.sleep(timedelta(seconds=230))  # the run at 420 finds them: streak reset
        await wait_until(lambda: _generated(world, process_id, 2), what="two generated comments")
        status = await status_of(handle)
        assert status.empty_streak == 0 and status.discovery_runs == 4
        await ts_env.sleep(timedelta(seconds=61))  # plain interval again after a hit
        assert (await status_of(handle)).discovery_runs == 5
        result = await stopped(handle)
    assert result.status == "stopped"
    assert db_counts(world, process_id).generated == 2
    assert mm_state.all_comments() == []  # generate-only never posts


async def test_posting_process_posts_each_article_once_with_prefix(
    ts_env: WorkflowEnvironment, world: Harness, mm_state: mymoment.MyMomentState
) -> None:
    article_ids = add_articles(mm_state, 3)
    process_id = world.create_process(max_duration_minutes=30, hide_comments=True)
    async with running_process(ts_env, world, process_id) as handle:
        await wait_until(lambda: _posted(world, process_id, 3), what="three posted comments")
        await stopped(handle)
    for article_id in article_ids:
        comments = mm_state.comments_for(article_id)
        assert len(comments) == 1
        assert comments[0]["text"].startswith(f"<p>{PREFIX}</p>")
        assert comments[0]["hidden"] is True  # the process's hide flag reached the POST
    # Steady state: one article GET, the POST and its redirect per comment; one login, one list.
    by_kind = mm_state.stats()["by_kind"]
    assert by_kind["article"] == 3 and by_kind["post"] == 3 and by_kind["redirect"] == 3
    assert by_kind["probe"] == 0


async def test_stop_finishes_in_flight_posts_and_skips_the_rest(
    ts_env: WorkflowEnvironment,
    world: Harness,
    mm_state: mymoment.MyMomentState,
    llm_state: llm_server.LLMState,
) -> None:
    add_articles(mm_state, 4)
    llm_state.latency_ms = 1500  # generation is slow, so a stop catches items mid-way
    process_id = world.create_process(max_duration_minutes=30)
    async with running_process(ts_env, world, process_id, discovered=True, grace_seconds=0.5) as handle:
        result = await stopped(handle)
    assert result.status == "stopped"
    counts = db_counts(world, process_id)
    assert counts.discovered == counts.prepared == counts.posting == 0
    assert counts.posted + counts.skipped + counts.generated == 4
    row = process_row(world, process_id)
    assert row.status == "stopped" and row.stop_reason == "stopped by user"
    for article_id in mm_state.articles:
        assert len(mm_state.comments_for(article_id)) <= 1


async def test_cancellation_cleans_up_like_stop(
    ts_env: WorkflowEnvironment,
    world: Harness,
    mm_state: mymoment.MyMomentState,
    llm_state: llm_server.LLMState,
) -> None:
    add_articles(mm_state, 3)
    llm_state.latency_ms = 1500
    process_id = world.create_process(max_duration_minutes=30)
    async with running_process(ts_env, world, process_id, discovered=True, grace_seconds=0.5) as handle:
        await handle.cancel()
        result = await handle.result()
    assert result.status == "stopped" and result.reason == "cancelled"
    counts = db_counts(world, process_id)
    assert counts.discovered == counts.prepared == counts.posting == 0
    assert process_row(world, process_id).status == "stopped"


async def test_a_stop_while_a_run_waits_to_continue_as_new_ends_the_process(
    ts_env: WorkflowEnvironment,
    world: Harness,
    mm_state: mymoment.MyMomentState,
    llm_state: llm_server.LLMState,
) -> None:
    """A run that continues as new first waits for its article children; a stop received then is not
    left behind with the old run (the next one would run on until its deadline): the process stops."""
    add_articles(mm_state, 2)
    llm_state.latency_ms = 8000  # the children outlast the 5 s discovery interval
    process_id = world.create_process(discovery_interval_seconds=5, max_duration_minutes=30)
    async with running_process(ts_env, world, process_id, events_before_continue=1) as handle:
        first_run = (await handle.describe()).run_id

        async def interval_over_with_children_running() -> bool:
            events = [event async for event in handle.fetch_history_events()]
            fired = any(event.HasField("timer_fired_event_attributes") for event in events)
            return fired and db_counts(world, process_id).generated < 2

        await wait_until(interval_over_with_children_running, 30, "the interval over, children running")
        result = await asyncio.wait_for(stopped(handle), 60)
        assert (await handle.describe()).run_id == first_run  # ended, not continued as new
    assert result.status == "stopped" and result.reason == "stopped by user"
    assert process_row(world, process_id).status == "stopped"


async def test_a_run_continues_as_new_once_its_history_is_full(
    ts_env: WorkflowEnvironment, world: Harness
) -> None:
    """Idle runs stay short (the worker's memory per cached run grows with its history): a run continues
    as new at the first discovery after `events_before_continue` events, and the next run goes on counting."""
    limit = 60
    process_id = world.create_process(discovery_interval_seconds=5, max_duration_minutes=600)
    async with running_process(ts_env, world, process_id, events_before_continue=limit) as handle:
        first_run = (await handle.describe()).run_id

        async def continued() -> bool:
            await ts_env.sleep(timedelta(minutes=2))  # the idle backoff's waits, skipped
            return (await handle.describe()).run_id != first_run

        await wait_until(continued, 60, "a continue-as-new")
        old_run = ts_env.client.get_workflow_handle(handle.id, run_id=first_run)
        first = [e async for e in old_run.fetch_history_events()]
        discoveries = sum(1 for e in first if e.HasField("timer_fired_event_attributes"))
        assert discoveries >= 2  # idle runs: several discoveries fit in 60 events
        # It ended at the first check past the limit: one discovery's events at most beyond it.
        assert limit <= len(first) < limit + 25
        assert first[-1].HasField("workflow_execution_continued_as_new_event_attributes")
        await ts_env.sleep(timedelta(hours=1))
        await wait_until(lambda: _runs(handle, discoveries + 2), 60, "discoveries in the next run")


async def test_pause_and_resume(
    ts_env: WorkflowEnvironment, world: Harness, mm_state: mymoment.MyMomentState
) -> None:
    process_id = world.create_process(max_duration_minutes=600, generate_only=True)
    async with running_process(ts_env, world, process_id, discovered=True) as handle:
        await processes_client.send(handle, "pause")
        await wait_until(lambda: _paused(handle), what="paused")
        await ts_env.sleep(timedelta(hours=2))
        assert (await status_of(handle)).discovery_runs == 1
        lists_before = mm_state.stats()["by_kind"]["list"]
        await processes_client.send(handle, "resume")
        await wait_until(lambda: _runs(handle, 2), what="discovery after resume")
        assert mm_state.stats()["by_kind"]["list"] == lists_before + 1
        await processes_client.send(handle, "discover_now")
        await wait_until(lambda: _runs(handle, 3), what="discover_now")
        assert (await stopped(handle)).status == "stopped"


async def test_details_follow_every_state_change(ts_env: WorkflowEnvironment, world: Harness) -> None:
    """The Web UI's current details change with pause, resume and stop, not only after a discovery."""
    process_id = world.create_process(max_duration_minutes=600, generate_only=True)
    async with running_process(ts_env, world, process_id, discovered=True) as handle:
        name = (await status_of(handle)).name
        assert (await details_of(handle)).startswith(f"{name}: running\n")
        await processes_client.send(handle, "pause")
        paused = f"{name}: running (paused)\n"
        await wait_until(lambda: _details_start(handle, paused), what="paused in the details")
        assert "next -" in await details_of(handle)  # no stale next discovery
        await processes_client.send(handle, "resume")
        await wait_until(lambda: _details_start(handle, f"{name}: running\n"), what="resumed in the details")
        assert (await stopped(handle)).status == "stopped"
        details = await details_of(handle)
        assert details.startswith(f"{name}: stopped; stop reason: ")
        assert "since start: " in details and "all runs (database, as of the last discovery): " in details


async def test_bad_credentials_reported_and_left_out(
    ts_env: WorkflowEnvironment, world_factory: Callable[..., Harness], mm_state: mymoment.MyMomentState
) -> None:
    world = world_factory(logins=("good",), bad_logins=("bad",))
    add_articles(mm_state, 1)
    process_id = world.create_process(logins=["good", "bad"], max_duration_minutes=30, generate_only=True)
    async with running_process(ts_env, world, process_id) as handle:
        await wait_until(lambda: _generated(world, process_id, 1), what="one generated comment")
        status = await status_of(handle)
        states = {login.name: login.state for login in status.logins}
        assert states == {"good": "ready", "bad": "failed"}
        bad = next(login for login in status.logins if login.name == "bad")
        assert bad.error and "right-password" not in bad.error and "wrong-password" not in bad.error
        await stopped(handle)


async def test_only_bad_credentials_fails_the_process(
    ts_env: WorkflowEnvironment, world_factory: Callable[..., Harness]
) -> None:
    world = world_factory(logins=(), bad_logins=("bad",))
    process_id = world.create_process(logins=["bad"], max_duration_minutes=30)
    async with running_process(ts_env, world, process_id) as handle:
        result = await handle.result()
    assert result.status == "failed" and "bad" in result.reason
    row = process_row(world, process_id)
    assert row.status == "failed" and "bad" in (row.last_error or "")


async def test_prompt_weights_respected_over_many_articles(
    ts_env: WorkflowEnvironment, world: Harness, mm_state: mymoment.MyMomentState
) -> None:
    articles = 60
    add_articles(mm_state, articles)
    first, second = world.template_ids[:2]
    process_id = world.create_process(
        prompts=[(first, 3.0), (second, 1.0)], generate_only=True, max_duration_minutes=30
    )
    world.settings.max_articles_per_request = articles
    async with running_process(ts_env, world, process_id) as handle:
        await wait_until(
            lambda: _generated(world, process_id, articles), timeout=90, what="every comment generated"
        )
        await stopped(handle)
    with session_scope(world.settings.database_url) as session:
        used = Counter(i.prompt_template_id for i in items.list_items(session, process_id))
    assert used[first] + used[second] == articles
    # The exact distribution is test_pick_prompt_follows_weights' job; here the workflow's own
    # random roll must reach pick_prompt. With 3:1 weights over 60 articles the first template
    # wins the majority except about once in 37,000 runs (a 2:1 margin over 40 failed once in 40).
    assert used[second] > 0 and used[first] > used[second]


async def test_generate_only_then_post_reviewed_comments_once(
    ts_env: WorkflowEnvironment, world: Harness, mm_state: mymoment.MyMomentState
) -> None:
    add_articles(mm_state, 2)
    process_id = world.create_process(max_duration_minutes=30, generate_only=True)
    prefix = world.settings.temporal_task_queue_prefix
    async with running_process(ts_env, world, process_id) as handle:
        await wait_until(lambda: _generated(world, process_id, 2), what="two generated comments")
        await stopped(handle)
        assert mm_state.all_comments() == []
        with session_scope(world.settings.database_url) as session:
            generated = [(i.id, i.login_id) for i in items.list_items(session, process_id, "generated")]
        outcomes = []
        for _round in range(2):  # posting the same reviewed comment twice posts it once
            for item_id, login_id in generated:
                result = await ts_env.client.execute_workflow(
                    "PostCommentWorkflow",
                    args=[PostInput(item_id=item_id, hide=False), login_id, prefix],
                    id=f"post-{item_id}-{_round}",
                    task_queue=f"{prefix}monitoring",
                    result_type=PostResultMsg,
                )
                outcomes.append(result.outcome)
    assert outcomes == ["posted", "posted", "already_posted", "already_posted"]
    assert all(len(mm_state.comments_for(a)) == 1 for a in mm_state.articles)
    assert db_counts(world, process_id).posted == 2


async def test_login_comments_once_across_processes(
    ts_env: WorkflowEnvironment, world: Harness, mm_state: mymoment.MyMomentState
) -> None:
    add_articles(mm_state, 2)
    first = world.create_process(max_duration_minutes=30)
    second = world.create_process(max_duration_minutes=30)
    async with running_worker(ts_env.client, world.settings):
        handle = await start(ts_env, world, first)
        await wait_until(lambda: _posted(world, first, 2), what="first process posts")
        await stopped(handle)
        handle = await start(ts_env, world, second)
        await wait_until(lambda: db_counts(world, second).skipped >= 2, what="second process skips")
        await stopped(handle)
    assert all(len(mm_state.comments_for(a)) == 1 for a in mm_state.articles)
    assert db_counts(world, second).posted == 0


async def test_comment_pacing_waits_on_durable_timers(
    ts_env: WorkflowEnvironment, world_factory: Callable[..., Harness], mm_state: mymoment.MyMomentState
) -> None:
    """One login posts once per COMMENT_RATE_LIMIT_SECONDS: later posts wait on timers, not in a loop.

    The client checks the interval once more in real time right before each POST (the site's clock,
    not the skipped one), so the interval here is short enough to be waited for in real time too.
    """
    world = world_factory(settings={"comment_rate_limit_seconds": 5})
    add_articles(mm_state, 3)
    process_id = world.create_process(max_duration_minutes=30)
    async with running_process(ts_env, world, process_id) as handle:
        await wait_until(lambda: _posted(world, process_id, 1), what="the first post")
        await ts_env.sleep(timedelta(seconds=12))  # virtual time for the two later slots
        await wait_until(lambda: _posted(world, process_id, 3), what="three paced posts")
        await stopped(handle)
        with session_scope(world.settings.database_url) as session:
            refs = [(i.login_id, i.mymoment_article_id) for i in items.list_items(session, process_id)]
        waits = []
        for login_id, article_id in refs:
            history = await ts_env.client.get_workflow_handle(
                f"article-{process_id}-{login_id}-{article_id}"
            ).fetch_history()
            waits += [
                e.timer_started_event_attributes.start_to_fire_timeout.ToSeconds()
                for e in history.events
                if e.HasField("timer_started_event_attributes")
            ]
    assert len(waits) == 2  # the first post goes at once, the next two wait for their slots
    assert sorted(round(w / 5) for w in waits) == [1, 2]


# --- helpers -----------------------------------------------------------------------------------------


async def _runs(handle: MonitoringHandle, n: int) -> bool:
    return (await status_of(handle)).discovery_runs >= n


async def details_of(handle: MonitoringHandle) -> str:
    """The workflow's current details, as the Web UI reads them (the SDK's metadata query)."""
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def _details_start(handle: MonitoringHandle, prefix: str) -> bool:
    return (await details_of(handle)).startswith(prefix)


async def _paused(handle: MonitoringHandle) -> bool:
    return (await status_of(handle)).paused


def _generated(world: Harness, process_id: str, n: int) -> bool:
    return db_counts(world, process_id).generated >= n


def _posted(world: Harness, process_id: str, n: int) -> bool:
    return db_counts(world, process_id).posted >= n


_ = asyncio
