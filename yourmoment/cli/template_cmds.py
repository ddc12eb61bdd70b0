"""`template`: add, list, seed, show, edit (a new version; the old one stays) and retire prompt templates."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from yourmoment.cli.common import Context, add_command, command_group, emit, print_json
from yourmoment.cli.editor import edit_in_editor, read_text_file
from yourmoment.errors import ValidationError
from yourmoment.store import templates
from yourmoment.store.models import PromptTemplate

SYSTEM_HEADING = "### system prompt"
USER_HEADING = "### user prompt template"
_HEADING = re.compile(r"^### (system prompt|user prompt template)[ \t]*$", re.MULTILINE)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = command_group(sub, "template", "prompt templates: add, show, edit (new version), retire")
    add = add_command(
        group,
        "add",
        "add one of your own templates (names are unique, any case or spacing)",
        cmd_template_add,
        ('starter.py template add "Mein Feedback" --system-file system.txt --user-file user.txt',),
    )
    add.add_argument("name")
    system = add.add_mutually_exclusive_group(required=True)
    system.add_argument("--system-file", type=Path, help="file with the system prompt")
    system.add_argument("--system", help="the system prompt")
    user = add.add_mutually_exclusive_group(required=True)
    user.add_argument("--user-file", type=Path, help="file with the user prompt template")
    user.add_argument("--user", dest="user_prompt", help="the user prompt template")
    add_command(
        group,
        "list",
        "your templates and the shared system templates",
        cmd_template_list,
        ("starter.py template list",),
    )
    add_command(group, "seed", "add the German system templates that are missing", cmd_template_seed)

    show = add_command(
        group,
        "show",
        "a template's text, versions and the processes that have it",
        cmd_template_show,
        (
            'starter.py template show "Mein Feedback" --version 1',
            'starter.py template show "Mein Feedback" --text > t.txt',
        ),
    )
    show.add_argument("name", help="template name or id")
    show.add_argument(
        "--version", type=int, metavar="N", help="an earlier version's text (default: the current)"
    )
    show.add_argument(
        "--text", action="store_true", help="only the text, in the form 'template edit --text-file' reads"
    )

    edit = add_command(
        group,
        "edit",
        "change your template: a new version (comments made with the old one keep naming it)",
        cmd_template_edit,
        (
            'starter.py template edit "Mein Feedback"',
            'starter.py template edit "Mein Feedback" --text-file t.txt',
        ),
    )
    edit.add_argument("name", help="template name or id")
    edit.add_argument(
        "--text-file",
        metavar="FILE",
        help=f"the new text from FILE ('-': stdin) instead of $EDITOR: '{SYSTEM_HEADING}' and "
        f"'{USER_HEADING}' lines before the two parts",
    )

    retire = add_command(
        group,
        "retire",
        "offer the template to no new process (the processes that have it keep it)",
        cmd_template_retire,
        ('starter.py template retire "Mein Feedback"',),
    )
    retire.add_argument("name", help="template name or id")


def _text_of(text: str | None, path: Path | None) -> str:
    return (text or "") if path is None else read_text_file(str(path))


def _template_dict(tpl: PromptTemplate) -> dict[str, Any]:
    return {
        "id": tpl.id,
        "name": tpl.name,
        "category": tpl.category,
        "version": tpl.version,
        "retired": tpl.retired_at is not None,
        "retired_at": tpl.retired_at,
        "active": tpl.is_active,
    }


def cmd_template_add(args: argparse.Namespace) -> None:
    system = _text_of(args.system, args.system_file)
    user_prompt = _text_of(args.user_prompt, args.user_file)
    ctx = Context(args)
    with ctx.db() as session:
        user = ctx.user(session)
        data = _template_dict(
            templates.add_template(session, user, args.name, system, user_prompt, user.email)
        )
    if args.json:
        print_json(data)
    else:
        print(f"template '{data['name']}' added (id {data['id']}, version 1)")


def cmd_template_list(args: argparse.Namespace) -> None:
    ctx = Context(args)
    with ctx.db() as session:
        rows = [_template_dict(t) for t in templates.list_templates(session, ctx.user(session))]
    emit(args, rows, ["id", "name", "category", "version", "retired"])


def cmd_template_seed(args: argparse.Namespace) -> None:
    with Context(args).db() as session:
        added = templates.seed_system_templates(session)
    if args.json:
        print_json({"added": added})
    else:
        print(f"added {added} system templates" if added else "the system templates are all present")


# --- show, edit, retire ------------------------------------------------------------------------------


def editable_text(system_prompt: str, user_prompt_template: str) -> str:
    """Both parts under their headings: what `show --text` prints and `edit` reads."""
    return f"{SYSTEM_HEADING}\n{system_prompt}\n{USER_HEADING}\n{user_prompt_template}\n"


def parse_editable(text: str) -> tuple[str, str]:
    """(system prompt, user prompt template) from the two-part form; refused without both headings."""
    headings = [(m.group(1), m.start(), m.end()) for m in _HEADING.finditer(text)]
    names = [name for name, _start, _end in headings]
    if names != ["system prompt", "user prompt template"]:
        raise ValidationError(
            [
                f"the text needs a '{SYSTEM_HEADING}' line, the system prompt, a '{USER_HEADING}' line and "
                "the user prompt template, as 'template show NAME --text' prints them; nothing changed"
            ]
        )
    (_, _, system_end), (_, user_start, user_end) = headings

    def part(body: str) -> str:
        return body.removeprefix("\n").removesuffix("\n")

    return part(text[system_end:user_start]), part(text[user_end:])


def cmd_template_show(args: argparse.Namespace) -> None:
    ctx = Context(args)
    with ctx.db() as session:
        template = templates.get_template(session, ctx.user(session), args.name)
        number = args.version if args.version is not None else template.version
        version = templates.version_of(session, template, number)
        data = {
            **_template_dict(template),
            "shown_version": number,
            "system_prompt": version.system_prompt,
            "user_prompt_template": version.user_prompt_template,
            "versions": [
                {"version": v.version, "created_at": v.created_at, "created_by": v.created_by}
                for v in templates.versions(session, template.id)
            ],
            "comments_per_version": templates.comments_made(session, template.id),
            "processes": templates.processes_using(session, template.id),
        }
    if args.json:
        print_json(data)
    elif args.text:
        print(editable_text(data["system_prompt"], data["user_prompt_template"]), end="")
    else:
        _print_template(data)


def _print_template(data: dict[str, Any]) -> None:
    retired = f", retired {data['retired_at']:%Y-%m-%d}" if data["retired"] else ""
    print(f"template {data['name']} ({data['category'].lower()}, id {data['id']}{retired})")
    print(f"  version {data['shown_version']} of {data['version']}")
    for v in data["versions"]:
        made = data["comments_per_version"].get(v["version"], 0)
        by = f" by {v['created_by']}" if v["created_by"] else ""
        print(f"    {v['version']}. {v['created_at']:%Y-%m-%d %H:%M}{by}, {made} comments")
    names = ", ".join(data["processes"]) or "none"
    print(f"  processes that have it: {names}")
    if data["retired"] and data["processes"]:
        print("  retired: offered to no new process; the processes above keep it")
    print()
    print(editable_text(data["system_prompt"], data["user_prompt_template"]), end="")


def cmd_template_edit(args: argparse.Namespace) -> None:
    ctx = Context(args)
    with ctx.db() as session:
        user = ctx.user(session)
        current = templates.own_template(session, user, args.name, "edited")
        before = editable_text(current.system_prompt, current.user_prompt_template)
    text = read_text_file(args.text_file) if args.text_file else edit_in_editor(before, ".txt")
    system_prompt, user_prompt = parse_editable(text)
    with ctx.db() as session:
        template, changed = templates.edit_template(
            session, ctx.user(session), args.name, system_prompt, user_prompt
        )
        data = {**_template_dict(template), "changed": changed}
        users = templates.processes_using(session, template.id)
    if args.json:
        print_json(data)
    elif not changed:
        print(f"template '{data['name']}' is unchanged (version {data['version']})")
    else:
        print(
            f"template '{data['name']}' is now version {data['version']}; comments made before keep naming "
            f"version {data['version'] - 1}"
        )
        if users:
            print(
                f"the processes that have it use version {data['version']} from their next comment: {', '.join(users)}"
            )


def cmd_template_retire(args: argparse.Namespace) -> None:
    ctx = Context(args)
    with ctx.db() as session:
        template, changed = templates.retire_template(session, ctx.user(session), args.name)
        data = {**_template_dict(template), "changed": changed}
        data["processes"] = templates.processes_using(session, template.id)
    if args.json:
        print_json(data)
        return
    print(
        f"template '{data['name']}' {'retired' if changed else 'was retired already'}: offered to no new process"
    )
    if data["processes"]:
        print(f"the processes that have it keep it: {', '.join(data['processes'])}")
