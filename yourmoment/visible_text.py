"""What a reader sees of a text: invisible characters gone, bidi order applied, look-alikes folded (ICU).

Two forms, for two uses. `shown` is what may be posted: the text without the characters that change
how it is displayed while showing nothing themselves (bidi overrides and isolates, zero-width and
other format characters, every default-ignorable code point, private-use characters). `fold` is what
the rules check: `shown`, NFKC, then each remaining character by its confusable skeleton from
Unicode's UTS #39 data (ICU's SpoofChecker), every dot-like character as ".", every at sign as "@".
`visual` is the order a browser displays a line in (ICU's bidi algorithm), which differs from the
stored order only around right-to-left characters and overrides.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from types import ModuleType
from typing import Protocol

# Skeletons of the characters that read as a full stop: ".", the middle dot (skeleton of bullets,
# hyphenation point, katakana middle dot, dot operator …) and the low ring ICU gives ideographic stops.
DOT_SKELETONS: frozenset[str] = frozenset({".", "\u00b7", "\u02f3"})
# Punctuation and symbols named as one dot that UTS #39 does not map to one (raised dot, Z notation
# spot, stops of other scripts).
_DOT_NAME = re.compile(
    r"(?:FULL STOP|\bDOT|\bSPOT|^BULLET|WHITE BULLET|BULLET OPERATOR|DOT OPERATOR|HYPHENATION POINT|RING POINT)$"
)
# Characters UTS #39 leaves alone although they display as blank space.
_BLANK_GLYPHS: frozenset[str] = frozenset({"\u2800"})
# The bidi controls; a line holding one (or a right-to-left letter) may be displayed in another order.
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_RIGHT_TO_LEFT = frozenset({"R", "AL"})
# What `shown` removes (ICU's set syntax): default-ignorable code points (zero-width, bidi, variation
# selectors, fillers, tags), format and control characters but tab and line breaks, private use.
_INVISIBLE_SET = r"[[:Default_Ignorable_Code_Point:][:Cf:][:Cc:][:Co:][:Cs:]-[\t\n\r]]"


@functools.cache
def _icu() -> ModuleType:
    """PyICU, imported with the first text that needs it (an idle worker never loads it)."""
    import icu

    module: ModuleType = icu  # untyped: no stubs exist for PyICU
    return module


@functools.cache
def _invisible() -> re.Pattern[str]:
    found = _icu().UnicodeSet(_INVISIBLE_SET)
    ranges = [(found.getRangeStart(i), found.getRangeEnd(i)) for i in range(found.getRangeCount())]
    return re.compile("[" + "".join(f"\\U{_code(a):08x}-\\U{_code(b):08x}" for a, b in ranges) + "]")


def _code(char: str) -> int:
    """The code point of one character as PyICU returns it (a UTF-16 surrogate pair beyond the BMP)."""
    return ord(char.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass"))


_ASCII_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def shown(text: str) -> str:
    """The text as it may be posted: NFC, every invisible or display-changing character removed."""
    if text.isascii():
        return _ASCII_CONTROLS.sub("", text)
    return unicodedata.normalize("NFC", _invisible().sub("", text))


def invisible_characters(text: str) -> int:
    """How many characters `shown` would remove."""
    if text.isascii():
        return len(_ASCII_CONTROLS.findall(text))
    return len(_invisible().findall(text))


def may_reorder(text: str) -> bool:
    """Whether a browser may display the text in another order than it is stored."""
    return bool(_BIDI_CONTROLS.search(text)) or any(
        unicodedata.bidirectional(ch) in _RIGHT_TO_LEFT for ch in text if not ch.isascii()
    )


def visual(text: str) -> str:
    """Each line in the order it is displayed (left to right on screen), bidi controls applied and removed."""
    if not may_reorder(text):
        return text
    icu = _icu()
    lines = []
    for line in text.split("\n"):
        bidi = icu.Bidi()
        bidi.setPara(icu.UnicodeString(line))
        lines.append(str(bidi.writeReordered(icu.Bidi.REMOVE_BIDI_CONTROLS)))
    return "\n".join(lines)


class _SpoofChecker(Protocol):
    """What this module uses of ICU's SpoofChecker."""

    def getSkeleton(self, checks: int, text: str) -> str: ...


class _Transliterator(Protocol):
    """What this module uses of ICU's Transliterator."""

    def transliterate(self, text: str) -> str: ...


@functools.cache
def _spoof_checker() -> _SpoofChecker:
    checker: _SpoofChecker = _icu().SpoofChecker()
    return checker


def skeleton(text: str) -> str:
    """Unicode's confusable skeleton (UTS #39): equal skeletons mean the texts can look alike."""
    return str(_spoof_checker().getSkeleton(0, text))


@functools.cache
def _ascii_by_skeleton() -> dict[str, tuple[str, ...]]:
    """Printable ASCII grouped by skeleton: "l" for l, I, 1 and |; "rn" for m; "O" for O and 0."""
    groups: dict[str, list[str]] = {}
    for code in range(0x21, 0x7F):
        groups.setdefault(skeleton(chr(code)), []).append(chr(code))
    return {key: tuple(chars) for key, chars in groups.items()}


def _ascii_twin(ch: str, key: str) -> str | None:
    """The ASCII character that looks like `ch` (same skeleton), of the same kind: upper, lower, digit."""
    twins = _ascii_by_skeleton().get(key, ())
    for same_kind in (str.isupper, str.islower, str.isdigit):
        if same_kind(ch):
            for twin in twins:
                if same_kind(twin):
                    return twin
    if twins:
        return twins[0]
    return key if key.isascii() and key.isprintable() else None


@functools.cache
def _transliterator() -> _Transliterator:
    transliterator: _Transliterator = _icu().Transliterator.createInstance("Any-Latin; Latin-ASCII")
    return transliterator


def _transliterated(ch: str) -> str | None:
    """A letter UTS #39 does not fold read as its ASCII letter: of another script (Cyrillic м, к) or a
    Latin letter of its own (small capitals ʙ, ᴄ); letters with accents and umlauts stay as they are."""
    if not unicodedata.category(ch).startswith("L") or unicodedata.decomposition(ch):
        return None
    latin = str(_transliterator().transliterate(ch))
    return latin if len(latin) == 1 and latin.isascii() and latin.isalpha() else None


@functools.lru_cache(maxsize=8192)
def _fold_char(ch: str) -> str:
    category = unicodedata.category(ch)
    if category in ("Mn", "Me"):
        return ""  # marks left over after NFKC composed what it could: the letter underneath is read
    if category == "Zs" or ch in _BLANK_GLYPHS:
        return " "
    if category == "Pd":
        return "-"  # every dash reads as one: en and em dashes, hyphens, the minus-like ones
    key = skeleton(ch)
    if key in DOT_SKELETONS or (category[0] in "PS" and _DOT_NAME.search(unicodedata.name(ch, ""))):
        return "."
    if key == "@":
        return "@"
    if key != ch and (twin := _ascii_twin(ch, key)) is not None:
        return _same_case(ch, twin)
    return _same_case(ch, _transliterated(ch) or ch)


def _same_case(ch: str, read: str) -> str:
    """A small capital (ʙ) is a lower-case letter and reads as "b"."""
    return read.lower() if ch.islower() else read


def fold(text: str) -> str:
    """The text as the rules read it: `shown`, NFKC, look-alikes as their ASCII twins, dots as ".", ats as "@"."""
    normal = unicodedata.normalize("NFKC", shown(text))
    if normal.isascii():
        return normal
    return "".join(ch if ch.isascii() else _fold_char(ch) for ch in normal)
