"""Account commands: the users the CLI acts for and their myMoment logins (docs/cli.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy import select

from yourmoment.cli import common
from yourmoment.store import accounts
from yourmoment.store.models import User


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _register_user(sub)
    _register_login(sub)


# --- users -------------------------------------------------------------------------------------------


def _register_user(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = common.command_group(sub, "user", "users the CLI acts for")
    add = common.add_command(user, "add", "add a user", cmd_user_add)
    add.add_argument("email")
    common.add_command(user, "list", "list users", cmd_user_list)


def _user_dict(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "created_at": user.created_at}


def cmd_user_add(args: argparse.Namespace) -> None:
    with common.Context(args).db() as session:
        user = accounts.add_user(session, args.email)
        data = _user_dict(user)
    if args.json:
        common.print_json(data)
    else:
        print(f"user {data['email']} added (id {data['id']})")


def cmd_user_list(args: argparse.Namespace) -> None:
    with common.Context(args).db() as session:
        rows = [_user_dict(u) for u in session.scalars(select(User).order_by(User.email))]
    common.emit(args, rows, ["email", "id", "created_at"])


# --- myMoment logins ---------------------------------------------------------------------------------


def _register_login(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    login = common.command_group(sub, "login", "myMoment logins (credentials stored encrypted)")
    add = common.add_plain_command(
        login, "add", "store a myMoment login; the password is asked for or read from stdin", cmd_login_add
    )
    add.add_argument("name", help="your name for this login, e.g. bot-1")
    add.add_argument("--username", required=True, help="the myMoment username")
    add.add_argument("--admin", action="store_true", help="an admin/teacher login (never used by processes)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    common.add_command(login, "list", "list logins (never their passwords)", cmd_login_list)
    test = common.add_command(login, "test", "open the login's myMoment session and check it", cmd_login_test)
    test.add_argument("name")
    test.add_argument(
        "--fresh", action="store_true", help="log in anew instead of reusing the stored session"
    )
    remove = common.add_plain_command(
        login, "remove", "deactivate a login and drop its stored session", cmd_login_remove
    )
    remove.add_argument("name")


def cmd_login_add(args: argparse.Namespace) -> None:
    ctx = common.Context(args)
    enc = ctx.encryptor  # a missing key fails before the password is asked for
    with ctx.db() as session:
        user = ctx.user(session)
        password = common.read_secret(f"myMoment password for {args.username}: ", args.password_stdin)
        login = accounts.add_login(
            session,
            enc,
            user,
            args.name,
            args.username,
            password,
            args.admin,
            base_url=ctx.settings.mymoment_base_url,
        )
        name, login_id = login.name, login.id
    kind = "admin/teacher login" if args.admin else "login"
    print(f"{kind} '{name}' added (id {login_id})")


def cmd_login_list(args: argparse.Namespace) -> None:
    ctx = common.Context(args)
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
    common.emit(args, rows, ["name", "username", "admin", "last_used"])


async def cmd_login_test(args: argparse.Namespace) -> int:
    from yourmoment.cli.browse_cmds import check_login

    result = await check_login(common.Context(args), args.name, fresh=args.fresh)
    if args.json:
        common.print_json(result)
    elif result["ok"]:
        print(
            f"ok: login '{result['login']}' is logged in to {result['base_url']} ({result['session']} session)"
        )
    else:
        print(f"error: login '{result['login']}': {result['error']}", file=sys.stderr)
    return 0 if result["ok"] else 1


def cmd_login_remove(args: argparse.Namespace) -> None:
    ctx = common.Context(args)
    with ctx.db() as session:
        accounts.remove_login(session, accounts.get_login(session, ctx.user(session), args.name))
    print(f"login '{args.name}' removed")
