"""`starter.py demo --exit-when-done`: the whole system comes up, comments every demo article once, twice in a row."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from yourmoment_dev.harness import REPO, free_port, hermetic_env

pytestmark = pytest.mark.slow(seconds=45)  # each starts the whole demo


def demo_command(tmp_path: Path, *options: str) -> list[str]:
    """`starter.py demo` in `tmp_path/demo` on free ports, given three minutes to finish; `options` first."""
    return [
        sys.executable,
        str(REPO / "starter.py"),
        "demo",
        *options,
        "--dir",
        str(tmp_path / "demo"),
        "--port",
        str(free_port()),
        "--ui-port",
        str(free_port()),
        "--timeout",
        "180",
    ]


def test_demo_runs_to_completion_twice(tmp_path: Path) -> None:
    for run in (1, 2):  # a second run works too
        proc = subprocess.run(
            demo_command(tmp_path, "--exit-when-done"),
            cwd=tmp_path,
            env=hermetic_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, f"run {run}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        assert "done: all 8 demo comments posted exactly once" in proc.stdout
        assert "Temporal Web UI" in proc.stdout and "payloads decoded by" in proc.stdout
    assert (tmp_path / "demo" / "encryption.key").read_text().strip()  # the demo writes its key explicitly


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    """The demo's output lines up to the one containing `marker` (read in a thread: no hang on silence)."""
    lines: list[str] = []
    found = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if marker in line:
                found.set()

    threading.Thread(target=pump, daemon=True).start()
    found.wait(timeout)
    assert found.is_set(), "\n".join(lines[-40:])
    return lines


def test_try_next_lines_work_when_pasted_as_printed(tmp_path: Path) -> None:
    """Each printed line runs in a plain shell (no venv on PATH, another directory) after the first one."""
    proc = subprocess.Popen(
        demo_command(tmp_path),
        cwd=tmp_path,
        env=hermetic_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output = _read_until(proc, "Ctrl-C ends it", 300)
        block = output[next(i for i, line in enumerate(output) if line.startswith("Try next")) + 1 :]
        commands = [line.strip() for line in block if line.startswith("  ")]
        assert len(commands) >= 6, output
        setup, *rest = commands
        shell_env = {**hermetic_env(), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        results = {}
        for command in rest:
            done = subprocess.run(
                ["bash", "-c", f"{setup}\n{command}"],
                cwd="/",
                env=shell_env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
            results[command] = done.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def out_of(start: str) -> str:
        return next(out for command, out in results.items() if command.startswith(start))

    status = out_of("python starter.py status")
    assert "Demo Klasse A" in status and "posted 8" in status
    full = out_of("python starter.py comments")
    assert "[Dieser Kommentar stammt von einem KI-ChatBot.]" in full and "demo-pupil-2" in full
    assert "Demo Klasse A" in out_of("python starter.py monitor")
    listed = out_of("temporal workflow list")  # the article workflows carry the process id too
    assert listed.count("ArticleCommentWorkflow") == 8 and "MonitoringProcessWorkflow" in listed
    assert '"name":"Demo Klasse A"' in out_of("temporal workflow query")  # decoded by the codec server
    assert "stopped" in out_of("python starter.py stop")
    assert proc.returncode == 0
