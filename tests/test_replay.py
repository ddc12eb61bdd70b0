"""Replay: committed histories of both releases must replay against the current workflow code.

A change that breaks determinism for running processes fails here. `release1_*` were recorded by the
first release and are never re-recorded; `release2_*` by today's code. To record them again after an
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
from workflows.post import PostCommentWorkflow, workflow_id_for_post
from yourmoment.harness import Harness, Imitations, add_articles, fast_settings, running_worker, wait_until
from yourmoment.messages import QUEUE_MONITORING, PostInput
from yourmoment.processes_client import start_monitoring, start_post, stop
from yourmoment.statuses import PostOutcome
from yourmoment.store import items
from yourmoment.store.db import session_scope, upgrade
from yourmoment.store.models import AIComment

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
    """Both releases: runs started by release 1 keep running on today's worker (see README, Upgrading)."""
    names = {p.stem for p in history_files()}
    release1 = {"release1_monitoring_process", "release1_article_comment"}
    release2 = {f"release2_{name}" for name in RECORDED}
    assert release1 | release2 <= names


RECORDED = ("monitoring_process", "article_comment", "post_comment", "post_comment_release1_arguments")


@pytest.mark.skipif(not os.environ.get("YOURMOMENT_RECORD_HISTORIES"), reason="records histories on request")
async def test_record_histories(tmp_path, ts_env) -> None:  # type: ignore[no-untyped-def]
    """Today's release: a posting run (discovery, two articles commented, stop), and two reviewed
    comments posted by `post`, one started as release 1 started it (three arguments)."""
    client = ts_env.client
    mm_state, llm_state = mymoment.MyMomentState(), llm_server.LLMState()
    with Imitations(mm_state, llm_state) as imitations:
        db_url = f"sqlite:///{tmp_path / 'record.db'}"
        upgrade(db_url)
        settings = fast_settings(
            db_url, imitations.mm_url, temporal_task_queue_prefix=f"r{uuid.uuid4().hex[:6]}-", temporal_search_attributes=False
        )
        world = Harness.seed(settings, mm_state, imitations.llm_url)
        add_articles(mm_state, 2)
        posting = world.create_process(max_duration_minutes=30)
        world.mark_running(posting)
        recorded: dict[str, str] = {}
        async with running_worker(client, settings):
            handle = await start_monitoring(client, settings, posting)
            await wait_until(lambda: _count(db_url, posting, "posted") == 2, what="two posts")
            await stop(handle, "recorded")
            await handle.result()
            item = _items(db_url, posting)[0]
            recorded["monitoring_process"] = handle.id
            recorded["article_comment"] = f"article-{posting}-{item.login_id}-{item.mymoment_article_id}"

            add_articles(mm_state, 2)  # the first two carry this login's comments already
            reviewing = world.create_process(generate_only=True, max_duration_minutes=30)
            world.mark_running(reviewing)
            handle = await start_monitoring(client, settings, reviewing)
            await wait_until(lambda: _count(db_url, reviewing, "generated") >= 2, what="two comments")
            await stop(handle, "recorded")
            await handle.result()
            first, second = [item for item in _items(db_url, reviewing) if item.status == "generated"][:2]
            post = await start_post(client, settings, first.id, first.login_id, hide=False)
            assert (await post.result()).outcome == PostOutcome.POSTED
            recorded["post_comment"] = post.id
            old_style = await client.start_workflow(
                PostCommentWorkflow.run,
                args=[PostInput(item_id=second.id, hide=False), second.login_id, settings.temporal_task_queue_prefix],
                id=workflow_id_for_post(second.id),
                task_queue=settings.task_queue(QUEUE_MONITORING),
            )
            assert (await old_style.result()).outcome == PostOutcome.POSTED
            recorded["post_comment_release1_arguments"] = old_style.id
        for name, workflow_id in recorded.items():
            history = await client.get_workflow_handle(workflow_id).fetch_history()
            (HISTORIES / f"release2_{name}.json").write_text(history.to_json())


def _items(db_url: str, process_id: str) -> list[AIComment]:
    with session_scope(db_url) as session:
        return items.list_items(session, process_id)


def _count(db_url: str, process_id: str, status: str) -> int:
    with session_scope(db_url) as session:
        return getattr(items.counts(session, process_id), status)
