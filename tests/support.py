"""Test-only helpers; everything else (servers, workers, polling, the harness) is in yourmoment.harness."""

from __future__ import annotations

import subprocess
import sys

from yourmoment.harness import REPO


def run_starter(
    env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 120
) -> tuple[int, str, str]:
    """`python starter.py ARGS` as a user runs it, in its own process with `env`."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "starter.py"), *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout, proc.stderr
