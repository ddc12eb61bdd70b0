"""The worker process: serves the selected task queues until SIGTERM or Ctrl-C, then drains."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import signal
import socket
import sys
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import OperationalError
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import PollerBehaviorAutoscaling, Worker

from yourmoment.cli.common import ArgumentParser, non_utf8_argument
from yourmoment.errors import ConfigurationError, YourMomentError
from yourmoment.messages import ALL_QUEUES, QUEUE_MAINTENANCE
from yourmoment.ratelimit import ping_redis
from yourmoment.sandbox_code import share_workflow_code
from yourmoment.serving import LoopServer, bind
from yourmoment.settings import Settings, get_settings
from yourmoment.temporal_client import exit_process

if TYPE_CHECKING:
    from activities.deps import Dependencies

log = logging.getLogger("yourmoment.worker")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(prog="worker.py", description="Run a yourMoment Temporal worker.")
    parser.add_argument(
        "--task-queues",
        default=",".join(ALL_QUEUES),
        help=f"comma-separated, from {', '.join(ALL_QUEUES)} (default: all)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=20, help="max concurrent activities per task queue"
    )
    parser.add_argument(
        "--address",
        help="Temporal address (default: TEMPORAL_ADDRESS from the environment or .env, the config profile, localhost:7233)",
    )
    parser.add_argument(
        "--namespace", help="Temporal namespace (default: TEMPORAL_NAMESPACE likewise, or default)"
    )
    parser.add_argument("--no-schedules", action="store_true", help="do not create or update the schedules")
    args = parser.parse_args(argv)
    # Each queue once, in the order given: a queue named twice would start two pollers for it.
    queues = list(dict.fromkeys(q.strip() for q in args.task_queues.split(",") if q.strip()))
    unknown = [q for q in queues if q not in ALL_QUEUES]
    if unknown or not queues:
        parser.error(
            f"unknown task queue(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(ALL_QUEUES)}"
        )
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    args.queues = queues
    return args


def build_workers(
    client: Client, settings: Settings, queues: list[str], concurrency: int, deps: Dependencies
) -> list[Worker]:
    share_workflow_code()  # before anything imports a workflow module, so each compiles only once
    from activities.by_queue import ACTIVITY_CLASSES
    from workflows.by_queue import workflows_for_queue

    workers = []
    for queue in queues:
        workflows = workflows_for_queue(queue)
        # `client`: the maintenance activities ask the server about workflows.
        acts = ACTIVITY_CLASSES[queue](deps, client).activities()
        if not workflows and not acts:
            continue
        workers.append(
            Worker(
                client,
                task_queue=settings.task_queue(queue),
                workflows=workflows,
                activities=acts,
                max_concurrent_activities=concurrency,
                max_cached_workflows=settings.worker_max_cached_workflows,
                # The SDK's default, 5 pollers (one of them for new runs), fetched too few tasks while
                # 1,000 processes started: tasks waited 1-5 s for a poll with the worker half idle.
                # Autoscaling (the server's hints) measured 55-140 ms (bench/README.md, "Start-up of 1,000 processes").
                workflow_task_poller_behavior=PollerBehaviorAutoscaling(),
                graceful_shutdown_timeout=timedelta(seconds=30),
            )
        )
    return workers


def metrics_runtime(settings: Settings) -> Runtime | None:
    """With METRICS_PORT set, one Prometheus endpoint serves the SDK's metrics and ours (/metrics).

    It binds METRICS_HOST (127.0.0.1 unless the operator opens it): the endpoint has no authentication.
    """
    if not settings.metrics_port:
        return None
    host = settings.metrics_host.strip("[]")
    address = f"[{host}]:{settings.metrics_port}" if ":" in host else f"{host}:{settings.metrics_port}"
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    except ValueError as exc:  # the SDK's "Failed starting Prometheus exporter: Address already in use"
        reason = "the port is in use" if "in use" in str(exc) else f"cannot serve metrics there ({exc})"
        raise ConfigurationError(
            f"METRICS_PORT={settings.metrics_port}: {reason}; choose a free port or unset METRICS_PORT"
        ) from None


def health_socket(settings: Settings) -> socket.socket | None:
    """With HEALTH_PORT set, the socket of /health and /ready (yourmoment/health_http.py), bound at once
    so a taken port stops the worker before it connects. HEALTH_HOST is 127.0.0.1 unless the operator
    opens it, as for the metrics: the answers name hosts and failing services."""
    if not settings.health_port:
        return None
    try:
        return bind(settings.health_host.strip("[]"), settings.health_port)
    except OSError as exc:
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else f"cannot serve there ({exc})"
        raise ConfigurationError(
            f"HEALTH_PORT={settings.health_port}: {reason}; choose a free port or unset HEALTH_PORT"
        ) from None


async def serve_health(
    sock: socket.socket,
    client: Client,
    settings: Settings,
    queues: list[str],
    tasks: list[asyncio.Task[None]],
) -> LoopServer:
    from yourmoment.health_http import health_app

    app = health_app(client, settings, queues, lambda: not any(task.done() for task in tasks))
    server = await LoopServer(app, sock).start()
    log.info("health endpoint: http://%s:%d/health and /ready", settings.health_host, server.port)
    return server


async def apply_schedules_logged(client: Client, settings: Settings) -> None:
    """At worker start: create or update the schedules; a failure is logged and the worker goes on."""
    from yourmoment.schedules_apply import apply_schedules

    try:
        outcomes = await apply_schedules(client, settings)
    except Exception as exc:
        log.warning("schedules not applied (run 'starter.py schedules apply'): %s", exc)
        return
    log.info("schedules applied: %s", ", ".join(f"{o.id} {o.outcome}" for o in outcomes))


async def warn_unreachable(settings: Settings) -> None:
    """The site and the LLMs of running processes may be down for a while: the worker starts anyway
    (activities retry), but says on one line each what it cannot reach."""
    from yourmoment.health import service_checks

    for check in await service_checks(settings, database_ok=True):
        if not check.ok:
            log.warning("%s; work that needs it waits until it answers", check.detail)


async def serve(args: argparse.Namespace) -> None:
    from activities.deps import Dependencies
    from yourmoment.logs import configure_logging
    from yourmoment.store.db import require_migrated
    from yourmoment.temporal_checks import ensure_search_attributes
    from yourmoment.temporal_client import connect, temporal_connect_config

    started = time.monotonic()
    settings = get_settings()
    configure_logging(settings)
    runtime = metrics_runtime(settings)
    health = health_socket(settings)
    deps = Dependencies.from_settings(settings, runtime.metric_meter if runtime else None)  # checks the key
    settings.require_contact()  # no anonymous requests to the real myMoment site
    temporal_connect_config(target_host=args.address, namespace=args.namespace)  # refuse a bad address first
    require_migrated(settings.database_url)  # names PostgreSQL's host and port when it cannot connect
    if settings.redis_url:
        # Every myMoment request is paced through Redis: without it nothing would work, so refuse to start.
        log.info("redis: %s", await ping_redis(settings.redis_url))
    client = await connect(settings, target_host=args.address, namespace=args.namespace, runtime=runtime)
    if settings.temporal_search_attributes:
        # Without them every process's first workflow task would fail forever: refuse instead.
        log.info("search attributes: %s", await ensure_search_attributes(client, register=True))
    await warn_unreachable(settings)
    workers = build_workers(client, settings, args.queues, args.concurrency, deps)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    health_server = await serve_health(health, client, settings, args.queues, tasks) if health else None
    # In the background, so a slow server never delays polling; kept referenced until the end.
    schedules_task = None
    if QUEUE_MAINTENANCE in args.queues and not args.no_schedules:
        schedules_task = asyncio.create_task(apply_schedules_logged(client, settings))
    log.info(
        "worker ready queues=%s concurrency=%d startup_s=%.2f",
        ",".join(args.queues),
        args.concurrency,
        time.monotonic() - started,
    )
    with contextlib.suppress(OSError):  # a full or closed stdout is no reason to stop serving (logs: stderr)
        print(
            f"worker ready: queues {','.join(args.queues)} (started in {time.monotonic() - started:.2f} s)",
            flush=True,
        )
    await asyncio.wait([*tasks, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    log.info("worker shutting down: running activities finish or are handed back")
    if health_server is not None:
        await health_server.stop()
    if schedules_task is not None and not schedules_task.done():
        schedules_task.cancel()
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    await deps.close()
    for task in tasks:
        if task.done() and (error := task.exception()) is not None:
            raise error


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    problem = non_utf8_argument(argv)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        exit_process(2)
    args = parse_args(argv)
    try:
        asyncio.run(serve(args))
    except YourMomentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        exit_process(2)
    except OperationalError as exc:  # SQLite's (PostgreSQL's name host and port, see store/db.py)
        print(f"error: database unavailable: {exc.orig}", file=sys.stderr)
        exit_process(2)
    except KeyboardInterrupt:
        exit_process(130)
    except Exception:
        from yourmoment.logs import format_exception_safely

        # Where it happened, not its message: a database or library error can quote values.
        print(format_exception_safely(sys.exc_info()), file=sys.stderr)
        exit_process(1)
    exit_process(0)


if __name__ == "__main__":
    main()
