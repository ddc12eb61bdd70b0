"""The periodic work as Temporal Schedules: their definitions and listing (see docs/rules.md#periodic-work;
creating and updating them: yourmoment/schedules_apply.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.service import RPCError, RPCStatusCode

from yourmoment.messages import MaintenanceTask
from yourmoment.settings import Settings

STUDENT_BACKUP_SCHEDULE = "student-backup"


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
    ScheduleDef(
        STUDENT_BACKUP_SCHEDULE,
        "student_backup",
        timedelta(minutes=60),  # STUDENT_BACKUP_INTERVAL_MINUTES: schedule_definitions
        None,
        "read tracked pupils' dashboards, store changed articles as versions",
    ),
)


def schedule_definitions(settings: Settings) -> tuple[ScheduleDef, ...]:
    """SCHEDULES with the deployment's intervals (the student backup's: STUDENT_BACKUP_INTERVAL_MINUTES)."""
    every = timedelta(minutes=settings.student_backup_interval_minutes)
    return tuple(replace(d, every=every) if d.name == STUDENT_BACKUP_SCHEDULE else d for d in SCHEDULES)


def schedule_id(settings: Settings, definition: ScheduleDef) -> str:
    """With the default prefix `yourmoment-`; another prefix keeps deployments in one namespace apart."""
    return f"{settings.temporal_task_queue_prefix}{definition.name}"


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
        for d in schedule_definitions(settings)
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
