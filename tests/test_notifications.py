"""Notifications (NOTIFY_URLS): what is sent when, to a real local HTTP receiver, and that a failing
notifier neither blocks nor fails a process.

- The workflow's side on the time-skipping server with fake activities under the real names
  (tests/test_workflow_branches.py's FakeActivities): approvals at most once per NOTIFY_MIN_INTERVAL, a
  rejected login, the end with its counts, and a notifier failing every try.
- The notifier itself against apprise's generic JSON webhook (`json://127.0.0.1:PORT/hook`) served by a
  real local HTTP server; settings and log redaction.
- End to end (slow): the real worker wiring on the dev server, both imitations, starter.py; a process
  whose article carries a marked pupil's name, title and text: the messages arrive and hold none of it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.maintenance import process_of_workflow
from tests.conftest import CliEnv, LLMServer, MyMomentServer, RunCli
from tests.support import cli, cli_ok, configure_class_82, isolate_on_dev_server
from tests.test_workflow_branches import FakeActivities, fake_worker, recorded
from workflows.maintenance import MaintenanceWorkflow
from workflows.monitoring import MonitoringProcessWorkflow
from yourmoment import messages
from yourmoment.errors import ConfigurationError, NotifierError
from yourmoment.logs import RedactUrls, add_secrets, notify_url_secrets
from yourmoment.notify import Notice, Notifier, compose
from yourmoment.serving import RunningServer, serve_in_thread
from yourmoment.settings import Settings, get_settings
from yourmoment.store import notifications
from yourmoment.store.db import session_scope
from yourmoment.store.models import MonitoringProcess, utcnow
from yourmoment.temporal_checks import stuck_reason
from yourmoment_dev.harness import Harness, WorkerProcess, add_articles, running_worker, wait_until

MINUTE = 60


# --- a local receiver: apprise's generic JSON webhook POSTs here --------------------------------------------


class Receiver:
    """A real HTTP server recording each POSTed JSON body; `status` is what it answers."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200

        async def hook(request: Request) -> Response:
            self.bodies.append(json.loads(await request.body()))
            return JSONResponse({}, status_code=self.status)

        self.server: RunningServer = serve_in_thread(
            Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])
        )
        self.url = f"json://127.0.0.1:{self.server.port}/hook"

    def texts(self) -> list[str]:
        return [f"{body.get('title', '')}\n{body.get('message', '')}" for body in self.bodies]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    received = Receiver()
    try:
        yield received
    finally:
        received.server.stop()


# --- the workflow's side, with fakes ---------------------------------------------------------------------


class NotifyingFakes(FakeActivities):
    """A require-approval process on a worker with NOTIFY_URLS; `send_notification` records its inputs and
    fails every try while `notify_error` is set."""

    def __init__(self, articles: list[str], interval: int = 15 * MINUTE) -> None:
        super().__init__(articles)
        self.interval = interval
        self.notify_error: ApplicationError | None = None
        self.open_error: ApplicationError | None = None
        self.notify = True  # the worker's NOTIFY_URLS are set

    def all(self) -> list[Any]:
        return [*super().all(), self.send_notification]

    @recorded
    async def load_process_config(self, inp: messages.LoadProcessInput) -> messages.ProcessConfig:
        config = await FakeActivities.load_process_config.__wrapped__(self, inp)  # type: ignore[attr-defined]  # functools.wraps sets it
        assert isinstance(config, messages.ProcessConfig)
        return config.model_copy(
            update={
                "generate_only": True,
                "require_approval": True,
                "notify": self.notify,
                "notify_min_interval_seconds": self.interval,
            }
        )

    @recorded
    async def open_session(self, inp: messages.OpenSessionInput) -> messages.OpenSessionResult:
        if self.open_error is not None:
            raise self.open_error
        return messages.OpenSessionResult(login_id=inp.login_id, restored=True)

    @recorded
    async def send_notification(self, inp: messages.NotifyInput) -> messages.NotifyResult:
        if self.notify_error is not None:
            raise self.notify_error
        return messages.NotifyResult(sent=True, detail="fake")

    def notices(self, kind: str | None = None) -> list[messages.NotifyInput]:
        return [n for n in self.inputs("send_notification") if kind is None or n.kind == kind]


async def run_process(env: WorkflowEnvironment, fakes: NotifyingFakes) -> messages.MonitorResult:
    async with fake_worker(env.client, fakes) as prefix:
        handle = await env.client.start_workflow(
            MonitoringProcessWorkflow.run,
            messages.MonitorInput(process_id=fakes.process_id, use_search_attributes=False),
            id=f"monitoring-{fakes.process_id}",
            task_queue=f"{prefix}{messages.QUEUE_MONITORING}",
        )
        return await handle.result()


async def test_approvals_are_announced_at_most_once_per_interval_and_the_end_with_counts(
    ts_env: WorkflowEnvironment,
) -> None:
    """Three comments generated together: the first is announced at once, the other two together once the
    interval has passed; the run's end (its deadline, time skipped) says how it ended, with its counts."""
    fakes = NotifyingFakes(["1", "2", "3"])
    result = await run_process(ts_env, fakes)
    assert result.status == "completed"
    approvals = fakes.notices("approval")
    assert [n.new for n in approvals] == [1, 2], fakes.notices()
    ended = fakes.notices("ended")
    assert len(ended) == 1 and ended[0].status == "completed" and ended[0].reason == "max_duration"
    assert ended[0].counts is not None and ended[0].counts.generated == 3
    assert fakes.names()[-1] == "send_notification"  # the last message is sent before the run closes


async def test_a_notifier_failing_every_try_neither_blocks_nor_fails_the_process(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = NotifyingFakes(["1"])
    fakes.notify_error = ApplicationError("not delivered by 1 of 1 notification services (json)")
    result = await run_process(ts_env, fakes)
    assert result.status == "completed" and result.counts.generated == 1
    tries = [n.kind for n in fakes.notices()]
    assert tries == ["approval"] * 3 + ["ended"] * 3, tries  # NOTIFY's three tries each, then given up


async def test_a_rejected_login_is_announced_and_so_is_the_failed_process(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = NotifyingFakes([])
    fakes.open_error = ApplicationError(
        "myMoment rejected the username or password of login 'bot-1'",
        type="BadCredentialsError",
        non_retryable=True,
    )
    result = await run_process(ts_env, fakes)
    assert result.status == "failed"
    rejected, ended = fakes.notices("login_rejected"), fakes.notices("ended")
    assert [(n.login, n.reason) for n in rejected] == [("bot-1", fakes.open_error.message)]
    assert (
        len(ended) == 1 and ended[0].status == "failed" and "no login can sign in" in (ended[0].reason or "")
    )


async def test_without_notify_urls_no_notification_activity_is_scheduled(ts_env: WorkflowEnvironment) -> None:
    fakes = NotifyingFakes(["1"])
    fakes.notify = False
    result = await run_process(ts_env, fakes)
    assert result.status == "completed" and result.counts.generated == 1 and fakes.notices() == []


# --- the message and the notifier ------------------------------------------------------------------------


def test_messages_name_the_process_and_counts() -> None:
    approval = compose(messages.NotifyInput(kind="approval", process_id="p", new=2), "Klasse 82", 5)
    assert approval.title == "yourMoment: 5 comments waiting for approval in 'Klasse 82'"
    assert "(2 new since the last message)" in approval.body
    assert "python starter.py comments review 'Klasse 82'" in approval.body
    counts = messages.RunCounts(discovered=4, generated=3, posted=1)
    ended = compose(
        messages.NotifyInput(
            kind="ended", process_id="p", status="stopped", reason="stopped by user", counts=counts
        ),
        "Klasse 82",
        2,
    )
    assert ended.title == "yourMoment: process 'Klasse 82' stopped"
    assert "This run: discovered 4, generated 3, posted 1, failed 0, skipped 0." in ended.body
    assert "2 comments waiting for approval" in ended.body
    stopped = compose(
        messages.NotifyInput(
            kind="ended", process_id="p", status="stopped", reason="lesson over", counts=counts
        ),
        "Klasse 82",
        0,
        4,
    )
    assert "approval" not in stopped.body
    assert "4 generated comments left unposted: python starter.py post --process 'Klasse 82'" in stopped.body


async def test_the_notifier_posts_to_a_local_json_webhook_and_names_a_failing_one(receiver: Receiver) -> None:
    notifier = Notifier([receiver.url])
    await notifier.send(Notice("yourMoment: test", "Process 'Klasse 82' stopped."))
    assert [(b["title"], b["message"]) for b in receiver.bodies] == [
        ("yourMoment: test", "Process 'Klasse 82' stopped.")
    ]
    receiver.status = 500
    with pytest.raises(
        NotifierError, match=r"not delivered by 1 of 1 notification services \(json\)"
    ) as failed:
        await notifier.send(Notice("t", "b"))
    assert str(receiver.server.port) not in str(failed.value)
    assert notifier.describe() == "1 notification URL (json)"


def test_a_url_apprise_cannot_use_is_refused_by_position_and_scheme() -> None:
    with pytest.raises(ConfigurationError, match=r"NOTIFY_URLS: entry 2 \(nosuchservice://…\)") as refused:
        Notifier(["json://127.0.0.1:9/hook", "nosuchservice://token-abcdef/x"]).check()
    assert "token-abcdef" not in str(refused.value)


def test_settings_split_notify_urls_and_read_durations() -> None:
    settings = Settings(
        _env_file=None, notify_urls="json://a:1/x, mailto://u:p@b.ch  json://a:1/x", notify_min_interval="15m"
    )
    assert settings.notification_urls == ["json://a:1/x", "mailto://u:p@b.ch"]
    assert settings.notify_min_interval == 900
    for text, seconds in (("90s", 90), ("90", 90), ("1h", 3600), ("0", 0), ("1d", 86400)):
        assert Settings(_env_file=None, notify_min_interval=text).notify_min_interval == seconds
    for bad in ("bald", "8d", "-5m"):
        with pytest.raises(ValueError, match="must be a duration from 0 to 7d, such as 15m"):
            Settings(_env_file=None, notify_min_interval=bad)


def test_a_bad_notify_url_is_named_by_position_never_shown(env: CliEnv) -> None:
    env.set(NOTIFY_URLS="json://a:1/x secret-token-123")
    with pytest.raises(ConfigurationError) as refused:
        get_settings()
    assert str(refused.value) == (
        "invalid setting NOTIFY_URLS: entry 2 is not a notification URL (SCHEME://…, as apprise's)"
    )


def test_notification_urls_never_reach_a_log_line() -> None:
    url = "tgram://123456789:AAEs3cr3tT0k3n/987654321"
    add_secrets(notify_url_secrets(url))
    record = logging.LogRecord(
        "apprise",
        logging.WARNING,
        __file__,
        1,
        "Failed to send to https://api.telegram.org/bot123456789:AAEs3cr3tT0k3n/sendMessage for %s",
        (url,),
        None,
    )
    RedactUrls().filter(record)
    shown = record.getMessage()
    assert "AAEs3cr3tT0k3n" not in shown and "123456789" not in shown and "987654321" not in shown, shown
    assert "api.telegram.org" in shown  # where it went stays readable


# --- end to end ------------------------------------------------------------------------------------------

MARKED_AUTHOR = "Lena-Marker-Muster"
MARKED_TITLE = "Marker-Titel über meinen Hund"
MARKED_TEXT = "Marker-Satz: Mein Hund Bello wohnt in der Marker-Strasse."


@pytest.fixture
def notify_env(env: CliEnv, dev_env: WorkflowEnvironment, tmp_path: Path, receiver: Receiver) -> CliEnv:
    return isolate_on_dev_server(
        env,
        dev_env,
        tmp_path,
        "n",
        YOURMOMENT_DEFAULT_USER="t@example.org",
        NOTIFY_URLS=receiver.url,
        NOTIFY_MIN_INTERVAL="1h",
    )


async def notifier_row(run_cli: RunCli) -> dict[str, Any]:
    result = await cli(run_cli, "health", "--json")
    return next(c for c in json.loads(result.out)["checks"] if c["name"] == "notifier")


@pytest.mark.slow
async def test_a_process_notifies_a_local_receiver_without_any_pupil_text(
    notify_env: CliEnv,
    dev_env: WorkflowEnvironment,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
    receiver: Receiver,
) -> None:
    process_id = await configure_class_82(
        run_cli, mymoment_server, llm_server.url, "--post", "--require-approval"
    )
    mymoment_server.state.add_article(
        title=MARKED_TITLE,
        author=MARKED_AUTHOR,
        class_id=82,
        category_id=7,
        paragraphs=[MARKED_TEXT, MARKED_TEXT],
    )
    add_articles(mymoment_server.state, 2, class_id=82)
    assert "nothing sent yet" in (await notifier_row(run_cli))["detail"]
    async with running_worker(dev_env.client, get_settings()):
        await cli_ok(run_cli, "start", "Klasse 82")
        await wait_until(
            lambda: bool(receiver.bodies), 60, "the first message", explain=lambda: str(receiver.texts())
        )
        with session_scope(notify_env.database_url) as session:
            await wait_until(
                lambda: notifications.waiting_for_approval(session, process_id) == 3,
                60,
                "3 comments generated",
            )
        await cli_ok(run_cli, "stop", "Klasse 82", "--wait")
        await wait_until(
            lambda: len(receiver.bodies) >= 2, 30, "the last message", explain=lambda: str(receiver.texts())
        )
    first, last = receiver.texts()
    # The count is the database's when it is sent: the other two may be generated by then.
    assert re.match(r"yourMoment: [123] comments? waiting for approval in 'Klasse 82'\n", first), first
    assert "(1 new since the last message)" in first  # one message within NOTIFY_MIN_INTERVAL (1h)
    assert last.startswith("yourMoment: process 'Klasse 82' stopped\n"), last
    assert (
        "This run: discovered 3, generated 3, posted 0" in last and "3 comments waiting for approval" in last
    )
    received = json.dumps(receiver.bodies, ensure_ascii=False)
    for marked in (MARKED_AUTHOR, MARKED_TITLE, MARKED_TEXT, "Marker", "Bello", "Kind0", "Mein Text"):
        assert marked not in received, marked
    row = await notifier_row(run_cli)
    assert row["ok"] is True and "1 notification URL (json); last delivered" in row["detail"], row


@pytest.mark.slow
async def test_a_failing_receiver_leaves_the_process_alone_and_shows_in_health(
    notify_env: CliEnv,
    dev_env: WorkflowEnvironment,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
    receiver: Receiver,
) -> None:
    receiver.status = 500
    await configure_class_82(run_cli, mymoment_server, llm_server.url, "--require-approval")
    add_articles(mymoment_server.state, 1, class_id=82)
    async with running_worker(dev_env.client, get_settings()):
        await cli_ok(run_cli, "start", "Klasse 82")
        await wait_until(lambda: len(receiver.bodies) >= 3, 60, "three tries of the first message")
        stopped = await cli(run_cli, "stop", "Klasse 82", "--wait")
        assert stopped.code == 0, stopped
    shown = (await cli_ok(run_cli, "status", "Klasse 82", "--json")).json()
    assert shown["status"] == "stopped", shown
    row = await notifier_row(run_cli)
    assert row["ok"] is False and "the last message was not delivered" in row["detail"], row
    assert "not delivered by 1 of 1 notification services (json)" in row["detail"]
    assert str(receiver.server.port) not in row["detail"]


@pytest.mark.slow
async def test_a_stuck_process_is_announced_once_and_its_end_by_reconciliation(
    env: CliEnv,
    dev_env: WorkflowEnvironment,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    """A workflow whose input cannot be decoded keeps failing its task; the scheduled health check (run
    here twice, as its schedule would) announces its process once, by name, without the payload; once
    terminated, reconciliation announces its end."""
    isolate_on_dev_server(env, dev_env, tmp_path, "k", NOTIFY_URLS=receiver.url)
    settings = get_settings()
    world = Harness.seed(settings, mymoment_server.state, llm_server.url)
    process_id = world.create_process(name="Klasse 82 stuck")
    world.mark_running(process_id)
    prefix = settings.temporal_task_queue_prefix
    client = dev_env.client
    async with running_worker(client, settings):
        stuck = await client.start_workflow(
            "MonitoringProcessWorkflow",
            {"process": "Mein Hund heisst Bello"},
            id=messages.workflow_id_for_process(process_id),
            task_queue=f"{prefix}{messages.QUEUE_MONITORING}",
        )
        try:

            async def is_stuck() -> bool:
                return await stuck_reason(client, stuck.id) is not None

            await wait_until(is_stuck, 60, "the workflow stuck", every=0.5)
            for run in (1, 2):
                check = await client.start_workflow(
                    MaintenanceWorkflow.run,
                    messages.MaintenanceInput(task="health_check"),
                    id=f"health-{process_id}-{run}",
                    task_queue=f"{prefix}{messages.QUEUE_MAINTENANCE}",
                )
                with pytest.raises(WorkflowFailureError):  # unhealthy: the run fails, red in the Web UI
                    await check.result()
            assert len(receiver.texts()) == 1, receiver.texts()
        finally:
            await stuck.terminate("an operator gave up on it")
        # Terminated, the workflow says nothing more; reconciliation ends the row and announces it (the row
        # is made older than reconciliation's grace period, as if started ten minutes ago).
        with session_scope(settings.database_url) as session:
            row = session.get(MonitoringProcess, process_id)
            assert row is not None
            row.started_at = utcnow() - timedelta(minutes=10)
        reconcile = await client.start_workflow(
            MaintenanceWorkflow.run,
            messages.MaintenanceInput(task="reconcile_processes"),
            id=f"reconcile-{process_id}",
            task_queue=f"{prefix}{messages.QUEUE_MAINTENANCE}",
        )
        assert (await reconcile.result()).counts["ended"] == 1
    stuck_text, ended_text = receiver.texts()
    assert stuck_text.startswith("yourMoment: process 'Klasse 82 stuck' is stuck\n"), stuck_text
    assert "starter.py health" in stuck_text
    assert ended_text == (
        "yourMoment: process 'Klasse 82 stuck' stopped\n"
        "Process 'Klasse 82 stuck' stopped (reconciled: workflow terminated)."
    )
    assert "Bello" not in stuck_text + ended_text


def test_the_record_of_attempts_on_both_databases(any_db_url: str) -> None:
    """What `health` and the once-a-day stuck message read: the newest failure against the newest delivery."""
    with session_scope(any_db_url) as session:
        assert notifications.outcomes(session) == notifications.Outcomes(None, None, None)
        notifications.record(session, "approval", process_id="p1", error="not delivered by 1 of 1 (json)")
    with session_scope(any_db_url) as session:
        seen = notifications.outcomes(session)
        assert seen.failing and seen.last_error == "not delivered by 1 of 1 (json)"
        notifications.record(session, "stuck", process_id="p1", subject="monitoring-process-p1")
    with session_scope(any_db_url) as session:
        seen = notifications.outcomes(session)
        assert not seen.failing and seen.last_delivered_at is not None
        hour_ago = utcnow() - timedelta(hours=1)
        assert notifications.sent_since(session, "stuck", "monitoring-process-p1", hour_ago)
        assert not notifications.sent_since(session, "stuck", "monitoring-process-p2", hour_ago)
        assert not notifications.sent_since(
            session, "stuck", "monitoring-process-p1", utcnow() + timedelta(1)
        )


@pytest.mark.slow
async def test_a_worker_process_at_debug_never_logs_its_notification_url(
    notify_env: CliEnv,
    dev_env: WorkflowEnvironment,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
    receiver: Receiver,
) -> None:
    """A real `worker.py` at LOG_LEVEL=DEBUG whose notification URL carries a token in its path, the
    receiver refusing every message: the failures are logged, the token never."""
    token = "hook-Geheim-7f3a9c"
    notify_env.set(NOTIFY_URLS=f"{receiver.url}/{token}")
    await configure_class_82(run_cli, mymoment_server, llm_server.url, "--require-approval")
    add_articles(mymoment_server.state, 1, class_id=82)
    receiver.status = 500
    worker = WorkerProcess({**os.environ, "LOG_LEVEL": "DEBUG"})
    worker.start()
    try:
        await cli_ok(run_cli, "start", "Klasse 82")
        await wait_until(lambda: len(receiver.bodies) >= 3, 60, "three tries of the first message")
        await cli_ok(run_cli, "stop", "Klasse 82", "--wait")
    finally:
        assert worker.terminate() == 0
    output = "".join(worker.output)
    assert "not delivered by 1 of 1 notification services (json)" in output  # the failure is logged
    assert "error=500" in output  # apprise's own answer too
    assert token not in output and "Geheim" not in output


def test_a_stuck_workflow_is_traced_to_its_process() -> None:
    process_id = "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b"
    assert process_of_workflow(messages.workflow_id_for_process(process_id)) == process_id
    assert process_of_workflow(messages.workflow_id_for_item(process_id, "login-1", "4711")) == process_id
    assert process_of_workflow("post-comment-item-1") is None
    assert process_of_workflow("article-too-short") is None
