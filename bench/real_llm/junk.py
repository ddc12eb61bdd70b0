"""Junk detectors for stored comments, written apart from the project's own checks so they can judge them.

Each detector is deliberately simple and returns a reason or None; `junk_reasons` runs them all.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable

from yourmoment.comment_rules import DISCLOSURE
from yourmoment.llm import generation, templates
from yourmoment.llm.system_templates import SYSTEM_TEMPLATES

_PARAGRAPH_BREAK = re.compile(r"</p\s*>|<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_WORDS = re.compile(r"[^\W\d_]+")
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
_SENTENCE_END = re.compile(r"(?<=[.:!?])\s+|\n+")
# The article block's labels in the seeded templates ("Titel: …"), echoed as lines of their own.
_LABEL_LINE = re.compile(r"^(?:Titel|Geschrieben von|Kategorie|Aufgabe|Text)\s*:", re.IGNORECASE)
# The data markers around the pupil's text, whole or in pieces, escaped or not.
_MARKER = re.compile(r"&lt;|&gt;|<<|>>|\[\[|\]\]|\bARTIKEL\b")
ECHO_MIN_CHARS = 20
COPY_SHINGLE = 6
COPY_LONGEST_WORDS = 20
COPY_SHARE = 0.5
COPY_SHARE_MIN_WORDS = 12  # a short quote may be most of a short comment

GERMAN_WORDS = frozenset(
    [
        "der",
        "die",
        "das",
        "und",
        "ist",
        "du",
        "dein",
        "deine",
        "deinen",
        "deinem",
        "deiner",
        "ich",
        "nicht",
        "ein",
        "eine",
        "einen",
        "einem",
        "einer",
        "zu",
        "mit",
        "sehr",
        "wie",
        "auf",
        "es",
        "sie",
        "hast",
        "bist",
        "für",
        "von",
        "den",
        "dem",
        "im",
        "in",
        "auch",
        "wir",
        "was",
        "so",
        "dass",
        "sich",
        "wirklich",
        "gut",
        "toll",
        "schön",
        "text",
        "geschichte",
        "hat",
        "haben",
        "wird",
        "war",
        "wenn",
        "aber",
        "oder",
        "noch",
        "man",
        "mir",
        "mich",
        "dich",
        "dir",
        "sind",
        "kann",
    ]
)
ENGLISH_WORDS = frozenset(
    [
        "the",
        "and",
        "is",
        "you",
        "your",
        "of",
        "to",
        "it",
        "this",
        "that",
        "with",
        "for",
        "are",
        "was",
        "be",
        "have",
        "i",
        "my",
        "me",
        "what",
        "how",
        "very",
        "story",
        "great",
        "good",
        "like",
        "can",
        "will",
        "an",
        "as",
        "on",
        "at",
        "by",
        "from",
    ]
)
GERMAN_MIN_SHARE = 0.1


def plain_paragraphs(comment_html: str) -> list[str]:
    """The comment's paragraphs as text (tags dropped, entities decoded), without the disclosure line."""
    parts = (
        _SPACE.sub(" ", html.unescape(_TAG.sub(" ", p))).strip() for p in _PARAGRAPH_BREAK.split(comment_html)
    )
    return [p for p in parts if p and p != DISCLOSURE]


def answer_text(content: str) -> str:
    """The comment inside a raw model answer: the `comment` field of a structured answer, else the text."""
    try:
        value = json.loads(content)
    except ValueError:
        return content
    return value["comment"] if isinstance(value, dict) and isinstance(value.get("comment"), str) else content


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORDS.findall(html.unescape(_TAG.sub(" ", text)))]


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def prompt_fragments() -> list[str]:
    """Sentences and lines of every instruction the model is given (templates, data rule, retry hint)."""
    texts: list[str] = [getattr(templates, "DATA_NOTE", ""), getattr(generation, "RETRY_HINT", "")]
    for template in SYSTEM_TEMPLATES:
        texts += [template.system_prompt, template.user_prompt_template]
    fragments = set()
    for text in texts:
        for part in _SENTENCE_END.split(text):
            part = _normal(_PLACEHOLDER.sub(" ", part))
            if len(part) >= ECHO_MIN_CHARS:
                fragments.add(part)
    return sorted(fragments)


_FRAGMENTS = prompt_fragments()


def echoed_prompt(paragraphs: list[str]) -> str | None:
    for paragraph in paragraphs:
        for line in paragraph.splitlines() or [paragraph]:
            if _LABEL_LINE.match(line.strip()):
                return f"echoes a prompt label: {line.strip()[:60]!r}"
    text = _normal(" ".join(paragraphs))
    for fragment in _FRAGMENTS:
        if fragment in text:
            return f"echoes the prompt: {fragment[:60]!r}"
    return None


def marker_remnants(comment_html: str) -> str | None:
    found = _MARKER.search(comment_html)
    return f"data marker remnant {found.group(0)!r}" if found else None


def symbol_paragraphs(paragraphs: list[str]) -> str | None:
    bad = [p for p in paragraphs if not any(ch.isalpha() for ch in p)]
    return f"{len(bad)} paragraph(s) without a single letter, e.g. {bad[0][:20]!r}" if bad else None


def not_german(paragraphs: list[str]) -> str | None:
    tokens = words(" ".join(paragraphs))
    if len(tokens) < 4:
        return None
    german = sum(t in GERMAN_WORDS for t in tokens)
    english = sum(t in ENGLISH_WORDS for t in tokens)
    if english > german or german / len(tokens) < GERMAN_MIN_SHARE:
        return f"not German ({german} German and {english} English function words in {len(tokens)})"
    return None


def copied_text(paragraphs: list[str], article_content: str | None) -> str | None:
    """Long runs of the pupil's own words: one run of 20+ words, or half the comment (12+ words) in 6-word runs."""
    if not article_content:
        return None
    source, body = words(article_content), words(" ".join(paragraphs))
    shingles = {tuple(source[i : i + COPY_SHINGLE]) for i in range(len(source) - COPY_SHINGLE + 1)}
    covered = [False] * len(body)
    for i in range(len(body) - COPY_SHINGLE + 1):
        if tuple(body[i : i + COPY_SHINGLE]) in shingles:
            covered[i : i + COPY_SHINGLE] = [True] * COPY_SHINGLE
    longest = run = 0
    for flag in covered:
        run = run + 1 if flag else 0
        longest = max(longest, run)
    share = sum(covered) / len(body) if body else 0.0
    if longest >= COPY_LONGEST_WORDS or (share >= COPY_SHARE and sum(covered) >= COPY_SHARE_MIN_WORDS):
        return f"copies the pupil's text ({longest} words in a row, {share:.0%} of the comment)"
    return None


def junk_reasons(
    comment_html: str, article_content: str | None = None, finish_reason: str | None = None
) -> list[str]:
    """Every detector's reason for one stored comment; empty when none fires.

    `finish_reason` is the one of the model answer the comment came from, when known.
    """
    paragraphs = plain_paragraphs(comment_html)
    reasons: Iterable[str | None] = (
        echoed_prompt(paragraphs),
        marker_remnants(comment_html),
        symbol_paragraphs(paragraphs),
        not_german(paragraphs),
        copied_text(paragraphs, article_content),
        "stored although cut off at the token limit (finish_reason length)"
        if finish_reason == "length"
        else None,
    )
    return [r for r in reasons if r]
