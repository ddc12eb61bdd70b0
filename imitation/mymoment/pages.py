"""The myMoment imitation's site routes: login, logout, article list, article page, comment and like forms."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from imitation.mymoment.security import (
    SESSION_COOKIE,
    SESSION_COOKIE_MAX_AGE,
    CsrfContext,
    csrf_failure,
    referer_failure,
)
from imitation.mymoment.state import Account, Article, MyMomentState, Session
from imitation.mymoment.templates import (
    render_article,
    render_articles,
    render_dashboard,
    render_error,
    render_landing,
    render_login,
)
from imitation.mymoment.vocabulary import COMMENT_STATUSES

# Where a handler finds its RequestControl in the ASGI scope (set by the app's outer layer).
CONTROL_KEY = "mymoment.control"


@dataclass
class RequestControl:
    """Shared between the outer ASGI layer and a handler: lets a handler ask to drop the connection."""

    drop: bool = False


def state_of(request: Request) -> MyMomentState:
    """The MyMomentState this app serves (`app.state.mymoment`, set by create_app)."""
    state: MyMomentState = request.app.state.mymoment
    return state


def _current(request: Request) -> tuple[Session | None, Account | None]:
    state = state_of(request)
    session = state.session(request.cookies.get(SESSION_COOKIE))
    return session, (state.account(session.username) if session else None)


def _redirect(request: Request, location: str) -> Response:
    """A Django-style 302; with `backslash_redirects` the Location mimics the site's old bug."""
    if state_of(request).backslash_redirects:
        location = f"{request.url.scheme}://{request.url.netloc}\\{location.lstrip('/')}"
    # A raw header: Starlette's RedirectResponse would percent-encode the backslash.
    return Response(status_code=302, headers={"location": location})


def _login_redirect(request: Request) -> Response:
    full_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _redirect(request, f"/accounts/login/?next={quote(full_path, safe='/')}")


def _safe_next(value: str) -> str:
    if value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


def _forbidden(reason: str) -> HTMLResponse:
    detail = f"CSRF-Verifizierung fehlgeschlagen. Anfrage abgebrochen. {reason}"
    return HTMLResponse(render_error(403, "Verboten", detail), status_code=403)


def not_found() -> HTMLResponse:
    return HTMLResponse(
        render_error(404, "Nicht gefunden", "Die Seite wurde nicht gefunden."), status_code=404
    )


def _optional_int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _html(csrf: CsrfContext, body: str, status: int = 200) -> Response:
    return csrf.apply(HTMLResponse(body, status_code=status))


async def _read_form(request: Request) -> dict[str, str]:
    """URL-encoded form fields (first value per name); python-multipart is not a dependency."""
    fields: dict[str, str] = {}
    for name, value in parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(name, value)
    return fields


# --- Site handlers ------------------------------------------------------------------------------------


async def landing(request: Request) -> Response:
    _session, account = _current(request)
    csrf = CsrfContext(request)
    token = csrf.token() if account else None
    return _html(csrf, render_landing(account, token))


async def login(request: Request) -> Response:
    state = state_of(request)
    _session, account = _current(request)
    csrf = CsrfContext(request)
    if request.method == "GET":
        next_url = request.query_params.get("next", "")
        return _html(csrf, render_login(account, csrf.token(), next_url))
    form = await _read_form(request)
    failure = referer_failure(request) or csrf_failure(request, form)
    if failure:
        return _forbidden(failure)
    if state.login_delay_ms:
        await asyncio.sleep(state.login_delay_ms / 1000)
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    next_url = str(form.get("next") or "")
    matched = state.check_credentials(username, password)
    if matched is None:
        error = (
            "Bitte einen gültigen Benutzername und ein Passwort eingeben. "
            "Beide Felder berücksichtigen die Groß-/Kleinschreibung."
        )
        return _html(csrf, render_login(account, csrf.token(), next_url, username, error))
    session = state.create_session(matched.username)
    response = _redirect(request, _safe_next(next_url) if next_url else "/")
    response.set_cookie(
        SESSION_COOKIE, session.key, max_age=SESSION_COOKIE_MAX_AGE, path="/", httponly=True, samesite="lax"
    )
    csrf.rotate()  # Django rotates the CSRF secret on login.
    return csrf.apply(response)


async def logout(request: Request) -> Response:
    form = await _read_form(request)
    failure = csrf_failure(request, form)
    if failure:
        return _forbidden(failure)
    state_of(request).end_session(request.cookies.get(SESSION_COOKIE))
    response = _redirect(request, "/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def articles(request: Request) -> Response:
    state = state_of(request)
    _session, account = _current(request)
    if account is None:
        return _login_redirect(request)
    csrf = CsrfContext(request)
    tabs = state.tabs_for(account)
    tab_ids = [tab_id for tab_id, _ in tabs]
    active = request.query_params.get("tab") or "home"
    if active not in tab_ids:
        active = "home"
    kategorie = _optional_int(request.query_params.get("kategorie"))
    aufgabe = _optional_int(request.query_params.get("aufgabe"))
    panes = {tab_id: state.pane_articles(account, tab_id, kategorie, aufgabe) for tab_id in tab_ids}
    labels = {a.id: state.visibility_label(a) for pane in panes.values() for a in pane}
    body = render_articles(account, csrf.token(), tabs, panes, labels, active, kategorie, aufgabe)
    return _html(csrf, body)


async def article_detail(request: Request) -> Response:
    state = state_of(request)
    _session, account = _current(request)
    if account is None:
        return _login_redirect(request)
    article_id = int(request.path_params["article_id"])
    article = state.article(article_id)
    if article is None:
        return not_found()
    state.count_view(article_id)
    csrf = CsrfContext(request)
    body = render_article(account, csrf.token(), article, state.comment_objects(article_id))
    if article_id in state.broken_article_ids:
        body = body.replace('<div class="article">', '<div class="beitrag">')
    return _html(csrf, body)


async def dashboard(request: Request) -> Response:
    """A pupil's dashboard: teachers of one of the pupil's classes only (403), known pupils only (404)."""
    state = state_of(request)
    _session, account = _current(request)
    if account is None:
        return _login_redirect(request)
    pupil = state.account_by_uid(int(request.path_params["student_id"]))
    if pupil is None or pupil.role != "pupil":
        return not_found()
    if account.role != "teacher" or not set(account.class_ids) & set(pupil.class_ids):
        return HTMLResponse(
            render_error(403, "Verboten", "Du hast keinen Zugriff auf dieses Dashboard."), status_code=403
        )
    csrf = CsrfContext(request)
    articles = state.dashboard_articles(pupil)
    labels = {a.id: state.visibility_label(a) for a in articles}
    return _html(csrf, render_dashboard(account, csrf.token(), pupil, articles, labels))


def _validate_comment(form: Any) -> tuple[list[str], int]:
    errors = []
    if not str(form.get("text") or "").strip():
        errors.append("Text: Dieses Feld ist zwingend erforderlich.")
    status = _optional_int(str(form.get("status") or ""))
    if status not in COMMENT_STATUSES:
        errors.append("Status: Bitte eine gültige Auswahl treffen.")
    return errors, status or 0


def _hide_checked(form: Any) -> bool:
    # Django's CheckboxInput: absent or "false"/"" means unchecked; any other value (e.g. "on") checks it.
    if "hide" not in form:
        return False
    value = str(form.get("hide") or "")
    return value != "" and value.lower() != "false"


@dataclass
class _ArticlePost:
    """A form POST on an article page that passed the checks Django makes before the view's own."""

    state: MyMomentState
    form: dict[str, str]
    session: Session
    account: Account
    article: Article


async def _article_post(request: Request) -> _ArticlePost | Response:
    """The POST's checks in Django's order (CSRF middleware, login, article), or the refusal's response."""
    state = state_of(request)
    form = await _read_form(request)
    failure = csrf_failure(request, form)
    if failure:
        return _forbidden(failure)
    session, account = _current(request)
    if account is None or session is None:
        return _login_redirect(request)
    article = state.article(int(request.path_params["article_id"]))
    if article is None:
        return not_found()
    return _ArticlePost(state, form, session, account, article)


async def comment_create(request: Request) -> Response:
    post = await _article_post(request)
    if isinstance(post, Response):
        return post
    state, form, article_id = post.state, post.form, post.article.id
    errors, status = _validate_comment(form)
    if errors:
        # Django re-renders an invalid form with status 200 (the reference client counts that as posted).
        csrf = CsrfContext(request)
        body = render_article(
            post.account, csrf.token(), post.article, state.comment_objects(article_id), errors
        )
        return _html(csrf, body)
    if state.post_latency_ms:
        await asyncio.sleep(state.post_latency_ms / 1000)
    state.add_comment(
        article_id,
        author=post.account.username,
        text=str(form.get("text")),
        status=status,
        hidden=_hide_checked(form),
        highlight=str(form.get("highlight") or ""),
    )
    if state.take_drop():
        request.scope[CONTROL_KEY].drop = True
        return Response(status_code=500)
    state.expect_redirect_follow(post.session, article_id)
    return _redirect(request, f"/article/{article_id}/")


async def increment_likes(request: Request) -> Response:
    post = await _article_post(request)
    if isinstance(post, Response):
        return post
    post.state.count_like(post.article.id)
    return _redirect(request, f"/article/{post.article.id}/")


def site_routes() -> list[Route]:
    """The site's own pages and forms, as far as the imitation reproduces them."""
    return [
        Route("/", landing, methods=["GET"]),
        Route("/accounts/login/", login, methods=["GET", "POST"]),
        Route("/accounts/logout/", logout, methods=["POST"]),
        Route("/articles/", articles, methods=["GET"]),
        Route("/article/{article_id:int}/", article_detail, methods=["GET"]),
        Route("/article/{article_id:int}/comment/", comment_create, methods=["POST"]),
        Route("/article/{article_id:int}/increment_likes/", increment_likes, methods=["POST"]),
        Route("/dashboard/user/{student_id:int}/", dashboard, methods=["GET"]),
    ]
