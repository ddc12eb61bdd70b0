"""Replay: committed histories of full runs must replay against the current workflow code.

A change that breaks determinism for running processes fails here. To record new histories after an
intended, versioned change: `YOURMOMENT_RECORD_HISTORIES=1 python -m pytest tests/test_replay.py`.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from imitation import llm_server, mymoment
from workflows.article import ArticleCommentWorkflow
from workflows.monitoring import MonitoringProcessWorkflow
from workflows.post import PostCommentWorkflow
from yourmoment.harness import (
    Harness,
    Imitations,
    add_articles,
    fast_settings,
    running_worker,
    wait_until,
)
from yourmoment.messages import MonitorInput, MonitorResult, workflow_id_for_process
from yourmoment.store import items
from yourmoment.store.db import session_scope, upgrade

HISTORIES = Path(__file__).parent / "histories"
WORKFLOWS = [MonitoringProcessWorkflow, ArticleCommentWorkflow, PostCommentWorkflow]


def history_files() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize("path", history_files(), ids=lambda p: p.stem)
async def test_committed_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_histories_are_committed() -> None:
    names = {p.stem for p in history_files()}
    assert {"monitoring_process", "article_comment"} <= names


@pytest.mark.skipif(not os.environ.get("YOURMOMENT_RECORD_HISTORIES"), reason="records histories on request")
async def test_record_histories(tmp_path, ts_env) -> None:  # type: ignore[no-untyped-def]
    """A full posting run: discovery, two articles commented, stop; both histories written."""
    client = ts_env.client
    mm_state, llm_state = mymoment.MyMomentState(), llm_server.LLMState()
    with Imitations(mm_state, llm_state) as imitations:
        db_url = f"sqlite:///{tmp_path / 'record.db'}"
        upgrade(db_url)
        settings = fast_settings(db_url, imitations.mm_url, temporal_task_queue_prefix=f"r{uuid.uuid4().hex[:6]}-")
        world = Harness.seed(settings, mm_state, imitations.llm_url)
        add_articles(mm_state, 2)
        process_id = world.create_process(max_duration_minutes=30)
        world.mark_running(process_id)
        async with running_worker(client, settings):
            handle = await client.start_workflow(
                "MonitoringProcessWorkflow",
                MonitorInput(process_id=process_id, queue_prefix=settings.temporal_task_queue_prefix,
                             use_search_attributes=False),
                id=workflow_id_for_process(process_id),
                task_queue=f"{settings.temporal_task_queue_prefix}monitoring",
                result_type=MonitorResult,
            )

            def posted() -> bool:
                with session_scope(db_url) as session:
                    return items.counts(session, process_id).posted == 2

            await wait_until(posted, what="two posts")
            await handle.signal("stop")
            await handle.result()
            with session_scope(db_url) as session:
                item = items.list_items(session, process_id)[0]
            child_id = f"article-{process_id}-{item.login_id}-{item.mymoment_article_id}"
            for name, workflow_id in (("monitoring_process", handle.id), ("article_comment", child_id)):
                history = await client.get_workflow_handle(workflow_id).fetch_history()
                (HISTORIES / f"{name}.json").write_text(history.to_json())
