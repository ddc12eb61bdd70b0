"""The quality gate: every check a model's answer must pass before it is stored, each with a stable code.

Messages name the rule and counts, never the text: they end up in logs, the database and Temporal.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from yourmoment.comment_rules import (
    comment_plain_text,
    disclosure_problems,
    fold,
    hidden_link_problems,
    link_problems,
    missing_extra_line,
    posting_problems,
    visible_lines,
)
from yourmoment.llm.comments import comment_body, normalize_comment
from yourmoment.llm.language import foreign_paragraph, is_function_word, is_german, prose_problems
from yourmoment.llm.templates import DATA_BLOCK, EMPTY_VALUE, MARKER_WORD, PLACEHOLDERS


class Check(enum.StrEnum):
    """The stable check codes, in the order the gate reports them (stored in generation_attempts)."""

    CUT_OFF = "cut_off"
    MARKER_ECHO = "marker_echo"
    PROMPT_ECHO = "prompt_echo"
    REPETITION = "repetition"
    COPIED_TEXT = "copied_text"
    NOT_GERMAN = "not_german"
    NOT_PROSE = "not_prose"
    LINK = "link"
    DISCLOSURE = "disclosure"
    LENGTH = "length"
    PLACEHOLDER = "placeholder"


# Finish reasons of an answer that did not end on its own (OpenAI, llama.cpp, vLLM, Ollama say "length").
CUT_OFF_REASONS: frozenset[str] = frozenset({"length", "max_tokens", "content_filter"})

# An answer sentence of at least this many words that also stands in the prompt is an echo.
ECHO_SENTENCE_WORDS = 4
# So is any run of this many words shared with the prompt's own text.
ECHO_RUN_WORDS = 8
# ... and so is a sentence of RESTATED_MIN_WORDS+ that opens like an instruction and mostly uses its words.
RESTATED_MIN_WORDS = 4
RESTATED_SHARE = 0.6
# A label is a short name before a colon that introduces data ("Titel:", "Geschrieben von:").
LABEL_MAX_WORDS = 4

# Copies are measured in runs of at least COPY_MIN_RUN words (a quoted phrase of 3-5 words never counts).
COPY_MIN_RUN = 6
COPY_LONGEST_RUN = 15  # one run this long is a copy, whatever else the answer says
COPY_MIN_WORDS = 12  # ... as are this many copied words when they make COPY_SHARE of the answer
COPY_SHARE = 0.4

# Repetition: a short unit (1-4 characters) repeated to a run this long ("!!!!!!!!!!!!", "#-#-#-#-#-#-").
CHAR_RUN_LENGTH = 12
DUPLICATE_SENTENCE_WORDS = 5


RETRY_HINT = (
    "Deine letzte Antwort erfüllte die Vorgaben nicht. Schreibe den Kommentar neu: zwischen {min} und "
    "{max} Zeichen, nur <p>-Absätze, keine Wiederholungen, keine Platzhalter in geschweiften Klammern, "
    "keine Links, Web- oder E-Mail-Adressen und kein Hinweis darauf, wer den Kommentar geschrieben hat."
)
# What to do better, per failed check; the model never sees its rejected answer again.
CHECK_HINTS: dict[str, str] = {
    "cut_off": "Deine Antwort war zu lang und wurde abgeschnitten. Schreibe kürzer.",
    "marker_echo": "Schreibe die Markierungen um den Text des Kindes nicht ab.",
    "prompt_echo": "Wiederhole nicht die Aufgabe oder die Angaben zum Text. Schreibe nur den Kommentar.",
    "repetition": "Wiederhole keine Absätze, Sätze oder Zeichen. Jeder Absatz enthält ganze Sätze.",
    "copied_text": "Schreibe den Text des Kindes nicht ab. Zitiere höchstens ein paar Wörter daraus.",
    "not_german": "Schreibe den ganzen Kommentar auf Deutsch.",
    "not_prose": "Schreibe ganze deutsche Sätze aus Wörtern mit Leerzeichen dazwischen; jeder Satz endet mit "
    "einem Punkt, Ausrufe- oder Fragezeichen.",
    "link": "Schreibe keine Links, Web- oder E-Mail-Adressen.",
    "disclosure": "Schreibe nichts darüber, wer oder was den Kommentar geschrieben hat, und unterschreibe nicht.",
    "length": "Halte die Länge ein: zwischen {min} und {max} Zeichen.",
    "placeholder": "Schreibe keine Platzhalter in geschweiften Klammern.",
}


class GateProblem(BaseModel):
    check: Check
    message: str


class Verdict(BaseModel):
    """The normalised comment and what is wrong with it; accepted when nothing is."""

    html: str
    problems: list[GateProblem]

    @property
    def accepted(self) -> bool:
        return not self.problems

    @property
    def checks(self) -> list[str]:
        return [p.check for p in self.problems]


@dataclass
class _Answer:
    raw: str
    finish_reason: str | None
    html: str
    body: str
    lines: list[str]
    plain: str


@dataclass
class _Prompt:
    messages: list[dict[str, str]]
    min_length: int
    max_length: int
    extra_line: str | None
    sources: list[str]
    allowed_braces: set[str] = field(default_factory=set)


def judge(
    raw_text: str,
    finish_reason: str | None,
    messages: list[dict[str, str]],
    *,
    min_length: int,
    max_length: int,
    extra_line: str | None = None,
    article_text: str | Sequence[str] = (),
) -> Verdict:
    """Normalise the model's answer and run every check; one problem per failed check.

    `messages` are the ones sent (the data blocks in them count as the pupil's text as well);
    `article_text` is the pupil's title and text when the caller has them outside the prompt.
    """
    html = normalize_comment(raw_text, extra_line)
    body = comment_body(html, extra_line)
    answer = _Answer(raw_text, finish_reason, html, body, visible_lines(body), comment_plain_text(body))
    texts = [article_text] if isinstance(article_text, str) else list(article_text)
    user_text = "\n".join(m.get("content", "") for m in messages if m.get("role") == "user")
    prompt = _Prompt(
        messages,
        min_length,
        max_length,
        extra_line,
        sources=[t for t in texts if t.strip()] + _data_blocks(messages),
        # Braces quoted from the article are the pupil's, not unresolved template placeholders.
        allowed_braces=brace_patterns(user_text),
    )
    problems = []
    for code, check in _CHECKS:
        if found := check(answer, prompt):
            problems.append(GateProblem(check=code, message=" ".join(found)))
    return Verdict(html=html, problems=problems)


# --- cut off -----------------------------------------------------------------------------------------


def _cut_off(answer: _Answer, prompt: _Prompt) -> list[str]:
    if answer.finish_reason in CUT_OFF_REASONS:
        return [f"The answer did not end on its own (finish_reason {answer.finish_reason!r})."]
    return []


# --- data markers ------------------------------------------------------------------------------------

_MARKER_TOKEN = re.compile(rf"(?<![^\W\d_]){re.escape(MARKER_WORD)}(?![^\W\d_])")
# What is left of a marker once a sanitiser or the model mangled it: doubled brackets of one direction
# (also as entities), or the mathematical brackets models substitute.
_MARKER_REMNANT = re.compile(
    r"\[\s*\[|\]\s*\]|\uff3b\s*\uff3b|\uff3d\s*\uff3d|<\s*<|>\s*>|&lt;\s*&lt;|&gt;\s*&gt;|[\u27e6\u27e7]"
)


def _marker_echo(answer: _Answer, prompt: _Prompt) -> list[str]:
    visible = answer.plain
    if _MARKER_TOKEN.search(fold(answer.raw)) or _MARKER_TOKEN.search(fold(visible)):
        return ["The comment repeats the data markers around the article."]
    if _MARKER_REMNANT.search(fold(visible)):
        return ["The comment holds what is left of the data markers (doubled brackets)."]
    return []


# --- echoes of the prompt ----------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")
_TAG = re.compile(r"<[^<>]*>")
_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+|\n")
_LABEL_LINE = re.compile(rf"^\W*([^\W\d_][^:\n]{{0,60}}?)\s*:\s*(?:{re.escape(EMPTY_VALUE)})?\s*$")
_LEADING_MARKUP = re.compile(r"^[\W_]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(fold(text).casefold())


def _joined(words: Sequence[str]) -> str:
    return f" {' '.join(words)} "


def _instruction_segments(messages: list[dict[str, str]]) -> list[str]:
    """The prompt's own text: every message with the data blocks cut out (each block ends a segment)."""
    segments: list[str] = []
    for message in messages:
        content = message.get("content", "")
        if message.get("role") in ("system", "user", "developer") and isinstance(content, str):
            segments.extend(DATA_BLOCK.split(content)[::2])
    return segments


def _data_blocks(messages: list[dict[str, str]]) -> list[str]:
    return [
        block
        for m in messages
        if m.get("role") == "user" and isinstance(m.get("content"), str)
        for block in DATA_BLOCK.findall(m["content"])
    ]


@dataclass
class _Instructions:
    labels: set[str]
    sentences: list[str]  # joined word strings, padded with spaces
    runs: set[tuple[str, ...]]
    openings: set[tuple[str, str]] = field(default_factory=set)  # first two words of each instruction
    vocabulary: set[str] = field(default_factory=set)
    orders: set[str] = field(default_factory=set)  # instructions' first words that are no function words
    triples: set[tuple[str, str, str]] = field(default_factory=set)  # three words in a row


def _our_notes(min_length: int, max_length: int) -> list[str]:
    """Every note generation may add to a prompt: an answer restating one echoes us, whatever was sent."""
    return [note.format(min=min_length, max=max_length) for note in (RETRY_HINT, *CHECK_HINTS.values())]


def _instructions(messages: list[dict[str, str]], notes: Sequence[str] = ()) -> _Instructions:
    labels: set[str] = set()
    sentences: list[str] = []
    runs: set[tuple[str, ...]] = set()
    openings: set[tuple[str, str]] = set()
    vocabulary: set[str] = set()
    triples: set[tuple[str, str, str]] = set()
    for segment in [*_instruction_segments(messages), *notes]:
        text = _TAG.sub(" ", segment)
        for line in text.splitlines():
            if (match := _LABEL_LINE.match(line)) and len(words := _words(match.group(1))) <= LABEL_MAX_WORDS:
                labels.add(" ".join(words))
        for sentence in _SENTENCE_END.split(text):
            if len(words := _words(sentence)) >= ECHO_SENTENCE_WORDS:
                sentences.append(_joined(words))
                openings.add((words[0], words[1]))
        words = _words(text)
        vocabulary.update(words)
        triples.update(zip(words, words[1:], words[2:], strict=False))
        runs.update(tuple(words[i : i + ECHO_RUN_WORDS]) for i in range(len(words) - ECHO_RUN_WORDS + 1))
    orders = {first for first, _ in openings if not is_function_word(first)}
    return _Instructions(labels, sentences, runs, openings, vocabulary, orders, triples)


def _starts_with_label(line: str, labels: Collection[str]) -> bool:
    head, colon, _ = _LEADING_MARKUP.sub("", fold(line)).partition(":")
    return bool(colon) and " ".join(_words(head)) in labels


def _echoes(line: str, found: _Instructions) -> bool:
    if _starts_with_label(line, found.labels):
        return True
    words = _words(line)
    joined = _joined(words)
    if any(sentence in joined for sentence in found.sentences):
        return True
    if any(_restates(sentence, found) for sentence in _SENTENCE_END.split(line)):
        return True
    return any(
        tuple(words[i : i + ECHO_RUN_WORDS]) in found.runs for i in range(len(words) - ECHO_RUN_WORDS + 1)
    )


def _restates(sentence: str, found: _Instructions) -> bool:
    """A sentence that opens like one of the instructions ("Schreibe einen …") and is mostly made of the
    instructions' words, or opens with an instruction's verb and repeats three of its words in a row
    ("Schreibe 50 und 5000 Zeichen …"): the model telling itself what to do, not a comment."""
    words = _words(sentence)
    if len(words) < RESTATED_MIN_WORDS:
        return False
    if words[0] in found.orders and found.triples.intersection(
        zip(words, words[1:], words[2:], strict=False)
    ):
        return True
    if (words[0], words[1]) not in found.openings:
        return False
    return sum(w in found.vocabulary for w in words) / len(words) >= RESTATED_SHARE


def _prompt_echo(answer: _Answer, prompt: _Prompt) -> list[str]:
    found = _instructions(prompt.messages, _our_notes(prompt.min_length, prompt.max_length))
    echoes = sum(1 for line in answer.lines if _echoes(line, found))
    if echoes:
        return [f"{echoes} line(s) of the comment repeat the prompt's own instructions or labels."]
    return []


# --- repetition --------------------------------------------------------------------------------------

_CHAR_RUN = re.compile(r"(.{1,4}?)\1{2,}", re.DOTALL)
_SENTENCE = re.compile(r"[^.!?]+")


def _char_runs(text: str) -> int:
    return sum(
        1
        for m in _CHAR_RUN.finditer(text)
        # Digits are left out: "1.000.000.000" is a number, not a stutter.
        if len(m.group(0)) >= CHAR_RUN_LENGTH
        and m.group(1).strip()
        and not any(c.isdigit() for c in m.group(1))
    )


def _duplicates(keys: list[str]) -> int:
    seen: set[str] = set()
    repeated = 0
    for key in keys:
        repeated += key in seen
        seen.add(key)
    return repeated


def _repetition(answer: _Answer, prompt: _Prompt) -> list[str]:
    found: list[str] = []
    if empty := sum(1 for line in answer.lines if not any(ch.isalpha() for ch in line)):
        found.append(f"{empty} paragraph(s) hold no letters, only punctuation, symbols or digits.")
    # One-word paragraphs are left to the other measures: a stray "Toll!" twice is no flood.
    paragraph_keys = [" ".join(w) for line in answer.lines if len(w := _words(line)) >= 2]
    if repeated := _duplicates(paragraph_keys):
        found.append(f"{repeated} paragraph(s) repeat an earlier one.")
    sentences = [
        " ".join(w)
        for s in _SENTENCE.findall(answer.plain)
        if len(w := _words(s)) >= DUPLICATE_SENTENCE_WORDS
    ]
    if not repeated and (repeated_sentences := _duplicates(sentences)):
        found.append(f"{repeated_sentences} sentence(s) repeat an earlier one.")
    if runs := _char_runs(answer.plain):
        found.append(f"{runs} run(s) of the same characters repeated.")
    if is_repetitive(answer.plain):
        found.append("Fewer than half of its words are distinct.")
    return [f"The comment is repetitive: {' '.join(found)}"] if found else []


# --- copies of the pupil's text ----------------------------------------------------------------------


def _copied_runs(words: list[str], sources: Sequence[str]) -> list[int]:
    """Lengths of the answer's maximal word runs that also stand, word for word, in one of the sources."""
    shingles: set[tuple[str, ...]] = set()
    for source in sources:
        tokens = _words(source)
        shingles.update(tuple(tokens[i : i + COPY_MIN_RUN]) for i in range(len(tokens) - COPY_MIN_RUN + 1))
    covered = [False] * len(words)
    for i in range(len(words) - COPY_MIN_RUN + 1):
        if tuple(words[i : i + COPY_MIN_RUN]) in shingles:
            covered[i : i + COPY_MIN_RUN] = [True] * COPY_MIN_RUN
    runs, current = [], 0
    for flag in [*covered, False]:
        if flag:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    return runs


def _copied_text(answer: _Answer, prompt: _Prompt) -> list[str]:
    words = _words(answer.plain)
    runs = _copied_runs(words, prompt.sources)
    copied = sum(runs)
    if runs and (
        max(runs) >= COPY_LONGEST_RUN or (copied >= COPY_MIN_WORDS and copied >= COPY_SHARE * len(words))
    ):
        return [
            f"The comment copies the article word for word: {copied} of its {len(words)} words, "
            f"the longest run {max(runs)} words."
        ]
    return []


# --- language ----------------------------------------------------------------------------------------

_QUOTED = re.compile(r"«[^«»]{0,300}»|„[^„“”]{0,300}[“”]|“[^“”]{0,300}”|\"[^\"]{0,300}\"|‹[^‹›]{0,300}›")
_EMPHASIS = re.compile(r"<em>.*?</em>", re.DOTALL)
_SHORT_SOURCE = 120  # titles and names: removed before judging the language, like quotes


def _own_words(text: str, sources: Sequence[str]) -> str:
    """The text without what it quotes: a pupil's English title says nothing about the comment's language."""
    text = _QUOTED.sub(" ", text)
    for source in sources:
        if len(source) <= _SHORT_SOURCE and source.strip():
            text = text.replace(source.strip(), " ")
    return text


def _not_german(answer: _Answer, prompt: _Prompt) -> list[str]:
    lines = visible_lines(_EMPHASIS.sub(" ", answer.body))
    own = [_own_words(line, prompt.sources) for line in lines]
    if not is_german(" ".join(own)):
        return ["The comment is not written in German."]
    if foreign := sum(1 for line in own if foreign_paragraph(line)):
        return [f"{foreign} paragraph(s) of the comment are not written in German."]
    return []


def _not_prose(answer: _Answer, prompt: _Prompt) -> list[str]:
    """Readable German sentences, not codes, chains or strings of unknown words (docs/rules.md#readable-prose).
    The pupil's own words (names, dialect, typos they may be quoted with) count as known."""
    if not answer.lines or _not_german(answer, prompt):
        return []  # the length check names an empty comment, the language check another language
    vocabulary = {word for source in prompt.sources for word in _LETTERS.findall(source)}
    # An answer cut off at the token limit ends mid-sentence; the cut_off check already says so.
    ends = answer.finish_reason not in CUT_OFF_REASONS
    if found := prose_problems(answer.lines, vocabulary, require_ends=ends):
        return [f"The comment is not readable German prose: {'; '.join(found)}."]
    return []


_LETTERS = re.compile(r"[^\W\d_]+")


# --- the rules every comment keeps -------------------------------------------------------------------


def _link(answer: _Answer, prompt: _Prompt) -> list[str]:
    return link_problems(answer.html) + hidden_link_problems(answer.raw)


def _disclosure(answer: _Answer, prompt: _Prompt) -> list[str]:
    return disclosure_problems(answer.html) + missing_extra_line(answer.html, prompt.extra_line)


def _length(answer: _Answer, prompt: _Prompt) -> list[str]:
    return length_problems(answer.body, prompt.min_length, prompt.max_length)


def _placeholder(answer: _Answer, prompt: _Prompt) -> list[str]:
    leftover = leftover_placeholders(answer.body, prompt.allowed_braces)
    if not leftover:
        return []
    # Only our own placeholder names are named: anything else in braces came from the model's text.
    ours = [name for name in leftover if name.strip("{}") in PLACEHOLDERS]
    named = f" ({', '.join(ours)})" if ours else ""
    return [f"The comment contains {len(leftover)} unresolved placeholder(s) in braces{named}."]


# --- quality on the comment alone (length, repetition, placeholders) ----------------------------------

_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
_WORD_CHARS = re.compile(r"\w+")


def is_repetitive(plain: str) -> bool:
    """Fewer than half of the words distinct (over more than five words)."""
    words = [w.lower() for w in _WORD_CHARS.findall(plain)]
    return len(words) > 5 and len(set(words)) / len(words) < 0.5


def brace_patterns(text: str) -> set[str]:
    """Every `{name}` in a text; generation allows those that the prompt's article text itself contains."""
    return set(_PLACEHOLDER.findall(text))


def length_problems(body: str, min_length: int, max_length: int) -> list[str]:
    """The length counts HTML tags, not the disclosure block."""
    if not comment_plain_text(body):
        return ["The comment is empty."]
    if len(body) < min_length:
        return [f"The comment is too short: {len(body)} characters, at least {min_length} required."]
    if len(body) > max_length:
        return [f"The comment is too long: {len(body)} characters, at most {max_length} allowed."]
    return []


def leftover_placeholders(body: str, allowed_braces: Collection[str] = ()) -> list[str]:
    return sorted(brace_patterns(body) - set(allowed_braces))


def validate_comment(
    comment_html: str,
    min_length: int,
    max_length: int,
    *,
    extra_line: str | None = None,
    allowed_braces: Collection[str] = (),
) -> list[str]:
    """The checks that need only the comment, no prompt: the absolute rules, the extra line, length, repetition
    and placeholders (`judge` runs the full gate on a model's answer); the length counts HTML tags.

    `allowed_braces` lists `{name}` strings that are not leftovers: a pupil's title like "Mein {Hund}"
    may be quoted by the model.
    """
    problems = posting_problems(comment_html) + missing_extra_line(comment_html, extra_line)
    body = comment_body(comment_html, extra_line)
    plain = comment_plain_text(body)
    if not plain:
        return [*problems, "The comment is empty."]
    problems.extend(length_problems(body, min_length, max_length))
    if is_repetitive(plain):
        problems.append("The comment is repetitive: fewer than half of its words are distinct.")
    if leftover := leftover_placeholders(body, allowed_braces):
        problems.append(f"The comment contains unresolved placeholders: {', '.join(leftover)}.")
    return problems


_CHECKS: tuple[tuple[Check, Callable[[_Answer, _Prompt], list[str]]], ...] = (
    (Check.CUT_OFF, _cut_off),
    (Check.MARKER_ECHO, _marker_echo),
    (Check.PROMPT_ECHO, _prompt_echo),
    (Check.REPETITION, _repetition),
    (Check.COPIED_TEXT, _copied_text),
    (Check.NOT_GERMAN, _not_german),
    (Check.NOT_PROSE, _not_prose),
    (Check.LINK, _link),
    (Check.DISCLOSURE, _disclosure),
    (Check.LENGTH, _length),
    (Check.PLACEHOLDER, _placeholder),
)
CHECKS: tuple[Check, ...] = tuple(code for code, _ in _CHECKS)


def describe(problems: Sequence[GateProblem]) -> str:
    """One line for errors and logs: each failed check's code and message."""
    return "; ".join(f"{p.check}: {p.message}" for p in problems)
