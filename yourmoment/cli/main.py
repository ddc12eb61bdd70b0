"""`starter.py`: parses the command line and turns every user mistake into one line and exit code 2."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import logging
import os
import signal
import sys
from typing import Any, TextIO

from sqlalchemy.exc import OperationalError

from yourmoment.cli import common
from yourmoment.errors import YourMomentError, database_error, is_database_error, type_name
from yourmoment.logs import SafeFormatter, format_exception_safely, safe_handler
from yourmoment.temporal_client import exit_process

# Each entry is "module" (its `register`) or "module:function"; the order here is the order of `--help`.
# setup_cmds registers in two parts so that the account groups keep their place between keygen and provider.
COMMAND_MODULES = (
    "yourmoment.cli.setup_cmds:register_database_and_keys",
    "yourmoment.cli.account_cmds",
    "yourmoment.cli.setup_cmds:register_providers_and_templates",
    "yourmoment.cli.process_cmds",
    "yourmoment.cli.browse_cmds",
    "yourmoment.cli.run_cmds",
    "yourmoment.cli.review_cmds",
    "yourmoment.cli.research_cmds",
    "yourmoment.cli.version_cmds",
    "yourmoment.cli.ops_cmds",
    "yourmoment.cli.codec_cmds",
)


USER_HELP = "act for this user (e-mail); default YOURMOMENT_DEFAULT_USER or the only user"


class CommandModuleError(YourMomentError):
    """A command module failed to import, so its commands would be missing: never skipped silently.

    Why one `error:` line and exit 2 rather than the ImportError's traceback: main() prints a traceback
    with the exception's message withheld, which would hide the one useful fact (which module is missing).
    An ImportError's text names only modules and files, so it is safe to show; and a missing dependency
    or a broken install is the operator's to fix, like a missing key or database, which are one line and
    exit 2 as well. Other exceptions while importing (SyntaxError, NameError) are bugs and keep the
    traceback.
    """

    def __init__(self, module_name: str, cause: ImportError) -> None:
        super().__init__(f"command module {module_name} failed to import: {type_name(cause)}: {cause}")
        self.module_name = module_name


def build_parser(command_modules: tuple[str, ...] | None = None) -> argparse.ArgumentParser:
    """The parser of `command_modules` (default COMMAND_MODULES; starter.py adds the development ones)."""
    import importlib

    parser = common.ArgumentParser(
        prog="starter.py", description="yourMoment on Temporal: configure and run monitoring processes."
    )
    parser.add_argument("--user", help=USER_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for entry in COMMAND_MODULES if command_modules is None else command_modules:
        module_name, _, function_name = entry.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise CommandModuleError(module_name, exc) from exc
        getattr(module, function_name or "register")(sub)
    _accept_user_everywhere(parser)
    return parser


def _accept_user_everywhere(parser: argparse.ArgumentParser) -> None:
    """`--user` also after the command (`list --user X`). SUPPRESS: a command without it keeps the top level's.

    A command that has its own `--user` (`template add`, the user prompt) keeps it; there the acting
    user goes before the command.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in set(action.choices.values()):
                if "--user" not in command._option_string_actions:
                    command.add_argument("--user", default=argparse.SUPPRESS, help=USER_HELP)
                _accept_user_everywhere(command)


def run(argv: list[str] | None = None, command_modules: tuple[str, ...] | None = None) -> int:
    """Runs one command and returns its exit code (tests call this in-process)."""
    if not logging.getLogger().handlers:
        # A user mistake is one line on stderr; library warnings would add a second.
        log_handler = safe_handler(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
        logging.basicConfig(level=logging.ERROR, handlers=[log_handler])
    argv = sys.argv[1:] if argv is None else argv
    problem = common.non_utf8_argument(argv)
    if problem:
        return common.fail(problem)
    try:
        parser = build_parser(command_modules)
    except CommandModuleError as exc:
        return common.fail(str(exc))
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        result = handler(args)
        if inspect.iscoroutine(result):  # an async handler
            result = asyncio.run(result)
    except YourMomentError as exc:
        return common.fail(str(exc))
    except OperationalError as exc:
        # The first line says why (locked, refused); a server's DETAIL lines after it can quote values.
        return common.fail(f"database unavailable: {(str(exc.orig).splitlines() or ['?'])[0]}")
    except Exception as exc:
        if not is_database_error(exc):
            raise
        # The driver's text can quote the values being written (a login's name, a text): never shown.
        return common.fail(str(database_error(exc, f"'{args.command}'")), code=1)
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


class OutputError(Exception):
    """stdout does not take the output: a full disk, or a reader that went away (`… | head -c1`)."""

    def __init__(self, cause: OSError) -> None:
        self.closed_pipe = isinstance(cause, BrokenPipeError)
        reason = "the reader closed the pipe" if self.closed_pipe else cause.strerror or type(cause).__name__
        super().__init__(f"cannot write the output: {reason}")


class GuardedOutput:
    """sys.stdout for a command run by main(): a write or flush that fails raises OutputError, which no
    command catches by accident and argparse does not swallow (it drops a failed `--help` silently)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise OutputError(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise OutputError(exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _output_failed(exc: OutputError) -> int:
    """One `error:` line; what is still buffered goes to /dev/null, so the exit's flush cannot fail again.
    A closed pipe ends with the shell's SIGPIPE status (141), a full disk with 1."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    with contextlib.suppress(OSError):  # stderr may be full too: then the exit code says it alone
        common.fail(str(exc))
    return 128 + signal.SIGPIPE if exc.closed_pipe else 1


def main(argv: list[str] | None = None, command_modules: tuple[str, ...] | None = None) -> None:
    sys.stdout = GuardedOutput(sys.stdout)
    try:
        try:
            code = run(argv, command_modules)
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exc.code if isinstance(exc.code, int) else 2
        sys.stdout.flush()
    except OutputError as exc:
        code = _output_failed(exc)
    except Exception:
        # A bug: where it happened, but not its message, which may quote what the command handled.
        print(format_exception_safely(sys.exc_info()), file=sys.stderr)
        code = 1
    exit_process(code)


if __name__ == "__main__":
    main()
