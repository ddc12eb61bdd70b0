"""Research output: `export` (CSV / JSON Lines, pseudonyms, retention) and `report`, end to end and on seeded rows."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import CliEnv, LLMServer, MyMomentServer, RunCli
from tests.support import POSTING, add_link_ordering_article, process_create, provider_add, run_starter
from yourmoment.research.export import COLUMNS, PSEUDONYM_PREFIX, Pseudonyms
from yourmoment.research.report import percentile
from yourmoment.store.db import session_scope
from yourmoment.store.models import (
    AIComment,
    GenerationAttempt,
    MonitoringProcess,
    MyMomentLogin,
    utcnow,
)
from yourmoment_dev.harness import DevServer, WorkerProcess, add_articles, wait_until

PREFIX = "[Dieser Kommentar stammt von einem KI-ChatBot.]"
EMAIL = "forscherin@example.org"


def one_error_line(result: Any) -> str:
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.err, result.err
    return lines[0]


def configure(run_cli: Any, llm_url: str, *price: str) -> None:
    for args, stdin in [
        (("user", "add", EMAIL), None),
        (("login", "add", "a", "--username", "pupil-a", "--password-stdin"), "pass-a\n"),
        (provider_add("local", "imitation", *price, base_url=f"{llm_url}/v1"), None),
        (("template", "seed"), None),
    ]:
        result = run_cli(*args, stdin=stdin)
        assert result.code == 0, result


def create_process(run_cli: Any, name: str = "klasse-82") -> tuple[str, str]:
    template = run_cli("template", "list", "--json").json()[0]["name"]
    result = run_cli(*process_create(name, "local", "a", template, *POSTING), "--json")
    assert result.code == 0, result
    return result.json()["id"], template


def csv_rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


# --- end to end: a finished process, exported and reported --------------------------------------------


@pytest.mark.slow
async def test_export_and_report_of_a_finished_process(
    env: CliEnv,
    run_cli: RunCli,
    mymoment_server: MyMomentServer,
    llm_server: LLMServer,
    dev_server: DevServer,
    tmp_path: Path,
) -> None:
    mm_state = mymoment_server.state
    mm_state.add_class(82, "Beispielklasse A", "Testschule")
    mm_state.add_account("pupil-a", "pass-a", "pupil", [82])
    add_articles(mm_state, 3)  # Kind0, Kind1, Kind2
    again = mm_state.add_article(
        title="Noch ein Text",
        author="Kind0",
        class_id=82,
        category_id=7,
        paragraphs=["Ich mag Hunde und Katzen sehr.", "Heute regnet es."],
    )
    injected = add_link_ordering_article(mm_state)
    env.set(
        TEMPORAL_ADDRESS=dev_server.address,
        TEMPORAL_TASK_QUEUE_PREFIX=f"research{uuid.uuid4().hex[:6]}-",
    )
    configure(run_cli, llm_server.url, "--price-prompt", "0.5", "--price-completion", "2")
    process_id, template = create_process(run_cli)
    worker_env = dict(os.environ)
    worker = WorkerProcess(worker_env)
    worker.start()
    try:
        code, out, err = run_starter(worker_env, "start", process_id)
        assert code == 0, out + err

        def settled() -> bool:
            with session_scope(env.database_url) as session:
                statuses = sorted(session.scalars(sa.select(AIComment.status)))
            return statuses == ["failed"] + ["posted"] * 4

        await wait_until(settled, 120, "4 posted, 1 failed")
        code, out, err = run_starter(worker_env, "stop", process_id, "--wait")
        assert code == 0, out + err
    finally:
        worker.terminate()

    # --- export: CSV to a file, through csv.DictReader with the documented columns ---
    target = tmp_path / "out" / "study.csv"
    target.parent.mkdir()
    result = run_cli("export", "klasse-82", "--format", "csv", "--out", target)
    assert result.code == 0 and "exported 5 rows" in result.out, result
    assert oct(target.stat().st_mode & 0o777) == "0o600"  # it may hold pupils' texts later
    text = target.read_text(encoding="utf-8")
    rows = csv_rows(text)
    by_article = {row["article_id"]: row for row in rows}
    assert len(rows) == 5 and len(by_article) == 5
    assert sorted(row["status"] for row in rows) == ["failed"] + ["posted"] * 4
    for row in rows:
        assert row["process"] == "klasse-82" and row["process_id"] == process_id and row["login"] == "a"
        assert row["prompt_template"] == template and row["provider"] == "local"
        assert row["provider_kind"] == "openai-compatible" and row["model"]
        assert int(row["prompt_tokens"]) > 0 and int(row["completion_tokens"]) > 0
        assert row["article_text"] == "" and row["discovered_at"] and row["edits"] == "0"
        if row["status"] == "posted":
            assert row["gate_attempts"] == "1" and row["gate_reasons"] == ""
            assert row["prompt_template_version"] == "1" and row["generated_at"] and row["posted_at"]
            # Paragraphs on lines of their own: newlines inside a cell survive the CSV round trip.
            assert row["comment_text"].startswith(PREFIX + "\n\n"), row["comment_text"]
            assert row["comment_html"].startswith(f"<p>{PREFIX}</p>")
    failed = by_article[str(injected)]
    assert failed["gate_attempts"] == "3" and failed["gate_rejected"] == "3"
    assert failed["gate_reasons"].count("link") == 3 and failed["gate_reasons"].startswith("1:")
    assert failed["comment_text"] == "" and failed["posted_at"] == ""
    # Pseudonyms: one per author within the export, never the name; no name and no text in the file.
    pseudonyms = {row["article_id"]: row["article_author"] for row in rows}
    assert all(p.startswith(PSEUDONYM_PREFIX) for p in pseudonyms.values()), pseudonyms
    assert pseudonyms[str(again)] == pseudonyms[str(min(mm_state.articles))]  # both by Kind0
    assert len(set(pseudonyms.values())) == 4
    assert "Kind" not in text and "Ich mag Hunde" not in text and "Krümel" not in text

    # A second export pseudonymises anew (stdout, JSON Lines this time).
    second = run_cli("export", process_id, "--format", "jsonl")
    assert second.code == 0 and second.err == "", second
    lines = [json.loads(line) for line in second.out.splitlines()]
    assert len(lines) == 5 and all(tuple(line) == COLUMNS for line in lines)
    assert all(isinstance(line["gate_attempts"], int) for line in lines)
    assert not set(pseudonyms.values()) & {line["article_author"] for line in lines}

    # Asked for, the names and texts are there.
    named = run_cli("export", process_id, "--format", "jsonl", "--with-authors", "--with-article-text")
    assert named.code == 0 and named.err == "", named
    named_rows = {line["article_id"]: line for line in map(json.loads, named.out.splitlines())}
    assert named_rows[str(again)]["article_author"] == "Kind0"
    assert {line["article_author"] for line in named_rows.values()} == {"Kind0", "Kind1", "Kind2", "Kind9"}
    assert "Ich mag Hunde" in named_rows[str(again)]["article_text"]

    # --- report: the figures match the database ---
    report = run_cli("report", "klasse-82", "--json")
    assert report.code == 0, report
    data = report.json()
    with session_scope(env.database_url) as session:
        process = session.get(MonitoringProcess, process_id)
        assert process is not None
        requests = process.mymoment_requests
        attempts = session.scalars(sa.select(GenerationAttempt)).all()
        items = session.scalars(sa.select(AIComment)).all()
    assert data["items"]["total"] == 5
    assert data["items"]["by_status"]["posted"] == 4 and data["items"]["by_status"]["failed"] == 1
    gate = data["gate"]
    assert gate["answers"] == len(attempts) == 7 and gate["accepted"] == 4 and gate["rejected"] == 3
    assert gate["acceptance_rate"] == round(4 / 7, 4) and gate["first_try_rate"] == round(4 / 5, 4)
    assert gate["rejections_by_check"]["link"] == 3
    to_post = [(i.posted_at - i.created_at).total_seconds() for i in items if i.posted_at]
    median = percentile(to_post, 50)
    assert median is not None
    assert data["timing"]["discovery_to_posting"] == {
        "count": 4,
        "p50_seconds": round(median, 3),
        "p95_seconds": round(max(to_post), 3),
    }
    assert data["timing"]["discovery_to_generation"]["count"] == 4
    [provider] = data["providers"]
    prompt_tokens = sum(a.prompt_tokens for a in attempts)
    completion_tokens = sum(a.completion_tokens for a in attempts)
    assert provider["provider"] == "local" and provider["answers"] == 7
    assert (provider["prompt_tokens"], provider["completion_tokens"]) == (prompt_tokens, completion_tokens)
    cost = round(prompt_tokens / 1e6 * 0.5 + completion_tokens / 1e6 * 2, 6)
    assert provider["cost"] == cost and data["cost_total"] == cost and cost > 0
    stats = mm_state.stats()
    by_kind = stats["by_kind"]
    # Discovery, article pages and posts count; the login (open_session) belongs to no process.
    least = by_kind["list"] + by_kind["article"] + by_kind["post"]
    assert least <= requests <= stats["total"], (requests, by_kind)
    assert by_kind["post"] == 4
    assert data["mymoment"] == {
        "requests": requests,
        "posted": 4,
        "requests_per_posted_comment": round(requests / 4, 2),
    }
    plain = run_cli("report", process_id)
    assert plain.code == 0 and f"myMoment requests: {requests}" in plain.out, plain
    assert "4 of 7 answers accepted" in plain.out and f"estimated cost: {cost:.4f}" in plain.out

    # --- retention: an item older than RETENTION_DAYS keeps its text and name whatever the flags ---
    with session_scope(env.database_url) as session:
        session.execute(
            sa.update(AIComment)
            .where(AIComment.mymoment_article_id == str(again))
            .values(created_at=utcnow() - timedelta(days=31))
        )
    env.set(RETENTION_DAYS=30)
    old = run_cli("export", process_id, "--format", "csv", "--with-authors", "--with-article-text")
    assert old.code == 0, old
    assert old.err.startswith("note: 1 of 5 rows are older than RETENTION_DAYS (30 days)"), old.err
    kept = {row["article_id"]: row for row in csv_rows(old.out)}
    assert kept[str(again)]["article_text"] == ""
    assert kept[str(again)]["article_author"].startswith(PSEUDONYM_PREFIX)
    assert kept[str(min(mm_state.articles))]["article_author"] == "Kind0"  # the recent one, by name
    assert "Ich mag Hunde" in kept[str(min(mm_state.articles))]["article_text"]


# --- seeded rows: no worker needed ----------------------------------------------------------------------


def seed_items(database_url: str, process_id: str, n: int, **values: Any) -> list[str]:
    with session_scope(database_url) as session:
        login = session.scalar(sa.select(MyMomentLogin))
        assert login is not None
        rows = [
            AIComment(
                process_id=process_id,
                login_id=login.id,
                mymoment_article_id=str(4500 + i),
                article_title=f"Titel {i}",
                article_author=f"Kind{i % 2}",
                article_content='Ein Satz.\nNoch einer, mit "Anführungszeichen".',
                **values,
            )
            for i in range(n)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def test_bad_input_is_one_line_and_writes_nothing(env: CliEnv, run_cli: RunCli, tmp_path: Path) -> None:
    configure(run_cli, "http://127.0.0.1:9")
    process_id, _ = create_process(run_cli)
    target = tmp_path / "x.csv"
    cases = [
        (("export", "nope", "--out", target), "no process 'nope'"),
        (("export", process_id, "nope", "--out", target), "no process 'nope'"),
        (("export", process_id, "--format", "xlsx", "--out", target), "invalid choice: 'xlsx'"),
        (("export", process_id, "--out", tmp_path / "missing" / "x.csv"), "does not exist"),
        (("export", process_id, "--out", tmp_path), "is a directory"),
        (
            ("export", process_id, "--out", "/proc/yourmoment-export.csv"),
            "cannot write /proc/yourmoment-export.csv",
        ),
        (("export", process_id, "--json"), "--json prints a summary and needs --out"),
        (("export",), "name at least one PROCESS (or export --versions)"),
        (("report", "nope"), "no process 'nope'"),
        (("provider", "set", "local", "--price-prompt", "-1"), "--price-prompt must be a number between 0"),
        (("provider", "set", "local", "--price-completion", "inf"), "--price-completion must be a number"),
        (
            provider_add("other", "m", "--price-prompt", "nan", base_url="http://127.0.0.1:9/v1"),
            "--price-prompt must be a number",
        ),
    ]
    for args, expected in cases:
        result = run_cli(*args)
        line = one_error_line(result)
        assert expected in line, (args, line)
        assert result.out == "", (args, result.out)
    leftovers = [p.name for p in tmp_path.iterdir() if not p.name.startswith("yourmoment.db")]
    assert leftovers == [], leftovers  # no export, no temporary file
    [provider] = run_cli("provider", "list", "--json").json()
    assert provider["price_prompt_per_million"] is None


def test_report_of_seeded_items_and_unknown_prices(env: CliEnv, run_cli: RunCli) -> None:
    configure(run_cli, "http://127.0.0.1:9")
    process_id, _ = create_process(run_cli)
    empty = run_cli("report", process_id, "--json").json()
    assert empty["items"]["total"] == 0 and empty["gate"]["acceptance_rate"] is None
    assert empty["cost_total"] == 0.0 and empty["mymoment"]["requests_per_posted_comment"] is None
    now = utcnow()
    ids = seed_items(env.database_url, process_id, 4, status="posted", generated_at=now, posted_at=now)
    with session_scope(env.database_url) as session:
        for i, item_id in enumerate(ids):
            session.execute(
                sa.update(AIComment)
                .where(AIComment.id == item_id)
                .values(created_at=now - timedelta(seconds=10 * (i + 1)))
            )
            # The first item's first answer was rejected, its second accepted; the others passed at once.
            answers = [(1, False), (2, True)] if i == 0 else [(1, True)]
            for number, accepted in answers:
                reasons = "[]" if accepted else '[{"check": "not_german", "message": "not German"}]'
                session.add(
                    GenerationAttempt(
                        item_id=item_id,
                        number=number,
                        accepted=accepted,
                        reasons=reasons,
                        prompt_tokens=1000,
                        completion_tokens=200,
                        generation_ms=5,
                    )
                )
        session.execute(
            sa.update(MonitoringProcess)
            .where(MonitoringProcess.id == process_id)
            .values(mymoment_requests=10)
        )
    data = run_cli("report", process_id, "--json").json()
    assert data["gate"] == {
        "answers": 5,
        "accepted": 4,
        "rejected": 1,
        "acceptance_rate": 0.8,
        "items_with_answers": 4,
        "first_try_accepted": 3,
        "first_try_rate": 0.75,
        "rejections_by_check": {"not_german": 1},
    }
    # Nearest rank over 10, 20, 30, 40 s: p50 is the 2nd value, p95 the 4th.
    assert data["timing"]["discovery_to_posting"]["p50_seconds"] == pytest.approx(20, abs=0.01)
    assert data["timing"]["discovery_to_posting"]["p95_seconds"] == pytest.approx(40, abs=0.01)
    assert data["providers"][0]["cost"] == "unknown" and data["cost_total"] == "unknown"
    assert data["mymoment"] == {"requests": 10, "posted": 4, "requests_per_posted_comment": 2.5}
    assert "estimated cost: unknown" in run_cli("report", process_id).out
    # One price known is not enough; with both, the cost is computed.
    changed = run_cli("provider", "set", "local", "--price-prompt", "1.5", "--json")
    assert changed.code == 0 and changed.json()["changed"] == ["price_prompt_per_million"], changed
    assert run_cli("report", process_id, "--json").json()["cost_total"] == "unknown"
    assert run_cli("provider", "set", "local", "--price-completion", "4").code == 0
    data = run_cli("report", process_id, "--json").json()
    assert data["cost_total"] == round(5000 / 1e6 * 1.5 + 1000 / 1e6 * 4, 6)


def test_export_of_seeded_rows_round_trips_and_keeps_retention(
    env: CliEnv, run_cli: RunCli, tmp_path: Path
) -> None:
    configure(run_cli, "http://127.0.0.1:9")
    process_id, _ = create_process(run_cli)
    html = f'<p>{PREFIX}</p><p>Zeile mit "Anführungszeichen", Komma; und</p><p>Umbruch.</p>'
    recent = seed_items(env.database_url, process_id, 3, status="generated", comment_html=html)
    with session_scope(env.database_url) as session:
        old = AIComment(
            process_id=process_id,
            login_id=session.scalar(sa.select(MyMomentLogin.id)),
            mymoment_article_id="4600",
            article_author="Kind0",
            article_content="Alt.",
            created_at=utcnow() - timedelta(days=91),
            status="posted",
        )
        session.add(old)
    out = tmp_path / "seeded.csv"
    result = run_cli("export", process_id, "--out", out, "--with-article-text", "--json")
    assert result.code == 0, result
    summary = result.json()
    assert (summary["rows"], summary["withheld_past_retention"], summary["authors"]) == (4, 1, "pseudonyms")
    assert "older than RETENTION_DAYS (90 days)" in result.err
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    texts = {row["article_id"]: row["article_text"] for row in rows}
    assert texts["4600"] == "" and texts["4500"] == 'Ein Satz.\nNoch einer, mit "Anführungszeichen".'
    comment = rows[1]["comment_text"]
    assert comment == f'{PREFIX}\n\nZeile mit "Anführungszeichen", Komma; und\n\nUmbruch.', comment
    assert len(recent) == 3 and all(row["article_author"].startswith(PSEUDONYM_PREFIX) for row in rows)
    dash = run_cli("export", process_id, "--out", "-")  # stdout, with fresh pseudonyms
    assert dash.code == 0 and len(csv_rows(dash.out)) == 4 and not (tmp_path / "-").exists(), dash
    authors = {row["article_id"]: row["article_author"] for row in rows}
    assert authors["4500"] == authors["4502"] == authors["4600"] != authors["4501"]  # Kind0, Kind1


def test_pseudonyms_and_percentiles() -> None:
    first, second = Pseudonyms(), Pseudonyms()
    assert first.of("Kind0") == first.of(" Kind0 ") != first.of("Kind1")
    assert first.of("Kind0") != second.of("Kind0")
    assert first.of(None) is None and first.of("  ") is None
    fixed = Pseudonyms(b"k").of("Lena") or ""
    assert fixed == Pseudonyms(b"k").of("Lena") and "Lena" not in fixed
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0 and percentile([4.0, 1.0, 3.0, 2.0], 95) == 4.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 95) == 95.0
    assert math.isclose(percentile(values, 100) or 0, 100.0)


async def test_requests_of_a_failing_activity_count_for_its_process(
    env: CliEnv, run_cli: RunCli, mymoment_server: MyMomentServer
) -> None:
    """What the client sent counts even when the activity then fails; nested counts (a post's own) add up."""
    from activities.deps import Dependencies
    from yourmoment.errors import NotFoundError
    from yourmoment.mymoment.client import counting_requests
    from yourmoment.settings import get_settings

    mymoment_server.state.add_class(82, "Beispielklasse A", "Testschule")
    mymoment_server.state.add_account("pupil-a", "pass-a", "pupil", [82])
    configure(run_cli, "http://127.0.0.1:9")
    process_id, _ = create_process(run_cli)
    deps = Dependencies.from_settings(get_settings())
    try:
        with session_scope(env.database_url) as session:
            login_id = session.scalar(sa.select(MyMomentLogin.id))
            updated_at = session.scalar(sa.select(MonitoringProcess.updated_at))
        assert login_id is not None
        client = await deps.mymoment(login_id)
        with pytest.raises(NotFoundError):
            async with deps.tally_requests(process_id):
                with counting_requests() as inner:
                    await client.get_article("999999")
        assert inner[0] == client.requests > 0  # the login and the missing page
        with session_scope(env.database_url) as session:
            row = session.get(MonitoringProcess, process_id)
            assert row is not None and row.mymoment_requests == client.requests
            assert row.updated_at == updated_at  # `start` compares it: a counter is no change
    finally:
        await deps.close()
