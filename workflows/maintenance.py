"""MaintenanceWorkflow: one scheduled maintenance task (a Temporal Schedule starts it) on the maintenance queue."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.maintenance import MaintenanceActivities
    from workflows.activity_config import (
        EXPIRE_SESSIONS,
        HEALTH_CHECK,
        PURGE_SESSIONS,
        RECONCILE_PROCESSES,
        RETENTION_CLEANUP,
        STUDENT_BACKUP,
        deployed,
    )
    from yourmoment.messages import MaintenanceInput, MaintenanceResult

# A task is named after its activity (yourmoment.messages.MaintenanceTask: the schedules carry the name).
TASKS = {
    task.__name__: (task, config)
    for task, config in (
        (MaintenanceActivities.expire_sessions, EXPIRE_SESSIONS),
        (MaintenanceActivities.purge_sessions, PURGE_SESSIONS),
        (MaintenanceActivities.retention_cleanup, RETENTION_CLEANUP),
        (MaintenanceActivities.health_check, HEALTH_CHECK),
        (MaintenanceActivities.reconcile_processes, RECONCILE_PROCESSES),
        (MaintenanceActivities.student_backup, STUDENT_BACKUP),
    )
}


@workflow.defn
class MaintenanceWorkflow:
    """Runs the task's activity; an unhealthy health check fails the run, so the Web UI shows it red."""

    @workflow.run
    async def run(self, inp: MaintenanceInput) -> MaintenanceResult:
        task, config = TASKS[inp.task]
        result = await workflow.execute_activity_method(task, inp, **deployed(config))
        summary = ", ".join(f"{k} {v}" for k, v in result.counts.items()) or "nothing to do"
        workflow.set_current_details(f"{inp.task}: {summary}")
        if not result.healthy:
            raise ApplicationError(
                "unhealthy: " + "; ".join(result.notes), type="Unhealthy", non_retryable=True
            )
        return result
