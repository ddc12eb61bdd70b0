"""No silent hang: unregistered search attributes, failing workflow tasks, no worker, pause (issue 9).

Against a dev server started WITHOUT yourMoment's search attributes, as a fresh Temporal service is.
Every command runs with a bound (`bounded`), so a hang fails the test instead of blocking it.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.conftest import CliEnv, LLMServer, MyMomentServer, RunCli
from yourmoment.messages import MonitorInput, workflow_id_for_process
from yourmoment.settings import get_settings
from yourmoment.store.db import session_scope
from yourmoment.store.models import AIComment, MonitoringProcess
from yourmoment.temporal_checks import SEARCH_ATTRIBUTES, missing_search_attributes
from yourmoment_dev.harness import REPO, Harness, WorkerProcess, running_worker, wait_until

pytestmark = pytest.mark.slow
COMMAND_BOUND = 60.0  # no command may take longer: the hangs of issue 9 were endless


def point_at(env: Any, dev_env: WorkflowEnvironment, namespace: str = "default", **more: str) -> str:
    """The CLI (and a worker started from os.environ) use this server, namespace and a fresh prefix."""
    prefix = f"s{uuid.uuid4().hex[:8]}-"
    env.set(
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        TEMPORAL_NAMESPACE=namespace,
        TEMPORAL_TASK_QUEUE_PREFIX=prefix,
        **more,
    )
    return prefix


async def bounded(run_cli: Any, *args: str) -> Any:
    """starter.py in a thread (its own event loop), failing the test if it does not return in time."""
    return await asyncio.wait_for(asyncio.to_thread(run_cli, *args), COMMAND_BOUND)


async def new_namespace(dev_env: WorkflowEnvironment, keyword_fillers: int = 0) -> tuple[str, Client]:
    """A fresh namespace (own search attributes); `keyword_fillers` Keyword attributes use up its slots."""
    name = f"ns-{uuid.uuid4().hex[:8]}"
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=Duration(seconds=86400))
    )
    if keyword_fillers:
        await dev_env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=name,
                search_attributes={
                    f"Filler{i}": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for i in range(keyword_fillers)
                },
            )
        )
    client = await Client.connect(dev_env.client.service_client.config.target_host, namespace=name)
    return name, client


def run_worker(timeout: float = 45) -> subprocess.CompletedProcess[str]:
    """worker.py with the test's environment; a worker that does not refuse runs into the timeout."""
    return subprocess.run(
        [sys.executable, str(REPO / "worker.py"), "--no-schedules"],
        cwd=Path.cwd(),
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def row_status(process_id: str) -> str:
    with session_scope(get_settings().database_url) as session:
        row = session.get(MonitoringProcess, process_id)
        assert row is not None
        return row.status


# --- 1. search attributes -----------------------------------------------------------------------------


async def test_worker_registers_missing_search_attributes_and_the_process_runs(
    dev_env: WorkflowEnvironment,
    env: CliEnv,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
) -> None:
    namespace, ns_client = await new_namespace(dev_env)
    point_at(env, dev_env, namespace)
    assert await missing_search_attributes(ns_client) == list(SEARCH_ATTRIBUTES)
    world = Harness.seed(get_settings(), mymoment_server.state, llm_server.url)
    process_id = world.create_process(name="klasse-sa")
    user = ("--user", world.user_email)
    worker = WorkerProcess(dict(os.environ), "--no-schedules", cwd=Path.cwd())
    worker.start()
    try:
        assert await missing_search_attributes(ns_client) == []
        result = await bounded(run_cli, *user, "start", process_id)
        assert result.code == 0, result.err

        async def discovered() -> bool:
            status = (await bounded(run_cli, *user, "status", process_id, "--json")).json()
            assert status["status"] == "running", status
            return status["discovery_runs"] >= 1

        await wait_until(discovered, 60, "the first discovery")
        found = await ns_client.count_workflows(f'YourMomentProcessId = "{process_id}"')
        assert found.count == 1  # findable in the Web UI by its process id
        result = await bounded(run_cli, *user, "stop", process_id, "--wait", "--timeout", "50")
        assert result.code == 0 and "stopped" in result.out, result.out + result.err
    finally:
        worker.terminate()


async def test_worker_start_and_health_refuse_when_the_service_cannot_register_them(
    dev_env: WorkflowEnvironment,
    env: CliEnv,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
) -> None:
    # A namespace whose 10 Keyword slots are taken: the service itself refuses to add ours.
    namespace, ns_client = await new_namespace(dev_env, keyword_fillers=10)
    point_at(env, dev_env, namespace)
    world = Harness.seed(get_settings(), mymoment_server.state, llm_server.url)
    process_id = world.create_process(name="klasse-full")

    proc = run_worker()
    last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert last.startswith(
        "error: search attributes YourMomentProcessId, YourMomentStatus, YourMomentProcessName not registered "
        f"in namespace {namespace}; "
        "the service refused to register them (Unable to create search attributes"
    )
    assert (
        f"'temporal operator search-attribute create --namespace {namespace} --name YourMomentProcessId "
        "--name YourMomentStatus --name YourMomentProcessName --type Keyword'" in last
    )
    assert "TEMPORAL_SEARCH_ATTRIBUTES=false" in last and "Traceback" not in proc.stderr

    result = await bounded(run_cli, "--user", world.user_email, "start", process_id)
    assert result.code == 2 and "refused to register them" in result.err, result.err
    assert row_status(process_id) == "created"  # nothing changed
    assert await missing_search_attributes(ns_client) == list(SEARCH_ATTRIBUTES)

    checks = {c["name"]: c for c in (await bounded(run_cli, "health", "--json")).json()["checks"]}
    assert not checks["search_attributes"]["ok"]
    assert "not registered" in checks["search_attributes"]["detail"]
    assert "TEMPORAL_SEARCH_ATTRIBUTES=false" in checks["search_attributes"]["detail"]

    # The way out that the line names works: without search attributes the worker starts.
    env.set(TEMPORAL_SEARCH_ATTRIBUTES="false")
    worker = WorkerProcess(dict(os.environ), "--no-schedules", cwd=Path.cwd())
    worker.start()
    worker.terminate()


async def test_worker_refuses_search_attributes_of_the_wrong_type(
    dev_env: WorkflowEnvironment, env: CliEnv
) -> None:
    namespace, _ = await new_namespace(dev_env)
    await dev_env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={"YourMomentStatus": IndexedValueType.INDEXED_VALUE_TYPE_INT},
        )
    )
    point_at(env, dev_env, namespace)
    proc = run_worker()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "YourMomentStatus as Int, Keyword needed" in last and "TEMPORAL_SEARCH_ATTRIBUTES=false" in last


# --- 2. a workflow task that keeps failing ------------------------------------------------------------


async def test_a_failing_workflow_task_shows_stuck_everywhere(
    dev_env: WorkflowEnvironment,
    env: CliEnv,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
) -> None:
    prefix = point_at(env, dev_env, TEMPORAL_SEARCH_ATTRIBUTES="false")
    settings = get_settings()
    world = Harness.seed(settings, mymoment_server.state, llm_server.url)
    undecodable, bad_attribute = (
        world.create_process(name="undecodable"),
        world.create_process(name="bad-attr"),
    )
    user = ("--user", world.user_email)
    client = dev_env.client
    async with running_worker(client, settings):
        for process_id in (undecodable, bad_attribute):
            world.mark_running(process_id)
        # An input the workflow cannot decode (an old or foreign starter), and a search attribute that
        # this service does not know (a starter configured for another service).
        await client.start_workflow(
            "MonitoringProcessWorkflow",
            {"process": "Mein Hund heisst Bello"},
            id=workflow_id_for_process(undecodable),
            task_queue=f"{prefix}monitoring",
        )
        await client.start_workflow(
            "MonitoringProcessWorkflow",
            MonitorInput(process_id=bad_attribute, use_search_attributes=True),
            id=workflow_id_for_process(bad_attribute),
            task_queue=f"{prefix}monitoring",
        )
        expected = {undecodable: "Failed decoding arguments", bad_attribute: "BadSearchAttributes"}

        async def both_stuck() -> bool:
            for process_id, message in expected.items():
                status = (await bounded(run_cli, *user, "status", process_id, "--json")).json()
                if status["status"] != "stuck":
                    return False
                assert message in status["last_error"] and "workflow task failing" in status["last_error"]
                assert "Bello" not in status["last_error"]  # the SDK's message, never the payload
            return True

        await wait_until(both_stuck, 60, "both processes shown as stuck")

        text = await bounded(run_cli, *user, "status", "undecodable")
        assert "undecodable" in text.out and ": stuck" in text.out and "Failed decoding arguments" in text.out

        rows = {r["id"]: r for r in (await bounded(run_cli, *user, "list", "--json")).json()}
        for process_id, message in expected.items():
            assert rows[process_id]["status"] == "stuck" and message in rows[process_id]["stuck"]
        table = (await bounded(run_cli, *user, "list")).out
        assert table.count("stuck") >= 2 and "STUCK" in table

        monitor = await bounded(run_cli, *user, "monitor", "--once")
        assert monitor.out.count(" stuck ") == 2, monitor.out
        assert "Failed decoding arguments" in monitor.out and "Bello" not in monitor.out

        checks = {c["name"]: c for c in (await bounded(run_cli, "health", "--json")).json()["checks"]}
        assert not checks["workflows"]["ok"] and "(and 1 more)" in checks["workflows"]["detail"]
        assert "monitoring-process-" in checks["workflows"]["detail"]

        stop = await bounded(run_cli, *user, "stop", "bad-attr", "--wait", "--timeout", "3")
        assert stop.code == 1 and "not stopped within 3 s: workflow task failing" in stop.err, stop.err
        for process_id in expected:
            await client.get_workflow_handle(workflow_id_for_process(process_id)).terminate("test over")


# --- 3. no worker ------------------------------------------------------------------------------------------


async def test_without_a_worker_commands_warn_and_waits_end(
    dev_env: WorkflowEnvironment,
    env: CliEnv,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
) -> None:
    prefix = point_at(env, dev_env, TEMPORAL_SEARCH_ATTRIBUTES="false")
    world = Harness.seed(get_settings(), mymoment_server.state, llm_server.url)
    process_id = world.create_process(name="klasse-leer")
    user = ("--user", world.user_email)
    warning = f"warning: no worker polls {prefix}monitoring"

    start = await bounded(run_cli, *user, "start", "klasse-leer")
    assert start.code == 0 and warning in start.err, start.err
    status = await bounded(run_cli, *user, "status", "klasse-leer")
    assert status.code == 0 and warning in status.err
    signal = await bounded(run_cli, *user, "discover-now", "klasse-leer")
    assert warning in signal.err

    stop = await bounded(run_cli, *user, "stop", "klasse-leer", "--wait", "--timeout", "3")
    assert stop.code == 1, stop.out + stop.err
    assert "klasse-leer: not stopped within 3 s: no worker polls" in stop.err

    with session_scope(get_settings().database_url) as session:
        item = AIComment(
            process_id=process_id,
            login_id=next(iter(world.login_ids.values())),
            mymoment_article_id="4711",
            status="generated",
            comment_html="<p>x</p>",
        )
        session.add(item)
        session.flush()
        item_id = item.id
    post = await bounded(run_cli, *user, "post", item_id, "--timeout", "3")
    assert post.code == 1, post.out + post.err
    assert f"comment {item_id} not posted within 3 s: no worker polls {prefix}monitoring" in post.err
    assert "stays queued" in post.err

    bad = await bounded(run_cli, *user, "post", item_id, "--timeout", "0")
    assert bad.code == 2 and "--timeout" in bad.err
    for workflow_id in (workflow_id_for_process(process_id), f"post-comment-{item_id}"):
        await dev_env.client.get_workflow_handle(workflow_id).terminate("test over")


# --- 5. pause ----------------------------------------------------------------------------------------------


async def test_discover_now_while_paused_says_so(
    dev_env: WorkflowEnvironment,
    env: CliEnv,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
) -> None:
    point_at(env, dev_env, TEMPORAL_SEARCH_ATTRIBUTES="false")
    settings = get_settings()
    world = Harness.seed(settings, mymoment_server.state, llm_server.url)
    world.create_process(name="Klasse Pause")
    user = ("--user", world.user_email)
    async with running_worker(dev_env.client, settings):
        assert (await bounded(run_cli, *user, "start", "Klasse Pause")).code == 0

        async def runs(n: int) -> bool:
            return (await bounded(run_cli, *user, "status", "Klasse Pause", "--json")).json()[
                "discovery_runs"
            ] >= n

        await wait_until(lambda: runs(1), 30, "the first discovery")
        assert (await bounded(run_cli, *user, "pause", "Klasse Pause")).code == 0
        result = await bounded(run_cli, *user, "discover-now", "Klasse Pause")
        assert result.code == 1 and "is paused" in result.err and "resume" in result.err, (
            result.out + result.err
        )
        # The hint ends with the command, quoted for a shell and not nested in other quotes: pasted, it
        # runs `resume` on this process.
        hint = result.err.strip().rsplit("starter.py ", 1)[1]
        assert shlex.split(hint) == ["resume", "Klasse Pause"], result.err
        status = (await bounded(run_cli, *user, "status", "Klasse Pause", "--json")).json()
        assert status["paused"] and status["discovery_runs"] == 1 and status["next_discovery_at"] is None
        assert (await bounded(run_cli, *user, "resume", "Klasse Pause")).code == 0
        await wait_until(lambda: runs(2), 30, "the discovery that resume starts")
        result = await bounded(run_cli, *user, "stop", "Klasse Pause", "--wait", "--timeout", "50")
        assert result.code == 0 and "stopped" in result.out
