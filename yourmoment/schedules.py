"""The periodic work as Temporal Schedules: their definitions, idempotent apply, and listing (see docs/rules.md#periodic-work)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from workflows.maintenance import MaintenanceWorkflow
from yourmoment.messages import QUEUE_MAINTENANCE, MaintenanceInput, MaintenanceTask
from yourmoment.settings import Settings

# A scheduled run that hangs (a stuck database, say) ends before it could pile up behind the next one.
RUN_TIMEOUT = timedelta(minutes=30)


@dataclass(frozen=True)
class ScheduleDef:
    name: str  # the schedule id is `<TEMPORAL_TASK_QUEUE_PREFIX><name>`, e.g. yourmoment-cleanup-expired-sessions
    task: MaintenanceTask
    every: timedelta
    offset: timedelta | None
    description: str


SCHEDULES: tuple[ScheduleDef, ...] = (
    ScheduleDef(
        "cleanup-expired-sessions",
        "expire_sessions",
        timedelta(minutes=5),
        None,
        "mark myMoment sessions past their 24 h inactive",
    ),
    ScheduleDef(
        "purge-old-sessions",
        "purge_sessions",
        timedelta(days=1),
        timedelta(hours=3),
        "delete inactive session records not saved for 30 days (03:00 UTC)",
    ),
    ScheduleDef(
        "retention",
        "retention_cleanup",
        timedelta(days=1),
        timedelta(hours=3, minutes=30),
        "blank article texts older than RETENTION_DAYS, delete finished items older than "
        "4 x RETENTION_DAYS (03:30 UTC)",
    ),
    ScheduleDef(
        "health-check",
        "health_check",
        timedelta(minutes=2),
        None,
        "Temporal, pollers, database, Redis, encryption key, schedules",
    ),
    ScheduleDef(
        "reconcile",
        "reconcile_processes",
        timedelta(minutes=5),
        None,
        "correct process rows whose workflow is gone or closed, and the reverse",
    ),
)


def schedule_id(settings: Settings, definition: ScheduleDef) -> str:
    """With the default prefix `yourmoment-`; another prefix keeps deployments in one namespace apart."""
    return f"{settings.temporal_task_queue_prefix}{definition.name}"


def build_schedule(settings: Settings, definition: ScheduleDef) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            MaintenanceWorkflow.run,
            MaintenanceInput(task=definition.task),
            id=schedule_id(settings, definition),  # the server appends the scheduled time
            task_queue=settings.task_queue(QUEUE_MAINTENANCE),
            execution_timeout=RUN_TIMEOUT,
            static_summary=f"yourMoment maintenance: {definition.description}",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=definition.every, offset=definition.offset)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


class ScheduleOutcome(BaseModel):
    id: str
    outcome: Literal["created", "updated"]


async def apply_schedules(client: Client, settings: Settings) -> list[ScheduleOutcome]:
    """Creates each schedule; one that exists already is updated to the desired spec (idempotent)."""
    return [await _apply_one(client, settings, definition) for definition in SCHEDULES]


async def _apply_one(client: Client, settings: Settings, definition: ScheduleDef) -> ScheduleOutcome:
    sid = schedule_id(settings, definition)
    desired = build_schedule(settings, definition)
    try:
        await client.create_schedule(sid, desired)
        return ScheduleOutcome(id=sid, outcome="created")
    except ScheduleAlreadyRunningError:
        pass

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        # Spec, action and policy follow the code; a pause set by an operator stays as it is.
        desired.state = current.description.schedule.state
        return ScheduleUpdate(schedule=desired)

    await client.get_schedule_handle(sid).update(update)
    return ScheduleOutcome(id=sid, outcome="updated")


class ScheduleRow(BaseModel):
    """One schedule as `schedules list` and `info` show it; server fields are None without a server."""

    id: str
    task: str
    every: str
    description: str
    present: bool | None = None
    paused: bool | None = None
    note: str | None = None
    next_run: datetime | None = None
    last_run: datetime | None = None
    last_workflow_id: str | None = None
    actions: int | None = None


def static_rows(settings: Settings) -> list[ScheduleRow]:
    return [
        ScheduleRow(
            id=schedule_id(settings, d),
            task=d.task,
            every=format_every(d.every, d.offset),
            description=d.description,
        )
        for d in SCHEDULES
    ]


async def list_schedules(client: Client, settings: Settings) -> list[ScheduleRow]:
    """Described one by one (consistent at once, unlike the server's eventually consistent listing)."""
    rows = static_rows(settings)
    for row in rows:
        try:
            desc = await client.get_schedule_handle(row.id).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            row.present = False
            continue
        info, state = desc.info, desc.schedule.state
        row.present, row.paused, row.note, row.actions = True, state.paused, state.note, info.num_actions
        row.next_run = info.next_action_times[0] if info.next_action_times else None
        if info.recent_actions:
            last = info.recent_actions[-1]
            row.last_run = last.started_at
            if isinstance(last.action, ScheduleActionExecutionStartWorkflow):
                row.last_workflow_id = last.action.workflow_id
    return rows


def format_every(every: timedelta, offset: timedelta | None = None) -> str:
    seconds = int(every.total_seconds())
    if seconds % 86400 == 0:
        text = "daily" if seconds == 86400 else f"every {seconds // 86400} days"
        if offset:
            minutes = int(offset.total_seconds()) // 60
            text += f" at {minutes // 60:02d}:{minutes % 60:02d} UTC"
        return text
    if seconds % 60 == 0:
        return f"every {seconds // 60} min"
    return f"every {seconds} s"
