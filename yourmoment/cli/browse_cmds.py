"""`browse tabs|articles|article`: see what a login sees on myMoment, through the workers' client and session."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from yourmoment.cli.common import Context, add_command, emit, print_json
from yourmoment.errors import PermanentError, YourMomentError
from yourmoment.logs import redact_url
from yourmoment.mymoment.client import MyMomentClient
from yourmoment.mymoment.parsers import html_to_plain
from yourmoment.ratelimit import make_rate_limiter
from yourmoment.store import accounts
from yourmoment.store.sessions import DbSessionStore, load_session

ARTICLE_COLUMNS = ["id", "title", "author", "status", "visibility", "date"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    browse = sub.add_parser("browse", help="see what a login sees on myMoment (e.g. to find a class tab id)")
    actions = browse.add_subparsers(dest="browse_command", metavar="ACTION")
    actions.required = True

    tabs = add_command(actions, "tabs", "the article list tabs of a login (home, classes, alle)", cmd_tabs)
    tabs.add_argument("--login", required=True, help="login name")

    articles = add_command(actions, "articles", "the articles of one tab, newest first", cmd_articles)
    articles.add_argument("--login", required=True, help="login name")
    articles.add_argument("--tab", required=True, help="'home', a class id or 'alle'")
    articles.add_argument("--category", type=int, help="category id filter")
    articles.add_argument("--task", type=int, help="task id filter")
    articles.add_argument("--search", help="only titles containing this text")
    articles.add_argument(
        "--limit", type=_positive_int, help="at most N articles (default MAX_ARTICLES_PER_REQUEST)"
    )

    article = add_command(actions, "article", "one article with its comments", cmd_article)
    article.add_argument("id", type=_article_id, help="myMoment article id")
    article.add_argument("--login", required=True, help="login name")


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, not {value!r}")
    return int(value)


def _article_id(value: str) -> str:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"a myMoment article id is a number, not {value!r}")
    return value


@asynccontextmanager
async def login_client(ctx: Context, login_name: str) -> AsyncIterator[MyMomentClient]:
    """The myMoment client for one of the user's logins, built exactly as the workers build theirs.

    The stored session is reused and saved back (DbSessionStore) and requests are paced by the shared
    limiter, so browsing costs no extra logins and counts against the same politeness budget.
    """
    settings = ctx.settings
    user_agent = settings.user_agent  # refuses the real site without a contact, before anything else
    enc = ctx.encryptor
    with ctx.db() as session:
        login = accounts.get_login(session, ctx.user(session), login_name)
        creds = accounts.credentials(session, enc, login.id)
    limiter = make_rate_limiter(settings.redis_url, settings.site_budget_share_every)
    client = MyMomentClient(
        settings.mymoment_base_url,
        login_id=creds.login_id,
        username=creds.username,
        password=creds.password,
        login_name=creds.name,
        session_store=DbSessionStore(settings.database_url, enc),
        limiter=limiter,
        rate_per_second=settings.scraping_rate_limit,
        burst=settings.scraping_burst_limit,
        timeout=settings.mymoment_timeout,
        user_agent=user_agent,
    )
    try:
        yield client
    finally:
        await client.close()
        close = getattr(limiter, "close", None)
        if close is not None:  # a Redis limiter owns a connection pool; the local one is shared
            await close()


async def check_login(ctx: Context, login_name: str, fresh: bool = False) -> dict[str, Any]:
    """`login test`: reuse the stored session when it still works, else log in; report what the site
    said. A configuration mistake or a login the user does not have is an error line (raised), not a
    failed test."""
    ctx.settings.require_contact()
    result: dict[str, Any] = {
        "login": login_name,
        "base_url": redact_url(ctx.settings.mymoment_base_url),
        "ok": False,
    }
    with ctx.db() as session:
        login = accounts.get_login(session, ctx.user(session), login_name)
        had_session = load_session(session, ctx.encryptor, login.id) is not None
    try:
        async with login_client(ctx, login_name) as client:
            if fresh:
                await client.login()
            # probe() restores the stored session, or logs in when there is none (so it proves the password).
            restored = had_session and not fresh
            if not await client.probe():
                restored = False
                await client.login()  # the stored session had died: log in once more
                if not await client.probe():
                    raise PermanentError("logged in, but myMoment does not show the session as logged in")
        result.update(ok=True, session="restored" if restored else "new", requests=client.requests)
    except YourMomentError as exc:
        result["error"] = str(exc)
    return result


def _article_rows(articles: list[Any]) -> list[dict[str, Any]]:
    return [a.model_dump() for a in articles]


async def cmd_tabs(args: argparse.Namespace) -> None:
    async with login_client(Context(args), args.login) as client:
        tabs = await client.tabs()
    emit(args, [t.model_dump() for t in tabs], ["id", "name", "kind"])


async def cmd_articles(args: argparse.Namespace) -> None:
    ctx = Context(args)
    limit = args.limit or ctx.settings.max_articles_per_request
    async with login_client(ctx, args.login) as client:
        found = await client.list_articles(args.tab, args.category, args.task, args.search, limit)
    if args.json:
        print_json(_article_rows(found))
    else:
        emit(args, _article_rows(found), ARTICLE_COLUMNS)


async def cmd_article(args: argparse.Namespace) -> None:
    async with login_client(Context(args), args.login) as client:
        detail = await client.get_article(args.id)
    data = detail.model_dump(exclude={"raw_html"})
    if args.json:
        print_json(data)
        return
    print(f"{data['title']} (article {data['id']}) by {data['author']}")
    print(
        f"category: {_labelled(data['category'], data['category_id'])}  task: {_labelled(data['task'], data['task_id'])}"
    )
    print(f"url: {data['url']}")
    print()
    print(data["content"])
    print()
    print(f"comments ({len(data['comments'])}):")
    for comment in data["comments"]:
        hidden = " [hidden]" if comment["hidden"] else ""
        print(f"- {comment['author']}{hidden}: {html_to_plain(comment['text'])}")


def _labelled(name: str | None, ident: int | None) -> str:
    if name is None:
        return "-"
    return f"{name} ({ident})" if ident is not None else name
