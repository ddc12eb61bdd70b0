"""The fixed AI disclosure and what a comment's visible text must never hold: links and disclosure look-alikes."""

from __future__ import annotations

import difflib
import itertools
import re
import unicodedata
from typing import Final

DISCLOSURE: Final = "[Dieser Kommentar stammt von einem KI-ChatBot.]"
EXTRA_LINE_MAX_LENGTH: Final = 150

# Characters NFKC leaves alone although readers (and browsers' host parsing) take them for others:
# ideographic and halfwidth full stops, every dash, and Cyrillic/Greek letters shaped like Latin ones.
_CONFUSABLES: dict[int, str] = str.maketrans(
    {
        "\u3002": ".",
        "\uff61": ".",
        "\ufe52": ".",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\ufe58": "-",
        "\ufe63": "-",
        "а": "a",
        "в": "b",
        "е": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "һ": "h",
        "ԁ": "d",
        "ӏ": "l",
        "А": "A",
        "В": "B",
        "Е": "E",
        "К": "K",
        "М": "M",
        "Н": "H",
        "О": "O",
        "Р": "P",
        "С": "C",
        "Т": "T",
        "Х": "X",
        "І": "I",
        "Ј": "J",
        "Ѕ": "S",
        "α": "a",
        "ε": "e",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "Α": "A",
        "Β": "B",
        "Ε": "E",
        "Η": "H",
        "Ι": "I",
        "Κ": "K",
        "Μ": "M",
        "Ν": "N",
        "Ο": "O",
        "Ρ": "P",
        "Τ": "T",
        "Χ": "X",
        "Υ": "Y",
        "Ζ": "Z",
    }
)


def fold(text: str) -> str:
    """Text as a reader sees it: format characters (zero-width, soft hyphen, bidi) gone, NFKC, look-alikes folded."""
    visible = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return unicodedata.normalize("NFKC", visible).translate(_CONFUSABLES)


# --- links -------------------------------------------------------------------------------------------

_DOT = r"(?:\.|\s+\.\s+|\s*[\[({]\s*(?:\.|dot|punkt)\s*[\])}]\s*)"
_LABEL = r"[^\W_](?:[\w-]{0,62}[^\W_])?"
_SCHEME_URL = re.compile(r"\b[a-z][a-z0-9+.-]{1,20}\s*(?::|\[:\]|\(:\))\s*/\s*/", re.IGNORECASE)
# Schemes that need no "//" (and an obfuscated "hxxp"): anything after them is a link target.
_BARE_SCHEME = re.compile(
    r"\b(?:mailto|javascript|vbscript|data|file|tel|sms|callto|skype|whatsapp|tg|magnet|intent|blob|"
    r"hxxps?|ftp|irc|xmpp|sip)\s*:\s*[\w/%+#]",
    re.IGNORECASE,
)
_SPACED_SCHEME = re.compile(r"(?:https?|hxxps?|ftp)(?::|\[:\])//", re.IGNORECASE)
_WWW = re.compile(rf"\bwww\d{{0,3}}{_DOT}", re.IGNORECASE)
_EMAIL = re.compile(
    rf"[\w.%+-]{{1,64}}\s*(?:@|[\[({{]\s*(?:at|ät)\s*[\])}}])\s*{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}[a-z]{{2,}}",
    re.IGNORECASE,
)
_MARKDOWN = re.compile(r"!?\[[^\[\]\n]{0,300}\]\([^()\n]*\)")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_CHAIN = re.compile(rf"(?<![\w-]){_LABEL}(?:{_DOT}{_LABEL})+", re.IGNORECASE)
_SPLIT_DOT = re.compile(_DOT, re.IGNORECASE)

# Generic and well-known top-level domains; any two letters count as a country code.
_TLDS: frozenset[str] = frozenset(
    {
        "com",
        "net",
        "org",
        "info",
        "biz",
        "edu",
        "gov",
        "mil",
        "int",
        "name",
        "pro",
        "mobi",
        "aero",
        "asia",
        "cat",
        "coop",
        "jobs",
        "museum",
        "tel",
        "travel",
        "xxx",
        "app",
        "dev",
        "page",
        "io",
        "online",
        "site",
        "website",
        "web",
        "shop",
        "store",
        "club",
        "top",
        "live",
        "link",
        "click",
        "blog",
        "tech",
        "space",
        "fun",
        "icu",
        "vip",
        "xyz",
        "cloud",
        "digital",
        "world",
        "today",
        "news",
        "email",
        "media",
        "agency",
        "network",
        "systems",
        "solutions",
        "services",
        "group",
        "company",
        "center",
        "game",
        "games",
        "play",
        "video",
        "tube",
        "social",
        "chat",
        "porn",
        "sex",
        "casino",
        "bet",
        "win",
        "bid",
        "loan",
        "money",
        "swiss",
        "berlin",
        "wien",
        "hamburg",
        "koeln",
        "cologne",
        "bayern",
        "nrw",
        "ruhr",
        "saarland",
        "zuerich",
        "gmbh",
        "schule",
        "kaufen",
        "jetzt",
        "haus",
        "auto",
        "bio",
        "art",
        "wiki",
        "lol",
        "gay",
        "men",
        "kids",
        "family",
        "school",
        "university",
        "academy",
        "education",
    }
)
# Two-letter country codes that are also German words: "Ende.Es war" is a missing space, not a host.
_GERMAN_SHORT_WORDS: frozenset[str] = frozenset(
    {
        "er",
        "es",
        "du",
        "in",
        "im",
        "am",
        "an",
        "so",
        "da",
        "ja",
        "um",
        "zu",
        "ob",
        "wo",
        "je",
        "ab",
        "na",
        "oh",
        "ei",
        "la",
    }
)


def _is_host_suffix(label: str, tld: str) -> bool:
    lower = tld.lower()
    if not (lower.isascii() and lower.isalpha()) and not lower.startswith("xn--"):
        return False
    if not any(ch.isalpha() for ch in label):
        return False  # "3.OG", "1.FC": a number with an abbreviation
    if len(lower) == 2:
        return not (tld.istitle() and lower in _GERMAN_SHORT_WORDS)
    return lower in _TLDS or lower.startswith("xn--")


def _has_host(text: str) -> bool:
    for chain in _CHAIN.finditer(text):
        labels = _SPLIT_DOT.split(chain.group(0))
        if any(_is_host_suffix(a, b) for a, b in itertools.pairwise(labels)):
            return True
    return bool(_IPV4.search(text))


def find_links(text: str) -> list[str]:
    """The kinds of link in a plain visible text (after tags, entities and format characters are gone)."""
    folded = fold(text)
    kinds: list[str] = []
    if _MARKDOWN.search(folded):
        kinds.append("a Markdown link or image")
    if _EMAIL.search(folded):
        kinds.append("an e-mail address")
    despaced = re.sub(r"\s+", "", folded)
    if (
        _SCHEME_URL.search(folded)
        or _BARE_SCHEME.search(folded)
        or _SPACED_SCHEME.search(despaced)
        or _WWW.search(folded)
        or (not kinds and _has_host(folded))
    ):
        kinds.append("a web address or host name")
    return kinds


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


def carries_disclosure(text: str) -> bool:
    """Whether a visible text holds the disclosure however it is spaced, bracketed, cased or spelt with
    look-alike letters: how an AI comment is recognised on a page, ours or another installation's."""
    return _DISCLOSURE_SKELETON in _skeleton(text)


# --- the operator's own line ------------------------------------------------------------------------

_LINE_BREAKS = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def extra_line_problems(line: str) -> list[str]:
    """Why an operator's line may not follow the disclosure; empty when it may."""
    if not line.strip():
        return ["is blank; leave it unset for no line of your own"]
    problems: list[str] = []
    if _LINE_BREAKS.search(line):
        problems.append("must be a single line")
    elif any(unicodedata.category(ch) in ("Cc", "Cf") for ch in line):
        problems.append("contains control or invisible characters")
    if len(line.strip()) > EXTRA_LINE_MAX_LENGTH:
        problems.append(f"is longer than {EXTRA_LINE_MAX_LENGTH} characters")
    if is_disclosure_like(line):
        problems.append("looks like the AI disclosure; it may only add to it, never repeat or replace it")
    problems.extend(f"contains {kind}" for kind in find_links(line))
    return problems
