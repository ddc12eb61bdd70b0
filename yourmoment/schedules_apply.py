"""Creating the schedules, or updating them to this version: each definition (yourmoment/schedules.py)
as a Temporal Schedule that starts MaintenanceWorkflow on the maintenance queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowHandle,
)

from workflows.maintenance import MaintenanceWorkflow
from yourmoment.messages import QUEUE_MAINTENANCE, MaintenanceInput, MaintenanceResult
from yourmoment.schedules import ScheduleDef, schedule_definitions, schedule_id
from yourmoment.settings import Settings

# A scheduled run that hangs (a stuck database, say) ends before it could pile up behind the next one.
RUN_TIMEOUT = timedelta(minutes=30)


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
    return [await _apply_one(client, settings, definition) for definition in schedule_definitions(settings)]


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


async def start_backup(
    client: Client, settings: Settings, user_id: str, student_ids: list[str], run_key: str
) -> WorkflowHandle[MaintenanceWorkflow, MaintenanceResult]:
    """`track run`: the student backup now, as the `student-backup` Schedule runs it, for one user's
    pupils (or these of them)."""
    return await client.start_workflow(
        MaintenanceWorkflow.run,
        MaintenanceInput(task="student_backup", user_id=user_id, student_ids=student_ids),
        id=f"{settings.temporal_task_queue_prefix}student-backup-now-{run_key}",
        task_queue=settings.task_queue(QUEUE_MAINTENANCE),
        execution_timeout=RUN_TIMEOUT,
        static_summary="yourMoment: student backup now (track run)",
    )
