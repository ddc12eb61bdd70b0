"""Configuration commands: db, keygen, user, login, provider, template and process (see docs/rules.md#command-line)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yourmoment.cli.common import Context, add_json_flag, emit, print_json, read_secret
from yourmoment.crypto import Encryptor, generate_key
from yourmoment.errors import ValidationError
from yourmoment.store import accounts, items, processes
from yourmoment.store.db import upgrade
from yourmoment.store.models import (
    LLMProvider,
    MonitoringProcess,
    MyMomentLogin,
    MyMomentSession,
    PromptTemplate,
    User,
)
from yourmoment.store.processes import ProcessSpec

CLEARABLE_FILTERS = {"category": "category_id", "task": "task_id", "search": "search"}


def register(sub: argparse._SubParsersAction) -> None:
    _register_db(sub)
    keygen = sub.add_parser("keygen", help="print a new encryption key for YOURMOMENT_ENCRYPTION_KEY")
    keygen.set_defaults(handler=cmd_keygen)
    _register_user(sub)
    _register_login(sub)
    _register_provider(sub)
    _register_template(sub)
    _register_process(sub)


def _group(sub: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:
    parser = sub.add_parser(name, help=help_text)
    actions = parser.add_subparsers(dest=f"{name}_command", metavar="ACTION")
    actions.required = True
    return actions


# --- db and keygen -----------------------------------------------------------------------------------


def _register_db(sub: argparse._SubParsersAction) -> None:
    db = _group(sub, "db", "database schema and stored secrets")
    up = db.add_parser("upgrade", help="migrate the database to the newest schema")
    add_json_flag(up)
    up.set_defaults(handler=cmd_db_upgrade)
    reenc = db.add_parser(
        "reencrypt", help="re-encrypt every stored secret with the first key of YOURMOMENT_ENCRYPTION_KEY"
    )
    add_json_flag(reenc)
    reenc.set_defaults(handler=cmd_db_reencrypt)


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    revision = upgrade(Context(args).settings.database_url)
    if args.json:
        print_json({"revision": revision})
    else:
        print(revision)


def reencrypt_all(session: Session, enc: Encryptor) -> int:
    """Key rotation, step two: after 'NEW,OLD', rewrite every secret under NEW so OLD can be dropped."""
    count = 0
    for login in session.scalars(select(MyMomentLogin)):
        login.username_enc = enc.rotate(login.username_enc)
        login.password_enc = enc.rotate(login.password_enc)
        count += 2
    for provider in session.scalars(select(LLMProvider).where(LLMProvider.api_key_enc.is_not(None))):
        provider.api_key_enc = enc.rotate(provider.api_key_enc or "")
        count += 1
    for stored in session.scalars(select(MyMomentSession)):
        stored.session_enc = enc.rotate(stored.session_enc)
        count += 1
    return count


def cmd_db_reencrypt(args: argparse.Namespace) -> None:
    ctx = Context(args)
    enc = ctx.encryptor
    with ctx.db() as session:
        count = reencrypt_all(session, enc)
    if args.json:
        print_json({"reencrypted": count})
    else:
        print(f"re-encrypted {count} secrets with the first key; older keys can now be removed")


def cmd_keygen(args: argparse.Namespace) -> None:
    print(generate_key())


# --- users -------------------------------------------------------------------------------------------


def _register_user(sub: argparse._SubParsersAction) -> None:
    user = _group(sub, "user", "users the CLI acts for")
    add = user.add_parser("add", help="add a user")
    add.add_argument("email")
    add_json_flag(add)
    add.set_defaults(handler=cmd_user_add)
    lst = user.add_parser("list", help="list users")
    add_json_flag(lst)
    lst.set_defaults(handler=cmd_user_list)


def _user_dict(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "created_at": user.created_at}


def cmd_user_add(args: argparse.Namespace) -> None:
    with Context(args).db() as session:
        user = accounts.add_user(session, args.email)
        data = _user_dict(user)
    if args.json:
        print_json(data)
    else:
        print(f"user {data['email']} added (id {data['id']})")


def cmd_user_list(args: argparse.Namespace) -> None:
    with Context(args).db() as session:
        rows = [_user_dict(u) for u in session.scalars(select(User).order_by(User.email))]
    emit(args, rows, ["email", "id", "created_at"])


# --- myMoment logins ---------------------------------------------------------------------------------


def _register_login(sub: argparse._SubParsersAction) -> None:
    login = _group(sub, "login", "myMoment logins (credentials stored encrypted)")
    add = login.add_parser("add", help="store a myMoment login; the password is asked for or read from stdin")
    add.add_argument("name", help="your name for this login, e.g. bot-1")
    add.add_argument("--username", required=True, help="the myMoment username")
    add.add_argument("--admin", action="store_true", help="an admin/teacher login (never used by processes)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(handler=cmd_login_add)
    lst = login.add_parser("list", help="list logins (never their passwords)")
    add_json_flag(lst)
    lst.set_defaults(handler=cmd_login_list)
    test = login.add_parser("test", help="open the login's myMoment session and check it")
    test.add_argument("name")
    test.add_argument(
        "--fresh", action="store_true", help="log in anew instead of reusing the stored session"
    )
    add_json_flag(test)
    test.set_defaults(handler=cmd_login_test)
    remove = login.add_parser("remove", help="deactivate a login and drop its stored session")
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_login_remove)


def cmd_login_add(args: argparse.Namespace) -> None:
    ctx = Context(args)
    enc = ctx.encryptor  # a missing key fails before the password is asked for
    with ctx.db() as session:
        user = ctx.user(session)
        password = read_secret(f"myMoment password for {args.username}: ", args.password_stdin)
        login = accounts.add_login(
            session, enc, user, args.name, args.username, password, args.admin,
            base_url=ctx.settings.mymoment_base_url,
        )  # fmt: skip
        name, login_id = login.name, login.id
    kind = "admin/teacher login" if args.admin else "login"
    print(f"{kind} '{name}' added (id {login_id})")


def cmd_login_list(args: argparse.Namespace) -> None:
    ctx = Context(args)
    enc = ctx.encryptor
    with ctx.db() as session:
        rows = [
            {
                "id": login.id,
                "name": login.name,
                "username": accounts.login_username(session, enc, login),
                "admin": login.is_admin,
                "last_used": login.last_used,
            }
            for login in accounts.list_logins(session, ctx.user(session))
        ]
    emit(args, rows, ["name", "username", "admin", "last_used"])


async def cmd_login_test(args: argparse.Namespace) -> int:
    from yourmoment.cli.browse_cmds import check_login

    result = await check_login(Context(args), args.name, fresh=args.fresh)
    if args.json:
        print_json(result)
    elif result["ok"]:
        print(
            f"ok: login '{result['login']}' is logged in to {result['base_url']} ({result['session']} session)"
        )
    else:
        print(f"error: login '{result['login']}': {result['error']}", file=sys.stderr)
    return 0 if result["ok"] else 1


def cmd_login_remove(args: argparse.Namespace) -> None:
    ctx = Context(args)
    with ctx.db() as session:
        accounts.remove_login(session, accounts.get_login(session, ctx.user(session), args.name))
    print(f"login '{args.name}' removed")


# --- LLM providers -----------------------------------------------------------------------------------


def _register_provider(sub: argparse._SubParsersAction) -> None:
    provider = _group(sub, "provider", "LLM providers (API keys stored encrypted)")
    add = provider.add_parser(
        "add", help="store an LLM provider; the API key is asked for or read from stdin"
    )
    add.add_argument("name")
    add.add_argument("--provider", required=True, choices=accounts.PROVIDER_KINDS, dest="kind")
    add.add_argument("--model", required=True)
    add.add_argument("--base-url", help="required for openai-compatible, e.g. http://localhost:11434/v1")
    add.add_argument("--api-key-stdin", action="store_true", help="read the API key from stdin")
    add.add_argument("--temperature", type=float, default=0.7, help="0-2 (default 0.7)")
    add.add_argument("--max-tokens", type=int, default=800, help="default 800")
    add.add_argument("--rpm", type=int, help="requests per minute allowed by the provider")
    _add_load_options(add)
    add.set_defaults(handler=cmd_provider_add)
    change = provider.add_parser(
        "set", help="change settings of a stored provider; running workers use them from the next comment on"
    )
    change.add_argument("name")
    change.add_argument("--model")
    change.add_argument("--base-url", help="empty: the kind's default URL (openai, mistral)")
    change.add_argument("--temperature", type=float, help="0-2")
    change.add_argument("--max-tokens", type=int)
    change.add_argument("--rpm", type=int, help="requests per minute allowed by the provider")
    _add_load_options(change)
    change.add_argument(
        "--api-key-stdin",
        action="store_true",
        help="replace the API key with one read from stdin (an empty line removes it)",
    )
    add_json_flag(change)
    change.set_defaults(handler=cmd_provider_set)
    lst = provider.add_parser("list", help="list providers (never their keys)")
    add_json_flag(lst)
    lst.set_defaults(handler=cmd_provider_list)
    test = provider.add_parser(
        "test",
        help="send one chat request about an invented article as the worker would: latency, tokens, the "
        "quality gate's verdict and what normalising changes; exit 1 when the request fails",
    )
    test.add_argument("name")
    add_json_flag(test)
    test.set_defaults(handler=cmd_provider_test)


def _add_load_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-concurrency",
        type=int,
        metavar="N",
        help="requests in flight at once, per worker process; further comments wait in the worker for a "
        "free slot (default 2 for openai-compatible, 8 for openai and mistral). Each worker allows N, so "
        "two workers in front of one local server send up to 2N. Match it to the server's parallel slots "
        "(llama-server --parallel, OLLAMA_NUM_PARALLEL)",
    )
    parser.add_argument(
        "--structured",
        metavar="json_schema|off",
        help="json_schema: ask for the comment as JSON with a strict schema (the hosted APIs, llama.cpp, "
        "vLLM and Ollama support it); off: plain text (default: json_schema for openai and mistral, off "
        "for openai-compatible)",
    )


def _read_api_key(args: argparse.Namespace) -> str | None:
    """OpenAI and Mistral need a key; a local server only when asked for (stdin) or typed at a prompt."""
    if args.api_key_stdin or args.kind != "openai-compatible":
        return read_secret(f"API key for {args.name}: ", args.api_key_stdin) or None
    if sys.stdin.isatty():
        return read_secret(f"API key for {args.name} (Enter for none): ", False) or None
    return None


def cmd_provider_add(args: argparse.Namespace) -> None:
    ctx = Context(args)
    enc = ctx.encryptor
    with ctx.db() as session:
        user = ctx.user(session)
        row = accounts.add_provider(
            session,
            enc,
            user,
            name=args.name,
            provider=args.kind,
            model=args.model,
            base_url=args.base_url,
            api_key=_read_api_key(args),
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            requests_per_minute=args.rpm,
            max_concurrency=args.max_concurrency,
            structured_output=args.structured,
        )
        name, row_id = row.name, row.id
    print(f"provider '{name}' added (id {row_id})")


def cmd_provider_set(args: argparse.Namespace) -> None:
    ctx = Context(args)
    enc = ctx.encryptor
    with ctx.db() as session:
        row = accounts.get_provider(session, ctx.user(session), args.name)
        api_key = read_secret(f"API key for {row.name}: ", True) if args.api_key_stdin else None
        changed = accounts.update_provider(
            session,
            enc,
            row,
            api_key=api_key,
            model=args.model,
            base_url=args.base_url,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            requests_per_minute=args.rpm,
            max_concurrency=args.max_concurrency,
            structured_output=args.structured,
        )
        data = {**_provider_dict(row), "changed": changed}
    if args.json:
        print_json(data)
        return
    shown = ["API key replaced" if key == "api_key" else f"{key} {data[key]}" for key in changed]
    print(f"provider '{data['name']}' " + (f"changed: {', '.join(shown)}" if changed else "unchanged"))


def _provider_dict(row: LLMProvider) -> dict[str, Any]:
    """What `provider list` shows; concurrency and structured output as they take effect."""
    from yourmoment.llm.client import ProviderConfig

    config = ProviderConfig.from_row(row, None)
    return {
        "id": row.id,
        "name": row.name,
        "provider": row.provider,
        "model": row.model,
        "base_url": row.base_url,
        "api_key_set": row.api_key_enc is not None,
        "temperature": row.temperature,
        "max_tokens": row.max_tokens,
        "requests_per_minute": row.requests_per_minute,
        "max_concurrency": config.concurrency,
        "structured_output": config.structured_mode,
        # Settings that follow the kind's default (NULL in the database), so a new default applies.
        "defaults": [key for key in ("max_concurrency", "structured_output") if getattr(row, key) is None],
    }


PROVIDER_COLUMNS = [
    "name",
    "provider",
    "model",
    "base_url",
    "api_key_set",
    "temperature",
    "max_tokens",
    "requests_per_minute",
    "max_concurrency",
    "structured_output",
]


def _provider_row_text(data: dict[str, Any]) -> dict[str, Any]:
    text = dict(data)
    for key in data["defaults"]:
        text[key] = f"{data[key]} (default)"
    return text


def cmd_provider_list(args: argparse.Namespace) -> None:
    ctx = Context(args)
    with ctx.db() as session:
        rows = [_provider_dict(p) for p in accounts.list_providers(session, ctx.user(session))]
    if not args.json:
        rows = [_provider_row_text(row) for row in rows]
    emit(args, rows, PROVIDER_COLUMNS)


async def cmd_provider_test(args: argparse.Namespace) -> int:
    from yourmoment.errors import LLMPermanentError, LLMTransientError
    from yourmoment.llm.client import ProviderConfig
    from yourmoment.llm.probe import probe_provider

    ctx = Context(args)
    with ctx.db() as session:
        row = accounts.get_provider(session, ctx.user(session), args.name)
        config = ProviderConfig.from_row(row, accounts.provider_api_key(ctx.encryptor, row))
    if sys.stderr.isatty() and not args.json:
        print(f"sending one chat request to {args.name} (timeout {ctx.settings.llm_timeout:g} s) …", file=sys.stderr)
    try:
        result = await probe_provider(args.name, config, ctx.settings)
    except (LLMPermanentError, LLMTransientError) as exc:
        if args.json:
            print_json({"provider": args.name, "ok": False, "error": str(exc)})
        else:
            print(f"error: provider '{args.name}': {exc}", file=sys.stderr)
        return 1
    if args.json:
        print_json({"ok": True, **result.model_dump(mode="json")})
        return 0
    print(f"ok: provider '{result.provider}' ({result.kind}) at {result.base_url}, model {result.model}, "
          f"structured output {result.structured_output}")  # fmt: skip
    print(f"models: {result.model_note}")
    print(f"answer: {result.latency_ms / 1000:.2f} s, {result.prompt_tokens} prompt + "
          f"{result.completion_tokens} completion tokens, finish_reason {result.finish_reason or 'not given'}")  # fmt: skip
    if result.accepted:
        print("gate: accepted")
    else:
        print("gate: rejected; the worker would ask again (up to 3 answers per comment):")
        for problem in result.problems:
            print(f"  {problem.check}: {problem.message}")
    print(f"changes: {'; '.join(result.changes)}")
    print("comment for the invented sample article, as it would be posted:")
    for line in result.comment_lines:
        print(f"  {line}")
    return 0


# --- prompt templates --------------------------------------------------------------------------------


def _register_template(sub: argparse._SubParsersAction) -> None:
    template = _group(sub, "template", "prompt templates")
    add = template.add_parser("add", help="add one of your own templates")
    add.add_argument("name")
    system = add.add_mutually_exclusive_group(required=True)
    system.add_argument("--system-file", type=Path, help="file with the system prompt")
    system.add_argument("--system", help="the system prompt")
    user = add.add_mutually_exclusive_group(required=True)
    user.add_argument("--user-file", type=Path, help="file with the user prompt template")
    user.add_argument("--user", dest="user_prompt", help="the user prompt template")
    add_json_flag(add)
    add.set_defaults(handler=cmd_template_add)
    lst = template.add_parser("list", help="your templates and the shared system templates")
    add_json_flag(lst)
    lst.set_defaults(handler=cmd_template_list)
    seed = template.add_parser("seed", help="add the German system templates that are missing")
    add_json_flag(seed)
    seed.set_defaults(handler=cmd_template_seed)


def _text_of(text: str | None, path: Path | None) -> str:
    if path is None:
        return text or ""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError([f"cannot read {path}: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise ValidationError([f"{path} is not UTF-8 text"]) from None


def _template_dict(tpl: PromptTemplate) -> dict[str, Any]:
    return {"id": tpl.id, "name": tpl.name, "category": tpl.category, "active": tpl.is_active}


def cmd_template_add(args: argparse.Namespace) -> None:
    system = _text_of(args.system, args.system_file)
    user_prompt = _text_of(args.user_prompt, args.user_file)
    ctx = Context(args)
    with ctx.db() as session:
        data = _template_dict(
            accounts.add_template(session, ctx.user(session), args.name, system, user_prompt)
        )
    if args.json:
        print_json(data)
    else:
        print(f"template '{data['name']}' added (id {data['id']})")


def cmd_template_list(args: argparse.Namespace) -> None:
    ctx = Context(args)
    with ctx.db() as session:
        rows = [_template_dict(t) for t in accounts.list_templates(session, ctx.user(session))]
    emit(args, rows, ["id", "name", "category", "active"])


def cmd_template_seed(args: argparse.Namespace) -> None:
    with Context(args).db() as session:
        added = accounts.seed_system_templates(session)
    if args.json:
        print_json({"added": added})
    else:
        print(f"added {added} system templates" if added else "the system templates are all present")


# --- monitoring processes ----------------------------------------------------------------------------


def _register_process(sub: argparse._SubParsersAction) -> None:
    process = _group(sub, "process", "monitoring process configuration")
    create = process.add_parser("create", help="configure a new monitoring process")
    _add_process_options(create, creating=True)
    add_json_flag(create)
    create.set_defaults(handler=cmd_process_create)
    lst = process.add_parser("list", help="list processes")
    add_json_flag(lst)
    lst.set_defaults(handler=cmd_process_list)
    show = process.add_parser("show", help="a process's settings, logins, prompts and work item counts")
    show.add_argument("id", help="process id, id prefix (8+ characters) or name")
    add_json_flag(show)
    show.set_defaults(handler=cmd_process_show)
    update = process.add_parser("update", help="change a process that is not running")
    update.add_argument("id", help="process id, id prefix (8+ characters) or name")
    _add_process_options(update, creating=False)
    add_json_flag(update)
    update.set_defaults(handler=cmd_process_update)
    delete = process.add_parser("delete", help="delete a process that is not running, with its work items")
    delete.add_argument("id", help="process id, id prefix (8+ characters) or name")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(handler=cmd_process_delete)


def _add_process_options(parser: argparse.ArgumentParser, creating: bool) -> None:
    replaces = "" if creating else " (replaces the current list)"
    parser.add_argument("--name")
    parser.add_argument("--description")
    parser.add_argument("--tab", help="'home' or a numeric class id (see 'browse tabs')")
    parser.add_argument("--provider", help="provider name or id")
    parser.add_argument("--login", action="append", dest="logins", metavar="LOGIN",
                        help=f"a login name; repeat for several{replaces}")  # fmt: skip
    parser.add_argument("--prompt", action="append", dest="prompts", metavar="TEMPLATE[:WEIGHT]",
                        help=f"template name or id with an optional weight (default 1); repeat{replaces}")  # fmt: skip
    parser.add_argument("--category", type=int, help="myMoment category id filter")
    parser.add_argument("--task", type=int, help="myMoment task id filter")
    parser.add_argument("--search", help="only articles whose title contains this text")
    parser.add_argument("--max-duration", type=int, metavar="MIN", help="1-1440 minutes (default 60)")
    parser.add_argument(
        "--interval",
        type=int,
        metavar="SEC",
        help="discovery interval in seconds (5-86400, default ARTICLE_DISCOVERY_INTERVAL_SECONDS)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--post", dest="generate_only", action="store_false", default=None,
                      help="post comments on myMoment")  # fmt: skip
    mode.add_argument("--generate-only", dest="generate_only", action="store_true", default=None,
                      help="only generate comments for review (default)")  # fmt: skip
    parser.add_argument("--hide", action=argparse.BooleanOptionalAction, default=None,
                        help="post comments hidden (default: visible)")  # fmt: skip
    parser.add_argument("--prompt-mode", choices=processes.PROMPT_MODES,
                        help="weighted: one prompt per article by weight (default); all: one comment per prompt")  # fmt: skip
    parser.add_argument("--comment-on-existing", action=argparse.BooleanOptionalAction, default=None,
                        help="comment on articles already listed at start (default yes)")  # fmt: skip
    if not creating:
        parser.add_argument("--clear", action="append", choices=sorted(CLEARABLE_FILTERS), default=[],
                            help="remove a filter; repeat for several")  # fmt: skip


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
    clear = [CLEARABLE_FILTERS[name] for name in getattr(args, "clear", [])]
    return ProcessSpec(
        name=args.name,
        description=args.description,
        provider=args.provider,
        tab=args.tab,
        category_id=args.category,
        task_id=args.task,
        search=args.search,
        max_duration_minutes=args.max_duration,
        discovery_interval_seconds=args.interval if args.interval is not None else default_interval,
        generate_only=args.generate_only,
        hide_comments=args.hide,
        prompt_mode=args.prompt_mode,
        comment_on_existing=args.comment_on_existing,
        logins=args.logins,
        prompts=[parse_prompt(p) for p in args.prompts] if args.prompts is not None else None,
        clear_filters=clear,
    )


def process_dict(session: Session, process: MonitoringProcess) -> dict[str, Any]:
    """Everything about a process a user may see (no secrets), for `show` and `--json`."""
    provider = session.get(LLMProvider, process.llm_provider_id) if process.llm_provider_id else None
    logins = []
    for link in process.logins:
        login = session.get(MyMomentLogin, link.login_id)
        logins.append({"id": link.login_id, "name": login.name if login else None,
                       "active": link.is_active and bool(login and login.is_active)})  # fmt: skip
    prompts = []
    for link in process.prompts:
        tpl = session.get(PromptTemplate, link.template_id)
        prompts.append({"template_id": link.template_id, "name": tpl.name if tpl else None,
                        "weight": link.weight, "active": link.is_active})  # fmt: skip
    return {
        "id": process.id,
        "name": process.name,
        "description": process.description,
        "status": process.status,
        "stop_reason": process.stop_reason,
        "last_error": process.last_error,
        "provider": provider.name if provider else None,
        "provider_id": process.llm_provider_id,
        "tab": process.tab,
        "category_id": process.category_id,
        "task_id": process.task_id,
        "search": process.search,
        "max_duration_minutes": process.max_duration_minutes,
        "discovery_interval_seconds": process.discovery_interval_seconds,
        "generate_only": process.generate_only,
        "hide_comments": process.hide_comments,
        "prompt_mode": process.prompt_mode,
        "comment_on_existing": process.comment_on_existing,
        "logins": sorted(logins, key=lambda login: str(login["name"])),
        "prompts": sorted(prompts, key=lambda prompt: str(prompt["name"])),
        "totals": items.counts(session, process.id).model_dump(),  # work items of all runs by status
        "started_at": process.started_at,
        "stopped_at": process.stopped_at,
        "created_at": process.created_at,
        "updated_at": process.updated_at,
    }


def _show_text(data: dict[str, Any]) -> dict[str, Any]:
    """The process as key: value lines, lists folded into one readable line each."""
    text = {k: v for k, v in data.items() if k not in ("logins", "prompts", "totals")}
    text["logins"] = ", ".join(str(login["name"]) for login in data["logins"]) or "-"
    text["prompts"] = ", ".join(f"{p['name']} (weight {p['weight']:g})" for p in data["prompts"]) or "-"
    text["work items"] = ", ".join(f"{status} {n}" for status, n in data["totals"].items())
    return text


def cmd_process_create(args: argparse.Namespace) -> None:
    ctx = Context(args)
    with ctx.db() as session:
        spec = _spec(args, default_interval=ctx.settings.article_discovery_interval_seconds)
        process = processes.create_process(session, ctx.user(session), spec)
        data = process_dict(session, process)
    if args.json:
        print_json(data)
    else:
        print(data["id"])


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
        emit(args, [{**r, "id": r["short_id"]} for r in rows],
             ["id", "name", "status", "tab", "logins", "prompts", "generate_only", "created_at"])  # fmt: skip


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
