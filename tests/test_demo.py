"""`starter.py demo --exit-when-done`: the whole system comes up, comments every demo article once, twice in a row."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.processes import REPO, base_env
from yourmoment.devserver import free_port

pytestmark = pytest.mark.slow


def test_demo_runs_to_completion_twice(tmp_path) -> None:
    for run in (1, 2):  # a second run works too
        proc = subprocess.run(
            [sys.executable, str(REPO / "starter.py"), "demo", "--exit-when-done", "--dir", str(tmp_path / "demo"),
             "--port", str(free_port()), "--ui-port", str(free_port()), "--timeout", "180"],
            cwd=tmp_path, env=base_env(), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, f"run {run}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        assert "done: all 8 demo comments posted exactly once" in proc.stdout
        assert "Temporal Web UI" in proc.stdout and "payloads decoded by" in proc.stdout
    assert (tmp_path / "demo" / "encryption.key").read_text().strip()  # the demo writes its key explicitly
