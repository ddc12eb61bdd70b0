"""Junk never reaches a child: the prose rule on real answers labelled by hand, junk of our own, and
plain simple German; the real-model lane's junk detectors never flag what the gate accepts.

tests/fixtures/real_llm/*.jsonl: every answer a person judged (`junk`); the gate refuses the junk and
accepts the rest, except the answers marked `known_miss` (word salad made of real German words, which
no check on words alone can see), which must stay accepted until the gate learns them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.real_llm.junk import junk_reasons
from yourmoment.llm.gate import Check, Verdict, judge
from yourmoment.llm.language import prose_problems
from yourmoment.llm.system_templates import SYSTEM_TEMPLATES
from yourmoment.llm.templates import ArticleContext, render_messages
from yourmoment.settings import Settings

REPO = Path(__file__).resolve().parents[1]
FIXTURES = [REPO / "tests" / "fixtures" / "real_llm" / name for name in ("answers.jsonl", "recorded.jsonl")]
ARTICLE = ArticleContext(
    article_title="Mein Velo und Krümel",
    article_author="Lio-Ayla",
    article_content=(
        "Am Samstag bin ich mit dem Velo zum Uetliberg gefahren. Im Rucksack war mein Hamster Krümel. "
        "Zum Znüni gab es Schoggi und Rüebli. Nevio hat gesagt: «Grüezi mitenand!»"
    ),
)
MESSAGES = render_messages(
    SYSTEM_TEMPLATES[0].system_prompt, SYSTEM_TEMPLATES[0].user_prompt_template, ARTICLE
)
SOURCES = [ARTICLE.article_title, ARTICLE.article_author, ARTICLE.article_content]


def labelled() -> list[Any]:
    records = [
        (path.stem, n, json.loads(line))
        for path in FIXTURES
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if line.strip()
    ]
    return [
        pytest.param(r, id=f"{stem}-{n}-{'junk' if r['junk'] else 'good'}")
        for stem, n, r in records
        if r.get("junk") is not None
    ]


def comment_of(record: dict[str, Any]) -> str:
    if record["mode"] == "json_schema":
        try:
            parsed = json.loads(record["content"])
        except ValueError:
            return str(record["content"])
        if isinstance(parsed, dict) and isinstance(parsed.get("comment"), str):
            return parsed["comment"]
    return str(record["content"])


def judge_record(record: dict[str, Any]) -> Verdict:
    template = next((t for t in SYSTEM_TEMPLATES if t.name == record.get("template")), SYSTEM_TEMPLATES[0])
    ctx = ArticleContext(
        article_title=record["article_title"],
        article_author=record.get("article_author", ""),
        article_content=record["article_content"],
        article_category=record.get("article_category", ""),
        article_task=record.get("article_task", ""),
    )
    defaults = Settings.model_fields
    return judge(
        comment_of(record),
        record["finish_reason"],
        render_messages(template.system_prompt, template.user_prompt_template, ctx),
        min_length=defaults["comment_min_length"].default,
        max_length=defaults["comment_max_length"].default,
        article_text=[ctx.article_title, ctx.article_content],
    )


def gate(raw: str) -> Verdict:
    return judge(raw, "stop", MESSAGES, min_length=50, max_length=5000, article_text=SOURCES)


# --- the real answers, labelled by hand ----------------------------------------------------------------


@pytest.mark.parametrize("record", labelled())
def test_the_gate_refuses_labelled_junk_and_accepts_the_rest(record: dict[str, Any]) -> None:
    found = judge_record(record)
    if record.get("known_miss"):
        assert record["junk"] and found.accepted, "the gate catches it now: drop its known_miss"
    elif record["junk"]:
        assert not found.accepted
    else:
        assert found.accepted, found.problems


@pytest.mark.parametrize("record", labelled())
def test_the_lanes_detectors_flag_nothing_the_gate_accepts(record: dict[str, Any]) -> None:
    found = judge_record(record)
    if found.accepted:
        assert junk_reasons(found.html, record["article_content"], record["finish_reason"]) == []


def test_the_labels_hold_both_kinds_and_the_issues_two_posted_comments() -> None:
    records = [p.values[0] for p in labelled()]
    assert sum(r["junk"] for r in records) >= 40 and sum(not r["junk"] for r in records) >= 2
    known_misses = [r for r in records if r.get("known_miss")]
    assert len(known_misses) <= 3  # an honest count, reported in docs/rules.md#readable-prose


# --- junk of our own: every kind the real model produced, in other spellings ------------------------

JUNK = [
    "2021-04-23T11:00:00.001ZMG.10128.1.0.26.12.2013",
    "Arte-Das-Linde-Nach-Das-Bear-Punkt-E-Nach-Das-Geschrieben-Das-Worte",
    "2019-11-02T08:15:30.552Z.ABC.4477.2.0.11.03.2020 und 2019-11-02T08:15:31.000Z",
    "Haus-Der-Baum-Mit-Das-Fenster-Unter-Die-Gross-Nach-Das-Bild-Der-Weg-Und-Das-Ende",
    "Haus.Der.Baum.Mit.Das.Fenster.Unter.Die.Gross.Nach.Das.Bild.Der.Weg",
    "Schule_Der_Wald_Mit_Die_Katze_Nach_Das_Bild_Der_Weg_Und_Das_Ende_Punkt",
    "Das Haus Der Baum Mit Das Fenster Unter Die Gross Nach Das Bild Der Weg Und Das Ende Punkt.",
    "Text_0000012 Text_0000013 Text_0000014 Text_0000015 Text_0000016 Text_0000017 Text_0000018",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt.",
    "Qwrt zplk mnbv xcyq wert zuio plkj hgfd sayx cvbn mlkj.",
    "Krambol fesitung drawelich mornasten pliekert, wunsig traplen ochsefar milder bruntel.",
    "ID 4471-AB-9931-ZZ-0021-QQ-1882 Status 200 OK Wert 0.000000 Zeit 13:44:09.221",
    "Deine Geschichte ist schön und der Hamster ist lustig und du schreibst gut und ich mag den Schluss "
    "und das Velo ist rot und der Berg ist hoch und Krümel ist klein und mutig und das Znüni ist fein "
    "und alles ist toll und spannend und schön und wir wollen mehr davon und noch mehr",
    "SGVsbG8gV2VsdCwgZGllcyBpc3QgZWluIFRlc3QgZGVyIGtlaW5lIFNwcmFjaGUgaXN0IHVuZCBuaWNodHMgc2FndC4=",
    "{'comment': 'Das', 'reasoning': 'Das'} {'comment': 'Das', 'reasoning': 'Das'} 0x3F 0x40",
]


@pytest.mark.parametrize("raw", JUNK)
def test_junk_of_every_kind_is_refused_and_is_no_prose(raw: str) -> None:
    found = gate(f"<p>{raw}</p>")
    assert not found.accepted
    # The gate names another language first when it sees one; the prose rule refuses it on its own too.
    assert Check.NOT_PROSE in found.checks or Check.NOT_GERMAN in found.checks, found.problems
    assert prose_problems([raw], " ".join(SOURCES).split())
    for problem in found.problems:
        assert "Arte" not in problem.message and "ZMG" not in problem.message  # counts, never the text


# --- plain simple German passes -----------------------------------------------------------------------

PLAIN = [
    "Toll gemacht, Lio-Ayla! Dein Velo-Ausflug ist spannend.",
    "Krümel im Rucksack, das ist lustig. Ich finde den Schluss schön.",
    "Kurz und klar erzählt. Das gefällt mir. Weiter so!",
    "Dein Text ist super. Der Hamster ist mutig. Der Berg ist hoch. Schreib weiter!",
    "Mir gefällt, dass Nevio «Grüezi mitenand» sagt. Das passt gut zu deinem Ausflug.",
    "Am 12.03.2024 um 14.30 Uhr auf den Uetliberg, mit 3 Rüebli für Fr. 2.50: wie genau du das erzählst!",
    "Schoggi und Rüebli zum Znüni, das klingt fein. Was hat Krümel gefressen?",
    "Gross, weiss und heiss: in deinem Text steht alles mit ss, wie in der Schweiz üblich.",
    "Mein Lieblingssatz ist der mit dem Rucksack. Warum wolltest du auf den Uetliberg?",
    "Lob\n\nDu erzählst lebendig und genau.\n\nFrage\n\nWie ging es Krümel nach der Velofahrt?",
    "Die Hamsterkäfigtür, der Velohelm und die Bergwanderung: alles kommt in deinem Text vor. 😊",
    "Ich habe gelacht, als Krümel aus dem Rucksack schaute. Das war eine lustige Stelle!",
    "Super Idee! Schreib doch noch, was ihr oben auf dem Berg gesehen habt.",
    "Weisst du was? Dein Text macht gute Laune. Liebe Grüsse",
    "Der Ausflug mit dem Velo ist schön beschrieben. Viel Spass beim nächsten Text",
]


@pytest.mark.parametrize("raw", PLAIN)
def test_plain_simple_german_is_accepted_and_not_called_junk(raw: str) -> None:
    found = gate(raw)
    assert found.accepted, (raw, found.problems)
    assert junk_reasons(found.html, ARTICLE.article_content, "stop") == []


def test_the_pupils_words_count_as_known_and_numbers_as_no_words() -> None:
    text = ["Zum Znüni gab es Schoggi, Rüebli und Glace, sagt Nevio."]
    assert prose_problems(text, vocabulary=["Znüni", "Schoggi", "Rüebli", "Glace", "Nevio"]) == []
    assert any("German words" in p for p in prose_problems(text))
    assert any("tokens are words" in p for p in prose_problems(["Am 12. 3. 2024 um 14:30 Uhr, 1 2 3 4 5."]))


def test_a_cut_off_answer_is_not_also_unended_prose() -> None:
    raw = "<p>Deine Geschichte über Krümel ist schön und der Ausflug auf den Berg mit dem Velo ist"
    found = judge(raw, "length", MESSAGES, min_length=50, max_length=5000, article_text=SOURCES)
    assert found.checks == [Check.CUT_OFF]


# --- the word list costs memory only where comments are judged ----------------------------------------


def test_an_idle_worker_does_not_load_the_word_list_and_judging_does() -> None:
    probe = (
        "import sys, yourmoment.worker_main, activities.by_queue, workflows.monitoring, yourmoment.llm.gate as g;"
        "idle = 'wordfreq' in sys.modules;"
        "g.judge('<p>Deine Geschichte ist schön. Ich mag den Schluss sehr!</p>', 'stop', [],"
        " min_length=10, max_length=500);"
        "print(idle, 'wordfreq' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("raw", JUNK[:2])
def test_the_lane_now_flags_the_two_comments_it_stored(raw: str) -> None:
    """The issue's two posted comments, which the lane's detectors let through before."""
    html = f"<p>[Dieser Kommentar stammt von einem KI-ChatBot.]</p><p>{raw}</p>"
    assert any(reason.startswith("not prose") for reason in junk_reasons(html, ARTICLE.article_content))
