"""Real processes for end-to-end tests: the worker and starter.py as users run them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class WorkerProcess:
    """`python worker.py` in its own process; started() waits for its 'worker ready' line."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.env = env
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 30.0) -> float:
        """Starts the worker and returns the seconds until it polls."""
        began = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "worker.py"), *self.args],
            cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
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
