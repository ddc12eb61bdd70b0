"""Our metrics, on Temporal's metric meter: one Prometheus endpoint serves the SDK's metrics and ours."""

from __future__ import annotations

import re

from temporalio.common import MetricMeter

_ARTICLE = re.compile(r"^/article/\d+/$")
_COMMENT = re.compile(r"^/article/\d+/comment/$")


def request_kind(method: str, path: str) -> str:
    """The same kinds the imitation counts: login, probe, list, article, post, other."""
    if path.startswith("/accounts/login/"):
        return "login"
    if path == "/":
        return "probe"
    if path.startswith("/articles/"):
        return "list"
    if method == "POST" and _COMMENT.match(path):
        return "post"
    if _ARTICLE.match(path):
        return "article"
    return "other"


class Metrics:
    """Counters and histograms of the work; a no-op meter when the worker exports no metrics."""

    def __init__(self, meter: MetricMeter | None = None) -> None:
        meter = meter or MetricMeter.noop
        self._requests = meter.create_counter("yourmoment_mymoment_requests", "myMoment HTTP requests")
        self._logins = meter.create_counter("yourmoment_mymoment_logins", "full myMoment logins")
        self._llm_calls = meter.create_counter("yourmoment_llm_calls", "LLM generations by outcome")
        self._tokens = meter.create_counter("yourmoment_llm_tokens", "LLM tokens", "tokens")
        self._llm_latency = meter.create_histogram("yourmoment_llm_latency", "LLM generation time", "ms")
        self._items = meter.create_counter("yourmoment_items", "work items reaching a status")

    def mymoment_request(self, method: str, path: str, status: int | None) -> None:
        kind = request_kind(method, path)
        self._requests.add(1, {"kind": kind, "status": str(status) if status is not None else "none"})
        if kind == "login" and method == "POST" and status in (301, 302, 303):
            self._logins.add(1)

    def llm_call(
        self, provider: str, outcome: str, latency_ms: int = 0, prompt: int = 0, completion: int = 0
    ) -> None:
        self._llm_calls.add(1, {"provider": provider, "outcome": outcome})
        if outcome == "ok":
            self._llm_latency.record(latency_ms, {"provider": provider})
            self._tokens.add(prompt, {"provider": provider, "kind": "prompt"})
            self._tokens.add(completion, {"provider": provider, "kind": "completion"})

    def item(self, status: str) -> None:
        self._items.add(1, {"status": status})
