"""Running processes: start, stop, pause, resume, discover-now, status, list, comments, post."""

from __future__ import annotations

import argparse
import re
import shutil
import textwrap
from datetime import timedelta

from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from yourmoment.cli.common import Context, add_json_flag, emit, fail, table_lines
from yourmoment.errors import NotFoundError, ValidationError
from yourmoment.llm.comments import comment_plain_text
from yourmoment.messages import (
    QUEUE_MONITORING,
    LoginState,
    MonitorInput,
    MonitorStatus,
    PostInput,
    PostResultMsg,
    StatusCounts,
    StopRequest,
    workflow_id_for_process,
)
from yourmoment.store import items, processes
from yourmoment.store.models import AIComment, MonitoringProcess, MyMomentLogin, ProcessStatus, utcnow
from yourmoment.temporal_client import connect


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("start", help="start a monitoring process (returns at once)")
    p.add_argument("process", help="process id, id prefix or name")
    add_json_flag(p)
    p.set_defaults(handler=cmd_start)

    p = sub.add_parser("stop", help="stop a running process gracefully")
    p.add_argument("process", nargs="?", help="process id, id prefix or name")
    p.add_argument("--all", action="store_true", help="stop every running process of the user")
    p.add_argument("--reason", default="stopped by user")
    p.add_argument("--wait", action="store_true", help="wait until the process has stopped")
    p.set_defaults(handler=cmd_stop)

    for name, helptext in (("pause", "pause discovery"), ("resume", "resume discovery"),
                           ("discover-now", "run a discovery at once")):  # fmt: skip
        p = sub.add_parser(name, help=helptext)
        p.add_argument("process")
        p.set_defaults(handler=cmd_signal, signal=name.replace("-", "_"))

    p = sub.add_parser("status", help="live status of one process")
    p.add_argument("process")
    add_json_flag(p)
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("list", help="processes with their status and counts")
    p.add_argument("--status", choices=[s.value for s in ProcessStatus])
    add_json_flag(p)
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("comments", help="work items (comments) of a process")
    p.add_argument("process")
    p.add_argument("--status", help="only items in this status (e.g. generated, posted, failed)")
    p.add_argument("--full", action="store_true", help="each comment's text under its row (--json: the HTML)")
    add_json_flag(p)
    p.set_defaults(handler=cmd_comments)

    p = sub.add_parser("post", help="post reviewed 'generated' comments exactly once (needs a running worker)")
    p.add_argument("comment_id", nargs="?", help="the comment (work item) id")
    p.add_argument("--process", help="post every generated comment of this process")
    add_json_flag(p)
    p.set_defaults(handler=cmd_post)


def _prefix(ctx: Context) -> str:
    return ctx.settings.temporal_task_queue_prefix


# --- start / stop / signals ----------------------------------------------------------------------------


async def cmd_start(args: argparse.Namespace) -> int:
    ctx = Context(args)
    with ctx.db() as session:
        process = processes.get_process(session, ctx.user(session), args.process)
        processes.check_startable(session, process, ctx.settings.max_running_processes_per_user)
        process_id, name = process.id, process.name
        previous = process.status
        process.status, process.started_at, process.stopped_at = ProcessStatus.RUNNING, utcnow(), None
        process.stop_reason, process.last_error = None, None
    client = await connect(ctx.settings)
    try:
        handle = await client.start_workflow(
            "MonitoringProcessWorkflow",
            MonitorInput(process_id=process_id, queue_prefix=_prefix(ctx),
                         use_search_attributes=ctx.settings.temporal_search_attributes),
            id=workflow_id_for_process(process_id),
            task_queue=f"{_prefix(ctx)}{QUEUE_MONITORING}",
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=f"yourMoment process {name}",
        )
    except Exception as exc:
        with ctx.db() as session:
            row = session.get(MonitoringProcess, process_id)
            if row is not None:
                row.status = previous
        if "already" in str(exc).lower():
            return fail(f"process '{name}' is already running in Temporal")
        raise
    with ctx.db() as session:
        row = session.get(MonitoringProcess, process_id)
        if row is not None:
            row.workflow_run_id = handle.result_run_id
    emit(args, {"process_id": process_id, "name": name, "workflow_id": handle.id, "run_id": handle.result_run_id})
    return 0


async def cmd_stop(args: argparse.Namespace) -> int:
    ctx = Context(args)
    with ctx.db() as session:
        user = ctx.user(session)
        if args.all:
            targets = [p for p in processes.list_processes(session, user) if p.status in processes.ACTIVE_STATUSES]
        elif args.process:
            targets = [processes.get_process(session, user, args.process)]
        else:
            raise ValidationError(["name a process or use --all"])
        targets_info = [(p.id, p.name) for p in targets]
    if not targets_info:
        print("no running process")
        return 0
    client = await connect(ctx.settings)
    for process_id, name in targets_info:
        handle = client.get_workflow_handle(workflow_id_for_process(process_id))
        if not await _is_running(handle):
            _mark_gone(ctx, process_id, "stopped", "workflow was no longer running")
            print(f"{name}: not running in Temporal; marked stopped")
            continue
        await handle.signal("stop", StopRequest(reason=args.reason))
        print(f"{name}: stop requested")
        if args.wait:
            result = await handle.result()
            print(f"{name}: {result['status'] if isinstance(result, dict) else result.status}")
    return 0


async def cmd_signal(args: argparse.Namespace) -> int:
    ctx = Context(args)
    process_id, name = _process_ref(ctx, args.process)
    client = await connect(ctx.settings)
    handle = client.get_workflow_handle(workflow_id_for_process(process_id))
    if not await _is_running(handle):
        return fail(f"process '{name}' is not running")
    await handle.signal(args.signal)
    print(f"{name}: {args.signal.replace('_', ' ')} sent")
    return 0


async def _is_running(handle: WorkflowHandle) -> bool:
    try:
        desc = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return desc.status == WorkflowExecutionStatus.RUNNING


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


async def process_status(ctx: Context, client: Client | None, process_id: str) -> MonitorStatus:
    """The workflow's live view, with the counts from the database (the truth across runs)."""
    with ctx.db() as session:
        process = session.get(MonitoringProcess, process_id)
        if process is None:
            raise NotFoundError(f"process {process_id} does not exist")
        counts = items.counts(session, process_id)
        fallback = _status_from_db(session, process, counts)
    if client is None or process.status not in processes.ACTIVE_STATUSES:
        return fallback
    try:
        live = await client.get_workflow_handle(workflow_id_for_process(process_id)).query(
            "status", result_type=MonitorStatus
        )
    except RPCError:
        return fallback
    return live.model_copy(update={"counts": counts, "name": fallback.name})


def _status_from_db(session, process: MonitoringProcess, counts: StatusCounts) -> MonitorStatus:  # type: ignore[no-untyped-def]
    logins = []
    for link in process.logins:
        login = session.get(MyMomentLogin, link.login_id)
        if login is not None:
            logins.append(LoginState(login_id=login.id, name=login.name, state="pending"))
    deadline = (
        process.started_at + timedelta(minutes=process.max_duration_minutes) if process.started_at else None
    )
    return MonitorStatus(
        process_id=process.id, name=process.name, status=process.status, stop_reason=process.stop_reason,
        started_at=process.started_at, deadline=deadline, paused=False, counts=counts, logins=logins,
        in_flight=0, discovery_runs=0, empty_streak=0, last_discovery_at=None, next_discovery_at=None,
        last_error=process.last_error,
    )  # fmt: skip


async def cmd_status(args: argparse.Namespace) -> int:
    ctx = Context(args)
    process_id, _ = _process_ref(ctx, args.process)
    client = await connect(ctx.settings)
    status = await process_status(ctx, client, process_id)
    if args.json:
        emit(args, status)
        return 0
    c = status.counts
    print(f"{status.name} ({status.process_id}): {status.status}{' (paused)' if status.paused else ''}")
    if status.stop_reason:
        print(f"  reason: {status.stop_reason}")
    print(f"  started {status.started_at or '-'}, deadline {status.deadline or '-'}")
    print(f"  items: discovered {c.discovered}, prepared {c.prepared}, generated {c.generated}, "
          f"posting {c.posting}, posted {c.posted}, failed {c.failed}, skipped {c.skipped}")  # fmt: skip
    print(f"  discovery runs {status.discovery_runs}, last {status.last_discovery_at or '-'}, "
          f"next {status.next_discovery_at or '-'}, in flight {status.in_flight}")  # fmt: skip
    for login in status.logins:
        print(f"  login {login.name}: {login.state}{' - ' + login.error if login.error else ''}")
    if status.last_error:
        print(f"  last error: {status.last_error}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    ctx = Context(args)
    rows = []
    with ctx.db() as session:
        for process in processes.list_processes(session, ctx.user(session), args.status):
            counts = items.counts(session, process.id)
            rows.append({
                "id": process.id, "name": process.name, "status": process.status, "tab": process.tab,
                "mode": "generate-only" if process.generate_only else "post", "started_at": process.started_at,
                "stop_reason": process.stop_reason, "posted": counts.posted, "generated": counts.generated,
                "failed": counts.failed, "counts": counts.model_dump(),
            })  # fmt: skip
    if args.json:
        emit(args, rows)
    else:
        emit(args, rows, ["id", "name", "status", "tab", "mode", "posted", "generated", "failed", "stop_reason"])
    return 0


COMMENT_COLUMNS = ("id", "login", "article_id", "title", "status", "model", "attempts", "error")
TEXT_INDENT = "    "


def cmd_comments(args: argparse.Namespace) -> int:
    ctx = Context(args)
    with ctx.db() as session:
        process = processes.get_process(session, ctx.user(session), args.process)
        found = items.list_items(session, process.id, args.status)
        query = select(MyMomentLogin.id, MyMomentLogin.name).where(MyMomentLogin.id.in_({i.login_id for i in found}))
        logins: dict[str, str] = {login_id: name for login_id, name in session.execute(query)}
        rows = [_comment_row(item, logins.get(item.login_id), args.full or args.json) for item in found]
    if args.full and not args.json and rows:
        _print_with_text(rows)
    else:
        emit(args, rows, COMMENT_COLUMNS)
    return 0


def _print_with_text(rows: list[dict]) -> None:
    """The table, each row followed by its comment as readable text, wrapped to the terminal (at most 100)."""
    header, *lines = table_lines(rows, COMMENT_COLUMNS)
    width = min(shutil.get_terminal_size((100, 24)).columns, 100) - len(TEXT_INDENT)
    print(header)
    for line, row in zip(lines, rows, strict=True):
        print(line)
        for paragraph in _paragraphs(row.get("comment_html")) or ["(no comment yet)"]:
            for text_line in textwrap.wrap(paragraph, width=max(width, 40)):
                print(TEXT_INDENT + text_line)
        print()


def _paragraphs(comment_html: str | None) -> list[str]:
    """A comment's paragraphs as plain text (tags stripped, entities decoded)."""
    parts = re.split(r"<\s*/\s*p\s*>|<\s*br\s*/?\s*>", comment_html or "", flags=re.IGNORECASE)
    return [text for text in (comment_plain_text(part) for part in parts) if text]


def _comment_row(item: AIComment, login: str | None, full: bool) -> dict:
    row = {
        "id": item.id, "login": login, "article_id": item.mymoment_article_id, "title": item.article_title,
        "login_id": item.login_id, "status": item.status, "model": item.model_name,
        "prompt_template_id": item.prompt_template_id, "tokens": (item.prompt_tokens or 0) + (item.completion_tokens or 0),
        "attempts": item.attempts, "error": item.error, "hidden": item.is_hidden, "posted_at": item.posted_at,
        "url": item.article_url,
    }  # fmt: skip
    if full:
        row["comment_html"] = item.comment_html
    return row


# --- post --------------------------------------------------------------------------------------------


async def cmd_post(args: argparse.Namespace) -> int:
    from workflows.post import workflow_id_for_post

    ctx = Context(args)
    with ctx.db() as session:
        user = ctx.user(session)
        if args.process:
            process = processes.get_process(session, user, args.process)
            targets = [(i.id, i.login_id, process.hide_comments) for i in items.list_items(session, process.id, "generated")]
        elif args.comment_id:
            item = session.get(AIComment, args.comment_id)
            process = session.get(MonitoringProcess, item.process_id) if item else None
            if item is None or process is None or process.user_id != user.id:
                raise NotFoundError(f"no comment {args.comment_id}; see 'starter.py comments PROCESS'")
            if item.status not in ("generated", "posting"):
                raise ValidationError([f"comment {item.id} is {item.status}; only generated comments can be posted"])
            targets = [(item.id, item.login_id, process.hide_comments)]
        else:
            raise ValidationError(["name a comment id or use --process"])
    client = await connect(ctx.settings)
    results = []
    for item_id, login_id, hide in targets:
        result = await client.execute_workflow(
            "PostCommentWorkflow",
            args=[PostInput(item_id=item_id, hide=hide), login_id, _prefix(ctx)],
            id=workflow_id_for_post(item_id),
            task_queue=f"{_prefix(ctx)}{QUEUE_MONITORING}",
            result_type=PostResultMsg,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        results.append(result)
        if not args.json:
            print(f"{item_id}: {result.outcome}{' - ' + result.reason if result.reason else ''}")
    if args.json:
        emit(args, results)
    elif not results:
        print("nothing to post")
    return 0
