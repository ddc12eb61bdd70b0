"""HTML of the myMoment imitation: own markup that follows the real site's DOM structure (docs/protocol.md)."""

from __future__ import annotations

import html
from datetime import datetime
from typing import TYPE_CHECKING

from imitation.mymoment.vocabulary import (
    ARTICLE_STATUSES,
    CATEGORIES,
    CATEGORY_IMAGES,
    COMMENT_STATUSES,
    TASKS,
)

if TYPE_CHECKING:
    from imitation.mymoment.state import Account, Article, Comment

SITE_VERSION = "1.0.9"

MONTHS = (
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
)

# --- Formatting helpers -------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def long_date(moment: datetime) -> str:
    return f"{moment.day}. {MONTHS[moment.month - 1]} {moment.year}"


def long_datetime(moment: datetime) -> str:
    return f"{long_date(moment)}, {moment:%H:%M}"


def table_datetime(moment: datetime) -> str:
    return f"{moment:%d.%m.%Y} um {moment:%H:%M} Uhr"


def _csrf_input(token: str) -> str:
    return f'<input name="csrfmiddlewaretoken" type="hidden" value="{_e(token)}"/>'


# --- Page rendering (own markup with the captured DOM structure) --------------------------------------


def _nav(account: Account | None, token: str | None) -> str:
    if account is None:
        return (
            '<nav class="pt-3">\n<div class="d-flex">\n<ul class="nav align-items-center ms-auto">\n'
            '<li class="nav-item">\n<a class="btn btn-primary" href="/accounts/login/">Anmelden</a>\n</li>\n'
            f"{_menu_button()}</ul>\n</div>\n</nav>\n"
        )
    join = (
        f'<li class="nav-item me-2">\n<a class="btn btn-secondary" href="/accounts/{account.uid}/classroom/join/">'
        "Eintritt Klasse</a>\n</li>\n"
        if account.role == "pupil"
        else ""
    )
    return (
        '<nav class="pt-3">\n<div class="d-flex">\n'
        f'<ul class="nav me-auto d-flex align-items-center">\n{join}</ul>\n'
        '<ul class="nav align-items-center ms-auto">\n'
        f'<li class="nav-item me-2">\n<a class="btn btn-secondary" href="/accounts/{account.uid}/profile/">'
        f"{_e(account.username)}\n</a>\n</li>\n"
        '<li class="nav-item">\n<form action="/accounts/logout/" method="post">\n'
        f"{_csrf_input(token or '')}\n"
        '<button class="btn btn-secondary" type="submit">Abmelden</button>\n</form>\n</li>\n'
        f"{_menu_button()}</ul>\n</div>\n</nav>\n"
    )


def _menu_button() -> str:
    return (
        '<li class="nav-item ms-3">\n<button class="btn btn-orange btn-menu" data-bs-target="#menu_modal" '
        'data-bs-toggle="modal" type="button">Menü</button>\n</li>\n'
    )


def _header(logged_in: bool) -> str:
    links = (
        '<li class="nav-item me-3">\n<a class="btn btn-orange" href="/articles/">Beiträge</a>\n</li>\n'
        '<li class="nav-item">\n<a class="btn btn-orange position-relative" href="/journal/">Journal</a>\n</li>\n'
        if logged_in
        else ""
    )
    return (
        '<header class="d-flex py-4 mb-lg-4 align-items-center">\n'
        '<a class="mx-auto me-lg-auto ms-lg-0" href="/"><img class="logo" src="/static/img/logo.svg"/></a>\n'
        f'<ul class="nav nav-pills">\n{links}</ul>\n</header>\n'
    )


def _page(title: str, account: Account | None, token: str | None, content: str, extra: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="de">\n<head>\n<meta charset="utf-8"/>\n'
        '<meta content="width=device-width, initial-scale=1.0" name="viewport"/>\n'
        f"<title>{_e(title)}</title>\n"
        f'<link href="/static/css/styles.css?v={SITE_VERSION}" rel="stylesheet"/>\n</head>\n<body>\n'
        '<div class="fixed-top d-none" id="external-toolbar"></div>\n'
        '<section class="mb-5">\n<div class="container">\n'
        f"{_nav(account, token)}{_header(account is not None)}{content}{extra}"
        "</div>\n</section>\n"
        '<section class="footer">\n<div class="container mt-auto py-5">\n'
        '<footer class="d-flex flex-column">\n<ul class="nav">\n'
        '<li class="nav-item"><a class="nav-link" href="/dse/">Datenschutz</a></li>\n'
        '<li class="nav-item"><a class="nav-link" href="/support/">Support</a></li>\n'
        f'<li class="nav-item ms-auto">Version: {SITE_VERSION} (Imitation)</li>\n'
        "</ul>\n</footer>\n</div>\n</section>\n"
        '<div aria-hidden="true" class="modal fade" id="menu_modal" tabindex="-1"></div>\n'
        "</body>\n</html>\n"
    )


def _title_for(account: Account | None) -> str:
    return f"myMoment | {account.username}" if account else "myMoment | Schreiben lernen"


def render_landing(account: Account | None, token: str | None) -> str:
    if account is None:
        content = (
            "<h1>Willkommen bei myMoment</h1>\n<p>Melde dich an, um Beiträge zu lesen und zu schreiben.</p>\n"
            '<a class="btn btn-primary" href="/accounts/login/">Anmelden</a>\n'
        )
    else:
        content = (
            f"<h1>Hallo {_e(account.username)}</h1>\n"
            '<p><a class="btn btn-primary" href="/articles/">Zu den Beiträgen</a></p>\n'
        )
    return _page(_title_for(account), account, token, content)


def render_login(
    account: Account | None, token: str, next_url: str, username: str = "", error: str = ""
) -> str:
    error_html = (
        f'<div class="alert alert-block alert-danger">\n<ul class="m-0">\n<li>{_e(error)}</li>\n</ul>\n</div>\n'
        if error
        else ""
    )
    content = (
        "<h2>Anmeldung</h2>\n"
        '<form method="post">\n'
        f"{_csrf_input(token)}\n"
        f'<input name="next" type="hidden" value="{_e(next_url)}"/>\n'
        f"{error_html}"
        '<div class="mb-3" id="div_id_username">\n'
        '<label class="form-label requiredField" for="id_username">Benutzername'
        '<span class="asteriskField">*</span></label>\n'
        '<input autocapitalize="none" autocomplete="username" autofocus="" class="textinput form-control" '
        f'id="id_username" maxlength="150" name="username" required="" type="text" value="{_e(username)}"/>\n'
        "</div>\n"
        '<input autocomplete="current-password" class="passwordinput form-control" id="id_password" '
        'name="password" required="" type="password" value=""/>\n'
        '<button class="btn btn-primary" type="submit">Anmelden</button>\n'
        '<a class="btn btn-link" href="/accounts/password_reset/">Passwort vergessen</a>\n'
        '<a class="btn btn-link" href="/accounts/teacher/register/">Registrierung Lehrperson</a>\n'
        "</form>\n"
    )
    return _page("myMoment | Anmeldung", account, token, content)


def _options(choices: dict[int, str], selected: int | None, empty_label: str) -> str:
    rows = [f'<option value="">{_e(empty_label)}</option>']
    for value, label in choices.items():
        mark = ' selected=""' if value == selected else ""
        rows.append(f'<option value="{value}"{mark}>\n                {_e(label)}\n            </option>')
    return "\n".join(rows)


def _filter_form(tab: str, kategorie: int | None, aufgabe: int | None) -> str:
    return (
        '<div class="d-flex justify-content-between align-items-center my-3">\n'
        '<h1 class="mb-0">Beiträge</h1>\n'
        '<form action="" class="d-flex article-filter" method="get">\n'
        f'<input id="active-tab" name="tab" type="hidden" value="{_e(tab)}"/>\n'
        '<select class="form-select" id="kategorie" name="kategorie" onchange="this.form.submit()">\n'
        f"{_options(CATEGORIES, kategorie, 'Alle Kategorien')}\n</select>\n"
        '<select class="form-select" id="aufgabe" name="aufgabe" onchange="this.form.submit()">\n'
        f"{_options(TASKS, aufgabe, 'Alle Aufgaben')}\n</select>\n"
        "</form>\n</div>\n"
    )


def _status_legend() -> str:
    items = "".join(
        f'<li class="mb-2">{label}<img class="ms-3" src="/static/img/article-status-{status}.svg" width="45"/></li>\n'
        for status, label in zip(
            ARTICLE_STATUSES, ("Entwurf", "Lehrpersonenkontrolle", "Publiziert"), strict=True
        )
    )
    return (
        '<div class="d-flex justify-content-between align-items-center">\n'
        '<a class="btn btn-primary" href="/article/create/">Beitrag erstellen</a>\n'
        f'<ul class="list-unstyled mb-0 text-end">\n{items}</ul>\n</div>\n'
    )


def _tab_buttons(tabs: list[tuple[str, str]], active: str) -> str:
    rows = []
    for index, (tab_id, label) in enumerate(tabs):
        spacing = "me-2" if index == 0 else "ms-2" if index == len(tabs) - 1 else "mx-2"
        state = " active" if tab_id == active else ""
        rows.append(
            '<li class="nav-item" role="presentation">\n'
            f'<button class="btn btn-secondary {spacing} mb-2{state}" data-bs-target="#pills-{_e(tab_id)}" '
            f'data-bs-toggle="pill" id="{_e(tab_id)}" role="tab" type="button">{_e(label)}</button>\n</li>'
        )
    return (
        '<ul class="nav nav-pills mb-4 pt-3" id="pills-tab" role="tablist">\n' + "\n".join(rows) + "\n</ul>\n"
    )


def _card(article: Article, visibility: str) -> str:
    keyword = CATEGORY_IMAGES.get(article.category_id or 0, "allgemein")
    return (
        f'<div class="col-lg-4 mb-4"><a href="/article/{article.id}/"><div class="card">'
        f'<div class="card-header {article.status}"><div>Sichtbar für:</div>'
        f'<div class="article-classroom">{_e(visibility)}</div>'
        f'<img src="/static/img/article-status-{article.status}.svg"/></div>'
        f'<div class="card-body"><img src="/media/kategorien/{keyword}.png.1500x1500_q85_upscale.png"/></div>'
        '<div class="card-footer d-flex flex-wrap">'
        f'<div class="article-title w-100"><strong>{_e(article.title)}</strong></div>'
        f'<div class="article-author">{_e(article.author)}</div>'
        f'<div class="article-date">\n                    {long_date(article.created)}\n                </div>'
        "</div></div></a></div>"
    )


def _list_items(label: str | None) -> str:
    return f'<ul class="list-unstyled mb-0">{f"<li>{_e(label)}</li>" if label else ""}</ul>'


def _table_row(article: Article, visibility: str) -> str:
    cells = [
        f'<a href="/article/{article.id}/">{_e(article.title)}</a>',
        _e(article.author),
        _e(visibility),
        _list_items(CATEGORIES.get(article.category_id or 0)),
        _list_items(TASKS.get(article.task_id or 0)),
        _e(article.status.capitalize()),
        table_datetime(article.created),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _pane_body(articles: list[Article], labels: dict[int, str], teacher: bool) -> str:
    if not teacher:
        cards = "".join(_card(a, labels[a.id]) for a in articles)
        return f'<div class="row article-list mt-4">{cards}</div>'
    rows = "\n".join(_table_row(a, labels[a.id]) for a in articles)
    header = "".join(
        f"<th>{h}</th>"
        for h in ("Titel", "Autor:in", "Sichtbar für", "Kategorie", "Aufgabe", "Status", "Aktualisiert")
    )
    return (
        '<div class="table-responsive mt-4"><table class="table table-striped data-table">'
        f"<thead><tr>{header}</tr></thead>\n<tbody>\n{rows}\n</tbody></table></div>"
    )


def render_articles(
    account: Account,
    token: str,
    tabs: list[tuple[str, str]],
    panes: dict[str, list[Article]],
    labels: dict[int, str],
    active: str,
    kategorie: int | None,
    aufgabe: int | None,
) -> str:
    teacher = account.role == "teacher"
    pane_html = []
    for tab_id, _label in tabs:
        state = " show active" if tab_id == active else ""
        pane_html.append(
            f'<div aria-labelledby="{_e(tab_id)}" class="tab-pane fade{state}" id="pills-{_e(tab_id)}" '
            f'role="tabpanel" tabindex="0">{_pane_body(panes[tab_id], labels, teacher)}</div>'
        )
    content = (
        f"{_status_legend()}{_filter_form(active, kategorie, aufgabe)}"
        f'<div class="articles">\n{_tab_buttons(tabs, active)}'
        f'<div class="tab-content">\n{"".join(pane_html)}\n</div>\n</div>\n'
    )
    return _page(_title_for(account), account, token, content)


def _comment_form(article_id: int, token: str, errors: list[str]) -> str:
    error_html = "".join(f'<div class="alert alert-danger">{_e(e)}</div>\n' for e in errors)
    status_options = " ".join(
        f'<option{" selected=" + chr(34) * 2 if value == 20 else ""} value="{value}">{label}</option>'
        for value, label in COMMENT_STATUSES.items()
    )
    return (
        "<h2>Kommentar erstellen</h2>\n"
        f'<form action="/article/{article_id}/comment/" id="comment-create" method="post">\n'
        f"{_csrf_input(token)}\n{error_html}"
        '<div class="mb-3" id="div_id_text"> <label class="form-label requiredField" for="id_text">Text'
        '<span class="asteriskField">*</span> </label> '
        '<textarea class="redactor-box redactoreditor form-control" cols="40" '
        'data-image-upload="/redactor/upload/image/" id="id_text" name="text" required="" rows="10">\n'
        "</textarea> </div> "
        f'<div class="mb-3" id="div_id_status"> <select class="d-none select form-select" id="id_status" '
        f'name="status"> {status_options}\n</select> </div> '
        '<div class="mb-3"> <div class="mb-3 form-check" id="div_id_hide"> '
        '<input class="checkboxinput form-check-input" id="id_hide" name="hide" type="checkbox"/> '
        '<label class="form-check-label" for="id_hide">Kommentar verstecken</label> </div> </div> '
        '<input id="id_highlight" name="highlight" type="hidden"/>\n'
        '<button class="btn btn-primary" type="submit">Erstellen</button>\n</form>\n'
        '<nav class="navbar sticky-bottom my-4 alert-highlighted d-none">\n<div class="my-3"></div>\n'
        '<a class="btn btn-secondary" href="#comment-create">Kommentar zu diesem Text erstellen</a>\n</nav>\n'
    )


def _comment(comment: Comment) -> str:
    hidden_class = " d-none" if comment.hidden else ""
    show_button = (
        '\n<button class="btn btn-secondary comment-show" type="button">Kommentar anzeigen</button>'
        if comment.hidden
        else ""
    )
    highlight = (
        f'\n<div class="highlights"><div class="{"hidden-comment" if comment.hidden else "normal-comment"}" '
        f'id="highlight-{comment.id}">{_e(comment.highlight)}</div></div>'
        f'\n<button class="btn btn-link btn-highlight" data-highlight="{comment.id}" type="button">Markierung</button>'
        if comment.highlight
        else ""
    )
    return (
        '<div class="comment">\n<div class="card mb-4">\n<div class="card-body">\n'
        f'<h5 class="card-title d-flex">von {_e(comment.author)}</h5>\n'
        f'<h6 class="card-subtitle mb-2 text-body-secondary">{long_datetime(comment.created)}</h6>\n'
        f'<span class="card-text{hidden_class}">{comment.text}</span>{show_button}\n'
        f'<a class="card-link" href="/comment/{comment.id}/">bearbeiten</a>{highlight}\n'
        "</div>\n</div>\n</div>\n"
    )


def _modal(modal_id: str, heading: str, body: str, href: str, action: str) -> str:
    return (
        f'<div aria-hidden="true" class="modal fade" id="{modal_id}" tabindex="-1">\n'
        '<div class="modal-dialog">\n<div class="modal-content rounded-5">\n<div class="modal-header">\n'
        f'<h1 class="modal-title fs-5">{heading}</h1>\n</div>\n'
        f'<div class="modal-body py-4">\n<p>{body}</p>\n</div>\n'
        f'<div class="modal-footer p-3 border-0 rounded-5 rounded-top-0">\n'
        f'<a class="btn btn-primary" href="{href}">{action}</a>\n</div>\n</div>\n</div>\n</div>\n'
    )


def render_article(
    account: Account, token: str, article: Article, comments: list[Comment], errors: list[str] | None = None
) -> str:
    facts = (
        f'<li class="list-group-item">Kategorie: {_e(CATEGORIES[article.category_id])}</li>\n'
        if article.category_id in CATEGORIES
        else ""
    )
    if article.task_id in TASKS:
        facts += f'<li class="list-group-item">Aufgabe: {_e(TASKS[article.task_id])}</li>\n'
    paragraphs = "".join(f"<p>{_e(p)}</p>" for p in article.paragraphs)
    speech = "\n".join(_e(p) for p in article.paragraphs)
    comment_html = (
        '<h2 class="mt-5">Alle Kommentare</h2>\n' + "".join(_comment(c) for c in comments) if comments else ""
    )
    content = (
        f"<h1>{_e(article.title)} von {_e(article.author)}</h1>\n"
        f"<h6>Aktualisiert am: {long_datetime(article.created)} Uhr</h6>\n"
        '<div class="d-flex justify-content-between align-items-center">\n'
        f'<ul class="social list-group list-group-horizontal">\n{facts}</ul>\n'
        f'<form action="/article/{article.id}/increment_likes/" class="ms-auto" method="post">\n'
        f'{_csrf_input(token)}\n<button class="btn btn-primary" type="submit">Gefällt mir</button>\n</form>\n'
        "</div>\n"
        '<div class="d-flex justify-content-between align-items-center mt-4">\n'
        '<ul class="social list-group list-group-horizontal">\n'
        f'<li class="list-group-item">Likes: {article.likes}</li>\n'
        f'<li class="list-group-item">Views: {article.views}</li>\n</ul>\n'
        '<div class="btn-group" role="group">\n'
        '<button class="btn btn-secondary" data-action="text-to-speech-play" data-mode="live" role="button">'
        "Vorlesen</button>\n</div>\n</div>\n"
        '<div class="article">\n'
        f'<div class="d-flex flex-column highlight-target">{paragraphs}</div>\n'
        f'<textarea class="d-none" id="text-to-speech">{speech}</textarea>\n</div>\n'
        f"{_comment_form(article.id, token, errors or [])}{comment_html}"
    )
    modals = _modal(
        "publish_article_modal",
        "Beitrag publizieren",
        "Möchtest du deinen Beitrag jetzt publizieren?",
        f"/article/{article.id}/publish/",
        "Ja, publizieren",
    ) + _modal(
        "draft_article_modal",
        "Beitrag zurückziehen",
        "Möchtest du deinen Beitrag jetzt zurückziehen?",
        f"/article/{article.id}/draft/",
        "Ja, zurückziehen",
    )
    return _page(_title_for(account), account, token, content, modals)


def _dashboard_row(article: Article, visibility: str) -> str:
    cells = [
        f'<a href="/article/edit/{article.id}/">{_e(article.title)}</a>',
        _e(visibility),
        _list_items(CATEGORIES.get(article.category_id or 0)),
        _e(article.status.capitalize()),
        table_datetime(article.last_modified),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def render_dashboard(
    account: Account, token: str, pupil: Account, articles: list[Article], labels: dict[int, str]
) -> str:
    """A teacher's view of one pupil (docs/protocol.md#student-dashboard): the articles in #pills-articles."""
    header = "".join(
        f"<th>{h}</th>" for h in ("Titel", "Sichtbar für", "Kategorie", "Status", "Zuletzt geändert")
    )
    rows = "\n".join(_dashboard_row(a, labels[a.id]) for a in articles)
    content = (
        f'<h1 class="student-name">{_e(pupil.username)}</h1>\n'
        '<ul class="nav nav-pills mb-3" id="pills-tab" role="tablist">\n'
        '<li class="nav-item" role="presentation"><button class="nav-link active" data-bs-target="#pills-articles" '
        'data-bs-toggle="pill" role="tab" type="button">Texte</button></li>\n</ul>\n'
        '<div class="tab-content">\n<div class="tab-pane fade show active" id="pills-articles" role="tabpanel">\n'
        '<div class="table-responsive mt-4"><table class="table table-striped data-table">'
        f"<thead><tr>{header}</tr></thead>\n<tbody>\n{rows}\n</tbody></table></div>\n</div>\n</div>\n"
    )
    return _page(_title_for(account), account, token, content)


def render_error(status: int, heading: str, detail: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="de">\n<head>\n<meta charset="utf-8"/>\n'
        f"<title>{status} {_e(heading)}</title>\n</head>\n<body>\n"
        f"<h1>{_e(heading)} <span>({status})</span></h1>\n<p>{_e(detail)}</p>\n</body>\n</html>\n"
    )
