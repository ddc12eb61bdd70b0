"""Starting and talking to the workflows through their classes: the CLI, benchmarks and tests do it here.

Workflows, signals and queries are named by their methods (`MonitoringProcessWorkflow.stop`), never by
strings, so a rename is a type error and every answer comes back as its model (`MonitorStatus`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from workflows.monitoring import MonitoringProcessWorkflow
from workflows.post import PostCommentWorkflow, workflow_id_for_post
from workflows.regenerate import RegenerateCommentWorkflow, workflow_id_for_regenerate
from workflows.signals import signal_input
from yourmoment.messages import (
    QUEUE_MONITORING,
    MonitorInput,
    MonitorResult,
    MonitorStatus,
    PostInput,
    PostResultMsg,
    RegenerateInput,
    RegenerateResult,
    StopRequest,
    workflow_id_for_process,
)
from yourmoment.settings import Settings
from yourmoment.temporal_checks import process_search_attributes

MonitoringHandle = WorkflowHandle[MonitoringProcessWorkflow, MonitorResult]
# The signals a user sends by name (`starter.py pause|resume|discover-now`; `stop` carries a request).
PlainSignal = Literal["pause", "resume", "discover_now"]
PLAIN_SIGNALS = {
    "pause": MonitoringProcessWorkflow.pause,
    "resume": MonitoringProcessWorkflow.resume,
    "discover_now": MonitoringProcessWorkflow.discover_now,
}


async def start_monitoring(
    client: Client,
    settings: Settings,
    process_id: str,
    *,
    summary: str | None = None,
    name: str = "",
    inp: MonitorInput | None = None,
) -> MonitoringHandle:
    """Starts a process's workflow on this deployment's monitoring queue; fails if it runs already.
    `inp` overrides the defaults (tests shorten the grace period or the run length, or run without
    search attributes on a server that lacks them)."""
    inp = inp or MonitorInput(
        process_id=process_id, use_search_attributes=settings.temporal_search_attributes
    )
    use_attributes = inp.use_search_attributes
    return await client.start_workflow(
        MonitoringProcessWorkflow.run,
        inp,
        id=workflow_id_for_process(process_id),
        task_queue=settings.task_queue(QUEUE_MONITORING),
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        static_summary=summary,
        search_attributes=process_search_attributes(process_id, name) if use_attributes else None,
    )


DEFAULT_STARTS_PER_SECOND = 10.0  # a batch start's pace: one worker's workflow tasks stay under 1 s


@dataclass
class BatchStart:
    """How far a batch start got: started (process id → run id) and failed (process id → reason)."""

    total: int
    started: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return len(self.started) + len(self.failed)


async def start_many(
    client: Client,
    settings: Settings,
    processes: Sequence[tuple[str, str]],
    *,
    per_second: float = DEFAULT_STARTS_PER_SECOND,
    concurrency: int = 8,
    on_started: Callable[[str, str], Awaitable[None]] | None = None,
    on_progress: Callable[[BatchStart], None] | None = None,
    inp: Callable[[str], MonitorInput] | None = None,
) -> BatchStart:
    """Starts the workflows of (process id, name) pairs, spread at `per_second` starts a second.

    Spreading keeps the workers' workflow-task latency low: each start brings a workflow task, a
    configuration load, session checks and a first discovery. `on_started(process_id, run_id)` runs after
    each accepted start (the CLI marks the row there); `on_progress` after every start or failure. A start
    that Temporal refuses is recorded in `failed` and the others go on.
    """
    progress = BatchStart(total=len(processes))
    gate = asyncio.Semaphore(concurrency)
    began = time.monotonic()

    async def one(index: int, process_id: str, name: str) -> None:
        await asyncio.sleep(max(0.0, began + index / per_second - time.monotonic()))
        async with gate:
            try:
                handle = await start_monitoring(
                    client,
                    settings,
                    process_id,
                    summary=f"yourMoment process {name}",
                    inp=inp(process_id) if inp else None,
                )
            except Exception as exc:  # one refused start must not end the batch
                progress.failed[process_id] = _start_failure(exc)
            else:
                run_id = handle.result_run_id or ""
                if on_started is not None:
                    await on_started(process_id, run_id)
                progress.started[process_id] = run_id
        if on_progress is not None:
            on_progress(progress)

    await asyncio.gather(*(one(i, pid, name) for i, (pid, name) in enumerate(processes)))
    return progress


def _start_failure(exc: Exception) -> str:
    from temporalio.exceptions import WorkflowAlreadyStartedError

    if isinstance(exc, WorkflowAlreadyStartedError):
        return "already running in Temporal"
    return f"Temporal did not start it: {exc}"


def monitoring_handle(client: Client, process_id: str, run_id: str | None = None) -> MonitoringHandle:
    return client.get_workflow_handle_for(
        MonitoringProcessWorkflow.run, workflow_id_for_process(process_id), run_id=run_id
    )


async def stop(handle: MonitoringHandle, reason: str | None = None, drain: bool = False) -> None:
    """Ends the process: nothing new is posted, or with `drain` the queued comments first (within the
    grace period); without a reason, StopRequest's default is shown."""
    request = StopRequest(reason=reason, drain=drain) if reason else StopRequest(drain=drain)
    await handle.signal(MonitoringProcessWorkflow.stop, signal_input(request))


async def send(handle: MonitoringHandle, signal: PlainSignal) -> None:
    await handle.signal(PLAIN_SIGNALS[signal])


async def status(handle: MonitoringHandle) -> MonitorStatus:
    return await handle.query(MonitoringProcessWorkflow.status)


class ProcessLabel(BaseModel):
    """Who a post or regeneration works for, in the Web UI: the process's id and name as search
    attributes (one filter finds all its workflows), and a summary in the teacher's words."""

    process_id: str
    process_name: str
    summary: str


def _labels(settings: Settings, label: ProcessLabel | None) -> dict[str, Any]:
    if label is None:
        return {}
    attributes = (
        process_search_attributes(label.process_id, label.process_name, status=None)
        if settings.temporal_search_attributes
        else None
    )
    return {"static_summary": label.summary, "search_attributes": attributes}


async def start_post(
    client: Client,
    settings: Settings,
    item_id: str,
    login_id: str,
    hide: bool,
    label: ProcessLabel | None = None,
) -> WorkflowHandle[PostCommentWorkflow, PostResultMsg]:
    """One comment through the exactly-once path; a second call for the same comment joins the first."""
    return await client.start_workflow(
        PostCommentWorkflow.run,
        PostInput(item_id=item_id, hide=hide, login_id=login_id),
        id=workflow_id_for_post(item_id),
        task_queue=settings.task_queue(QUEUE_MONITORING),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        **_labels(settings, label),
    )


async def start_regenerate(
    client: Client, settings: Settings, inp: RegenerateInput, label: ProcessLabel | None = None
) -> WorkflowHandle[RegenerateCommentWorkflow, RegenerateResult]:
    """A new text for one comment; fails (WorkflowAlreadyStartedError) while one runs for the item."""
    return await client.start_workflow(
        RegenerateCommentWorkflow.run,
        inp,
        id=workflow_id_for_regenerate(inp.item_id),
        task_queue=settings.task_queue(QUEUE_MONITORING),
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        **_labels(settings, label),
    )
