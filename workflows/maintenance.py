"""MaintenanceWorkflow: one scheduled maintenance task (a Temporal Schedule starts it) on the maintenance queue."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.common import run_activity
    from yourmoment.messages import DEFAULT_QUEUE_PREFIX

# Each task is the name of the activity that does it (see workflows/options.py for queue and retry).
MaintenanceTask = Literal[
    "expire_sessions", "purge_sessions", "retention_cleanup", "health_check", "reconcile_processes"
]  # fmt: skip


class MaintenanceInput(BaseModel):
    task: MaintenanceTask
    queue_prefix: str = DEFAULT_QUEUE_PREFIX


class MaintenanceResult(BaseModel):
    """Counts for the Web UI and the logs (ids and numbers only, never texts or secrets)."""

    task: str
    counts: dict[str, int] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    healthy: bool = True


@workflow.defn
class MaintenanceWorkflow:
    """Runs the task's activity; an unhealthy health check fails the run, so the Web UI shows it red."""

    @workflow.run
    async def run(self, inp: MaintenanceInput) -> MaintenanceResult:
        result = await run_activity(inp.task, inp, MaintenanceResult, inp.queue_prefix)
        summary = ", ".join(f"{k} {v}" for k, v in result.counts.items()) or "nothing to do"
        workflow.set_current_details(f"{inp.task}: {summary}")
        if not result.healthy:
            raise ApplicationError(
                "unhealthy: " + "; ".join(result.notes), type="Unhealthy", non_retryable=True
            )
        return result
