"""Operating commands: `schedules apply|list`, `health`, `info` and the live `monitor` table."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from temporalio.client import Client

from yourmoment.cli.common import (
    Context,
    add_command,
    emit,
    number,
    print_json,
    print_table,
    require_client,
    try_connect,
)
from yourmoment.errors import ConfigurationError
from yourmoment.messages import ALL_QUEUES
from yourmoment.settings import Settings

if TYPE_CHECKING:
    from yourmoment.cli.run_cmds import ProcessStatusView

CLEAR_SCREEN = "\033[H\033[2J"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("schedules", help="the periodic maintenance work (Temporal Schedules)")
    actions = p.add_subparsers(dest="schedules_action", metavar="ACTION")
    actions.required = True
    add_command(
        actions,
        "apply",
        "create the schedules, or update them to this version (idempotent)",
        cmd_schedules_apply,
    )
    add_command(actions, "list", "the schedules with their next and last run", cmd_schedules_list)

    p = add_command(
        sub,
        "health",
        "check Temporal, workers, database, Redis, the site, the LLMs in use, key and schedules (exit 1 if unhealthy)",
        cmd_health,
        examples=("starter.py health", "starter.py health --json | jq '.checks[] | select(.ok | not)'"),
    )

    p = add_command(sub, "info", "task queues, workflows, activities and schedules", cmd_info)

    p = add_command(sub, "monitor", "live table of running processes (Ctrl-C to quit)", cmd_monitor)
    p.add_argument(
        "--interval", type=number(0.1, 3600), default=2.0, help="seconds between refreshes (default 2)"
    )
    p.add_argument("--once", action="store_true", help="print the table once and exit")


# --- schedules ---------------------------------------------------------------------------------------


async def cmd_schedules_apply(args: argparse.Namespace) -> int:
    from yourmoment.schedules_apply import apply_schedules

    ctx = Context(args)
    outcomes = await apply_schedules(await require_client(ctx.settings), ctx.settings)
    emit(args, outcomes, ["id", "outcome"])
    return 0


async def cmd_schedules_list(args: argparse.Namespace) -> int:
    from yourmoment.schedules import list_schedules

    ctx = Context(args)
    rows = await list_schedules(await require_client(ctx.settings), ctx.settings)
    emit(args, rows, ["id", "every", "present", "paused", "next_run", "last_run", "actions"])
    if not args.json and any(not r.present for r in rows):
        print("some schedules are missing: run 'starter.py schedules apply' (workers do it at start)")
    return 0


# --- health ------------------------------------------------------------------------------------------


async def cmd_health(args: argparse.Namespace) -> int:
    from yourmoment.health import check_health

    ctx = Context(args)
    client, error = await try_connect(ctx.settings)
    report = await check_health(ctx.settings, client, temporal_error=error)
    if args.json:
        print_json(report)
    else:
        print_table([c.model_dump() for c in report.checks], ["name", "ok", "detail"])
        failed = report.failed()
        print(
            "healthy"
            if report.ok
            else f"UNHEALTHY: {len(failed)} check{'s' if len(failed) != 1 else ''} failed"
        )
    return 0 if report.ok else 1


# --- info --------------------------------------------------------------------------------------------


def task_queue_info(settings: Settings) -> list[dict[str, Any]]:
    """Static: which workflows and activities each task queue carries (the worker wiring's own tables)."""
    from activities.by_queue import ACTIVITY_CLASSES
    from workflows.by_queue import workflows_for_queue

    return [
        {
            "queue": queue,
            "name": settings.task_queue(queue),
            "workflows": [wf.__name__ for wf in workflows_for_queue(queue)],
            # An activity is named after its method (`@activity.defn` without a name).
            "activities": sorted(fn.__name__ for fn in ACTIVITY_CLASSES[queue].ACTIVITIES),
        }
        for queue in ALL_QUEUES
    ]


async def cmd_info(args: argparse.Namespace) -> int:
    from yourmoment.schedules import list_schedules, static_rows

    ctx = Context(args)
    client, error = await try_connect(ctx.settings)
    schedules = static_rows(ctx.settings)
    if client is not None:
        try:
            schedules = await list_schedules(client, ctx.settings)
        except Exception as exc:  # the static part is still worth printing
            error = f"schedules not listed: {exc}"
    temporal = {
        "address": client.service_client.config.target_host if client else None,
        "namespace": client.namespace if client else None,
        "reachable": client is not None,
        "error": error,
    }
    queues = task_queue_info(ctx.settings)
    if args.json:
        print_json({"temporal": temporal, "task_queues": queues, "schedules": schedules})
        return 0
    if client is not None:
        print(f"Temporal: {temporal['address']}, namespace {temporal['namespace']}")
    else:
        print(f"Temporal: {error}; showing the static part only")
    print("\nTask queues:")
    for q in queues:
        print(f"  {q['name']}")
        print(f"    workflows:  {', '.join(q['workflows']) or '-'}")
        print(f"    activities: {', '.join(q['activities']) or '-'}")
    print("\nSchedules (workflow MaintenanceWorkflow on the maintenance queue, overlap SKIP):")
    print_table([s.model_dump() for s in schedules], ["id", "every", "task", "present", "next_run"])
    return 0


# --- monitor -----------------------------------------------------------------------------------------


async def cmd_monitor(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise ConfigurationError("--interval must be positive")
    ctx = Context(args)
    client, error = await try_connect(ctx.settings)
    while True:
        statuses, no_worker = await running_statuses(ctx, client, error)
        if args.json:
            print_json(statuses)
        else:
            if not args.once:
                print(CLEAR_SCREEN, end="")
            print_monitor(statuses, error or no_worker, args.interval if not args.once else None)
        if args.once:
            return 0
        await asyncio.sleep(args.interval)


async def running_statuses(
    ctx: Context, client: Client | None, error: str | None
) -> tuple[list[ProcessStatusView], str | None]:
    """The running processes' status, and why they are shown from the database only (if they are)."""
    from yourmoment.cli.run_cmds import process_status
    from yourmoment.store import processes
    from yourmoment.temporal_checks import no_worker_warning

    with ctx.db() as session:
        ids = [
            p.id
            for p in processes.list_processes(session, ctx.user(session))
            if p.status in processes.ACTIVE_STATUSES
        ]
    # Without a worker nobody answers the status query: ask once, not once per process.
    no_worker = await no_worker_warning(client, ctx.settings) if client is not None and ids else None
    statuses = [
        await process_status(ctx, client, process_id, error, query=no_worker is None) for process_id in ids
    ]
    return statuses, no_worker


def print_monitor(statuses: list[ProcessStatusView], error: str | None, interval: float | None) -> None:
    now = datetime.now(UTC)
    refresh = f"; refresh every {interval:g} s, Ctrl-C to quit" if interval else ""
    print(f"yourMoment monitor {now:%Y-%m-%d %H:%M:%S} UTC: {len(statuses)} running{refresh}")
    if error:
        print(f"{error}: counts from the database only (details: 'starter.py health')")
    rows = [monitor_row(s, now) for s in statuses]
    columns = [
        "id",
        "name",
        "status",
        "posted",
        "generated",
        "failed",
        "in_flight",
        "next_discovery",
        "last_error",
    ]
    print_table(rows, columns, empty="no running process")


def monitor_row(status: ProcessStatusView, now: datetime) -> dict[str, Any]:
    nxt = status.next_discovery_at
    next_discovery: str | None
    if nxt is not None:
        seconds = max(0, int((nxt - now).total_seconds()))
        next_discovery = f"in {seconds} s" if seconds < 120 else f"in {seconds // 60} min"
    else:
        next_discovery = "paused" if status.paused else None
    c = status.totals
    return {
        "id": status.process_id[:8],
        "name": status.name,
        "status": status.status + (" (paused)" if status.paused else ""),
        "posted": c.posted,
        "generated": c.generated,
        "failed": c.failed,
        "in_flight": status.in_flight,
        "next_discovery": next_discovery,
        "last_error": _short(status.last_error, 60),
    }


def _short(text: str | None, limit: int) -> str | None:
    if not text:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
