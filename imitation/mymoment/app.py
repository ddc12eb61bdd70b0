"""The myMoment imitation as an ASGI app: request log, latency, injected errors, dropped connections; CLI entry."""

from __future__ import annotations

import argparse
import asyncio

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from imitation.mymoment.admin import ADMIN_PREFIX, admin_routes
from imitation.mymoment.demo import seed_demo
from imitation.mymoment.pages import CONTROL_KEY, RequestControl, not_found, site_routes
from imitation.mymoment.security import SESSION_COOKIE
from imitation.mymoment.state import MyMomentState
from imitation.mymoment.templates import render_error
from yourmoment.serving import run_forever


class MyMomentApp(Starlette):
    """Starlette plus an outer layer for the request log, latency, injected errors and dropped connections."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await super().__call__(scope, receive, send)
            return
        state: MyMomentState = self.state.mymoment
        request = Request(scope)
        entry = state.log_request(
            scope["method"], scope["path"], request.url.query, request.cookies.get(SESSION_COOKIE)
        )
        entry.user_agent = request.headers.get("user-agent", "")
        if state.latency_ms:
            await asyncio.sleep(state.latency_ms / 1000)
        if state.roll_error():
            entry.status = 500
            await HTMLResponse(render_error(500, "Serverfehler", "Server Error (500)"), status_code=500)(
                scope, receive, send
            )
            return
        control = RequestControl()
        scope[CONTROL_KEY] = control

        async def guarded_send(message: Message) -> None:
            if control.drop:
                return
            if message["type"] == "http.response.start":
                entry.status = message["status"]
            await send(message)

        await super().__call__(scope, receive, guarded_send)
        if control.drop:
            await _abort_connection(send)


async def _abort_connection(send: Send) -> None:
    """Close the TCP connection without any response bytes (the comment is already stored)."""
    # uvicorn passes its per-request cycle's bound `send`; the cycle holds the connection's transport.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        # Let connection_lost run so uvicorn sees the disconnect instead of sending its own 500.
        for _ in range(3):
            await asyncio.sleep(0)
        return
    # Other servers: start a response that can never complete; the client sees a broken message.
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4096")]})
    raise ConnectionAbortedError("connection dropped after storing the comment")


async def _not_found_handler(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith(ADMIN_PREFIX):
        return JSONResponse({"error": "not found"}, status_code=404)
    return not_found()


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return HTMLResponse(render_error(status, "Fehler", str(getattr(exc, "detail", ""))), status_code=status)


def create_app(state: MyMomentState | None = None) -> MyMomentApp:
    """The imitation as an ASGI app; `app.state.mymoment` is the MyMomentState it serves."""
    app = MyMomentApp(
        routes=[*site_routes(), *admin_routes()],
        exception_handlers={404: _not_found_handler, 405: _http_error_handler},
    )
    app.state.mymoment = state if state is not None else MyMomentState()
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m imitation.mymoment", description="Run the local myMoment imitation server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--seed-demo", action="store_true", help="add demo classes, accounts and articles")
    args = parser.parse_args(argv)
    state = MyMomentState()
    if args.seed_demo:
        seed_demo(state)
    run_forever(create_app(state), args.host, args.port)
