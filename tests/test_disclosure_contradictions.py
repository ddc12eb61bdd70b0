"""Nothing contradicts the disclosure: the two corpora through every place a line is judged.

tests/corpora/disclosure_contradictions.txt holds lines a reader would take for a person writing, a
denial or mockery of the first line, or a person's signature; tests/corpora/persons_ok.txt holds
ordinary feedback that mentions people or speaks in the first person. Each line goes through the
gate as a model's answer, through the check before every POST, as the operator's extra line and in a
teacher's edit (docs/rules.md#what-contradicts-the-disclosure).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from yourmoment.comment_rules import (
    CLAIMS_A_PERSON,
    DENIES_THE_DISCLOSURE,
    DISCLOSURE,
    SIGNS_AS_A_PERSON,
    contradiction,
    contradictions,
    extra_line_problems,
    posting_problems,
)
from yourmoment.llm.comments import normalize_comment
from yourmoment.llm.edits import judge_edit
from yourmoment.llm.gate import Check, Verdict, judge
from yourmoment.llm.system_templates import SYSTEM_TEMPLATES
from yourmoment.llm.templates import ArticleContext, render_messages

CORPORA = Path(__file__).parent / "corpora"
ARTICLE = ArticleContext(
    article_title="Krümel und das grosse Abenteuer",
    article_author="Lina",
    article_content="Mein Hamster heisst Krümel. Er wohnt in einem grossen Käfig in meinem Zimmer.",
)
MESSAGES = render_messages(
    SYSTEM_TEMPLATES[0].system_prompt, SYSTEM_TEMPLATES[0].user_prompt_template, ARTICLE
)
PRAISE = "Deine Geschichte über Krümel hat mir sehr gefallen, besonders der Ausflug aus dem Käfig."
EXTRA = "Ein Projekt der Klasse 82 mit Frau Meier."


def corpus(name: str) -> list[str]:
    lines = (CORPORA / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


CONTRADICTING = corpus("disclosure_contradictions.txt")
ORDINARY = corpus("persons_ok.txt")


def gate(raw: str, extra_line: str | None = None) -> Verdict:
    return judge(
        raw,
        "stop",
        MESSAGES,
        min_length=50,
        max_length=5000,
        extra_line=extra_line,
        article_text=[ARTICLE.article_title, ARTICLE.article_content],
    )


def edit(text: str, extra_line: str | None = None) -> Verdict:
    return judge_edit(
        text,
        MESSAGES,
        min_length=50,
        max_length=5000,
        extra_line=extra_line,
        article_text=[ARTICLE.article_title, ARTICLE.article_content],
    )


def test_the_corpora_are_large_and_varied() -> None:
    assert len(CONTRADICTING) >= 60 and len(ORDINARY) >= 40
    assert len(set(CONTRADICTING)) == len(CONTRADICTING) and len(set(ORDINARY)) == len(ORDINARY)
    kinds = {contradiction(line, closing=True) for line in CONTRADICTING}
    assert {CLAIMS_A_PERSON, DENIES_THE_DISCLOSURE, SIGNS_AS_A_PERSON} <= kinds


# --- a model's answer, and the check before every POST -----------------------------------------------


@pytest.mark.parametrize("line", CONTRADICTING)
def test_a_contradicting_line_is_refused_wherever_it_stands(line: str) -> None:
    for raw in (f"<p>{PRAISE}</p><p>{line}</p>", f"<p>{line}</p><p>{PRAISE}</p>"):
        if raw.startswith(f"<p>{line}") and contradiction(line) is None:
            continue  # a bare name ("Deine Lea") signs only where a comment ends
        found = gate(raw)
        assert Check.DISCLOSURE in found.checks, (line, found.problems)
        message = next(p.message for p in found.problems if p.check == Check.DISCLOSURE)
        assert "contradict" in message or "disclosure-like" in message
        assert not set(line.split()) & set(message.split()) - {"the", "a", "-", "–"}  # the rule, not the text
        assert posting_problems(found.html), line  # and again right before the POST


@pytest.mark.parametrize("line", ORDINARY)
def test_feedback_that_mentions_people_passes(line: str) -> None:
    assert contradiction(line, closing=True) is None
    for raw in (f"<p>{PRAISE}</p><p>{line}</p>", f"<p>{line}</p><p>{PRAISE}</p>"):
        found = gate(raw)
        # The whole gate, but for the prompt-echo check, which refuses a few short sentences opening like
        # the template's own ("Du bist …", "Das Kind …"): a separate matter, left as it is.
        assert set(found.checks) <= {Check.PROMPT_ECHO}, (line, found.problems)
        assert posting_problems(found.html) == []


def test_a_greeting_on_its_own_line_makes_the_next_a_signature() -> None:
    assert contradictions([PRAISE, "Liebe Grüsse,", "Anna"]) == [SIGNS_AS_A_PERSON]
    assert contradictions([PRAISE, "Liebe Grüsse!"]) == []
    assert Check.DISCLOSURE in gate(f"<p>{PRAISE}</p><p>Liebe Grüsse,<br>Frau Meier</p>").checks


# --- the operator's line -------------------------------------------------------------------------------


@pytest.mark.parametrize("line", CONTRADICTING)
def test_the_operators_line_is_judged_by_the_same_rule(line: str) -> None:
    problems = extra_line_problems(line)
    assert any("disclosure" in p for p in problems), (line, problems)


@pytest.mark.parametrize("line", ORDINARY)
def test_an_ordinary_operators_line_is_accepted(line: str) -> None:
    assert extra_line_problems(line) == []


# --- a teacher's edit ----------------------------------------------------------------------------------


@pytest.mark.parametrize("line", CONTRADICTING)
def test_an_edit_that_adds_a_contradicting_line_is_refused(line: str) -> None:
    found = edit(f"{DISCLOSURE}\n{PRAISE}\n{line}")
    assert Check.DISCLOSURE in found.checks, (line, found.problems)


@pytest.mark.parametrize("line", ORDINARY)
def test_an_edit_that_adds_an_ordinary_line_is_accepted(line: str) -> None:
    found = edit(f"<p>{DISCLOSURE}</p><p>{EXTRA}</p><p>{PRAISE}</p><p>{line}</p>", extra_line=EXTRA)
    assert set(found.checks) <= {Check.PROMPT_ECHO}, (line, found.problems)
    assert found.html == normalize_comment(f"<p>{PRAISE}</p><p>{line}</p>", EXTRA)  # the line once


@pytest.mark.parametrize(
    ("text", "lost"),
    [
        (f"<p>{DISCLOSURE}</p><p>{PRAISE}</p>", "operator's line"),  # dropped
        (f"<p>{DISCLOSURE}</p><p>{PRAISE}</p><p>{EXTRA}</p>", "operator's line"),  # moved to the end
        (
            f"<p>{DISCLOSURE}</p><p>Ein Projekt der Klasse 82.</p><p>{PRAISE}</p>",
            "operator's line",
        ),  # altered
        (f"<p>{EXTRA}</p><p>{PRAISE}</p>", "disclosure"),  # the disclosure dropped
        (f"<p>{PRAISE}</p><p>{DISCLOSURE}</p><p>{EXTRA}</p>", "disclosure"),  # moved
    ],
)
def test_an_edit_that_loses_a_fixed_line_is_refused_not_repaired(text: str, lost: str) -> None:
    found = edit(text, extra_line=EXTRA)
    assert found.checks == [Check.DISCLOSURE] and found.html == ""
    assert lost in found.problems[0].message


def test_an_edit_keeping_both_fixed_lines_is_accepted_as_typed_or_as_html() -> None:
    expected = normalize_comment(f"<p>{PRAISE}</p>", EXTRA)
    for text in (f"{DISCLOSURE}\n{EXTRA}\n{PRAISE}", f"<p>{DISCLOSURE}</p><p>{EXTRA}</p><p>{PRAISE}</p>"):
        found = edit(text, extra_line=EXTRA)
        assert found.accepted and found.html == expected, found.problems


def test_an_operators_line_that_is_part_of_the_disclosure_is_not_cut_from_it() -> None:
    found = edit(f"{DISCLOSURE}\nKI\n{PRAISE}", extra_line="KI")
    assert found.accepted, found.problems
    assert found.html.startswith(f"<p>{DISCLOSURE}</p><p>KI</p><p>")


@pytest.mark.parametrize(
    ("line", "refused"),
    [
        # A quotation alone still says what it says of itself...
        ("«Ich bin deine Lehrerin.»", True),
        ("„Ich bin kein Computer, ich schreibe dir selbst.“", True),
        # ...but a pupil's first-person story quoted back is the pupil's, even with a missing space.
        ("«ich war im zoo.dort sah ich einen elefanten»", False),
        ("«Meine Oma backt Kuchen.Kuchen ist mein Lieblingsessen»", False),
        ("«Meine Mama.Mama ist die Beste»", False),
        # A quotation with words around it: only the words around it are the writer's.
        ("Du schreibst «mein onkel hat ein boot.es ist rot», das kann man sich gut vorstellen.", False),
        ("Meine Schüler und ich lesen «Der Ausflug» gern.", True),
    ],
)
def test_a_quotation_is_judged_as_quoted(line: str, refused: bool) -> None:
    assert (contradiction(line, closing=True) is not None) is refused, line
