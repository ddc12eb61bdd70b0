"""Which activity runs on which task queue: read off the workflows' activity stubs, so the two agree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio.client import Client

from activities.comments import CommentActivities
from activities.deps import Dependencies
from activities.maintenance import MaintenanceActivities
from activities.mymoment import MyMomentActivities
from activities.process import ProcessActivities
from workflows.activity_stubs import ALL_STUBS


def activities_by_queue(
    deps: Dependencies, client: Client | None = None
) -> dict[str, list[Callable[..., Any]]]:
    """`client` is the worker's Temporal client: maintenance activities ask the server about workflows."""
    instances = [
        ProcessActivities(deps),
        MyMomentActivities(deps),
        CommentActivities(deps),
        MaintenanceActivities(deps, client),
    ]
    by_queue: dict[str, list[Callable[..., Any]]] = {}
    for instance in instances:
        for attr in dir(instance):
            fn = getattr(instance, attr)
            defn = getattr(fn, "__temporal_activity_definition", None)
            if defn is None:
                continue
            queue = ALL_STUBS[defn.name].queue
            by_queue.setdefault(queue, []).append(fn)
    return by_queue
