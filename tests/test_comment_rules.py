"""What a generated comment must never show: links in any spelling, a second or altered disclosure.

The link corpora (tests/corpora/) run through the real path, model text -> the quality gate (`judge`),
and again through the check before posting; what is posted is checked on the visible text after
sanitising, without the characters it loses. Also the operator's line and the fixed disclosure setting.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import load_corpus
from yourmoment.comment_rules import (
    DISCLOSURE,
    extra_line_problems,
    find_links,
    is_disclosure_like,
    link_problems,
    posting_problems,
    visible_lines,
)
from yourmoment.errors import ConfigurationError
from yourmoment.llm.comments import normalize_comment
from yourmoment.llm.gate import Check, judge, validate_comment
from yourmoment.settings import get_settings, reset_settings_cache
from yourmoment.visible_text import fold, visual

WRAPPED = f"<p>{DISCLOSURE}</p>"
PRAISE = "Ich habe deinen Text über den mutigen Hund sehr gerne gelesen, er ist spannend."

# Links whose spelling depends on HTML (entities, tags); the plain spellings are in tests/corpora/.
HTML_LINKS = [
    "<p>Autolink: &lt;https://example.com&gt;</p>",
    '<a href="https://evil.example">https://evil.example</a>',
    "<p>Besuche evil<strong>.com</strong> heute.</p>",
    "<p>Besuche www&#46;example&#46;com heute.</p>",
    "<p>Besuche &#x202E;hc.leipsieb.www&#x202C; heute.</p>",
]
LINK_SPELLINGS = load_corpus("link_spellings.txt")
GERMAN_SENTENCES = load_corpus("german_sentences.txt")


def link_refused(text: str) -> bool:
    """The model wrote `text` after a sentence of praise: does the gate refuse it under the link rule?"""
    raw = text if text.startswith(("<p>", "<a")) else f"<p>{PRAISE}</p><p>{html.escape(text)}</p>"
    verdict = judge(raw, "stop", [], min_length=50, max_length=5000)
    return Check.LINK in verdict.checks


def german_passes(text: str) -> bool:
    """The gate lets the sentence through both absolute rules (no link, nothing contradicting the
    disclosure), and the text it would post holds no link."""
    verdict = judge(f"{PRAISE}\n{text}", "stop", [], min_length=50, max_length=5000)
    posted = " ".join(visible_lines(verdict.html))
    refused = {Check.LINK, Check.DISCLOSURE}.intersection(verdict.checks)
    return not refused and not link_problems(verdict.html) and not find_links(posted)


@pytest.mark.parametrize("text", LINK_SPELLINGS + HTML_LINKS)
def test_a_link_in_any_spelling_makes_the_comment_invalid(text: str) -> None:
    assert link_refused(text), text


@pytest.mark.parametrize("text", GERMAN_SENTENCES)
def test_ordinary_german_text_is_no_link(text: str) -> None:
    assert german_passes(text), text


def test_the_corpora_rates(capsys: pytest.CaptureFixture[str]) -> None:
    """Both corpora in full, as docs/rules.md reports them: every link refused, every sentence passed."""
    refused = sum(link_refused(text) for text in LINK_SPELLINGS)
    passed = sum(german_passes(text) for text in GERMAN_SENTENCES)
    with capsys.disabled():
        print(
            f"\nlink rule: refused {refused}/{len(LINK_SPELLINGS)} link spellings, "
            f"passed {passed}/{len(GERMAN_SENTENCES)} German sentences"
        )
    assert len(LINK_SPELLINGS) >= 110 and len(GERMAN_SENTENCES) >= 200
    assert (refused, passed) == (len(LINK_SPELLINGS), len(GERMAN_SENTENCES))


def test_the_corpora_reach_the_posting_check_too() -> None:
    """What the gate accepted is posted only if the check before the POST agrees (same reading)."""
    for text in GERMAN_SENTENCES:
        html_text = normalize_comment(f"{PRAISE}\n{text}")
        assert not any("link" in p for p in posting_problems(html_text)), text
    for text in LINK_SPELLINGS:
        html_text = normalize_comment(f"<p>{PRAISE}</p><p>{html.escape(text)}</p>")
        reversed_only = "\u202e" in text  # the override is gone from the posted text, and with it the link
        assert reversed_only or any("link" in p for p in posting_problems(html_text)), text


# --- what is posted is what is checked -------------------------------------------------------------

# Characters that change how text is displayed while showing nothing: bidi override, embedding,
# isolate and mark, zero-width space/joiner/non-joiner, word joiner, BOM, soft hyphen, Mongolian vowel
# separator, variation selector, Hangul filler, a tag character, private use, a control character.
INVISIBLE = "\u202e\u202d\u202b\u2067\u2069\u200f\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\ufe0f\u3164\U000e0041\ue000\x07"


@pytest.mark.parametrize("char", list(INVISIBLE))
def test_display_changing_characters_never_reach_the_posted_text(char: str) -> None:
    for raw in (
        f"{PRAISE}\nDu hast{char} toll geschrieben.",
        f"<p>{PRAISE}</p><p>Du hast{char} toll geschrieben.</p>",
    ):
        posted = normalize_comment(raw)
        assert char not in posted and "Du hast toll geschrieben." in posted, repr(char)
        assert posting_problems(posted) == []
    # A comment stored before (or edited around the gate) that still holds one is refused at posting.
    stored = f"{WRAPPED}<p>{PRAISE} Du hast{char} toll geschrieben.</p>"
    assert any("invisible" in p for p in posting_problems(stored)), repr(char)


def test_a_character_reference_is_no_way_around_it() -> None:
    posted = normalize_comment(f"<p>{PRAISE}</p><p>Toll&#x202E; gemacht&#8203;!</p>")
    assert "\u202e" not in posted and "\u200b" not in posted and posting_problems(posted) == []


@pytest.mark.parametrize(
    ("written", "posted"),
    [
        ("«Wir gingen in die Schule.Jetzt bin ich müde.»", "«Wir gingen in die Schule. Jetzt bin ich müde.»"),
        ("Bei «Golf.Golf.Golf» hast du dich vertippt.", "Bei «Golf. Golf. Golf» hast du dich vertippt."),
        ("«Ende.Es war einmal»", "«Ende. Es war einmal»"),
        ("«ich ging in die schule.es war lustig»", "«ich ging in die schule. es war lustig»"),
        # Only where the word after the dot is a top-level domain; a quote is otherwise left as written.
        ("«In Wien.Dort war es kalt.Golf spielten wir»", "«In Wien.Dort war es kalt. Golf spielten wir»"),
        # Left as written: no domain after the dot, abbreviations, numbers.
        ("In St.Gallen und bei Dr.Meier", None),
        ("Das ist z.B. am 12.03.2025 um 14.30 Uhr für Fr. 3.50 passiert.", None),
        ("Ich war im 2.OG und der 1.FC spielte, d.h. es war laut.", None),
    ],
)
def test_a_missing_space_is_restored_in_the_posted_text(written: str, posted: str | None) -> None:
    comment = normalize_comment(f"{PRAISE}\n{written}")
    assert f"<p>{html.escape(posted or written, quote=False)}</p>" in comment
    assert link_problems(comment) == []


@pytest.mark.parametrize("text", ["Schreib an mia@Schule.Jetzt heute.", "Geh auf drachen.Jetzt/spielen."])
def test_an_address_keeps_its_dot_and_is_refused(text: str) -> None:
    comment = normalize_comment(f"{PRAISE}\n{text}")
    assert html.escape(text, quote=False) in comment and link_problems(comment)


@pytest.mark.parametrize(
    ("look_alike", "folded"),
    [
        ("bеispiеl.сh", "beispiel.ch"),  # Cyrillic е, с
        ("ѕріеlе.сом", "spiele.com"),  # Cyrillic ѕ, р, і, е, с, о, м
        ("ʙᴇɪsᴘɪᴇʟ.ᴄʜ", "beispiel.ch"),  # Latin small capitals
        ("ｗｗｗ．ｂｅｉｓｐｉｅｌ．ｃｈ", "www.beispiel.ch"),  # fullwidth
        ("x‧y∙z・a•b⋅c․d｡e。f．g﹒h⸱i⸳j", "x.y.z.a.b.c.d.e.f.g.h.i.j"),  # characters that read as a dot
        ("a＠b﹫c", "a@b@c"),
        (
            "[Dieser Kommentar stammt von einem КІ‑ChatBot.]",
            DISCLOSURE,
        ),  # Cyrillic К, І; a non-breaking hyphen
        ("Straße, Äpfel, «Zitat», café", "Straße, Äpfel, «Zitat», café"),  # German stays German
    ],
)
def test_look_alikes_are_folded_by_their_unicode_skeleton(look_alike: str, folded: str) -> None:
    assert fold(look_alike) == folded


def test_reversed_text_is_read_in_the_order_it_is_displayed() -> None:
    assert visual("Besuche \u202ehc.leipsieb.www\u202c heute") == "Besuche www.beispiel.ch heute"
    assert find_links("Besuche \u202ehc.leipsieb.www\u202c heute")
    assert visual("Ganz normaler Text.") == "Ganz normaler Text."


LOOK_ALIKES = [
    DISCLOSURE,
    "[Dieser Kommentar stammt von einem KI\u2011ChatBot.]",  # non-breaking hyphen
    "［Dieser Kommentar stammt von einem KI-ChatBot.］",  # fullwidth brackets
    "[Dieser\u200b Kommentar stammt von einem KI-ChatBot.]",
    "(Dieser Kommentar stammt von einem KI-ChatBot.)",
    "dieser kommentar stammt von einem ki-chatbot",
    "[Dieser  Kommentar   stammt von einem KI ChatBot]",
    "[Dieser Kommentar stammt NICHT von einem KI-ChatBot.]",
    "Dieser Kommentar wurde von einer KI geschrieben.",
    "[Dieser Kommentar stammt von einem Menschen, nicht von einem KI-ChatBot.]",
    "[Dieser Kommentar stammt von einem КІ-ChatBot.]",  # Cyrillic К, І
    "Hinweis: Dieser Kommentar stammt von einer echten Lehrerin.",
    "Dieser Kommentar stammt von einem K.I.-ChatBot",
    "Diser Komentar stamt fon einem KI Chatbot",
    "Automatisch erstellt von einem KI-ChatBot.",
    "Ein KI-Kommentar für dich!",
    "Nicht von einer KI, sondern von Frau Meier geschrieben.",
    "Ich bin kein Bot, ich bin deine Lehrerin.",
    "Geschrieben von Frau Meier",
    "Keine KI hat das hier verfasst.",
]
NOT_LOOK_ALIKES = [
    "Deine Geschichte über den Roboter ist spannend.",
    "Die KI in deiner Geschichte ist lustig.",
    "Schreib doch einen Kommentar zu deinem Lieblingsbuch.",
    "Wer hat die Geschichte geschrieben? Du natürlich!",
    "Dieser Text stammt von dir, und er ist toll.",
    "Du hast auch schon tolle Kommentare geschrieben.",
    "Der Bot in deiner Geschichte ist nicht böse, sondern lustig.",
    "Du hast das toll geschrieben, von Anfang bis Ende.",
]


@pytest.mark.parametrize(
    ("line", "look_alike"),
    [(line, True) for line in LOOK_ALIKES] + [(line, False) for line in NOT_LOOK_ALIKES],
)
def test_disclosure_like_lines_are_told_from_ordinary_ones(line: str, look_alike: bool) -> None:
    assert is_disclosure_like(line) is look_alike


@pytest.mark.parametrize("line", LOOK_ALIKES)
def test_a_second_disclosure_like_line_is_invalid(line: str) -> None:
    html = WRAPPED + f"<p>{PRAISE}</p><p>{line}</p>"
    assert any("disclosure" in p for p in validate_comment(html, 50, 5000)), line
    assert any("disclosure" in p for p in posting_problems(html))


@pytest.mark.parametrize("first", LOOK_ALIKES[1:])
def test_a_look_alike_is_no_disclosure(first: str) -> None:
    html = f"<p>{first}</p><p>{PRAISE}</p>"
    assert any("does not start" in p for p in posting_problems(html)), first


# --- the operator's line ----------------------------------------------------------------------------

EXTRA = "Ein Projekt der Klasse 82: Fragen beantwortet deine Lehrperson."


def test_the_extra_line_follows_the_disclosure_and_does_not_count() -> None:
    html = normalize_comment(f"<p>{PRAISE}</p>", extra_line=EXTRA)
    assert html == f"{WRAPPED}<p>{EXTRA}</p><p>{PRAISE}</p>"
    assert validate_comment(html, len(PRAISE) + 7, len(PRAISE) + 7, extra_line=EXTRA) == []
    assert posting_problems(html) == []
    # Generated for one line, checked against another: the configured line must lead.
    assert any("extra line" in p for p in validate_comment(html, 50, 5000, extra_line="Andere Zeile hier."))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (" ", "blank"),
        ("Zeile eins\nZeile zwei", "single line"),
        ("Zeile eins\u2028Zeile zwei", "single line"),
        ("Hallo\u200bWelt", "invisible"),
        ("Hallo\u3164Welt", "invisible"),  # a Hangul filler: a letter that shows nothing
        ("Klasse 82\ufe0f", "invisible"),  # a variation selector
        ("x" * 151, "longer than 150"),
        ("Mehr auf www.beispiel.ch", "web address"),
        ("Fragen an mia@example.org", "e-mail"),
        (DISCLOSURE, "disclosure"),
        ("[Dieser Kommentar stammt nicht von einem KI-ChatBot.]", "disclosure"),
        # A signature contradicts the disclosure as much as a second one does (docs/rules.md#disclosure).
        ("Liebe Grüsse von Frau Meier", "contradicts the AI disclosure"),
    ],
)
def test_a_bad_extra_line_is_refused(line: str, problem: str) -> None:
    assert any(problem in p for p in extra_line_problems(line)), extra_line_problems(line)


@pytest.mark.parametrize("line", [EXTRA, "Ein Projekt der Klasse 82 mit Frau Meier.", "x" * 150])
def test_a_good_extra_line_is_accepted(line: str) -> None:
    assert extra_line_problems(line) == []


# --- the settings -----------------------------------------------------------------------------------


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    for name in ("AI_COMMENT_PREFIX", "AI_COMMENT_EXTRA_LINE"):
        monkeypatch.delenv(name, raising=False)
    reset_settings_cache()
    yield monkeypatch
    reset_settings_cache()


@pytest.mark.parametrize(
    "value", ["Liebe Grüsse von Frau Meier:", " ", "", DISCLOSURE + " Klasse 82", DISCLOSURE.lower()]
)
def test_the_disclosure_cannot_be_replaced(settings_env: pytest.MonkeyPatch, value: str) -> None:
    settings_env.setenv("AI_COMMENT_PREFIX", value)
    with pytest.raises(ConfigurationError) as info:
        get_settings()
    message = str(info.value)
    assert "AI_COMMENT_PREFIX" in message and "AI_COMMENT_EXTRA_LINE" in message and "\n" not in message
    assert "Frau Meier" not in message  # the setting's value is not echoed


def test_the_disclosure_itself_and_an_extra_line_are_accepted(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("AI_COMMENT_PREFIX", DISCLOSURE)
    settings_env.setenv("AI_COMMENT_EXTRA_LINE", f"  {EXTRA}  ")
    assert get_settings().ai_comment_extra_line == EXTRA


def test_an_empty_extra_line_means_none(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("AI_COMMENT_EXTRA_LINE", "")
    assert get_settings().ai_comment_extra_line is None


def test_a_bad_extra_line_stops_the_settings(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("AI_COMMENT_EXTRA_LINE", "Spiele auf www.beispiel.ch")
    with pytest.raises(ConfigurationError, match=r"AI_COMMENT_EXTRA_LINE.*web address"):
        get_settings()
