"""`provider test`: one real chat request through the worker's client, structured mode and quality gate."""

from __future__ import annotations

import re

from pydantic import BaseModel

from yourmoment.comment_rules import comment_plain_text, visible_lines
from yourmoment.errors import ConfigurationError, LLMPermanentError, LLMTransientError
from yourmoment.llm.client import LLMClient, ProviderConfig
from yourmoment.llm.comments import ALLOWED_TAGS
from yourmoment.llm.gate import GateProblem, judge
from yourmoment.llm.system_templates import SYSTEM_TEMPLATES
from yourmoment.llm.templates import ArticleContext, render_messages
from yourmoment.logs import redact_url
from yourmoment.settings import Settings

# An invented article (no pupil wrote it), so the answer may be shown in full.
SAMPLE_ARTICLE = ArticleContext(
    article_title="Der Drache im Schulhaus",
    article_author="Beispielkind",
    article_content=(
        "Am Montag sass ein kleiner grüner Drache auf dem Pult von Frau Keller. Er hatte Hunger und "
        "frass alle Bleistifte. Wir gaben ihm ein Käsebrot. Danach schlief er ein und schnarchte so laut, "
        "dass die Fenster zitterten. Am Abend flog er nach Hause zu seiner Mutter."
    ),
    article_category="Fantasiegeschichte",
    article_task="Erfinde eine Geschichte über ein Tier in der Schule.",
    mymoment_username="testkonto",
)

_TAG_NAME = re.compile(r"<\s*/?\s*([A-Za-z][\w-]*)([^<>]*)>")
_MARKDOWN = re.compile(r"\*\*\S|^#{1,6}\s|^```", re.MULTILINE)


class ProbeResult(BaseModel):
    """What `provider test` found; the comment is the answer to the invented sample article."""

    provider: str
    kind: str
    base_url: str
    model: str
    structured_output: str
    models: list[str] | None  # None: the endpoint does not list its models
    model_note: str
    answered_model: str
    latency_ms: int
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    accepted: bool
    problems: list[GateProblem]
    changes: list[str]
    comment_lines: list[str]


async def probe_provider(name: str, config: ProviderConfig, settings: Settings) -> ProbeResult:
    """Lists the models, sends one chat request as the worker would and lets the gate judge the answer.

    Raises ConfigurationError when the endpoint lists its models, the configured one is not among them
    and the chat request is refused; LLM errors of the request itself propagate as they are.
    """
    template = SYSTEM_TEMPLATES[0]
    messages = render_messages(template.system_prompt, template.user_prompt_template, SAMPLE_ARTICLE)
    async with LLMClient(config, timeout=settings.llm_timeout) as client:
        models = await client.list_models()
        try:
            completion = await client.complete(messages)
        except (LLMPermanentError, LLMTransientError) as exc:
            if models is not None and config.model not in models:
                raise ConfigurationError(
                    f"provider '{name}': the model {config.model!r} is not served by "
                    f"{redact_url(config.resolved_base_url())} "
                    f"(it serves: {', '.join(models) or 'nothing'}); the chat request failed: {exc}"
                ) from None
            raise
    verdict = judge(
        completion.text,
        completion.finish_reason,
        messages,
        min_length=settings.comment_min_length,
        max_length=settings.comment_max_length,
        extra_line=settings.ai_comment_extra_line,
        article_text=[SAMPLE_ARTICLE.article_title, SAMPLE_ARTICLE.article_content],
    )
    return ProbeResult(
        provider=name,
        kind=config.provider,
        base_url=redact_url(config.resolved_base_url()),
        model=config.model,
        structured_output="json_schema" if config.structured else "off",
        models=models,
        model_note=_model_note(config.model, models, completion.model),
        answered_model=completion.model,
        latency_ms=completion.elapsed_ms,
        **completion.model_dump(include={"prompt_tokens", "completion_tokens", "finish_reason"}),
        accepted=verdict.accepted,
        problems=verdict.problems,
        changes=describe_changes(completion.text, verdict.html),
        comment_lines=visible_lines(verdict.html),
    )


def _model_note(model: str, models: list[str] | None, answered: str) -> str:
    if models is None:
        return "the endpoint does not list its models; it answered the chat request"
    if model in models:
        return f"the configured model is listed ({len(models)} model(s) served)"
    return (
        f"the server does not check model names: {model!r} is not among its models "
        f"({', '.join(models)}), yet it answered (as {answered!r})"
    )


def describe_changes(raw: str, html: str) -> list[str]:
    """What normalising did to the model's answer, in words (the worker stores the normalised form)."""
    changes = ["puts the AI disclosure paragraph first"]
    removed = sorted({m.group(1).lower() for m in _TAG_NAME.finditer(raw)} - ALLOWED_TAGS)
    if removed:
        changes.append(f"removes the tags {', '.join(removed)}")
    if any(m.group(2).strip(" /") for m in _TAG_NAME.finditer(raw) if m.group(1).lower() in ALLOWED_TAGS):
        changes.append("removes attributes")
    if "<p" not in raw.lower() and comment_plain_text(raw):
        changes.append("wraps the answer's lines in <p> paragraphs")
    if _MARKDOWN.search(raw):
        changes.append("turns Markdown into text (**bold** into <strong>)")
    if comment_plain_text(raw) and len(visible_lines(html)) <= 1:
        changes.append("keeps no text of the answer")
    return changes
