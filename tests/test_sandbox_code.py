"""Workflow modules in the sandbox: re-run per workflow run (restrictions apply), compiled once per worker.

Each test loads the workflow modules the way the SDK's sandboxed runner does for every run (its own
Importer and `__import__`), twice, and compares the two loads.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.worker.workflow_sandbox._importer import Importer
from temporalio.worker.workflow_sandbox._restrictions import RestrictionContext, SandboxRestrictions

from workflows.by_queue import workflows_for_queue
from workflows.monitoring import MonitoringProcessWorkflow
from yourmoment.messages import QUEUE_MAINTENANCE, QUEUE_MONITORING
from yourmoment.sandbox_code import SharedCodeFinder, share_workflow_code

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_CLASSES = workflows_for_queue(QUEUE_MONITORING) + workflows_for_queue(QUEUE_MAINTENANCE)


def load_in_sandbox(cls: type) -> tuple[type, dict[str, Any]]:
    """One run's load of the class's module, as SandboxedWorkflowRunner does it; returns the class and
    the modules that load holds."""
    importer = Importer(
        SandboxRestrictions.default, RestrictionContext(), workflow_module_name=cls.__module__
    )
    scope: dict[str, Any] = {"__file__": "workflow_sandbox.py", "importer": importer}
    code = f"with importer.applied():\n  from {cls.__module__} import {cls.__name__} as loaded\n"
    exec(code, scope, scope)
    return scope["loaded"], dict(importer.new_modules)


@pytest.mark.parametrize("cls", WORKFLOW_CLASSES, ids=lambda c: c.__name__)
def test_each_run_executes_the_module_again_with_the_code_compiled_once(cls: type) -> None:
    share_workflow_code()
    first, _ = load_in_sandbox(cls)
    second, _ = load_in_sandbox(cls)
    assert first is not second and first is not cls  # the module body ran again, inside the sandbox
    assert first.run.__code__ is second.run.__code__  # type: ignore[attr-defined]  # any workflow class has run


def test_a_run_of_the_monitoring_workflow_sees_the_restricted_datetime() -> None:
    share_workflow_code()
    _, modules = load_in_sandbox(MonitoringProcessWorkflow)
    sandboxed = modules[MonitoringProcessWorkflow.__module__]
    assert sandboxed.datetime is not datetime.datetime  # the sandbox's proxy: datetime.now() fails the task


@pytest.mark.parametrize("cls", WORKFLOW_CLASSES, ids=lambda c: c.__name__)
def test_the_activities_their_configs_and_messages_are_passed_through_not_loaded_per_run(cls: type) -> None:
    _, modules = load_in_sandbox(cls)
    activity_modules = [name for name in modules if name.startswith("activities.")]
    assert activity_modules  # the workflow calls activities by their classes' methods
    for shared in ("workflows.activity_config", "yourmoment.messages", *activity_modules):
        assert modules[shared] is sys.modules[shared], shared
    loaded_per_run = {name for name, m in modules.items() if sys.modules.get(name) is not m}
    # The workflow's own module and package, and the sandbox's restricted stand-ins for the standard library.
    assert cls.__module__ in loaded_per_run
    assert loaded_per_run <= {"__main__", "asyncio", "datetime", "workflows", cls.__module__}


def test_the_finder_is_installed_once_and_covers_only_the_workflow_packages() -> None:
    share_workflow_code()
    share_workflow_code()
    finders = [f for f in sys.meta_path if isinstance(f, SharedCodeFinder)]
    assert len(finders) == 1 and sys.meta_path[0] is finders[0]
    assert finders[0].covers("workflows") and finders[0].covers("workflows.monitoring")
    assert not finders[0].covers("workflows_extra") and not finders[0].covers("yourmoment.messages")


def test_the_worker_installs_the_finder_before_it_loads_a_workflow_module() -> None:
    probe = (
        "import sys; from workflows.by_queue import workflows_for_queue; from yourmoment.messages "
        "import QUEUE_MONITORING; from yourmoment.sandbox_code import SharedCodeFinder; "
        "workflows_for_queue(QUEUE_MONITORING); "
        "print(isinstance(sys.meta_path[0], SharedCodeFinder), type(sys.modules['workflows.monitoring'].__loader__).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "SharedCodeLoader"]
