"""Reviewing comments: `comments PROCESS` lists them; show, edit, regenerate, reject and approve one,
undo (unapprove, reopen, restore), and `comments review`, the loop over all that wait.

Every change is a compare-and-set in the database (yourmoment/store/review.py): a comment that is
being posted, has been posted or is being regenerated is never changed, whatever runs at the same time.
The commands and the loop (yourmoment/cli/review_loop.py) call the same functions
(yourmoment/cli/review_actions.py), so both follow the same rules.
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

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
from yourmoment.cli.editor import read_text_file
from yourmoment.cli.review_actions import (
    NOT_REGENERATED,
    approve_comment,
    clean_reason,
    comment_view,
    edit_comment,
    load_view,
    posting_line,
    regenerate_comment,
    reject_comment,
    restore_comment,
    run_editor,
    template_label,
    when,
)
from yourmoment.cli.run_cmds import (
    DEFAULT_WAIT_SECONDS,
    QUEUED_FOR_WORKFLOW,
    _add_timeout,
    _seconds,
    _warn,
    cmd_comments,
    queued_comment_notes,
)
from yourmoment.errors import ValidationError
from yourmoment.statuses import CommentStatus
from yourmoment.store import review

S = CommentStatus
LIST_ACTION = "list"
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
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    handler: Handler,
    examples: tuple[str, ...] = (),
) -> argparse.ArgumentParser:
    """An action on one comment, named by its id."""
    parser = add_plain_command(actions, name, help_text, handler, examples)
    parser.add_argument("id", help="the comment (work item) id")
    return parser


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    assert isinstance(actions, _ActionOrListing)  # add_subparsers is declared to return the base class
    actions._name_parser_map.any_word = True


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


async def cmd_show(args: argparse.Namespace) -> int:
    ctx = Context(args)
    with ctx.db() as session:
        item, process = review.item_for_user(session, ctx.user(session), args.id)
        view = comment_view(session, item, process, ctx.encryptor)
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
    article = view["article"]
    print(f"comment {view['id']}: {view['status']}{' - ' + view['error'] if view['error'] else ''}")
    print(f"  process {view['process']['name']}, {posting_line(view)}")
    print(f"  article {article['id']}: {article['title'] or '-'} by {article['author'] or '-'}")
    print(f"  link {article['url'] or '-'}")
    if view["prompt_template"]:
        print(f"  prompt {template_label(view['prompt_template'])}")
    print(
        f"  model {view['model'] or '-'} ({view['provider'] or '-'}), {view['tokens']} tokens, "
        f"{view['generation_ms'] or 0} ms, generated {when(view['generated_at'])}"
    )
    if view["approved_at"]:
        print(f"  approved {when(view['approved_at'])} by {view['approved_by']}")
    elif view["waits_for_approval"]:
        print("  waits for approval (the process requires it)")
    if view["posted_at"]:
        print(f"  posted {when(view['posted_at'])}")
    print("\n  As it will appear:" if view["status"] != S.POSTED else "\n  As it was posted:")
    for line in view["comment_lines"] or ["(no comment yet)"]:
        for wrapped in textwrap.wrap(line, width=90) or [""]:
            print(INDENT + wrapped)
    if len(view["versions"]) > 1:
        print(f"\n  Versions (now {view['version']}; 'comments restore {view['id']} --version N'):")
    for v in view["versions"] if len(view["versions"]) > 1 else []:
        print(
            f"{INDENT}{v['version']}. {when(v['at'])} {v['kind']}{' by ' + v['actor'] if v['actor'] else ''}"
        )
    if view["generation_attempts"]:
        print("\n  Generation attempts:")
    for t in view["generation_attempts"]:
        reasons = "; ".join(f"{r.get('check')}: {r.get('message')}" for r in t["reasons"])
        verdict = "accepted" if t["accepted"] else f"rejected: {reasons}"
        print(
            f"{INDENT}{t['number']}. {when(t['created_at'])}, {t['tokens']} tokens, {t['ms']} ms: {verdict}"
        )
    if view["history"]:
        print("\n  History:")
    for event in view["history"]:
        who = f" by {event['actor']}" if event["actor"] else ""
        detail = f": {event['detail']}" if event["detail"] else ""
        print(f"{INDENT}{when(event['at'])} {event['kind']}{who}{detail}")


# --- edit and restore --------------------------------------------------------------------------------


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


# --- reject, approve and their undo ------------------------------------------------------------------


def cmd_reject(args: argparse.Namespace) -> int:
    reason = clean_reason(args.reason)
    ctx = Context(args)
    with ctx.db() as session:
        actor = ctx.user(session).email
    item_id = reject_comment(ctx, actor, args.id, reason)
    emit(args, {"id": item_id, "status": S.SKIPPED, "reason": reason})
    return 0


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
