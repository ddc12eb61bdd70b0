"""What a model server's answer about context, slots or load most likely means, and how to fix it.

Local servers (llama.cpp, Ollama, vLLM) say "out of context" or "busy" when they are asked for more
than they can hold at once; the raw answer points the user at the wrong cause. The hints below name
the likely cause and the settings that fix it. They are built from our own words and numbers only, so
they can never carry a prompt or a key.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

# The shared context of a llama.cpp server is full: requests that fit alone fail together.
SHARED_CONTEXT = ("context size has been exceeded",)
# One request (prompt plus answer) does not fit the context a slot has.
REQUEST_TOO_LONG = (
    "exceed_context_size_error",
    "exceeds the available context size",
    "maximum context length",  # vLLM, OpenAI
    "context_length_exceeded",
    "maximum model length",  # vLLM
    "input length exceeds the context length",  # Ollama
)
LOADING = ("loading model",)
BUSY = ("no slot available", "server busy", "maximum pending requests", "slots are busy")


@dataclass(frozen=True)
class Load:
    """What the worker knows about the provider when the request failed."""

    kind: str  # openai, mistral, openai-compatible
    name: str | None  # the provider's name in `provider list`, for the command to paste
    limit: int | None  # requests in flight allowed per worker
    max_tokens: int
    others: int | None  # other requests from this worker in flight at the time; None: unknown


def _set_command(load: Load, value: str) -> str:
    name = shlex.quote(load.name) if load.name else "NAME"
    return f"starter.py provider set {name} {value}"


def _busy_clause(load: Load) -> str:
    if not load.others:
        return ""
    requests = (
        "1 other request from this worker was"
        if load.others == 1
        else (f"{load.others} other requests from this worker were")
    )
    return f" while {requests} in flight"


def _lower_concurrency(load: Load) -> str | None:
    """The command that halves the limit; None when one request at a time is already the limit."""
    if load.limit == 1:
        return None
    lower = max((load.limit or 2) // 2, 1)
    now = f" (now {load.limit} per worker)" if load.limit else ""
    return f"lower the provider's max concurrency{now}: {_set_command(load, f'--max-concurrency {lower}')}"


def _fixes(*fixes: str | None) -> str:
    return "Fix: " + "; or ".join(fix for fix in fixes if fix)


def status_hint(status: int, text: str, load: Load) -> str | None:
    """A cause and a fix for a refused request, or None when the answer is not about load or context."""
    text = text.lower()
    if any(marker in text for marker in SHARED_CONTEXT):
        return (
            f"the model server ran out of context{_busy_clause(load)}: a llama.cpp server shares its "
            "context (-c) among its parallel slots, so requests that fit alone fail together. "
            + _fixes(
                _lower_concurrency(load),
                "start llama-server with a larger -c or fewer --parallel",
                f"lower --max-tokens (now {load.max_tokens})",
            )
        )
    if any(marker in text for marker in REQUEST_TOO_LONG):
        return (
            "one request does not fit the context the server gives it (the prompt plus up to "
            f"--max-tokens ({load.max_tokens}) of answer). "
            + _fixes(
                "give the server a longer context (llama-server: larger -c or fewer --parallel, as each "
                "slot gets -c divided by --parallel; vLLM: --max-model-len; Ollama: OLLAMA_CONTEXT_LENGTH)",
                f"lower --max-tokens: {_set_command(load, '--max-tokens 400')}",
            )
        )
    if any(marker in text for marker in LOADING):
        return "the server is still loading the model; the worker tries again"
    if status == 503 or any(marker in text for marker in BUSY):
        lower = _lower_concurrency(load)
        return f"the server has no free slot{_busy_clause(load)}. " + _fixes(
            f"{lower} (at most the server's parallel slots: llama-server --parallel, OLLAMA_NUM_PARALLEL)"
            if lower
            else None,
            "stop other clients of the server",
        )
    return None


def timeout_message(label: str, timeout: float, load: Load) -> str:
    """No answer in time: with other requests in flight, most likely the server's parallel load."""
    message = f"{label}: no answer within {timeout:g} s{_busy_clause(load)}."
    if load.others:
        fixes = _fixes(
            _lower_concurrency(load), f"lower --max-tokens (now {load.max_tokens})", "raise LLM_TIMEOUT"
        )
        return f"{message} A local server divides its speed among parallel requests. {fixes}."
    if load.kind == "openai-compatible":
        fixes = _fixes("raise LLM_TIMEOUT", f"lower --max-tokens (now {load.max_tokens})")
        return f"{message} A local model may need longer, or the server is busy with other clients. {fixes}."
    return message
