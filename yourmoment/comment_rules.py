"""The fixed AI disclosure and what a comment's visible text must never hold: links and disclosure look-alikes."""

from __future__ import annotations

import difflib
import re
import unicodedata
from typing import Final

from yourmoment.links import find_links
from yourmoment.visible_text import fold, invisible_characters

DISCLOSURE: Final = "[Dieser Kommentar stammt von einem KI-ChatBot.]"
EXTRA_LINE_MAX_LENGTH: Final = 150

# --- the disclosure and its look-alikes -------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9]+")


def _skeleton(text: str) -> str:
    """Letters and digits only, casefolded, umlauts spelt out: what stays when brackets, spaces and dots go."""
    folded = fold(text).casefold().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    return "".join(_TOKEN.findall(folded))


_DISCLOSURE_SKELETON = _skeleton(DISCLOSURE)
_AI_WORDS = frozenset({"ki", "ai", "bot", "chatbot", "chatgpt", "llm"})
_AI_STEMS = ("chatbot", "kuenstlicheintelligenz", "artificialintelligence")
# "Dieser Kommentar stammt von …", "Der Kommentar wurde von … geschrieben": a claim about who wrote it.
_ORIGIN_CLAIM = re.compile(
    r"\b(?:dies(?:er|en)?|der|mein|unser)\s+kommentar\b.{0,80}?"
    r"\b(?:stammt|stammen|geschrieben|verfasst|erstellt|generiert|erzeugt|kommt|von)\b"
)


_NEGATIONS = frozenset({"nicht", "kein", "keine", "keinem", "keinen", "keiner", "not", "no"})
# "Geschrieben von Frau Meier": a claim of authorship, which only the disclosure may make.
_AUTHORSHIP = re.compile(r"\b(?:geschrieben|verfasst|erstellt)\s+von\b")


def _denies_ai(words: list[str]) -> bool:
    """ "nicht von einer KI", "kein Bot", "keine KI": a negation at most three words before an AI word."""
    return any(
        word in _AI_WORDS and _NEGATIONS.intersection(words[max(0, i - 3) : i])
        for i, word in enumerate(words)
    )


def is_disclosure_like(line: str) -> bool:
    """A line that copies, imitates, negates or replaces the disclosure (it speaks of this comment's origin)."""
    skeleton = _skeleton(line)
    if not skeleton:
        return False
    if _DISCLOSURE_SKELETON in skeleton or "kichatbot" in skeleton:
        return True
    words = _TOKEN.findall(fold(line).casefold().replace("ü", "ue"))
    about_comment = any(w.startswith(("kommentar", "comment")) for w in words)
    about_ai = bool(_AI_WORDS.intersection(words)) or any(stem in skeleton for stem in _AI_STEMS)
    if (about_comment and about_ai) or _ORIGIN_CLAIM.search(" ".join(words)) or _denies_ai(words):
        return True
    if _AUTHORSHIP.search(fold(line).casefold()):
        return True
    # Misspelt copies ("Diser Komentar stamt fon einem KI Chatbot").
    return difflib.SequenceMatcher(None, skeleton, _DISCLOSURE_SKELETON).ratio() >= 0.75


# --- the operator's own line ------------------------------------------------------------------------

_LINE_BREAKS = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def extra_line_problems(line: str) -> list[str]:
    """Why an operator's line may not follow the disclosure; empty when it may."""
    if not line.strip():
        return ["is blank; leave it unset for no line of your own"]
    problems: list[str] = []
    if _LINE_BREAKS.search(line):
        problems.append("must be a single line")
    elif any(unicodedata.category(ch) in ("Cc", "Cf") for ch in line) or invisible_characters(line):
        problems.append("contains control or invisible characters")
    if len(line.strip()) > EXTRA_LINE_MAX_LENGTH:
        problems.append(f"is longer than {EXTRA_LINE_MAX_LENGTH} characters")
    if is_disclosure_like(line):
        problems.append("looks like the AI disclosure; it may only add to it, never repeat or replace it")
    problems.extend(f"contains {kind}" for kind in find_links(line))
    return problems
