"""`start` and `status` tell the truth: atomic start, the Temporal connection from `.env`, the database fallback.

Real components only: the local dev server, the worker wiring in-process, the imitation servers, SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from tests.conftest import LLMServer, MyMomentServer, RunCli
from tests.support import (
    cli,
    cli_ok,
    configure_class_82,
    isolate_temporal,
    process_create,
    start_monitoring,
    stored,
)
from yourmoment.messages import workflow_id_for_process
from yourmoment.settings import get_settings
from yourmoment.store import items, processes
from yourmoment.store.db import session_scope
from yourmoment.store.models import MonitoringProcess
from yourmoment.temporal_client import temporal_connect_config
from yourmoment_dev.harness import add_articles, running_worker, wait_until

pytestmark = pytest.mark.slow
CLOSED_PORT = "127.0.0.1:9"  # the discard port: nothing listens, connections are refused at once


@pytest.fixture
def temporal_env(env: Any, tmp_path: Path) -> Any:
    """No Temporal variable from the developer's shell, and an empty Temporal config file."""
    return isolate_temporal(env, tmp_path, "t")


def address(dev_env: WorkflowEnvironment) -> str:
    return dev_env.client.service_client.config.target_host


def row_values(database_url: str, process_id: str) -> dict[str, Any]:
    """The stored row exactly as the database holds it (raw SQL, no ORM conversion)."""
    with session_scope(database_url) as session:
        row = session.execute(text("SELECT * FROM monitoring_processes WHERE id = :id"), {"id": process_id})
        return dict(row.mappings().one())


def set_row(database_url: str, process_id: str, **values: Any) -> None:
    with session_scope(database_url) as session:
        row = session.get(MonitoringProcess, process_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)


def previous_run(database_url: str, process_id: str) -> None:
    """The row as an earlier run left it: stopped, with its reason, times and last error."""
    set_row(
        database_url,
        process_id,
        status="stopped",
        stop_reason="stopped by user",
        last_error="an old error",
        started_at=datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
        stopped_at=datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
        workflow_run_id="old-run",
    )


# --- 4. a failed start changes nothing ---------------------------------------------------------------------


async def test_failed_start_changes_nothing_and_the_next_start_works(
    any_db_url: str,
    dev_env: WorkflowEnvironment,
    temporal_env: Any,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
) -> None:
    process_id = await configure_class_82(run_cli, mymoment_server, llm_server.url)
    previous_run(temporal_env.database_url, process_id)
    temporal_env.set(TEMPORAL_ADDRESS=CLOSED_PORT, MAX_RUNNING_PROCESSES_PER_USER=1)
    before = row_values(temporal_env.database_url, process_id)
    for _ in range(2):  # a second failure is the same failure, not "already running"
        result = await cli(run_cli, "start", "Klasse 82")
        assert result.code == 2
        assert "cannot reach Temporal" in result.err and CLOSED_PORT in result.err
        assert row_values(temporal_env.database_url, process_id) == before

    temporal_env.set(TEMPORAL_ADDRESS=address(dev_env))  # no phantom counts against the limit of 1
    result = await cli(run_cli, "start", "Klasse 82", "--json")
    assert result.code == 0, result.err
    started = result.json()
    after = row_values(temporal_env.database_url, process_id)
    assert after["status"] == "running" and after["workflow_run_id"] == started["run_id"]
    assert after["stop_reason"] is None and after["stopped_at"] is None and after["last_error"] is None
    assert after["started_at"] != before["started_at"]
    await dev_env.client.get_workflow_handle(started["workflow_id"]).terminate("test over")


async def test_a_workflow_started_without_the_cli_marks_its_row_running(
    dev_env: WorkflowEnvironment,
    temporal_env: Any,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
) -> None:
    """The CLI killed right after Temporal accepted the start: the workflow's first activity marks the row."""
    process_id = await configure_class_82(run_cli, mymoment_server, llm_server.url)
    previous_run(temporal_env.database_url, process_id)
    temporal_env.set(TEMPORAL_ADDRESS=address(dev_env))
    settings = get_settings()
    async with running_worker(dev_env.client, settings):
        handle = await start_monitoring(dev_env.client, settings, process_id)
        await wait_until(
            lambda: row_values(temporal_env.database_url, process_id)["status"] == "running",
            20,
            "the row marked running by the workflow",
        )
        row = row_values(temporal_env.database_url, process_id)
        assert row["stop_reason"] is None and row["stopped_at"] is None and row["last_error"] is None
        assert row["workflow_run_id"] == handle.result_run_id
        assert (await cli(run_cli, "stop", "Klasse 82", "--wait")).code == 0
    assert row_values(temporal_env.database_url, process_id)["status"] == "stopped"


# --- 6. the Temporal connection honours .env ---------------------------------------------------------------


async def test_temporal_address_in_dotenv_is_used_and_the_environment_wins(
    dev_env: WorkflowEnvironment, temporal_env: Any, run_cli: RunCli, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(f"TEMPORAL_ADDRESS={address(dev_env)}\nTEMPORAL_NAMESPACE=default\n")
    result = await cli(run_cli, "info", "--json")
    assert result.code == 0
    assert result.json()["temporal"]["reachable"] is True
    assert result.json()["temporal"]["address"] == address(dev_env)

    temporal_env.set(TEMPORAL_ADDRESS=CLOSED_PORT)  # the process environment outranks .env
    result = await cli(run_cli, "info", "--json")
    assert result.json()["temporal"]["reachable"] is False
    assert CLOSED_PORT in result.json()["temporal"]["error"]


def test_connection_order_environment_dotenv_profile_default(temporal_env: Any, tmp_path: Path) -> None:
    config_file = tmp_path / "temporal.toml"
    config_file.write_text(
        '[profile.default]\naddress = "file-host:7001"\nnamespace = "file-ns"\n'
        '[profile.school]\naddress = "school-host:7002"\n'
    )
    temporal_env.set(TEMPORAL_CONFIG_FILE=config_file)
    assert temporal_connect_config() == {"target_host": "file-host:7001", "namespace": "file-ns"}

    (tmp_path / ".env").write_text("TEMPORAL_ADDRESS=dotenv-host:7003\ntemporal_profile=school\n")
    assert temporal_connect_config() == {"target_host": "dotenv-host:7003"}  # .env names the profile too

    temporal_env.set(TEMPORAL_ADDRESS="env-host:7004", TEMPORAL_NAMESPACE="env-ns")
    assert temporal_connect_config() == {"target_host": "env-host:7004", "namespace": "env-ns"}
    assert temporal_connect_config(target_host="flag-host:7005")["target_host"] == "flag-host:7005"

    (tmp_path / ".env").unlink()
    config_file.write_text("")
    temporal_env.set(TEMPORAL_ADDRESS=None, TEMPORAL_NAMESPACE=None)
    assert temporal_connect_config() == {"target_host": "localhost:7233"}


def test_an_unknown_profile_is_one_error_line(temporal_env: Any, run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TEMPORAL_PROFILE=nowhere\n")
    result = run_cli("schedules", "list")
    assert result.code == 2
    assert result.err.startswith("error: ") and "nowhere" in result.err and len(result.err.splitlines()) == 1


# --- 10. status falls back to the database ------------------------------------------------------------------


async def test_status_without_temporal_falls_back_to_the_database(
    temporal_env: Any, run_cli: RunCli, mymoment_server: MyMomentServer, llm_server: LLMServer
) -> None:
    process_id = await configure_class_82(run_cli, mymoment_server, llm_server.url)
    temporal_env.set(TEMPORAL_ADDRESS=CLOSED_PORT)
    for state in ("created", "stopped", "running"):
        set_row(temporal_env.database_url, process_id, status=state)
        result = await cli(run_cli, "status", "Klasse 82", "--json")
        assert result.code == 0, result.err
        shown = result.json()
        assert shown["status"] == state and shown["source"] == "database"
        if state == "running":  # the live view was wanted and could not be had: say why
            assert "cannot reach Temporal" in shown["source_note"] and CLOSED_PORT in shown["source_note"]
            assert shown["run_counts"] is None and shown["in_flight"] is None
            assert [login["state"] for login in shown["logins"]] == ["unknown"]
        text_result = await cli(run_cli, "status", "Klasse 82")
        assert text_result.code == 0
        assert f": {state}" in text_result.out.splitlines()[0]
        assert "from the database" in text_result.out


# --- 11. rejected logins show as failed ---------------------------------------------------------------------


async def test_all_logins_rejected_status_shows_failed_and_why(
    any_db_url: str,
    dev_env: WorkflowEnvironment,
    temporal_env: Any,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
) -> None:
    process_id = await configure_class_82(run_cli, mymoment_server, llm_server.url, password="wrong-password")
    temporal_env.set(TEMPORAL_ADDRESS=address(dev_env))
    async with running_worker(dev_env.client, get_settings()):
        assert (await cli(run_cli, "start", "Klasse 82")).code == 0
        await wait_until(
            lambda: row_values(temporal_env.database_url, process_id)["status"] == "failed",
            30,
            "the process failing",
        )
    for env_address in (address(dev_env), CLOSED_PORT):  # the answer is in the database either way
        temporal_env.set(TEMPORAL_ADDRESS=env_address)
        shown = (await cli(run_cli, "status", "Klasse 82", "--json")).json()
        assert shown["status"] == "failed"
        (login,) = shown["logins"]
        assert login["name"] == "bot" and login["state"] == "failed"
        assert login["error"] and "wrong-password" not in login["error"]
        assert login["error"] in shown["stop_reason"]
        out = (await cli(run_cli, "status", "Klasse 82")).out
        assert f"login bot: failed - {login['error']}" in out


# --- 12. one meaning per name: run counters and database totals ----------------------------------------------


async def unchanged_around(
    query: Callable[[], Awaitable[dict[str, Any]]], status: Callable[[], Awaitable[dict[str, Any]]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The workflow's query and the CLI's status taken while the workflow did not change (its query
    answered the same before and after): a discovery between the two would make them differ honestly."""
    for _ in range(10):
        before = await query()
        shown = await status()
        if await query() == before:
            return before, shown
    raise AssertionError("the workflow's status changed around every `status` call")


async def test_status_query_and_json_agree_and_counts_mean_one_thing(
    dev_env: WorkflowEnvironment,
    temporal_env: Any,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
) -> None:
    process_id = await configure_class_82(run_cli, mymoment_server, llm_server.url)
    add_articles(mymoment_server.state, 2)
    temporal_env.set(TEMPORAL_ADDRESS=address(dev_env))
    handle = dev_env.client.get_workflow_handle(workflow_id_for_process(process_id))

    def db_generated() -> int:
        with session_scope(temporal_env.database_url) as session:
            return items.counts(session, process_id).generated

    async def query() -> dict[str, Any]:
        return await handle.query("status", result_type=dict)

    async def status() -> dict[str, Any]:
        result = await cli(run_cli, "status", "Klasse 82", "--json")
        assert result.code == 0, result.err
        return result.json()

    async with running_worker(dev_env.client, get_settings()):
        assert (await cli(run_cli, "start", "Klasse 82")).code == 0
        await wait_until(lambda: db_generated() == 2, 60, "two generated comments")
        await wait_until(lambda: _settled(query), 30, "no article work in flight")
        live, shown = await unchanged_around(query, status)
        assert "counts" not in live and "counts" not in shown  # the old name meant two things
        assert shown["source"] == "workflow"
        for name, value in live.items():  # every field of the query means the same in the CLI's JSON
            assert shown[name] == json.loads(json.dumps(value, default=str)), name
        assert shown["run_counts"]["generated"] == 2 and shown["totals"]["generated"] == 2
        assert (await cli(run_cli, "stop", "Klasse 82", "--wait")).code == 0

        assert (await cli(run_cli, "start", "Klasse 82")).code == 0  # a second run finds nothing new
        await wait_until(lambda: _discovered_once(query), 30, "a discovery run of the second run")
        shown = await status()
        assert shown["run_counts"]["generated"] == 0, shown  # this run's counters start at zero
        assert shown["totals"]["generated"] == 2, shown  # the database's totals span every run
        assert (await cli(run_cli, "stop", "Klasse 82", "--wait")).code == 0


async def _settled(query: Any) -> bool:
    live = await query()
    return live["in_flight"] == 0 and live["run_counts"]["generated"] == 2


async def _discovered_once(query: Any) -> bool:
    return (await query())["discovery_runs"] >= 1


async def test_start_leaves_a_row_alone_that_its_workflow_changed_first(
    any_db_url: str,
    temporal_env: Any,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
) -> None:
    """`start` marks the row only as it read it: a run that already ended (or marked it) has the newer word."""
    process_id = await configure_class_82(run_cli, mymoment_server, llm_server.url)
    seen = row_values(temporal_env.database_url, process_id)
    with session_scope(temporal_env.database_url) as session:
        read_at = stored(session, MonitoringProcess, process_id).updated_at
    set_row(temporal_env.database_url, process_id, status="failed", stop_reason="no login can sign in")
    ended = row_values(temporal_env.database_url, process_id)
    assert ended != seen
    with session_scope(temporal_env.database_url) as session:
        assert not processes.mark_running(session, process_id, "run-1", unchanged_since=read_at)
    assert row_values(temporal_env.database_url, process_id) == ended
    with session_scope(temporal_env.database_url) as session:
        read_at = stored(session, MonitoringProcess, process_id).updated_at
        assert processes.mark_running(session, process_id, "run-2", unchanged_since=read_at)
    assert row_values(temporal_env.database_url, process_id)["workflow_run_id"] == "run-2"


# --- batch start -------------------------------------------------------------------------------------------


async def test_batch_start_checks_every_name_first_and_start_all_reports_how_far_it_got(
    any_db_url: str,
    dev_env: WorkflowEnvironment,
    temporal_env: Any,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
) -> None:
    first = await configure_class_82(run_cli, mymoment_server, llm_server.url)
    for name in ("Klasse 83", "Klasse 84"):
        await cli_ok(run_cli, *process_create(name, "imit", "bot", "Ermutigendes Feedback:1"))
    temporal_env.set(TEMPORAL_ADDRESS=address(dev_env), MAX_RUNNING_PROCESSES_PER_USER=2)
    before = row_values(temporal_env.database_url, first)

    # One name that is not a process: an error line, exit 2, and nothing started.
    result = await cli(run_cli, "start", "Klasse 82", "Klasse 99")
    assert result.code == 2 and result.err.startswith("error:"), result.err
    assert row_values(temporal_env.database_url, first) == before
    # Three named processes over a limit of two: refused as a whole.
    result = await cli(run_cli, "start", "Klasse 82", "Klasse 83", "Klasse 84")
    assert result.code == 2 and "MAX_RUNNING_PROCESSES_PER_USER=2" in result.err
    assert row_values(temporal_env.database_url, first) == before

    # --all starts what the limit allows, says how far it got, and names what it left out and why.
    result = await cli(run_cli, "start", "--all", "--per-second", "50", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert (report["total"], len(report["started"]), report["failed"]) == (2, 2, [])
    assert [s["reason"] for s in report["skipped"]] == ["MAX_RUNNING_PROCESSES_PER_USER=2 reached"]
    assert "starting: 2/2 (2 started, 0 failed)" in result.err
    for started in report["started"]:
        row = row_values(temporal_env.database_url, started["process_id"])
        assert (row["status"], row["workflow_run_id"]) == ("running", started["run_id"])
        await dev_env.client.get_workflow_handle(workflow_id_for_process(started["process_id"])).terminate(
            "test over"
        )
