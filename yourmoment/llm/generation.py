"""Comment generation: ask the model, make the answer safe, let the quality gate judge it, ask again."""

from __future__ import annotations

import logging

from pydantic import BaseModel

from yourmoment.errors import CommentValidationError
from yourmoment.llm.client import LLMClient
from yourmoment.llm.comments import brace_patterns, normalize_comment, validate_comment

log = logging.getLogger(__name__)

RETRY_HINT = (
    "Deine letzte Antwort erfüllte die Vorgaben nicht. Schreibe den Kommentar neu: zwischen {min} und "
    "{max} Zeichen, nur <p>-Absätze, keine Wiederholungen, keine Platzhalter in geschweiften Klammern, "
    "keine Links, Web- oder E-Mail-Adressen und kein Hinweis darauf, wer den Kommentar geschrieben hat."
)

class GeneratedComment(BaseModel):
    html: str
    reasoning: str | None
    model: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    generation_ms: int
    attempts: int



def _retry_messages(messages: list[dict[str, str]], min_length: int, max_length: int) -> list[dict[str, str]]:
    return [*messages, {"role": "user", "content": RETRY_HINT.format(min=min_length, max=max_length)}]


async def generate_comment(
    client: LLMClient,
    messages: list[dict[str, str]],
    *,
    min_length: int,
    max_length: int,
    extra_line: str | None = None,
    max_attempts: int = 3,
) -> GeneratedComment:
    """Complete, normalise, validate; regenerate on invalid output, then raise CommentValidationError.

    Every comment starts with the fixed disclosure, then `extra_line` (the operator's own) if given.
    """
    prompt_tokens = completion_tokens = generation_ms = 0
    problems: list[str] = []
    # Braces quoted from the article are the pupil's, not unresolved template placeholders.
    allowed = brace_patterns("\n".join(m.get("content", "") for m in messages if m.get("role") == "user"))
    for attempt in range(1, max_attempts + 1):
        request = messages if attempt == 1 else _retry_messages(messages, min_length, max_length)
        completion = await client.complete(request)
        prompt_tokens += completion.prompt_tokens
        completion_tokens += completion.completion_tokens
        generation_ms += completion.elapsed_ms
        html = normalize_comment(completion.text, extra_line)
        problems = validate_comment(
            html, min_length, max_length, extra_line=extra_line, allowed_braces=allowed
        )
        if not problems:
            log.info(
                "comment generated provider=%s model=%s attempts=%d prompt_tokens=%d completion_tokens=%d ms=%d",
                client.provider,
                completion.model,
                attempt,
                prompt_tokens,
                completion_tokens,
                generation_ms,
            )
            return GeneratedComment(
                html=html,
                reasoning=completion.reasoning,
                model=completion.model,
                provider=client.provider,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                generation_ms=generation_ms,
                attempts=attempt,
            )
        # The problems name lengths and rules only; the comment itself stays out of the log.
        log.info("generated comment invalid attempt=%d/%d problems=%d", attempt, max_attempts, len(problems))
    error = CommentValidationError(
        f"Comment still invalid after {max_attempts} attempts: " + "; ".join(problems)
    )
    error.problems = problems  # type: ignore[attr-defined]
    raise error
