"""The myMoment imitation's admin JSON API under /_admin/ (tests, benchmarks, demo); never logged or faulted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from imitation.mymoment.demo import seed_demo
from imitation.mymoment.pages import state_of
from imitation.mymoment.state import Account, MyMomentState

ADMIN_PREFIX = "/_admin/"


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


AdminHandler = Callable[[Request, MyMomentState], Awaitable[Response]]


def _admin(handler: AdminHandler) -> Callable[[Request], Awaitable[Response]]:
    """Turn bad input into a 400 with a message instead of a 500."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request, state_of(request))
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return wrapped


async def admin_reset(request: Request, state: MyMomentState) -> Response:
    body = await _json_body(request)
    state.reset()
    if body.get("demo"):
        seed_demo(state)
    return JSONResponse({"ok": True})


async def admin_add_account(request: Request, state: MyMomentState) -> Response:
    body = await _json_body(request)
    account = state.add_account(
        body["username"], body["password"], body.get("role", "pupil"), body.get("class_ids") or []
    )
    return JSONResponse(_account_dict(account), status_code=201)


def _account_dict(account: Account) -> dict[str, Any]:
    # Never echo passwords back.
    return {
        "uid": account.uid,
        "username": account.username,
        "role": account.role,
        "class_ids": account.class_ids,
    }


async def admin_list_accounts(request: Request, state: MyMomentState) -> Response:
    return JSONResponse([_account_dict(a) for a in state.account_list()])


async def admin_add_class(request: Request, state: MyMomentState) -> Response:
    body = await _json_body(request)
    classroom = state.add_class(body["id"], body["name"], body["school"])
    return JSONResponse(
        {"id": classroom.id, "name": classroom.name, "school": classroom.school, "label": classroom.label},
        status_code=201,
    )


async def admin_add_article(request: Request, state: MyMomentState) -> Response:
    body = await _json_body(request)
    known = {
        "title",
        "author",
        "class_id",
        "category_id",
        "task_id",
        "status",
        "paragraphs",
        "id",
        "created",
        "modified",
    }
    unknown = set(body) - known
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    article_id = state.add_article(**body)
    return JSONResponse(
        {"id": article_id, "url": f"{str(request.base_url).rstrip('/')}/article/{article_id}/"},
        status_code=201,
    )


async def admin_list_articles(request: Request, state: MyMomentState) -> Response:
    items = state.article_list()
    return JSONResponse(
        [
            {
                "id": a.id,
                "title": a.title,
                "author": a.author,
                "class_id": a.class_id,
                "category_id": a.category_id,
                "task_id": a.task_id,
                "status": a.status,
                "created": a.created.isoformat(timespec="seconds"),
                "modified": a.last_modified.isoformat(timespec="seconds"),
                "views": a.views,
            }
            for a in items
        ]
    )


async def admin_article_comments(request: Request, state: MyMomentState) -> Response:
    article_id = int(request.path_params["article_id"])
    if state.article(article_id) is None:
        return JSONResponse({"error": f"unknown article {article_id}"}, status_code=404)
    return JSONResponse(state.comments_for(article_id))


async def admin_edit_article(request: Request, state: MyMomentState) -> Response:
    """A pupil edits the text (`paragraphs`) and/or the `title`; last-modified becomes now."""
    body = await _json_body(request)
    unknown = set(body) - {"paragraphs", "title"}
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    article = state.edit_article(
        int(request.path_params["article_id"]), body.get("paragraphs"), body.get("title")
    )
    return JSONResponse({"id": article.id, "modified": article.last_modified.isoformat(timespec="seconds")})


async def admin_add_comment(request: Request, state: MyMomentState) -> Response:
    """A comment by someone on the site, e.g. the pupil's reply below an AI comment (the site's list is flat)."""
    body = await _json_body(request)
    unknown = set(body) - {"author", "text", "status", "hidden"}
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    comment = state.add_comment(
        int(request.path_params["article_id"]),
        author=str(body["author"]),
        text=str(body["text"]),
        status=int(body.get("status", 20)),
        hidden=bool(body.get("hidden", False)),
    )
    return JSONResponse(comment.as_dict(), status_code=201)


async def admin_comments(request: Request, state: MyMomentState) -> Response:
    return JSONResponse(state.all_comments())


async def admin_stats(request: Request, state: MyMomentState) -> Response:
    return JSONResponse(state.stats())


async def admin_reset_stats(request: Request, state: MyMomentState) -> Response:
    state.reset_stats()
    return JSONResponse({"ok": True})


async def admin_faults(request: Request, state: MyMomentState) -> Response:
    if request.method == "GET":
        return JSONResponse(state.faults())
    return JSONResponse(state.set_faults(**await _json_body(request)))


async def admin_expire_sessions(request: Request, state: MyMomentState) -> Response:
    return JSONResponse({"expired": state.expire_all_sessions()})


def admin_routes() -> list[Route]:
    """The JSON side for tests, benchmarks and the demo: fixtures, comments, request counts, fault switches."""
    return [
        Route("/_admin/reset", _admin(admin_reset), methods=["POST"]),
        Route("/_admin/accounts", _admin(admin_add_account), methods=["POST"]),
        Route("/_admin/accounts", _admin(admin_list_accounts), methods=["GET"]),
        Route("/_admin/classes", _admin(admin_add_class), methods=["POST"]),
        Route("/_admin/articles", _admin(admin_add_article), methods=["POST"]),
        Route("/_admin/articles", _admin(admin_list_articles), methods=["GET"]),
        Route("/_admin/articles/{article_id:int}/comments", _admin(admin_article_comments), methods=["GET"]),
        Route("/_admin/articles/{article_id:int}/comments", _admin(admin_add_comment), methods=["POST"]),
        Route("/_admin/articles/{article_id:int}/edit", _admin(admin_edit_article), methods=["POST"]),
        Route("/_admin/comments", _admin(admin_comments), methods=["GET"]),
        Route("/_admin/stats", _admin(admin_stats), methods=["GET"]),
        Route("/_admin/stats/reset", _admin(admin_reset_stats), methods=["POST"]),
        Route("/_admin/faults", _admin(admin_faults), methods=["GET", "POST"]),
        Route("/_admin/expire-sessions", _admin(admin_expire_sessions), methods=["POST"]),
    ]
