"""Reviewing comments end to end: edit, regenerate, reject, approve, and posting what was reviewed once.

Real components: the local dev server, the worker wiring in-process, both imitation servers, SQLite and
starter.py in-process (in a thread, so the test's loop drives the worker meanwhile).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from imitation import llm_server as llm_imitation
from tests.conftest import LLMServer, MyMomentServer, RunCli
from tests.support import cli, cli_ok, configure_class_82, isolate_on_dev_server, stored
from yourmoment import processes_client
from yourmoment.cli import review_actions
from yourmoment.comment_rules import DISCLOSURE
from yourmoment.errors import ValidationError
from yourmoment.settings import get_settings
from yourmoment.store import items
from yourmoment.store.db import session_scope
from yourmoment.store.models import AIComment
from yourmoment_dev.harness import add_articles, running_worker, wait_until

pytestmark = pytest.mark.slow
EDITED_BODY = (
    "<p>Deine Geschichte über die Hunde und Katzen hat mir sehr gut gefallen. Besonders der Anfang "
    "macht neugierig, wie es weitergeht.</p>"
    "<p>Vielleicht erzählst du beim nächsten Mal noch mehr darüber, was die Tiere zusammen erleben.</p>"
)
EDITED = f"<p>{DISCLOSURE}</p>{EDITED_BODY}"
EDITED_SENTENCE = "Vielleicht erzählst du beim nächsten Mal noch mehr darüber"
ADDED_IN_EDITOR = "Weiter so, ich freue mich schon auf deinen nächsten Text!"


@pytest.fixture
def review_env(env: Any, dev_env: Any, tmp_path: Path) -> Any:
    """The test's configuration pointed at the module's dev server, on a queue prefix of its own."""
    return isolate_on_dev_server(env, dev_env, tmp_path, "r", YOURMOMENT_DEFAULT_USER="t@example.org")


def one_error_line(result: Any, code: int = 2) -> str:
    assert result.code == code, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    return lines[0]


def rows(database_url: str, process_id: str) -> list[AIComment]:
    with session_scope(database_url) as session:
        return items.list_items(session, process_id)


def set_status(database_url: str, item_id: str, status: str) -> None:
    with session_scope(database_url) as session:
        row = session.get(AIComment, item_id)
        assert row is not None
        row.status = status


async def generate(run_cli: Any, database_url: str, process_id: str, n: int) -> list[AIComment]:
    """Runs the process until n comments are generated, then stops it."""
    await cli_ok(run_cli, "start", "Klasse 82")
    await wait_until(
        lambda: sum(r.status == "generated" for r in rows(database_url, process_id)) >= n,
        60,
        f"{n} generated comments",
    )
    await cli_ok(run_cli, "stop", "Klasse 82", "--wait")
    return [r for r in rows(database_url, process_id) if r.status == "generated"]


async def test_edit_reject_and_post_the_edited_text_once(
    review_env: Any,
    dev_env: WorkflowEnvironment,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
) -> None:
    process_id = await configure_class_82(run_cli, mymoment_server, llm_server.url)
    add_articles(mymoment_server.state, 2)
    async with running_worker(dev_env.client, get_settings()):
        edited, rejected = await generate(run_cli, review_env.database_url, process_id, 2)

        # The listing is as before, with or without the action's name, options before or after.
        for args in (
            ["comments", "Klasse 82", "--json"],
            ["comments", "--status", "generated", "Klasse 82", "--json"],
            ["comments", "list", "Klasse 82", "--status", "generated", "--json"],
        ):
            assert {r["id"] for r in (await cli_ok(run_cli, *args)).json()} == {edited.id, rejected.id}

        # The gate refuses an edit with a link, or without the disclosure first; nothing changes.
        with_link = EDITED + "<p>Schau dir dazu auch www.tiere-beispiel.ch an, dort gibt es mehr.</p>"
        without_disclosure = EDITED_BODY.replace("</p>", "\n").replace("<p>", "")
        disclosure_last = EDITED_BODY + f"<p>{DISCLOSURE}</p>"
        for text, check in (
            (with_link, "link"),
            (without_disclosure, "disclosure"),
            (disclosure_last, "disclosure"),
        ):
            line = one_error_line(
                await cli(run_cli, "comments", "edit", edited.id, "--text-file", "-", stdin=text)
            )
            assert "nothing changed" in line and f"{check}:" in line, line
        assert rows(review_env.database_url, process_id)[0].comment_html in (
            edited.comment_html,
            rejected.comment_html,
        )
        shown = (await cli_ok(run_cli, "comments", "show", edited.id, "--json")).json()
        assert shown["comment_html"] == edited.comment_html and shown["original_html"] is None

        # An accepted edit: the text through the sanitiser, the original kept, who and when recorded.
        result = await cli_ok(
            run_cli, "comments", "edit", edited.id, "--text-file", "-", "--json", stdin=EDITED
        )
        shown = result.json()
        assert shown["comment_html"] == EDITED
        assert shown["original_html"] == edited.comment_html
        assert [e["kind"] for e in shown["history"]] == ["generated", "edited"]
        assert shown["history"][1]["actor"] == "t@example.org" and shown["history"][1]["at"]
        assert shown["article"]["title"] == edited.article_title and shown["article"]["url"]
        assert shown["prompt_template"]["name"] == "Ermutigendes Feedback"
        assert shown["prompt_template"]["version"] == 1 and shown["generated_at"]
        assert shown["generation_attempts"] and shown["generation_attempts"][0]["accepted"]
        text = (await cli_ok(run_cli, "comments", "show", edited.id)).out
        assert EDITED_SENTENCE in text and "edited by t@example.org" in text

        # In $EDITOR: the comment one paragraph per line; what the editor saves is the new text.
        script = Path(review_env.database_url.removeprefix("sqlite:///")).parent / "editor.py"
        script.write_text(
            "import sys\nwith open(sys.argv[1], 'a', encoding='utf-8') as f:\n"
            f"    f.write('<p>{ADDED_IN_EDITOR}</p>')\n"
        )
        review_env.set(VISUAL=None, EDITOR=f"{sys.executable} {script}")
        shown = (await cli_ok(run_cli, "comments", "edit", edited.id, "--json")).json()
        assert shown["comment_html"] == EDITED + f"<p>{ADDED_IN_EDITOR}</p>"
        assert [e["kind"] for e in shown["history"]] == ["generated", "edited", "edited"]
        assert shown["original_html"] == edited.comment_html

        # The model's text replaces a person's edit only when asked to; the edit comes back by its version.
        line = one_error_line(await cli(run_cli, "comments", "regenerate", edited.id))
        assert "edited by t@example.org" in line and "--discard-edit" in line, line
        result = await cli_ok(run_cli, "comments", "regenerate", edited.id, "--discard-edit", "--json")
        assert result.json()["regenerated"] is True
        assert result.json()["comment"]["edited_by"] is None
        restored = await cli_ok(run_cli, "comments", "restore", edited.id, "--version", "3", "--json")
        assert restored.json()["comment_html"] == EDITED + f"<p>{ADDED_IN_EDITOR}</p>"
        assert restored.json()["edited_by"] == "t@example.org"

        # Rejected: skipped with the reason, never posted, not even by name.
        await cli_ok(run_cli, "comments", "reject", rejected.id, "--reason", "zu allgemein")
        row = next(r for r in rows(review_env.database_url, process_id) if r.id == rejected.id)
        assert (row.status, row.error) == ("skipped", "rejected: zu allgemein")
        one_error_line(await cli(run_cli, "post", rejected.id))

        # Posted once, with the edited text; then nothing about it changes any more.
        # A comment is named by its id or 8+ characters of it, as in every `comments` command.
        assert (await cli_ok(run_cli, "post", edited.id[:8], "--json")).json()[0]["outcome"] == "posted"
        assert (await cli_ok(run_cli, "post", "--process", "Klasse 82", "--json")).json() == []
        page = mymoment_server.state.comments_for(int(edited.mymoment_article_id))
        assert len(page) == 1 and EDITED_SENTENCE in page[0]["text"] and DISCLOSURE in page[0]["text"]
        assert mymoment_server.state.comments_for(int(rejected.mymoment_article_id)) == []
        for action in (
            ["edit", edited.id, "--text-file", "-"],
            ["regenerate", edited.id],
            ["reject", edited.id, "--reason", "zu spät"],
            ["approve", edited.id],
        ):
            line = one_error_line(await cli(run_cli, "comments", *action, stdin=EDITED))
            assert "has been posted on myMoment" in line, line
        shown = (await cli_ok(run_cli, "comments", "show", edited.id, "--json")).json()
        assert [e["kind"] for e in shown["history"]] == [
            "generated",
            "edited",
            "edited",
            "regenerated",
            "restored",
            "posted",
        ]
        assert len(mymoment_server.state.comments_for(int(edited.mymoment_article_id))) == 1


async def test_approval_regenerate_and_post_approved(
    any_db_url: str,
    review_env: Any,
    dev_env: WorkflowEnvironment,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A posting process that requires approval generates and waits; a new text, approved, is posted once."""
    process_id = await configure_class_82(
        run_cli, mymoment_server, llm_server.url, "--post", "--require-approval"
    )
    shown = (await cli_ok(run_cli, "process", "show", "Klasse 82", "--json")).json()
    assert shown["require_approval"] is True and shown["generate_only"] is False
    add_articles(mymoment_server.state, 2)
    async with running_worker(dev_env.client, get_settings()):
        first, second = await generate(run_cli, review_env.database_url, process_id, 2)
        assert mymoment_server.state.all_comments() == []  # nothing posted on its own

        line = one_error_line(await cli(run_cli, "post", first.id))
        assert "waits for approval" in line, line
        assert (await cli_ok(run_cli, "post", "--process", "Klasse 82", "--json")).json() == []

        # The model answers differently now; the new text replaces the old, which stays on record.
        templates = (await cli_ok(run_cli, "template", "list", "--json")).json()
        other = next(t["name"] for t in templates if t["name"] != "Ermutigendes Feedback")
        answer = llm_imitation.deterministic_comment
        added = "Mir gefällt besonders, wie lebendig du die Tiere in deinem Text beschreibst."
        monkeypatch.setattr(llm_imitation, "deterministic_comment", lambda m: answer(m) + f"<p>{added}</p>")
        result = await cli_ok(run_cli, "comments", "regenerate", first.id, "--prompt", other, "--json")
        assert result.json()["regenerated"] is True
        shown = (await cli_ok(run_cli, "comments", "show", first.id, "--json")).json()
        assert shown["status"] == "generated" and added in shown["comment_html"]
        assert shown["comment_html"] != first.comment_html and shown["original_html"] == first.comment_html
        assert [e["kind"] for e in shown["history"]] == ["generated", "regenerated"]
        assert shown["history"][0]["comment_html"] == first.comment_html
        assert other in shown["history"][1]["detail"] and shown["prompt_template"]["name"] == other
        with session_scope(review_env.database_url) as session:  # research timings keep the first generation
            assert stored(session, AIComment, first.id).generated_at == first.generated_at

        # While it is being regenerated (or posted), nothing else may change it.
        for status, words in (("regenerating", "being regenerated"), ("posting", "being posted")):
            set_status(review_env.database_url, second.id, status)
            for action in (
                ["edit", second.id, "--text-file", "-"],
                ["regenerate", second.id],
                ["reject", second.id, "--reason", "nein"],
                ["approve", second.id],
            ):
                if action[0] == "regenerate" and status == "regenerating":
                    continue  # a regeneration left without its workflow is started again (see below)
                assert words in one_error_line(await cli(run_cli, "comments", *action, stdin=EDITED))
        set_status(review_env.database_url, second.id, "generated")

        # The posting activity itself refuses an unapproved comment, whoever starts the post.
        handle = await processes_client.start_post(
            dev_env.client, get_settings(), second.id, second.login_id, False
        )
        refused = await handle.result()
        assert refused.outcome == "skipped" and "approval" in (refused.reason or "")
        assert (
            next(r for r in rows(review_env.database_url, process_id) if r.id == second.id).status
            == "generated"
        )

        # Approval is all or nothing, and only the approved comment is posted, once.
        line = one_error_line(await cli(run_cli, "comments", "approve", first.id, "no-such-comment"))
        assert "no comment no-such-comment" in line
        assert (await cli_ok(run_cli, "comments", "show", first.id, "--json")).json()["approved_at"] is None
        await cli_ok(run_cli, "comments", "approve", first.id)
        posted = (await cli_ok(run_cli, "post", "--approved", "--process", "Klasse 82", "--json")).json()
        assert [(p["item_id"], p["outcome"]) for p in posted] == [(first.id, "posted")]
        assert (await cli_ok(run_cli, "post", "--approved", "--json")).json() == []
        page = mymoment_server.state.comments_for(int(first.mymoment_article_id))
        assert len(page) == 1 and added in page[0]["text"]
        assert mymoment_server.state.comments_for(int(second.mymoment_article_id)) == []
        shown = (await cli_ok(run_cli, "comments", "show", first.id, "--json")).json()
        assert [e["kind"] for e in shown["history"]] == ["generated", "regenerated", "approved", "posted"]
        assert shown["approved_by"] == "t@example.org"

        # An item left in `regenerating` (a start that never happened) is regenerated when asked again.
        set_status(review_env.database_url, second.id, "regenerating")
        assert (await cli_ok(run_cli, "comments", "regenerate", second.id, "--json")).json()["regenerated"]
        assert (await cli_ok(run_cli, "comments", "show", second.id, "--json")).json()[
            "status"
        ] == "generated"

        # A regeneration the gate keeps rejecting keeps the previous text and says why (exit 1).
        before = (await cli_ok(run_cli, "comments", "show", second.id, "--json")).json()["comment_html"]
        llm_server.state.fail_next("link", 3)
        line = one_error_line(await cli(run_cli, "comments", "regenerate", second.id), code=1)
        assert "not regenerated" in line and "the previous text stays" in line, line
        shown = (await cli_ok(run_cli, "comments", "show", second.id, "--json")).json()
        assert shown["status"] == "generated" and shown["comment_html"] == before
        assert shown["history"][-1]["kind"] == "regen_failed"
        assert [a["checks"] for a in shown["generation_attempts"][-3:]] == [["link"]] * 3


# --- the edit gate on its own ------------------------------------------------------------------------


def judge(text: str, extra_line: str | None = None) -> Any:
    from yourmoment.llm.edits import judge_edit

    return judge_edit(text, [], min_length=50, max_length=5000, extra_line=extra_line)


def test_an_edit_keeps_the_disclosure_first_and_passes_the_gate_as_text_or_html() -> None:
    plain = (
        f"{DISCLOSURE}\n\nDeine Geschichte über die Hunde hat mir sehr gut gefallen.\n"
        "Vielleicht erzählst du beim nächsten Mal, was die Tiere zusammen erleben."
    )
    for text in (EDITED, plain, f"  {EDITED}\n"):
        verdict = judge(text)
        assert verdict.accepted, verdict.problems
        assert verdict.html.startswith(f"<p>{DISCLOSURE}</p>") and verdict.html.count(DISCLOSURE) == 1
    # The operator's extra line, kept by the reviewer after the disclosure, stands there once.
    extra = "Geschrieben für die Klasse 4b."
    verdict = judge(f"<p>{DISCLOSURE}</p><p>{extra}</p>{EDITED_BODY}", extra_line=extra)
    assert verdict.accepted, verdict.problems
    assert verdict.html.count(extra) == 1
    # A script or an attribute never survives the sanitiser.
    verdict = judge(
        EDITED + '<p onclick="x()">Toll gemacht, weiter so mit dem Schreiben!<script>x()</script></p>'
    )
    assert verdict.accepted and "script" not in verdict.html and "onclick" not in verdict.html


def test_an_edit_without_the_disclosure_first_or_with_a_link_is_refused() -> None:
    for text, check in (
        (EDITED_BODY, "disclosure"),
        (EDITED_BODY + f"<p>{DISCLOSURE}</p>", "disclosure"),
        (
            EDITED + "<p>Dieser Kommentar wurde von einem Menschen geschrieben, nicht von einer KI.</p>",
            "disclosure",
        ),
        (EDITED + "<p>Mehr dazu findest du unter https://example.org/tiere im Netz.</p>", "link"),
        # Sanitising would drop the tag and keep "hier": the reviewer is told instead.
        (EDITED + '<p>Schau <a href="https://example.org/tiere">hier</a> nach, dort steht mehr.</p>', "link"),
        (f"<p>{DISCLOSURE}</p><p>Super!</p>", "length"),
    ):
        verdict = judge(text)
        assert check in [p.check for p in verdict.problems], (text, verdict.problems)


def test_an_editor_that_cannot_start_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDITOR", "/nonexistent/ed --wait")
    monkeypatch.delenv("VISUAL", raising=False)
    with pytest.raises(ValidationError) as refused:
        review_actions.run_editor("<p>Text</p>")
    assert "cannot start the editor '/nonexistent/ed --wait'" in str(refused.value)
    assert "nothing changed" in str(refused.value)
