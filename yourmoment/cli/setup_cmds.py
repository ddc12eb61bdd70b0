"""Setup commands: database schema and key rotation, keygen, LLM providers (templates: template_cmds.py)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yourmoment.cli.common import (
    Context,
    add_command,
    add_plain_command,
    command_group,
    emit,
    print_json,
    read_secret,
)
from yourmoment.crypto import Encryptor, generate_key
from yourmoment.logs import redact_url
from yourmoment.store import accounts
from yourmoment.store.db import upgrade
from yourmoment.store.models import LLMProvider, MyMomentLogin, MyMomentSession


def register_database_and_keys(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`db` and `keygen`: first in `--help`, what a new installation runs first."""
    _register_db(sub)
    add_plain_command(sub, "keygen", "print a new encryption key for YOURMOMENT_ENCRYPTION_KEY", cmd_keygen)


def register_providers_and_templates(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`provider` and `template`: in `--help` after the myMoment accounts (see main.COMMAND_MODULES)."""
    from yourmoment.cli import template_cmds

    _register_provider(sub)
    template_cmds.register(sub)


# --- db and keygen -----------------------------------------------------------------------------------


def _register_db(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = command_group(sub, "db", "database schema and stored secrets")
    add_command(db, "upgrade", "migrate the database to the newest schema", cmd_db_upgrade)
    add_command(
        db,
        "reencrypt",
        "re-encrypt every stored secret with the first key of YOURMOMENT_ENCRYPTION_KEY",
        cmd_db_reencrypt,
    )


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


# --- LLM providers -----------------------------------------------------------------------------------


def _register_provider(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    provider = command_group(sub, "provider", "LLM providers (API keys stored encrypted)")
    add = add_plain_command(
        provider,
        "add",
        "store an LLM provider; the API key is asked for or read from stdin",
        cmd_provider_add,
    )
    add.add_argument("name")
    add.add_argument("--provider", required=True, choices=accounts.PROVIDER_KINDS, dest="kind")
    add.add_argument("--model", required=True)
    add.add_argument("--base-url", help="required for openai-compatible, e.g. http://localhost:11434/v1")
    add.add_argument("--api-key-stdin", action="store_true", help="read the API key from stdin")
    add.add_argument("--temperature", type=float, default=0.7, help="0-2 (default 0.7)")
    add.add_argument("--max-tokens", type=int, default=800, help="default 800")
    add.add_argument(
        "--rpm", dest="requests_per_minute", type=int, help="requests per minute allowed by the provider"
    )
    _add_load_options(add)
    _add_price_options(add)
    change = add_command(
        provider,
        "set",
        "change settings of a stored provider; running workers use them from the next comment on",
        cmd_provider_set,
    )
    change.add_argument("name")
    change.add_argument("--model")
    change.add_argument("--base-url", help="empty: the kind's default URL (openai, mistral)")
    change.add_argument("--temperature", type=float, help="0-2")
    change.add_argument("--max-tokens", type=int)
    change.add_argument(
        "--rpm", dest="requests_per_minute", type=int, help="requests per minute allowed by the provider"
    )
    _add_load_options(change)
    _add_price_options(change)
    change.add_argument(
        "--api-key-stdin",
        action="store_true",
        help="replace the API key with one read from stdin (an empty line removes it)",
    )
    add_command(provider, "list", "list providers (never their keys)", cmd_provider_list)
    test = add_command(
        provider,
        "test",
        "send one chat request about an invented article as the worker would: latency, tokens, the "
        "quality gate's verdict and what normalising changes; exit 1 when the request fails",
        cmd_provider_test,
    )
    test.add_argument("name")


def _add_price_options(parser: argparse.ArgumentParser) -> None:
    """Prices for `report`'s cost estimate; unknown until given."""
    parser.add_argument(
        "--price-prompt",
        type=float,
        metavar="X",
        dest="price_prompt_per_million",
        help="price per million prompt tokens, for the cost estimate of 'report'",
    )
    parser.add_argument(
        "--price-completion",
        type=float,
        metavar="Y",
        dest="price_completion_per_million",
        help="price per million completion tokens, for the cost estimate of 'report'",
    )


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
        dest="structured_output",
        metavar="json_schema|off",
        help="json_schema: ask for the comment as JSON with a strict schema (the hosted APIs, llama.cpp, "
        "vLLM and Ollama support it); off: plain text (default: json_schema for openai and mistral, off "
        "for openai-compatible)",
    )


def _provider_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The provider settings as given; each option's dest is the setting's name (accounts.PROVIDER_SETTINGS)."""
    return {name: getattr(args, name) for name in accounts.PROVIDER_SETTINGS}


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
            api_key=_read_api_key(args),
            **_provider_settings(args),
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
            **_provider_settings(args),
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
        "base_url": redact_url(row.base_url) if row.base_url else None,
        "api_key_set": row.api_key_enc is not None,
        "temperature": row.temperature,
        "max_tokens": row.max_tokens,
        "requests_per_minute": row.requests_per_minute,
        "max_concurrency": config.concurrency,
        "structured_output": config.structured_mode,
        "price_prompt_per_million": row.price_prompt_per_million,
        "price_completion_per_million": row.price_completion_per_million,
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
        print(
            f"sending one chat request to {args.name} (timeout {ctx.settings.llm_timeout:g} s) …",
            file=sys.stderr,
        )
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
    print(
        f"ok: provider '{result.provider}' ({result.kind}) at {result.base_url}, model {result.model}, "
        f"structured output {result.structured_output}"
    )
    print(f"models: {result.model_note}")
    print(
        f"answer: {result.latency_ms / 1000:.2f} s, {result.prompt_tokens} prompt + "
        f"{result.completion_tokens} completion tokens, finish_reason {result.finish_reason or 'not given'}"
    )
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
