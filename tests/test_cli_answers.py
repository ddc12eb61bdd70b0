"""A CLI that answers what was asked: comment text and login in `comments`, unique process names,
ambiguous id prefixes listed, `--user` before or after the command, imitation servers that run on their
own with usable accounts (issue 9, items 8, 9, 13 and 14)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select, update

from tests import test_cli_config
from tests.conftest import CliEnv, RunCli, reset_postgres
from tests.support import process_create, provider_add
from tests.test_cli_config import EMAIL, PASSWORD, create_process, one_error_line
from yourmoment.mymoment.account import account_key
from yourmoment.mymoment.types import ArticleSummary
from yourmoment.store import items
from yourmoment.store.db import get_engine, session_scope, upgrade
from yourmoment.store.models import AIComment, MonitoringProcess, MyMomentLogin, ProcessLogin, ProcessPrompt
from yourmoment_dev.harness import REPO

configured = test_cli_config.configured  # the same user, logins, provider and templates

LONG_PARAGRAPH = " ".join(
    f"Satz{i} über deinen Text ist wirklich gelungen und gut erzählt." for i in range(12)
)


def _items_for(database_url: str, process_id: str, login_name: str, article_ids: list[int]) -> list[str]:
    with session_scope(database_url) as session:
        login_id = session.scalars(select(MyMomentLogin.id).where(MyMomentLogin.name == login_name)).one()
        arts = [
            ArticleSummary(
                id=str(i),
                title=f"Text {i}",
                author="a",
                status="Publiziert",
                visibility="K",
                date="d",
                url=f"http://x/article/{i}/",
            )
            for i in article_ids
        ]
        key = account_key("http://127.0.0.1:9", login_name)  # any stable key: these items are never posted
        items.record_discovered(session, process_id, login_id, key, arts, [""], baseline=False)
        return [item.id for item in items.list_items(session, process_id)]


# --- item 8: comments --full --------------------------------------------------------------------------


def test_comments_full_shows_the_wrapped_text_and_the_login_name(configured: CliEnv, run_cli: RunCli) -> None:
    assert run_cli("login", "add", "bot-2", "--username", "pupil2", stdin=PASSWORD).code == 0
    created = create_process(run_cli, "--login", "bot-2")
    assert created.code == 0, created
    process_id = created.out.strip()
    first, *_ = _items_for(configured.database_url, process_id, "bot-1", [4601])
    _items_for(configured.database_url, process_id, "bot-2", [4602])
    html = (
        "<p>[Dieser Kommentar stammt von einem KI-ChatBot.]</p>"
        f"<p>Liebe Lea, {LONG_PARAGRAPH}</p><p>Was passiert &amp; wie geht es weiter?</p>"
    )
    with session_scope(configured.database_url) as session:
        session.execute(
            update(AIComment)
            .where(AIComment.id == first)
            .values(status="generated", comment_html=html, model_name="m1")
        )

    full = run_cli("comments", "Klasse 82", "--full")
    assert full.code == 0, full
    lines = full.out.splitlines()
    assert lines[0].split()[:3] == ["ID", "LOGIN", "ARTICLE_ID"]
    assert any("bot-1" in line and "4601" in line for line in lines)
    assert any("bot-2" in line and "4602" in line for line in lines)
    text_lines = [line for line in lines if line.startswith("    ")]
    assert text_lines, full.out
    assert max(len(line) for line in text_lines) <= 100  # wrapped
    joined = " ".join(line.strip() for line in text_lines)
    assert "[Dieser Kommentar stammt von einem KI-ChatBot.]" in joined
    assert f"Liebe Lea, {LONG_PARAGRAPH}" in joined and "Was passiert & wie geht es weiter?" in joined
    assert "<p>" not in full.out  # text, not HTML
    # The paragraphs stay apart: the question starts its own line.
    assert any(line.strip().startswith("Was passiert") for line in text_lines)

    brief = run_cli("comments", "Klasse 82")
    assert brief.code == 0 and "LOGIN" in brief.out and "bot-2" in brief.out and "Liebe Lea" not in brief.out
    rows = {r["article_id"]: r for r in run_cli("comments", "Klasse 82", "--json").json()}
    assert rows["4601"]["login"] == "bot-1" and rows["4602"]["login"] == "bot-2"
    assert rows["4601"]["comment_html"] == html


# --- item 9: unique names, ambiguous prefixes ---------------------------------------------------------


def test_process_names_are_unique_per_user_whitespace_and_case_normalised(
    any_db_url: str, configured: CliEnv, run_cli: RunCli
) -> None:
    assert create_process(run_cli).code == 0
    for name in (
        "Klasse 82",
        "  Klasse 82 ",
        "klasse  82",
        "KLASSE 82",
        "Ｋｌａｓｓｅ 82",
        "Klasse 82\u200b",
        "Klasse\u00a082",
    ):
        line = one_error_line(run_cli(*process_create(name, "gpt", "bot-1", "Ermutigendes Feedback")))
        assert "a process named 'Klasse 82' exists already" in line, name
    other = run_cli(*process_create(" Klasse   83 ", "gpt", "bot-1", "Ermutigendes Feedback", "--json"))
    assert other.code == 0 and other.json()["name"] == "Klasse 83"  # stored stripped, inner spaces collapsed
    assert "exists already" in one_error_line(
        run_cli("process", "update", "Klasse 83", "--name", "klasse 82")
    )
    assert run_cli("process", "update", "Klasse 83", "--name", "Klasse 83").code == 0  # its own name is fine
    assert sorted(p["name"] for p in run_cli("process", "list", "--json").json()) == [
        "Klasse 82",
        "Klasse 83",
    ]
    # Lookup uses the same normalisation, so the name finds its process whatever the case and spacing.
    assert run_cli("process", "show", "klasse   83", "--json").json()["id"] == other.json()["id"]
    # Another user may use the same name.
    assert run_cli("user", "add", "other@example.ch").code == 0
    assert (
        run_cli("--user", "other@example.ch", "login", "add", "o", "--username", "x", stdin=PASSWORD).code
        == 0
    )
    assert run_cli("--user", "other@example.ch", *provider_add("p", "m"), stdin="sk-x").code == 0
    mine = run_cli(
        "--user", "other@example.ch", *process_create("Klasse 82", "p", "o", "Ermutigendes Feedback")
    )
    assert mine.code == 0, mine


def test_the_database_refuses_a_duplicate_name_too(
    any_db_url: str, configured: CliEnv, run_cli: RunCli
) -> None:
    """Two CLIs racing past the check: the unique index is the backstop."""
    assert create_process(run_cli).code == 0
    with session_scope(configured.database_url) as session:
        row = session.scalar(select(MonitoringProcess))
        values = {c.name: getattr(row, c.name) for c in MonitoringProcess.__table__.columns}
    values.update(id=str(uuid.uuid4()), name="KLASSE 82")
    with pytest.raises(sa.exc.IntegrityError), session_scope(configured.database_url) as session:
        session.execute(sa.insert(PROCESSES).values(**values))


PROCESSES = MonitoringProcess.metadata.tables[MonitoringProcess.__tablename__]


def _reassign_id(database_url: str, old: str, new: str) -> None:
    """Gives a process a chosen id (to make two ids share a prefix), its links moved along."""
    table = PROCESSES
    with session_scope(database_url) as session:
        row = dict(session.execute(select(table).where(table.c.id == old)).mappings().one())
        session.execute(update(table).where(table.c.id == old).values(name=f"{row['name']} (old)"))
        session.execute(sa.insert(table).values({**row, "id": new}))
        for link in (ProcessLogin, ProcessPrompt):
            session.execute(update(link).where(link.process_id == old).values(process_id=new))
        session.execute(sa.delete(table).where(table.c.id == old))


def test_ambiguous_id_prefix_lists_the_candidates(
    any_db_url: str, configured: CliEnv, run_cli: RunCli
) -> None:
    ids = {}
    for name, new_id in (
        ("Klasse 82", "deadbeef-0001-4000-8000-000000000001"),
        ("Klasse 83", "deadbeef-0002-4000-8000-000000000002"),
    ):
        created = create_process(run_cli, "--name", name)
        assert created.code == 0, created
        _reassign_id(configured.database_url, created.out.strip(), new_id)
        ids[name] = new_id
    for prefix in ("deadbeef", "deadbeef-000"):
        line = one_error_line(run_cli("process", "show", prefix))
        assert f"'{prefix}' matches 2 processes" in line
        assert f"{ids['Klasse 82']} (Klasse 82)" in line and f"{ids['Klasse 83']} (Klasse 83)" in line
    assert one_error_line(run_cli("process", "delete", "deadbeef", "--yes"))  # nothing deleted on a guess
    assert len(run_cli("process", "list", "--json").json()) == 2
    assert run_cli("process", "show", "deadbeef-0002", "--json").json()["name"] == "Klasse 83"
    assert "no process 'cafebabe'" in one_error_line(run_cli("process", "show", "cafebabe"))


# --- the migration: existing duplicates get distinct names ------------------------------------------


def _database_at_0001(backend: str, tmp_path: Path) -> str:
    from alembic import command

    from yourmoment.store.db import _alembic_config

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = os.environ.get("YOURMOMENT_TEST_DATABASE_URL", "")
        if not url:
            pytest.skip("PostgreSQL tests need YOURMOMENT_TEST_DATABASE_URL")
        reset_postgres(url)
    command.upgrade(_alembic_config(url), "0001")
    return url


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migration_renames_existing_duplicates_deterministically(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _database_at_0001(backend, tmp_path)
    users = {"u1": "a@example.ch", "u2": "b@example.ch"}
    rows = [  # (id, user, name, created second)
        ("p-a", "u1", "Klasse 82", 1),
        ("p-b", "u1", "Klasse 82", 2),
        ("p-c", "u1", " klasse 82", 3),
        ("p-d", "u1", "Klasse 82 (2)", 4),
        ("p-e", "u2", "Klasse 82", 5),
        ("p-f", "u1", "Andere", 6),
    ]
    defaults = {
        "description": "",
        "tab": "82",
        "max_duration_minutes": 60,
        "discovery_interval_seconds": 60,
        "generate_only": True,
        "hide_comments": False,
        "prompt_mode": "weighted",
        "comment_on_existing": True,
        "status": "created",
    }
    meta = sa.MetaData()
    meta.reflect(get_engine(url), only=["users", "monitoring_processes"])
    with get_engine(url).begin() as conn:
        for uid, email in users.items():
            conn.execute(
                meta.tables["users"].insert().values(id=uid, email=email, created_at=datetime.now(UTC))
            )
        for pid, uid, name, second in rows:
            stamp = datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC)
            conn.execute(
                meta.tables["monitoring_processes"]
                .insert()
                .values(id=pid, user_id=uid, name=name, created_at=stamp, updated_at=stamp, **defaults)
            )
    capsys.readouterr()
    upgrade(url)
    with get_engine(url).connect() as conn:
        names: dict[str, str] = dict(conn.execute(sa.text("SELECT id, name FROM monitoring_processes")).all())
    get_engine(url).dispose()
    # The oldest keeps its name; later ones get the next free " (n)" in order of creation.
    assert names == {
        "p-a": "Klasse 82",
        "p-b": "Klasse 82 (3)",
        "p-c": "klasse 82 (4)",
        "p-d": "Klasse 82 (2)",
        "p-e": "Klasse 82",
        "p-f": "Andere",
    }
    err = capsys.readouterr().err
    assert "renamed process p-b 'Klasse 82' to 'Klasse 82 (3)'" in err
    assert "renamed process p-c 'klasse 82' to 'klasse 82 (4)'" in err


# --- item 13: --user before or after the command -------------------------------------------------------


def test_user_option_works_before_and_after_the_command(configured: CliEnv, run_cli: RunCli) -> None:
    assert create_process(run_cli).code == 0
    other = "other@example.ch"
    assert run_cli("user", "add", other).code == 0
    assert "several users exist" in one_error_line(run_cli("list"))
    for command in (("list",), ("process", "list"), ("login", "list"), ("comments", "Klasse 82")):
        before = run_cli("--user", EMAIL, *command, "--json")
        after = run_cli(*command, "--user", EMAIL, "--json")
        assert before.code == 0 and after.code == 0, (command, before, after)
        assert before.json() == after.json(), command
    assert [p["name"] for p in run_cli("list", "--user", EMAIL, "--json").json()] == ["Klasse 82"]
    assert run_cli("list", "--user", other, "--json").json() == []
    # Given in both places, the one after the command is the one that counts.
    assert run_cli("--user", EMAIL, "list", "--user", other, "--json").json() == []
    assert "no process 'Klasse 82'" in one_error_line(
        run_cli("process", "show", "Klasse 82", "--user", other)
    )
    assert "no user with e-mail x@y.ch" in one_error_line(run_cli("status", "Klasse 82", "--user", "x@y.ch"))


# --- item 14: the imitation servers on their own, with their accounts --------------------------------


def test_imitation_servers_run_on_their_own_and_print_usable_accounts(env: CliEnv, run_cli: RunCli) -> None:
    """`python -m imitation.serve`: the printed accounts and addresses work for login and provider tests."""
    from yourmoment_dev.harness import free_port

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imitation.serve",
            "--mymoment-port",
            str(free_port()),
            "--llm-port",
            str(free_port()),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    banner: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the banner ends with the Ctrl-C line; a crash ends the loop
            banner.append(line.rstrip("\n"))
            if "Ctrl-C" in line:
                break
        text = "\n".join(banner)
        mymoment_url = re.search(r"MYMOMENT_BASE_URL=(\S+)", text)
        llm_url = re.search(r"--base-url (\S+)", text)
        pupil = re.search(r"^\s+(\S+)\s+password (\S+)\s+pupil", text, re.MULTILINE)
        assert mymoment_url and llm_url and pupil, text
        env.set(MYMOMENT_BASE_URL=mymoment_url.group(1))
        assert run_cli("user", "add", EMAIL).code == 0
        added = run_cli(
            "login", "add", "p1", "--username", pupil.group(1), "--password-stdin", stdin=pupil.group(2)
        )
        assert added.code == 0, added
        tested = run_cli("login", "test", "p1", "--fresh")
        assert tested.code == 0, tested
        tabs = run_cli("browse", "tabs", "--login", "p1")
        assert tabs.code == 0 and "82" in tabs.out, tabs
        provider = run_cli(*provider_add("fake", "imitation-mini", base_url=llm_url.group(1)))
        assert provider.code == 0, provider
        answered = run_cli("provider", "test", "fake")
        assert answered.code == 0 and "is listed" in answered.out, answered
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
