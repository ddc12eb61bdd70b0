"""Undo (unapprove, reopen, restore, regenerate over an edit), templates a study can manage, the
`comments review` loop driven through a pseudo-terminal, and migration 0008 on an existing database.

Real components: starter.py in-process (run_cli) or as a real process in a pty (pexpect), SQLite or
PostgreSQL, the store's own functions to record generated comments as a generation does (no worker is
needed for any step here; regeneration with a worker is in tests/test_review.py).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pexpect
import pytest
import sqlalchemy as sa

from tests.conftest import reset_postgres
from tests.support import process_create, provider_add
from yourmoment.comment_rules import DISCLOSURE
from yourmoment.mymoment.types import ArticleDetail, ArticleSummary
from yourmoment.statuses import EventKind
from yourmoment.store import items, review
from yourmoment.store.db import get_engine, session_scope, upgrade
from yourmoment.store.models import AIComment, LLMProvider, PromptTemplate

REPO = Path(__file__).resolve().parent.parent
EMAIL = "lehrerin@example.ch"
TEMPLATE = "Ermutigendes Feedback"
PROCESS = "Klasse 82"
USERNAME = "pupil-1"
MODEL_BODY = (
    "<p>Deine Geschichte über die Hunde und Katzen hat mir sehr gut gefallen. Besonders der Anfang "
    "macht neugierig, wie es weitergeht.</p>"
    "<p>Vielleicht erzählst du beim nächsten Mal noch mehr darüber, was die Tiere zusammen erleben.</p>"
)
MODEL_TEXT = f"<p>{DISCLOSURE}</p>{MODEL_BODY}"
EDITED_TEXT = (
    f"<p>{DISCLOSURE}</p>"
    "<p>Deine Geschichte über die Hunde und Katzen ist spannend erzählt. Der Anfang macht neugierig, "
    "wie es weitergeht.</p>"
    "<p>Schreib gerne weiter, ich bin gespannt, was die Tiere als Nächstes zusammen erleben.</p>"
)
ADDED_IN_EDITOR = "Weiter so, ich freue mich schon auf deinen nächsten Text!"
PUPIL_TEXT = "Mein Hund Bello und meine Katze Mimi spielen jeden Tag im Garten.\nSie sind beste Freunde."


def one_error_line(result: Any, code: int = 2) -> str:
    assert result.code == code, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    return lines[0]


@pytest.fixture
def reviewer(env: Any, run_cli: Any) -> Any:
    """A teacher with a login, a provider, the system templates and a process that requires approval."""
    steps: list[tuple[list[str], str | None]] = [
        (["user", "add", EMAIL], None),
        (["login", "add", "bot", "--username", USERNAME, "--password-stdin"], "pw\n"),
        (provider_add("imit", "imitation-1", base_url="http://127.0.0.1:9/v1"), None),
        (["template", "seed"], None),
        (process_create(PROCESS, "imit", "bot", TEMPLATE, "--require-approval"), None),
    ]
    for args, stdin in steps:
        result = run_cli(*args, stdin=stdin)
        assert result.code == 0, (args, result)
    return env


def generated(database_url: str, n: int, text: str = MODEL_TEXT) -> list[str]:
    """n comments of the process, recorded as discovery, scraping and generation record them."""
    with session_scope(database_url) as session:
        process_id = session.scalar(sa.text("SELECT id FROM monitoring_processes"))
        login_id = session.scalar(sa.text("SELECT id FROM mymoment_logins"))
        template = session.scalars(sa.select(PromptTemplate).where(PromptTemplate.name == TEMPLATE)).one()
        provider = session.scalars(sa.select(LLMProvider)).one()
        articles = [
            ArticleSummary(
                id=str(100 + i),
                title=f"Bello und Mimi {i}",
                author="Kind7",
                status="publiziert",
                visibility="Klasse",
                date="1.1.2026",
                url=f"http://127.0.0.1:9/article/{100 + i}/",
            )
            for i in range(n)
        ]
        refs, _ = items.record_discovered(session, process_id, login_id, "k" * 64, articles, [""], False)
        for ref, article in zip(refs, articles, strict=True):
            detail = ArticleDetail(
                **article.model_dump(exclude={"status", "visibility", "date"}),
                category="Geschichte",
                category_id=7,
                task=None,
                task_id=None,
                content=PUPIL_TEXT,
                raw_html="<div class='article'></div>",
                comments=[],
            )
            assert items.store_article(session, ref.item_id, detail, datetime.now(UTC))
            values = {
                "comment_html": text,
                "model_name": "imitation-1",
                "provider_name": "openai-compatible",
                "prompt_tokens": 100,
                "completion_tokens": 50,
                "generation_ms": 10,
                "prompt_template_id": template.id,
                "prompt_template_version": template.version,
                "llm_provider_id": provider.id,
                "error": None,
            }
            assert review.store_generated(
                session, ref.item_id, ["prepared"], values, kind=EventKind.GENERATED
            )
        return [ref.item_id for ref in refs]


def set_status(database_url: str, item_id: str, status: str) -> None:
    with session_scope(database_url) as session:
        row = session.get(AIComment, item_id)
        assert row is not None
        row.status = status


def show(run_cli: Any, item_id: str) -> dict[str, Any]:
    result = run_cli("comments", "show", item_id, "--json")
    assert result.code == 0, result
    return result.json()


# --- undo -----------------------------------------------------------------------------------------------


def test_unapprove_reopen_and_restore_are_recorded_and_compare_and_set(
    any_db_url: str, reviewer: Any, run_cli: Any
) -> None:
    first, second = generated(reviewer.database_url, 2)

    # Unapprove: the approval goes, recorded with who; a comment not approved has nothing to take back.
    assert "is not approved" in one_error_line(run_cli("comments", "unapprove", first))
    assert run_cli("comments", "approve", first).code == 0
    assert run_cli("comments", "unapprove", first).code == 0
    shown = show(run_cli, first)
    assert shown["approved_at"] is None and shown["waits_for_approval"]
    assert [(e["kind"], e["actor"]) for e in shown["history"]] == [
        ("generated", None),
        ("approved", EMAIL),
        ("unapproved", EMAIL),
    ]
    assert shown["history"][-1]["at"]

    # Reopen: only a rejected comment, back to generated without its approval.
    assert run_cli("comments", "approve", second).code == 0
    assert "only rejected comments can be reopened" in one_error_line(run_cli("comments", "reopen", second))
    assert run_cli("comments", "reject", second, "--reason", "zu allgemein").code == 0
    reopened = run_cli("comments", "reopen", second[:8], "--json")
    assert reopened.code == 0, reopened
    shown = reopened.json()
    assert (shown["status"], shown["error"], shown["approved_at"]) == ("generated", None, None)
    assert [e["kind"] for e in shown["history"]][-2:] == ["rejected", "reopened"]
    assert shown["history"][-1]["actor"] == EMAIL
    assert shown["comment_html"] == MODEL_TEXT
    # A comment the process skipped (not a reviewer) is not reopened.
    with session_scope(reviewer.database_url) as session:
        session.execute(
            sa.update(AIComment)
            .where(AIComment.id == second)
            .values(status="skipped", error="process stopped")
        )
    line = one_error_line(run_cli("comments", "reopen", second))
    assert "skipped by the process (process stopped), not rejected" in line, line
    set_status(reviewer.database_url, second, "generated")

    # Restore: version 1 is the model's text; an edit is version 2; each restore is recorded.
    assert run_cli("comments", "edit", first, "--text-file", "-", stdin=EDITED_TEXT).code == 0
    assert run_cli("comments", "approve", first).code == 0
    shown = show(run_cli, first)
    assert [(v["version"], v["kind"]) for v in shown["versions"]] == [(1, "generated"), (2, "edited")]
    assert shown["version"] == 2 and shown["edited_by"] == EMAIL
    restored = run_cli("comments", "restore", first, "--version", "1", "--json")
    assert restored.code == 0, restored
    shown = restored.json()
    assert shown["comment_html"] == MODEL_TEXT and shown["version"] == 1 and shown["edited_by"] is None
    assert shown["approved_at"] is None  # the approval was for another text
    assert (shown["history"][-1]["kind"], shown["history"][-1]["detail"]) == ("restored", "version 1")
    assert shown["history"][-1]["actor"] == EMAIL and shown["history"][-1]["version"] == 1
    again = run_cli("comments", "restore", first, "--version", "1")
    assert again.code == 0 and "already" in again.out
    assert run_cli("comments", "restore", first, "--version", "2").code == 0
    assert show(run_cli, first)["comment_html"] == EDITED_TEXT
    assert "has no version 3 (versions 1 to 2" in one_error_line(
        run_cli("comments", "restore", first, "--version", "3")
    )
    assert "--version must be 1 or more" in one_error_line(
        run_cli("comments", "restore", first, "--version", "0")
    )

    # Regenerating over a person's edit is refused unless asked for, before anything is started.
    line = one_error_line(run_cli("comments", "regenerate", first))
    assert f"edited by {EMAIL}" in line and "--discard-edit" in line and "--version 2" in line, line
    assert show(run_cli, first)["status"] == "generated"

    # Compare-and-set: nothing is undone on a comment being posted, posted or being regenerated.
    for status, words in (
        ("posting", "being posted"),
        ("posted", "has been posted"),
        ("regenerating", "being regenerated"),
    ):
        set_status(reviewer.database_url, first, status)
        for action in (["unapprove", first], ["restore", first, "--version", "1"]):
            line = one_error_line(run_cli("comments", *action))
            assert words in line, (status, action, line)
        assert "is " + status in one_error_line(run_cli("comments", "reopen", first))
    set_status(reviewer.database_url, first, "generated")
    assert show(run_cli, first)["comment_html"] == EDITED_TEXT  # nothing changed on the way


def test_the_listing_shows_approval_and_template_and_filters_the_waiting(reviewer: Any, run_cli: Any) -> None:
    first, second, third = generated(reviewer.database_url, 3)
    assert run_cli("comments", "approve", first).code == 0
    assert run_cli("comments", "reject", third, "--reason", "nein").code == 0
    rows = {r["id"]: r for r in run_cli("comments", PROCESS, "--json").json()}
    assert [rows[i]["approval"] for i in (first, second, third)] == ["approved", "waiting", None]
    assert rows[second]["template"] == f"{TEMPLATE} v1"
    waiting = run_cli("comments", PROCESS, "--waiting", "--json").json()
    assert [r["id"] for r in waiting] == [second]
    table = run_cli("comments", "--waiting", PROCESS)
    header = table.out.splitlines()[0]
    assert "APPROVAL" in header and "TEMPLATE" in header
    assert second in table.out and first not in table.out and f"{TEMPLATE} v1" in table.out


# --- templates ------------------------------------------------------------------------------------------


def test_template_names_unique_edits_make_versions_and_retired_ones_stay(
    any_db_url: str, reviewer: Any, run_cli: Any, tmp_path: Path
) -> None:
    system, user = "Du bist eine freundliche Lehrperson.", "Kommentiere «{article_title}»:\n{article_content}"
    assert run_cli("template", "add", "Mein Feedback", "--system", system, "--user", user).code == 0
    # The same name in another case or spacing is refused, with the command that changes it.
    line = one_error_line(
        run_cli("template", "add", "  mein   FEEDBACK ", "--system", system, "--user", user)
    )
    assert "a template named 'Mein Feedback' exists already" in line
    assert line.endswith(": starter.py template edit 'Mein Feedback'"), line  # paste-safe, not nested
    assert [t["name"] for t in run_cli("template", "list", "--json").json()].count("Mein Feedback") == 1

    # A process on the template, and a comment made with version 1.
    create = process_create("Klasse 83", "imit", "bot", "Mein Feedback")
    assert run_cli(*create).code == 0
    first = generated(reviewer.database_url, 1)[0]
    with session_scope(reviewer.database_url) as session:
        mine = session.scalars(sa.select(PromptTemplate).where(PromptTemplate.name == "Mein Feedback")).one()
        session.execute(sa.update(AIComment).where(AIComment.id == first).values(prompt_template_id=mine.id))

    # Edit from a file in the form `show --text` prints: a new version, the old one kept.
    text = run_cli("template", "show", "mein feedback", "--text")
    assert text.code == 0 and text.out.startswith("### system prompt\n")
    new_file = tmp_path / "t.txt"
    new_file.write_text(text.out.replace("freundliche", "geduldige"), encoding="utf-8")
    edited = run_cli("template", "edit", "Mein Feedback", "--text-file", str(new_file))
    assert edited.code == 0 and "now version 2" in edited.out and "Klasse 83" in edited.out, edited
    unchanged = run_cli("template", "edit", "Mein Feedback", "--text-file", str(new_file))
    assert unchanged.code == 0 and "unchanged (version 2)" in unchanged.out
    shown = run_cli("template", "show", "Mein Feedback", "--json").json()
    assert shown["version"] == 2 and "geduldige" in shown["system_prompt"]
    assert [v["version"] for v in shown["versions"]] == [1, 2] and shown["versions"][1]["created_by"] == EMAIL
    assert shown["processes"] == ["Klasse 83"]
    old = run_cli("template", "show", "Mein Feedback", "--version", "1", "--json").json()
    assert "freundliche" in old["system_prompt"] and old["shown_version"] == 1
    assert "has no version 7" in one_error_line(
        run_cli("template", "show", "Mein Feedback", "--version", "7")
    )
    # The comment made with version 1 keeps naming it, with the current version beside.
    prompt = show(run_cli, first)["prompt_template"]
    assert (prompt["name"], prompt["version"], prompt["current_version"]) == ("Mein Feedback", 1, 2)
    assert "prompt Mein Feedback (version 1, now version 2)" in run_cli("comments", "show", first).out

    # With $EDITOR; a text without the two parts, or a placeholder that does not exist, changes nothing.
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys\np = sys.argv[1]\nt = open(p, encoding='utf-8').read()\n"
        "open(p, 'w', encoding='utf-8').write(t.replace('geduldige', 'fröhliche'))\n"
    )
    reviewer.set(VISUAL=None, EDITOR=f"{sys.executable} {script}")
    assert "now version 3" in run_cli("template", "edit", "Mein Feedback").out
    assert "needs a '### system prompt' line" in one_error_line(
        run_cli("template", "edit", "Mein Feedback", "--text-file", "-", stdin="nur ein Text")
    )
    bad = text.out.replace("{article_title}", "{article_titel}")
    assert "article_titel" in one_error_line(
        run_cli("template", "edit", "Mein Feedback", "--text-file", "-", stdin=bad)
    )
    assert run_cli("template", "show", "Mein Feedback", "--json").json()["version"] == 3
    # A shared system template stays as shipped.
    assert "shared system template" in one_error_line(
        run_cli("template", "edit", TEMPLATE, "--text-file", str(new_file))
    )

    # Retired: not offered to a new process; the process that has it keeps it and says so.
    retired = run_cli("template", "retire", "Mein Feedback")
    assert retired.code == 0 and "offered to no new process" in retired.out and "Klasse 83" in retired.out
    line = one_error_line(run_cli(*process_create("Klasse 84", "imit", "bot", "Mein Feedback")))
    assert "template 'Mein Feedback' is retired" in line, line
    assert run_cli("process", "update", "Klasse 83", "--prompt", "Mein Feedback:2").code == 0
    kept = run_cli("process", "show", "Klasse 83")
    assert "Mein Feedback (version 3, weight 2, retired: this process keeps it)" in kept.out, kept.out
    listed = {t["name"]: t for t in run_cli("template", "list", "--json").json()}
    assert listed["Mein Feedback"]["retired"] is True and listed[TEMPLATE]["retired"] is False
    assert "retired" in run_cli("template", "show", "Mein Feedback").out


# --- the review loop ------------------------------------------------------------------------------------


def test_review_needs_a_terminal(reviewer: Any, run_cli: Any) -> None:
    generated(reviewer.database_url, 1)
    line = one_error_line(run_cli("comments", "review", PROCESS))
    assert "needs a terminal" in line and "--waiting --json" in line
    assert run_cli("comments", PROCESS, "--waiting", "--json").json()[0]["approval"] == "waiting"


def test_review_loop_in_a_terminal_approves_edits_rejects_refuses_and_quits(
    reviewer: Any, run_cli: Any, tmp_path: Path
) -> None:
    ids = generated(reviewer.database_url, 4)
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys\nwith open(sys.argv[1], 'a', encoding='utf-8') as f:\n"
        f"    f.write('<p>{ADDED_IN_EDITOR}</p>')\n"
    )
    environment = {**os.environ, "EDITOR": f"{sys.executable} {script}", "TERM": "xterm", "COLUMNS": "160"}
    environment.pop("VISUAL", None)
    child = pexpect.spawn(
        sys.executable,
        [str(REPO / "starter.py"), "comments", "review", PROCESS],
        cwd=str(tmp_path),
        env=environment,
        dimensions=(60, 160),
        encoding="utf-8",
        timeout=60,
    )
    try:
        # One screen: the pupil's title and text beside the comment, the username, visibility, template.
        child.expect("Comment 1 of 4")
        child.expect(f"myMoment user {USERNAME}")
        child.expect("visible")
        child.expect(f"template {TEMPLATE}")
        child.expect("Bello und Mimi 0")
        child.expect("Mein Hund Bello")
        child.expect("Vielleicht erzählst du")
        child.expect("Your choice")
        child.sendline("z")  # not a key: asked again
        child.expect("Please select one of the available options")
        child.sendline("e")  # $EDITOR adds a paragraph; the screen shows the new text
        child.expect("Comment 1 of 4")
        child.expect("Weiter so")  # the new paragraph, on the redrawn screen
        child.expect("edited: the new text is shown above")
        child.expect("Your choice")
        child.sendline("a")
        child.expect("approved")

        child.expect("Comment 2 of 4")
        child.expect("Your choice")
        child.sendline("x")
        child.expect("Why is it rejected")
        child.sendline("zu allgemein")
        child.expect("rejected")

        # Comment 3 is being posted meanwhile: approving it is refused, and the loop moves on.
        child.expect("Comment 3 of 4")
        child.expect("Your choice")
        set_status(reviewer.database_url, ids[2], "posting")
        child.sendline("a")
        child.expect("no longer waits")

        child.expect("Comment 4 of 4")
        child.expect("Your choice")
        child.sendline("q")
        child.expect("1 still wait")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before

    views = [show(run_cli, item_id) for item_id in ids]
    assert views[0]["approved_by"] == EMAIL and ADDED_IN_EDITOR in views[0]["comment_html"]
    assert [e["kind"] for e in views[0]["history"]] == ["generated", "edited", "approved"]
    assert (views[1]["status"], views[1]["error"]) == ("skipped", "rejected: zu allgemein")
    assert views[1]["history"][-1]["actor"] == EMAIL
    assert (views[2]["status"], views[2]["approved_at"]) == ("posting", None)
    assert (views[3]["status"], views[3]["approved_at"]) == ("generated", None)


# --- migration 0008 on an existing database ------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migration_renames_duplicate_templates_and_numbers_histories(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from alembic import command

    from yourmoment.store.db import _alembic_config

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = os.environ.get("YOURMOMENT_TEST_DATABASE_URL", "")
        if not url:
            pytest.skip("PostgreSQL tests need YOURMOMENT_TEST_DATABASE_URL")
        reset_postgres(url)
    command.upgrade(_alembic_config(url), "0006_review_and_research")
    meta = sa.MetaData()
    tables = [
        "users",
        "prompt_templates",
        "mymoment_logins",
        "monitoring_processes",
        "ai_comments",
        "comment_events",
    ]
    meta.reflect(get_engine(url), only=tables)
    t = meta.tables
    stamp = datetime(2026, 1, 1, tzinfo=UTC)

    def at(second: int) -> datetime:
        return stamp.replace(second=second)

    with get_engine(url).begin() as conn:
        conn.execute(t["users"].insert().values(id="u1", email=EMAIL, created_at=stamp))
        for tid, name, second in (("t-a", "Lob", 1), ("t-b", " lob ", 2), ("t-c", "Lob (2)", 3)):
            conn.execute(
                t["prompt_templates"]
                .insert()
                .values(
                    id=tid,
                    user_id="u1",
                    name=name,
                    system_prompt="s",
                    user_prompt_template="{article_title}",
                    category="USER",
                    is_active=True,
                    version=1,
                    created_at=at(second),
                )
            )
        conn.execute(
            t["mymoment_logins"]
            .insert()
            .values(
                id="l1",
                user_id="u1",
                name="bot",
                username_enc="x",
                password_enc="x",
                is_active=True,
                is_admin=False,
                created_at=stamp,
            )
        )
        conn.execute(
            t["monitoring_processes"]
            .insert()
            .values(
                id="p1",
                user_id="u1",
                name="Klasse 82",
                description="",
                tab="82",
                max_duration_minutes=60,
                discovery_interval_seconds=60,
                generate_only=True,
                hide_comments=False,
                prompt_mode="weighted",
                comment_on_existing=True,
                require_approval=False,
                mymoment_requests=0,
                status="stopped",
                created_at=stamp,
                updated_at=stamp,
            )
        )
        common = {
            "process_id": "p1",
            "login_id": "l1",
            "prompt_slot": "",
            "status": "generated",
            "is_hidden": False,
            "attempts": 0,
            "created_at": stamp,
            "updated_at": stamp,
        }
        # i-old: generated before histories were kept, then edited; i-legacy: never touched.
        conn.execute(
            t["ai_comments"]
            .insert()
            .values(
                id="i-old",
                mymoment_article_id="1",
                comment_html="<p>neu</p>",
                original_html="<p>erst</p>",
                **common,
            )
        )
        conn.execute(
            t["ai_comments"]
            .insert()
            .values(id="i-legacy", mymoment_article_id="2", comment_html="<p>alt</p>", **common)
        )
        conn.execute(
            t["ai_comments"]
            .insert()
            .values(
                id="i-new",
                mymoment_article_id="3",
                comment_html="<p>b</p>",
                original_html="<p>a</p>",
                **common,
            )
        )
        events = t["comment_events"]
        conn.execute(
            events.insert().values(
                item_id="i-old", kind="edited", actor=EMAIL, comment_html="<p>neu</p>", created_at=at(10)
            )
        )
        conn.execute(
            events.insert().values(
                item_id="i-new", kind="generated", comment_html="<p>a</p>", created_at=at(11)
            )
        )
        conn.execute(
            events.insert().values(
                item_id="i-new", kind="approved", actor=EMAIL, comment_html="<p>a</p>", created_at=at(12)
            )
        )
        conn.execute(
            events.insert().values(
                item_id="i-new", kind="regenerated", actor=EMAIL, comment_html="<p>b</p>", created_at=at(13)
            )
        )
    get_engine(url).dispose()
    capsys.readouterr()
    upgrade(url)

    with session_scope(url) as session:
        names = {tid: name for tid, name in session.execute(sa.text("SELECT id, name FROM prompt_templates"))}
        assert names == {"t-a": "Lob", "t-b": "lob (3)", "t-c": "Lob (2)"}
        versions = {
            (tid, n)
            for tid, n in session.execute(
                sa.text("SELECT template_id, version FROM prompt_template_versions")
            )
        }
        assert versions == {("t-a", 1), ("t-b", 1), ("t-c", 1)}
        numbered = {
            item_id: [(v.number, v.kind, v.html) for v in review.text_versions(session, item_id)]
            for item_id in ("i-old", "i-legacy", "i-new")
        }
        assert numbered == {
            "i-old": [(1, "generated", "<p>erst</p>"), (2, "edited", "<p>neu</p>")],
            "i-legacy": [(1, "generated", "<p>alt</p>")],
            "i-new": [(1, "generated", "<p>a</p>"), (2, "regenerated", "<p>b</p>")],
        }
        assert review.current_version(session, "i-old") == 2
        assert review.edited_by_person(session, "i-old") is not None
    err = capsys.readouterr().err
    assert "renamed template t-b 'lob' to 'lob (3)': template names are unique per user" in err
    # The unique index is the backstop for two commands racing past the name check.
    with pytest.raises(sa.exc.IntegrityError), get_engine(url).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO prompt_templates (id, user_id, name, system_prompt, user_prompt_template, category,"
                " is_active, version, created_at) VALUES ('t-d', 'u1', 'LOB', 's', 'u', 'USER', true, 1, :at)"
            ),
            {"at": stamp},
        )
    get_engine(url).dispose()
