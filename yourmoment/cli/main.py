"""`starter.py`: parses the command line and turns every user mistake into one line and exit code 2."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys

from sqlalchemy.exc import OperationalError

from yourmoment.cli import common
from yourmoment.errors import YourMomentError

COMMAND_MODULES = (
    "yourmoment.cli.config_cmds",
    "yourmoment.cli.browse_cmds",
    "yourmoment.cli.run_cmds",
    "yourmoment.cli.ops_cmds",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="starter.py", description="yourMoment on Temporal: configure and run monitoring processes."
    )
    parser.add_argument("--user", help="act for this user (e-mail); default YOURMOMENT_DEFAULT_USER or the only user")
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
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        sys.exit(2)
    try:
        result = handler(args)
        if inspect.isawaitable(result):
            result = asyncio.run(result)
    except YourMomentError as exc:
        sys.exit(common.fail(str(exc)))
    except OperationalError as exc:
        sys.exit(common.fail(f"database unavailable: {exc.orig}"))
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(result or 0)


if __name__ == "__main__":
    main()
