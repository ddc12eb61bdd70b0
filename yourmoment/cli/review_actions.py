"""What the review commands and the review loop do to one comment: its view, edit, restore, regenerate,
reject and approve, each through the compare-and-set of yourmoment/store/review.py.

yourmoment/cli/review_cmds.py turns them into commands, yourmoment/cli/review_loop.py into keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from temporalio.exceptions import WorkflowAlreadyStartedError

from yourmoment import processes_client
from yourmoment.cli.common import Context
from yourmoment.cli.editor import edit_in_editor
from yourmoment.cli.run_cmds import _warn, comment_timed_out, workflow_label
from yourmoment.comment_rules import visible_lines
from yourmoment.crypto import Encryptor
from yourmoment.errors import ValidationError
from yourmoment.llm.edits import judge_edit
from yourmoment.llm.gate import describe
from yourmoment.llm.templates import ArticleContext, render_messages
from yourmoment.messages import RegenerateInput, RegenerateResult
from yourmoment.statuses import CommentStatus
from yourmoment.store import accounts, attempts, review, templates
from yourmoment.store.models import (
    AIComment,
    LLMProvider,
    MonitoringProcess,
    MyMomentLogin,
    PromptTemplate,
    User,
)
from yourmoment.temporal_checks import no_worker_warning
from yourmoment.temporal_client import connect

S = CommentStatus
REASON_MAX = 2000
NOT_REGENERATED = 1  # exit code of a regeneration that ended with the previous text kept


def _template_entry(session: Session, item: AIComment) -> dict[str, Any] | None:
    if not item.prompt_template_id:
        return None
    template = session.get(PromptTemplate, item.prompt_template_id)
    return {
        "id": item.prompt_template_id,
        "name": template.name if template else None,
        "version": item.prompt_template_version,  # the version the text was generated with
        "current_version": template.version if template else None,
        "retired": bool(template and template.retired_at),
    }


def comment_view(
    session: Session, item: AIComment, process: MonitoringProcess, enc: Encryptor
) -> dict[str, Any]:
    """Everything a reviewer sees about one comment (`comments show`, `comments review`): ours and the
    site's, the myMoment username it is posted under, no secrets."""
    login = session.get(MyMomentLogin, item.login_id)
    provider = session.get(LLMProvider, item.llm_provider_id) if item.llm_provider_id else None
    posted = item.status == S.POSTED
    edited = review.edited_by_person(session, item.id)
    return {
        "id": item.id,
        "status": item.status,
        "error": item.error,
        "process": {"id": process.id, "name": process.name, "require_approval": process.require_approval},
        "login": login.name if login else None,
        "mymoment_username": accounts.login_username(session, enc, login) if login else None,
        "article": {
            "id": item.mymoment_article_id,
            "title": item.article_title,
            "author": item.article_author,
            "url": item.article_url,
            "category": item.article_category,
            "task": item.article_task,
        },
        "comment_html": item.comment_html,
        "comment_lines": visible_lines(item.comment_html or ""),  # as a reader sees it
        "original_html": item.original_html,
        "prompt_template": _template_entry(session, item),
        "provider": provider.name if provider else None,
        "provider_kind": item.provider_name,
        "model": item.model_name,
        "prompt_tokens": item.prompt_tokens,
        "completion_tokens": item.completion_tokens,
        "tokens": (item.prompt_tokens or 0) + (item.completion_tokens or 0),
        "generation_ms": item.generation_ms,
        "generated_at": item.generated_at,
        "approved_at": item.approved_at,
        "approved_by": item.approved_by,
        "waits_for_approval": item.status == S.GENERATED and review.waits_for_approval(session, item),
        "posted_at": item.posted_at,
        # Posted: as it was; not yet: as the process will post it.
        "hidden": item.is_hidden if posted else process.hide_comments,
        "version": review.current_version(session, item.id),
        "edited_by": edited.actor if edited else None,
        "versions": [
            {"version": v.number, "kind": v.kind, "at": v.at, "actor": v.actor, "comment_html": v.html}
            for v in review.text_versions(session, item.id)
        ],
        "generation_attempts": attempts.for_items(session, [item.id])[item.id],
        "history": [
            {
                "kind": event.kind,
                "at": event.created_at,
                "actor": event.actor,
                "detail": event.detail,
                "version": event.version,
                "comment_html": event.comment_html,
            }
            for event in review.history(session, item.id)
        ],
    }


def load_view(ctx: Context, actor: str, item_id: str) -> dict[str, Any]:
    with ctx.db() as session:
        item, process = review.item_for_user(session, accounts.get_user(session, actor), item_id)
        return comment_view(session, item, process, ctx.encryptor)


def template_label(prompt: dict[str, Any] | None) -> str:
    """'Name (version 2, now version 3, retired)': the version the text was made with, and what changed."""
    if not prompt:
        return "-"
    notes = [f"version {prompt['version'] or '-'}"]
    if prompt["current_version"] and prompt["current_version"] != prompt["version"]:
        notes.append(f"now version {prompt['current_version']}")
    if prompt["retired"]:
        notes.append("retired")
    return f"{prompt['name'] or prompt['id']} ({', '.join(notes)})"


def posting_line(view: dict[str, Any]) -> str:
    """Under which myMoment username, and visible or hidden, the comment is (or was) posted."""
    when = "posted" if view["status"] == S.POSTED else "to be posted"
    shown = "hidden" if view["hidden"] else "visible"
    return (
        f"{when} as myMoment user {view['mymoment_username'] or '-'} (login {view['login'] or '-'}), {shown}"
    )


def when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


@dataclass
class _Editing:
    """What a text change starts from: the text the reviewer saw, and what the gate needs."""

    item_id: str
    started_from: str | None
    was_approved: bool
    messages: list[dict[str, str]]
    article_text: list[str]


def _begin_text_change(ctx: Context, actor: User, ref: str, verb: str) -> _Editing:
    with ctx.db() as session:
        item, _process = review.item_for_user(session, actor, ref)
        if item.status != S.GENERATED:
            raise ValidationError([review.refusal(item, verb)])
        messages, article_text = _gate_inputs(session, ctx, item)
        return _Editing(item.id, item.comment_html, item.approved_at is not None, messages, article_text)


def _judged(ctx: Context, editing: _Editing, text: str, what: str) -> str:
    """The text as the edit gate accepts it (sanitised), or the refusal with the gate's reasons."""
    s = ctx.settings
    verdict = judge_edit(
        text,
        editing.messages,
        min_length=s.comment_min_length,
        max_length=s.comment_max_length,
        extra_line=s.ai_comment_extra_line,
        article_text=editing.article_text,
    )
    if verdict.problems:
        raise ValidationError([f"{what} is refused, nothing changed: {describe(verdict.problems)}"])
    return verdict.html


def edit_comment(
    ctx: Context, actor: str, ref: str, new_text: Callable[[str], str]
) -> tuple[str, bool, bool]:
    """A reviewer's edit through the same gate as a model's answer: (item id, changed, was approved).
    `new_text` gets the current HTML and returns the reviewer's text."""
    with ctx.db() as session:
        user = accounts.get_user(session, actor)
    editing = _begin_text_change(ctx, user, ref, "edited")
    text = new_text(editing.started_from or "")
    if not text.strip():
        raise ValidationError(["the edited text is empty; nothing changed"])
    html = _judged(ctx, editing, text, "the edited comment")
    if html == editing.started_from:
        return editing.item_id, False, editing.was_approved
    with ctx.db() as session:
        review.edit(session, editing.item_id, editing.started_from, html, actor)
    return editing.item_id, True, editing.was_approved


def _gate_inputs(session: Session, ctx: Context, item: AIComment) -> tuple[list[dict[str, str]], list[str]]:
    """The prompt the comment was made with (the gate spots a text that restates it) and the pupil's text
    (it spots copies). A template that is gone leaves the prompt checks without a prompt."""
    article_text = [item.article_title or "", item.article_content or ""]
    template = session.get(PromptTemplate, item.prompt_template_id) if item.prompt_template_id else None
    login = session.get(MyMomentLogin, item.login_id)
    if template is None or login is None:
        return [], article_text
    context = ArticleContext(
        article_title=item.article_title or "",
        article_author=item.article_author or "",
        article_content=item.article_content or "",
        article_raw_html=item.article_raw_html or "",
        article_url=item.article_url or "",
        article_category=item.article_category or "",
        article_task=item.article_task or "",
        mymoment_username=accounts.login_username(session, ctx.encryptor, login),
    )
    try:
        return render_messages(template.system_prompt, template.user_prompt_template, context), article_text
    except ValidationError:
        return [], article_text


def run_editor(current_html: str) -> str:
    # One paragraph per line: readable, and plain text without tags is accepted as well.
    return edit_in_editor(current_html.replace("</p>", "</p>\n"), ".html")


def restore_comment(ctx: Context, actor: str, ref: str, number: int) -> tuple[str, bool]:
    """Version `number` of the comment's text back, through the edit gate (its rules may have grown
    since the text was made); False when the comment is at that version already."""
    with ctx.db() as session:
        user = accounts.get_user(session, actor)
        item, _process = review.item_for_user(session, user, ref)
        versions = review.text_versions(session, item.id)
        current = review.current_version(session, item.id)
    version = next((v for v in versions if v.number == number), None)
    if version is None:
        known = f"versions 1 to {len(versions)}" if versions else "no recorded versions"
        raise ValidationError([f"comment {item.id} has no version {number} ({known}; see 'comments show')"])
    editing = _begin_text_change(ctx, user, item.id, "restored")
    if number == current and version.html == editing.started_from:
        return item.id, False
    html = _judged(ctx, editing, version.html, f"version {number}")
    with ctx.db() as session:
        review.restore(session, item.id, editing.started_from, version, html, actor)
    return item.id, True


def _template(session: Session, user: User, ref: str | None, item: AIComment) -> PromptTemplate:
    """--prompt (one of the user's templates or a system one), else the template the comment was made with."""
    if ref is None:
        template = session.get(PromptTemplate, item.prompt_template_id) if item.prompt_template_id else None
        if template is None or not template.is_active:
            raise ValidationError([f"comment {item.id}'s template is gone; name one with --prompt"])
        return template
    template = templates.find_template(session, user, ref)
    if template is None:
        raise ValidationError([f"template '{ref}' is not one of your templates nor a system template"])
    return template


def refuse_discarding_edit(session: Session, item: AIComment) -> None:
    """A text a person wrote is replaced by the model's only when asked to (--discard-edit)."""
    edited = review.edited_by_person(session, item.id)
    if edited is None:
        return
    raise ValidationError(
        [
            f"comment {item.id}'s text was edited by {edited.actor or 'a person'} "
            f"({when(edited.at)}, version {edited.number}); nothing changed. "
            f"'starter.py comments regenerate {item.id} --discard-edit' replaces it "
            f"(the edit stays in the history: 'comments restore {item.id} --version {edited.number}')"
        ]
    )


@dataclass
class Regeneration:
    item_id: str
    template_name: str
    result: RegenerateResult | None  # None: not finished within the timeout
    exit_code: int


async def regenerate_comment(
    ctx: Context, actor: str, ref: str, prompt: str | None, timeout: float, discard_edit: bool
) -> Regeneration:
    """A new text from the model through RegenerateCommentWorkflow, waited for at most `timeout` s."""
    with ctx.db() as session:
        user = accounts.get_user(session, actor)
        item, _process = review.item_for_user(session, user, ref)
        if not discard_edit and item.status == S.GENERATED:
            refuse_discarding_edit(session, item)
        template = _template(session, user, prompt, item)
        inp = RegenerateInput(item_id=item.id, template_id=template.id, actor=user.email)
        template_name = template.name
        label = workflow_label(session, item.id, "regenerate", template_name)
        # generated → regenerating here, so nothing posts or edits it from now on; an item left in
        # `regenerating` by a start that never happened is started again below.
        moved = review.begin_regeneration(session, item)
    try:
        client = await connect(ctx.settings)
        handle = await processes_client.start_regenerate(client, ctx.settings, inp, label)
    except WorkflowAlreadyStartedError:
        if moved:
            _cancel(ctx, inp.item_id)
        raise ValidationError(
            [
                f"comment {inp.item_id} is being regenerated already; wait for it "
                f"('starter.py comments show {inp.item_id}')"
            ]
        ) from None
    except BaseException:
        if moved:
            _cancel(ctx, inp.item_id)
        raise
    _warn(await no_worker_warning(client, ctx.settings))
    try:
        result = await asyncio.wait_for(handle.result(), timeout)
    except TimeoutError:
        code = await comment_timed_out(ctx, client, handle.id, inp.item_id, "regenerated", timeout)
        return Regeneration(inp.item_id, template_name, None, code)
    return Regeneration(inp.item_id, template_name, result, 0 if result.regenerated else NOT_REGENERATED)


def _cancel(ctx: Context, item_id: str) -> None:
    with ctx.db() as session:
        review.cancel_regeneration(session, item_id)


def clean_reason(text: str) -> str:
    reason = " ".join(text.split())
    if not reason or len(reason) > REASON_MAX:
        raise ValidationError([f"--reason must say why, in 1 to {REASON_MAX} characters"])
    return reason


def reject_comment(ctx: Context, actor: str, ref: str, reason: str) -> str:
    with ctx.db() as session:
        item, _process = review.item_for_user(session, accounts.get_user(session, actor), ref)
        review.reject(session, item, clean_reason(reason), actor)
        return item.id


def approve_comment(session: Session, user: User, ref: str) -> dict[str, Any]:
    item, _process = review.item_for_user(session, user, ref)
    approved_at = review.approve(session, item, user.email)
    return {"id": item.id, "approved_at": approved_at, "approved_by": user.email}
