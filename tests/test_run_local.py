"""`make run` (python -m yourmoment_dev.run_local): SIGTERM ends it as cleanly as Ctrl-C, the worker's
concurrency can be set, and a child that dies is named and restarted (3 times at most).

Real processes: run_local starts the Temporal dev server and `worker.py`; the test signals run_local only
and then checks that none of its children outlived it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
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


class RunLocal:
    """`python -m yourmoment_dev.run_local` on a fresh SQLite file and free ports; its output (stdout and
    stderr) is collected line by line in `output`."""

    def __init__(self, tmp_path: Path, *args: str, **values: str) -> None:
        db_url = migrated_sqlite(tmp_path / "run.db")
        self.port, ui_port = free_port(), free_port()
        config = tmp_path / "temporal.toml"
        config.write_text("")
        env = hermetic_env(
            DATABASE_URL=db_url,
            YOURMOMENT_ENCRYPTION_KEY=generate_key(),
            MYMOMENT_BASE_URL="http://127.0.0.1:9",
            TEMPORAL_ADDRESS=f"127.0.0.1:{self.port}",
            TEMPORAL_CONFIG_FILE=str(config),
            **values,
        )
        command = [sys.executable, "-m", "yourmoment_dev.run_local", "--dir", str(tmp_path / "run")]
        self.proc = subprocess.Popen(
            [*command, "--ui-port", str(ui_port), *args],
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self.readies = 0
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            if "worker ready" in line:
                self.readies += 1

    def tail(self) -> str:
        return "".join(self.output[-40:])

    def wait_for(self, what: str, check: Callable[[], object], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert self.proc.poll() is None or what == "exit", f"run_local exited waiting for {what}"
            assert time.monotonic() < deadline, f"no {what}:\n{self.tail()}"
            time.sleep(0.2)

    def child(self, marker: str) -> int | None:
        """The pid of the living child whose command line has `marker` (worker.py, start-dev, codec-server)."""
        found = [
            pid
            for pid in _children(self.proc.pid)
            if _alive(pid) and any(part.endswith(marker) for part in _cmdline(pid))
        ]
        assert len(found) <= 1, found
        return found[0] if found else None

    def stop(self) -> list[int]:
        """Kills run_local if it still runs; returns the children it had."""
        children = _children(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.kill()
        return children


def _all_gone(pids: list[int]) -> list[int]:
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [pid for pid in pids if _alive(pid)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_stops_the_dev_server_and_the_worker(
    tmp_path: Path, signum: signal.Signals
) -> None:
    run = RunLocal(tmp_path, "--worker-concurrency", "3")
    try:
        run.wait_for("worker ready", lambda: run.readies)
        children = _children(run.proc.pid)
        worker = run.child("worker.py")
        assert worker is not None, children
        assert _cmdline(worker)[-2:] == ["--concurrency", "3"]
        assert not port_free(run.port)
        run.proc.send_signal(signum)
        assert run.proc.wait(60) == 0, run.tail()
    finally:
        run.stop()
    assert _all_gone(children) == []
    assert port_free(run.port)
    assert "stopping" in "".join(run.output)


def _kill_and_see_it_restarted(run: RunLocal, marker: str, name: str, nth: int) -> None:
    pid = run.child(marker)
    assert pid is not None, run.tail()
    os.kill(pid, signal.SIGKILL)
    said = f"run_local: the {name} (pid {pid}) exited with code -9 (SIGKILL); restarting it ({nth} of 3)"
    run.wait_for(f"the restart of the {name}", lambda: any(said in line for line in run.output))
    run.wait_for(f"a new {name}", lambda: run.child(marker) not in (None, pid))


def test_a_dead_child_is_named_and_restarted_three_times_then_the_run_ends_with_one_line(
    tmp_path: Path,
) -> None:
    """Real children killed with SIGKILL: each is named with its exit code and restarted; the worker's
    fourth death ends the run (exit 1, one `error:` line) and takes the dev server and codec server along."""
    codec_port = free_port()
    run = RunLocal(tmp_path, "--codec-port", str(codec_port), YOURMOMENT_PAYLOAD_KEY=generate_key())
    try:
        run.wait_for("worker ready", lambda: run.readies)
        _kill_and_see_it_restarted(run, "start-dev", "Temporal dev server", 1)
        run.wait_for("the dev server's port", lambda: not port_free(run.port))
        _kill_and_see_it_restarted(run, "codec-server", "codec server", 1)
        run.wait_for("the codec server's port", lambda: not port_free(codec_port))
        for nth in (1, 2, 3):
            _kill_and_see_it_restarted(run, "worker.py", "worker", nth)
        run.wait_for("the restarted worker ready", lambda: run.readies >= 2)
        children = _children(run.proc.pid)
        last = run.child("worker.py")
        assert last is not None
        os.kill(last, signal.SIGKILL)
        assert run.proc.wait(60) == 1, run.tail()
    finally:
        children = run.stop()
    assert _all_gone(children) == []
    assert port_free(run.port) and port_free(codec_port)
    errors = [line for line in run.output if line.startswith("error:")]
    assert errors == [
        f"error: the worker (pid {last}) exited with code -9 (SIGKILL) after 3 restarts; "
        "stopping the codec server and the Temporal dev server\n"
    ], run.tail()
    assert run.output[-1] == errors[0]


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
