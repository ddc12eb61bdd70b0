"""Reviewing comments: `comments PROCESS` lists them; show, edit, regenerate, reject and approve one,
undo (unapprove, reopen, restore), and `comments review`, the loop over all that wait.

Every change is a compare-and-set in the database (yourmoment/store/review.py): a comment that is
being posted, has been posted or is being regenerated is never changed, whatever runs at the same time.
The loop (yourmoment/cli/review_loop.py) calls the functions here, so it follows the same rules.
"""

from __future__ import annotations

import argparse
import asyncio
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from temporalio.exceptions import WorkflowAlreadyStartedError

from yourmoment import processes_client
from yourmoment.cli.common import Context, Handler, add_json_flag, add_plain_command, emit, fail, print_json
from yourmoment.cli.editor import edit_in_editor, read_text_file
from yourmoment.cli.run_cmds import (
    DEFAULT_WAIT_SECONDS,
    _add_timeout,
    _seconds,
    _warn,
    cmd_comments,
    comment_timed_out,
)
from yourmoment.crypto import Encryptor
from yourmoment.errors import ValidationError
from yourmoment.llm.comments import visible_lines
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


class _ActionOrListing(argparse._SubParsersAction):  # type: ignore[type-arg]
    """`comments PROCESS` (no action named) is `comments list PROCESS`, as it was before the actions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._name_parser_map = self.choices = _ActionNames()  # type: ignore[assignment]

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
        "--waiting",
        action="store_true",
        default=argparse.SUPPRESS,
        help="only generated comments nobody approved yet (what 'comments review' walks)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        default=argparse.SUPPRESS,
        help="each comment's text under its row (--json: the HTML)",
    )


def _add_comment_action(
    actions: argparse._SubParsersAction,
    name: str,
    help_text: str,
    handler: Handler,
    examples: tuple[str, ...] = (),
) -> argparse.ArgumentParser:
    """An action on one comment, named by its id."""
    parser = add_plain_command(actions, name, help_text, handler, examples)
    parser.add_argument("id", help="the comment (work item) id")
    return parser


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser(
        "comments",
        help="work items (comments) of a process, and reviewing them (review, show, edit, regenerate, "
        "reject, approve and undo)",
        description="'comments PROCESS' lists a process's comments (the same as 'comments list PROCESS'); "
        "'comments review' walks the ones waiting for a decision; the other actions review one comment, "
        "named by its id (or 8+ characters of it).",
    )
    _listing_options(group)
    add_json_flag(group, default=argparse.SUPPRESS)
    actions = group.add_subparsers(dest="comments_command", metavar="ACTION", action=_ActionOrListing)
    actions.required = True

    # Each action's `--json` comes after its other options, added at the end of this function.
    p = add_plain_command(
        actions,
        LIST_ACTION,
        "the process's comments (the default: 'comments PROCESS')",
        cmd_list,
        ('starter.py comments "Klasse 82" --waiting',),
    )
    p.add_argument("process", help="process id, id prefix or name")
    _listing_options(p)

    p = add_plain_command(
        actions,
        "review",
        "walk the comments waiting for a decision, one screen each (needs a terminal)",
        cmd_review,
        ('starter.py comments review "Klasse 82"', "starter.py comments review"),
    )
    p.add_argument("process", nargs="?", help="process id, id prefix or name (default: all your processes)")
    p.add_argument(
        "--prompt", metavar="TEMPLATE", help="template for the regenerate key (default: the comment's own)"
    )
    p.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_WAIT_SECONDS,
        help=f"seconds the regenerate key waits for a new text (default {DEFAULT_WAIT_SECONDS:g})",
    )

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
        actions,
        "regenerate",
        "a new text from the model (needs a running worker)",
        cmd_regenerate,
        ("starter.py comments regenerate 3f2a9c1e --discard-edit",),
    )
    p.add_argument("--prompt", metavar="TEMPLATE", help="template name or id (default: the comment's own)")
    p.add_argument(
        "--discard-edit",
        action="store_true",
        help="replace a text a person edited (refused without it; 'comments restore' brings it back)",
    )
    _add_timeout(p, "the new text")

    p = _add_comment_action(
        actions, "reject", "never post this comment: it ends skipped with the reason", cmd_reject
    )
    p.add_argument("--reason", required=True, help="why (kept in the comment's error and history)")

    p = add_plain_command(actions, "approve", "approve comments for 'post --approved'", cmd_approve)
    p.add_argument("ids", nargs="+", metavar="ID", help="comment (work item) ids")

    p = add_plain_command(
        actions,
        "unapprove",
        "take approvals back: the comments wait again",
        cmd_unapprove,
        ("starter.py comments unapprove 3f2a9c1e",),
    )
    p.add_argument("ids", nargs="+", metavar="ID", help="comment (work item) ids")

    _add_comment_action(
        actions,
        "reopen",
        "a rejected comment back to generated, to review it again",
        cmd_reopen,
        ("starter.py comments reopen 3f2a9c1e",),
    )

    p = _add_comment_action(
        actions,
        "restore",
        "an earlier text of the comment back ('comments show' lists its versions)",
        cmd_restore,
        ("starter.py comments restore 3f2a9c1e --version 1",),
    )
    p.add_argument(
        "--version",
        type=int,
        required=True,
        metavar="N",
        help="the version to bring back (1: the model's first text)",
    )

    for name, action in actions.choices.items():
        if name == "review":
            continue  # a screen for a person, nothing for scripts
        # SUPPRESS: `comments --json ACTION …` (the group's flag) is not undone by the action's default.
        add_json_flag(action, default=argparse.SUPPRESS)
    actions._name_parser_map.any_word = True  # type: ignore[attr-defined]


def _is_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def cmd_review(args: argparse.Namespace) -> int:
    from yourmoment.cli.review_loop import run_review  # rich only for the command that draws screens

    return run_review(args)


# --- list and show -----------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    for name, default in (("status", None), ("waiting", False), ("full", False), ("json", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    return cmd_comments(args)


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


def cmd_show(args: argparse.Namespace) -> int:
    ctx = Context(args)
    with ctx.db() as session:
        item, process = review.item_for_user(session, ctx.user(session), args.id)
        view = comment_view(session, item, process, ctx.encryptor)
    if _is_json(args):
        print_json(view)
    else:
        _print_view(view)
    return 0


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


def _print_view(view: dict[str, Any]) -> None:
    article = view["article"]
    print(f"comment {view['id']}: {view['status']}{' - ' + view['error'] if view['error'] else ''}")
    print(f"  process {view['process']['name']}, {posting_line(view)}")
    print(f"  article {article['id']}: {article['title'] or '-'} by {article['author'] or '-'}")
    print(f"  link {article['url'] or '-'}")
    if view["prompt_template"]:
        print(f"  prompt {template_label(view['prompt_template'])}")
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
    if len(view["versions"]) > 1:
        print(f"\n  Versions (now {view['version']}; 'comments restore {view['id']} --version N'):")
    for v in view["versions"] if len(view["versions"]) > 1 else []:
        print(
            f"{INDENT}{v['version']}. {_when(v['at'])} {v['kind']}{' by ' + v['actor'] if v['actor'] else ''}"
        )
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


# --- edit and restore --------------------------------------------------------------------------------


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


def cmd_edit(args: argparse.Namespace) -> int:
    ctx = Context(args)
    with ctx.db() as session:
        actor = ctx.user(session).email

    def new_text(current_html: str) -> str:
        return read_text_file(args.text_file) if args.text_file else run_editor(current_html)

    item_id, changed, was_approved = edit_comment(ctx, actor, args.id, new_text)
    if not changed and not _is_json(args):
        print("the comment is unchanged")
        return 0
    if _is_json(args):
        print_json(load_view(ctx, actor, item_id))
        return 0
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


def cmd_restore(args: argparse.Namespace) -> int:
    if args.version < 1:
        raise ValidationError([f"--version must be 1 or more, not {args.version}"])
    ctx = Context(args)
    with ctx.db() as session:
        actor = ctx.user(session).email
    item_id, changed = restore_comment(ctx, actor, args.id, args.version)
    if _is_json(args):
        print_json(load_view(ctx, actor, item_id))
    elif changed:
        print(
            f"comment {item_id}: version {args.version} restored; 'starter.py comments show {item_id}' shows it"
        )
    else:
        print(f"comment {item_id} is at version {args.version} already; nothing changed")
    return 0


# --- regenerate --------------------------------------------------------------------------------------


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
            f"({_when(edited.at)}, version {edited.number}); nothing changed. "
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
        # generated → regenerating here, so nothing posts or edits it from now on; an item left in
        # `regenerating` by a start that never happened is started again below.
        moved = review.begin_regeneration(session, item)
    try:
        client = await connect(ctx.settings)
        handle = await processes_client.start_regenerate(client, ctx.settings, inp)
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


async def cmd_regenerate(args: argparse.Namespace) -> int:
    ctx = Context(args)
    with ctx.db() as session:
        actor = ctx.user(session).email
    done = await regenerate_comment(ctx, actor, args.id, args.prompt, args.timeout, args.discard_edit)
    if done.result is None:
        return done.exit_code
    view = load_view(ctx, actor, done.item_id)
    if _is_json(args):
        print_json({**done.result.model_dump(), "comment": view})
    elif done.result.regenerated:
        print(f"comment {done.item_id} regenerated with {done.template_name}:")
        for line in view["comment_lines"]:
            print(INDENT + line)
    if not done.result.regenerated:
        return fail(
            f"comment {done.item_id} not regenerated: {done.result.reason}; the previous text stays",
            NOT_REGENERATED,
        )
    return 0


def _cancel(ctx: Context, item_id: str) -> None:
    with ctx.db() as session:
        review.cancel_regeneration(session, item_id)


# --- reject, approve and their undo ------------------------------------------------------------------


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


def cmd_reject(args: argparse.Namespace) -> int:
    reason = clean_reason(args.reason)
    ctx = Context(args)
    with ctx.db() as session:
        actor = ctx.user(session).email
    item_id = reject_comment(ctx, actor, args.id, reason)
    emit(args, {"id": item_id, "status": S.SKIPPED, "reason": reason})
    return 0


def approve_comment(session: Session, user: User, ref: str) -> dict[str, Any]:
    item, _process = review.item_for_user(session, user, ref)
    approved_at = review.approve(session, item, user.email)
    return {"id": item.id, "approved_at": approved_at, "approved_by": user.email}


def cmd_approve(args: argparse.Namespace) -> int:
    """All or nothing: one comment that cannot be approved leaves every other one as it was."""
    ctx = Context(args)
    with ctx.db() as session:
        user = ctx.user(session)
        rows = [approve_comment(session, user, ref) for ref in dict.fromkeys(args.ids)]
    emit(args, rows, ["id", "approved_at", "approved_by"])
    return 0


def cmd_unapprove(args: argparse.Namespace) -> int:
    """All or nothing, like approve."""
    ctx = Context(args)
    rows = []
    with ctx.db() as session:
        user = ctx.user(session)
        for ref in dict.fromkeys(args.ids):
            item, _process = review.item_for_user(session, user, ref)
            review.unapprove(session, item, user.email)
            rows.append({"id": item.id, "approved_at": None, "unapproved_by": user.email})
    if _is_json(args):
        print_json(rows)
    else:
        for row in rows:
            print(f"comment {row['id']}: approval taken back; it waits for a decision again")
    return 0


def cmd_reopen(args: argparse.Namespace) -> int:
    ctx = Context(args)
    with ctx.db() as session:
        user = ctx.user(session)
        item, _process = review.item_for_user(session, user, args.id)
        review.reopen(session, item, user.email)
        item_id = item.id
    if _is_json(args):
        print_json(load_view(ctx, user.email, item_id))
    else:
        print(
            f"comment {item_id} reopened: generated again, waiting for a decision "
            f"('starter.py comments show {item_id}')"
        )
    return 0
