"""A recording proxy in front of the model server: every chat answer, its finish_reason and its article, as JSONL.

It forwards requests unchanged. When the client gives up (the project's LLM timeout), the proxy drops
the upstream request too, as the server would have seen without it, and records the timeout.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.real_llm.articles import LaneArticle
from yourmoment.llm.system_templates import SYSTEM_TEMPLATES

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

CHAT_PATH = "/v1/chat/completions"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


class Recorder:
    """Appends one JSON line per chat request; `mode` labels the run the requests belong to."""

    def __init__(self, path: Path, articles: Sequence[LaneArticle]) -> None:
        self.path = path
        self.articles = articles
        self.mode = "plain"
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._started = time.monotonic()

    def article_for(self, request: dict[str, Any]) -> LaneArticle | None:
        """The lane's article the prompt is about: the one whose title the user messages quote."""
        text = "\n".join(
            str(m.get("content", "")) for m in request.get("messages", []) if m.get("role") == "user"
        )
        found = [a for a in self.articles if a.title in text]
        return found[0] if len(found) == 1 else None

    @staticmethod
    def template_for(request: dict[str, Any]) -> str | None:
        """The seeded template the request was rendered from, found by its system prompt."""
        system = "\n".join(
            str(m.get("content", "")) for m in request.get("messages", []) if m.get("role") == "system"
        )
        return next((t.name for t in SYSTEM_TEMPLATES if t.system_prompt.strip() in system), None)

    def record(self, request: dict[str, Any], outcome: dict[str, Any]) -> None:
        article = self.article_for(request)
        messages = request.get("messages", [])
        entry = {
            "mode": self.mode,
            "t": round(time.monotonic() - self._started, 3),
            # A second user message (or an earlier answer) means the project asked again.
            "regeneration": sum(m.get("role") == "user" for m in messages) > 1
            or any(m.get("role") == "assistant" for m in messages),
            "structured": "response_format" in request,
            "max_tokens": request.get("max_tokens") or request.get("max_completion_tokens"),
            "template": self.template_for(request),
            "article_title": article.title if article else None,
            "article_content": article.content if article else None,
            "article_author": article.author if article else None,
            "article_category": article.category if article else None,
            "article_task": article.task if article else None,
            **outcome,
        }
        with self._lock:
            self.records.append(entry)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def for_mode(self, mode: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.records if r["mode"] == mode]


def _outcome(status: int, body: bytes, elapsed: float) -> dict[str, Any]:
    outcome: dict[str, Any] = {"status": status, "elapsed_s": round(elapsed, 3), "client_gone": False}
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    choice = (data.get("choices") or [{}])[0] if isinstance(data, dict) else {}
    if status == 200 and isinstance(choice, dict) and choice:
        usage = data.get("usage") or {}
        outcome.update(
            content=(choice.get("message") or {}).get("content"),
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
        )
    else:
        outcome["error"] = body.decode("utf-8", "replace")[:300]
    return outcome


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError
        chunk: bytes = message.get("body", b"")
        body += chunk
        if not message.get("more_body"):
            return body


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class RecordingProxy:
    """An ASGI app forwarding everything to `upstream` (e.g. http://127.0.0.1:8080)."""

    def __init__(self, upstream: str, recorder: Recorder) -> None:
        self.upstream = upstream.rstrip("/")
        self.recorder = recorder
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        # Created in the server's own event loop, on its first request.
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self.upstream, timeout=None)
        return self._client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await _read_body(receive)
        except ConnectionAbortedError:
            return
        headers = [
            (k.decode(), v.decode()) for k, v in scope["headers"] if k.decode().lower() not in _HOP_BY_HOP
        ]
        path = scope["path"] + (f"?{scope['query_string'].decode()}" if scope.get("query_string") else "")
        started = time.monotonic()
        upstream = asyncio.ensure_future(
            self.client().request(scope["method"], path, content=body, headers=headers)
        )
        gone = asyncio.ensure_future(_wait_disconnect(receive))
        await asyncio.wait({upstream, gone}, return_when=asyncio.FIRST_COMPLETED)
        is_chat = scope["path"] == CHAT_PATH and scope["method"] == "POST"
        if not upstream.done():
            upstream.cancel()  # closes the upstream connection: the server stops generating
            if is_chat:
                elapsed = round(time.monotonic() - started, 3)
                self._record(body, {"status": None, "elapsed_s": elapsed, "client_gone": True})
            return
        gone.cancel()
        try:
            response = upstream.result()
        except httpx.HTTPError as exc:
            await _respond(send, 502, [], f"proxy: upstream failed ({type(exc).__name__})".encode())
            if is_chat:
                self._record(
                    body,
                    {
                        "status": 502,
                        "elapsed_s": round(time.monotonic() - started, 3),
                        "client_gone": False,
                        "error": type(exc).__name__,
                    },
                )
            return
        if is_chat:
            self._record(body, _outcome(response.status_code, response.content, time.monotonic() - started))
        kept = [(k, v) for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP]
        await _respond(send, response.status_code, kept, response.content)

    def _record(self, body: bytes, outcome: dict[str, Any]) -> None:
        try:
            request = json.loads(body)
        except ValueError:
            request = {}
        self.recorder.record(request if isinstance(request, dict) else {}, outcome)


async def _respond(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers] + [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
