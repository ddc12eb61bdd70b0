"""Reading Temporal histories for the benchmarks: events, payload bytes, task latencies, discovery runs."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

DISCOVERY_ACTIVITY = "discover_articles"
# How far before `listed_since` fetch goes back for a listing at most: a process that gave every turn up
# in that hour has no earlier listing worth walking its whole chain of runs for.
REACH_BACK_S = 3600.0


def payload_bytes(message: Message) -> int:
    """Bytes of every Payload (data and metadata) anywhere inside a proto message."""
    if isinstance(message, Payload):
        return message.ByteSize()
    total = 0
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if descriptor.message_type.GetOptions().map_entry:
            values = value.values()
        elif descriptor.is_repeated:
            values = value
        else:
            values = [value]
        total += sum(payload_bytes(v) for v in values if isinstance(v, Message))
    return total


def event_name(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


def event_timestamp(event: HistoryEvent) -> float:
    """The event's time as a POSIX timestamp (comparable with `time.time()` whatever the local time zone:
    `ToDatetime()` gives a naive UTC datetime, which `.timestamp()` would read as local time)."""
    return event.event_time.seconds + event.event_time.nanos / 1e9


@dataclass
class HistoryFigures:
    """One workflow history, reduced to what the benchmarks report."""

    workflow_id: str
    events: int
    history_bytes: int
    payload_bytes: int
    by_type: Counter[str]
    workflow_task_latencies: list[float] = field(default_factory=list)  # scheduled → started, seconds
    workflow_task_scheduled: list[float] = field(default_factory=list)  # when each of those was scheduled
    discovery_event_ids: list[int] = field(default_factory=list)  # ActivityTaskScheduled of discovery
    discovery_durations: list[float] = field(default_factory=list)  # scheduled → completed, seconds
    discovery_completed: list[float] = field(default_factory=list)  # when each of those completed
    # When each discovery that listed completed (not those that gave their turn up: budget_saturated).
    discovery_listed: list[float] = field(default_factory=list)
    cumulative_bytes: list[int] = field(default_factory=list)  # history bytes up to each event


def analyse(workflow_id: str, events: Sequence[HistoryEvent]) -> HistoryFigures:
    figures = HistoryFigures(workflow_id, len(events), 0, 0, Counter())
    scheduled_at: dict[int, float] = {}
    discovery_scheduled: dict[int, float] = {}
    for event in events:
        figures.history_bytes += event.ByteSize()
        figures.cumulative_bytes.append(figures.history_bytes)
        figures.payload_bytes += payload_bytes(event)
        figures.by_type[event_name(event)] += 1
        when = event_timestamp(event)
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            scheduled_at[event.event_id] = when
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            sched = event.workflow_task_started_event_attributes.scheduled_event_id
            if sched in scheduled_at:
                figures.workflow_task_latencies.append(when - scheduled_at[sched])
                figures.workflow_task_scheduled.append(scheduled_at[sched])
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_type.name == DISCOVERY_ACTIVITY:
                figures.discovery_event_ids.append(event.event_id)
                discovery_scheduled[event.event_id] = when
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            sched = event.activity_task_completed_event_attributes.scheduled_event_id
            if sched in discovery_scheduled:
                figures.discovery_durations.append(when - discovery_scheduled[sched])
                figures.discovery_completed.append(when)
                payloads = event.activity_task_completed_event_attributes.result.payloads
                if not any(b'"budget_saturated":true' in p.data for p in payloads):
                    figures.discovery_listed.append(when)
    return figures


async def fetch(
    client: Client, workflow_ids: Sequence[str], concurrency: int = 20, listed_since: float | None = None
) -> list[HistoryFigures]:
    """The newest run's history of each workflow id. With `listed_since` (a timestamp), `discovery_listed`
    also holds the listings of the runs it continued from, back to the last listing before that time (so
    the first listing after it has its predecessor) but not to runs that began an hour before it: a
    monitoring run continues as new every ~150 events, so one run rarely covers a long window."""
    gate = asyncio.Semaphore(concurrency)

    async def one(workflow_id: str) -> HistoryFigures:
        async with gate:
            events = (await client.get_workflow_handle(workflow_id).fetch_history()).events
            figures = analyse(workflow_id, events)
            while listed_since is not None and events:
                started = events[0]
                previous = started.workflow_execution_started_event_attributes.continued_execution_run_id
                listed = figures.discovery_listed
                began = event_timestamp(started)
                if (
                    not previous
                    or (listed and listed[0] <= listed_since)
                    or began <= listed_since - REACH_BACK_S
                ):
                    break
                try:
                    handle = client.get_workflow_handle(workflow_id, run_id=previous)
                    events = (await handle.fetch_history()).events
                except RPCError as exc:  # a run past the namespace's retention: its listings are gone
                    if exc.status != RPCStatusCode.NOT_FOUND:
                        raise
                    break
                figures.discovery_listed[:0] = analyse(workflow_id, events).discovery_listed
            return figures

    return list(await asyncio.gather(*(one(w) for w in workflow_ids)))


def listing_gaps(listed: Sequence[float], since: float, until: float) -> list[float]:
    """The time from each listing between `since` and `until` back to the listing before it (the process's
    wait for its turn as the process sees it, whether it queued or gave turns up); the first has none."""
    pairs = itertools.pairwise(sorted(listed))
    return [later - earlier for earlier, later in pairs if since <= later <= until]


def per_discovery_run(figures: HistoryFigures) -> tuple[float, float] | None:
    """Events and history bytes one discovery run adds: the distance between successive discovery
    activities (one login per process), averaged; None with fewer than two runs."""
    ids = figures.discovery_event_ids
    if len(ids) < 2:
        return None
    runs = len(ids) - 1
    events = (ids[-1] - ids[0]) / runs
    size = (figures.cumulative_bytes[ids[-1] - 1] - figures.cumulative_bytes[ids[0] - 1]) / runs
    return events, size


def totals(figures: Sequence[HistoryFigures]) -> dict[str, Any]:
    by_type: Counter[str] = Counter()
    for f in figures:
        by_type.update(f.by_type)
    return {
        "workflows": len(figures),
        "events": sum(f.events for f in figures),
        "history_bytes": sum(f.history_bytes for f in figures),
        "payload_bytes": sum(f.payload_bytes for f in figures),
        "events_by_type": dict(sorted(by_type.items())),
    }
