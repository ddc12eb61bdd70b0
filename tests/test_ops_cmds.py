"""Operating commands in-process: health, info, monitor and stop --all against the local dev server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.by_queue import ACTIVITY_CLASSES
from activities.deps import Dependencies
from tests.conftest import CliEnv, LLMServer, MyMomentServer, RunCli
from tests.support import cli
from yourmoment.crypto import generate_key
from yourmoment.messages import ALL_QUEUES
from yourmoment.schedules import SCHEDULES
from yourmoment.schedules_apply import apply_schedules
from yourmoment.settings import get_settings
from yourmoment_dev.harness import Harness, running_worker, wait_until

pytestmark = pytest.mark.slow
UNREACHABLE_TEMPORAL = "127.0.0.1:9"


def point_at(env: Any, dev_env: WorkflowEnvironment | None) -> str:
    """Points the CLI at the dev server (or nowhere) with a fresh task queue prefix; returns the prefix."""
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    address = dev_env.client.service_client.config.target_host if dev_env else UNREACHABLE_TEMPORAL
    env.set(TEMPORAL_ADDRESS=address, TEMPORAL_TASK_QUEUE_PREFIX=prefix)
    return prefix


def checks(result: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in result.json()["checks"]}


# --- health ------------------------------------------------------------------------------------------


async def test_health_ok_with_a_worker_and_failing_for_a_broken_key(
    dev_env: WorkflowEnvironment, env: CliEnv, run_cli: RunCli, mymoment_server: MyMomentServer
) -> None:
    point_at(env, dev_env)
    env.set(TEMPORAL_SEARCH_ATTRIBUTES="false")  # not registered on this dev server (see test_stuck)
    for args, stdin in (
        (["user", "add", "t@example.org"], None),
        (["login", "add", "a", "--username", "pupil-a", "--password-stdin"], "secret\n"),
    ):
        assert (await cli(run_cli, *args, stdin=stdin)).code == 0
    settings = get_settings()
    async with running_worker(dev_env.client, settings):
        await apply_schedules(dev_env.client, settings)
        result = await cli(run_cli, "health", "--json")
        assert result.code == 0, result.out
        by_name = checks(result)
        assert set(by_name) == {
            "temporal",
            "database",
            "encryption_key",
            "mymoment",
            "schedules",
            "workflows",
            "notifier",
            *(f"pollers:{q}" for q in ALL_QUEUES),
        }
        assert all(c["ok"] for c in by_name.values())
        assert by_name["notifier"]["detail"] == "none configured (NOTIFY_URLS): nobody is notified"
        assert "1 workflow poller, 1 activity poller" in by_name["pollers:monitoring"]["detail"]
        assert "workflow" not in by_name["pollers:comments"]["detail"]  # activities only
        assert "stored secret decrypts" in by_name["encryption_key"]["detail"]

        text = await cli(run_cli, "health")
        assert text.code == 0 and text.out.strip().endswith("healthy")

        env.set(YOURMOMENT_ENCRYPTION_KEY=None)
        result = await cli(run_cli, "health", "--json")
        assert result.code == 1
        failed = {n: c["detail"] for n, c in checks(result).items() if not c["ok"]}
        assert list(failed) == ["encryption_key"] and "not set" in failed["encryption_key"]

        env.set(YOURMOMENT_ENCRYPTION_KEY=generate_key())  # valid, but not the key the login was stored with
        result = await cli(run_cli, "health", "--json")
        assert result.code == 1
        assert "cannot be decrypted" in checks(result)["encryption_key"]["detail"]
        text = await cli(run_cli, "health")
        assert text.code == 1 and "UNHEALTHY: 1 check failed" in text.out


async def test_health_fails_for_a_queue_without_pollers(
    dev_env: WorkflowEnvironment, env: CliEnv, run_cli: RunCli, mymoment_server: MyMomentServer
) -> None:
    point_at(env, dev_env)
    env.set(TEMPORAL_SEARCH_ATTRIBUTES="false")
    settings = get_settings()
    async with running_worker(dev_env.client, settings, queues=("monitoring", "sessions", "maintenance")):
        await apply_schedules(dev_env.client, settings)
        result = await cli(run_cli, "health", "--json")
    assert result.code == 1
    failed = {n: c["detail"] for n, c in checks(result).items() if not c["ok"]}
    assert list(failed) == ["pollers:comments"]
    assert (
        "no activity poller" in failed["pollers:comments"]
        and "--task-queues comments" in failed["pollers:comments"]
    )


async def test_health_without_temporal_still_checks_the_rest(env: CliEnv, run_cli: RunCli) -> None:
    point_at(env, None)
    result = await cli(run_cli, "health", "--json")
    assert result.code == 1
    by_name = checks(result)
    assert not by_name["temporal"]["ok"] and "cannot reach Temporal" in by_name["temporal"]["detail"]
    assert by_name["database"]["ok"] and by_name["encryption_key"]["ok"]
    assert "no stored secret yet" in by_name["encryption_key"]["detail"]


# --- info --------------------------------------------------------------------------------------------


async def test_info_lists_every_activity_queue_and_schedule(env: CliEnv, run_cli: RunCli) -> None:
    prefix = point_at(env, None)  # the static part needs no server
    result = await cli(run_cli, "info", "--json")
    assert result.code == 0, result.err
    info = result.json()
    assert info["temporal"]["reachable"] is False
    queues = {q["queue"]: q for q in info["task_queues"]}
    assert [q["name"] for q in info["task_queues"]] == [f"{prefix}{q}" for q in ALL_QUEUES]
    deps = Dependencies.from_settings(get_settings())
    for queue in ALL_QUEUES:
        # What the worker registers; an activity is named after its method (tests/test_activity_calls.py).
        names = {fn.__name__ for fn in ACTIVITY_CLASSES[queue](deps).activities()}
        assert set(queues[queue]["activities"]) == names, queue
    assert "MonitoringProcessWorkflow" in queues["monitoring"]["workflows"]
    assert queues["maintenance"]["workflows"] == ["MaintenanceWorkflow"]
    assert queues["comments"]["workflows"] == []
    assert [s["id"] for s in info["schedules"]] == [f"{prefix}{d.name}" for d in SCHEDULES]

    text = await cli(run_cli, "info")
    assert text.code == 0 and "reconcile_processes" in text.out and f"{prefix}health-check" in text.out


async def test_info_shows_schedules_from_the_server(
    dev_env: WorkflowEnvironment, env: CliEnv, run_cli: RunCli
) -> None:
    point_at(env, dev_env)
    await apply_schedules(dev_env.client, get_settings())
    info = (await cli(run_cli, "info", "--json")).json()
    assert info["temporal"]["reachable"] is True
    assert all(s["present"] and s["next_run"] for s in info["schedules"])


# --- monitor and stop --all ----------------------------------------------------------------------------


async def test_monitor_once_shows_the_running_process(
    dev_env: WorkflowEnvironment,
    env: CliEnv,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
) -> None:
    point_at(env, dev_env)
    env.set(TEMPORAL_SEARCH_ATTRIBUTES="false")  # not registered on this dev server
    settings = get_settings()
    world = Harness.seed(settings, mymoment_server.state, llm_server.url)
    process_id = world.create_process(name="klasse-82")
    user = ["--user", world.user_email]
    async with running_worker(dev_env.client, settings):
        result = await cli(run_cli, *user, "start", process_id)
        assert result.code == 0, result.err

        async def discovered() -> bool:
            rows = (await cli(run_cli, *user, "monitor", "--once", "--json")).json()
            return bool(rows) and rows[0]["discovery_runs"] >= 1

        await wait_until(discovered, 30, "the first discovery")
        result = await cli(run_cli, *user, "monitor", "--once")
        assert result.code == 0, result.err
        assert "\033[" not in result.out  # --once prints without clearing the screen
        lines = result.out.splitlines()
        assert "1 running" in lines[0]
        header, row = lines[1], lines[2]
        assert header.split()[:3] == ["ID", "NAME", "STATUS"]
        assert row.startswith(process_id[:8]) and "klasse-82" in row and "running" in row and "in " in row

        result = await cli(run_cli, *user, "stop", "--all", "--wait")
        assert result.code == 0 and "klasse-82: stopped" in result.out, result.out + result.err
        result = await cli(run_cli, *user, "monitor", "--once")
    assert "0 running" in result.out and "no running process" in result.out
