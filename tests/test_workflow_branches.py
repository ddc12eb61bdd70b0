"""Workflow branches end-to-end runs hardly reach: failures, cancellations and the stop's grace period.

The real ArticleCommentWorkflow and MonitoringProcessWorkflow run on the module's dev server (`dev_env`,
tests/conftest.py) with fake activities registered under the real activity names (the methods' names, activities/),
so each test decides what an activity answers and when, and asserts on the calls the fakes recorded.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from functools import partial, wraps
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from workflows.article import ArticleCommentWorkflow
from workflows.monitoring import MonitoringProcessWorkflow, discovery_wait
from workflows.signals import signal_input
from yourmoment import messages
from yourmoment_dev.harness import wait_until

LOGIN_ID = "login-1"
TEMPLATE_ID = "template-1"
PROVIDER_REFUSAL = "the provider refused the prompt (content policy)"
WAIT_SECONDS = 15.0  # real seconds a test waits for one expected step before it fails


def recorded(fake: Callable[[Any, Any], Awaitable[Any]]) -> Callable[[Any, Any], Awaitable[Any]]:
    """`fake` as the activity of its name: each call is recorded first and waits while the test blocks it."""

    @wraps(fake)
    async def activity_fake(self: FakeActivities, inp: BaseModel) -> Any:
        await self._enter(fake.__name__, inp)
        return await fake(self, inp)

    return activity.defn(name=fake.__name__)(activity_fake)


class FakeActivities:
    """Every activity the two workflows call, under its real name; records each call with its input.

    `block(name)` makes that activity wait until `release(name)`: the test decides where a workflow stands
    when a signal or a cancellation reaches it.
    """

    def __init__(self, articles: list[str] | None = None) -> None:
        self.calls: list[tuple[str, BaseModel]] = []
        self.finished: list[str] = []  # posts and process finishes that returned, in order
        self.articles = articles or []
        self.process_id = f"process-{uuid.uuid4().hex[:8]}"
        self.generate_error: ApplicationError | None = None
        self._gates: dict[str, asyncio.Event] = {}
        self._discovered = False
        self.interval = 3600  # one discovery per test: the next one would come after the test is over
        self.budget_waits: list[float] = []  # what the discoveries report waiting for the site's budget
        self.budget_saturated: list[bool] = []  # and whether they gave their turn up (nothing listed)
        self.comment_on_existing = True

    # --- test side ----------------------------------------------------------------------------------

    def block(self, name: str) -> None:
        self._gates[name] = asyncio.Event()

    def release(self, name: str) -> None:
        self._gates[name].set()

    def inputs(self, name: str) -> list[Any]:
        return [inp for called, inp in self.calls if called == name]

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    async def wait_for(
        self, name: str, count: int = 1, where: Callable[[Any], bool] = lambda _: True
    ) -> None:
        await wait_until(
            lambda: len([inp for inp in self.inputs(name) if where(inp)]) >= count,
            WAIT_SECONDS,
            f"{name} called {count} times",
            explain=lambda: f"calls: {self.names()}",
            every=0.05,
        )

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.load_process_config,
            self.record_process,
            self.finish_process,
            self.resume_items,
            self.mark_item,
            self.open_session,
            self.close_sessions,
            self.discover_articles,
            self.prepare_article,
            self.generate_comment,
            self.reserve_post_slot,
            self.post_comment,
        ]

    async def _enter(self, name: str, inp: BaseModel) -> None:
        self.calls.append((name, inp))
        gate = self._gates.get(name)
        if gate is not None:
            await gate.wait()

    # --- the activities -----------------------------------------------------------------------------

    @recorded
    async def load_process_config(self, inp: messages.LoadProcessInput) -> messages.ProcessConfig:
        return messages.ProcessConfig(
            process_id=inp.process_id,
            name="Klasse 82",
            tab="82",
            category_id=None,
            task_id=None,
            search=None,
            logins=[messages.LoginRef(login_id=LOGIN_ID, name="bot-1")],
            prompts=[messages.PromptChoice(template_id=TEMPLATE_ID, weight=1)],
            prompt_mode="weighted",
            generate_only=False,
            hide_comments=False,
            comment_on_existing=self.comment_on_existing,
            discovery_interval_seconds=self.interval,
            max_duration_minutes=60,
            started_at=datetime.now(UTC),
            max_articles=10,
            pace_comments=False,
        )

    @recorded
    async def record_process(self, inp: messages.RecordProcessInput) -> None:
        """The recorded call is all a test looks at."""

    @recorded
    async def finish_process(self, inp: messages.FinishProcessInput) -> messages.FinishProcessResult:
        self.finished.append("finish_process")
        return messages.FinishProcessResult(skipped=0, returned_to_generated=0)

    @recorded
    async def resume_items(self, inp: messages.ResumeItemsInput) -> messages.ResumeItemsResult:
        return messages.ResumeItemsResult(items=[])

    @recorded
    async def mark_item(self, inp: messages.MarkItemInput) -> bool:
        return True

    @recorded
    async def open_session(self, inp: messages.OpenSessionInput) -> messages.OpenSessionResult:
        return messages.OpenSessionResult(login_id=inp.login_id, restored=True)

    @recorded
    async def close_sessions(self, inp: messages.CloseSessionsInput) -> None:
        """The recorded call is all a test looks at."""

    @recorded
    async def discover_articles(self, inp: messages.DiscoverInput) -> messages.DiscoverResult:
        found, self._discovered = ([] if self._discovered else self.articles), True
        items = [
            messages.WorkItemRef(
                item_id=f"item-{article}", login_id=inp.login_id, article_id=article, prompt_slot=""
            )
            for article in found
        ]
        wait = self.budget_waits.pop(0) if self.budget_waits else 0.0
        if self.budget_saturated and self.budget_saturated.pop(0):
            return messages.DiscoverResult(
                listed=0, new_items=[], skipped=0, budget_wait_seconds=wait, budget_saturated=True
            )
        return messages.DiscoverResult(
            listed=len(items), new_items=items, skipped=0, budget_wait_seconds=wait
        )

    @recorded
    async def prepare_article(self, inp: messages.ItemInput) -> messages.PrepareResult:
        return messages.PrepareResult(item_id=inp.item_id, status="prepared")

    @recorded
    async def generate_comment(self, inp: messages.GenerateInput) -> messages.GenerateResult:
        if self.generate_error is not None:
            raise self.generate_error
        return messages.GenerateResult(
            item_id=inp.item_id,
            model="fake",
            prompt_tokens=1,
            completion_tokens=1,
            generation_ms=1,
        )

    @recorded
    async def reserve_post_slot(self, inp: messages.ReserveSlotInput) -> messages.ReserveSlotResult:
        return messages.ReserveSlotResult(wait_seconds=0)

    @recorded
    async def post_comment(self, inp: messages.PostInput) -> messages.PostResultMsg:
        self.finished.append(f"post_comment {inp.item_id}")
        return messages.PostResultMsg(item_id=inp.item_id, outcome="posted", requests=1)


@asynccontextmanager
async def fake_worker(client: Client, fakes: FakeActivities) -> AsyncIterator[str]:
    """Workers on every queue of a fresh prefix, the workflows on the monitoring queue; yields the prefix."""
    prefix = f"wb{uuid.uuid4().hex[:8]}-"
    async with AsyncExitStack() as stack:
        for queue in messages.ALL_QUEUES:
            workflows = (
                [ArticleCommentWorkflow, MonitoringProcessWorkflow]
                if queue == messages.QUEUE_MONITORING
                else []
            )
            worker = Worker(
                client, task_queue=f"{prefix}{queue}", workflows=workflows, activities=fakes.all()
            )
            await stack.enter_async_context(worker)
        try:
            yield prefix
        finally:
            for gate in fakes._gates.values():
                gate.set()  # a blocked fake ends, so the workers shut down at once


async def start_article(
    client: Client, prefix: str, **overrides: Any
) -> WorkflowHandle[Any, messages.ArticleWorkflowResult]:
    inp = messages.ArticleWorkflowInput(
        item_id=f"item-{uuid.uuid4().hex[:8]}",
        process_id="process-1",
        login_id=LOGIN_ID,
        article_id="4711",
        prompt_slot="",
        prompts=[messages.PromptChoice(template_id=TEMPLATE_ID, weight=1)],
        generate_only=False,
        hide=False,
        **overrides,
    )
    return await client.start_workflow(
        ArticleCommentWorkflow.run,
        inp,
        id=f"article-test-{inp.item_id}",
        task_queue=f"{prefix}{messages.QUEUE_MONITORING}",
    )


@asynccontextmanager
async def held_in(
    client: Client,
    fakes: FakeActivities,
    activity_name: str,
    start: Callable[[str], Awaitable[WorkflowHandle[Any, Any]]],
    count: int = 1,
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    """The fakes' workers running, a workflow started by `start(prefix)`; yields its handle once `count`
    calls of `activity_name` are held there (until `fakes.release`)."""
    fakes.block(activity_name)
    async with fake_worker(client, fakes) as prefix:
        handle = await start(prefix)
        await fakes.wait_for(activity_name, count=count)
        yield handle


async def cancellation_handled(handle: WorkflowHandle[Any, Any]) -> None:
    """Waits until the workflow has completed a workflow task after its cancel request (it saw the cancel)."""

    async def handled() -> bool:
        kinds = [event.event_type async for event in handle.fetch_history_events()]
        if EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED not in kinds:
            return False
        after = kinds[kinds.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED) :]
        return EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED in after

    await wait_until(handled, WAIT_SECONDS, "the workflow to handle its cancel request", every=0.05)


# --- ArticleCommentWorkflow ----------------------------------------------------------------------------


async def test_a_permanent_generate_failure_marks_the_item_failed_with_its_message(
    dev_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities()
    fakes.generate_error = ApplicationError(PROVIDER_REFUSAL, type="LLMPermanentError", non_retryable=True)
    async with fake_worker(dev_env.client, fakes) as prefix:
        handle = await start_article(dev_env.client, prefix)
        result = await handle.result()
    item_id = handle.id.removeprefix("article-test-")
    assert result == messages.ArticleWorkflowResult(item_id=item_id, status="failed", error=PROVIDER_REFUSAL)
    assert fakes.names() == ["prepare_article", "generate_comment", "mark_item"]  # not retried, never posted
    assert fakes.inputs("mark_item") == [
        messages.MarkItemInput(
            item_id=item_id,
            status="failed",
            reason=PROVIDER_REFUSAL,
            only_from=["discovered", "prepared", "generated", "posting"],
        )
    ]


async def test_cancelled_while_preparing_skips_only_unfinished_work_and_ends_cancelled(
    dev_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities()
    async with held_in(
        dev_env.client, fakes, "prepare_article", partial(start_article, dev_env.client)
    ) as handle:
        assert await handle.query(ArticleCommentWorkflow.stage) == "preparing"
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    assert fakes.names() == ["prepare_article", "mark_item"]
    [mark] = fakes.inputs("mark_item")
    assert (mark.status, mark.only_from) == ("skipped", ["discovered", "prepared"])
    assert mark.item_id == handle.id.removeprefix("article-test-")


async def test_cancelled_while_posting_the_post_completes_and_its_result_counts(
    dev_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities()
    start = partial(start_article, dev_env.client, pace_comments=True)
    async with held_in(dev_env.client, fakes, "post_comment", start) as handle:
        await handle.cancel()
        await cancellation_handled(handle)  # the cancel reached the workflow while the post was in flight
        assert fakes.finished == []
        fakes.release("post_comment")
        result = await handle.result()
    item_id = handle.id.removeprefix("article-test-")
    assert result == messages.ArticleWorkflowResult(item_id=item_id, status="posted")
    assert fakes.names() == ["prepare_article", "generate_comment", "reserve_post_slot", "post_comment"]
    assert fakes.finished == [f"post_comment {item_id}"]  # shielded: it ran to its end, no mark_item after it


# --- MonitoringProcessWorkflow -------------------------------------------------------------------------


async def start_monitor(
    client: Client, prefix: str, fakes: FakeActivities, grace_seconds: float
) -> WorkflowHandle[Any, messages.MonitorResult]:
    return await client.start_workflow(
        MonitoringProcessWorkflow.run,
        messages.MonitorInput(
            process_id=fakes.process_id,
            grace_seconds=grace_seconds,
            use_search_attributes=False,
        ),
        id=messages.workflow_id_for_process(fakes.process_id),
        task_queue=f"{prefix}{messages.QUEUE_MONITORING}",
    )


async def test_stop_lets_in_flight_articles_finish_within_the_grace_period(
    dev_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(articles=["101", "102"])
    start = partial(start_monitor, dev_env.client, fakes=fakes, grace_seconds=60)
    reason = "the lesson is over"
    # Held in generation, which a cancelled child would abandon (a post is shielded and would finish anyway).
    async with held_in(dev_env.client, fakes, "generate_comment", start, count=2) as handle:
        drain = messages.StopRequest(reason=reason, drain=True)  # the queued posts go out first
        await handle.signal(MonitoringProcessWorkflow.stop, signal_input(drain))
        # Stopping, it tells the database and waits for its children instead of finishing the process.
        await fakes.wait_for("record_process", where=lambda inp: inp.status == "stopping")
        await asyncio.sleep(1.0)  # long enough for a premature finish to show
        assert "finish_process" not in fakes.names()
        fakes.release("generate_comment")
        result = await handle.result()
    assert (result.status, result.reason) == ("stopped", reason)
    assert (result.counts.discovered, result.counts.posted, result.counts.skipped) == (2, 2, 0)
    assert sorted(fakes.finished[:2]) == ["post_comment item-101", "post_comment item-102"]
    assert fakes.finished[2:] == ["finish_process"]  # finished only after both posts
    assert fakes.inputs("mark_item") == []  # nothing was cut short
    assert fakes.inputs("close_sessions") == [messages.CloseSessionsInput(login_ids=[LOGIN_ID])]
    [finish] = fakes.inputs("finish_process")
    assert (finish.process_id, finish.status, finish.reason) == (fakes.process_id, "stopped", reason)
    assert [login.state for login in finish.logins] == ["ready"]


async def test_stop_cancels_articles_still_unfinished_when_the_grace_period_ends(
    dev_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(articles=["201"])
    start = partial(start_monitor, dev_env.client, fakes=fakes, grace_seconds=1)
    async with held_in(dev_env.client, fakes, "prepare_article", start) as handle:
        await handle.signal(MonitoringProcessWorkflow.stop, signal_input(messages.StopRequest()))
        result = await handle.result()
    assert (result.status, result.reason) == ("stopped", messages.StopRequest().reason)
    assert result.counts.skipped == 1 and result.counts.posted == 0
    assert "generate_comment" not in fakes.names()
    [mark] = fakes.inputs("mark_item")  # the cancelled child skipped its item before the process finished
    assert (mark.item_id, mark.status, mark.only_from) == ("item-201", "skipped", ["discovered", "prepared"])
    assert fakes.names().index("mark_item") < fakes.names().index("finish_process")
    [finish] = fakes.inputs("finish_process")
    assert (finish.status, finish.reason) == ("stopped", messages.StopRequest().reason)


# --- discovery and the site's budget -------------------------------------------------------------------


async def test_discovery_slows_while_the_site_budget_is_saturated_and_recovers(
    dev_env: WorkflowEnvironment,
) -> None:
    """A discovery that gave its long turn up stretches the interval, and says so, but tries again once the
    queue it saw has drained (within as long again); a quick one brings the configured interval back."""
    fakes = FakeActivities()
    fakes.interval = 60
    fakes.budget_waits = [45.0, 0.0]  # over max(2 s, 60 s / 4), then under half of it
    fakes.budget_saturated = [True, False]  # the first gave its turn up: nothing listed

    async def status_after(runs: int) -> messages.MonitorStatus:
        async def ran() -> bool:
            s = await handle.query(MonitoringProcessWorkflow.status)
            return s.discovery_runs >= runs and s.next_discovery_at is not None

        await wait_until(ran, WAIT_SECONDS, f"{runs} discovery runs", every=0.05)
        return await handle.query(MonitoringProcessWorkflow.status)

    async with fake_worker(dev_env.client, fakes) as prefix:
        handle = await start_monitor(dev_env.client, prefix, fakes, grace_seconds=5)
        saturated = await status_after(1)
        assert saturated.discovery_note == "discovery slowed: site budget saturated"
        assert saturated.empty_streak == 0  # a run that listed nothing is no empty run
        assert saturated.last_discovery_at is not None and saturated.next_discovery_at is not None
        # Stretched to 120 s (60 s · 2), but the retry comes 45 s (the wait it saw) to 90 s later.
        assert 45 <= (saturated.next_discovery_at - saturated.last_discovery_at).total_seconds() < 90
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert "discovery slowed: site budget saturated" in metadata.current_details
        await handle.signal(MonitoringProcessWorkflow.discover_now)
        freed = await status_after(2)
        assert freed.discovery_note is None
        assert freed.last_discovery_at is not None and freed.next_discovery_at is not None
        # Back to the configured pace: the plain backoff of empty runs (60 s · 2^(streak−1)), no stretch.
        wait = (freed.next_discovery_at - freed.last_discovery_at).total_seconds()
        assert wait == discovery_wait(60, freed.empty_streak) < 240
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert "site budget" not in metadata.current_details
        await handle.signal(MonitoringProcessWorkflow.stop, signal_input(messages.StopRequest(reason="done")))
        await handle.result()


async def test_processes_that_gave_their_turns_up_together_come_back_apart(
    dev_env: WorkflowEnvironment,
) -> None:
    """Two processes give up with the same wait ahead: each draws its own share of it (workflow.random()),
    so a wave of processes does not come back as the next wave."""

    async def retry_gap() -> float:
        fakes = FakeActivities()
        fakes.interval = 600
        fakes.budget_waits, fakes.budget_saturated = [200.0], [True]
        async with fake_worker(dev_env.client, fakes) as prefix:
            handle = await start_monitor(dev_env.client, prefix, fakes, grace_seconds=5)

            async def waiting() -> bool:
                return (await handle.query(MonitoringProcessWorkflow.status)).next_discovery_at is not None

            await wait_until(waiting, WAIT_SECONDS, "the first discovery", every=0.05)
            status = await handle.query(MonitoringProcessWorkflow.status)
            await handle.signal(
                MonitoringProcessWorkflow.stop, signal_input(messages.StopRequest(reason="done"))
            )
            await handle.result()
        assert status.last_discovery_at is not None and status.next_discovery_at is not None
        return (status.next_discovery_at - status.last_discovery_at).total_seconds()

    gaps = [await retry_gap(), await retry_gap()]
    assert all(200 <= gap < 400 for gap in gaps)  # after the 200 s it saw, before as long again
    assert gaps[0] != gaps[1]


async def test_a_saturated_discovery_records_no_baseline(dev_env: WorkflowEnvironment) -> None:
    """comment_on_existing off: a run that could not list leaves the baseline to the next run."""
    fakes = FakeActivities()
    fakes.comment_on_existing = False
    fakes.budget_waits, fakes.budget_saturated = [30.0], [True]
    async with fake_worker(dev_env.client, fakes) as prefix:
        handle = await start_monitor(dev_env.client, prefix, fakes, grace_seconds=5)
        await fakes.wait_for("discover_articles")
        await handle.signal(MonitoringProcessWorkflow.discover_now)
        await fakes.wait_for("discover_articles", count=2)
        await handle.signal(MonitoringProcessWorkflow.stop, signal_input(messages.StopRequest(reason="done")))
        await handle.result()
    assert [inp.baseline for inp in fakes.inputs("discover_articles")] == [True, True]
