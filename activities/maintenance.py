"""The maintenance queue's activities, one per scheduled task: session clean-up, retention, health check,
process reconciliation."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.backup import back_up_pupils
from activities.deps import ActivityGroup
from activities.errors import keep_alive, translate_errors
from activities.monitoring import deliver
from workflows.monitoring import MonitoringProcessWorkflow
from yourmoment.errors import ConfigurationError, reduce_error
from yourmoment.messages import (
    QUEUE_MONITORING,
    MaintenanceInput,
    MaintenanceResult,
    NotifyInput,
    workflow_id_for_item,
    workflow_id_for_process,
)
from yourmoment.processes_client import monitoring_handle
from yourmoment.statuses import CommentStatus, ProcessStatus
from yourmoment.store import items, notifications, sessions, versions
from yourmoment.store.db import row_count, run_db
from yourmoment.store.models import AIComment, MonitoringProcess, utcnow
from yourmoment.store.processes import ACTIVE_STATUSES
from yourmoment.temporal_checks import stuck_workflows

S = CommentStatus
SESSION_PURGE_AGE = timedelta(days=30)
# Finished items are deleted once they are this many times RETENTION_DAYS old (360 days by default).
DELETE_FACTOR = 4
FINISHED = (S.POSTED, S.FAILED, S.SKIPPED)
# A row changed this recently may be between `starter.py start` and the workflow start (or between the
# workflow's final activity and its close): reconciliation leaves it alone until the next run.
RECONCILE_GRACE = timedelta(minutes=2)
WORKFLOW_ID_PREFIX = workflow_id_for_process("")
ARTICLE_ID_PREFIX = workflow_id_for_item("", "", "").split("-", 1)[0] + "-"  # "article-" + process id + …
PROCESS_ID_LENGTH = 36  # a UUID's text
STUCK_ANNOUNCED_EVERY = timedelta(days=1)


class MaintenanceActivities(ActivityGroup):
    @activity.defn
    @translate_errors
    async def expire_sessions(self, inp: MaintenanceInput) -> MaintenanceResult:
        deactivated = await run_db(self.deps.in_session, sessions.deactivate_expired)
        return _done(inp, deactivated=deactivated)

    @activity.defn
    @translate_errors
    async def purge_sessions(self, inp: MaintenanceInput) -> MaintenanceResult:
        purged = await run_db(self.deps.in_session, sessions.purge_old, SESSION_PURGE_AGE)
        return _done(inp, purged=purged)

    @activity.defn
    @translate_errors
    @keep_alive
    async def retention_cleanup(self, inp: MaintenanceInput) -> MaintenanceResult:
        days = self.deps.settings.retention_days
        now = utcnow()
        deleted = await run_db(
            self.deps.in_session, delete_finished_items, now - timedelta(days=days * DELETE_FACTOR)
        )
        blanked = await run_db(self.deps.in_session, blank_article_texts, now - timedelta(days=days))
        versions_blanked = await run_db(
            self.deps.in_session, versions.blank_pupil_data, now - timedelta(days=days)
        )
        notices = await run_db(self.deps.in_session, notifications.delete_older, now - timedelta(days=days))
        return _done(
            inp, blanked=blanked, deleted=deleted, notifications=notices, versions_blanked=versions_blanked
        )

    @activity.defn
    @translate_errors
    async def health_check(self, inp: MaintenanceInput) -> MaintenanceResult:
        from yourmoment.health import check_health

        report = await check_health(self.deps.settings, self.client)
        failed = report.failed()
        for check in failed:
            activity.logger.warning("health check failed: %s: %s", check.name, check.detail)
        notes = [f"{c.name}: {c.detail}" for c in failed]
        by_name = {c.name: c for c in report.checks}
        # Running processes show a broken key on their status (their next activity would fail with it).
        if not by_name["encryption_key"].ok and by_name["database"].ok:
            message = f"health check: {by_name['encryption_key'].detail}"
            await run_db(self.deps.in_session, record_on_running, message)
        if self.deps.notifier.configured and not by_name.get("workflows", by_name["database"]).ok:
            try:
                await self._announce_stuck()
            except Exception as exc:  # the health check's own answer matters more than the message
                activity.logger.warning(
                    "stuck processes not announced: %s", reduce_error(exc, "health_check")
                )
        return MaintenanceResult(
            task=inp.task,
            counts={"checks": len(report.checks), "failed": len(failed)},
            notes=notes,
            healthy=report.ok,
        )

    async def _announce_stuck(self) -> None:
        """A process whose workflow (or one of its articles') is stuck is announced once a day; a
        notifier that fails is recorded (deliver) and leaves the health check as it is."""
        if self.client is None:
            return
        since = utcnow() - STUCK_ANNOUNCED_EVERY
        for workflow_id in await stuck_workflows(self.client, self.deps.settings):
            process_id = process_of_workflow(workflow_id)
            if process_id is None:
                continue
            if await run_db(self.deps.in_session, notifications.sent_since, "stuck", workflow_id, since):
                continue
            with contextlib.suppress(Exception):
                await deliver(
                    self.deps, NotifyInput(kind="stuck", process_id=process_id), subject=workflow_id
                )

    async def _announce_end(self, process_id: str, status: str, reason: str) -> None:
        """A process whose workflow ended without saying so (terminated, failed, gone) is announced
        here, as its workflow would have; a failing notifier is recorded (deliver) and nothing more."""
        if self.deps.notifier.configured:
            notice = NotifyInput(
                kind="ended", process_id=process_id, status=ProcessStatus(status), reason=reason
            )
            with contextlib.suppress(Exception):
                await deliver(self.deps, notice)

    @activity.defn
    @translate_errors
    @keep_alive
    async def reconcile_processes(self, inp: MaintenanceInput) -> MaintenanceResult:
        if self.client is None:
            raise ConfigurationError("reconciliation needs the worker's Temporal client")
        before = utcnow() - RECONCILE_GRACE
        ended, notes = 0, []
        for process_id in await run_db(self.deps.in_session, active_rows, before):
            verdict = await self._ended_verdict(process_id)
            if verdict is None:
                continue
            status, reason = verdict
            if await run_db(self._end_row, process_id, status, reason, before):
                ended += 1
                notes.append(f"{process_id}: {status} ({reason})")
                await self._announce_end(process_id, status, reason)
        resumed = 0
        for process_id in await self._running_workflow_process_ids():
            if await run_db(self._resume_row, process_id, before):
                resumed += 1
                notes.append(f"{process_id}: running (its workflow runs)")
        for note in notes:
            activity.logger.info("reconciled process %s", note)
        return MaintenanceResult(task=inp.task, counts={"ended": ended, "resumed": resumed}, notes=notes)

    async def _ended_verdict(self, process_id: str) -> tuple[str, str] | None:
        """None while the workflow runs; otherwise the status and reason the row should have."""
        assert self.client is not None
        handle = monitoring_handle(self.client, process_id)
        try:
            desc = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return ProcessStatus.STOPPED, "reconciled: no workflow for this process in Temporal"
            raise
        status = desc.status
        if status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
            return None
        if status == WorkflowExecutionStatus.COMPLETED:
            try:
                result = await handle.result()
                return result.status, f"reconciled: {result.reason}"
            except Exception:
                return ProcessStatus.STOPPED, "reconciled: workflow completed"
        if status in (WorkflowExecutionStatus.TERMINATED, WorkflowExecutionStatus.CANCELED):
            return ProcessStatus.STOPPED, f"reconciled: workflow {status.name.lower()}"
        return ProcessStatus.FAILED, f"reconciled: workflow {status.name.lower() if status else 'closed'}"

    async def _running_workflow_process_ids(self) -> list[str]:
        assert self.client is not None
        query = (
            f'WorkflowType = "{MonitoringProcessWorkflow.__name__}" AND ExecutionStatus = "Running" '
            f'AND TaskQueue = "{self.deps.settings.task_queue(QUEUE_MONITORING)}"'
        )
        ids = []
        async for wf in self.client.list_workflows(query):
            if wf.id.startswith(WORKFLOW_ID_PREFIX):
                ids.append(wf.id[len(WORKFLOW_ID_PREFIX) :])
        return ids

    def _end_row(self, process_id: str, status: str, reason: str, before: datetime) -> bool:
        with self.deps.db() as session:
            return end_row(session, process_id, status, reason, before)

    def _resume_row(self, process_id: str, before: datetime) -> bool:
        with self.deps.db() as session:
            return resume_row(session, process_id, before)

    @activity.defn
    @translate_errors
    @keep_alive
    async def student_backup(self, inp: MaintenanceInput) -> MaintenanceResult:
        """Tracked pupils' dashboards and changed articles as versions (activities/backup.py)."""
        return await back_up_pupils(self.deps, inp)

    ACTIVITIES = (
        expire_sessions,
        purge_sessions,
        retention_cleanup,
        health_check,
        reconcile_processes,
        student_backup,
    )


def process_of_workflow(workflow_id: str) -> str | None:
    """The process a monitoring or article workflow belongs to (their ids start with it)."""
    if workflow_id.startswith(WORKFLOW_ID_PREFIX):
        return workflow_id[len(WORKFLOW_ID_PREFIX) :]
    if (
        workflow_id.startswith(ARTICLE_ID_PREFIX)
        and len(workflow_id) >= len(ARTICLE_ID_PREFIX) + PROCESS_ID_LENGTH
    ):
        return workflow_id[len(ARTICLE_ID_PREFIX) : len(ARTICLE_ID_PREFIX) + PROCESS_ID_LENGTH]
    return None


def _done(inp: MaintenanceInput, **counts: int) -> MaintenanceResult:
    activity.logger.info("%s done: %s", inp.task, ", ".join(f"{k}={v}" for k, v in counts.items()))
    return MaintenanceResult(task=inp.task, counts=counts)


# --- store functions (plain SQLAlchemy, tested through the schedules) ---------------------------------


def blank_article_texts(session: Session, before: datetime) -> int:
    """Pupils' texts (and the LLM's reasoning about them) go after RETENTION_DAYS; titles and comments stay.

    A `prepared` item still needs its text for generation, so it keeps it until it moves on.
    """
    result = session.execute(
        update(AIComment)
        .where(
            AIComment.created_at < before,
            AIComment.status != S.PREPARED,
            AIComment.article_content.is_not(None)
            | AIComment.article_raw_html.is_not(None)
            | AIComment.reasoning.is_not(None),
        )
        .values(article_content=None, article_raw_html=None, reasoning=None)
    )
    return row_count(result)


def delete_finished_items(session: Session, before: datetime) -> int:
    """Posted, failed and skipped items much older than the retention period are deleted.

    Nothing is posted twice after that: the article page is read before every comment and shows
    the login's earlier AI comment.
    """
    result = session.execute(
        delete(AIComment).where(AIComment.created_at < before, AIComment.status.in_(list(FINISHED)))
    )
    return row_count(result)


def active_rows(session: Session, before: datetime) -> list[str]:
    """Rows marked running or stopping since before `before` (or without a start time)."""
    query = select(MonitoringProcess.id).where(
        MonitoringProcess.status.in_(list(ACTIVE_STATUSES)),
        MonitoringProcess.started_at.is_(None) | (MonitoringProcess.started_at < before),
    )
    return list(session.scalars(query))


def end_row(session: Session, process_id: str, status: str, reason: str, before: datetime) -> bool:
    """Marks the row ended and settles its leftovers, unless it changed meanwhile (a new start)."""
    row = session.get(MonitoringProcess, process_id)
    if row is None or row.status not in ACTIVE_STATUSES or (row.started_at and row.started_at >= before):
        return False
    items.settle_leftovers(session, process_id, f"process ended: {reason}")
    row.status, row.stop_reason, row.stopped_at = status, reason, utcnow()
    if status == ProcessStatus.FAILED:
        row.last_error = reason
    return True


def resume_row(session: Session, process_id: str, before: datetime) -> bool:
    """A workflow runs but the row says otherwise: the row follows the workflow."""
    row = session.get(MonitoringProcess, process_id)
    if row is None or row.status in ACTIVE_STATUSES or (row.stopped_at and row.stopped_at >= before):
        return False
    row.status, row.stop_reason, row.stopped_at = ProcessStatus.RUNNING, None, None
    if row.started_at is None:
        row.started_at = utcnow()
    return True


def record_on_running(session: Session, message: str) -> int:
    result = session.execute(
        update(MonitoringProcess)
        .where(MonitoringProcess.status.in_(list(ACTIVE_STATUSES)))
        .values(last_error=message[:2000])
    )
    return row_count(result)
