"""`comments review`: the comments waiting for a decision, one screen each, drawn with rich.

Each key runs the same function as the single command (yourmoment/cli/review_actions.py), so every
decision is the same compare-and-set: a comment posted, being posted or regenerated meanwhile is
refused on screen and left as it is. Pupils' texts are shown on the terminal only, never logged.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.prompt import Confirm, Prompt
from rich.table import Table
from rich.text import Text

from yourmoment.cli import review_actions
from yourmoment.cli.common import Context, fail
from yourmoment.errors import YourMomentError
from yourmoment.statuses import CommentStatus
from yourmoment.store import accounts, processes, review
from yourmoment.store.models import AIComment

# key → what it does; the order is the order on screen.
KEYS = {
    "a": "approve",
    "e": "edit",
    "r": "regenerate",
    "x": "reject",
    "s": "skip",
    "q": "quit",
}
SIDE_BY_SIDE_MIN_WIDTH = 100
NOT_A_TERMINAL = (
    "'comments review' needs a terminal (it shows one comment at a time and reads keys); in a script use "
    "'comments PROCESS --waiting --json' and 'comments show|approve|edit|reject ID'"
)


@dataclass
class Screen:
    """One comment to decide on: what the reviewer sees, and whether it still waits."""

    view: dict[str, Any]
    article_title: str
    article_text: str

    @property
    def waiting(self) -> bool:
        return self.view["status"] == CommentStatus.GENERATED and self.view["approved_at"] is None


def run_review(args: argparse.Namespace) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return fail(NOT_A_TERMINAL)
    ctx = Context(args)
    with ctx.db() as session:
        user = ctx.user(session)
        chosen = (
            [processes.get_process(session, user, args.process)]
            if args.process
            else processes.list_processes(session, user)
        )
        process_ids = [p.id for p in chosen]
        item_ids = [item.id for item in review.waiting_items(session, process_ids)]
        actor = user.email
    console = Console(highlight=False)
    if not item_ids:
        console.print("No comment waits for a decision.")
        return 0
    loop = ReviewLoop(ctx, console, actor, args)
    tally: Counter[str] = Counter()
    for position, item_id in enumerate(item_ids, start=1):
        outcome = loop.decide(item_id, position, len(item_ids))
        tally[outcome] += 1
        if outcome == "quit":
            break
    loop.summary(tally, process_ids)
    return 0


class ReviewLoop:
    def __init__(self, ctx: Context, console: Console, actor: str, args: argparse.Namespace) -> None:
        self.ctx = ctx
        self.console = console
        self.actor = actor
        self.args = args

    def load(self, item_id: str) -> Screen:
        with self.ctx.db() as session:
            item, process = review.item_for_user(session, accounts.get_user(session, self.actor), item_id)
            view = review_actions.comment_view(session, item, process, self.ctx.encryptor)
            return Screen(view, item.article_title or "", _pupil_text(item))

    def decide(self, item_id: str, position: int, total: int) -> str:
        """Shows the comment until a key decides it: approved, rejected, skipped, quit, or gone (it
        stopped waiting meanwhile, decided elsewhere)."""
        notice: Text | None = None
        while True:
            screen = self.load(item_id)
            if not screen.waiting:
                self.console.print(
                    f"Comment {item_id} no longer waits (now {screen.view['status']}"
                    f"{', approved' if screen.view['approved_at'] else ''}); next."
                )
                return "gone"
            self.console.clear()
            self.console.print(draw(screen, position, total, self.console.width))
            if notice is not None:
                self.console.print(notice)
            key = self.ask_key()
            try:
                outcome, notice = self.apply(key, screen)
            except YourMomentError as exc:  # a refusal, or Temporal out of reach: the comment stays
                outcome, notice = None, Text(f"not done: {exc}", style="bold red")
            if outcome is not None:
                return outcome

    def ask_key(self) -> str:
        keys = "  ".join(f"[bold]{key}[/bold] {name}" for key, name in KEYS.items())
        self.console.print(keys)
        try:
            return Prompt.ask("Your choice", choices=list(KEYS), console=self.console, show_choices=False)
        except EOFError:  # the input ended (Ctrl-D): as quit
            return "q"

    def apply(self, key: str, screen: Screen) -> tuple[str | None, Text | None]:
        """The key's action; (outcome, None) ends this comment, (None, notice) shows it again."""
        item_id = screen.view["id"]
        if key == "a":
            with self.ctx.db() as session:
                review_actions.approve_comment(session, accounts.get_user(session, self.actor), item_id)
            self.console.print(f"approved {item_id}")
            return "approved", None
        if key == "x":
            reason = Prompt.ask("Why is it rejected", console=self.console)
            review_actions.reject_comment(self.ctx, self.actor, item_id, reason)
            self.console.print(f"rejected {item_id}")
            return "rejected", None
        if key == "s":
            return "skipped", None
        if key == "q":
            return "quit", None
        if key == "e":
            _id, changed, _approved = review_actions.edit_comment(
                self.ctx, self.actor, item_id, review_actions.run_editor
            )
            return None, Text("edited: the new text is shown above" if changed else "unchanged")
        return None, self.regenerate(screen)

    def regenerate(self, screen: Screen) -> Text:
        item_id = screen.view["id"]
        discard = False
        if screen.view["edited_by"] is not None:
            discard = Confirm.ask(
                f"The text was edited by {screen.view['edited_by']}; replace the edit with a new text "
                "(it stays in the history)?",
                console=self.console,
                default=False,
            )
            if not discard:
                return Text("not regenerated: the edit stays")
        self.console.print("asking the model for a new text …")
        done = asyncio.run(
            review_actions.regenerate_comment(
                self.ctx, self.actor, item_id, self.args.prompt, self.args.timeout, discard
            )
        )
        if done.result is None:
            return Text("not regenerated in time: the regeneration goes on ('comments show' tells)", "yellow")
        if not done.result.regenerated:
            return Text(f"not regenerated: {done.result.reason}; the previous text stays", "yellow")
        return Text(f"regenerated with {done.template_name}: the new text is shown above")

    def summary(self, tally: Counter[str], process_ids: list[str]) -> None:
        with self.ctx.db() as session:
            left = len(review.waiting_items(session, process_ids))
        decided = ", ".join(f"{name} {tally[name]}" for name in ("approved", "rejected", "skipped"))
        self.console.print(f"Done: {decided}; {left} still wait for a decision.")
        if tally["approved"]:
            self.console.print("Post what was approved with: starter.py post --approved")


def _pupil_text(item: AIComment) -> str:
    if item.article_content:
        return item.article_content
    return "(the pupil's text was removed after RETENTION_DAYS)"


def draw(screen: Screen, position: int, total: int, width: int) -> Group:
    """The header (process, where and how it is posted, template and model), the pupil's text beside
    the comment as it will appear, side by side when the terminal is wide enough."""
    view = screen.view
    header = Text()
    header.append(f"Comment {position} of {total}", style="bold")
    header.append(f"  {view['id']}  process {view['process']['name']}, article {view['article']['id']}\n")
    header.append(review_actions.posting_line(view) + "\n")
    header.append(
        f"template {review_actions.template_label(view['prompt_template'])}, model {view['model'] or '-'}"
    )
    if view["edited_by"]:
        header.append(f"\nedited by {view['edited_by']} (version {view['version']})")
    pupil = Panel(
        Text(screen.article_text),
        title=Text(f"Pupil's text: {screen.article_title or '-'}"),
        title_align="left",
    )
    comment = Panel(
        Text("\n\n".join(view["comment_lines"]) or "(no comment yet)"),
        title="Comment as it will appear",
        title_align="left",
    )
    if width >= SIDE_BY_SIDE_MIN_WIDTH:
        grid = Table.grid(expand=True, padding=(0, 1))
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        grid.add_row(pupil, comment)
        return Group(header, grid)
    return Group(header, pupil, comment)
