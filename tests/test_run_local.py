"""`make run` (python -m yourmoment_dev.run_local): SIGTERM ends it as cleanly as Ctrl-C, and the worker's
concurrency can be set.

Real processes: run_local starts the Temporal dev server and `worker.py`; the test signals run_local only
and then checks that none of its children outlived it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import migrated_sqlite
from yourmoment.crypto import generate_key
from yourmoment_dev.harness import REPO, free_port, hermetic_env, port_free

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    """Every descendant of `pid`, read from /proc (children of children included)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        for child in map(int, text.split()):
            found += [child, *_children(child)]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_text().rstrip("\0").split("\0")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_stops_the_dev_server_and_the_worker(
    tmp_path: Path, signum: signal.Signals
) -> None:
    db_url = migrated_sqlite(tmp_path / "run.db")
    port, ui_port = free_port(), free_port()
    config = tmp_path / "temporal.toml"
    config.write_text("")
    env = hermetic_env(
        DATABASE_URL=db_url,
        YOURMOMENT_ENCRYPTION_KEY=generate_key(),
        MYMOMENT_BASE_URL="http://127.0.0.1:9",
        TEMPORAL_ADDRESS=f"127.0.0.1:{port}",
        TEMPORAL_CONFIG_FILE=str(config),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "yourmoment_dev.run_local",
            "--dir",
            str(tmp_path / "run"),
            "--ui-port",
            str(ui_port),
            "--worker-concurrency",
            "3",
        ],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if "worker ready" in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert ready.wait(90), "run_local did not get ready:\n" + "".join(output[-40:])
        children = _children(proc.pid)
        workers = [pid for pid in children if any(part.endswith("worker.py") for part in _cmdline(pid))]
        assert len(workers) == 1, children
        assert _cmdline(workers[0])[-2:] == ["--concurrency", "3"]
        assert not port_free(port)
        proc.send_signal(signum)
        assert proc.wait(60) == 0, "".join(output[-40:])
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for pid in children if _alive(pid)] == []
    assert port_free(port)
    assert "stopping" in "".join(output)


def test_worker_concurrency_below_one_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "yourmoment_dev.run_local", "--worker-concurrency", "0"],
        cwd=REPO,
        env=hermetic_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("--worker-concurrency must be at least 1")
