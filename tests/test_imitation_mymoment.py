"""The myMoment imitation over real HTTP: login/CSRF, views, comments, request log, faults, admin API."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup, Tag

from imitation.mymoment import MyMomentState, create_app, seed_demo
from yourmoment.serving import RunningServer, serve_in_thread

CAPTURES = Path(__file__).resolve().parents[2] / "shared" / "mymoment" / "captures"
PASSWORD = "demo-pass"
PREFIX = "[Dieser Kommentar stammt von einem KI-ChatBot.]"
TABLE_DATE = re.compile(r"^\d{2}\.\d{2}\.\d{4} um \d{2}:\d{2} Uhr$")


# --- Fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[RunningServer, MyMomentState]]:
    app = create_app()
    with serve_in_thread(app) as srv:
        yield srv, app.state.mymoment


@dataclass
class Site:
    url: str
    state: MyMomentState
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, timeout: float = 5.0) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=timeout)
        self.clients.append(client)
        return client


@pytest.fixture
def site(server: tuple[RunningServer, MyMomentState]) -> Iterator[Site]:
    srv, state = server
    state.reset()
    seed_demo(state)
    result = Site(url=srv.url, state=state)
    yield result
    for client in result.clients:
        client.close()


# --- Helpers: the client side of docs/protocol.md, written against the captures ------------------------


def soup_of(markup: str) -> BeautifulSoup:
    return BeautifulSoup(markup, "html.parser")


def one(node: Tag, selector: str) -> Tag:
    """The first element `selector` matches in `node`; the test fails when none does."""
    found = node.select_one(selector)
    assert found is not None, selector
    return found


def csrf_in(markup: str, form_selector: str = "form") -> str:
    form = soup_of(markup).select_one(form_selector)
    assert form is not None, f"no {form_selector}"
    field_ = form.find("input", attrs={"name": "csrfmiddlewaretoken"})
    assert isinstance(field_, Tag)
    return str(field_["value"])


def has_logout_form(markup: str) -> bool:
    return any(form.get("action") == "/accounts/logout/" for form in soup_of(markup).find_all("form"))


def login(client: httpx.Client, username: str, password: str = PASSWORD, next_: str = "") -> httpx.Response:
    page = client.get("/accounts/login/")
    data = {
        "csrfmiddlewaretoken": csrf_in(page.text),
        "username": username,
        "password": password,
        "next": next_,
    }
    return client.post(
        "/accounts/login/", data=data, headers={"Referer": f"{client.base_url}/accounts/login/"}
    )


def post_comment(
    client: httpx.Client, article_id: int, text: str, hide: bool = False, follow: bool = False
) -> httpx.Response:
    page = client.get(f"/article/{article_id}/")
    data = {
        "csrfmiddlewaretoken": csrf_in(page.text, "form#comment-create"),
        "text": text,
        "status": "20",
        "highlight": "",
    }
    if hide:
        data["hide"] = "on"
    return client.post(
        f"/article/{article_id}/comment/",
        data=data,
        headers={"Referer": f"{client.base_url}/article/{article_id}/"},
        follow_redirects=follow,
    )


def parse_tabs(soup: BeautifulSoup) -> list[tuple[str, str]]:
    tabs = []
    for button in soup.select("ul#pills-tab button[role=tab]"):
        target = str(button.get("data-bs-target", ""))
        if target.startswith("#pills-"):
            tabs.append((target.removeprefix("#pills-"), button.get_text(strip=True)))
    return tabs


def parse_cards(soup: BeautifulSoup, tab: str) -> list[dict[str, str]]:
    """docs/protocol.md#article-list: direct-child article-list div of the pane, then its direct-child card divs."""
    pane = soup.find("div", id=f"pills-{tab}")
    assert isinstance(pane, Tag)
    listing = next(
        (d for d in pane.find_all("div", recursive=False) if "article-list" in (d.get("class") or [])), None
    )
    if listing is None:
        return []
    cards = []
    for card in listing.find_all("div", recursive=False):
        link = card.find("a")
        href = str(link.get("href", "")) if link else ""
        if "/article/" not in href:
            continue
        header = card.find("div", class_=re.compile(r"card-header"))
        status_classes = (
            [c for c in header.get_attribute_list("class") if c != "card-header"] if header else []
        )
        cards.append(
            {
                "id": [p for p in href.split("/") if p][-1],
                "title": one(card, "div.article-title").get_text(strip=True),
                "author": one(card, "div.article-author").get_text(strip=True),
                "date": one(card, "div.article-date").get_text(strip=True),
                "visibility": one(card, "div.article-classroom").get_text(strip=True),
                "status": status_classes[0].capitalize() if status_classes else "Unknown",
                "image": str(one(card, "div.card-body img")["src"]),
            }
        )
    return cards


def parse_table(soup: BeautifulSoup, tab: str) -> list[list[str]]:
    """docs/protocol.md#article-list: the first table of the pane, rows of at least 7 cells."""
    pane = soup.find("div", id=f"pills-{tab}")
    assert isinstance(pane, Tag)
    table = pane.find("table")
    assert isinstance(table, Tag)
    rows = []
    for row in table.select("tbody tr"):
        cells = row.find_all("td")
        if len(cells) >= 7:
            href = str(one(cells[0], "a")["href"])
            rows.append([href, *[c.get_text(" ", strip=True) for c in cells]])
    return rows


def parse_detail(markup: str) -> dict[str, Any]:
    """docs/protocol.md#article-page and #existing-comments."""
    soup = soup_of(markup)
    heading = one(soup, "h1").get_text(strip=True)
    title, _, rest = heading.partition(" von ")
    facts = {}
    for item in soup.select("li.list-group-item"):
        text = item.get_text(strip=True)
        for key in ("Kategorie:", "Aufgabe:"):
            if text.startswith(key):
                facts[key[:-1]] = text[len(key) :].strip()
    comments = []
    for comment in soup.select("div.comment"):
        body = one(comment, "div.card.mb-4 > div.card-body")
        span = one(body, "span.card-text")
        following = span.find_next_sibling()
        comments.append(
            {
                "author": one(body, "h5.card-title.d-flex").get_text(strip=True).removeprefix("von "),
                "date": one(body, "h6.card-subtitle.mb-2.text-body-secondary").get_text(strip=True),
                "html": span.decode_contents(),
                "hidden": "d-none" in span.get_attribute_list("class"),
                "button_after": following is not None
                and "comment-show" in following.get_attribute_list("class"),
                "edit": str(one(body, "a.card-link")["href"]),
            }
        )
    return {
        "title": title,
        "author": rest.split(" von ")[0] if rest else "Unknown Author",
        "facts": facts,
        "paragraphs": [p.get_text(strip=True) for p in soup.select(".article .highlight-target p")],
        "speech": one(soup, "textarea#text-to-speech").get_text(),
        "comments": comments,
    }


def signature(element: Tag) -> list[tuple[str, tuple[str, ...]]]:
    """Tag names and classes of an element and its descendants, in document order."""
    nodes = [element, *element.find_all(True)]
    return [(node.name, tuple(node.get("class") or ())) for node in nodes]


def capture(name: str) -> str:
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"capture {name} not available")
    return path.read_text(encoding="utf-8")


# --- Login, CSRF, sessions ----------------------------------------------------------------------------


def test_login_needs_csrf_cookie_token_and_referer(site: Site) -> None:
    client = site.client()
    page = client.get("/accounts/login/")
    secret = client.cookies["csrftoken"]
    token = csrf_in(page.text)
    assert len(secret) == 32 and len(token) == 64
    assert csrf_in(client.get("/accounts/login/").text) != token  # masked per render
    assert client.cookies["csrftoken"] == secret  # cookie kept once set
    good = {"csrfmiddlewaretoken": token, "username": "demo-pupil-1", "password": PASSWORD, "next": ""}
    referer = {"Referer": f"{site.url}/accounts/login/"}

    assert client.post("/accounts/login/", data=good).status_code == 403  # no Referer
    foreign = {"Referer": "http://evil.example/accounts/login/"}
    assert client.post("/accounts/login/", data=good, headers=foreign).status_code == 403
    assert (
        client.post("/accounts/login/", data={**good, "csrfmiddlewaretoken": ""}, headers=referer).status_code
        == 403
    )
    wrong = {**good, "csrfmiddlewaretoken": "x" * 64}
    assert client.post("/accounts/login/", data=wrong, headers=referer).status_code == 403
    assert "sessionid" not in client.cookies

    answer = client.post("/accounts/login/", data=good, headers=referer)
    assert answer.status_code == 302 and answer.headers["location"] == "/"
    assert client.cookies["sessionid"]
    home = client.get("/")
    assert home.status_code == 200 and has_logout_form(home.text)
    soup = soup_of(home.text)
    assert one(soup, "title").get_text() == "myMoment | demo-pupil-1"
    assert one(soup, 'a[href="/accounts/2000/profile/"]').get_text(strip=True) == "demo-pupil-1"
    assert site.state.stats()["logins"] == {"demo-pupil-1": 1}


def test_unmasked_secret_is_accepted_and_login_follows_next(site: Site) -> None:
    client = site.client()
    client.get("/accounts/login/")
    data = {
        "csrfmiddlewaretoken": client.cookies["csrftoken"],
        "username": "demo-pupil-2",
        "password": PASSWORD,
        "next": "/articles/?tab=82",
    }
    answer = client.post("/accounts/login/", data=data, headers={"Referer": f"{site.url}/accounts/login/"})
    assert answer.status_code == 302 and answer.headers["location"] == "/articles/?tab=82"


def test_wrong_password_renders_form_without_logout(site: Site) -> None:
    client = site.client()
    answer = login(client, "demo-pupil-1", "falsch")
    assert answer.status_code == 200
    assert not has_logout_form(answer.text)
    soup = soup_of(answer.text)
    assert soup.select_one("div.alert-danger") is not None
    names = [i.get("name") for i in soup.select("form[method=post] input")]
    assert names == ["csrfmiddlewaretoken", "next", "username", "password"]
    probe = client.get("/")
    assert probe.status_code == 200 and not has_logout_form(probe.text)
    assert site.state.stats()["logins"] == {}


def test_protected_pages_redirect_to_login(site: Site) -> None:
    client = site.client()
    listing = client.get("/articles/?tab=home")
    assert listing.status_code == 302
    assert listing.headers["location"] == "/accounts/login/?next=/articles/%3Ftab%3Dhome"
    detail = client.get("/article/4501/")
    assert detail.headers["location"] == "/accounts/login/?next=/article/4501/"
    client.get("/accounts/login/")  # a CSRF cookie, but no session
    token = client.cookies["csrftoken"]
    posted = client.post(
        "/article/4501/comment/", data={"csrfmiddlewaretoken": token, "text": "x", "status": "20"}
    )
    assert posted.status_code == 302 and posted.headers["location"].startswith("/accounts/login/")
    assert site.state.all_comments() == []


def test_logout_ends_session(site: Site) -> None:
    client = site.client()
    login(client, "demo-pupil-1")
    home = client.get("/")
    answer = client.post("/accounts/logout/", data={"csrfmiddlewaretoken": csrf_in(home.text, "nav form")})
    assert answer.status_code == 302 and answer.headers["location"] == "/"
    assert not has_logout_form(client.get("/").text)
    assert client.get("/articles/").status_code == 302


def test_session_expiry_and_expire_all(site: Site) -> None:
    client = site.client()
    login(client, "demo-pupil-1")
    site.state.set_faults(session_expiry_seconds=0.2)
    assert has_logout_form(client.get("/").text)
    time.sleep(0.25)
    assert not has_logout_form(client.get("/").text)
    assert client.get("/articles/").headers["location"].startswith("/accounts/login/")

    site.state.set_faults(session_expiry_seconds=None)
    login(client, "demo-pupil-1")
    assert has_logout_form(client.get("/").text)
    assert httpx.post(f"{site.url}/_admin/expire-sessions").json()["expired"] == 1
    assert not has_logout_form(client.get("/").text)


# --- Article list -------------------------------------------------------------------------------------


def test_pupil_sees_cards_in_all_panes(site: Site) -> None:
    state = site.state
    draft = state.add_article("Mein Entwurf", "demo-pupil-1", class_id=82, category_id=5, status="entwurf")
    other_class = state.add_article("Nur Klasse B", "Mia", class_id=91, category_id=9)
    public = state.add_article("Für alle", "Ben", class_id=None, category_id=6, created="2026-05-02T08:00:00")
    client = site.client()
    login(client, "demo-pupil-1")
    soup = soup_of(client.get("/articles/?tab=82").text)

    assert parse_tabs(soup) == [("home", "Meine"), ("82", "Beispielklasse A (Testschule)"), ("alle", "Alle")]
    panes = soup.select("div.tab-content > div.tab-pane.fade")
    assert [p["id"] for p in panes] == ["pills-home", "pills-82", "pills-alle"]
    assert [p["id"] for p in panes if "show" in p["class"] and "active" in p["class"]] == ["pills-82"]
    assert one(soup, "form.article-filter input#active-tab")["value"] == "82"
    assert [o["value"] for o in soup.select("select[name=kategorie] option")] == [
        "",
        "4",
        "14",
        "5",
        "6",
        "7",
        "8",
        "9",
    ]
    assert [o["value"] for o in soup.select("select[name=aufgabe] option")] == ["", "4", "10", "12", "13"]

    home = parse_cards(soup, "home")
    assert [(c["id"], c["status"]) for c in home] == [(str(draft), "Entwurf")]
    assert home[0]["image"].split("/")[-1].startswith("erklaeren.")
    klasse = parse_cards(soup, "82")
    assert [c["id"] for c in klasse] == ["4503", "4502", "4501"]  # newest first, no draft
    assert klasse[2] == {
        "id": "4501",
        "title": "Der Regenschirm und die Gummistiefel",
        "author": "Lea-S",
        "date": "4. Februar 2026",
        "visibility": "Beispielklasse A (Testschule)",
        "status": "Publiziert",
        "image": klasse[2]["image"],
    }
    alle = parse_cards(soup, "alle")
    assert [c["id"] for c in alle] == [str(public), "4503", "4502", "4501"]
    assert alle[0]["visibility"] == "Alle"
    assert str(other_class) not in {
        c["id"] for pane in ("home", "82", "alle") for c in parse_cards(soup, pane)
    }


def test_teacher_sees_tables(site: Site) -> None:
    site.state.add_article("Klasse B Text", "Mia", class_id=91, category_id=7, task_id=10)
    client = site.client()
    login(client, "demo-teacher")
    soup = soup_of(client.get("/articles/").text)
    assert [t for t, _ in parse_tabs(soup)] == ["home", "82", "91", "alle"]
    assert soup.select(".article-list") == []
    for pane in ("home", "82", "91", "alle"):
        assert (
            soup.select_one(f"div#pills-{pane} > div.table-responsive > table.data-table thead") is not None
        )
    rows = parse_table(soup, "91")
    assert len(rows) == 1
    href, title, author, visibility, category, task, status, date = rows[0]
    assert href == "/article/4504/" and title == "Klasse B Text" and author == "Mia"
    assert visibility == "Beispielklasse B (Testschule)"
    assert (category, task, status) == ("Informieren", "Wo ist Hugo? (Anleitung schreiben)", "Publiziert")
    assert TABLE_DATE.match(date)
    assert [r[0] for r in parse_table(soup, "82")] == ["/article/4503/", "/article/4502/", "/article/4501/"]
    assert parse_table(soup, "82")[2][7] == "04.02.2026 um 18:04 Uhr"


def test_filters_apply_to_every_pane(site: Site) -> None:
    site.state.add_article("Eigener Bericht", "demo-pupil-1", class_id=82, category_id=7, status="entwurf")
    client = site.client()
    login(client, "demo-pupil-1")
    soup = soup_of(client.get("/articles/?tab=alle&kategorie=7").text)
    assert [c["title"] for c in parse_cards(soup, "home")] == ["Eigener Bericht"]
    assert [c["id"] for c in parse_cards(soup, "82")] == ["4502"]
    assert [c["id"] for c in parse_cards(soup, "alle")] == ["4502"]
    assert one(soup, "select[name=kategorie] option[selected]")["value"] == "7"

    soup = soup_of(client.get("/articles/?aufgabe=4").text)
    assert [c["id"] for c in parse_cards(soup, "82")] == ["4501"]
    assert parse_cards(soup, "home") == []
    soup = soup_of(client.get("/articles/?kategorie=7&aufgabe=4").text)
    assert all(parse_cards(soup, pane) == [] for pane in ("home", "82", "alle"))


# --- Article page and comments ------------------------------------------------------------------------


def test_article_page_structure(site: Site) -> None:
    client = site.client()
    login(client, "demo-pupil-1")
    first = client.get("/article/4501/")
    assert first.status_code == 200
    detail = parse_detail(first.text)
    assert (detail["title"], detail["author"]) == ("Der Regenschirm und die Gummistiefel", "Lea-S")
    assert detail["facts"] == {
        "Kategorie": "Unterhalten",
        "Aufgabe": "Fiktionaler Dialog zwischen zwei Gegenständen",
    }
    assert len(detail["paragraphs"]) == 5
    assert detail["speech"].split("\n") == detail["paragraphs"]
    assert detail["comments"] == []
    soup = soup_of(first.text)
    assert soup.find("h2", string="Alle Kommentare") is None
    assert one(soup, "h6").get_text() == "Aktualisiert am: 4. Februar 2026, 18:04 Uhr"
    form = one(soup, 'form#comment-create[action="/article/4501/comment/"][method=post]')
    names = [e.get("name") for e in form.find_all(["input", "textarea", "select"])]
    assert names == ["csrfmiddlewaretoken", "text", "status", "hide", "highlight"]
    assert one(form, "select#id_status option[selected]")["value"] == "20"
    assert [o["value"] for o in form.select("select#id_status option")] == ["10", "11", "20", "30"]
    hide = one(form, "input#id_hide")
    assert hide["type"] == "checkbox" and not hide.has_attr("value")
    assert one(form, "input#id_highlight")["type"] == "hidden"
    assert csrf_in(client.get("/article/4501/").text, "form#comment-create") != csrf_in(
        first.text, "form#comment-create"
    )

    persuasive = parse_detail(client.get("/article/4503/").text)
    assert persuasive["facts"] == {"Kategorie": "Überzeugen"}
    assert client.get("/article/999999/").status_code == 404


def test_comment_post_is_stored_and_rendered(site: Site) -> None:
    client = site.client()
    login(client, "demo-pupil-1")
    visible = f"<p>{PREFIX}</p><p>Ein sichtbarer Kommentar mit genug Text.</p>"
    hidden = f"<p>{PREFIX}</p><p>Ein versteckter Kommentar.</p>"
    answer = post_comment(client, 4502, visible)
    assert answer.status_code == 302 and answer.headers["location"] == "/article/4502/"
    final = post_comment(client, 4502, hidden, hide=True, follow=True)
    assert final.status_code == 200 and str(final.url).endswith("/article/4502/")

    stored = site.state.comments_for(4502)
    assert [(c["author"], c["text"], c["hidden"], c["status"]) for c in stored] == [
        ("demo-pupil-1", visible, False, 20),
        ("demo-pupil-1", hidden, True, 20),
    ]
    comments = parse_detail(final.text)["comments"]
    assert [(c["author"], c["html"], c["hidden"], c["button_after"]) for c in comments] == [
        ("demo-pupil-1", visible, False, False),
        ("demo-pupil-1", hidden, True, True),
    ]
    assert comments[1]["edit"] == f"/comment/{stored[1]['id']}/"
    assert one(soup_of(final.text), "h2.mt-5").get_text() == "Alle Kommentare"


def test_comment_post_rejects_bad_csrf_and_invalid_form(site: Site) -> None:
    client = site.client()
    login(client, "demo-pupil-1")
    page = client.get("/article/4501/")
    token = csrf_in(page.text, "form#comment-create")
    bad = client.post(
        "/article/4501/comment/", data={"csrfmiddlewaretoken": "y" * 64, "text": "<p>x</p>", "status": "20"}
    )
    assert bad.status_code == 403
    missing = client.post("/article/4501/comment/", data={"text": "<p>x</p>", "status": "20"})
    assert missing.status_code == 403
    empty = client.post(
        "/article/4501/comment/", data={"csrfmiddlewaretoken": token, "text": " ", "status": "20"}
    )
    assert empty.status_code == 200 and "zwingend erforderlich" in empty.text
    assert site.state.comments_for(4501) == []


def test_request_kinds_and_login_counts(site: Site) -> None:
    client = site.client()
    client.get("/")
    login(client, "demo-pupil-1")
    client.get("/")
    client.get("/articles/?tab=home")
    post_comment(client, 4501, f"<p>{PREFIX}</p><p>Text</p>", follow=True)
    client.get("/article/4501/")
    client.get("/journal/")
    httpx.get(f"{site.url}/_admin/stats")  # admin calls are not logged

    stats = site.state.stats()
    assert stats["by_kind"] == {
        "login": 2,
        "probe": 2,
        "list": 1,
        "article": 2,
        "dashboard": 0,
        "post": 1,
        "redirect": 1,
        "other": 1,
    }
    assert stats["total"] == 10
    assert stats["logins"] == {"demo-pupil-1": 1}
    assert stats["by_login"] == {"": 3, "demo-pupil-1": 7}
    assert stats["by_path"]["/article/4501/"] == 3
    assert 1 <= stats["peak_rps_1s"] <= 10
    kinds = [r["kind"] for r in stats["requests"]]
    assert kinds[-4:] == ["post", "redirect", "article", "other"]
    assert stats["requests"][-4]["status"] == 302 and stats["requests"][-1]["status"] == 404
    site.state.reset_stats()
    assert site.state.stats()["total"] == 0


# --- Fault switches -----------------------------------------------------------------------------------


def test_backslash_redirects(site: Site) -> None:
    site.state.set_faults(backslash_redirects=True)
    # httpx 0.28 parses Location even without following it, so a plain client fails outright.
    with pytest.raises(httpx.RemoteProtocolError):
        site.client().get("/articles/")

    seen: list[str] = []

    def repair(response: httpx.Response) -> None:
        location = response.headers.get("location")
        if location:
            seen.append(location)
            response.headers["location"] = location.replace("\\", "/")

    client = httpx.Client(base_url=site.url, event_hooks={"response": [repair]})
    site.clients.append(client)
    final = client.get("/articles/", follow_redirects=True)
    assert final.status_code == 200 and final.url.path == "/accounts/login/"
    assert seen == [f"{site.url}\\accounts/login/?next=/articles/"]
    assert login(client, "demo-pupil-1").status_code == 302
    assert seen[-1] == f"{site.url}\\"


def test_drop_after_store_stores_but_client_sees_connection_error(site: Site) -> None:
    client = site.client()
    login(client, "demo-pupil-1")
    site.state.set_faults(drop_after_store=1)
    with pytest.raises(httpx.RemoteProtocolError):
        post_comment(client, 4501, f"<p>{PREFIX}</p><p>Verloren?</p>")
    assert [c["text"] for c in site.state.comments_for(4501)] == [f"<p>{PREFIX}</p><p>Verloren?</p>"]
    assert site.state.drop_after_store == 0
    assert site.state.stats()["requests"][-1]["status"] is None
    again = post_comment(client, 4501, f"<p>{PREFIX}</p><p>Zweiter Versuch</p>")
    assert again.status_code == 302 and len(site.state.comments_for(4501)) == 2


def test_post_latency_applies_before_storing(site: Site) -> None:
    client = site.client(timeout=0.1)
    login(client, "demo-pupil-1")
    site.state.set_faults(post_latency_ms=300)
    with pytest.raises(httpx.ReadTimeout):
        post_comment(client, 4501, f"<p>{PREFIX}</p><p>Langsam</p>")
    assert site.state.comments_for(4501) == []
    deadline = time.monotonic() + 2
    while not site.state.comments_for(4501) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(site.state.comments_for(4501)) == 1  # stored although the client gave up


def test_latency_login_delay_and_seeded_errors(site: Site) -> None:
    client = site.client()
    site.state.set_faults(latency_ms=100, login_delay_ms=150)
    started = time.monotonic()
    client.get("/")
    assert time.monotonic() - started >= 0.1
    started = time.monotonic()
    assert login(client, "demo-pupil-1").status_code == 302
    assert time.monotonic() - started >= 0.35  # two requests of latency plus the login delay

    site.state.set_faults(latency_ms=0, login_delay_ms=0, error_rate=1.0)
    assert client.get("/").status_code == 500
    assert httpx.get(f"{site.url}/_admin/stats").status_code == 200  # admin API never fails

    def statuses() -> list[int]:
        site.state.set_faults(error_rate=0.5, seed=7)
        return [client.get("/").status_code for _ in range(12)]

    first = statuses()
    assert first == statuses()
    assert set(first) == {200, 500}


# --- Admin API ----------------------------------------------------------------------------------------


def test_admin_api(site: Site) -> None:
    admin = site.client()
    assert admin.post("/_admin/reset").json() == {"ok": True}
    assert (
        admin.post("/_admin/classes", json={"id": 5, "name": "5a", "school": "Schule Nord"}).status_code
        == 201
    )
    account = admin.post(
        "/_admin/accounts",
        json={"username": "lehrer", "password": "geheim", "role": "teacher", "class_ids": [5]},
    ).json()
    assert account == {"uid": 2000, "username": "lehrer", "role": "teacher", "class_ids": [5]}
    created = admin.post(
        "/_admin/articles",
        json={
            "title": "Neu",
            "author": "Kim",
            "class_id": 5,
            "category_id": 4,
            "task_id": None,
            "status": "publiziert",
            "paragraphs": ["Eins", "Zwei"],
        },
    ).json()
    assert created == {"id": 4501, "url": f"{site.url}/article/4501/"}
    assert admin.post("/_admin/articles", json={"title": "X", "author": "Y", "id": 7000}).json()["id"] == 7000
    bad = admin.post("/_admin/articles", json={"title": "X", "author": "Y", "status": "geheim"})
    assert bad.status_code == 400 and "status" in bad.json()["error"]
    assert admin.get("/_admin/stats").json()["total"] == 0  # admin requests are not logged

    client = site.client()
    login(client, "lehrer", "geheim")
    assert parse_table(soup_of(client.get("/articles/?tab=5").text), "5")[0][1] == "Neu"
    post_comment(client, 4501, "<p>Gut gemacht</p>", hide=True)
    assert admin.get("/_admin/articles/4501/comments").json() == [
        {
            "id": 9001,
            "article_id": 4501,
            "author": "lehrer",
            "text": "<p>Gut gemacht</p>",
            "hidden": True,
            "status": 20,
            "highlight": "",
            "created": site.state.all_comments()[0]["created"],
        },
    ]
    assert len(admin.get("/_admin/comments").json()) == 1
    assert admin.get("/_admin/articles/1/comments").status_code == 404

    stats = admin.get("/_admin/stats").json()
    assert stats["logins"] == {"lehrer": 1} and stats["by_kind"]["post"] == 1
    assert admin.post("/_admin/stats/reset").json() == {"ok": True}
    assert admin.get("/_admin/stats").json()["total"] == 0

    faults = admin.post("/_admin/faults", json={"latency_ms": 5, "backslash_redirects": True}).json()
    assert faults["latency_ms"] == 5 and faults["backslash_redirects"] is True and faults["error_rate"] == 0.0
    assert site.state.latency_ms == 5
    assert admin.post("/_admin/faults", json={"error_rate": 2}).status_code == 400
    assert admin.post("/_admin/faults", json={"nonsense": 1}).status_code == 400
    assert admin.post("/_admin/expire-sessions").json() == {"expired": 1}

    assert admin.post("/_admin/reset", json={"demo": True}).status_code == 200
    assert {a["username"] for a in admin.get("/_admin/accounts").json()} == {
        "demo-pupil-1",
        "demo-pupil-2",
        "demo-teacher",
    }
    assert site.state.latency_ms == 0


# --- Same structure as the captured pages -------------------------------------------------------------


def test_list_page_matches_capture_structure(site: Site) -> None:
    captured = soup_of(capture("articles_index.html"))
    client = site.client()
    login(client, "demo-pupil-1")
    ours = soup_of(client.get("/articles/").text)
    # The same parser reads both pages.
    assert parse_cards(captured, "home")[0]["id"] == "4501"
    assert parse_tabs(captured)[0][0] == "home" and parse_tabs(captured)[-1][0] == "alle"
    assert parse_cards(ours, "82")[0]["id"] == "4503"
    # One card: identical tags and classes in identical order.
    assert signature(one(ours, "#pills-82 .col-lg-4")) == signature(one(captured, "#pills-82 .col-lg-4"))
    assert signature(one(ours, "#pills-tab li")) == signature(one(captured, "#pills-tab li"))
    assert signature(one(ours, "form.article-filter")) == signature(one(captured, "form.article-filter"))


def test_detail_page_matches_capture_structure(site: Site) -> None:
    captured_html = capture("articles_get.html")
    client = site.client()
    login(client, "demo-pupil-1")
    post_comment(client, 4501, f"<p>{PREFIX}</p><p>Kommentar</p>", hide=True)
    ours_html = client.get("/article/4501/").text
    for markup in (captured_html, ours_html):
        detail = parse_detail(markup)
        assert detail["title"] != "Unknown Title" and detail["author"] != "Unknown Author"
        assert "Kategorie" in detail["facts"] and detail["paragraphs"]
        assert detail["comments"][0]["hidden"] and detail["comments"][0]["button_after"]
        assert csrf_in(markup, "form#comment-create")
    captured, ours = soup_of(captured_html), soup_of(ours_html)

    def comment_shape(soup: BeautifulSoup) -> list[tuple[str, tuple[str, ...]]]:
        body = one(soup, "div.comment > div.card > div.card-body")
        return [
            (child.name, tuple(child.get("class") or ())) for child in body.find_all(True, recursive=False)
        ]

    assert comment_shape(ours) == comment_shape(captured)

    def order(soup: BeautifulSoup) -> list[str]:
        wanted = ["h1", "h6", "ul.social", "div.article", "form#comment-create", "h2.mt-5", "div.comment"]
        positions = {sel: one(soup, sel).sourceline or 0 for sel in wanted}
        return sorted(wanted, key=lambda sel: positions[sel])

    assert order(ours) == order(captured)


def test_login_page_matches_capture_structure(site: Site) -> None:
    captured = soup_of(capture("accounts_login.html"))
    ours = soup_of(site.client().get("/accounts/login/").text)
    for soup in (captured, ours):
        heading = soup.find("h2", string="Anmeldung")
        assert isinstance(heading, Tag)
        form = heading.find_next("form")
        assert isinstance(form, Tag)
        assert form.get("method") == "post" and not form.has_attr("action")
        assert [i.get("name") for i in form.find_all("input")] == [
            "csrfmiddlewaretoken",
            "next",
            "username",
            "password",
        ]
        assert not has_logout_form(str(soup))
