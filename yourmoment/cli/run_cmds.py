"""Running processes: start, stop, pause, resume, discover-now, status, list, comments, post."""

from __future__ import annotations

import argparse
import asyncio
import re
import shlex
import shutil
import sys
import textwrap
import time
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowQueryFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from workflows.post import PostCommentWorkflow, workflow_id_for_post
from workflows.regenerate import RegenerateCommentWorkflow, workflow_id_for_regenerate
from yourmoment import processes_client
from yourmoment.cli.common import (
    CONNECT_TIMEOUT,
    QUICK_CONNECT_SECONDS,
    Context,
    add_command,
    add_plain_command,
    emit,
    fail,
    number,
    print_json,
    table_lines,
    try_connect,
)
from yourmoment.comment_rules import comment_plain_text
from yourmoment.errors import NotFoundError, ValidationError
from yourmoment.messages import (
    QUEUE_MONITORING,
    LoginState,
    MonitorStatus,
    RunCounts,
    StatusCounts,
    workflow_id_for_process,
)
from yourmoment.settings import Settings
from yourmoment.statuses import ProcessStatus
from yourmoment.store import attempts, items, processes, review
from yourmoment.store.models import AIComment, MonitoringProcess, MyMomentLogin, PromptTemplate, utcnow
from yourmoment.temporal_checks import (
    ensure_search_attributes,
    no_worker_warning,
    retrying_activities,
    stuck_reason,
    unpolled_note,
)
from yourmoment.temporal_client import connect

# Commands that wait for a worker give up after this many seconds (--timeout), with the reason.
DEFAULT_WAIT_SECONDS = 300.0
TIMED_OUT = 1  # exit code of a wait that ended without the answer
NOT_POSTED = 1  # exit code of `post` when a comment ended skipped instead of posted
QUERY_SECONDS = 5.0  # a status query that a busy or missing worker does not answer in time
# Comments a `post` or `comments regenerate` workflow may be working on (or queued for).
QUEUED_FOR_WORKFLOW = ("generated", "posting", "regenerating")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < 10**7:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _add_timeout(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_WAIT_SECONDS,
        help=f"seconds to wait for {what} (default {DEFAULT_WAIT_SECONDS:g}); then exit {TIMED_OUT}",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub,
        "start",
        "start monitoring processes (returns once Temporal accepted them)",
        cmd_start,
        examples=(
            "starter.py start 'Klasse 4b'",
            "starter.py start 'Klasse 4a' 'Klasse 4b' 'Klasse 5'",
            "starter.py start --all --per-second 5",
        ),
    )
    p.add_argument("process", nargs="*", help="process id, id prefix or name (several: a batch start)")
    p.add_argument("--all", action="store_true", help="start every process of the user that is not running")
    p.add_argument(
        "--per-second",
        type=number(0.1, 1000),
        default=processes_client.DEFAULT_STARTS_PER_SECOND,
        help="a batch's starts per second, spread so the workers keep up "
        f"(default {processes_client.DEFAULT_STARTS_PER_SECOND:g})",
    )

    p = add_plain_command(
        sub,
        "stop",
        "stop a running process: nothing new is posted (generated comments wait for 'post')",
        cmd_stop,
        examples=(
            'starter.py stop "Class 4b" --reason "lesson over"',
            'starter.py stop "Class 4b" --drain --wait   # post what is queued, then stop',
            "starter.py stop --all",
        ),
    )
    p.add_argument("process", nargs="?", help="process id, id prefix or name")
    p.add_argument("--all", action="store_true", help="stop every running process of the user")
    p.add_argument("--reason", default="stopped by user")
    p.add_argument(
        "--drain",
        action="store_true",
        help="post the comments already queued first (within the grace period), then stop",
    )
    p.add_argument("--wait", action="store_true", help="wait until the process has stopped")
    _add_timeout(p, "the stop with --wait")

    for name, helptext in (
        ("pause", "pause discovery"),
        ("resume", "resume discovery"),
        ("discover-now", "run a discovery at once"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("process")
        p.set_defaults(handler=cmd_signal, signal=name.replace("-", "_"))

    p = add_command(sub, "status", "live status of one process", cmd_status)
    p.add_argument("process")

    p = add_command(sub, "list", "processes with their status and counts", cmd_list)
    p.add_argument("--status", choices=[s.value for s in ProcessStatus])

    # `comments` (listing and reviewing) is registered by yourmoment/cli/review_cmds.py.

    p = add_command(
        sub,
        "post",
        "post reviewed 'generated' comments exactly once (needs a running worker)",
        cmd_post,
        examples=(
            "starter.py post 3f2a9c1e",
            "starter.py post --process 'Klasse 4b'              # what a stop left unposted",
            "starter.py post --process 'Klasse 4b' --approved --timeout 120",
        ),
    )
    p.add_argument("comment_id", nargs="?", help="the comment (work item) id")
    p.add_argument(
        "--process",
        help="post every generated comment of this process (approved ones "
        "when it requires approval; with --approved: its approved ones)",
    )
    p.add_argument("--approved", action="store_true", help="post every approved comment (of --process)")
    _add_timeout(p, "the posts")


# --- start / stop / signals ----------------------------------------------------------------------------


def _warn(message: str | None) -> None:
    """On stderr, so --json output stays one JSON document."""
    if message:
        print(f"warning: {message}", file=sys.stderr)


async def cmd_start(args: argparse.Namespace) -> int:
    """Atomic for the user: nothing is written until Temporal accepted the workflow (see mark_running)."""
    if args.all or len(args.process) > 1:
        return await cmd_start_batch(args)
    if not args.process:
        return fail("name a process or use --all")
    args.process = args.process[0]
    ctx = Context(args)
    with ctx.db() as session:
        process = processes.get_process(session, ctx.user(session), args.process)
        processes.check_startable(session, process, ctx.settings.max_running_processes_per_user)
        process_id, name, seen_updated_at = process.id, process.name, process.updated_at
    client = await connect(ctx.settings)
    use_attributes = ctx.settings.temporal_search_attributes
    if use_attributes:
        await ensure_search_attributes(client, register=True)
    _warn(await no_worker_warning(client, ctx.settings))
    try:
        handle = await processes_client.start_monitoring(
            client, ctx.settings, process_id, summary=f"yourMoment process {name}", name=name
        )
    except WorkflowAlreadyStartedError:
        return fail(f"process '{name}' is already running in Temporal")
    except RPCError as exc:  # nothing was written: the row is as it was
        return fail(f"Temporal did not start process '{name}': {exc}")
    with ctx.db() as session:
        processes.mark_running(session, process_id, handle.result_run_id, unchanged_since=seen_updated_at)
    emit(
        args,
        {"process_id": process_id, "name": name, "workflow_id": handle.id, "run_id": handle.result_run_id},
    )
    return 0


async def cmd_start_batch(args: argparse.Namespace) -> int:
    """Many processes, spread at --per-second; says how far it got (stderr), then what started (stdout).

    Named processes are checked first: one that cannot start stops the batch before anything started.
    `--all` takes every process of the user that is not active and leaves out, with the reason, those
    that cannot start. Each row is marked running once Temporal accepted its workflow, as `start` does.
    """
    if args.all and args.process:
        return fail("name processes or use --all, not both")
    ctx = Context(args)
    skipped: list[dict[str, str]] = []
    with ctx.db() as session:
        user = ctx.user(session)
        if args.all:
            candidates = [
                p
                for p in processes.list_processes(session, user)
                if p.status not in processes.ACTIVE_STATUSES
            ]
        else:
            candidates = []
            for ref in dict.fromkeys(args.process):
                candidates.append(processes.get_process(session, user, ref))
        unlimited = 10**9
        targets: list[tuple[str, str, datetime]] = []
        for process in candidates:
            try:
                processes.check_startable(session, process, unlimited)
            except ValidationError as exc:
                if not args.all:
                    raise
                skipped.append({"process_id": process.id, "name": process.name, "reason": str(exc)})
                continue
            targets.append((process.id, process.name, process.updated_at))
        running = processes.running_count(session, user.id)
    limit = ctx.settings.max_running_processes_per_user
    room = max(0, limit - running)
    if len(targets) > room:
        if not args.all:
            return fail(
                f"{len(targets)} processes would exceed MAX_RUNNING_PROCESSES_PER_USER={limit} "
                f"({running} running already)"
            )
        for process_id, name, _ in targets[room:]:
            skipped.append(
                {
                    "process_id": process_id,
                    "name": name,
                    "reason": f"MAX_RUNNING_PROCESSES_PER_USER={limit} reached",
                }
            )
        targets = targets[:room]
    if not targets:
        if args.json:
            print_json({"total": 0, "started": [], "failed": [], "skipped": skipped})
        else:
            print("no process to start")
            for s in skipped:
                print(f"  {s['name']}: not started: {s['reason']}")
        return 0
    client = await connect(ctx.settings)
    if ctx.settings.temporal_search_attributes:
        await ensure_search_attributes(client, register=True)
    _warn(await no_worker_warning(client, ctx.settings))
    updated = {process_id: seen for process_id, _, seen in targets}
    names = {process_id: name for process_id, name, _ in targets}
    last_shown = [0.0]

    async def started(process_id: str, run_id: str) -> None:
        with ctx.db() as session:
            processes.mark_running(session, process_id, run_id or None, unchanged_since=updated[process_id])

    def show(progress: processes_client.BatchStart) -> None:
        now = time.monotonic()
        if progress.done == progress.total or now - last_shown[0] >= 1.0:
            last_shown[0] = now
            print(
                f"starting: {progress.done}/{progress.total} "
                f"({len(progress.started)} started, {len(progress.failed)} failed)",
                file=sys.stderr,
                flush=True,
            )

    result = await processes_client.start_many(
        client,
        ctx.settings,
        [(process_id, name) for process_id, name, _ in targets],
        per_second=args.per_second,
        on_started=started,
        on_progress=show,
    )
    failed = [{"process_id": pid, "name": names[pid], "reason": why} for pid, why in result.failed.items()]
    if args.json:
        print_json(
            {
                "total": result.total,
                "started": [
                    {"process_id": pid, "name": names[pid], "run_id": rid}
                    for pid, rid in result.started.items()
                ],
                "failed": failed,
                "skipped": skipped,
            }
        )
    else:
        print(f"started {len(result.started)} of {result.total} processes")
        for f in failed:
            print(f"  {f['name']}: {f['reason']}")
        for s in skipped:
            print(f"  {s['name']}: not started: {s['reason']}")
    return 0 if not result.failed else 1


async def cmd_stop(args: argparse.Namespace) -> int:
    ctx = Context(args)
    if args.all and args.process:
        return fail("name a process or use --all, not both")
    with ctx.db() as session:
        user = ctx.user(session)
        if args.all:
            targets = [
                p for p in processes.list_processes(session, user) if p.status in processes.ACTIVE_STATUSES
            ]
        elif args.process:
            targets = [processes.get_process(session, user, args.process)]
        else:
            raise ValidationError(["name a process or use --all"])
        targets_info = [(p.id, p.name) for p in targets]
    if not targets_info:
        print("no running process")
        return 0
    client = await connect(ctx.settings)
    stopping: dict[str, processes_client.MonitoringHandle] = {}
    for process_id, name in targets_info:
        handle = processes_client.monitoring_handle(client, process_id)
        if not await _is_running(handle):
            _mark_gone(ctx, process_id, "stopped", "workflow was no longer running")
            print(f"{name}: not running in Temporal; marked stopped")
            continue
        # Before the signal: no POST of the process starts from here on.
        held = not args.drain and _hold_posts(ctx, process_id, hold=True)
        try:
            await processes_client.stop(handle, args.reason, drain=args.drain)
        except RPCError:
            if held:
                _hold_posts(ctx, process_id, hold=False)  # the process was not stopped: it posts on
            raise
        print(f"{name}: stop requested{' (queued comments are posted first)' if args.drain else ''}")
        stopping[name] = handle
    if stopping:
        _warn(await no_worker_warning(client, ctx.settings))
    if not args.wait or not stopping:
        return 0
    return await _wait_stopped(ctx, client, stopping, args.timeout)


async def _wait_stopped(
    ctx: Context, client: Client, stopping: dict[str, processes_client.MonitoringHandle], timeout: float
) -> int:
    """Waits for every stopped workflow's result, all together, for at most `timeout` seconds."""
    tasks = {asyncio.create_task(handle.result()): name for name, handle in stopping.items()}
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in done:
        if task.exception() is not None:
            print(f"{tasks[task]}: ended without a result: {task.exception()}")
            continue
        result = task.result()
        left = f"; {result.left_unposted} generated comments not posted" if result.left_unposted else ""
        print(f"{tasks[task]}: {result.status}{left}")
    for task in pending:
        task.cancel()
        name = tasks[task]
        why = await why_waiting(ctx, client, stopping[name].id)
        fail(f"{name}: not stopped within {timeout:g} s: {why}")
    return TIMED_OUT if pending else 0


async def why_waiting(ctx: Context, client: Client, workflow_id: str) -> str:
    """The likeliest reason a workflow has not answered: a failing task, no worker at all, a task queue
    of its activities that nobody polls, or just still busy."""
    if reason := await stuck_reason(client, workflow_id) or await no_worker_warning(client, ctx.settings):
        return reason
    unpolled = await unpolled_note(client, workflow_id)
    return (
        f"it {unpolled}"
        if unpolled
        else f"still running; see 'temporal workflow describe --workflow-id {workflow_id}'"
    )


async def queued_comment_notes(client: Client, settings: Settings, item_ids: Collection[str]) -> list[str]:
    """One line per running post or regeneration of these comments that waits on a task queue no worker
    polls: every later `post`, `status` and `comments show` names the queue until a worker serves it.
    One visibility query finds the running ones, so a process with many comments costs no describe each."""
    ours = {workflow_id_for_post(i): ("post", i) for i in item_ids} | {
        workflow_id_for_regenerate(i): ("regeneration", i) for i in item_ids
    }
    if not ours:
        return []
    query = (
        f"ExecutionStatus = 'Running' AND TaskQueue = '{settings.task_queue(QUEUE_MONITORING)}' AND "
        f"(WorkflowType = '{PostCommentWorkflow.__name__}' OR WorkflowType = '{RegenerateCommentWorkflow.__name__}')"
    )
    notes = []
    async for wf in client.list_workflows(query):
        if wf.id in ours and (note := await unpolled_note(client, wf.id)):
            what, item_id = ours[wf.id]
            notes.append(f"the queued {what} of comment {item_id} {note}")
    return notes


# What becomes of a comment's workflow that a command stopped waiting for: it goes on in Temporal.
AFTER_TIMEOUT = {
    "posted": "the post stays queued and runs exactly once when a worker takes it ('post' again waits for it)",
    "regenerated": "the regeneration goes on and its outcome lands in the comment's history ('comments show')",
}


async def comment_timed_out(
    ctx: Context,
    client: Client,
    workflow_id: str,
    item_id: str,
    done: Literal["posted", "regenerated"],
    seconds: float,
) -> int:
    """Exit TIMED_OUT: the comment was not `done` in time, the likeliest reason, and what becomes of it."""
    why = await why_waiting(ctx, client, workflow_id)
    return fail(f"comment {item_id} not {done} within {seconds:g} s: {why}; {AFTER_TIMEOUT[done]}", TIMED_OUT)


async def cmd_signal(args: argparse.Namespace) -> int:
    ctx = Context(args)
    process_id, name = _process_ref(ctx, args.process)
    client = await connect(ctx.settings)
    handle = processes_client.monitoring_handle(client, process_id)
    if not await _is_running(handle):
        return fail(f"process '{name}' is not running")
    no_worker = await no_worker_warning(client, ctx.settings)
    _warn(await stuck_reason(client, handle.id) or no_worker)
    if args.signal == "discover_now" and no_worker is None and await _is_paused(handle):
        # Discovery is what pause stops; resume is the way to discover again (at once).
        return fail(
            f"process '{name}' is paused: discover-now does nothing while paused; resume it, which "
            f"discovers at once: starter.py resume {shlex.quote(name)}",
            TIMED_OUT,
        )
    await processes_client.send(handle, args.signal)
    print(f"{name}: {args.signal.replace('_', ' ')} sent")
    return 0


async def _is_paused(handle: processes_client.MonitoringHandle) -> bool:
    """False when the workflow does not answer in time (stuck or busy): the signal is sent anyway."""
    try:
        status = await asyncio.wait_for(processes_client.status(handle), QUERY_SECONDS)
    except (RPCError, TimeoutError):
        return False
    return status.paused


async def _is_running(handle: WorkflowHandle[Any, Any]) -> bool:
    try:
        desc = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return desc.status == WorkflowExecutionStatus.RUNNING


def _hold_posts(ctx: Context, process_id: str, hold: bool) -> bool:
    """The stop as the post activity reads it (the workflow records it too when the signal comes from
    elsewhere, the Web UI or `temporal workflow signal`); `hold=False` takes it back. True if changed."""
    with ctx.db() as session:
        row = session.get(MonitoringProcess, process_id)
        if row is None or (row.posting_stopped_at is None) != hold:
            return False
        row.posting_stopped_at = utcnow() if hold else None
        return True


def _mark_gone(ctx: Context, process_id: str, status: str, reason: str) -> None:
    with ctx.db() as session:
        row = session.get(MonitoringProcess, process_id)
        if row is not None and row.status in processes.ACTIVE_STATUSES:
            items.settle_leftovers(session, process_id, f"process ended: {reason}")
            row.status, row.stop_reason, row.stopped_at = status, reason, utcnow()


def _process_ref(ctx: Context, ref: str) -> tuple[str, str]:
    with ctx.db() as session:
        process = processes.get_process(session, ctx.user(session), ref)
        return process.id, process.name


# --- status ------------------------------------------------------------------------------------------


class ProcessStatusView(MonitorStatus):
    """`status --json` and `monitor --json`: the `status` query's fields, each meaning what it means
    there, plus the database's `totals` and where the answer came from.

    When the database answers (`source` "database": the process is not running, or its workflow
    could not be asked, `source_note` says which), what only the workflow knows is null.
    """

    # The fields marked `widened` accept more than the query's (mypy's [assignment]): "stuck", or null
    # when the database answers.
    # A process status, or "stuck" when the workflow's task keeps failing (see temporal_checks).
    status: ProcessStatus | Literal["stuck"]  # type: ignore[assignment]  # widened
    source: Literal["workflow", "database"]
    source_note: str | None = None
    totals: StatusCounts  # every work item of the process, all runs, by current status
    run_counts: RunCounts | None = None  # type: ignore[assignment]  # widened
    paused: bool | None = None  # type: ignore[assignment]  # widened
    # Activities of the running workflow that failed and wait for their next try (temporal_checks).
    retrying: list[str] = Field(default_factory=list)
    in_flight: int | None = None  # type: ignore[assignment]  # widened
    discovery_runs: int | None = None  # type: ignore[assignment]  # widened
    empty_streak: int | None = None  # type: ignore[assignment]  # widened


async def process_status(
    ctx: Context, client: Client | None, process_id: str, client_error: str | None = None, query: bool = True
) -> ProcessStatusView:
    """The workflow's live view while the process runs; otherwise, or when it cannot be asked, the database's.

    A workflow whose workflow task keeps failing shows as `stuck` with the failure in `last_error`;
    `query=False` (no worker polls) answers from the database instead of waiting for a query nobody serves.
    """
    with ctx.db() as session:
        process = session.get(MonitoringProcess, process_id)
        if process is None:
            raise NotFoundError(f"process {process_id} does not exist")
        totals = items.counts(session, process_id)
        active = process.status in processes.ACTIVE_STATUSES
        note = _fallback_note(process.status, client_error if client is None else None)
        fallback = _status_from_db(session, process, totals, note)
    if not active or client is None:
        return fallback
    handle = processes_client.monitoring_handle(client, process_id)
    try:
        stuck = await stuck_reason(client, handle.id)
        if stuck:
            note = "the workflow task keeps failing"
            return fallback.model_copy(update={"status": "stuck", "last_error": stuck, "source_note": note})
        fallback.retrying = await retrying_activities(client, handle.id)
        if not query:
            return fallback.model_copy(update={"source_note": "no worker polls, so nobody answers the query"})
        live = await asyncio.wait_for(processes_client.status(handle), QUERY_SECONDS)
    except TimeoutError:
        note = f"the workflow did not answer within {QUERY_SECONDS:g} s"
        return fallback.model_copy(update={"source_note": note})
    except (RPCError, WorkflowQueryFailedError) as exc:
        note = f"the workflow did not answer: {(str(exc).splitlines() or [type(exc).__name__])[0][:300]}"
        return fallback.model_copy(update={"source_note": note})
    return ProcessStatusView(
        **{**live.model_dump(), "name": fallback.name},
        source="workflow",
        totals=totals,
        retrying=fallback.retrying,
    )


def _fallback_note(status: str, client_error: str | None) -> str:
    if status in processes.ACTIVE_STATUSES:
        return client_error or "Temporal not asked"
    return "never started" if status == ProcessStatus.CREATED else "not running; the last run's outcome"


# The process row's columns that the status view shows under the same name and meaning.
_SAME_IN_ROW_AND_VIEW = ("name", "status", "stop_reason", "started_at", "last_error")


def _status_from_db(
    session: Session, process: MonitoringProcess, totals: StatusCounts, note: str
) -> ProcessStatusView:
    """What the database knows: the row, the totals, and each login's state when the last run ended."""
    active = process.status in processes.ACTIVE_STATUSES
    logins = []
    for link in process.logins:
        login = session.get(MyMomentLogin, link.login_id)
        if login is None:
            continue
        if active:
            state, error = "unknown", None  # only the running workflow knows
        elif process.status == ProcessStatus.CREATED:
            state, error = "pending", None
        else:
            state, error = link.last_state or "unknown", link.last_error
        logins.append(LoginState(login_id=login.id, name=login.name, state=state, error=error))
    deadline = (
        process.started_at + timedelta(minutes=process.max_duration_minutes) if process.started_at else None
    )
    return ProcessStatusView(
        process_id=process.id,
        **{column: getattr(process, column) for column in _SAME_IN_ROW_AND_VIEW},
        deadline=deadline,
        logins=logins,
        last_discovery_at=None,
        next_discovery_at=None,
        source="database",
        source_note=note,
        totals=totals,
    )


async def cmd_status(args: argparse.Namespace) -> int:

    ctx = Context(args)
    with ctx.db() as session:
        process = processes.get_process(session, ctx.user(session), args.process)
        process_id, active = process.id, process.status in processes.ACTIVE_STATUSES
        queued = items.ids_with_status(session, process_id, QUEUED_FOR_WORKFLOW)
    client, error = None, None
    if active or queued:  # a stopped process's comments may still wait for a `post` queued earlier
        client, error = await try_connect(ctx.settings, CONNECT_TIMEOUT if active else QUICK_CONNECT_SECONDS)
    no_worker = await no_worker_warning(client, ctx.settings) if client is not None and active else None
    _warn(no_worker)
    if client is not None and no_worker is None:  # with no worker at all, that one line says it
        for note in await queued_comment_notes(client, ctx.settings, queued):
            _warn(note)
    status = await process_status(ctx, client, process_id, error, query=no_worker is None)
    if args.json:
        emit(args, status)
        return 0
    print(f"{status.name} ({status.process_id}): {status.status}{' (paused)' if status.paused else ''}")
    if status.source == "database":
        print(f"  from the database ({status.source_note}): workflow details not shown")
    if status.stop_reason:
        print(f"  reason: {status.stop_reason}")
    print(f"  started {status.started_at or '-'}, deadline {status.deadline or '-'}")
    t = status.totals
    print(
        f"  work items (all runs): discovered {t.discovered}, prepared {t.prepared}, generated {t.generated}, "
        f"posting {t.posting}, posted {t.posted}, failed {t.failed}, skipped {t.skipped}"
    )
    if (r := status.run_counts) is not None:
        print(
            f"  this run: discovered {r.discovered}, generated {r.generated}, posted {r.posted}, "
            f"failed {r.failed}, skipped {r.skipped}"
        )
    if status.discovery_runs is not None:
        print(
            f"  discovery runs {status.discovery_runs}, last {status.last_discovery_at or '-'}, "
            f"next {status.next_discovery_at or '-'}, in flight {status.in_flight}"
        )
    if status.discovery_note:
        print(f"  {status.discovery_note}")
    for login in status.logins:
        print(f"  login {login.name}: {login.state}{' - ' + login.error if login.error else ''}")
    for activity in status.retrying:
        print(f"  retrying {activity}")
    if status.last_error:
        print(f"  last error: {status.last_error}")
    if status.ignored_signal:  # an input the workflow could not read (the Web UI's dialog, the temporal CLI)
        print(f"  {status.ignored_signal}")
    return 0


async def cmd_list(args: argparse.Namespace) -> int:
    ctx = Context(args)
    rows = []
    with ctx.db() as session:
        for process in processes.list_processes(session, ctx.user(session), args.status):
            counts = items.counts(session, process.id)
            rows.append(
                {
                    "id": process.id,
                    "name": process.name,
                    "status": process.status,
                    "stuck": None,
                    "tab": process.tab,
                    "mode": "generate-only" if process.generate_only else "post",
                    "started_at": process.started_at,
                    "stop_reason": process.stop_reason,
                    "posted": counts.posted,
                    "generated": counts.generated,
                    "failed": counts.failed,
                    "totals": counts.model_dump(),
                }
            )
    await _mark_stuck(ctx, [r for r in rows if r["status"] in processes.ACTIVE_STATUSES])
    if args.json:
        emit(args, rows)
    else:
        columns = ["id", "name", "status", "tab", "mode", "posted", "generated", "failed", "stop_reason"]
        emit(args, rows, columns + (["stuck"] if any(r["stuck"] for r in rows) else []))
    return 0


async def _mark_stuck(ctx: Context, rows: list[dict[str, Any]]) -> None:
    """Active rows whose workflow task keeps failing become `stuck`; without Temporal, a note says so."""

    if not rows:
        return
    client, error = await try_connect(ctx.settings)
    if client is None:
        _warn(f"{error}; stuck processes are not detected")
        return
    for row in rows:
        reason = await stuck_reason(client, workflow_id_for_process(row["id"]))
        if reason:
            row["status"], row["stuck"] = "stuck", reason


COMMENT_COLUMNS = (
    "id",
    "login",
    "article_id",
    "title",
    "status",
    "approval",
    "template",
    "model",
    "tries",
    "attempts",
    "error",
)
TEXT_INDENT = "    "


def cmd_comments(args: argparse.Namespace) -> int:
    ctx = Context(args)
    with ctx.db() as session:
        process = processes.get_process(session, ctx.user(session), args.process)
        found = items.list_items(session, process.id, args.status)
        if args.waiting:
            waiting = {i.id for i in review.waiting_items(session, [process.id])}
            found = [i for i in found if i.id in waiting]
        query = select(MyMomentLogin.id, MyMomentLogin.name).where(
            MyMomentLogin.id.in_({i.login_id for i in found})
        )
        logins: dict[str, str] = {login_id: name for login_id, name in session.execute(query)}
        names = {tid: name for tid, name in session.execute(select(PromptTemplate.id, PromptTemplate.name))}
        tries = attempts.for_items(session, [i.id for i in found])
        rows = [
            _comment_row(item, logins.get(item.login_id), tries[item.id], args.full or args.json)
            | _review_cells(item, names)
            for item in found
        ]
    if args.full and not args.json and rows:
        _print_with_text(rows)
    else:
        emit(args, rows, COMMENT_COLUMNS)
    return 0


def _print_with_text(rows: list[dict[str, Any]]) -> None:
    """The table, each row followed by its generation attempts and its comment as readable text, wrapped
    to the terminal (at most 100)."""
    header, *lines = table_lines(rows, COMMENT_COLUMNS)
    width = max(min(shutil.get_terminal_size((100, 24)).columns, 100) - len(TEXT_INDENT), 40)
    print(header)
    for line, row in zip(lines, rows, strict=True):
        print(line)
        for attempt_line in _attempt_lines(row["generation_attempts"]):
            indent = TEXT_INDENT
            print(
                textwrap.fill(attempt_line, width=width, initial_indent=indent, subsequent_indent=indent * 2)
            )
        for paragraph in _paragraphs(row.get("comment_html")) or ["(no comment yet)"]:
            for text_line in textwrap.wrap(paragraph, width=width):
                print(TEXT_INDENT + text_line)
        print()


def _attempt_lines(tries: list[dict[str, Any]]) -> list[str]:
    """One line per answer the model gave, with the gate's reasons when it was rejected (never the text)."""
    if len(tries) < 2 and all(t["accepted"] for t in tries):
        return []  # accepted at once: nothing to explain
    lines = []
    for t in tries:
        facts = f"{t['tokens']} tokens, {t['ms']} ms, finish {t['finish_reason'] or '-'}"
        reasons = "; ".join(f"{r.get('check')}: {r.get('message')}" for r in t["reasons"])
        verdict = "accepted" if t["accepted"] else f"rejected: {reasons}"
        lines.append(f"try {t['number']} ({facts}) {verdict}")
    return lines


def _tries_cell(tries: list[dict[str, Any]]) -> str | None:
    """Compact: how many answers it took, and the checks that rejected the others ("2 (repetition)")."""
    if not tries:
        return None
    rejected = dict.fromkeys(code for t in tries if not t["accepted"] for code in t["checks"])
    return f"{len(tries)} ({','.join(rejected)})" if rejected else str(len(tries))


def _paragraphs(comment_html: str | None) -> list[str]:
    """A comment's paragraphs as plain text (tags stripped, entities decoded)."""
    parts = re.split(r"<\s*/\s*p\s*>|<\s*br\s*/?\s*>", comment_html or "", flags=re.IGNORECASE)
    return [text for text in (comment_plain_text(part) for part in parts) if text]


def _review_cells(item: AIComment, template_names: dict[str, str]) -> dict[str, Any]:
    """APPROVAL: approved, or waiting (generated, nobody approved it yet: `--waiting`, `comments review`);
    TEMPLATE: the template and the version the text was made with."""
    if item.approved_at is not None:
        approval = "approved"
    elif item.status == "generated":
        approval = "waiting"
    else:
        approval = None
    name = template_names.get(item.prompt_template_id or "")
    template = f"{name} v{item.prompt_template_version}" if name and item.prompt_template_version else name
    return {
        "approval": approval,
        "template": template,
        "prompt_template_version": item.prompt_template_version,
        "approved_by": item.approved_by,
    }


def _comment_row(
    item: AIComment, login: str | None, tries: list[dict[str, Any]], full: bool
) -> dict[str, Any]:
    row = {
        "id": item.id,
        "login": login,
        "article_id": item.mymoment_article_id,
        "title": item.article_title,
        "login_id": item.login_id,
        "status": item.status,
        "model": item.model_name,
        "prompt_template_id": item.prompt_template_id,
        "tokens": (item.prompt_tokens or 0) + (item.completion_tokens or 0),
        "tries": _tries_cell(tries),
        "attempts": item.attempts,
        "error": item.error,
        "hidden": item.is_hidden,
        "posted_at": item.posted_at,
        "url": item.article_url,
        "generation_attempts": tries,
    }
    if full:
        row["comment_html"] = item.comment_html
    return row


# --- post --------------------------------------------------------------------------------------------


def workflow_label(
    session: Session, item_id: str, what: str, template_name: str | None = None
) -> processes_client.ProcessLabel:
    """A post's or regeneration's process and summary for the Web UI, in the teacher's words: the
    process, the article's number, the login and the template by name (never the pupil's)."""
    item = session.get(AIComment, item_id)
    assert item is not None
    process = session.get(MonitoringProcess, item.process_id)
    login = session.get(MyMomentLogin, item.login_id)
    template = session.get(PromptTemplate, item.prompt_template_id) if item.prompt_template_id else None
    template_name = template_name or (template.name if template else "?")
    name = process.name if process else ""
    summary = (
        f"{name}: {what} the comment on article {item.mymoment_article_id}, "
        f"login {login.name if login else '?'}, template {template_name}"
    )
    return processes_client.ProcessLabel(process_id=item.process_id, process_name=name, summary=summary)


async def cmd_post(args: argparse.Namespace) -> int:

    ctx = Context(args)
    with ctx.db() as session:
        user = ctx.user(session)
        if args.comment_id and (args.approved or args.process):
            option = "--approved" if args.approved else "--process"
            raise ValidationError([f"name a comment id or use {option}, not both"])
        if args.approved:
            chosen = (
                [processes.get_process(session, user, args.process)]
                if args.process
                else (processes.list_processes(session, user))
            )
            hides = {p.id: p.hide_comments for p in chosen}
            targets = [(i.id, i.login_id, hides[i.process_id]) for i in review.approved_items(session, hides)]
        elif args.process:
            process = processes.get_process(session, user, args.process)
            targets = [
                (i.id, i.login_id, process.hide_comments)
                for i in items.list_items(session, process.id, "generated")
                if not review.waits_for_approval(session, i)
            ]
        elif args.comment_id:
            item, process = review.item_for_user(session, user, args.comment_id)  # id or 8+ character prefix
            if item.status not in ("generated", "posting"):
                raise ValidationError(
                    [f"comment {item.id} is {item.status}; only generated comments can be posted"]
                )
            if item.status == "generated" and review.waits_for_approval(session, item):
                raise ValidationError(
                    [
                        f"comment {item.id} waits for approval: its process requires it "
                        f"('starter.py comments approve {item.id}')"
                    ]
                )
            targets = [(item.id, item.login_id, process.hide_comments)]
        else:
            raise ValidationError(["name a comment id, or use --process or --approved"])
        labels = {item_id: workflow_label(session, item_id, "post") for item_id, _, _ in targets}
    client = await connect(ctx.settings)
    no_worker = await no_worker_warning(client, ctx.settings) if targets else None
    _warn(no_worker)
    deadline = asyncio.get_running_loop().time() + args.timeout
    results = []
    for item_id, login_id, hide in targets:
        handle = await processes_client.start_post(
            client, ctx.settings, item_id, login_id, hide, labels[item_id]
        )
        # A post queued by an earlier call may wait where no worker polls (only its activities' queue).
        if no_worker is None and (note := await unpolled_note(client, handle.id)):
            _warn(f"the queued post of comment {item_id} {note}")
        try:
            left = max(0.0, deadline - asyncio.get_running_loop().time())
            result = await asyncio.wait_for(handle.result(), left)
        except TimeoutError:
            return await comment_timed_out(ctx, client, handle.id, item_id, "posted", args.timeout)
        results.append(result)
        if not args.json:
            print(f"{item_id}: {result.outcome}{' - ' + result.reason if result.reason else ''}")
    if args.json:
        emit(args, results)
    elif not results:
        print("nothing to post")
    # A comment that ended skipped was not posted, which a script must be able to tell from success.
    return NOT_POSTED if any(r.outcome == "skipped" for r in results) else 0
