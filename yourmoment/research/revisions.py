"""What changed between two versions of a pupil's text: a word-level diff a teacher can read, and the
figures research counts (words and characters added and removed, the word-level edit distance).

Texts are compared as tokens: words, punctuation marks and line breaks, so "laut." → "laut und" is one
word added and a full stop removed, not a whole word replaced. Whitespace alone is no change.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Literal, NamedTuple

from pydantic import BaseModel

_TOKEN = re.compile(r"\n|\w+|[^\w\s]")

Op = Literal["same", "added", "removed"]


class DiffPart(BaseModel):
    op: Op
    text: str


class Revision(BaseModel):
    changed: bool
    words_added: int
    words_removed: int
    chars_added: int  # characters of the added tokens (words and punctuation), whitespace not counted
    chars_removed: int
    edit_distance: int  # tokens inserted, deleted or substituted (Levenshtein over tokens)


class Token(NamedTuple):
    text: str
    spaced: bool  # whitespace before it in its text


def tokens(text: str) -> list[Token]:
    text = text.replace("\r\n", "\n")
    return [Token(m.group(), m.start() > 0 and text[m.start() - 1] in " \t") for m in _TOKEN.finditer(text)]


def _opcodes(a: list[Token], b: list[Token]) -> Sequence[tuple[str, int, int, int, int]]:
    matcher = difflib.SequenceMatcher(None, [t.text for t in a], [t.text for t in b], autojunk=False)
    return matcher.get_opcodes()


def _joined(run: list[Token]) -> str:
    return "".join((" " if t.spaced and i else "") + t.text for i, t in enumerate(run))


def word_diff(old: str, new: str) -> list[DiffPart]:
    """The texts as runs of unchanged, removed and added tokens (a replacement: removed, then added)."""
    a, b = tokens(old), tokens(new)
    parts: list[DiffPart] = []
    for tag, i1, i2, j1, j2 in _opcodes(a, b):
        runs: list[tuple[Op, list[Token]]] = []
        if tag == "equal":
            runs.append(("same", b[j1:j2]))
        if tag in ("delete", "replace"):
            runs.append(("removed", a[i1:i2]))
        if tag in ("insert", "replace"):
            runs.append(("added", b[j1:j2]))
        for op, run in runs:
            parts.append(DiffPart(op=op, text=(" " if run[0].spaced else "") + _joined(run)))
    return parts


def render_diff(parts: list[DiffPart]) -> str:
    """Plain text: removed tokens as [-…-], added ones as {+…+} (like git's --word-diff=plain)."""
    marks = {"same": ("", ""), "removed": ("[-", "-]"), "added": ("{+", "+}")}
    out = []
    for part in parts:
        start, end = marks[part.op]
        lead = part.text[: len(part.text) - len(part.text.lstrip(" \n"))]
        body = part.text[len(lead) :]
        out.append(f"{lead}{start}{body}{end}" if body else lead)
    return "".join(out).strip()


def revision(old: str, new: str) -> Revision:
    a, b = tokens(old), tokens(new)
    added: list[str] = []
    removed: list[str] = []
    for tag, i1, i2, j1, j2 in _opcodes(a, b):
        if tag in ("delete", "replace"):
            removed += [t.text for t in a[i1:i2] if t.text != "\n"]
        if tag in ("insert", "replace"):
            added += [t.text for t in b[j1:j2] if t.text != "\n"]
    plain_a = [t.text for t in a if t.text != "\n"]
    plain_b = [t.text for t in b if t.text != "\n"]
    return Revision(
        changed=plain_a != plain_b,
        words_added=sum(1 for w in added if w[0].isalnum() or w[0] == "_"),
        words_removed=sum(1 for w in removed if w[0].isalnum() or w[0] == "_"),
        chars_added=sum(len(w) for w in added),
        chars_removed=sum(len(w) for w in removed),
        edit_distance=edit_distance(plain_a, plain_b),
    )


def edit_distance(a: list[str], b: list[str]) -> int:
    """Levenshtein distance over tokens (two rows of the table at a time)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, word in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other)))
        previous = current
    return previous[-1]
