"""What every command shares: the context (settings, database, key), output as table or JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import BaseModel
from sqlalchemy.orm import Session

from yourmoment.crypto import Encryptor
from yourmoment.errors import TemporalUnavailableError, ValidationError
from yourmoment.settings import Settings, get_settings
from yourmoment.store import accounts
from yourmoment.store.db import require_migrated, session_scope
from yourmoment.store.models import User

if TYPE_CHECKING:
    from temporalio.client import Client

# A command's handler: returns the exit code (None: 0), or a coroutine that does (main.run awaits it).
Handler = Callable[[argparse.Namespace], Any]


class Context:
    """Built lazily per command, so `keygen` works without a database and `db upgrade` without a key."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings: Settings = get_settings()

    @property
    def encryptor(self) -> Encryptor:
        return Encryptor(self.settings.yourmoment_encryption_key)

    @contextmanager
    def db(self) -> Iterator[Session]:
        require_migrated(self.settings.database_url)
        with session_scope(self.settings.database_url) as session:
            yield session

    def user(self, session: Session) -> User:
        return accounts.get_user(
            session, getattr(self.args, "user", None) or self.settings.yourmoment_default_user
        )


# --- Temporal ---------------------------------------------------------------------------------------

CONNECT_TIMEOUT = 10.0
# For a look that only adds a note (a queued post no worker takes): the command works without it.
QUICK_CONNECT_SECONDS = 3.0


async def try_connect(
    settings: Settings, timeout: float = CONNECT_TIMEOUT
) -> tuple[Client | None, str | None]:
    """The client, or None and a one-line reason (the commands that can work without Temporal go on)."""
    from yourmoment.temporal_client import connect

    try:
        return await asyncio.wait_for(connect(settings), timeout), None
    except TimeoutError:
        return None, f"cannot reach Temporal: no answer within {timeout:.0f} s"
    except Exception as exc:  # TemporalUnavailableError, or a TLS / API key problem from the SDK
        return None, (str(exc).splitlines() or [type(exc).__name__])[0][:300]


async def require_client(settings: Settings) -> Client:
    client, error = await try_connect(settings)
    if client is None:
        raise TemporalUnavailableError(error or "cannot reach Temporal")
    return client


# --- arguments and output ---------------------------------------------------------------------------


def add_json_flag(parser: argparse.ArgumentParser, default: Any = False) -> None:
    """`--json`; default argparse.SUPPRESS on a group's action where the group has `--json` too, so
    that `GROUP --json ACTION` is not undone by the action's default (read it with getattr)."""
    parser.add_argument("--json", action="store_true", default=default, help="print JSON for scripts")


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def add_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    handler: Handler,
    examples: Sequence[str] = (),
) -> argparse.ArgumentParser:
    """A command or action that prints data: a table or `key: value` lines, or JSON with `--json`."""
    parser = add_plain_command(sub, name, help_text, handler, examples)
    add_json_flag(parser)
    return parser


def add_plain_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    handler: Handler,
    examples: Sequence[str] = (),
) -> argparse.ArgumentParser:
    """A command or action whose output is text for people only (a confirmation, a key, a server's
    log), so it has no `--json`. `examples` (command lines) end its `--help`."""
    extra: dict[str, Any] = {}
    if examples:
        lines = "\n".join(f"  {example}" for example in examples)
        extra = {"epilog": f"examples:\n{lines}", "formatter_class": argparse.RawDescriptionHelpFormatter}
    parser = sub.add_parser(name, help=help_text, **extra)
    parser.set_defaults(handler=handler)
    return parser


def command_group(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """A command with required actions (`NAME ACTION …`); the chosen action lands in `args.NAME_command`."""
    parser = sub.add_parser(name, help=help_text)
    actions = parser.add_subparsers(dest=f"{name}_command", metavar="ACTION")
    actions.required = True
    return actions


def print_json(data: Any) -> None:
    print(json.dumps(_plain(data), indent=2, ensure_ascii=False, default=str))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], empty: str = "(none)") -> None:
    """A plain aligned table: readable in a terminal, no extra dependency."""
    if not rows:
        print(empty)
        return
    for line in table_lines(rows, columns):
        print(line)


def table_lines(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[str]:
    """The header line, then one aligned line per row (for output that puts more under each row)."""
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    header = "  ".join(col.upper().ljust(w) for col, w in zip(columns, widths, strict=True)).rstrip()
    return [header, *("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def emit(args: argparse.Namespace, rows: Any, columns: Sequence[str] | None = None) -> None:
    """--json prints the data as it is; otherwise a table (lists) or key: value lines (one object)."""
    if getattr(args, "json", False):
        print_json(rows)
        return
    data = _plain(rows)
    if isinstance(data, list):
        print_table(data, columns or (list(data[0]) if data else []))
    elif isinstance(data, dict):
        for key, value in data.items():
            print(
                f"{key}: {json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else _cell(value)}"
            )
    else:
        print(data)


def fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the project's convention: a usage mistake is one `error:` line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def number(low: float, high: float, whole: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number (or whole number) from low to high, else one clear message."""
    kind = "a whole number" if whole else "a number"

    def parse(text: str) -> float:
        try:
            value = int(text) if whole else float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            bounds = f"{int(low)} and {int(high)}" if whole else f"{low:g} and {high:g}"
            raise argparse.ArgumentTypeError(f"must be {kind} between {bounds}, not {text!r}")
        return value

    return parse


PORT = number(1, 65535, whole=True)


def non_utf8_argument(argv: Sequence[str]) -> str | None:
    """The problem with the first argument that is not UTF-8 (Python hands such bytes in as surrogates)."""
    for position, arg in enumerate(argv, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return f"argument {position} ({arg!a}) is not UTF-8 text"
    return None


def read_secret(prompt: str, from_stdin: bool) -> str:
    """Secrets come from a prompt or stdin, never from an argument (which ps and shell history keep)."""
    if from_stdin or not sys.stdin.isatty():
        try:
            line = sys.stdin.readline()
            line.encode("utf-8")  # a surrogate-escaped byte passes the read but not the encode
        except UnicodeError:
            raise ValidationError(["stdin is not UTF-8 text"]) from None
        return line.rstrip("\n")
    import getpass

    return getpass.getpass(prompt)
