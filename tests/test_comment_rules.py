"""What a generated comment must never show: links in any spelling, a second or altered disclosure.

Tables run through the real path, model text -> normalize_comment -> validate_comment, so the rule is
checked on the visible text after sanitising; and the operator's line and the fixed disclosure setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from yourmoment.comment_rules import DISCLOSURE, extra_line_problems, find_links, is_disclosure_like
from yourmoment.errors import ConfigurationError
from yourmoment.llm.comments import normalize_comment, posting_problems, validate_comment
from yourmoment.settings import get_settings, reset_settings_cache

WRAPPED = f"<p>{DISCLOSURE}</p>"
PRAISE = "Ich habe deinen Text über den mutigen Hund sehr gerne gelesen, er ist spannend."

LINKS = [
    "Schau mal auf https://example.com nach.",
    "Hier: http://evil.ch/x?y=1",
    "HTTPS://EXAMPLE.COM/SPIEL",
    "Besuche www.beispiel.ch für mehr.",
    "WWW.Beispiel.De ist toll.",
    "Mehr findest du auf beispiel.ch.",
    "Klick auf evil.com/x und spiel mit.",
    "Mehr auf example.de!",
    "Schreib mir an mia@beispiel.ch.",
    "Kontakt: mia.muster+kind@schule.example.org",
    "[hier klicken](https://x.example)",
    "[hier klicken](/geheime-seite)",
    "Schau: ![Bild](bild.png)",
    "<p>Autolink: &lt;https://example.com&gt;</p>",
    "mailto:mia@example.org",
    "javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "ftp://files.example.net/a",
    "Gehe zu example . com und spiele.",
    "Gehe zu example[.]com und spiele.",
    "Gehe zu example(dot)com und spiele.",
    "Schreib an mia (at) beispiel (punkt) ch",
    "Schreib an mia[at]beispiel.ch",
    "hxxps://evil.example/x",
    "h t t p s : / / evil",
    "https\u200b://exa\u200bmple.com",
    "ｅｘａｍｐｌｅ．ｃｏｍ",
    "Gehe zu example。com",
    "Besuche sub.domain.example.io heute.",
    "Gehe zu evil.xyz",
    "Der Server 192.168.0.1 hat Spiele.",
    "spiele-online.net ist super",
    "Die Seite müller-bäckerei.ch ist lecker.",
    "Gehe zu xn--mller-kva.de",
    "Link: t.co/abc",
    "Schau auf evil.Com nach.",
    "Schau auf Beispiel.CH nach.",
    "Ruf an: tel:+41441234567",
    "Schau auf evil\u00adsite.com nach.",
    "Schau auf еxample.соm nach.",  # Cyrillic е, с, о
    '<a href="https://evil.example">https://evil.example</a>',
    "<p>Besuche evil<strong>.com</strong> heute.</p>",
    "<p>Besuche www&#46;example&#46;com heute.</p>",
]

GERMAN = [
    "Das ist z.B. ein toller Satz.",
    "Hunde, Katzen usw. mag ich auch.",
    "Dr. Meier hat es auch gelesen.",
    "Die Note war 3.5 und das ist gut.",
    "Am 12.03.2024 hast du es geschrieben.",
    "Das heisst d.h. du hast recht.",
    "Er kam um 14.30 Uhr nach Hause.",
    "Das war u.a. sehr lustig.",
    "Ende.Es war einmal ein Hund.",
    "Ich war im 2.OG und der 1.FC spielte.",
    "Der Preis ist 1.000 Franken.",
    "St. Gallen ist eine schöne Stadt.",
    "Kapitel 2. Teil: der Wald.",
    "Bitte schreib weiter. Du kannst das!",
    "Deine E-Mail an die Lehrerin war nett.",
    "Tipp: Schreib mehr über den Hund.",
    "Mia & Tom schreiben toll.",
    "Was passiert dann...Es bleibt spannend.",
    "Das Internet und Webseiten sind spannend.",
    "Der Punkt ist: du schreibst gut.",
    "[Hinweis] Das war toll (wirklich).",
    "Die Pause geht von 9.15 bis 10.00 Uhr.",
    "Dein Lieblingsbuch «Harry Potter» Bd. 3 ist spannend.",
    "Nr. 5 ist dein bester Text bzw. deine beste Geschichte.",
    "Das dauert ca. 20 Minuten, evtl. mehr, etc.",
    "Punkt für Punkt erklärst du alles.",
    "Das war o.k. so, und i.d.R. klappt das.",
    "Herr Müller, Frau Meier und Co. waren auch da.",
    "Dein Roboter «Robo» sagt: «Beep!» Das ist lustig.",
    "Du hast 3 von 4 Punkten: super!",
]


@pytest.mark.parametrize("text", LINKS)
def test_a_link_in_any_spelling_makes_the_comment_invalid(text: str) -> None:
    raw = text if text.startswith("<p>") else f"{PRAISE}\n{text}"
    html = normalize_comment(raw)
    problems = validate_comment(html, 50, 5000)
    assert any("link" in p for p in problems), (text, html, problems)
    assert posting_problems(html)  # refused again at posting time


@pytest.mark.parametrize("text", GERMAN)
def test_ordinary_german_text_is_no_link(text: str) -> None:
    html = normalize_comment(f"{PRAISE}\n{text}")
    assert validate_comment(html, 50, 5000) == [], text
    assert find_links(text) == []


def test_the_tables_are_large_enough() -> None:
    assert len(LINKS) >= 30 and len(GERMAN) >= 20


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
        ("x" * 151, "longer than 150"),
        ("Mehr auf www.beispiel.ch", "web address"),
        ("Fragen an mia@example.org", "e-mail"),
        (DISCLOSURE, "disclosure"),
        ("[Dieser Kommentar stammt nicht von einem KI-ChatBot.]", "disclosure"),
    ],
)
def test_a_bad_extra_line_is_refused(line: str, problem: str) -> None:
    assert any(problem in p for p in extra_line_problems(line)), extra_line_problems(line)


@pytest.mark.parametrize("line", [EXTRA, "Liebe Grüsse von Frau Meier", "x" * 150])
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
