"""Every answer a model gives is on record: rejected with the gate's reasons or accepted, shown by `comments`.

Real components: the worker wiring on Temporal's time-skipping test server, the openai SDK against the LLM
imitation over HTTP, the myMoment imitation, SQLite, and starter.py in-process.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from tests.conftest import LLMServer, MyMomentServer, RunCli
from yourmoment import processes_client
from yourmoment.messages import MonitorInput
from yourmoment.settings import get_settings
from yourmoment.store import items
from yourmoment.store.db import session_scope
from yourmoment.store.models import GenerationAttempt
from yourmoment_dev.harness import Harness, add_articles, running_worker, wait_until

PROCESS = "Klasse 82"


@pytest.fixture
def world(env: Any, mymoment_server: Any, llm_server: Any) -> Harness:
    env.set(TEMPORAL_TASK_QUEUE_PREFIX=f"g{uuid.uuid4().hex[:8]}-")
    return Harness.seed(get_settings(), mymoment_server.state, llm_server.url)


async def run_until_settled(ts_env: WorkflowEnvironment, world: Harness, status: str) -> str:
    """A generate-only process over one article, stopped once its item is `status`; the process id."""
    process_id = world.create_process(name=PROCESS, generate_only=True, max_duration_minutes=30)
    world.mark_running(process_id)

    def settled() -> bool:
        with session_scope(world.settings.database_url) as session:
            return [i.status for i in items.list_items(session, process_id, None)] == [status]

    async with running_worker(ts_env.client, world.settings):
        inp = MonitorInput(process_id=process_id, use_search_attributes=False)
        handle = await processes_client.start_monitoring(ts_env.client, world.settings, process_id, inp=inp)
        await wait_until(settled, 60, f"the item {status}")
        await processes_client.stop(handle)
        await handle.result()
    return process_id


def attempt_rows(world: Harness) -> list[tuple[int, bool, list[str], str | None]]:
    with session_scope(world.settings.database_url) as session:
        rows = session.scalars(select(GenerationAttempt).order_by(GenerationAttempt.number)).all()
        return [
            (r.number, r.accepted, [x["check"] for x in json.loads(r.reasons)], r.finish_reason) for r in rows
        ]


async def cli(run_cli: Any, *args: str) -> Any:
    result = await asyncio.to_thread(run_cli, *args)
    assert result.code == 0, result.err
    return result


async def test_a_rejected_answer_then_an_accepted_one_are_recorded_and_shown(
    any_db_url: str,
    ts_env: WorkflowEnvironment,
    world: Harness,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
) -> None:
    """The first answer repeats itself (rejected), the second request hits a server error (no answer: the
    activity is retried), the retry's first answer is accepted: attempt numbers go on across the retry."""
    add_articles(mymoment_server.state, 1)
    llm_server.state.fail_next("repetitive")
    llm_server.state.fail_next("500")
    await run_until_settled(ts_env, world, "generated")
    assert llm_server.state.stats()["by_status"] == {"200": 2, "500": 1}
    assert attempt_rows(world) == [(1, False, ["repetition"], "stop"), (2, True, [], "stop")]

    (row,) = (await cli(run_cli, "comments", PROCESS, "--json")).json()
    assert row["status"] == "generated" and row["tries"] == "2 (repetition)"
    first, second = row["generation_attempts"]
    assert (first["number"], first["accepted"], first["checks"]) == (1, False, ["repetition"])
    assert "repetitive" in first["reasons"][0]["message"] and "toll" not in first["reasons"][0]["message"]
    assert (second["number"], second["accepted"], second["checks"]) == (2, True, [])
    assert second["finish_reason"] == "stop"
    assert second["tokens"] > 0 and second["ms"] >= 0

    table = (await cli(run_cli, "comments", PROCESS)).out
    assert "TRIES" in table and "2 (repetition)" in table
    full = (await cli(run_cli, "comments", PROCESS, "--full")).out
    assert "try 1 (" in full and "rejected: repetition: The comment is repetitive" in full
    assert "try 2 (" in full and ") accepted" in full

    await cli(run_cli, "process", "delete", PROCESS, "--yes")  # the attempts go with their items
    assert attempt_rows(world) == []


async def test_an_item_that_fails_every_attempt_fails_with_the_last_reasons(
    ts_env: WorkflowEnvironment,
    world: Harness,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
) -> None:
    add_articles(mymoment_server.state, 1)
    llm_server.state.fail_next("repetitive", 2)
    llm_server.state.fail_next("link")
    await run_until_settled(ts_env, world, "failed")
    assert llm_server.state.stats()["calls"] == 3  # permanent: no activity retry asks again
    assert attempt_rows(world) == [
        (1, False, ["repetition"], "stop"),
        (2, False, ["repetition"], "stop"),
        (3, False, ["link"], "stop"),
    ]
    (row,) = (await cli(run_cli, "comments", PROCESS, "--json")).json()
    assert row["tries"] == "3 (repetition,link)"
    assert "after 3 attempts" in row["error"] and "link: The comment contains a link" in row["error"]
    assert "repetition" not in row["error"]  # the last answer's reasons, not every one's
    assert "example" not in row["error"] and "toll" not in row["error"]
