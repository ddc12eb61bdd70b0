"""Serving an ASGI app with uvicorn: in the foreground (the codec server, the imitations' own commands),
in a background thread (tests, benchmarks, the demo) or as a task of a running asyncio program (the
worker's /health). Depends on nothing of the project."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import uvicorn

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0


class BackgroundServer:
    """A uvicorn server in a daemon thread; `url` carries the real bound port."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self._config = uvicorn.Config(
            app,
            log_level=log_level,
            access_log=False,
            lifespan="auto",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> BackgroundServer:
        sock = bind(self.host, self._requested_port)
        self._socket = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"server on {self.url} exited during start-up")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server on {self.url} did not start within {_START_TIMEOUT_S} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(_STOP_TIMEOUT_S)
        if self._thread.is_alive():
            # Lingering keep-alive connections must not keep a test run waiting.
            self._server.force_exit = True
            self._thread.join(_STOP_TIMEOUT_S)
        self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


RunningServer = BackgroundServer


def bind(host: str, port: int) -> socket.socket:
    """A bound socket for uvicorn (OSError when the port is taken). Binding it ourselves tells us the real
    port before uvicorn starts (port=0 works). proto=IPPROTO_TCP makes asyncio set TCP_NODELAY on
    accepted sockets (else ~40 ms per keep-alive request)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class _InLoopServer(uvicorn.Server):
    """A uvicorn server inside a program that handles SIGTERM and SIGINT itself: it leaves them alone
    (uvicorn's own handlers would replace the program's and raise the signal again on exit)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LoopServer:
    """`app` served as a task of the running event loop, so it can use the program's async clients."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        """`sock`: bound by `bind`, early, so a taken port is known before the program gets going."""
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = _InLoopServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> LoopServer:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError(f"the server on port {self.port} exited during start-up")
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, _STOP_TIMEOUT_S)
            self._task = None
        self._sock.close()


def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start `app` and return once it accepts connections; use `.stop()` or a `with` block to end it."""
    return BackgroundServer(app, host=host, port=port).start()


def run_forever(app: Any, host: str, port: int) -> None:
    """Serve `app` in the foreground until interrupted (CLI entry points)."""
    uvicorn.run(app, host=host, port=port, log_level="info")
