"""Workflows call activities by their methods, with the configs of workflows/activity_config.py: each call's
config names the queue whose worker registers the activity (activities/by_queue.py), and the activities
keep the names that recorded histories and the schedules on the server carry."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from activities.by_queue import ACTIVITY_CLASSES
from activities.deps import ActivityGroup
from activities.maintenance import MaintenanceActivities
from workflows import activity_config
from workflows.by_queue import workflows_for_queue
from workflows.maintenance import TASKS
from yourmoment.messages import (
    ALL_QUEUES,
    QUEUE_MAINTENANCE,
    WORKFLOW_QUEUES,
    MaintenanceTask,
    queue_prefix_of,
    task_queue,
)

ROOT = Path(__file__).resolve().parent.parent
HISTORIES = ROOT / "tests" / "histories"
CALLS = ("execute_activity_method", "start_activity_method", "execute_activity", "start_activity")
QUEUE_OF = {cls: queue for queue, cls in ACTIVITY_CLASSES.items()}


@dataclass(frozen=True)
class Call:
    """One `workflow.execute_activity_method(Class.method, inp, **deployed(CONFIG))` in a workflow module."""

    where: str
    activity: Callable[..., Any]
    activity_class: type[ActivityGroup]
    config_name: str


def activity_calls() -> Iterator[Call]:
    """Every static call in the workflow modules; the maintenance workflow's table (TASKS) is checked apart."""
    for path in sorted((ROOT / "workflows").glob("*.py")):
        module = importlib.import_module(f"workflows.{path.stem}")
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and _called_name(node) in CALLS):
                continue
            where = f"{path.name}:{node.lineno}"
            target = node.args[0]
            if path.stem == "maintenance" and isinstance(target, ast.Name):
                continue
            assert isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name), (
                f"{where}: call an activity by its method (Class.method), never by a name"
            )
            cls = getattr(module, target.value.id)
            yield Call(where, getattr(cls, target.attr), cls, _config_name(node, where))


def _called_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "workflow":
        return func.attr
    return None


def _config_name(node: ast.Call, where: str) -> str:
    """The CONFIG of `**deployed(CONFIG)`: a call without it would go to a queue without the prefix."""
    for keyword in node.keywords:
        value = keyword.value
        if (
            keyword.arg is None
            and isinstance(value, ast.Call)
            and ast.unparse(value.func) == "deployed"
            and len(value.args) == 1
            and isinstance(value.args[0], ast.Name)
        ):
            return value.args[0].id
    raise AssertionError(
        f"{where}: the options come as **deployed(<a config of workflows/activity_config.py>)"
    )


def registered_names() -> dict[str, set[str]]:
    """The activities each queue's worker registers, by name (`@activity.defn` names one after its method)."""
    return {queue: {fn.__name__ for fn in cls.ACTIVITIES} for queue, cls in ACTIVITY_CLASSES.items()}


def test_every_call_names_the_queue_that_registers_its_activity() -> None:
    calls = list(activity_calls())
    assert calls
    for call in calls:
        assert call.activity in call.activity_class.ACTIVITIES, f"{call.where}: not registered"
        config = getattr(activity_config, call.config_name)
        assert config["task_queue"] == QUEUE_OF[call.activity_class], f"{call.where}: {call.config_name}"


def test_every_maintenance_task_is_its_activity_on_the_maintenance_queue() -> None:
    # The schedules on the server carry the task names: they stay those of MaintenanceTask.
    assert set(TASKS) == set(typing.get_args(MaintenanceTask))
    for name, (task, config) in TASKS.items():
        assert task in MaintenanceActivities.ACTIVITIES and task.__name__ == name
        assert config["task_queue"] == QUEUE_MAINTENANCE == QUEUE_OF[MaintenanceActivities]


def test_every_registered_activity_is_called_by_a_workflow() -> None:
    called = {call.activity for call in activity_calls()} | {task for task, _ in TASKS.values()}
    registered = {fn for cls in ACTIVITY_CLASSES.values() for fn in cls.ACTIVITIES}
    assert registered == called


@pytest.mark.parametrize("cls", ACTIVITY_CLASSES.values(), ids=lambda c: c.__name__)
def test_a_class_registers_each_of_its_activities(cls: type[ActivityGroup]) -> None:
    """Its public coroutine methods are its activities: none is left out of ACTIVITIES."""
    public = {
        fn for name, fn in vars(cls).items() if not name.startswith("_") and inspect.iscoroutinefunction(fn)
    }
    assert set(cls.ACTIVITIES) == public


def test_each_queue_has_its_activity_class_and_the_workflow_queues_their_workflows() -> None:
    assert list(ACTIVITY_CLASSES) == list(ALL_QUEUES)
    assert [queue for queue in ALL_QUEUES if workflows_for_queue(queue)] == list(WORKFLOW_QUEUES)
    names = [name for queue_names in registered_names().values() for name in queue_names]
    assert len(names) == len(set(names)), "an activity name on two queues"


def test_activities_are_named_after_their_methods() -> None:
    """`@activity.defn` without name=: the method's name is the activity's, in one place."""
    for path in sorted((ROOT / "activities").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "activity.defn":
                raise AssertionError(f"{path.name}:{node.lineno}: @activity.defn with arguments")


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
def test_recorded_activities_are_registered_on_their_queue_under_their_name(path: Path) -> None:
    """Both releases' runs replay and go on running: each activity they scheduled is still there."""
    registered = registered_names()
    for event in json.loads(path.read_text())["events"]:
        scheduled = event.get("activityTaskScheduledEventAttributes")
        if scheduled:
            name, queue_name = scheduled["activityType"]["name"], scheduled["taskQueue"]["name"]
            queue = queue_name[len(queue_prefix_of(queue_name)) :]
            assert name in registered[queue], f"{name} on {queue}"


def test_the_queue_prefix_is_read_back_from_every_queue_name() -> None:
    for prefix in ("yourmoment-", "t1234-", ""):
        for queue in ALL_QUEUES:
            assert queue_prefix_of(task_queue(prefix, queue)) == prefix
