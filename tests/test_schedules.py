"""Schedules on the local dev server: idempotent apply, and every schedule triggered with a real worker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy, WorkflowFailureError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.conftest import CliEnv, LLMServer, MyMomentServer, RunCli
from yourmoment import processes_client
from yourmoment.messages import MaintenanceResult, MonitorInput, MonitorResult
from yourmoment.schedules import SCHEDULES, list_schedules, schedule_id, static_rows
from yourmoment.schedules_apply import apply_schedules, build_schedule
from yourmoment.settings import Settings
from yourmoment.store.db import session_scope
from yourmoment.store.models import AIComment, MonitoringProcess, MyMomentSession, NotificationRecord, utcnow
from yourmoment_dev.harness import (
    Harness,
    WorkerProcess,
    fast_settings,
    hermetic_env,
    running_worker,
    wait_until,
)

pytestmark = pytest.mark.slow
DEFS = {d.name: d for d in SCHEDULES}


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}-"


async def delete_schedules(client: Client, settings: Settings) -> None:
    """Schedules outlive a test on the shared dev server; without a worker they would only pile up runs."""
    for d in SCHEDULES:
        with contextlib.suppress(RPCError):
            await client.get_schedule_handle(schedule_id(settings, d)).delete()


async def run_schedule_now(client: Client, sid: str) -> MaintenanceResult:
    """Triggers the schedule and waits for the workflow it started (its id comes from the schedule)."""
    handle = client.get_schedule_handle(sid)
    before = (await handle.describe()).info.num_actions
    await handle.trigger()
    started: list[Any] = []

    async def action_taken() -> bool:
        desc = await handle.describe()
        started[:] = desc.info.recent_actions
        return desc.info.num_actions > before and bool(started)

    await wait_until(action_taken, 30, f"{sid} to start its workflow")
    workflow_id = started[-1].action.workflow_id
    assert workflow_id.startswith(sid)
    return await client.get_workflow_handle(workflow_id, result_type=MaintenanceResult).result()


# --- apply -------------------------------------------------------------------------------------------


async def test_apply_twice_is_idempotent_and_updates_a_changed_spec(
    dev_env: WorkflowEnvironment, db_url: str, env: CliEnv, run_cli: RunCli
) -> None:
    client = dev_env.client
    prefix = unique_prefix()
    settings = fast_settings(db_url, "http://127.0.0.1:9", temporal_task_queue_prefix=prefix)
    # An older version of the cleanup schedule: hourly, and paused by an operator.
    cleanup_id = schedule_id(settings, DEFS["cleanup-expired-sessions"])
    stale = build_schedule(settings, DEFS["cleanup-expired-sessions"])
    stale.spec.intervals[0].every = timedelta(hours=1)
    stale.state.paused = True
    await client.create_schedule(cleanup_id, stale)
    try:
        first = await apply_schedules(client, settings)
        assert {o.id: o.outcome for o in first} == {
            schedule_id(settings, d): ("updated" if d.name == "cleanup-expired-sessions" else "created")
            for d in SCHEDULES
        }
        second = await apply_schedules(client, settings)
        assert [o.outcome for o in second] == ["updated"] * len(SCHEDULES)

        desc = await client.get_schedule_handle(cleanup_id).describe()
        assert [i.every for i in desc.schedule.spec.intervals] == [timedelta(minutes=5)]
        assert desc.schedule.state.paused  # the operator's pause is kept
        assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        action = desc.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "MaintenanceWorkflow" and action.task_queue == f"{prefix}maintenance"

        async def listed_once() -> bool:
            ids = Counter([s.id async for s in await client.list_schedules() if s.id.startswith(prefix)])
            return ids == Counter(schedule_id(settings, d) for d in SCHEDULES)

        await wait_until(listed_once, 30, "each schedule listed exactly once")

        env.set(TEMPORAL_ADDRESS=client.service_client.config.target_host, TEMPORAL_TASK_QUEUE_PREFIX=prefix)
        result = await asyncio.to_thread(run_cli, "schedules", "apply", "--json")
        assert result.code == 0, result.err
        assert {o["outcome"] for o in result.json()} == {"updated"}
        result = await asyncio.to_thread(run_cli, "schedules", "list", "--json")
        assert result.code == 0, result.err
        rows = {r["id"]: r for r in result.json()}
        assert set(rows) == {schedule_id(settings, d) for d in SCHEDULES}
        assert all(r["present"] for r in rows.values())
        assert rows[cleanup_id]["paused"] and rows[cleanup_id]["every"] == "every 5 min"
        assert rows[schedule_id(settings, DEFS["retention"])]["every"] == "daily at 03:30 UTC"
    finally:
        await delete_schedules(client, settings)


async def test_list_reports_missing_schedules(dev_env: WorkflowEnvironment, db_url: str) -> None:
    settings = fast_settings(db_url, "http://127.0.0.1:9", temporal_task_queue_prefix=unique_prefix())
    rows = await list_schedules(dev_env.client, settings)
    assert [r.present for r in rows] == [False] * len(SCHEDULES)


# --- every schedule, triggered with a worker running ----------------------------------------------------


def seed(settings: Settings, world: Any) -> dict[str, str]:
    """Sessions, items and processes in the states each schedule deals with; returns their ids."""
    now = utcnow()
    login_a, login_b = world.login_ids["pupil-1"], world.login_ids["pupil-2"]
    ids = {
        "retention": world.create_process(name="retention"),
        "orphan": world.create_process(name="orphan"),
        "unrecorded": world.create_process(name="unrecorded"),
    }
    # pupil-1's session is active but expired an hour ago; pupil-2's ended long ago.
    sessions = [
        (login_a, timedelta(hours=25), timedelta(hours=1), True),
        (login_b, timedelta(days=40), timedelta(days=39), False),
    ]
    with session_scope(settings.database_url) as s:
        for login_id, saved_ago, expired_ago, is_active in sessions:
            s.add(
                MyMomentSession(
                    login_id=login_id,
                    session_enc="x",
                    saved_at=now - saved_ago,
                    expires_at=now - expired_ago,
                    is_active=is_active,
                )
            )

        def item(process: str, article: str, status: str, age_days: float) -> str:
            row = AIComment(
                process_id=ids[process],
                login_id=login_a,
                mymoment_article_id=article,
                status=status,
                article_title=f"Titel {article}",
                article_content="Der Text eines Kindes.",
                article_raw_html="<p>Der Text eines Kindes.</p>",
                comment_html="<p>Kommentar</p>",
                reasoning="Begründung",
                created_at=now - timedelta(days=age_days),
            )
            s.add(row)
            s.flush()
            return row.id

        ids["old_posted"] = item("retention", "1", "posted", 100)
        ids["old_prepared"] = item("retention", "2", "prepared", 100)
        ids["recent_posted"] = item("retention", "3", "posted", 1)
        ids["ancient_failed"] = item("retention", "4", "failed", 400)
        ids["ancient_generated"] = item("retention", "5", "generated", 400)
        ids["orphan_prepared"] = item("orphan", "6", "prepared", 0)
        ids["orphan_posting"] = item("orphan", "7", "posting", 0)
        for kind, age_days in (("old", 100), ("recent", 1)):
            s.add(NotificationRecord(kind=kind, delivered=True, created_at=now - timedelta(days=age_days)))
        orphan = s.get(MonitoringProcess, ids["orphan"])
        assert orphan is not None
        orphan.status, orphan.started_at = "running", now - timedelta(hours=1)
    return ids


async def test_each_schedule_does_its_work(
    dev_env: WorkflowEnvironment, db_url: str, mymoment_server: MyMomentServer, llm_server: LLMServer
) -> None:
    client = dev_env.client
    prefix = unique_prefix()
    # This dev server has no yourMoment search attributes (the health check would report them).
    settings = fast_settings(
        db_url,
        mymoment_server.url,
        temporal_task_queue_prefix=prefix,
        retention_days=90,
        temporal_search_attributes=False,
    )
    world = Harness.seed(settings, mymoment_server.state, llm_server.url, logins=("pupil-1", "pupil-2"))
    ids = seed(settings, world)
    sid = {name: schedule_id(settings, d) for name, d in DEFS.items()}
    async with running_worker(client, settings):
        await apply_schedules(client, settings)
        unrecorded = None
        try:
            result = await run_schedule_now(client, sid["cleanup-expired-sessions"])
            assert result.counts == {"deactivated": 1}
            result = await run_schedule_now(client, sid["purge-old-sessions"])
            assert result.counts == {"purged": 1}
            with session_scope(db_url) as s:
                remaining = {row.login_id: row.is_active for row in s.query(MyMomentSession)}
            assert remaining == {world.login_ids["pupil-1"]: False}

            result = await run_schedule_now(client, sid["retention"])
            # Blanked: old_posted, ancient_generated; deleted: ancient_failed and the old notification.
            assert result.counts == {"blanked": 2, "deleted": 1, "notifications": 1, "versions_blanked": 0}
            with session_scope(db_url) as s:
                assert [n.kind for n in s.query(NotificationRecord)] == ["recent"]
            with session_scope(db_url) as s:
                rows = {
                    i: s.get(AIComment, ids[i])
                    for i in (
                        "old_posted",
                        "old_prepared",
                        "recent_posted",
                        "ancient_failed",
                        "ancient_generated",
                    )
                }
            assert rows.pop("ancient_failed") is None
            kept = {name: row for name, row in rows.items() if row is not None}
            assert kept.keys() == rows.keys()
            old = kept["old_posted"]
            assert old.article_content is None and old.article_raw_html is None and old.reasoning is None
            assert old.article_title == "Titel 1" and old.comment_html == "<p>Kommentar</p>"
            assert kept["old_prepared"].article_content and kept["recent_posted"].article_content
            assert (
                kept["ancient_generated"].comment_html and kept["ancient_generated"].article_content is None
            )

            # A workflow that runs while its row says otherwise (say, a database restored from a backup).
            # Started outside starter.py, its first activity marks the row running; the row is then
            # set back to what the backup would say.
            inp = MonitorInput(process_id=ids["unrecorded"], use_search_attributes=False)
            unrecorded = await processes_client.start_monitoring(client, settings, ids["unrecorded"], inp=inp)

            def marked_by_workflow() -> bool:
                with session_scope(db_url) as s:
                    marked = s.get(MonitoringProcess, ids["unrecorded"])
                    return marked is not None and marked.status == "running"

            await wait_until(marked_by_workflow, 30, "the workflow marking its row running")
            with session_scope(db_url) as s:
                row = s.get(MonitoringProcess, ids["unrecorded"])
                assert row is not None
                row.status, row.stopped_at = "stopped", utcnow() - timedelta(hours=1)

            async def unrecorded_listed() -> bool:
                query = f'WorkflowId = "{unrecorded.id}" AND ExecutionStatus = "Running"'
                return bool([w async for w in client.list_workflows(query)])

            await wait_until(unrecorded_listed, 30, "the running workflow in the visibility store")
            result = await run_schedule_now(client, sid["reconcile"])
            assert result.counts == {"ended": 1, "resumed": 1}, result.notes
            with session_scope(db_url) as s:
                orphan = s.get(MonitoringProcess, ids["orphan"])
                unrec = s.get(MonitoringProcess, ids["unrecorded"])
                prepared = s.get(AIComment, ids["orphan_prepared"])
                posting = s.get(AIComment, ids["orphan_posting"])
            assert orphan and unrec and prepared and posting
            assert orphan.status == "stopped" and "no workflow" in (orphan.stop_reason or "")
            assert orphan.stopped_at is not None
            assert prepared.status == "skipped" and posting.status == "generated"  # leftovers settled
            assert unrec.status == "running"
            # A second run finds nothing more to correct.
            result = await run_schedule_now(client, sid["reconcile"])
            assert result.counts == {"ended": 0, "resumed": 0}

            result = await run_schedule_now(client, sid["health-check"])
            assert result.healthy and result.counts["failed"] == 0, result.notes

            # No pupil tracked: the backup reads nothing (tests/test_versions.py tracks some).
            result = await run_schedule_now(client, sid["student-backup"])
            assert result.counts == {"pupils": 0, "articles_read": 0, "versions": 0, "requests": 0}
        finally:
            await delete_schedules(client, settings)
            if unrecorded is not None:
                await processes_client.stop(unrecorded)
        final = await client.get_workflow_handle(unrecorded.id, result_type=MonitorResult).result()
    assert final.status == "stopped"


def test_the_student_backup_runs_every_student_backup_interval_minutes(db_url: str) -> None:
    settings = fast_settings(db_url, "http://127.0.0.1:9", student_backup_interval_minutes=15)
    rows = {row.task: row for row in static_rows(settings)}
    assert rows["student_backup"].every == "every 15 min"
    assert rows["student_backup"].id == f"{settings.temporal_task_queue_prefix}student-backup"


async def test_scheduled_health_check_fails_visibly_without_pollers(
    dev_env: WorkflowEnvironment, db_url: str
) -> None:
    client = dev_env.client
    settings = fast_settings(db_url, "http://127.0.0.1:9", temporal_task_queue_prefix=unique_prefix())
    async with running_worker(client, settings, queues=("monitoring", "maintenance")):
        await apply_schedules(client, settings)
        try:
            with pytest.raises(WorkflowFailureError) as failure:
                await run_schedule_now(client, schedule_id(settings, DEFS["health-check"]))
        finally:
            await delete_schedules(client, settings)
    message = str(failure.value.cause)
    assert "pollers:comments" in message and "pollers:sessions" in message
    assert "pollers:monitoring" not in message and "database" not in message


# --- the worker applies them at start ------------------------------------------------------------------


async def test_worker_applies_schedules_at_start_unless_told_not_to(
    dev_env: WorkflowEnvironment, db_url: str
) -> None:
    prefix = unique_prefix()
    settings = fast_settings(db_url, "http://127.0.0.1:9", temporal_task_queue_prefix=prefix)
    env = hermetic_env(
        DATABASE_URL=db_url,
        YOURMOMENT_ENCRYPTION_KEY=settings.yourmoment_encryption_key or "",
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        TEMPORAL_TASK_QUEUE_PREFIX=prefix,
        MYMOMENT_BASE_URL="http://127.0.0.1:9",  # not the real site, which needs a CONTACT
    )
    worker = WorkerProcess(env, "--task-queues", "comments,maintenance", "--no-schedules")
    worker.start()
    try:
        await asyncio.sleep(1.0)
        assert not any(r.present for r in await list_schedules(dev_env.client, settings))
    finally:
        assert worker.terminate() == 0
    worker = WorkerProcess(env, "--task-queues", "maintenance")
    worker.start()
    try:

        async def applied() -> bool:
            return all(r.present for r in await list_schedules(dev_env.client, settings))

        await wait_until(applied, 30, "the worker to apply the schedules")
    finally:
        assert worker.terminate() == 0
        await delete_schedules(dev_env.client, settings)
    assert any("schedules applied" in line for line in worker.output)
