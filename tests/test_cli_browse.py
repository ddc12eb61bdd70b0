"""`starter.py browse …` and `login test` over real HTTP against the myMoment imitation."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import CliEnv, CliResult, MyMomentServer, RunCli
from yourmoment.store.db import session_scope
from yourmoment.store.models import MyMomentSession

PUPIL, TEACHER, PASSWORD = "pupil-a", "lehrer-t", "Pupil-Pass-5c4b"
EMAIL = "forscherin@example.ch"

# The site's articles, one a day from 2026-03-01 on: key, title, author, class, and what else they have.
ARTICLES: list[tuple[str, str, str, int, dict[str, Any]]] = [
    (
        "regen",
        "Der Regenschirm",
        "Lea-S",
        82,
        {"category_id": 9, "task_id": 4, "paragraphs": ["Es regnet.", "Ich bleibe trocken."]},
    ),
    (
        "bienen",
        "Wie Bienen Honig machen",
        "Timo-R",
        82,
        {"category_id": 7, "paragraphs": ["Bienen sammeln Nektar."]},
    ),
    ("garten", "Unser Schulgarten", "Ayla-M", 82, {"category_id": 8, "paragraphs": ["Wir giessen."]}),
    ("b5", "Mein Hund", "Nico-B", 91, {"category_id": 9, "paragraphs": ["Er bellt."]}),
    ("own", "Mein Entwurf", PUPIL, 82, {"status": "entwurf", "paragraphs": ["Noch nicht fertig."]}),
]


@pytest.fixture
def site(mymoment_server: MyMomentServer) -> dict[str, int]:
    """Two classes, a pupil in class 82, a teacher of both, articles and comments (one hidden)."""
    state = mymoment_server.state
    state.add_class(82, "Klasse 4a", "Schulhaus Test")
    state.add_class(91, "Klasse 5b", "Schulhaus Test")
    state.add_account(PUPIL, PASSWORD, "pupil", [82])
    state.add_account("pupil-b", "other-pass", "pupil", [82])
    state.add_account(TEACHER, PASSWORD, "teacher", [82, 91])
    ids = {
        key: state.add_article(title, author, class_id, created=f"2026-03-0{day}T10:00:00", **details)
        for day, (key, title, author, class_id, details) in enumerate(ARTICLES, start=1)
    }
    state.add_comment(ids["regen"], "pupil-b", "<p>Sehr <strong>lustig</strong>!</p>")
    state.add_comment(ids["regen"], TEACHER, "<p>Bitte Rechtschreibung prüfen.</p>", hidden=True)
    return ids


@pytest.fixture
def logins(site: dict[str, int], env: CliEnv, run_cli: RunCli) -> CliEnv:
    assert run_cli("user", "add", EMAIL).code == 0
    assert run_cli("login", "add", "pupil", "--username", PUPIL, stdin=PASSWORD).code == 0
    assert run_cli("login", "add", "teacher", "--username", TEACHER, "--admin", stdin=PASSWORD).code == 0
    return env


def one_error_line(result: CliResult) -> str:
    assert result.code != 0, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.err, result.err
    return lines[0]


def test_tabs_for_pupil_and_teacher(logins: CliEnv, run_cli: RunCli) -> None:
    pupil = run_cli("browse", "tabs", "--login", "pupil", "--json")
    assert pupil.code == 0, pupil
    assert [(t["id"], t["kind"]) for t in pupil.json()] == [
        ("home", "home"),
        ("82", "class"),
        ("alle", "alle"),
    ]
    assert pupil.json()[1]["name"] == "Klasse 4a (Schulhaus Test)"
    teacher = run_cli("browse", "tabs", "--login", "teacher")  # admin logins may browse
    assert teacher.code == 0 and "Klasse 5b" in teacher.out and teacher.out.startswith("ID")


def test_articles_in_the_pupil_card_view(
    logins: CliEnv, run_cli: RunCli, mymoment_server: MyMomentServer, site: dict[str, int]
) -> None:
    listed = run_cli("browse", "articles", "--login", "pupil", "--tab", "82", "--json")
    assert listed.code == 0, listed
    rows = listed.json()
    assert [r["title"] for r in rows] == ["Unser Schulgarten", "Wie Bienen Honig machen", "Der Regenschirm"]
    first = rows[0]
    assert set(first) == {"id", "title", "author", "status", "visibility", "date", "url"}
    assert first["id"] == str(site["garten"]) and first["author"] == "Ayla-M"
    assert first["url"] == f"{mymoment_server.url}/article/{site['garten']}/"
    assert first["visibility"] == "Klasse 4a (Schulhaus Test)"

    by_category = run_cli(
        "browse", "articles", "--login", "pupil", "--tab", "82", "--category", "7", "--json"
    )
    assert [r["title"] for r in by_category.json()] == ["Wie Bienen Honig machen"]
    by_search = run_cli(
        "browse", "articles", "--login", "pupil", "--tab", "82", "--search", "regen", "--json"
    )
    assert [r["title"] for r in by_search.json()] == ["Der Regenschirm"]
    limited = run_cli("browse", "articles", "--login", "pupil", "--tab", "82", "--limit", "1", "--json")
    assert len(limited.json()) == 1
    home = run_cli("browse", "articles", "--login", "pupil", "--tab", "home")
    assert home.code == 0 and "Mein Entwurf" in home.out and "Unser Schulgarten" not in home.out


def test_articles_in_the_teacher_table_view(logins: CliEnv, run_cli: RunCli, site: dict[str, int]) -> None:
    listed = run_cli("browse", "articles", "--login", "teacher", "--tab", "91", "--json")
    assert listed.code == 0, listed
    [row] = listed.json()
    assert (row["id"], row["title"], row["author"]) == (str(site["b5"]), "Mein Hund", "Nico-B")
    assert row["visibility"] == "Klasse 5b (Schulhaus Test)" and row["status"]
    assert "2026" in row["date"]


def test_article_with_comments_including_hidden_ones(
    logins: CliEnv, run_cli: RunCli, site: dict[str, int]
) -> None:
    shown = run_cli("browse", "article", site["regen"], "--login", "pupil", "--json")
    assert shown.code == 0, shown
    data = shown.json()
    assert "raw_html" not in data
    assert (data["title"], data["author"]) == ("Der Regenschirm", "Lea-S")
    assert (data["category"], data["category_id"], data["task_id"]) == ("Unterhalten", 9, 4)
    assert data["content"].splitlines() == ["Es regnet.", "Ich bleibe trocken."]
    assert [(c["author"], c["hidden"]) for c in data["comments"]] == [("pupil-b", False), (TEACHER, True)]
    assert "lustig" in data["comments"][0]["text"]

    text = run_cli("browse", "article", site["regen"], "--login", "pupil")
    assert text.code == 0
    assert "Der Regenschirm" in text.out and "Unterhalten (9)" in text.out
    assert f"- {TEACHER} [hidden]: Bitte Rechtschreibung prüfen." in text.out
    assert "- pupil-b: Sehr lustig !" in text.out

    missing = run_cli("browse", "article", "99999", "--login", "pupil")
    assert "no page /article/99999/" in one_error_line(missing)
    not_a_number = run_cli("browse", "article", "abc", "--login", "pupil")
    assert not_a_number.code == 2 and "is a number" in not_a_number.err


def test_browsing_reuses_the_stored_session(
    logins: CliEnv, run_cli: RunCli, mymoment_server: MyMomentServer, site: dict[str, int]
) -> None:
    assert run_cli("browse", "tabs", "--login", "pupil").code == 0
    assert run_cli("browse", "articles", "--login", "pupil", "--tab", "82").code == 0
    assert run_cli("browse", "article", site["bienen"], "--login", "pupil").code == 0
    assert mymoment_server.state.logins[PUPIL] == 1  # one login for three commands
    with session_scope(logins.database_url) as session:
        assert session.scalar(select(func.count()).select_from(MyMomentSession)) == 1
    [pupil] = [r for r in run_cli("login", "list", "--json").json() if r["name"] == "pupil"]
    assert pupil["last_used"] is not None

    mymoment_server.state.expire_all_sessions()  # expiry costs exactly one re-login
    assert run_cli("browse", "tabs", "--login", "pupil", "--json").code == 0
    assert mymoment_server.state.logins[PUPIL] == 2


def test_login_test_restores_relogs_and_reports_bad_passwords(
    logins: CliEnv, run_cli: RunCli, mymoment_server: MyMomentServer
) -> None:
    first = run_cli("login", "test", "pupil")
    assert first.code == 0 and first.out.startswith("ok:") and "new session" in first.out
    again = run_cli("login", "test", "pupil", "--json")
    assert again.code == 0 and again.json()["ok"] is True and again.json()["session"] == "restored"
    assert mymoment_server.state.logins[PUPIL] == 1

    mymoment_server.state.expire_all_sessions()
    renewed = run_cli("login", "test", "pupil", "--json").json()
    assert renewed["ok"] is True and renewed["session"] == "new"
    fresh = run_cli("login", "test", "pupil", "--fresh", "--json").json()
    assert fresh["ok"] is True and fresh["session"] == "new"
    assert mymoment_server.state.logins[PUPIL] == 3

    mymoment_server.state.add_account(PUPIL, "changed-password", "pupil", [82])
    bad = run_cli("login", "test", "pupil", "--fresh")
    line = one_error_line(bad)
    assert "rejected the username or password" in line and PASSWORD not in bad.err
    # The login is named by its name here, and the username as the site's username (not as the login).
    assert f"of login 'pupil' (myMoment username '{PUPIL}')" in line, line
    bad_json = run_cli("login", "test", "pupil", "--fresh", "--json")
    assert bad_json.code == 1 and bad_json.json()["ok"] is False
    # A login the user does not have is not a failed test but a mistake: one line, exit 2, as elsewhere.
    for args in (("login", "test", "nobody"), ("login", "test", "nobody", "--json")):
        missing = run_cli(*args)
        assert missing.code == 2 and missing.out == "", missing
        assert missing.err.strip().splitlines() == [
            "error: no active login named 'nobody'; see 'starter.py login list'"
        ]


def test_unknown_login_and_unreachable_site_are_one_line(env: CliEnv, run_cli: RunCli) -> None:
    assert run_cli("user", "add", EMAIL).code == 0
    assert run_cli("login", "add", "pupil", "--username", PUPIL, stdin=PASSWORD).code == 0
    assert "no active login named 'ghost'" in one_error_line(run_cli("browse", "tabs", "--login", "ghost"))
    unreachable = run_cli("browse", "tabs", "--login", "pupil")
    assert unreachable.code == 2
    # The client also logs a warning (ids only); the user-facing message is the last line.
    last = unreachable.err.strip().splitlines()[-1]
    # The site is named by host and port (the setting MYMOMENT_BASE_URL is http://127.0.0.1:9).
    assert last.startswith("error: myMoment at 127.0.0.1:9 refused the connection (GET /"), last
    assert "Traceback" not in unreachable.err
    assert PASSWORD not in unreachable.err


@pytest.mark.parametrize(
    "command",
    [
        ("browse", "tabs", "--login", "pupil"),
        ("browse", "articles", "--login", "pupil", "--tab", "82"),
        ("browse", "article", "--login", "pupil", "1"),
        ("login", "test", "pupil"),
        ("login", "test", "pupil", "--fresh"),
    ],
)
def test_commands_refuse_the_real_site_without_a_contact(
    logins: CliEnv, run_cli: RunCli, command: tuple[str, ...]
) -> None:
    logins.set(MYMOMENT_BASE_URL="https://WWW.mymoment.ch:443/", CONTACT=None)
    line = one_error_line(run_cli(*command))
    assert run_cli(*command).code == 2 and line.startswith("error: CONTACT is not set")
    logins.set(CONTACT="lehrer@example.com")  # a placeholder is refused too
    assert "placeholder" in one_error_line(run_cli(*command))


def test_the_imitation_sees_the_contact_in_the_user_agent(
    logins: CliEnv, run_cli: RunCli, mymoment_server: MyMomentServer
) -> None:
    logins.set(CONTACT="forschung@schule-muster.ch")
    assert run_cli("login", "test", "pupil").code == 0
    agents = {request.user_agent for request in mymoment_server.state.requests}
    assert agents == {"yourMoment-Temporal/0.1 (+mailto:forschung@schule-muster.ch)"}
