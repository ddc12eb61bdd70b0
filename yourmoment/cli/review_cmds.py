"""Reviewing comments: `comments PROCESS` lists them; show, edit, regenerate, reject and approve one.

Every change is a compare-and-set in the database (yourmoment/store/review.py): a comment that is
being posted, has been posted or is being regenerated is never changed, whatever runs at the same time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio.exceptions import WorkflowAlreadyStartedError

from yourmoment import processes_client
from yourmoment.cli.common import (
    QUICK_CONNECT_SECONDS,
    Context,
    Handler,
    add_json_flag,
    add_plain_command,
    emit,
    fail,
    print_json,
    try_connect,
)
from yourmoment.cli.run_cmds import (
    QUEUED_FOR_WORKFLOW,
    _add_timeout,
    _warn,
    cmd_comments,
    comment_timed_out,
    queued_comment_notes,
)
from yourmoment.errors import ValidationError
from yourmoment.llm.comments import visible_lines
from yourmoment.llm.edits import judge_edit
from yourmoment.llm.gate import describe
from yourmoment.llm.templates import ArticleContext, render_messages
from yourmoment.messages import RegenerateInput
from yourmoment.statuses import CommentStatus
from yourmoment.store import accounts, attempts, review
from yourmoment.store.models import (
    AIComment,
    LLMProvider,
    MonitoringProcess,
    MyMomentLogin,
    PromptTemplate,
    TemplateCategory,
    User,
)
from yourmoment.temporal_checks import no_worker_warning
from yourmoment.temporal_client import connect

S = CommentStatus
LIST_ACTION = "list"
REASON_MAX = 2000
NOT_REGENERATED = 1  # exit code of a regeneration that ended with the previous text kept
INDENT = "    "


class _ActionNames(dict[str, argparse.ArgumentParser]):
    """The actions by name; once all are added, any word passes argparse's choice check (it may be a
    process's name)."""

    any_word = False

    def __contains__(self, key: object) -> bool:
        return self.any_word or super().__contains__(key)


class _ActionOrListing(argparse._SubParsersAction):  # type: ignore[type-arg]  # generic in typeshed only
    """`comments PROCESS` (no action named) is `comments list PROCESS`, as it was before the actions."""

    _name_parser_map: _ActionNames

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._name_parser_map = self.choices = _ActionNames()

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if values and not dict.__contains__(self._name_parser_map, values[0]):
            values = [LIST_ACTION, *values]
        super().__call__(parser, namespace, values, option_string)


def _listing_options(parser: argparse.ArgumentParser) -> None:
    """Also on the group, so `comments --status generated PROCESS` works as before; SUPPRESS keeps an
    option given there from being overwritten by the action's default."""
    parser.add_argument(
        "--status", choices=[s.value for s in S], default=argparse.SUPPRESS, help="only items in this status"
    )
    parser.add_argument(
        "--full",
        action="store_true",
        default=argparse.SUPPRESS,
        help="each comment's text under its row (--json: the HTML)",
    )


def _add_comment_action(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str, handler: Handler
) -> argparse.ArgumentParser:
    """An action on one comment, named by its id."""
    parser = add_plain_command(actions, name, help_text, handler)
    parser.add_argument("id", help="the comment (work item) id")
    return parser


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = sub.add_parser(
        "comments",
        help="work items (comments) of a process, and reviewing them (show, edit, regenerate, reject, approve)",
        description="'comments PROCESS' lists a process's comments (the same as 'comments list PROCESS'); "
        "the other actions review one comment, named by its id (or 8+ characters of it).",
    )
    _listing_options(group)
    add_json_flag(group, default=argparse.SUPPRESS)
    actions = group.add_subparsers(dest="comments_command", metavar="ACTION", action=_ActionOrListing)
    actions.required = True

    # Each action's `--json` comes after its other options, added at the end of this function.
    p = add_plain_command(
        actions, LIST_ACTION, "the process's comments (the default: 'comments PROCESS')", cmd_list
    )
    p.add_argument("process", help="process id, id prefix or name")
    _listing_options(p)

    _add_comment_action(
        actions, "show", "one comment as it will appear, how it was made, and its history", cmd_show
    )

    p = _add_comment_action(
        actions, "edit", "correct a generated comment ($EDITOR, or --text-file)", cmd_edit
    )
    p.add_argument(
        "--text-file", metavar="FILE", help="the new text from FILE ('-': stdin) instead of $EDITOR"
    )

    p = _add_comment_action(
        actions, "regenerate", "a new text from the model (needs a running worker)", cmd_regenerate
    )
    p.add_argument("--prompt", metavar="TEMPLATE", help="template name or id (default: the comment's own)")
    _add_timeout(p, "the new text")

    p = _add_comment_action(
        actions, "reject", "never post this comment: it ends skipped with the reason", cmd_reject
    )
    p.add_argument("--reason", required=True, help="why (kept in the comment's error and history)")

    p = add_plain_command(actions, "approve", "approve comments for 'post --approved'", cmd_approve)
    p.add_argument("ids", nargs="+", metavar="ID", help="comment (work item) ids")

    for action in actions.choices.values():
        # SUPPRESS: `comments --json ACTION …` (the group's flag) is not undone by the action's default.
        add_json_flag(action, default=argparse.SUPPRESS)
    assert isinstance(actions, _ActionOrListing)  # add_subparsers is declared to return the base class
    actions._name_parser_map.any_word = True


def _is_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


# --- list and show -----------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    for name, default in (("status", None), ("full", False), ("json", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    return cmd_comments(args)


def comment_view(session: Session, item: AIComment, process: MonitoringProcess) -> dict[str, Any]:
    """Everything a reviewer sees about one comment (`comments show`); ours and the site's, no secrets."""
    login = session.get(MyMomentLogin, item.login_id)
    template = session.get(PromptTemplate, item.prompt_template_id) if item.prompt_template_id else None
    provider = session.get(LLMProvider, item.llm_provider_id) if item.llm_provider_id else None
    prompt = None
    if item.prompt_template_id:
        prompt = {
            "id": item.prompt_template_id,
            "name": template.name if template else None,
            "version": item.prompt_template_version,  # the version the text was generated with
            "current_version": template.version if template else None,
        }
    return {
        "id": item.id,
        "status": item.status,
        "error": item.error,
        "process": {"id": process.id, "name": process.name, "require_approval": process.require_approval},
        "login": login.name if login else None,
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
        "prompt_template": prompt,
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
        "hidden": item.is_hidden,
        "generation_attempts": attempts.for_items(session, [item.id])[item.id],
        "history": [
            {
                "kind": event.kind,
                "at": event.created_at,
                "actor": event.actor,
                "detail": event.detail,
                "comment_html": event.comment_html,
            }
            for event in review.history(session, item.id)
        ],
    }


async def cmd_show(args: argparse.Namespace) -> int:
    ctx = Context(args)
    with ctx.db() as session:
        item, process = review.item_for_user(session, ctx.user(session), args.id)
        view = comment_view(session, item, process)
    if item.status in QUEUED_FOR_WORKFLOW:
        for note in await _queued_notes(ctx, item.id):
            _warn(note)
    if _is_json(args):
        print_json(view)
    else:
        _print_view(view)
    return 0


async def _queued_notes(ctx: Context, item_id: str) -> list[str]:
    """A queued post or regeneration of the comment that no worker would take; nothing when Temporal
    cannot be asked (showing a comment needs only the database)."""
    client, _error = await try_connect(ctx.settings, timeout=QUICK_CONNECT_SECONDS)
    return await queued_comment_notes(client, ctx.settings, {item_id}) if client is not None else []


def _print_view(view: dict[str, Any]) -> None:
    article, prompt = view["article"], view["prompt_template"]
    print(f"comment {view['id']}: {view['status']}{' - ' + view['error'] if view['error'] else ''}")
    print(f"  process {view['process']['name']}, login {view['login'] or '-'}")
    print(f"  article {article['id']}: {article['title'] or '-'} by {article['author'] or '-'}")
    print(f"  link {article['url'] or '-'}")
    if prompt:
        current = prompt["current_version"]
        changed = f", now version {current}" if current and current != prompt["version"] else ""
        print(f"  prompt {prompt['name'] or prompt['id']} (version {prompt['version'] or '-'}{changed})")
    print(
        f"  model {view['model'] or '-'} ({view['provider'] or '-'}), {view['tokens']} tokens, "
        f"{view['generation_ms'] or 0} ms, generated {_when(view['generated_at'])}"
    )
    if view["approved_at"]:
        print(f"  approved {_when(view['approved_at'])} by {view['approved_by']}")
    elif view["waits_for_approval"]:
        print("  waits for approval (the process requires it)")
    if view["posted_at"]:
        print(f"  posted {_when(view['posted_at'])}")
    print("\n  As it will appear:" if view["status"] != S.POSTED else "\n  As it was posted:")
    for line in view["comment_lines"] or ["(no comment yet)"]:
        for wrapped in textwrap.wrap(line, width=90) or [""]:
            print(INDENT + wrapped)
    if view["generation_attempts"]:
        print("\n  Generation attempts:")
    for t in view["generation_attempts"]:
        reasons = "; ".join(f"{r.get('check')}: {r.get('message')}" for r in t["reasons"])
        verdict = "accepted" if t["accepted"] else f"rejected: {reasons}"
        print(
            f"{INDENT}{t['number']}. {_when(t['created_at'])}, {t['tokens']} tokens, {t['ms']} ms: {verdict}"
        )
    if view["history"]:
        print("\n  History:")
    for event in view["history"]:
        who = f" by {event['actor']}" if event["actor"] else ""
        detail = f": {event['detail']}" if event["detail"] else ""
        print(f"{INDENT}{_when(event['at'])} {event['kind']}{who}{detail}")


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


# --- edit --------------------------------------------------------------------------------------------


def cmd_edit(args: argparse.Namespace) -> int:
    ctx = Context(args)
    with ctx.db() as session:
        user = ctx.user(session)
        item, _process = review.item_for_user(session, user, args.id)
        if item.status != S.GENERATED:
            raise ValidationError([review.refusal(item, "edited")])
        item_id, started_from, actor = item.id, item.comment_html, user.email
        was_approved = item.approved_at is not None
        messages, article_text = _gate_inputs(session, ctx, item)
    text = _edited_text(args, started_from or "")
    s = ctx.settings
    verdict = judge_edit(
        text,
        messages,
        min_length=s.comment_min_length,
        max_length=s.comment_max_length,
        extra_line=s.ai_comment_extra_line,
        article_text=article_text,
    )
    if verdict.problems:
        raise ValidationError(
            [f"the edited comment is refused, nothing changed: {describe(verdict.problems)}"]
        )
    if verdict.html != started_from:
        with ctx.db() as session:
            review.edit(session, item_id, started_from, verdict.html, actor)
    elif not _is_json(args):
        print("the comment is unchanged")
        return 0
    with ctx.db() as session:
        item, process = review.item_for_user(session, accounts.get_user(session, actor), item_id)
        view = comment_view(session, item, process)
    if _is_json(args):
        print_json(view)
    else:
        print(f"comment {item_id} edited; 'starter.py comments show {item_id}' shows it")
        if was_approved:
            print(
                f"its approval was for the old text: approve it again ('starter.py comments approve {item_id}')"
            )
    return 0


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


def _edited_text(args: argparse.Namespace, current_html: str) -> str:
    """The reviewer's text from --text-file, stdin ('-') or $VISUAL/$EDITOR on the current comment."""
    try:
        if args.text_file == "-":
            text = sys.stdin.read()
        elif args.text_file:
            text = Path(args.text_file).read_text(encoding="utf-8")
        else:
            text = _run_editor(current_html)
    except UnicodeError:
        raise ValidationError(["the edited text is not UTF-8; nothing changed"]) from None
    except OSError as exc:
        raise ValidationError(
            [f"cannot read {args.text_file}: {exc.strerror or exc}; nothing changed"]
        ) from None
    if not text.strip():
        raise ValidationError(["the edited text is empty; nothing changed"])
    return text


def _run_editor(current_html: str) -> str:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        raise ValidationError(
            ["set $EDITOR, or give the new text with --text-file FILE (--text-file - for stdin)"]
        )
    # One paragraph per line: readable, and plain text without tags is accepted as well.
    with tempfile.NamedTemporaryFile("w", suffix=".html", encoding="utf-8", delete=False) as handle:
        handle.write(current_html.replace("</p>", "</p>\n"))
        path = handle.name
    try:
        try:
            code = subprocess.run([*shlex.split(editor), path], check=False).returncode
        except OSError as exc:  # not found, not executable
            raise ValidationError(
                [f"cannot start the editor {editor!r}: {exc.strerror or exc}; nothing changed"]
            ) from None
        if code != 0:
            raise ValidationError([f"the editor exited with {code}; nothing changed"])
        return Path(path).read_text(encoding="utf-8")
    finally:
        os.unlink(path)


# --- regenerate --------------------------------------------------------------------------------------


def _template(session: Session, user: User, ref: str | None, item: AIComment) -> PromptTemplate:
    """--prompt (one of the user's templates or a system one), else the template the comment was made with."""
    if ref is None:
        template = session.get(PromptTemplate, item.prompt_template_id) if item.prompt_template_id else None
        if template is None or not template.is_active:
            raise ValidationError([f"comment {item.id}'s template is gone; name one with --prompt"])
        return template
    template = session.scalar(
        select(PromptTemplate).where(
            PromptTemplate.is_active,
            (PromptTemplate.id == ref) | (PromptTemplate.name == ref),
            (PromptTemplate.user_id == user.id) | (PromptTemplate.category == TemplateCategory.SYSTEM),
        )
    )
    if template is None:
        raise ValidationError([f"template '{ref}' is not one of your templates nor a system template"])
    return template


async def cmd_regenerate(args: argparse.Namespace) -> int:
    ctx = Context(args)
    with ctx.db() as session:
        user = ctx.user(session)
        item, _process = review.item_for_user(session, user, args.id)
        template = _template(session, user, args.prompt, item)
        inp = RegenerateInput(item_id=item.id, template_id=template.id, actor=user.email)
        # generated → regenerating here, so nothing posts or edits it from now on; an item left in
        # `regenerating` by a start that never happened is started again below.
        moved = review.begin_regeneration(session, item)
    try:
        client = await connect(ctx.settings)
        handle = await processes_client.start_regenerate(client, ctx.settings, inp)
    except WorkflowAlreadyStartedError:
        if moved:
            _cancel(ctx, inp.item_id)
        return fail(
            f"comment {inp.item_id} is being regenerated already; wait for it "
            f"('starter.py comments show {inp.item_id}')"
        )
    except BaseException:
        if moved:
            _cancel(ctx, inp.item_id)
        raise
    _warn(await no_worker_warning(client, ctx.settings))
    try:
        result = await asyncio.wait_for(handle.result(), args.timeout)
    except TimeoutError:
        return await comment_timed_out(ctx, client, handle.id, inp.item_id, "regenerated", args.timeout)
    with ctx.db() as session:
        item, process = review.item_for_user(session, accounts.get_user(session, inp.actor), inp.item_id)
        view = comment_view(session, item, process)
    if _is_json(args):
        print_json({**result.model_dump(), "comment": view})
    elif result.regenerated:
        print(f"comment {inp.item_id} regenerated with {template.name}:")
        for line in view["comment_lines"]:
            print(INDENT + line)
    if not result.regenerated:
        return fail(
            f"comment {inp.item_id} not regenerated: {result.reason}; the previous text stays",
            NOT_REGENERATED,
        )
    return 0


def _cancel(ctx: Context, item_id: str) -> None:
    with ctx.db() as session:
        review.cancel_regeneration(session, item_id)


# --- reject and approve ------------------------------------------------------------------------------


def cmd_reject(args: argparse.Namespace) -> int:
    reason = " ".join(args.reason.split())
    if not reason or len(reason) > REASON_MAX:
        raise ValidationError([f"--reason must say why, in 1 to {REASON_MAX} characters"])
    ctx = Context(args)
    with ctx.db() as session:
        user = ctx.user(session)
        item, _process = review.item_for_user(session, user, args.id)
        review.reject(session, item, reason, user.email)
        item_id = item.id
    emit(args, {"id": item_id, "status": S.SKIPPED, "reason": reason})
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    """All or nothing: one comment that cannot be approved leaves every other one as it was."""
    ctx = Context(args)
    rows = []
    with ctx.db() as session:
        user = ctx.user(session)
        for ref in dict.fromkeys(args.ids):
            item, _process = review.item_for_user(session, user, ref)
            approved_at = review.approve(session, item, user.email)
            rows.append({"id": item.id, "approved_at": approved_at, "approved_by": user.email})
    emit(args, rows, ["id", "approved_at", "approved_by"])
    return 0
