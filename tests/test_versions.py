"""Article versions (docs/versions.md): the imitation's pupil dashboard, edits and replies over real HTTP,
the dashboard parser and client reads, tracking, backup runs, versions and their diffs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import MyMomentServer
from yourmoment.errors import ForbiddenError, NotFoundError
from yourmoment.mymoment.client import MemorySessionStore, MyMomentClient
from yourmoment.mymoment.parsers import parse_dashboard, parse_listed_time
from yourmoment.ratelimit import LocalRateLimiter

TEACHER, OTHER_TEACHER, PUPIL, PASSWORD = "lehrer-huber", "lehrerin-keller", "kind-mia", "Geheim-77-x"


def seed_site(server: MyMomentServer) -> dict[str, int]:
    """Class 82 with a pupil and her teacher, class 91 with another teacher; two articles of the pupil."""
    state = server.state
    state.add_class(82, "Klasse 4a", "Schule Nord")
    state.add_class(91, "Klasse 6b", "Schule Süd")
    pupil = state.add_account(PUPIL, PASSWORD, "pupil", [82])
    state.add_account(TEACHER, PASSWORD, "teacher", [82])
    state.add_account(OTHER_TEACHER, PASSWORD, "teacher", [91])
    first = state.add_article(
        "Mein Hund",
        PUPIL,
        class_id=82,
        category_id=9,
        paragraphs=["Mein Hund heisst Bello.", "Er bellt laut."],
        created="2026-03-01T10:00:00",
    )
    draft = state.add_article(
        "Ferien", PUPIL, status="entwurf", paragraphs=["Wir waren am Meer."], created="2026-03-02T09:30:00"
    )
    return {"pupil": pupil.uid, "first": first, "draft": draft}


def client_for(server: MyMomentServer, username: str) -> MyMomentClient:
    return MyMomentClient(
        server.url,
        login_id=f"login-{username}",
        username=username,
        password=PASSWORD,
        session_store=MemorySessionStore(),
        limiter=LocalRateLimiter(),
        rate_per_second=1000.0,
        burst=1000,
    )


@pytest.fixture
async def teacher(mymoment_server: MyMomentServer) -> AsyncIterator[MyMomentClient]:
    async with client_for(mymoment_server, TEACHER) as client:
        yield client


async def test_a_teacher_reads_the_pupils_dashboard(mymoment_server: MyMomentServer, teacher: MyMomentClient) -> None:
    ids = seed_site(mymoment_server)
    dashboard = await teacher.read_dashboard(str(ids["pupil"]))
    assert dashboard.name == PUPIL
    rows = {row.id: row for row in dashboard.articles}
    assert set(rows) == {str(ids["first"]), str(ids["draft"])}
    first = rows[str(ids["first"])]
    assert (first.title, first.visibility, first.category, first.status) == (
        "Mein Hund",
        "Klasse 4a (Schule Nord)",
        "Unterhalten",
        "Publiziert",
    )
    assert first.modified == "01.03.2026 um 10:00 Uhr"
    assert parse_listed_time(first.modified) is not None
    assert rows[str(ids["draft"])].status == "Entwurf"
    assert first.url.endswith(f"/article/{ids['first']}/")


async def test_the_dashboard_refuses_other_logins_and_unknown_pupils(mymoment_server: MyMomentServer) -> None:
    ids = seed_site(mymoment_server)
    for username in (OTHER_TEACHER, PUPIL):  # a teacher of another class; a pupil has no dashboard access
        async with client_for(mymoment_server, username) as client:
            with pytest.raises(ForbiddenError):
                await client.read_dashboard(str(ids["pupil"]))
    async with client_for(mymoment_server, TEACHER) as client:
        with pytest.raises(NotFoundError):
            await client.read_dashboard("999999")
    kinds = mymoment_server.state.stats()["by_kind"]
    assert kinds["dashboard"] == 3


async def test_edits_move_the_last_modified_time_and_replies_appear(
    mymoment_server: MyMomentServer, teacher: MyMomentClient
) -> None:
    ids = seed_site(mymoment_server)
    article = str(ids["first"])
    before = await teacher.read_article(article, "backup")
    async with httpx.AsyncClient(base_url=mymoment_server.url) as admin:
        edited = await admin.post(
            f"/_admin/articles/{article}/edit", json={"paragraphs": ["Mein Hund heisst Rex.", "Er bellt."]}
        )
        assert edited.status_code == 200
        reply = await admin.post(
            f"/_admin/articles/{article}/comments", json={"author": PUPIL, "text": "<p>Danke!</p>"}
        )
        assert reply.status_code == 201
        refused = await admin.post(f"/_admin/articles/{article}/edit", json={"text": "x"})
        assert refused.status_code == 400
    after = await teacher.read_article(article, "backup")
    assert before.content == "Mein Hund heisst Bello.\nEr bellt laut."
    assert after.content == "Mein Hund heisst Rex.\nEr bellt."
    assert [c.author for c in after.comments] == [PUPIL]
    row = next(r for r in (await teacher.read_dashboard(str(ids["pupil"]))).articles if r.id == article)
    assert row.modified != "01.03.2026 um 10:00 Uhr"


def test_the_dashboard_parser_takes_any_table_and_rows_of_five_cells() -> None:
    page = (
        "<html><body><h1>Dashboard von kind-x</h1><table><tbody>"
        '<tr><td><a href="/article/edit/77/">Titel A</a></td><td>Alle</td>'
        "<td><ul><li>Erklären</li><li>Fragen</li></ul></td><td>Lehrpersonenkontrolle</td>"
        "<td>02.01.2026 um 08:05 Uhr</td></tr>"
        "<tr><td>kurz</td><td>x</td></tr>"
        '<tr><td><a href="/profile/">kein Artikel</a></td><td>a</td><td>b</td><td>c</td><td>d</td></tr>'
        "</tbody></table></body></html>"
    )
    dashboard = parse_dashboard(page, "5", "https://www.mymoment.ch")
    assert dashboard.name == "kind-x"
    [row] = dashboard.articles
    assert (row.id, row.category, row.status) == ("77", "Erklären, Fragen", "Lehrpersonenkontrolle")
    assert parse_listed_time(row.modified) is not None
    assert parse_listed_time("gestern") is None
    long_name = "<h1>" + "n" * 500 + "</h1><div id='pills-articles'></div>"
    assert len(parse_dashboard(long_name, "5", "https://x").name) == 200  # bounded like the other scraped values
