"""`starter.py`: parses the command line and turns every user mistake into one line and exit code 2."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import logging

from sqlalchemy.exc import OperationalError

from yourmoment.cli import common
from yourmoment.errors import YourMomentError
from yourmoment.temporal_client import exit_process

COMMAND_MODULES = (
    "yourmoment.cli.config_cmds",
    "yourmoment.cli.browse_cmds",
    "yourmoment.cli.run_cmds",
    "yourmoment.cli.ops_cmds",
    "yourmoment.cli.codec_cmds",
    "yourmoment.cli.demo_cmds",
)


USER_HELP = "act for this user (e-mail); default YOURMOMENT_DEFAULT_USER or the only user"


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="starter.py", description="yourMoment on Temporal: configure and run monitoring processes."
    )
    parser.add_argument("--user", help=USER_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
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


def run(argv: list[str] | None = None) -> int:
    """Runs one command and returns its exit code (tests call this in-process)."""
    if not logging.getLogger().handlers:
        # A user mistake is one line on stderr; library warnings would add a second.
        logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        result = handler(args)
        if inspect.isawaitable(result):
            result = asyncio.run(result)
    except YourMomentError as exc:
        return common.fail(str(exc))
    except OperationalError as exc:
        return common.fail(f"database unavailable: {exc.orig}")
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


def main(argv: list[str] | None = None) -> None:
    try:
        code = run(argv)
    except SystemExit as exc:  # argparse: --help, usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    exit_process(code)


if __name__ == "__main__":
    main()
