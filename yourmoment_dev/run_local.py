"""`make run`: a persistent Temporal dev server (with Web UI) and one worker, using your own settings."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from yourmoment.settings import get_settings
from yourmoment_dev.harness import REPO, DevServer, stop_process, wait_for_port


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
    children: list[subprocess.Popen[bytes]] = []
    codec_endpoint = None
    try:
        if settings.yourmoment_payload_key:
            codec_endpoint = f"http://127.0.0.1:{args.codec_port}"
            # On 127.0.0.1 and without the token: the dev server's Web UI has no way to send one.
            env = {**os.environ, "YOURMOMENT_CODEC_TOKEN": ""}  # empty overrides a token in .env
            children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        str(REPO / "starter.py"),
                        "codec-server",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(args.codec_port),
                        "--cors-origin",
                        f"http://localhost:{args.ui_port}",
                    ],
                    env=env,
                )
            )
            wait_for_port(args.codec_port, 20)
        dev = DevServer(
            data / "temporal.db", args.port, args.ui_port, codec_endpoint, log_file=data / "temporal.log"
        )
        dev.start()
        assert dev.proc is not None  # start() has set it
        children.append(dev.proc)
        print(f"Temporal dev server on 127.0.0.1:{args.port}, Web UI http://localhost:{args.ui_port}")
        worker_args = ["--address", f"127.0.0.1:{args.port}"]
        if args.worker_concurrency is not None:
            worker_args += ["--concurrency", str(args.worker_concurrency)]
        worker = subprocess.Popen([sys.executable, str(REPO / "worker.py"), *worker_args])
        children.append(worker)
        while worker.poll() is None:
            time.sleep(1)
        sys.exit(worker.returncode)
    except KeyboardInterrupt:
        print("\nstopping")
    finally:
        for child in reversed(children):
            stop_process(child)


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
