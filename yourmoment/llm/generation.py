"""Comment generation: ask the model, let the quality gate judge the answer, ask again naming what was wrong."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from pydantic import BaseModel, Field

from yourmoment.errors import CommentValidationError
from yourmoment.llm.client import Completion, LLMClient
from yourmoment.llm.gate import CHECK_HINTS, RETRY_HINT, GateProblem, describe, judge

log = logging.getLogger(__name__)


class GenerationFigures(BaseModel):
    """What answers cost, named as the columns that keep them (ai_comments, generation_attempts)."""

    model_name: str
    prompt_tokens: int
    completion_tokens: int
    generation_ms: int

    @classmethod
    def of(cls, completion: Completion) -> GenerationFigures:
        return cls(
            model_name=completion.model,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            generation_ms=completion.elapsed_ms,
        )

    def plus(self, later: GenerationFigures) -> GenerationFigures:
        """Both answers' tokens and time, under the later answer's model."""
        return GenerationFigures(
            model_name=later.model_name,
            prompt_tokens=self.prompt_tokens + later.prompt_tokens,
            completion_tokens=self.completion_tokens + later.completion_tokens,
            generation_ms=self.generation_ms + later.generation_ms,
        )


NO_ANSWER_YET = GenerationFigures(model_name="", prompt_tokens=0, completion_tokens=0, generation_ms=0)


class GeneratedComment(GenerationFigures):
    """The accepted comment with the figures of every answer it took; `model_dump()` gives the
    ai_comments columns it is stored in."""

    comment_html: str
    reasoning: str | None
    provider_name: str
    # How many answers it took. Not dumped: the item's own `attempts` column counts posting tries.
    attempts: int = Field(exclude=True)


class AttemptReport(GenerationFigures):
    """One answer's figures and the gate's verdict on it; never the answer's text."""

    number: int  # 1.. within this call
    accepted: bool
    problems: list[GateProblem]
    finish_reason: str | None


OnAttempt = Callable[[AttemptReport], Awaitable[None]]


def retry_messages(
    messages: list[dict[str, str]], problems: Sequence[GateProblem], min_length: int, max_length: int
) -> list[dict[str, str]]:
    """The original prompt plus a note saying what was wrong with the last answer."""
    hints = [CHECK_HINTS[code] for code in dict.fromkeys(p.check for p in problems) if code in CHECK_HINTS]
    text = "\n".join([RETRY_HINT, *hints]).format(min=min_length, max=max_length)
    return [*messages, {"role": "user", "content": text}]


async def generate_comment(
    client: LLMClient,
    messages: list[dict[str, str]],
    *,
    min_length: int,
    max_length: int,
    extra_line: str | None = None,
    max_attempts: int = 3,
    article_text: Sequence[str] = (),
    on_attempt: OnAttempt | None = None,
) -> GeneratedComment:
    """Complete and let the gate judge; regenerate on a rejected answer, then raise CommentValidationError.

    Every comment starts with the fixed disclosure, then `extra_line` (the operator's own) if given.
    `article_text` (the pupil's title and text) lets the gate see copies; `on_attempt` hears of every
    answer, accepted or not, before the next request or the final result.
    """
    total = NO_ANSWER_YET
    problems: list[GateProblem] = []
    for attempt in range(1, max_attempts + 1):
        request = messages if attempt == 1 else retry_messages(messages, problems, min_length, max_length)
        completion = await client.complete(request)
        figures = GenerationFigures.of(completion)
        total = total.plus(figures)
        verdict = judge(
            completion.text,
            completion.finish_reason,
            request,
            min_length=min_length,
            max_length=max_length,
            extra_line=extra_line,
            article_text=article_text,
        )
        problems = verdict.problems
        if on_attempt is not None:
            report = AttemptReport(
                number=attempt,
                accepted=verdict.accepted,
                problems=problems,
                finish_reason=completion.finish_reason,
                **figures.model_dump(),
            )
            await on_attempt(report)
        if verdict.accepted:
            log.info(
                "comment generated provider=%s model=%s attempts=%d prompt_tokens=%d completion_tokens=%d ms=%d",
                client.provider,
                total.model_name,
                attempt,
                total.prompt_tokens,
                total.completion_tokens,
                total.generation_ms,
            )
            return GeneratedComment(
                comment_html=verdict.html,
                reasoning=completion.reasoning,
                provider_name=client.provider,
                attempts=attempt,
                **total.model_dump(),
            )
        # Check codes only: the comment itself stays out of the log.
        log.info(
            "generated comment rejected attempt=%d/%d checks=%s finish_reason=%s",
            attempt,
            max_attempts,
            ",".join(verdict.checks),
            completion.finish_reason,
        )
    raise CommentValidationError(
        f"Comment still invalid after {max_attempts} attempts: {describe(problems)}",
        problems=[p.message for p in problems],
        checks=[p.check for p in problems],
    )
