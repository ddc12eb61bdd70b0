"""Real processes for end-to-end tests: the worker and starter.py as users run them."""

from __future__ import annotations

import os
import subprocess
import sys

from yourmoment.devserver import REPO, WorkerProcess

__all__ = ["REPO", "WorkerProcess", "base_env", "run_starter"]


def run_starter(env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 120) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, str(REPO / "starter.py"), *args],
        cwd=REPO, env=env, input=stdin, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr


def base_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOURMOMENT_", "TEMPORAL_", "DATABASE_URL"))}
    env.update(values)
    return env
