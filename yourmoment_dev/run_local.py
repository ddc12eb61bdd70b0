"""`make run`: a persistent Temporal dev server (with Web UI) and one worker, using your own settings.

It supervises them (and the codec server, with YOURMOMENT_PAYLOAD_KEY): a child that exits is named
with its exit code and started again, at most 3 times each; then the rest are stopped and the run
ends with one `error:` line and exit code 1."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from yourmoment.errors import ConfigurationError
from yourmoment.settings import get_settings
from yourmoment_dev.harness import REPO, DevServer, codec_server_command, stop_process, wait_for_port

# Each child is restarted at most this many times per run; once more and run_local gives up.
MAX_RESTARTS = 3
RESTART_PAUSE_S = 1.0
POLL_S = 0.5


class GiveUp(Exception):
    """A child died once too often or could not be started again: the run ends with this one line."""


@dataclass
class Child:
    """One supervised process: its name as the messages say it, how to (re)start it, its restarts."""

    name: str
    launch: Callable[[], subprocess.Popen[Any]]
    proc: subprocess.Popen[Any] | None = None
    restarts: int = 0

    def start(self) -> None:
        self.proc = self.launch()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m yourmoment_dev.run_local", description=__doc__)
    parser.add_argument("--dir", default=".run", help="where the dev server keeps its database and logs")
    parser.add_argument("--port", type=int, help="the dev server's port (default: the configured address's)")
    parser.add_argument("--ui-port", type=int, default=8233)
    parser.add_argument("--codec-port", type=int, default=8081)
    parser.add_argument(
        "--worker-concurrency",
        type=int,
        default=None,
        metavar="N",
        help="max concurrent activities per task queue of the worker (worker.py --concurrency)",
    )
    args = parser.parse_args(argv)
    if args.worker_concurrency is not None and args.worker_concurrency < 1:
        parser.error("--worker-concurrency must be at least 1")
    _stop_on_termination()
    args.port = args.port or local_port()
    data = Path(args.dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    children: list[Child] = []
    codec_endpoint = None
    try:
        if settings.yourmoment_payload_key:
            codec_endpoint = f"http://127.0.0.1:{args.codec_port}"
            codec = Child("codec server", partial(_codec_server, args.codec_port, args.ui_port))
            children.append(codec)
            codec.start()
        dev = DevServer(
            data / "temporal.db", args.port, args.ui_port, codec_endpoint, log_file=data / "temporal.log"
        )
        children.append(Child("Temporal dev server", partial(_dev_server, dev)))
        children[-1].start()
        print(f"Temporal dev server on 127.0.0.1:{args.port}, Web UI http://localhost:{args.ui_port}")
        worker_args = ["--address", f"127.0.0.1:{args.port}"]
        if args.worker_concurrency is not None:
            worker_args += ["--concurrency", str(args.worker_concurrency)]
        children.append(Child("worker", partial(_worker, worker_args)))
        children[-1].start()
        supervise(children)
    except KeyboardInterrupt:
        print("\nstopping")
    except (GiveUp, ConfigurationError) as exc:
        _stop_all(children)
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    finally:
        _stop_all(children)


def supervise(children: list[Child]) -> None:
    """Runs until interrupted: a child that exits is named with its exit code and started again, at
    most MAX_RESTARTS times each; after that, or when it cannot start, GiveUp."""
    while True:
        for child in children:
            assert child.proc is not None
            code = child.proc.poll()
            if code is None:
                continue
            exited = f"the {child.name} (pid {child.proc.pid}) exited with {describe_exit(code)}"
            others = " and ".join(f"the {other.name}" for other in children if other is not child)
            if child.restarts >= MAX_RESTARTS:
                raise GiveUp(f"{exited} after {MAX_RESTARTS} restarts; stopping {others}")
            child.restarts += 1
            print(
                f"run_local: {exited}; restarting it ({child.restarts} of {MAX_RESTARTS})",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(RESTART_PAUSE_S)
            try:
                child.start()
            except ConfigurationError as exc:
                raise GiveUp(f"{exited} and could not start again ({exc}); stopping {others}") from None
        time.sleep(POLL_S)


def describe_exit(code: int) -> str:
    """`code 1`, or `code -9 (SIGKILL)` for a child a signal ended (Popen's negative return codes)."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"code {code} ({signal.Signals(-code).name})"
    return f"code {code}"


def _stop_all(children: list[Child]) -> None:
    """The worker first, the dev server, then the codec server (the reverse of their start)."""
    for child in reversed(children):
        stop_process(child.proc)


def _codec_server(port: int, ui_port: int) -> subprocess.Popen[bytes]:
    # On 127.0.0.1 and without the token: the dev server's Web UI has no way to send one.
    env = {**os.environ, "YOURMOMENT_CODEC_TOKEN": ""}  # empty overrides a token in .env
    proc = subprocess.Popen(
        codec_server_command(port, "--host", "127.0.0.1", "--cors-origin", f"http://localhost:{ui_port}"),
        env=env,
    )
    wait_for_port(port, 20, proc)
    return proc


def _dev_server(dev: DevServer) -> subprocess.Popen[bytes]:
    dev.start()  # the same database file: workflows, timers and schedules survive a restart
    assert dev.proc is not None  # start() has set it
    return dev.proc


def _worker(worker_args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(REPO / "worker.py"), *worker_args])


def _stop_on_termination() -> None:
    """SIGTERM and SIGHUP (`kill`, a closed terminal, `make` passing on its own SIGTERM) end the run as
    Ctrl-C does: by default they would end this process at once and leave its children running."""

    def interrupt(signum: int, _frame: object) -> None:
        for again in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(again, signal.SIG_IGN)  # a second signal must not cut the clean-up short
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)


def local_port() -> int:
    """The port of the configured Temporal address, which must be this machine: the dev server serves it."""
    from yourmoment.temporal_client import temporal_connect_config

    address = temporal_connect_config()["target_host"]
    host, _, port = address.rpartition(":")
    if host not in ("localhost", "127.0.0.1", "[::1]") or not port.isdigit():
        sys.exit(
            f"error: make run starts a local Temporal dev server, but the configured address is {address} "
            "(TEMPORAL_ADDRESS in the environment, .env or Temporal's config file): unset it, "
            "or run 'python worker.py' against that service"
        )
    return int(port)


if __name__ == "__main__":
    main()
