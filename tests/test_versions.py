"""Article versions (docs/versions.md): the imitation's pupil dashboard, edits and replies over real HTTP,
the dashboard parser and client reads, tracking, backup runs, versions and their diffs."""

from __future__ import annotations

import asyncio
import csv
import json
import threading
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.deps import Dependencies
from activities.maintenance import MaintenanceActivities
from imitation.mymoment.state import site_now
from tests.conftest import CliEnv, CliResult, LLMServer, MyMomentServer, RunCli
from tests.support import cli, cli_ok, isolate_on_dev_server
from workflows.follow_up import FollowUpWorkflow, workflow_id_for_follow_up
from yourmoment import processes_client
from yourmoment.comment_rules import DISCLOSURE
from yourmoment.crypto import Encryptor
from yourmoment.errors import ForbiddenError, NotFoundError
from yourmoment.messages import QUEUE_MONITORING, FollowUpInput, MaintenanceInput, MonitorInput
from yourmoment.mymoment.client import MemorySessionStore, MyMomentClient
from yourmoment.mymoment.parsers import parse_dashboard, parse_listed_time
from yourmoment.mymoment.types import ArticleDetail
from yourmoment.ratelimit import LocalRateLimiter
from yourmoment.research.export import VERSION_COLUMNS, ExportOptions, ExportStats, Pseudonyms, export_rows
from yourmoment.research.report import process_report
from yourmoment.schedules_apply import start_backup
from yourmoment.settings import get_settings
from yourmoment.store import accounts, versions
from yourmoment.store.db import session_scope
from yourmoment.store.models import (
    AIComment,
    ArticleVersion,
    FollowUp,
    MonitoringProcess,
    TrackedArticle,
    TrackedPupil,
    User,
    utcnow,
)
from yourmoment_dev.harness import (
    IMITATION_PASSWORD,
    DevServer,
    Harness,
    fast_settings,
    running_worker,
    wait_until,
)

TEACHER, OTHER_TEACHER, PUPIL, PASSWORD = "lehrer-huber", "lehrerin-keller", "kind-mia", "Geheim-77-x"
EMAIL = "forscher@example.org"


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


async def test_a_teacher_reads_the_pupils_dashboard(
    mymoment_server: MyMomentServer, teacher: MyMomentClient
) -> None:
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
    before = await teacher.read_article(article)
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
    after = await teacher.read_article(article)
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
    assert (
        len(parse_dashboard(long_name, "5", "https://x").name) == 200
    )  # bounded like the other scraped values


# --- tracking and backup runs: the CLI, the real worker wiring, the dev server ------------------------


@pytest.fixture
def track_env(env: CliEnv, dev_env: WorkflowEnvironment, tmp_path: Path) -> CliEnv:
    """The test's configuration on the module's dev server, on a queue prefix of its own."""
    return isolate_on_dev_server(env, dev_env, tmp_path, "v", YOURMOMENT_DEFAULT_USER=EMAIL)


def configure_teacher(run_cli: RunCli) -> None:
    for args, stdin in (
        (("user", "add", EMAIL), None),
        (("login", "add", "teacher", "--username", TEACHER, "--admin", "--password-stdin"), PASSWORD + "\n"),
        (
            ("login", "add", "other", "--username", OTHER_TEACHER, "--admin", "--password-stdin"),
            PASSWORD + "\n",
        ),
    ):
        result = run_cli(*args, stdin=stdin)
        assert result.code == 0, result


def one_error_line(result: CliResult) -> str:
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    return lines[0]


def tracked_rows(database_url: str) -> list[TrackedPupil]:
    with session_scope(database_url) as session:
        rows = list(session.scalars(sa.select(TrackedPupil)))
        session.expunge_all()
        return rows


def test_track_add_tries_the_login_once_and_refuses_in_one_line(
    env: CliEnv, run_cli: RunCli, mymoment_server: MyMomentServer
) -> None:
    ids = seed_site(mymoment_server)
    configure_teacher(run_cli)
    pupil = str(ids["pupil"])
    mymoment_server.state.reset_stats()
    line = one_error_line(run_cli("track", "add", pupil, "--login", "other"))
    assert "no access" in line and "403" in line
    assert mymoment_server.state.stats()["by_kind"]["dashboard"] == 1  # tried once
    assert "knows no pupil 999999" in one_error_line(run_cli("track", "add", "999999", "--login", "teacher"))
    for args in (
        ("abc", "--login", "teacher"),
        (pupil, "--login", "nobody"),
        (pupil, "--login", "teacher", "--label", "x" * 201),
    ):
        one_error_line(run_cli("track", "add", *args))
    assert tracked_rows(env.database_url) == []  # nothing changed

    result = run_cli("track", "add", pupil, "--login", "teacher", "--label", "4a")
    assert result.code == 0 and "2 articles" in result.out, result
    assert "tracked already" in one_error_line(run_cli("track", "add", pupil, "--login", "teacher"))
    [row] = run_cli("track", "list", "--json").json()
    assert (row["student_id"], row["name"], row["label"], row["login"], row["state"]) == (
        pupil,
        PUPIL,
        "4a",
        "teacher",
        "new",
    )
    assert run_cli("track", "pause", pupil).code == 0
    assert run_cli("track", "list", "--json").json()[0]["paused"] is True
    assert run_cli("track", "resume", pupil).code == 0
    assert "not tracked" in one_error_line(run_cli("track", "pause", "12345"))
    assert run_cli("track", "remove", pupil).code == 0
    assert tracked_rows(env.database_url) == []


def test_the_number_of_tracked_pupils_per_user_is_limited(
    env: CliEnv, run_cli: RunCli, mymoment_server: MyMomentServer
) -> None:
    ids = seed_site(mymoment_server)
    second = mymoment_server.state.add_account("kind-leo", PASSWORD, "pupil", [82])
    configure_teacher(run_cli)
    env.set(STUDENT_BACKUP_MAX_TRACKED_STUDENTS_PER_USER=1)
    assert run_cli("track", "add", str(ids["pupil"]), "--login", "teacher").code == 0
    line = one_error_line(run_cli("track", "add", str(second.uid), "--login", "teacher"))
    assert "STUDENT_BACKUP_MAX_TRACKED_STUDENTS_PER_USER" in line


async def edit(server: MyMomentServer, article_id: int, *paragraphs: str) -> None:
    async with httpx.AsyncClient(base_url=server.url) as admin:
        response = await admin.post(
            f"/_admin/articles/{article_id}/edit", json={"paragraphs": list(paragraphs)}
        )
        assert response.status_code == 200, response.text


async def test_backup_runs_store_one_version_per_distinct_content(
    track_env: CliEnv, dev_env: WorkflowEnvironment, run_cli: RunCli, mymoment_server: MyMomentServer
) -> None:
    ids = seed_site(mymoment_server)
    configure_teacher(run_cli)
    pupil, article = str(ids["pupil"]), ids["first"]
    await cli_ok(run_cli, "track", "add", pupil, "--login", "teacher")
    async with running_worker(dev_env.client, get_settings()):
        first = (await cli_ok(run_cli, "track", "run", pupil, "--wait", "--json")).json()
        assert (first["pupils"], first["ok"], first["articles_read"], first["versions"]) == (1, 1, 2, 2)

        # An unchanged dashboard (its times long past, the session stored): one request.
        mymoment_server.state.reset_stats()
        again = (await cli_ok(run_cli, "track", "run", "--wait", "--json")).json()
        assert (again["articles_read"], again["versions"], again["requests"]) == (0, 0, 1)
        assert mymoment_server.state.stats()["by_kind"]["dashboard"] == 1
        assert mymoment_server.state.stats()["total"] == 1

        await edit(mymoment_server, article, "Mein Hund heisst Rex.", "Er bellt laut.")
        second = (await cli_ok(run_cli, "track", "run", "--wait", "--json")).json()
        assert (second["articles_read"], second["versions"]) == (1, 1)
        # Read again within the listed minute (it may change unseen): the same text adds no version.
        unchanged = (await cli_ok(run_cli, "track", "run", "--wait", "--json")).json()
        assert unchanged["versions"] == 0
        await edit(mymoment_server, article, "Mein Hund heisst Rex.", "Er bellt laut und frisst Wurst.")
        third = (await cli_ok(run_cli, "track", "run", "--wait", "--json")).json()
        assert third["versions"] == 1

    stored = (await cli_ok(run_cli, "versions", "list", "--article", str(article), "--json")).json()
    assert [v["number"] for v in stored] == [1, 2, 3]
    assert len({v["sha256"] for v in stored}) == 3
    assert {v["pupil"] for v in stored} == {pupil}
    assert len((await cli_ok(run_cli, "versions", "list", "--pupil", pupil, "--json")).json()) == 4
    shown = (await cli_ok(run_cli, "versions", "show", str(stored[0]["id"]), "--json")).json()
    assert shown["content"] == "Mein Hund heisst Bello.\nEr bellt laut."
    assert shown["author"] == PUPIL and shown["status"] == "Publiziert"
    diff = await cli_ok(run_cli, "versions", "diff", str(article))
    assert "Er bellt laut {+und frisst Wurst+}." in diff.out
    first_to_last = (await cli_ok(run_cli, "versions", "diff", str(article), "1", "3", "--json")).json()
    assert (first_to_last["from"], first_to_last["to"], first_to_last["changed"]) == (1, 3, True)
    assert first_to_last["words_added"] > 0 and first_to_last["edit_distance"] > 0
    [row] = (await cli_ok(run_cli, "track", "list", "--json")).json()
    assert (row["state"], row["articles"]) == ("ok", 2)

    # export --versions: one row per version, authors pseudonymised, texts only when asked for.
    plain = [
        json.loads(line)
        for line in (await cli_ok(run_cli, "export", "--versions", "--format", "jsonl")).out.splitlines()
    ]
    assert list(plain[0]) == list(VERSION_COLUMNS) and len(plain) == 4
    assert {r["article_author"] for r in plain} != {PUPIL} and all(
        r["article_author"].startswith("author-") for r in plain
    )
    assert {r["article_text"] for r in plain} == {None} and {r["student_id"] for r in plain} == {None}
    of_article = [r for r in plain if r["article_id"] == str(article)]
    assert [r["version"] for r in of_article] == [1, 2, 3]
    assert of_article[0]["changed"] is None and of_article[2]["changed"] is True
    assert of_article[2]["words_added"] == 3 and of_article[2]["edit_distance"] == 3
    target = track_env.database_url  # any path beside the database will do
    out = Path(target.removeprefix("sqlite:///")).parent / "versions.csv"
    result = await cli_ok(
        run_cli, "export", "--versions", "--with-article-text", "--with-authors", "--out", str(out)
    )
    assert "exported 4 versions" in result.out
    with out.open(newline="") as handle:
        named = list(csv.DictReader(handle))
    assert {r["article_author"] for r in named} == {PUPIL} and {r["student_id"] for r in named} == {pupil}
    assert "Mein Hund heisst Rex.\nEr bellt laut und frisst Wurst." in {r["article_text"] for r in named}
    one_error_line(await cli(run_cli, "export", "--format", "jsonl"))  # neither PROCESS nor --versions
    for args in (
        ("versions", "show", "999999"),
        ("versions", "diff", str(article), "1"),
        ("versions", "diff", "x"),
    ):
        one_error_line(await cli(run_cli, *args))


async def test_a_login_that_lost_access_shows_no_access_and_a_gone_pupil_gone(
    track_env: CliEnv, dev_env: WorkflowEnvironment, run_cli: RunCli, mymoment_server: MyMomentServer
) -> None:
    ids = seed_site(mymoment_server)
    leo = mymoment_server.state.add_account("kind-leo", PASSWORD, "pupil", [82])
    configure_teacher(run_cli)
    for student in (ids["pupil"], leo.uid):
        await cli_ok(run_cli, "track", "add", str(student), "--login", "teacher")
    mymoment_server.state.add_account(TEACHER, PASSWORD, "teacher", [91])  # moved to another class
    mymoment_server.state.accounts.pop("kind-leo")  # left the site
    async with running_worker(dev_env.client, get_settings()):
        result = (await cli_ok(run_cli, "track", "run", "--wait", "--json")).json()
    assert (result["no_access"], result["gone"]) == (1, 1)
    states = {r["student_id"]: r["state"] for r in (await cli_ok(run_cli, "track", "list", "--json")).json()}
    assert states == {str(ids["pupil"]): "no access", str(leo.uid): "gone"}
    table = (await cli_ok(run_cli, "track", "list")).out
    assert "no access" in table and "gone" in table


# --- exactly once: the activity retried after a crash, and retention ----------------------------------


def stored_versions(database_url: str) -> list[ArticleVersion]:
    with session_scope(database_url) as session:
        rows = list(session.scalars(sa.select(ArticleVersion).order_by(ArticleVersion.id)))
        session.expunge_all()
        return rows


async def test_the_backup_activity_retried_after_a_crash_stores_nothing_twice(
    env: CliEnv, run_cli: RunCli, mymoment_server: MyMomentServer
) -> None:
    """The attempt that died after storing versions but before the listing was recorded (its
    transaction is one, so this is the worst case: everything read again) adds no version."""
    ids = seed_site(mymoment_server)
    await asyncio.to_thread(configure_teacher, run_cli)
    await cli_ok(run_cli, "track", "add", str(ids["pupil"]), "--login", "teacher")
    deps = Dependencies.from_settings(get_settings())
    activities = MaintenanceActivities(deps)
    inp = MaintenanceInput(task="student_backup")
    try:
        first = await ActivityEnvironment().run(activities.student_backup, inp)
        assert first.counts["versions"] == 2
        with session_scope(env.database_url) as session:
            session.execute(sa.delete(TrackedArticle))  # as if nothing had been recorded as read
        retried = await ActivityEnvironment().run(activities.student_backup, inp)
    finally:
        await deps.close()
    assert (retried.counts["articles_read"], retried.counts["versions"]) == (2, 0)
    assert sorted((v.mymoment_article_id, v.number) for v in stored_versions(env.database_url)) == [
        (str(ids["first"]), 1),
        (str(ids["draft"]), 1),
    ]


def add_user(database_url: str, email: str) -> str:
    """A user row of its own; returns its id."""
    with session_scope(database_url) as session:
        user = User(email=email)
        session.add(user)
        session.flush()
        return user.id


def article_read(article_id: str, content: str) -> ArticleDetail:
    """Article `article_id` as read from the site, with `content` as its text."""
    return ArticleDetail(
        id=article_id,
        title="Titel",
        author="kind",
        category=None,
        category_id=None,
        task=None,
        task_id=None,
        content=content,
        raw_html="",
        url=f"https://x/article/{article_id}/",
        comments=[],
    )


def test_versions_are_numbered_once_capped_and_a_text_changed_back_is_new(db_url: str) -> None:
    user_id = add_user(db_url, "v@example.org")

    def read(text: str) -> bool:
        detail = article_read("77", text)
        with session_scope(db_url) as session:
            return versions.store_version(
                session, user_id=user_id, detail=detail, max_versions=3, source="backup"
            ).created

    assert [read(t) for t in ("A b", "A  b\n\n", "C", "A b", "D", "D")] == [
        True,
        False,
        True,
        True,
        True,
        False,
    ]
    assert [v.number for v in stored_versions(db_url)] == [2, 3, 4]  # the oldest beyond 3 deleted


def test_retention_blanks_versions_and_names_but_keeps_the_figures(db_url: str) -> None:
    old = utcnow() - timedelta(days=100)
    with session_scope(db_url) as session:
        user = User(email="r@example.org")
        session.add(user)
        session.flush()
        for number, fetched in ((1, old), (2, utcnow())):
            session.add(
                ArticleVersion(
                    user_id=user.id,
                    mymoment_article_id="5",
                    number=number,
                    content_hash="h" * 64,
                    title="Titel",
                    author="kind-mia",
                    content="Text",
                    chars=4,
                    words=1,
                    fetched_at=fetched,
                )
            )
    with session_scope(db_url) as session:
        assert versions.blank_pupil_data(session, utcnow() - timedelta(days=90)) == 1
    first, second = stored_versions(db_url)
    assert (first.content, first.title, first.author, first.chars, first.content_hash) == (
        None,
        None,
        None,
        4,
        "h" * 64,
    )
    assert second.content == "Text"


# --- follow-up reads after a comment: durable timers on the time-skipping server -------------------------


def posted_item(harness: Harness, process_id: str, article_id: int, template_id: str) -> str:
    """A posted work item as the article workflow leaves it, and its comment on the imitation's page."""
    login = "pupil-1"
    comment = f"<p>{DISCLOSURE}</p><p>Ein spannender Text über deinen Hund.</p>"
    harness.mm_state.add_comment(article_id, author=login, text=comment)
    with session_scope(harness.database_url) as session:
        item = AIComment(
            process_id=process_id,
            login_id=harness.login_ids[login],
            mymoment_article_id=str(article_id),
            article_title="Mein Hund",
            article_author=PUPIL,
            article_content="Mein Hund heisst Bello.\nEr bellt laut.",
            comment_html=comment,
            prompt_template_id=template_id,
            status="posted",
            posted_at=utcnow(),
        )
        session.add(item)
        session.flush()
        return item.id


def follow_up_harness(
    db_url: str, mymoment_server: MyMomentServer, llm_server: LLMServer, follow_up_after: str
) -> Harness:
    """An installation that reads posted comments' articles again after `follow_up_after`, on a queue
    prefix of its own."""
    settings = fast_settings(
        db_url,
        mymoment_server.url,
        temporal_task_queue_prefix=f"f{uuid.uuid4().hex[:6]}-",
        follow_up_after=follow_up_after,
    )
    return Harness.seed(settings, mymoment_server.state, llm_server.url)


async def test_follow_ups_read_after_each_interval_and_the_report_shows_revisions(
    ts_env: WorkflowEnvironment, db_url: str, mymoment_server: MyMomentServer, llm_server: LLMServer
) -> None:
    harness = follow_up_harness(db_url, mymoment_server, llm_server, "1h,1d,7d")
    settings = harness.settings
    process_id = harness.create_process()
    state = mymoment_server.state
    revised = state.add_article(
        "Mein Hund", PUPIL, class_id=82, paragraphs=["Mein Hund heisst Bello.", "Er bellt laut."]
    )
    untouched = state.add_article(
        "Mein Hund", PUPIL, class_id=82, paragraphs=["Mein Hund heisst Bello.", "Er bellt laut."]
    )
    revised_item = posted_item(harness, process_id, revised, harness.template_ids[0])
    untouched_item = posted_item(harness, process_id, untouched, harness.template_ids[0])
    # After the comment, the pupil revises one text and answers below the comment.
    state.edit_article(revised, ["Mein Hund heisst Bello.", "Er bellt laut, wenn der Briefträger kommt."])
    state.add_comment(revised, author=PUPIL, text="<p>Danke!</p>")
    state.reset_stats()

    async with running_worker(ts_env.client, settings):
        results = [
            await ts_env.client.execute_workflow(
                FollowUpWorkflow.run,
                FollowUpInput(item_id=item_id),
                id=workflow_id_for_follow_up(item_id),
                task_queue=settings.task_queue(QUEUE_MONITORING),
            )
            for item_id in (revised_item, untouched_item)
        ]
    first, second = results
    assert [(o.label, o.outcome, o.changed, o.reply_seen) for o in first.outcomes] == [
        ("1h", "read", True, True),
        ("1d", "read", True, True),
        ("7d", "read", True, True),
    ]
    assert [(o.outcome, o.changed, o.reply_seen) for o in second.outcomes] == [("read", False, False)] * 3
    assert state.stats()["by_kind"]["article"] == 6  # one read per interval and comment, nothing else

    with session_scope(db_url) as session:
        rows = {(f.item_id, f.interval): f for f in session.scalars(sa.select(FollowUp))}
        process = session.get(MonitoringProcess, process_id)
        assert process is not None
        report = process_report(session, process)
        exported = list(export_rows(session, [process], ExportOptions(), Pseudonyms(), ExportStats()))
        stored = list(
            session.scalars(sa.select(ArticleVersion).where(ArticleVersion.item_id == revised_item))
        )
    hour = rows[(revised_item, "1h")]
    assert (hour.words_added, hour.words_removed, hour.edit_distance) == (4, 0, 5)  # and a comma
    # The text at comment time and the revised one: two versions, the later reads added none.
    assert sorted((v.number, v.source) for v in stored) == [(1, "comment"), (2, "follow_up")]
    follow = report["follow_ups"]
    assert follow["intervals"] == ["1h", "1d", "7d"]
    assert follow["overall"]["1h"] == {"read": 2, "revised": 1, "share": 0.5, "skipped": 0}
    [by_template] = follow["by_template"]
    assert by_template["1h"]["revised"] == 1
    by_item = {row["item_id"]: row for row in exported}
    assert by_item[revised_item]["revised_within"] == "1h"
    assert by_item[revised_item]["follow_ups"] == "1h:changed 1d:changed 7d:changed"
    assert by_item[revised_item]["reply_seen"] is True
    assert by_item[untouched_item]["revised_within"] is None
    assert by_item[untouched_item]["words_added_after_comment"] == 0


async def test_a_follow_up_read_later_than_its_interval_is_skipped_visibly(
    ts_env: WorkflowEnvironment, db_url: str, mymoment_server: MyMomentServer, llm_server: LLMServer
) -> None:
    """Posted two hours ago: the 1h read is past its interval (as if the site's politeness budget had
    been saturated all along), the 1d read is not."""
    harness = follow_up_harness(db_url, mymoment_server, llm_server, "1h,1d")
    settings = harness.settings
    process_id = harness.create_process()
    article = mymoment_server.state.add_article("Mein Hund", PUPIL, class_id=82, paragraphs=["Text."])
    item_id = posted_item(harness, process_id, article, harness.template_ids[0])
    with session_scope(db_url) as session:
        row = session.get(AIComment, item_id)
        assert row is not None
        row.posted_at = utcnow() - timedelta(hours=2, minutes=1)
    async with running_worker(ts_env.client, settings):
        result = await ts_env.client.execute_workflow(
            FollowUpWorkflow.run,
            FollowUpInput(item_id=item_id),
            id=workflow_id_for_follow_up(item_id),
            task_queue=settings.task_queue(QUEUE_MONITORING),
        )
    assert [(o.label, o.outcome) for o in result.outcomes] == [("1h", "skipped"), ("1d", "read")]
    with session_scope(db_url) as session:
        skipped = session.get(FollowUp, (item_id, "1h"))
        assert skipped is not None and "not read within its interval" in (skipped.note or "")


# --- drill: kill -9 during a backup run ---------------------------------------------------------------


def version_count(database_url: str) -> int:
    with session_scope(database_url) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(ArticleVersion)) or 0


@pytest.mark.slow
@pytest.mark.drill
async def test_drill_worker_killed_during_a_backup_run(
    tmp_path: Path, db_url: str, dev_server: DevServer, mymoment_server: MyMomentServer, llm_server: LLMServer
) -> None:
    """Six pupils with four articles each, read at 4 requests per second; the worker is killed -9 once
    some versions are stored. The run's retried attempt on a new worker ends with every article's
    version stored once: nothing lost, nothing twice."""
    settings = fast_settings(
        db_url,
        mymoment_server.url,
        temporal_task_queue_prefix=f"k{uuid.uuid4().hex[:6]}-",
        scraping_rate_limit=4,
        scraping_burst_limit=1,
    )
    harness = Harness.seed(
        settings,
        mymoment_server.state,
        llm_server.url,
        logins=(),
        temporal_address=dev_server.address,
        workdir=tmp_path,
    )
    state = mymoment_server.state
    harness.add_class(82)
    state.add_account(TEACHER, IMITATION_PASSWORD, "teacher", [82])
    long_ago = site_now() - timedelta(hours=2)
    with session_scope(db_url) as session:
        user = accounts.get_user(session, harness.user_email)
        login = accounts.add_login(
            session,
            Encryptor(settings.yourmoment_encryption_key),
            user,
            "teacher",
            TEACHER,
            IMITATION_PASSWORD,
            True,
            base_url=settings.mymoment_base_url,
        )
        for n in range(6):
            pupil = state.add_account(f"kind-{n}", IMITATION_PASSWORD, "pupil", [82])
            for a in range(4):
                state.add_article(
                    f"Text {a}",
                    pupil.username,
                    class_id=82,
                    paragraphs=[f"Text {a} von {n}."],
                    created=long_ago,
                )
            versions.add_tracked(session, user, login, str(pupil.uid), None, pupil.username, 50)
        user_id = user.id
    assert dev_server.client is not None
    worker = harness.start_worker()
    try:
        handle = await start_backup(dev_server.client, settings, user_id, [], uuid.uuid4().hex[:12])
        await wait_until(lambda: version_count(db_url) >= 5, 60, "five versions stored")
        worker.kill()
        killed_at = version_count(db_url)
        harness.workers.remove(worker)
        harness.start_worker()
        result = await handle.result()
    finally:
        harness.stop_workers()
    with session_scope(db_url) as session:
        rows = session.execute(sa.select(ArticleVersion.mymoment_article_id, ArticleVersion.number)).all()
        pupils = list(session.scalars(sa.select(TrackedPupil)))
        assert {p.state for p in pupils} == {"ok"}
    assert 5 <= killed_at < 24, killed_at  # the kill landed mid-run
    assert len(rows) == 24 and {number for _, number in rows} == {1}  # every article once, none twice
    assert len({article for article, _ in rows}) == 24
    assert result.counts["pupils"] == 6
    print(
        f"DRILL backup kill-9: {killed_at} of 24 versions stored when killed; retried run stored {result.counts['versions']}"
    )


async def test_a_process_comment_edited_after_posting_is_reported_revised_within_the_first_interval(
    ts_env: WorkflowEnvironment, db_url: str, mymoment_server: MyMomentServer, llm_server: LLMServer
) -> None:
    """The whole path on the time-skipping server: a process posts, the pupil edits the text, the 1h read
    sees the change; a reply comes before the 1d read; the report and the export say so."""
    settings = fast_settings(
        db_url, mymoment_server.url, temporal_task_queue_prefix=f"e{uuid.uuid4().hex[:6]}-"
    )
    world = Harness.seed(settings, mymoment_server.state, llm_server.url)
    state = mymoment_server.state
    [article] = world.add_articles(1)
    process_id = world.create_process(max_duration_minutes=30)
    world.mark_running(process_id)

    def follow_up_of(interval: str) -> FollowUp | None:
        with session_scope(db_url) as session:
            return session.scalars(sa.select(FollowUp).where(FollowUp.interval == interval)).first()

    def posted() -> bool:
        with session_scope(db_url) as session:
            return session.scalar(sa.select(sa.func.count()).where(AIComment.status == "posted")) == 1

    with ts_env.auto_time_skipping_disabled():
        async with running_worker(ts_env.client, settings):
            handle = await processes_client.start_monitoring(
                ts_env.client,
                settings,
                process_id,
                inp=MonitorInput(process_id=process_id, use_search_attributes=False),
            )
            await wait_until(posted, 60, "the comment posted")
            await processes_client.stop(handle, "the follow-ups outlive the process")
            await handle.result()
            text = state.article(article)
            assert text is not None
            state.edit_article(article, [*text.paragraphs, "Ich habe noch einen Satz ergänzt."])
            await ts_env.sleep(timedelta(hours=1, minutes=1))
            await wait_until(lambda: follow_up_of("1h") is not None, 60, "the 1h follow-up read")
            state.add_comment(article, author="Kind0", text="<p>Danke für den Tipp!</p>")
            await ts_env.sleep(timedelta(days=1))
            await wait_until(lambda: follow_up_of("1d") is not None, 60, "the 1d follow-up read")

    hour, day = follow_up_of("1h"), follow_up_of("1d")
    assert hour is not None and day is not None
    assert (hour.outcome, hour.changed, hour.reply_seen, hour.words_added) == ("read", True, False, 6)
    assert (day.changed, day.reply_seen) == (True, True)
    with session_scope(db_url) as session:
        process = session.get(MonitoringProcess, process_id)
        assert process is not None
        follow = process_report(session, process)["follow_ups"]
    assert follow["overall"]["1h"] == {"read": 1, "revised": 1, "share": 1.0, "skipped": 0}


async def test_track_run_without_a_worker_says_so_instead_of_waiting(
    track_env: CliEnv, run_cli: RunCli, mymoment_server: MyMomentServer
) -> None:
    ids = seed_site(mymoment_server)
    await asyncio.to_thread(configure_teacher, run_cli)
    assert "no pupil" in one_error_line(await cli(run_cli, "track", "run"))
    await cli_ok(run_cli, "track", "add", str(ids["pupil"]), "--login", "teacher")
    waited = await cli(run_cli, "track", "run", "--wait")
    assert waited.code == 1 and "no worker polls" in waited.err and "nothing started" in waited.err
    started = await cli(run_cli, "track", "run", "--json")
    assert started.code == 0 and started.json()["started"] is True and "no worker polls" in started.err


@pytest.mark.postgres
def test_racing_reads_of_one_article_store_one_version(pg_url: str) -> None:
    """Eight threads store the same read at once: the unique (user, article, number) lets one insert,
    the others meet it, read again and find their content stored."""
    user_id = add_user(pg_url, "race@example.org")
    detail = article_read("88", "Derselbe Text.")
    start = threading.Barrier(8)

    def store() -> bool:
        start.wait()
        with session_scope(pg_url) as session:
            return versions.store_version(
                session, user_id=user_id, detail=detail, max_versions=100, source="backup"
            ).created

    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(lambda _: store(), range(8)))
    assert sum(created) == 1
    assert [(v.number, v.content) for v in stored_versions(pg_url)] == [(1, "Derselbe Text.")]
