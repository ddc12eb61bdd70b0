"""Workflow modules compile once per worker: every sandboxed run reuses their code objects.

The SDK's workflow sandbox executes a workflow's module afresh for each run it keeps in its cache, so
each run's module sees the sandbox's restricted `datetime`, `random`, `os`… (that re-execution is
what makes a call like `datetime.now()` in a workflow fail its task). By default each re-execution
also reads the module's bytecode from disk and unmarshals new code objects: about 40 KB per cached
run of `MonitoringProcessWorkflow`, 40 MB for 1,000 idle processes on one worker. Code objects are
immutable and hold no globals, so one copy serves every run; the module body still runs per run,
and the sandbox's restrictions apply as before.

A second effect, wanted: a worker runs the workflow code it started with, even if the files change on
disk while it runs (the SDK would otherwise pick up the new file at the next run it loads,
temporalio/sdk-python#607). Deploying new workflow code means restarting the worker, as docs/deployment.md's
"Upgrading workflow code" says.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType

WORKFLOW_PACKAGES = ("workflows",)
_CODE_BY_PATH: dict[str, CodeType] = {}  # one compiled module per source file, for the process's life


class SharedCodeLoader(importlib.machinery.SourceFileLoader):
    """A source loader whose compiled code is read once per file and shared by every later import."""

    def get_code(self, fullname: str) -> CodeType:
        code = _CODE_BY_PATH.get(self.path)
        if code is None:
            code = super().get_code(fullname)
            if code is None:  # a source file always compiles or raises; this keeps the type honest
                raise ImportError(f"no code for {fullname}", name=fullname)
            _CODE_BY_PATH[self.path] = code
        return code


class SharedCodeFinder(importlib.abc.MetaPathFinder):
    """Finds the named packages' modules as the path finder does, and loads them with SharedCodeLoader."""

    def __init__(self, packages: Sequence[str]) -> None:
        self.packages = tuple(packages)

    def covers(self, fullname: str) -> bool:
        return any(fullname == p or fullname.startswith(p + ".") for p in self.packages)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not self.covers(fullname):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = SharedCodeLoader(spec.loader.name, spec.loader.path)
        return spec


def share_workflow_code(packages: Sequence[str] = WORKFLOW_PACKAGES) -> None:
    """Installs the finder once per process (first in `sys.meta_path`, so the sandbox's imports use it)."""
    if not any(isinstance(f, SharedCodeFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, SharedCodeFinder(packages))
