"""The LLM provider client: the official `openai` SDK against any OpenAI-compatible base URL."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import pydantic
from pydantic import BaseModel, Field

from yourmoment.errors import ConfigurationError, LLMPermanentError, LLMTransientError, LLMUnavailableError
from yourmoment.http_hints import retry_after_seconds
from yourmoment.llm.server_hints import Load, status_hint, timeout_message
from yourmoment.llm.slots import ProviderSlot
from yourmoment.services import address, unavailable
from yourmoment.settings import get_settings

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

ProviderName = Literal["openai", "mistral", "openai-compatible"]
Acquire = Callable[[], Awaitable[None]]


def openai_sdk() -> ModuleType:
    """The `openai` package, imported with the first client: a worker that never generates (one serving
    only idle processes) does without its 18 MB."""
    import openai

    return openai


DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "mistral": "https://api.mistral.ai/v1",
}
StructuredMode = Literal["json_schema", "off"]
STRUCTURED_MODES: tuple[str, ...] = ("json_schema", "off")
# Hosted APIs honour the strict JSON schema; a local server is asked for it only when its owner says so.
DEFAULT_STRUCTURED: dict[str, StructuredMode] = {"openai": "json_schema", "mistral": "json_schema"}
# Requests in flight per worker: a local server has a few slots sharing one context (llama-server
# defaults to 4 sharing -c 4096); hosted APIs take many, and --rpm paces them.
DEFAULT_CONCURRENCY: dict[str, int] = {"openai": 8, "mistral": 8, "openai-compatible": 2}
# 4xx answers that cannot improve by asking again; other 4xx (408, 409, 425) are worth a retry.
PERMANENT_STATUSES: frozenset[int] = frozenset({400, 401, 403, 404, 405, 413, 415, 422})

COMMENT_SCHEMA: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "comment",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "comment": {"type": "string", "description": "Der Kommentar als HTML-Absätze <p>…</p>."},
                "reasoning": {"type": "string", "description": "Kurze Begründung; darf leer sein."},
            },
            "required": ["comment", "reasoning"],
            "additionalProperties": False,
        },
    },
}

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_ERROR_CODE = re.compile(r"^Error code: \d+ - ")
_KEYLIKE = re.compile(r"\b(?:sk|key|api)[-_][A-Za-z0-9*._-]{6,}", re.IGNORECASE)


class ProviderConfig(BaseModel):
    """One LLM configuration as activities build it from the store; never sent through Temporal."""

    provider: ProviderName
    model: str
    name: str | None = None  # the user's name for it (`provider list`), named in fix hints
    base_url: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    temperature: float | None = Field(0.7, ge=0, le=2)  # None: the provider's default (reasoning models)
    max_tokens: int = Field(800, ge=1)
    requests_per_minute: int | None = Field(default=None, ge=1)
    max_concurrency: int | None = Field(default=None, ge=1)  # None: the kind's default
    structured_output: StructuredMode | None = None  # None: the kind's default

    @classmethod
    def from_row(cls, row: Any, api_key: str | None) -> ProviderConfig:
        """The configuration of a stored provider (an `LLMProvider` row) with its decrypted key."""
        return cls.model_validate({**cls._row_fields(row), "api_key": api_key})

    @classmethod
    def _row_fields(cls, row: Any) -> dict[str, Any]:
        names = [name for name in cls.model_fields if name != "api_key"]
        return {name: getattr(row, name) for name in names}

    def resolved_base_url(self) -> str:
        url = self.base_url or DEFAULT_BASE_URLS.get(self.provider)
        if not url:
            raise ConfigurationError(
                f"Provider {self.provider!r} needs a base URL (e.g. http://localhost:11434/v1)."
            )
        return url.rstrip("/")

    @property
    def structured_mode(self) -> StructuredMode:
        return self.structured_output or DEFAULT_STRUCTURED.get(self.provider, "off")

    @property
    def structured(self) -> bool:
        return self.structured_mode == "json_schema"

    @property
    def concurrency(self) -> int:
        """Requests in flight per worker: the provider's own setting, else its kind's default."""
        return self.max_concurrency or DEFAULT_CONCURRENCY[self.provider]


class Completion(BaseModel):
    text: str
    reasoning: str | None
    model: str
    prompt_tokens: int
    completion_tokens: int
    elapsed_ms: int
    # "stop", "length" (cut off at max_tokens), …; None when the server does not say.
    finish_reason: str | None = None


class LLMClient:
    """One provider configuration; `acquire` (if given) is awaited before every request, for pacing.

    `slot` (if given) bounds requests in flight: taken before the first request, released by
    `close()`. The wait for it comes before the request, so it never counts against `timeout`.
    """

    def __init__(
        self,
        config: ProviderConfig,
        *,
        timeout: float | None = None,
        acquire: Acquire | None = None,
        slot: ProviderSlot | None = None,
    ):
        self.config = config
        self.timeout = timeout if timeout is not None else get_settings().llm_timeout
        self._acquire = acquire
        self._slot = slot
        # Temporal owns retries, so the SDK must not retry behind its back.
        self._client = openai_sdk().AsyncOpenAI(
            base_url=config.resolved_base_url(),
            api_key=config.api_key or "not-needed",
            max_retries=0,
            timeout=self.timeout,
        )

    @property
    def provider(self) -> str:
        return self.config.provider

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._slot is not None:
            self._slot.release()
        await self._client.close()

    async def complete(self, messages: list[dict[str, str]]) -> Completion:
        """One chat completion; provider failures become LLMTransientError or LLMPermanentError."""
        if self._slot is not None:
            await self._slot.hold(self._label)
        if self._acquire is not None:
            await self._acquire()
        kwargs: dict[str, Any] = {"model": self.config.model, "messages": messages}
        # OpenAI's newer models refuse `max_tokens`; Mistral and most local servers only know it.
        limit_key = "max_completion_tokens" if self.config.provider == "openai" else "max_tokens"
        kwargs[limit_key] = self.config.max_tokens
        if self.config.temperature is not None:
            kwargs["temperature"] = self.config.temperature
        if self.config.structured:
            kwargs["response_format"] = COMMENT_SCHEMA
        started = time.perf_counter()
        try:
            response = await self._client.chat.completions.create(**kwargs)
        except Exception as exc:
            raise self._map_error(exc, messages) from None
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        return self._to_completion(response, elapsed_ms)

    async def list_models(self) -> list[str] | None:
        """Model ids the provider offers (`provider test`); None when it has no model list (404).
        Other errors are mapped like `complete`'s."""
        try:
            return sorted([model.id async for model in self._client.models.list()])
        except openai_sdk().NotFoundError:
            return None
        except Exception as exc:
            raise self._map_error(exc, []) from None

    def _to_completion(self, response: Any, elapsed_ms: int) -> Completion:
        if not getattr(response, "choices", None):
            raise LLMTransientError(f"{self.provider} answered without choices (model {self.config.model}).")
        message = response.choices[0].message
        finish_reason = getattr(response.choices[0], "finish_reason", None)
        text, reasoning = self._extract(message.content or "", finish_reason)
        reasoning = reasoning or _extra_reasoning(message)
        usage = getattr(response, "usage", None)
        return Completion(
            text=text,
            reasoning=reasoning or None,
            model=getattr(response, "model", None) or self.config.model,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            elapsed_ms=elapsed_ms,
            finish_reason=finish_reason,
        )

    def _extract(self, content: str, finish_reason: str | None = None) -> tuple[str, str | None]:
        """The comment and reasoning from a structured (JSON) or plain answer.

        Structured JSON cut off at the token limit is handed on as it is: the quality gate rejects it as
        cut off, and the rejection is recorded like any other, instead of failing the whole activity.
        """
        thinking = [m.strip() for m in _THINK.findall(content)]
        content = _THINK.sub("", content).strip()
        think = "\n".join(t for t in thinking if t) or None
        parsed = _json_object(content)
        if parsed is not None and isinstance(parsed.get("comment"), str):
            reasoning = parsed.get("reasoning")
            return parsed["comment"], (
                reasoning if isinstance(reasoning, str) and reasoning.strip() else think
            )
        if self.config.structured and content.startswith("{") and finish_reason != "length":
            raise LLMTransientError(f"{self.provider} returned a malformed structured answer.")
        return content, think

    @property
    def _label(self) -> str:
        return f"{self.provider} ({self.config.model})"

    def _load(self) -> Load:
        others = self._slot.others_in_flight() if self._slot is not None else None
        limit = self._slot.limit if self._slot is not None else self.config.concurrency
        return Load(self.provider, self.config.name, limit, self.config.max_tokens, others)

    def _map_error(self, exc: Exception, messages: list[dict[str, str]]) -> Exception:
        name, openai = self._label, openai_sdk()
        if isinstance(exc, openai.RateLimitError):
            return LLMTransientError(
                f"{name}: rate limited (429).",
                retry_after=retry_after_seconds(getattr(exc.response, "headers", None)),
            )
        if isinstance(exc, openai.APITimeoutError):
            return LLMTransientError(timeout_message(name, self.timeout, self._load()))
        if isinstance(exc, openai.APIConnectionError):
            where = address(self.config.resolved_base_url())
            return unavailable(f"LLM {name}", where, exc, kind=LLMUnavailableError)
        if isinstance(exc, openai.APIStatusError):
            detail = self._safe_detail(exc, messages)
            message = f"{name}: HTTP {exc.status_code}{detail}."
            if hint := status_hint(exc.status_code, _error_text(exc), self._load()):
                message = f"{message[:-1]}: {hint}."
            if exc.status_code in PERMANENT_STATUSES:
                return LLMPermanentError(message)
            return LLMTransientError(
                message, retry_after=retry_after_seconds(getattr(exc.response, "headers", None))
            )
        if isinstance(
            exc, json.JSONDecodeError | openai.APIResponseValidationError | pydantic.ValidationError
        ):
            return LLMTransientError(f"{name}: malformed response ({type(exc).__name__}).")
        return exc

    def _safe_detail(self, exc: openai.APIStatusError, messages: list[dict[str, str]]) -> str:
        """The provider's own words, unless they could hold the key or echo the prompt."""
        detail = _ERROR_CODE.sub("", str(getattr(exc, "message", "") or ""))
        if self.config.api_key:
            detail = detail.replace(self.config.api_key, "***")
        detail = _KEYLIKE.sub("***", detail)[:200]
        prompt = "\n".join(m.get("content", "") for m in messages)
        if any(detail[i : i + 24] in prompt for i in range(0, max(len(detail) - 23, 0), 8)):
            detail = "(provider message withheld: it quotes the prompt)"
        return f" ({detail})" if detail else ""


def _error_text(exc: openai.APIStatusError) -> str:
    """Everything the server said, to recognise its kind of refusal (never shown to anyone)."""
    body = exc.body
    parts = [str(exc.message or ""), str(getattr(exc, "type", "") or ""), str(getattr(exc, "code", "") or "")]
    parts.append(json.dumps(body, default=str) if isinstance(body, dict | list) else str(body or ""))
    return " ".join(parts)


def _json_object(content: str) -> dict[str, Any] | None:
    try:
        value = json.loads(content)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _extra_reasoning(message: Any) -> str | None:
    """vLLM, Ollama and others put a reasoning model's thoughts in a non-standard field."""
    extra = getattr(message, "model_extra", None) or {}
    for key in ("reasoning_content", "reasoning"):
        value = extra.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
