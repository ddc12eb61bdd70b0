"""The worker's health over HTTP (HEALTH_PORT): `/health` for monitoring, `/ready` for an orchestrator.

- `GET /health`: the report of `starter.py health` as JSON (yourmoment.health.HealthReport); 200 when
  every check passes, 503 otherwise.
- `GET /ready`: this worker polls each of its task queues (the server lists its identity among the
  queue's pollers) and none of its pollers has ended; 200 or 503, with one line per queue.

Both answer ids, counts and readable reasons only (the same texts `health` prints), never a secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client

from yourmoment.health import CHECK_TIMEOUT, check_health, expected_pollers
from yourmoment.settings import Settings
from yourmoment.temporal_checks import poller_identities


class QueueReadiness(BaseModel):
    queue: str  # the task queue's server name
    ok: bool
    detail: str


class Readiness(BaseModel):
    ok: bool
    queues: list[QueueReadiness]


async def readiness(
    client: Client, settings: Settings, queues: list[str], polling: Callable[[], bool]
) -> Readiness:
    """Whether this worker (`client.identity`, the workers' default identity) polls each of `queues`."""
    rows = []
    for queue in queues:
        name = settings.task_queue(queue)
        wants_workflows, wants_activities = expected_pollers(queue)
        kinds = [
            (kind, tq_type)
            for kind, wanted, tq_type in (
                ("workflow", wants_workflows, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
                ("activity", wants_activities, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
            )
            if wanted
        ]
        try:
            missing = [
                kind
                for kind, tq_type in kinds
                if client.identity
                not in await asyncio.wait_for(poller_identities(client, name, tq_type), CHECK_TIMEOUT)
            ]
        except Exception as exc:  # Temporal unreachable or slow: not ready, and why
            rows.append(QueueReadiness(queue=name, ok=False, detail=f"cannot ask Temporal: {exc}"[:300]))
            continue
        if missing:
            detail = f"not polling yet ({' and '.join(missing)} tasks)"
        else:
            detail = f"polling {' and '.join(kind for kind, _ in kinds)} tasks"
        rows.append(QueueReadiness(queue=name, ok=not missing, detail=detail))
    if not polling():
        rows.append(QueueReadiness(queue="*", ok=False, detail="a poller of this worker has ended"))
    return Readiness(ok=all(row.ok for row in rows), queues=rows)


def health_app(
    client: Client, settings: Settings, queues: list[str], polling: Callable[[], bool]
) -> Starlette:
    """`polling()`: False once one of the worker's pollers has ended (the worker is going down)."""

    async def health(_request: Request) -> Response:
        report = await check_health(settings, client)
        return JSONResponse(report.model_dump(mode="json"), status_code=200 if report.ok else 503)

    async def ready(_request: Request) -> Response:
        answer = await readiness(client, settings, queues, polling)
        return JSONResponse(answer.model_dump(mode="json"), status_code=200 if answer.ok else 503)

    return Starlette(routes=[Route("/health", health), Route("/ready", ready)])
