"""Is a short text German? Function words counted against English and the languages spoken around it."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass


def _vocabulary(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Short, frequent words: every sentence has some, and names, numbers or a quoted title carry none.
# Swiss spelling is German: "dass", "gross", "Spass" need no ß, and words with ä/ö/ü count as German.
_WORDS: dict[str, frozenset[str]] = {
    "de": _vocabulary(
        """
        der die das dem den des ein eine einen einem einer eines und oder aber denn doch sondern
        ich du er sie es wir ihr mich dich mir dir sich uns euch ihm ihn ihnen
        mein meine meinen meinem meiner dein deine deinen deinem deiner deines sein seine seinen
        seinem seiner ihre ihren ihrem unser unsere unseren euer eure
        ist bist sind seid war waren warst hat hast habe haben hatte hattest wird wirst werden wurde
        kann kannst können könnte konnte möchte möchtest muss musst soll sollst darf gibt
        nicht kein keine keinen keinem auch noch schon sehr ganz gut gern gerne toll schön
        mit von zu zum zur im vom beim für auf aus bei nach über unter vor durch ohne gegen
        wie wer wo wann warum wieso welche welcher welches wenn weil dass daß ob als dort hier jetzt
        dann immer nur mehr viel viele vielen diese dieser dieses diesen diesem etwas alles alle
        wirklich einfach weiter gefällt gefallen besonders gelesen geschrieben schreibst schreiben
        geschichte idee ideen danke bitte ja nein mal einmal dabei damit deshalb wäre würde
        """
    ),
    "en": _vocabulary(
        """
        the a an and or but i you he she it we they me him her us them my your his its our their
        is are was were be been being have has had do does did will would can could should
        this that these those what who how why when where which with of to for on at from by
        about not no very really so just also too like love great good story keep writing here
        there if because as than then all some more your yours well nice enjoyed reading read
        """
    ),
    "fr": _vocabulary(
        """
        le la les un une des et est je tu il elle nous vous ils elles du que qui pas ne ce cette
        pour dans sur avec très mais ou ton ta tes mon ma mes son sa ses au aux bien histoire
        """
    ),
    "it": _vocabulary(
        """
        il lo la gli le un una e è di del della che non per con sono sei mi ti ci questo questa
        molto ma tuo tua tuoi come anche nel nella storia bella bello
        """
    ),
    "es": _vocabulary(
        """
        el la los las un una y es de del que no por para con muy tu tus mi su pero como está son
        en lo me te se historia
        """
    ),
    "nl": _vocabulary(
        """
        de het een en is van ik je jij niet dat die op te zijn voor met heel mooi maar ook wat hoe
        jouw mijn ben heb wordt er verhaal
        """
    ),
}
_TOKEN = re.compile(r"[^\W\d_]+")
_UMLAUT = re.compile(r"[äöüß]")

# A paragraph of at least this many words is judged on its own: one English paragraph (a preamble
# like "Here is my comment:") in an otherwise German answer is still not German.
PARAGRAPH_WORDS = 4


@dataclass(frozen=True)
class LanguageScore:
    words: int
    german: int
    other: int
    other_language: str | None


def score(text: str) -> LanguageScore:
    """Function-word counts: German (plus words spelt with umlauts) against the strongest other language."""
    tokens = [t.casefold() for t in _TOKEN.findall(text)]
    counts: Counter[str] = Counter()
    for token in tokens:
        for language, words in _WORDS.items():
            if token in words:
                counts[language] += 1
        if token not in _WORDS["de"] and _UMLAUT.search(token):
            counts["de"] += 1
    others = [(n, lang) for lang, n in counts.items() if lang != "de"]
    other, strongest = max(others, default=(0, None))
    return LanguageScore(len(tokens), counts["de"], other, strongest if other else None)


def is_german(text: str) -> bool:
    """German, or too short to tell (fewer than three words); names and numbers decide nothing."""
    s = score(text)
    if s.words < 3:
        return True
    if s.german == 0:
        return s.words < 4
    return s.other <= s.german


def foreign_paragraph(paragraph: str) -> bool:
    """A paragraph clearly in another language: three of its function words and more than twice German's."""
    s = score(paragraph)
    return s.words >= PARAGRAPH_WORDS and s.other >= 3 and s.other > 2 * s.german
