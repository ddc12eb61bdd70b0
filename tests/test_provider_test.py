"""`provider test`: one real chat request through the worker's client and gate, over HTTP to the imitation."""

from __future__ import annotations

import pytest

from tests.support import provider_add
from yourmoment.comment_rules import DISCLOSURE
from yourmoment.llm.probe import describe_changes


@pytest.fixture
def user(env, run_cli) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("user", "add", "lehrerin@example.ch").code == 0


def add(run_cli, name: str, url: str, model: str = "imitation-mini", *extra: str) -> None:  # type: ignore[no-untyped-def]
    added = run_cli(*provider_add(name, model, *extra, base_url=url))
    assert added.code == 0, added


def test_a_served_model_answers_and_the_gate_judges_it(user, run_cli, llm_server) -> None:  # type: ignore[no-untyped-def]
    add(run_cli, "local", f"{llm_server.url}/v1")
    result = run_cli("provider", "test", "local")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert (
        lines[0].startswith("ok: provider 'local' (openai-compatible)")
        and "structured output off" in lines[0]
    )
    assert lines[1] == "models: the configured model is listed (2 model(s) served)"
    assert lines[2].startswith("answer: ") and "prompt +" in lines[2] and "finish_reason stop" in lines[2]
    assert "gate: accepted" in lines
    assert f"  {DISCLOSURE}" in lines
    assert llm_server.state.calls == 1 and llm_server.state.response_formats["text"] == 1

    data = run_cli("provider", "test", "local", "--json").json()
    assert data["ok"] and data["accepted"] and data["problems"] == [] and data["finish_reason"] == "stop"
    assert data["prompt_tokens"] > 0 and data["completion_tokens"] > 0 and data["latency_ms"] >= 0
    assert data["comment_lines"][0] == DISCLOSURE


def test_structured_mode_is_the_one_the_worker_uses(user, run_cli, llm_server) -> None:  # type: ignore[no-untyped-def]
    add(run_cli, "local", f"{llm_server.url}/v1", "imitation-mini", "--structured", "json_schema")
    data = run_cli("provider", "test", "local", "--json").json()
    assert data["structured_output"] == "json_schema" and data["accepted"]
    assert llm_server.state.response_formats["json_schema"] == 1


def test_a_rejected_answer_shows_each_check(user, run_cli, llm_server) -> None:  # type: ignore[no-untyped-def]
    add(run_cli, "local", f"{llm_server.url}/v1")
    llm_server.state.fail_next("cut_off")
    result = run_cli("provider", "test", "local")
    assert result.code == 0, result  # the provider works; this answer would be asked for again
    assert "gate: rejected; the worker would ask again (up to 3 answers per comment):" in result.out
    assert "  cut_off: " in result.out and "finish_reason length" in result.out


def test_an_unknown_model_is_an_error_unless_the_server_ignores_names(user, run_cli, llm_server) -> None:  # type: ignore[no-untyped-def]
    add(run_cli, "typo", f"{llm_server.url}/v1", "imitation-mnii")
    lenient = run_cli("provider", "test", "typo")  # llama-server answers whatever the name
    assert lenient.code == 0
    assert (
        "models: the server does not check model names: 'imitation-mnii' is not among its models"
        in lenient.out
    )

    llm_server.state.strict_models = True  # as OpenAI and vLLM: 404 for a model they do not serve
    strict = run_cli("provider", "test", "typo")
    assert strict.code == 2, strict
    lines = strict.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: provider 'typo': the model 'imitation-mnii' is not served"
    )
    assert "(it serves: imitation-large, imitation-mini)" in lines[0]


def test_an_unreachable_endpoint_is_one_error_line_and_exit_1(user, run_cli) -> None:  # type: ignore[no-untyped-def]
    add(run_cli, "down", "http://127.0.0.1:9/v1")
    result = run_cli("provider", "test", "down")
    assert result.code == 1 and result.out == ""
    assert (
        result.err.strip()
        == "error: provider 'down': LLM openai-compatible (imitation-mini) at 127.0.0.1:9 refused the connection"
    )
    data = run_cli("provider", "test", "down", "--json").json()
    assert data == {
        "provider": "down",
        "ok": False,
        "error": "LLM openai-compatible (imitation-mini) at 127.0.0.1:9 refused the connection",
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<p>Schön!</p>", ["puts the AI disclosure paragraph first"]),
        (
            '<div><p class="x">Toll</p><a href="#">hier</a></div>',
            ["puts the AI disclosure paragraph first", "removes the tags a, div", "removes attributes"],
        ),
        (
            "Zeile eins\n**Zeile** zwei",
            [
                "puts the AI disclosure paragraph first",
                "wraps the answer's lines in <p> paragraphs",
                "turns Markdown into text (**bold** into <strong>)",
            ],
        ),
    ],
)
def test_describe_changes_names_what_normalising_did(raw: str, expected: list[str]) -> None:
    from yourmoment.llm.comments import normalize_comment

    assert describe_changes(raw, normalize_comment(raw)) == expected
