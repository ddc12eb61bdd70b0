"""MaintenanceWorkflow: one scheduled maintenance task (a Temporal Schedule starts it) on the maintenance queue."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.activity_stubs as stubs  # `import a.b`: shared by every run (docs/architecture.md#sandbox)
    from yourmoment.messages import MaintenanceInput, MaintenanceResult


@workflow.defn
class MaintenanceWorkflow:
    """Runs the task's activity; an unhealthy health check fails the run, so the Web UI shows it red."""

    @workflow.run
    async def run(self, inp: MaintenanceInput) -> MaintenanceResult:
        result = await stubs.MAINTENANCE_STUBS[inp.task](inp)
        summary = ", ".join(f"{k} {v}" for k, v in result.counts.items()) or "nothing to do"
        workflow.set_current_details(f"{inp.task}: {summary}")
        if not result.healthy:
            raise ApplicationError(
                "unhealthy: " + "; ".join(result.notes), type="Unhealthy", non_retryable=True
            )
        return result
