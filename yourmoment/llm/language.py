"""Is a comment German prose? Function words against other languages; known words, spaces, sentence ends."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
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


def is_function_word(word: str) -> bool:
    """A short, frequent word of German or the languages around it ("du", "der", "keine", "wenn")."""
    return any(word.casefold() in words for words in _WORDS.values())


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


# --- readable prose ---------------------------------------------------------------------------------
#
# A comment must read as German sentences: enough words separated by spaces, most of them words German
# knows, sentences that end. What a small model produces instead ("2021-04-23T11:00:00.001ZMG.10128…",
# "Arte-Das-Linde-Nach-Das-Bear-…") fails at least one of these. German's words come from wordfreq's
# word list (loaded on the first judgement, not at import: an idle worker never pays for it); a word
# it lacks counts when it is a compound of words it has, or a word of the pupil's own text.

PROSE_MIN_WORDS = 4  # words separated by spaces
PROSE_KNOWN_SHARE = 0.8  # of the word parts; chained tokens count as their parts
PROSE_WORD_SHARE = 0.6  # of the tokens: words, not numbers or codes
PROSE_JUNK_SHARE = 0.1  # of the tokens: chains of five parts or more, letters fused with digits
PROSE_CAPITALISED_SHARE = 0.7  # of the words inside sentences: more is a run of title-cased words
PROSE_SENTENCE_WORDS = 40  # words per sentence end, on average: more is a run-on without full stops
CHAIN_PARTS = 5
WORDFREQ_LIST = "small"  # 39,000 German words: 10 MB with the import (the "large" list: 85 MB)

_CHAIN = re.compile(r"[-‐‑.·_/:]+")
_EDGE = re.compile(r"^[\W_]+|[\W_]+$")
_SHORT_CODE = re.compile(r"\d{1,3}[^\W\d_]{1,2}|[^\W\d_]\d")  # "4b", "2er", "3D", "B1"
_NUMBER = re.compile(r"[\d'’,.:%-]*\d[\d'’,.:%-]*")
_ENDS = frozenset(".!?…")
_LINKING = ("", "s", "n", "en", "es", "e", "er")  # "Lieblings|stelle", "Blumen|wiese"


@functools.cache
def _german_words() -> dict[str, float]:
    """wordfreq's German words (casefolded, ß as ss) with their frequencies: 10 MB with the import."""
    import wordfreq  # here, not at the top: an idle worker never loads it

    return wordfreq.get_frequency_dict("de", wordlist=WORDFREQ_LIST)


def _known(word: str, extra: frozenset[str]) -> bool:
    word = word.casefold()
    return word in extra or word in _german_words() or _is_compound(word, 2)


@functools.lru_cache(maxsize=4096)
def _is_compound(word: str, parts: int) -> bool:
    """A compound of up to `parts` + 1 known words of three letters or more ("Hamster|käfig")."""
    if parts == 0 or len(word) < 6:
        return False
    vocabulary = _german_words()
    for cut in range(3, len(word) - 2):
        head, tail = word[:cut], word[cut:]
        if not any(head.endswith(link) and head[: len(head) - len(link)] in vocabulary for link in _LINKING):
            continue
        if len(head) - max(len(link) for link in _LINKING if head.endswith(link)) < 3:
            continue
        if tail in vocabulary or _is_compound(tail, parts - 1):
            return True
    return False


@dataclass(frozen=True)
class ProseCounts:
    words: int  # space-separated tokens holding letters
    tokens: int
    parts: int  # word parts, chains split
    known: int
    junk: int
    inner: int  # words inside sentences (after the first)
    capitalised: int
    sentence_ends: int  # full stops, ! ? … after a word (a heading or "Liebe Grüsse" needs none)


def prose_counts(paragraphs: Sequence[str], vocabulary: Iterable[str] = ()) -> ProseCounts:
    """What the prose rule counts in a comment's visible paragraphs; `vocabulary` is the pupil's words."""
    extra = frozenset(w.casefold() for w in vocabulary)
    words = tokens = parts = known = junk = inner = capitalised = sentence_ends = 0
    for paragraph in paragraphs:
        sentence_start = True
        for raw in paragraph.split():
            token = _EDGE.sub("", raw)
            if token:
                tokens += 1
                pieces = [p for p in _CHAIN.split(token) if p]
                letters = [p for p in pieces if p.isalpha()]
                is_junk = len(pieces) >= CHAIN_PARTS or any(_fused(p) for p in pieces)
                junk += is_junk
                if letters and not _NUMBER.fullmatch(token):
                    words += 1
                    parts += len(letters)
                    known += sum(_known(p, extra) for p in letters)
                    if not sentence_start:
                        inner += 1
                        capitalised += token[0].isupper()
            sentence_start = _ends(raw) or raw.endswith(":")
            sentence_ends += _ends(raw)
    return ProseCounts(words, tokens, parts, known, junk, inner, capitalised, sentence_ends)


def _fused(piece: str) -> bool:
    """Letters and digits in one piece ("001ZMG", "T11"), short codes like a class "4b" apart."""
    has_both = any(c.isdigit() for c in piece) and any(c.isalpha() for c in piece)
    return has_both and not _SHORT_CODE.fullmatch(piece)


def _ends(paragraph: str) -> bool:
    """Ends a sentence: a full stop, ! , ? or …, perhaps followed by quotes, brackets or an emoji."""
    tail = paragraph.rstrip()
    while tail and (
        unicodedata.category(tail[-1]) in ("Pe", "Pf", "So", "Sk", "Cf", "Mn") or tail[-1] in "\"'"
    ):
        tail = tail[:-1].rstrip()
    return bool(tail) and tail[-1] in _ENDS


def prose_problems(
    paragraphs: Sequence[str], vocabulary: Iterable[str] = (), *, require_ends: bool = True
) -> list[str]:
    """Why the paragraphs are not readable German prose; counts only, never the text."""
    c = prose_counts(paragraphs, vocabulary)
    problems: list[str] = []
    if c.words < PROSE_MIN_WORDS:
        problems.append(f"only {c.words} word(s) separated by spaces, at least {PROSE_MIN_WORDS} needed")
    if c.tokens and c.words < PROSE_WORD_SHARE * c.tokens:
        problems.append(f"only {c.words} of its {c.tokens} tokens are words")
    if c.junk > PROSE_JUNK_SHARE * c.tokens:
        problems.append(f"{c.junk} of its {c.tokens} tokens are chains or codes, not words")
    if c.parts and c.known < PROSE_KNOWN_SHARE * c.parts:
        problems.append(f"only {c.known} of its {c.parts} words are German words")
    if c.inner >= 6 and c.capitalised > PROSE_CAPITALISED_SHARE * c.inner:
        problems.append(f"{c.capitalised} of {c.inner} words inside its sentences are capitalised")
    if require_ends and c.words > PROSE_SENTENCE_WORDS * c.sentence_ends:
        problems.append(f"{c.words} words with {c.sentence_ends} sentence end(s)")
    return problems
