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
from yourmoment.settings import Settings

_PARAGRAPH_BREAK = re.compile(r"</p\s*>|<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_WORDS = re.compile(r"[^\W\d_]+")
_TOKENS = re.compile(r"[^\W_]+")  # words and numbers ("zwischen 50 und 5000 Zeichen")
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
_SENTENCE_END = re.compile(r"(?<=[.:!?])\s+|\n+")
# The article block's labels in the seeded templates ("Titel: …"), echoed as lines of their own.
_LABEL_LINE = re.compile(
    r"^(?:Titel|Geschrieben von|Kategorie|Aufgabe|Text|Format|Dein Ziel|Sicherheitsregel)\s*:", re.IGNORECASE
)
# The data markers around the pupil's text, whole or in pieces, escaped or not.
_MARKER = re.compile(r"&lt;|&gt;|<<|>>|\[\[|\]\]|\bARTIKEL\b")
ECHO_MIN_CHARS = 20
ECHO_RUN_WORDS = 6
# The orders the templates give ("Schreibe …", "Nenne …"); a sentence opening with one that shares
# three words in a row with the instructions restates them.
_VERBS = "schreibe antworte verwende nenne stelle beginne zitiere gib formuliere beschreibe bewerte kritisiere befolge achte sprich zähle korrigiere"
INSTRUCTION_VERBS = frozenset(_VERBS.split())
COPY_SHINGLE = 6
COPY_LONGEST_WORDS = 20
COPY_SHARE = 0.5
COPY_SHARE_MIN_WORDS = 12  # a short quote may be most of a short comment

_GERMAN = (
    "der die das und ist du dein deine deinen deinem deiner ich nicht ein eine einen einem einer zu mit "
    "sehr wie auf es sie hast bist für von den dem im in auch wir was so dass sich wirklich gut toll "
    "schön text geschichte hat haben wird war wenn aber oder noch man mir mich dich dir sind kann"
)
_ENGLISH = (
    "the and is you your of to it this that with for are was be have i my me what how very story "
    "great good like can will an as on at by from"
)
GERMAN_WORDS = frozenset(_GERMAN.split())
ENGLISH_WORDS = frozenset(_ENGLISH.split())
GERMAN_MIN_SHARE = 0.1
# Prose: words between spaces, few codes or chains ("2021-04-23T11:00:00.001ZMG", "Arte-Das-Linde-…"),
# and a sentence that ends. Looser than the gate's rule (docs/rules.md#readable-prose), on purpose.
PROSE_MIN_WORDS = 4
CHAIN_PARTS = 5
CODE_MAX_SHARE = 0.2
_CHAIN_SPLIT = re.compile(r"[-.:_/]+")
_TRAILING = re.compile(r"[^\w.!?…]+$")


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


def prompt_texts() -> list[str]:
    """Every instruction the model is given: the seeded templates, the data rule, the retry hints."""
    texts: list[str] = [getattr(templates, "DATA_NOTE", ""), getattr(generation, "RETRY_HINT", "")]
    texts += list(getattr(generation, "CHECK_HINTS", {}).values())
    for template in SYSTEM_TEMPLATES:
        texts += [template.system_prompt, template.user_prompt_template]
    # The hints are sent with the default lengths filled in.
    limits = {
        "{min}": Settings.model_fields["comment_min_length"].default,
        "{max}": Settings.model_fields["comment_max_length"].default,
    }
    for key, value in limits.items():
        texts = [text.replace(key, str(value)) for text in texts]
    return [_PLACEHOLDER.sub(" ", text) for text in texts if text]


def _fragments(texts: list[str]) -> list[str]:
    parts = (_normal(part) for text in texts for part in _SENTENCE_END.split(text))
    return sorted({part for part in parts if len(part) >= ECHO_MIN_CHARS})


def tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKENS.findall(html.unescape(_TAG.sub(" ", text)))]


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


_PROMPTS = prompt_texts()
_FRAGMENTS = _fragments(_PROMPTS)
_PROMPT_WORDS = [tokens(text) for text in _PROMPTS]
_PROMPT_3 = set().union(*(ngrams(w, 3) for w in _PROMPT_WORDS))
_PROMPT_RUN = set().union(*(ngrams(w, ECHO_RUN_WORDS) for w in _PROMPT_WORDS))


def echoed_prompt(paragraphs: list[str]) -> str | None:
    """A label line ("Titel:", "Format:"), a sentence of the instructions, an instruction restated as an
    order ("Schreibe einen Kommentar zu …"), or six words in a row from them."""
    labels = [p for p in paragraphs if _LABEL_LINE.match(p)]
    if labels:
        return f"echoes a prompt label: {labels[0][:60]!r}"
    text = _normal(" ".join(paragraphs))
    for fragment in _FRAGMENTS:
        if fragment in text:
            return f"echoes the prompt: {fragment[:60]!r}"
    for sentence in (part for paragraph in paragraphs for part in _SENTENCE_END.split(paragraph)):
        found = tokens(sentence)
        if found and found[0] in INSTRUCTION_VERBS and ngrams(found, 3) & _PROMPT_3:
            return f"restates an instruction: {sentence[:60]!r}"
    shared = ngrams(tokens(" ".join(paragraphs)), ECHO_RUN_WORDS) & _PROMPT_RUN
    if shared:
        return f"echoes the prompt: {' '.join(sorted(shared)[0])!r}"
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


def _is_code(token: str) -> bool:
    """A chain of five parts or more, or letters fused with digits beyond a short "4b"."""
    parts = [p for p in _CHAIN_SPLIT.split(token) if p]
    fused = any(re.search(r"\d", p) and re.search(r"[^\W\d_]", p) and len(p) > 3 for p in parts)
    return len(parts) >= CHAIN_PARTS or fused


def not_prose(paragraphs: list[str]) -> str | None:
    """Fewer than four words between spaces, a fifth of the tokens codes or chains, or no sentence end."""
    tokens = [t for p in paragraphs for t in p.split() if any(ch.isalnum() for ch in t)]
    spaced_words = [t for t in tokens if _WORDS.search(t)]
    if len(spaced_words) < PROSE_MIN_WORDS:
        return f"not prose: {len(spaced_words)} word(s) between spaces"
    codes = sum(_is_code(t) for t in tokens)
    if codes > CODE_MAX_SHARE * len(tokens):
        return f"not prose: {codes} of {len(tokens)} tokens are codes or chains"
    if not any(_TRAILING.sub("", t).endswith((".", "!", "?", "…")) for t in tokens):
        return "not prose: no sentence ends"
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
        not_prose(paragraphs),
        copied_text(paragraphs, article_content),
        "stored although cut off at the token limit (finish_reason length)"
        if finish_reason == "length"
        else None,
    )
    return [r for r in reasons if r]
