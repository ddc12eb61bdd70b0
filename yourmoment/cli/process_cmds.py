"""Process commands: create, list, show, update and delete monitoring process configurations (docs/cli.md)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from sqlalchemy.orm import Session

from yourmoment.cli.common import Context, add_command, add_plain_command, command_group, emit, print_json
from yourmoment.errors import ValidationError
from yourmoment.messages import ProcessSettings
from yourmoment.store import items, processes
from yourmoment.store.models import LLMProvider, MonitoringProcess, MyMomentLogin, PromptTemplate
from yourmoment.store.processes import ProcessSpec

CLEARABLE_FILTERS = {"category": "category_id", "task": "task_id", "search": "search"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _register_process(sub)


# --- monitoring processes ----------------------------------------------------------------------------


def _register_process(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    process = command_group(sub, "process", "monitoring process configuration")
    create = add_command(process, "create", "configure a new monitoring process", cmd_process_create)
    _add_process_options(create, creating=True)
    add_command(process, "list", "list processes", cmd_process_list)
    show = add_command(
        process, "show", "a process's settings, logins, prompts and work item counts", cmd_process_show
    )
    _add_process_id(show)
    update = add_command(process, "update", "change a process that is not running", cmd_process_update)
    _add_process_id(update)
    _add_process_options(update, creating=False)
    delete = add_plain_command(
        process, "delete", "delete a process that is not running, with its work items", cmd_process_delete
    )
    _add_process_id(delete)
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _add_process_id(parser: argparse.ArgumentParser) -> None:
    """The process an action works on."""
    parser.add_argument("id", help="process id, id prefix (8+ characters) or name")


def _add_process_options(parser: argparse.ArgumentParser, creating: bool) -> None:
    replaces = "" if creating else " (replaces the current list)"
    parser.add_argument("--name")
    parser.add_argument("--description")
    parser.add_argument("--tab", help="'home' or a numeric class id (see 'browse tabs')")
    parser.add_argument("--provider", help="provider name or id")
    parser.add_argument(
        "--login",
        action="append",
        dest="logins",
        metavar="LOGIN",
        help=f"a login name; repeat for several{replaces}",
    )
    parser.add_argument(
        "--prompt",
        action="append",
        dest="prompts",
        metavar="TEMPLATE[:WEIGHT]",
        help=f"template name or id with an optional weight (default 1); repeat{replaces}",
    )
    # Each option's dest is the ProcessSpec field it sets, so the spec is read off the namespace.
    parser.add_argument(
        "--category", dest="category_id", metavar="CATEGORY", type=int, help="myMoment category id filter"
    )
    parser.add_argument("--task", dest="task_id", metavar="TASK", type=int, help="myMoment task id filter")
    parser.add_argument("--search", help="only articles whose title contains this text")
    parser.add_argument(
        "--max-duration",
        dest="max_duration_minutes",
        type=int,
        metavar="MIN",
        help="1-1440 minutes (default 60)",
    )
    parser.add_argument(
        "--interval",
        dest="discovery_interval_seconds",
        type=int,
        metavar="SEC",
        help="discovery interval in seconds (5-86400, default ARTICLE_DISCOVERY_INTERVAL_SECONDS)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--post", dest="generate_only", action="store_false", default=None, help="post comments on myMoment"
    )
    mode.add_argument(
        "--generate-only",
        dest="generate_only",
        action="store_true",
        default=None,
        help="only generate comments for review (default)",
    )
    parser.add_argument(
        "--hide",
        dest="hide_comments",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="post comments hidden (default: visible)",
    )
    parser.add_argument(
        "--prompt-mode",
        choices=processes.PROMPT_MODES,
        help="weighted: one prompt per article by weight (default); all: one comment per prompt",
    )
    parser.add_argument(
        "--require-approval",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="post only comments a reviewer approved ('comments approve', then "
        "'post --approved'); default no",
    )
    parser.add_argument(
        "--comment-on-existing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="comment on articles already listed at start (default yes)",
    )
    if not creating:
        parser.add_argument(
            "--clear",
            dest="clear_filters",
            action="append",
            choices=sorted(CLEARABLE_FILTERS),
            default=[],
            help="remove a filter; repeat for several",
        )


def parse_prompt(value: str) -> tuple[str, float]:
    """'Name:2.5' → ('Name', 2.5); a suffix that is not a number belongs to the name (weight 1)."""
    name, sep, weight = value.rpartition(":")
    if sep and name:
        try:
            return name.strip(), float(weight)
        except ValueError:
            pass
    return value.strip(), 1.0


def _spec(args: argparse.Namespace, default_interval: int | None = None) -> ProcessSpec:
    """The options as given (None: not given), with prompts parsed and filter names made columns."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(ProcessSpec) if hasattr(args, f.name)}
    spec = ProcessSpec(**given)
    if spec.discovery_interval_seconds is None:
        spec.discovery_interval_seconds = default_interval
    if args.prompts is not None:
        spec.prompts = [parse_prompt(p) for p in args.prompts]
    spec.clear_filters = [CLEARABLE_FILTERS[name] for name in spec.clear_filters]
    return spec


def process_dict(session: Session, process: MonitoringProcess) -> dict[str, Any]:
    """Everything about a process a user may see (no secrets), for `show` and `--json`."""
    provider = session.get(LLMProvider, process.llm_provider_id) if process.llm_provider_id else None
    return {
        "id": process.id,
        "name": process.name,  # first, as users read it; the settings below repeat it
        "description": process.description,
        "status": process.status,
        "stop_reason": process.stop_reason,
        "last_error": process.last_error,
        "provider": provider.name if provider else None,
        "provider_id": process.llm_provider_id,
        **ProcessSettings.model_validate(process, from_attributes=True).model_dump(),
        "logins": _login_entries(session, process),
        "prompts": _prompt_entries(session, process),
        "totals": items.counts(session, process.id).model_dump(),  # work items of all runs by status
        "started_at": process.started_at,
        "stopped_at": process.stopped_at,
        "created_at": process.created_at,
        "updated_at": process.updated_at,
    }


def _login_entries(session: Session, process: MonitoringProcess) -> list[dict[str, Any]]:
    """The process's logins by name; one deactivated since it was linked counts as inactive."""
    entries = []
    for link in process.logins:
        login = session.get(MyMomentLogin, link.login_id)
        active = link.is_active and bool(login and login.is_active)
        entries.append({"id": link.login_id, "name": login.name if login else None, "active": active})
    return sorted(entries, key=lambda entry: str(entry["name"]))


def _prompt_entries(session: Session, process: MonitoringProcess) -> list[dict[str, Any]]:
    """The process's prompt templates by name, with their weights."""
    entries = []
    for link in process.prompts:
        template = session.get(PromptTemplate, link.template_id)
        name = template.name if template else None
        entries.append(
            {
                "template_id": link.template_id,
                "name": name,
                "weight": link.weight,
                "active": link.is_active,
                "version": template.version if template else None,
                # Retired: offered to no new process; this one keeps it.
                "retired": bool(template and template.retired_at),
            }
        )
    return sorted(entries, key=lambda entry: str(entry["name"]))


def _show_text(data: dict[str, Any]) -> dict[str, Any]:
    """The process as key: value lines, lists folded into one readable line each."""
    text = {k: v for k, v in data.items() if k not in ("logins", "prompts", "totals")}
    text["logins"] = ", ".join(str(login["name"]) for login in data["logins"]) or "-"
    text["prompts"] = (
        ", ".join(
            f"{p['name']} (version {p['version']}, weight {p['weight']:g}"
            f"{', retired: this process keeps it' if p['retired'] else ''})"
            for p in data["prompts"]
        )
        or "-"
    )
    text["work items"] = ", ".join(f"{status} {n}" for status, n in data["totals"].items())
    return text


def cmd_process_create(args: argparse.Namespace) -> None:
    ctx = Context(args)
    with ctx.db() as session:
        spec = _spec(args, default_interval=ctx.settings.article_discovery_interval_seconds)
        process = processes.create_process(session, ctx.user(session), spec)
        data = process_dict(session, process)
    if warning := _cap_warning(data, ctx.settings.max_ai_comments_per_article):
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print_json(data)
    else:
        print(data["id"])


def _cap_warning(data: dict[str, Any], cap: int) -> str | None:
    """A process that asks for more AI comments per article than the cap lets through (it still runs:
    the cap skips the others, docs/rules.md#ai-comments-per-article)."""
    logins = sum(1 for login in data["logins"] if login["active"])
    prompts = sum(1 for prompt in data["prompts"] if prompt["active"])
    per_login = prompts if data["prompt_mode"] == "all" else 1
    wanted = logins * per_login
    if wanted <= cap:
        return None
    how = f"{logins} login(s) x {prompts} prompt(s) in 'all' mode" if per_login > 1 else f"{logins} logins"
    return (
        f"{how} ask for {wanted} AI comments per article, but MAX_AI_COMMENTS_PER_ARTICLE={cap}: "
        f"the comments beyond {cap} per article will be skipped"
    )


def cmd_process_list(args: argparse.Namespace) -> None:
    ctx = Context(args)
    with ctx.db() as session:
        rows = [
            {
                "id": p.id,
                "short_id": p.id[:8],
                "name": p.name,
                "status": p.status,
                "tab": p.tab,
                "logins": len(p.logins),
                "prompts": len(p.prompts),
                "generate_only": p.generate_only,
                "max_duration_minutes": p.max_duration_minutes,
                "created_at": p.created_at,
            }
            for p in processes.list_processes(session, ctx.user(session))
        ]
    if args.json:
        print_json(rows)
    else:
        emit(
            args,
            [{**r, "id": r["short_id"]} for r in rows],
            ["id", "name", "status", "tab", "logins", "prompts", "generate_only", "created_at"],
        )


def cmd_process_show(args: argparse.Namespace) -> None:
    ctx = Context(args)
    with ctx.db() as session:
        data = process_dict(session, processes.get_process(session, ctx.user(session), args.id))
    if args.json:
        print_json(data)
    else:
        emit(args, _show_text(data))


def cmd_process_update(args: argparse.Namespace) -> None:
    ctx = Context(args)
    with ctx.db() as session:
        user = ctx.user(session)
        process = processes.get_process(session, user, args.id)
        processes.update_process(session, user, process, _spec(args))
        session.flush()
        data = process_dict(session, process)
    if warning := _cap_warning(data, ctx.settings.max_ai_comments_per_article):
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print_json(data)
    else:
        print(f"process '{data['name']}' updated")


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise ValidationError(["not a terminal: pass --yes to confirm"])
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes", "j", "ja")


def cmd_process_delete(args: argparse.Namespace) -> int:
    ctx = Context(args)
    with ctx.db() as session:
        process = processes.get_process(session, ctx.user(session), args.id)
        name, total = process.name, sum(items.counts(session, process.id).model_dump().values())
        if not args.yes and not _confirm(f"Delete process '{name}' and its {total} work items?"):
            print("not deleted")
            return 1
        processes.delete_process(session, process)
    print(f"process '{name}' deleted with {total} work items")
    return 0
