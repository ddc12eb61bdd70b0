"""What Temporal itself can tell us before a process hangs: search attributes, pollers, failing tasks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import (
    EventType,
    IndexedValueType,
    PendingActivityState,
    PendingWorkflowTaskState,
    TaskQueueKind,
    TaskQueueType,
    WorkflowTaskFailedCause,
)
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    GetWorkflowExecutionHistoryReverseRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from yourmoment.errors import ConfigurationError
from yourmoment.messages import (
    QUEUE_MONITORING,
    SEARCH_ATTR_PROCESS_ID,
    SEARCH_ATTR_PROCESS_NAME,
    SEARCH_ATTR_STATUS,
    queue_prefix_of,
)
from yourmoment.settings import Settings

SEARCH_ATTRIBUTES = (SEARCH_ATTR_PROCESS_ID, SEARCH_ATTR_STATUS, SEARCH_ATTR_PROCESS_NAME)
# A live worker long-polls for about a minute at a time; the server keeps older pollers for five.
POLLER_FRESH = timedelta(minutes=2)
# Workflow tasks fail right after a worker crash too (timed out once); one retry is not yet "stuck".
STUCK_AFTER_TIMEOUTS = 3
MESSAGE_LIMIT = 200
DESCRIBE_CONCURRENCY = 16


# --- search attributes --------------------------------------------------------------------------------


def process_search_attributes(
    process_id: str, name: str = "", status: str | None = "running"
) -> TypedSearchAttributes:
    """Given at start as well, so a service without them refuses the start instead of failing every task.
    A process's other workflows (posts, regenerations) carry its id and name, and no status."""
    pairs = [SearchAttributePair(SearchAttributeKey.for_keyword(SEARCH_ATTR_PROCESS_ID), process_id)]
    if name:
        pairs.append(SearchAttributePair(SearchAttributeKey.for_keyword(SEARCH_ATTR_PROCESS_NAME), name))
    if status is not None:
        pairs.append(SearchAttributePair(SearchAttributeKey.for_keyword(SEARCH_ATTR_STATUS), status))
    return TypedSearchAttributes(pairs)


async def missing_search_attributes(client: Client) -> list[str]:
    """Names not usable as Keyword in the namespace: a visibility query on each fails for those.

    A query works with any client permission (Temporal Cloud included), unlike the operator API's list.
    """
    missing = []
    for name in SEARCH_ATTRIBUTES:
        try:
            await client.count_workflows(f'{name} = "yourmoment-probe"')
        except RPCError as exc:
            if exc.status != RPCStatusCode.INVALID_ARGUMENT:
                raise ConfigurationError(
                    f"cannot check the search attributes in namespace {client.namespace}: "
                    f"{_first_line(exc.message)}; or set TEMPORAL_SEARCH_ATTRIBUTES=false"
                ) from exc
            missing.append(name)
    return missing


async def ensure_search_attributes(client: Client, *, register: bool) -> str:
    """Registers missing attributes where the service allows it; otherwise one ConfigurationError line."""
    missing = await missing_search_attributes(client)
    if not missing:
        return f"{', '.join(SEARCH_ATTRIBUTES)} registered"
    if not register:
        raise ConfigurationError(_not_registered(client.namespace, missing))
    wrong = await _registered_types(client, missing)
    if wrong:
        # Adding it again is accepted and changes nothing: the type of an attribute is fixed.
        kinds = ", ".join(f"{n} as {t}" for n, t in wrong.items())
        raise ConfigurationError(
            f"search attributes registered with the wrong type in namespace {client.namespace} ({kinds}, "
            f"Keyword needed): remove them with 'temporal operator search-attribute remove --namespace "
            f"{client.namespace} --name NAME' and start again, or set TEMPORAL_SEARCH_ATTRIBUTES=false"
        )
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={n: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for n in missing},
            )
        )
    except RPCError as exc:
        why = f"the service refused to register them ({_first_line(exc.message)})"
        raise ConfigurationError(_not_registered(client.namespace, missing, why)) from exc
    # The service may take a moment to use a new attribute in queries (and in workflows).
    for _ in range(50):
        still = await missing_search_attributes(client)
        if not still:
            return f"registered {', '.join(missing)} in namespace {client.namespace}"
        await asyncio.sleep(0.2)
    raise ConfigurationError(_not_registered(client.namespace, still, "added, but still unknown to queries"))


async def _registered_types(client: Client, names: list[str]) -> dict[str, str]:
    """Those of `names` registered with another type than Keyword (empty where listing is not allowed)."""
    try:
        response = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    except RPCError:
        return {}
    types = response.custom_attributes
    return {
        n: IndexedValueType.Name(types[n]).removeprefix("INDEXED_VALUE_TYPE_").capitalize()
        for n in names
        if n in types and types[n] != IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    }


def _not_registered(namespace: str, names: list[str], why: str | None = None) -> str:
    """One line: what is wrong, then the two ways out (register them, or do without them)."""
    names_args = " ".join(f"--name {n}" for n in names)
    return (
        f"search attribute{'s' if len(names) > 1 else ''} {', '.join(names)} not registered in namespace "
        f"{namespace}{'; ' + why if why else ''}: register them with 'temporal operator search-attribute create --namespace {namespace} "
        f"{names_args} --type Keyword' (on Temporal Cloud as Keyword in the namespace's settings), "
        "or set TEMPORAL_SEARCH_ATTRIBUTES=false"
    )


# --- pollers ------------------------------------------------------------------------------------------


async def poller_count(client: Client, task_queue: str, tq_type: TaskQueueType.ValueType) -> int:
    """Distinct workers that polled recently (stopped workers linger in the server's list for minutes)."""
    return len(await poller_identities(client, task_queue, tq_type))


async def poller_identities(client: Client, task_queue: str, tq_type: TaskQueueType.ValueType) -> set[str]:
    """The identities of the workers that polled `task_queue` recently (see poller_count)."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=tq_type,
        )
    )
    fresh_after = datetime.now(UTC) - POLLER_FRESH
    identities = {
        p.identity
        for p in response.pollers
        if not p.HasField("last_access_time") or p.last_access_time.ToDatetime(tzinfo=UTC) >= fresh_after
    }
    return identities


async def no_worker_warning(client: Client, settings: Settings) -> str | None:
    """None when a worker polls the workflows' task queue; else what to do (commands still go on)."""
    name = settings.task_queue(QUEUE_MONITORING)
    if await poller_count(client, name, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW):
        return None
    return (
        f"no worker polls {name}: nothing happens until one runs "
        "('python worker.py' with the same TEMPORAL_TASK_QUEUE_PREFIX and Temporal address)"
    )


async def unpolled_note(client: Client, workflow_id: str) -> str | None:
    """`waits on task queue X, which no worker polls (…)` when a running workflow's next step sits on a
    task queue without pollers: its scheduled workflow task, or a scheduled activity (a `post` queued while
    only a monitoring worker runs waits on the comments queue). None when it waits on nothing unserved."""
    for name, tq_type in await _scheduled_on(client, workflow_id):
        if not await poller_count(client, name, tq_type):
            kind = "workflow" if tq_type == TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW else "activity"
            return (
                f"waits on task queue {name}, which no worker polls for {kind} tasks "
                f"(start one: 'python worker.py --task-queues {_short_queue(name)}')"
            )
    return None


async def retrying_activities(client: Client, workflow_id: str) -> list[str]:
    """`open_session, attempt 3: Redis at 127.0.0.1:1 refused the connection (REDIS_URL)` for each
    activity of a running workflow that failed and waits for its next try. The message is the
    activity's failure as it left the worker (yourmoment.errors: safe to show), so an operator sees
    what fails while it is retried, not only once the retries are used up."""
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return []
        raise
    return [
        f"{pending.activity_type.name}, attempt {pending.attempt}: "
        f"{_first_line(pending.last_failure.message) or 'no message'}"
        for pending in desc.raw_description.pending_activities
        if pending.HasField("last_failure")
    ]


async def _scheduled_on(client: Client, workflow_id: str) -> list[tuple[str, TaskQueueType.ValueType]]:
    """The task queues (and kinds) on which the workflow's scheduled, not yet started, tasks wait."""
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return []
        raise
    if desc.status != WorkflowExecutionStatus.RUNNING:
        return []
    raw, own_queue = desc.raw_description, desc.task_queue
    waits = []
    if raw.pending_workflow_task.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED:
        waits.append((own_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    for pending in raw.pending_activities:
        if pending.state != PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED:
            continue
        queue = pending.activity_options.task_queue.name  # empty on servers before 1.27: not named then
        if queue:
            waits.append((queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY))
    return waits


def _short_queue(name: str) -> str:
    """`comments` for `yourmoment-comments`: what `worker.py --task-queues` takes."""
    try:
        return name.removeprefix(queue_prefix_of(name))
    except ValueError:
        return name


# --- workflow tasks that keep failing ---------------------------------------------------------------


async def stuck_reason(client: Client, workflow_id: str) -> str | None:
    """Why a running workflow makes no progress: its workflow task keeps failing (or timing out).

    Describe shows the pending workflow task's attempt; the history holds the first failure of the
    series (later attempts are not written until one succeeds). Only the SDK's or the server's
    top-level message is shown: it names the error, never a payload.
    """
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    if desc.status != WorkflowExecutionStatus.RUNNING:
        return None
    raw = desc.raw_description
    if not raw.HasField("pending_workflow_task") or raw.pending_workflow_task.attempt < 2:
        return None
    attempt = raw.pending_workflow_task.attempt
    event = await _last_task_problem(client, workflow_id, desc.run_id or "")
    if event is not None and event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        attrs = event.workflow_task_failed_event_attributes
        cause = _cause_name(attrs.cause)
        message = _first_line(attrs.failure.message) or "no message"
        return f"workflow task failing (attempt {attempt}): {cause + ': ' if cause else ''}{message}"
    if attempt >= STUCK_AFTER_TIMEOUTS:
        return f"workflow task timed out {attempt - 1} times: the worker takes it but never completes it"
    return None


async def _last_task_problem(client: Client, workflow_id: str, run_id: str) -> HistoryEvent | None:
    """The newest WorkflowTaskFailed/TimedOut event after the last completed workflow task, if any."""
    response = await client.workflow_service.get_workflow_execution_history_reverse(
        GetWorkflowExecutionHistoryReverseRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            maximum_page_size=50,
        )
    )
    for event in response.history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return None
        if event.event_type in (
            EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
        ):
            return event
    return None


def _cause_name(cause: WorkflowTaskFailedCause.ValueType) -> str:
    """BadSearchAttributes, NonDeterministicError, …; nothing for the generic 'unhandled failure'."""
    if cause in (
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNSPECIFIED,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
    ):
        return ""
    words = WorkflowTaskFailedCause.Name(cause).removeprefix("WORKFLOW_TASK_FAILED_CAUSE_").split("_")
    return "".join(w.capitalize() for w in words)


def _first_line(text: str) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 1] + "…"


async def stuck_workflows(client: Client, settings: Settings) -> dict[str, str]:
    """Every running workflow on our task queues whose workflow task keeps failing: id → reason."""
    from yourmoment.messages import ALL_QUEUES

    queues = " OR ".join(f"TaskQueue = '{settings.task_queue(q)}'" for q in ALL_QUEUES)
    ids = [wf.id async for wf in client.list_workflows(f"ExecutionStatus = 'Running' AND ({queues})")]
    limit = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

    async def one(workflow_id: str) -> str | None:
        async with limit:
            return await stuck_reason(client, workflow_id)

    reasons = await asyncio.gather(*(one(i) for i in ids))
    return {i: r for i, r in zip(ids, reasons, strict=True) if r}
