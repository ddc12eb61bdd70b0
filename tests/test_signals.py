"""Signals as people send them: `temporal workflow signal` (the Web UI's dialog sends the same payloads)
against the real dev server, the monitoring workflow with fake activities (tests/test_workflow_branches.py).

Each `stop` shape reaches the workflow; an input that cannot be read is recorded as "ignored signal …"
where the `status` query and the Web UI's details show it, and the process keeps running.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from tests.test_workflow_branches import FakeActivities, fake_worker, start_monitor
from workflows.monitoring import MonitoringProcessWorkflow, progress_details
from workflows.signals import STOP_SHAPES, read_stop
from yourmoment import messages
from yourmoment.temporal_client import PYDANTIC_DATA_CONVERTER
from yourmoment_dev.harness import temporal_binary, wait_until

DEFAULT_REASON = messages.StopRequest().reason


def temporal_signal(client: Client, workflow_id: str, name: str, *extra: str) -> None:
    """`temporal workflow signal --name NAME [EXTRA: --input X ...]`, the CLI an operator types."""
    args = [temporal_binary(), "workflow", "signal", "--address", client.service_client.config.target_host]
    args += ["--namespace", client.namespace, "--workflow-id", workflow_id, "--name", name, *extra]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@asynccontextmanager
async def monitoring(
    dev_env: WorkflowEnvironment, fakes: FakeActivities
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    """The process running with the fakes, past its first discovery (no articles: nothing in flight)."""
    async with fake_worker(dev_env.client, fakes) as prefix:
        handle = await start_monitor(dev_env.client, prefix, fakes=fakes, grace_seconds=5)
        await fakes.wait_for("discover_articles")
        yield handle


@pytest.mark.parametrize(
    ("args", "reason", "drain"),
    [
        ((), DEFAULT_REASON, False),
        (("--input", "null"), DEFAULT_REASON, False),
        (("--input", '"the lesson is over"'), "the lesson is over", False),
        # The CLI wants JSON; plain text goes with its encoding (as the Web UI's dialog can send it).
        (
            ("--input", "the lesson is over", "--input-meta", "encoding=binary/plain"),
            "the lesson is over",
            False,
        ),
        (("--input", '{"reason": "the lesson is over"}'), "the lesson is over", False),
        (("--input", '{"reason": "queue first", "drain": true}'), "queue first", True),
    ],
    ids=["nothing", "null", "text", "plain-text", "object", "object-drain"],
)
async def test_each_stop_shape_from_the_temporal_cli_stops_the_process(
    dev_env: WorkflowEnvironment, args: tuple[str, ...], reason: str, drain: bool
) -> None:
    fakes = FakeActivities()
    async with monitoring(dev_env, fakes) as handle:
        await asyncio.to_thread(temporal_signal, dev_env.client, handle.id, "stop", *args)
        result = await handle.result()
    assert (result.status, result.reason) == ("stopped", reason)
    holds = [inp for inp in fakes.inputs("record_process") if inp.hold_posts]
    # Without --drain the stop is recorded at once for the post activity; with it, nothing is held.
    assert len(holds) == (0 if drain else 1)
    [finish] = fakes.inputs("finish_process")
    assert finish.reason == reason


async def test_an_unreadable_stop_is_recorded_not_dropped_and_pause_resume_take_any_input(
    dev_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities()
    async with monitoring(dev_env, fakes) as handle:
        await asyncio.to_thread(temporal_signal, dev_env.client, handle.id, "stop", "--input", "42")
        await asyncio.to_thread(
            temporal_signal, dev_env.client, handle.id, "pause", "--input", '{"why": "lunch"}'
        )

        async def paused() -> bool:
            return (await handle.query(MonitoringProcessWorkflow.status)).paused

        await wait_until(paused, 15, "the pause with an input")
        status = await handle.query(MonitoringProcessWorkflow.status)
        assert status.status == "running"  # the unreadable stop did not stop it
        assert (
            status.ignored_signal
            == f"ignored signal stop: a number is not a stop request; send {STOP_SHAPES}"
        )
        # The Web UI's details (the built-in metadata query it asks) say it too.
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert "ignored signal stop: a number" in metadata.current_details
        await asyncio.to_thread(temporal_signal, dev_env.client, handle.id, "resume", "--input", "null")
        await asyncio.to_thread(temporal_signal, dev_env.client, handle.id, "discover_now")
        await fakes.wait_for("discover_articles", count=2)  # resume discovers at once
        assert not (await handle.query(MonitoringProcessWorkflow.status)).paused
        await asyncio.to_thread(
            temporal_signal, dev_env.client, handle.id, "discover_now", "--input", '"now"'
        )
        await fakes.wait_for("discover_articles", count=3)
        await asyncio.to_thread(temporal_signal, dev_env.client, handle.id, "stop", "--input", '"done"')
        result = await handle.result()
    assert (result.status, result.reason) == ("stopped", "done")
    # Signals read raw, patches taken inside signal handlers: the run replays as it ran.
    replayer = Replayer(workflows=[MonitoringProcessWorkflow], data_converter=PYDANTIC_DATA_CONVERTER)
    replay = await replayer.replay_workflow(await handle.fetch_history(), raise_on_replay_failure=True)
    assert replay.replay_failure is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"lesson over", "lesson over"),  # typed without quotes: not JSON, still the reason
        (b'"  two   spaces "', "two spaces"),
        (b'""', DEFAULT_REASON),
        (b'{"reason": 5}', "reason: Input should be a valid string"),
        (b'{"reson": "x"}', "reson: Extra inputs are not permitted"),
        (b"[1, 2]", "a list is not a stop request"),
        (b"true", "a true/false is not a stop request"),
    ],
)
def test_stop_inputs_read_as_people_type_them(payload: bytes, expected: str) -> None:
    from temporalio.api.common.v1 import Payload
    from temporalio.common import RawValue

    read = read_stop(RawValue(Payload(metadata={"encoding": b"json/plain"}, data=payload)))
    if isinstance(read, str):
        assert read.startswith(expected) and read.endswith(STOP_SHAPES), read
    else:
        assert read.reason == expected and not read.drain


def test_the_details_label_this_starts_counts_and_the_totals_of_all_runs() -> None:
    view = messages.MonitorStatus(
        process_id="p",
        name="Klasse 4b",
        status="running",
        stop_reason=None,
        started_at=None,
        deadline=None,
        paused=True,
        run_counts=messages.RunCounts(posted=0),
        logins=[],
        in_flight=0,
        discovery_runs=2,
        empty_streak=0,
        last_discovery_at=None,
        next_discovery_at=None,
        last_error=None,
        all_runs=messages.StatusCounts(posted=3, generated=2),
    )
    lines = progress_details(view).splitlines()
    assert lines[0] == "Klasse 4b: running (paused)"
    assert lines[1].startswith("since start: discovered 0, posted 0,")
    assert lines[2].startswith(
        "all runs (database, as of the last discovery): posted 3, generated and not posted 2,"
    )


async def test_a_cancellation_holds_the_posts_like_a_stop(dev_env: WorkflowEnvironment) -> None:
    """The Web UI's "Request Cancellation" ends the process as `stop` does: nothing new is posted."""
    fakes = FakeActivities()
    async with monitoring(dev_env, fakes) as handle:
        await handle.cancel()
        result = await handle.result()
    assert (result.status, result.reason) == ("stopped", "cancelled")
    assert [inp.hold_posts for inp in fakes.inputs("record_process")] == [True]
