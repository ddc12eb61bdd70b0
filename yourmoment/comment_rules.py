"""The absolute rules on a comment's text, in one home: the disclosure first and never contradicted, no link."""

from __future__ import annotations

import difflib
import html
import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

# find_links and fold are part of this module's interface (the link rule, the folding the rules compare by).
from yourmoment.links import find_links as find_links
from yourmoment.visible_text import fold as fold
from yourmoment.visible_text import invisible_characters, may_reorder, shown, visual

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


def carries_disclosure(text: str) -> bool:
    """Whether a visible text holds the disclosure however it is spaced, bracketed, cased or spelt with
    look-alike letters: how an AI comment is recognised on a page, ours or another installation's."""
    return _DISCLOSURE_SKELETON in _skeleton(text)


# --- lines that contradict the disclosure --------------------------------------------------------------
#
# The disclosure says an AI wrote the comment; no other line may say otherwise. Three speech acts do:
# a claim that a person wrote it (or is speaking), a denial or mockery of the first line, and a
# signature with a person's name or role. They are told by their shape (who is the subject, what is
# said of it, where the line stands) on the words as a reader sees them: folded, casefolded, umlauts
# and ß spelt out, letters spaced apart joined. Feedback that mentions people ("Deine Lehrerin wird
# sich freuen") or speaks in the first person about the text ("Ich finde deinen Schluss spannend") has
# none of these shapes. What counts: docs/rules.md#what-contradicts-the-disclosure.

CLAIMS_A_PERSON = "claims or implies that a person wrote the comment"
DENIES_THE_DISCLOSURE = "denies or mocks the disclosure"
SIGNS_AS_A_PERSON = "signs with a person's name or role"
IMITATES_THE_DISCLOSURE = "repeats or imitates the disclosure"


def _one_of(words: str) -> str:
    """A regex alternative of the words, longest first."""
    return "(?:" + "|".join(sorted(words.split(), key=len, reverse=True)) + ")"


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# People and the roles a writer could claim; some take compounds ("Klassenlehrerin", "Grossmutter").
_COMPOUNDING_ROLES = _one_of(
    "lehrer lehrerin lehrperson lehrkraft kamerad kameradin kollege kollegin nachbar nachbarin schueler "
    "schuelerin paedagoge paedagogin betreuer betreuerin erzieher erzieherin mutter vater freund freundin "
    "sozialarbeiter sozialarbeiterin"
)
_PLAIN_ROLES = _one_of(
    "mensch person frau herr mann junge maedchen kind erwachsener erwachsene mama mami papa papi eltern "
    "elternteil oma omi grosi nani opa neni tante onkel gotti goetti bruder schwester geschwister cousin "
    "cousine gotte goette schulleiter schulleiterin rektor rektorin klassenleiter klassenleiterin logopaede logopaedin "
    "trainer trainerin teacher human mom mum dad friend"
)
_ROLE = rf"(?:[a-z]*{_COMPOUNDING_ROLES}|{_PLAIN_ROLES})(?:innen|nen|en|er|e|n|s)?"
_TITLE_WORDS = _word_set("frau herr herrn fraeulein dr prof")
_TITLE = _one_of(" ".join(_TITLE_WORDS))
_MACHINE = _one_of(
    "ki ai bot bots chatbot chatbots roboter robot robots computer maschine programm software "
    "algorithmus automat sprachmodell llm chatgpt gpt textgenerator kibot schreibroboter textroboter"
)
_MACHINE_WORDS = frozenset(_MACHINE[3:-1].split("|")) | {"kuenstliche", "intelligenz", "chat"}
_MACHINE_PHRASE = rf"(?:kuenstlichen? intelligenz|{_MACHINE})"
_DET = _one_of(
    "ein eine einer einen einem der die das den dem dein deine deiner deinen deinem euer eure eurer euren"
)
_NEG = _one_of("nicht kein keine keiner keinen keinem keines nie niemals not no")
_ADV_WORDS = _one_of(
    "wirklich echt tatsaechlich natuerlich nur auch ja doch eigentlich uebrigens naemlich wohl halt eben "
    "selbst ganz einfach bloss heute hier jetzt schon nun zwar definitiv sicher bestimmt garantiert "
    "wahrhaftig ehrlich also trotzdem immer noch"
)
_ADV = rf"(?:in wirklichkeit|in echt|in wahrheit|{_ADV_WORDS})"
_ADJ = r"[a-z]+(?:e|er|es|en|em)"
_SELF = r"(?:ich|wir)"
_BE = r"(?:bin|bins|sind|war|waren|waere|waeren)(?: s)?(?: ,)?"
_NP = rf"(?:{_DET} )?(?:(?:{_ADJ}|{_ADV}) ){{0,3}}{_ROLE}"
_COMMENT = _one_of("kommentar kommentars nachricht zeilen rueckmeldung feedback worte antwort")
_THIS_COMMENT = rf"(?:dies\w*(?: {_COMMENT})?|das hier|den kommentar|diese zeilen)"
_WRITTEN = _one_of("geschrieben verfasst getippt formuliert erstellt")
_WRITES = _one_of("schreibt schreiben tippt tippen verfasst antwortet antworten kommentiert")
_ABOUT_THE_STORY = re.compile(
    r"\b(?:dein\w*|geschichte|gedicht|strophe|text|titel|erzaehlung|figur\w*|wort|woerter|komma|"
    r"buchstabe\w*|rechtschreibung|grammatik|schreibst|geschrieben|schreibt man|reim\w*|zeitform)\b"
)

_PERSON_CLAIMS = (
    # "Ich bin (wirklich) deine Lehrerin", "Natürlich bin ich ein echter Mensch", "wir sind Menschen"
    rf"\b{_SELF} {_BE}(?: {_ADV})* {_NP}\b(?! von| vom| der| des)",
    rf"\b{_BE} {_SELF}(?: {_ADV})* {_NP}\b(?! von| vom| der| des)",
    # "Ich, deine Lehrerin, ...", "ich als deine Mama", "ich schreibe dir als Lehrerin", "Als Kind habe ich"
    rf"\b{_SELF} , {_NP}\b",
    rf"\b{_SELF}(?: (?!dich|euch|ihn|sie|es|das|den|die|der)\w+){{0,2}} als {_NP}\b",
    rf"(?:^|, )als {_NP}(?: \w+){{0,3}} (?:ich|wir|mir|mich|uns)\b",
    # "Ich bin echt.", "ich bin menschlich", "aus Fleisch und Blut"
    rf"\b{_SELF} {_BE}(?: {_ADV})* (?:echt|real|lebendig)(?: ,| und|$)",
    rf"\b{_SELF} {_BE}(?: {_ADV})* (?:menschlich|ein lebewesen)\b",
    r"\baus fleisch und blut\b",
    # "Hier schreibt deine Lehrerin", "Dir schreibt ein echter Mensch", "hier ist deine Mama."
    rf"\b(?:hier|dir|euch) (?:{_WRITES}|spricht|sprechen|meldet sich)(?: \w+){{0,2}} {_NP}\b",
    rf"\bhier (?:ist|sind)(?: {_ADV})* {_NP}(?: ,| und|$)",
    # "Ein echter Mensch hat diesen Kommentar geschrieben", "deine Lehrerin schreibt dir das hier"
    rf"\b{_NP} (?:hat|haben|hatte|hatten) (?:dir |euch )?(?:{_THIS_COMMENT}|das) (?:\w+ ){{0,2}}{_WRITTEN}\b",
    rf"\b(?:{_THIS_COMMENT}|dies\w* text) (?:hat|haben|hatte|hatten) {_NP} (?:\w+ ){{0,2}}{_WRITTEN}\b",
    rf"\b{_THIS_COMMENT} (?:\w+ ){{0,3}}von {_NP} (?:\w+ )?{_WRITTEN}\b",
    rf"\b{_WRITTEN} (?:\w+ )?von {_NP}\b",
    # "Hinter diesen Zeilen steckt deine Lehrerin", "Es grüsst dich deine Lehrerin"
    rf"\bhinter (?:dies\w*|dem|den) (?:{_COMMENT}|text|bildschirm)(?: \w+){{0,4}} {_NP}\b",
    rf"\bgruess(?:t|en)(?: dich| euch| dir| herzlich)* {_NP}\b",
    # "Du sprichst hier mit einem echten Menschen", "von Hand geschrieben"
    rf"\b(?:sprichst|redest|chattest)(?: \w+){{0,2}} mit {_NP}\b",
    r"\b(?:von hand|mit der hand|eigenhaendig|hoechstpersoenlich|handgeschrieben)\b",
)
_PERSON_CLAIM = re.compile("|".join(_PERSON_CLAIMS))
_SQUASHED_CLAIM = re.compile(
    rf"(?:ich|wir)(?:bin|sind)\w{{0,24}}?(?:{_COMPOUNDING_ROLES}|{_PLAIN_ROLES}|{_MACHINE}|echt|real)"
)
# A teacher's, classmate's or parent's life in the first person: "meine Schüler", "in unserer Klasse",
# "ich unterrichte", "wir sehen uns morgen", "meine Mama sagt immer". Judged outside quotes: a pupil's
# title «Meine Mama ist die Beste» is no claim.
_FIRST_PERSON_LIFE = re.compile(
    r"\b(?:mein|meine|meiner|meinen|meinem|meines)(?: \w+)? (?:klasse|schulklasse|\w*schueler\w*|"
    r"klassenkamerad\w*|\w*lehrer\w*|kinder|tochter|sohn|mama|mami|mutter|papa|papi|vater|eltern|oma|opa|"
    r"grosi|bruder|schwester|geschwister|familie|ehemann|ehefrau|enkel\w*)\b"
    r"|\b(?:unser|unsere|unserer|unseren|unserem|unseres) (?:klasse|schule|schulhaus|klassenzimmer|pause|"
    r"schulreise|klassenlager|turnhalle|\w*lehrer\w*|klassenkamerad\w*|mitschueler\w*|lehrperson)\b"
    r"|\b(?:ich unterrichte|wir sehen uns|bis morgen in der schule|ich kenne dich|wir kennen uns|ich wohne)\b"
    r"|\b(?:ich|wir)\b(?: \w+){0,4} (?:in der pause|im unterricht|im schulhaus|auf dem pausenplatz|neben dir|"
    r"in deiner klasse|in deine klasse|in unserer klasse|in die gleiche klasse|in der gleichen klasse)\b"
    r"|\b(?:ich|wir|uns)\b(?: \w+){0,3} aus (?:der|deiner|unserer) (?:\w+ )?klasse\b"
    r"|\bich habe dich (?:\w+ ){0,4}gesehen\b|^bis (?:morgen|montag|dienstag|mittwoch|donnerstag|freitag)\b"
    r"|\bich bin (?:\w+ ){1,2}jahre alt\b|\b(?:ich gehe|wir gehen) (?:\w+ ){0,3}(?:klasse|schule)\b"
)
# "Das schreibt dir deine Mama", but not "Deine Lehrerin wird dir sicher schreiben".
_PERSON_WRITES_NOW = re.compile(
    rf"\b{_WRITES} (?:dir|euch) {_NP}\b|\b{_NP} {_WRITES} (?:dir|euch)$"
    rf"|\b{_NP} {_WRITES} (?:dir |euch )?(?:das hier|diese zeilen|dies\w* {_COMMENT})\b"
)
_MAYBE = re.compile(r"\b(?:wird|werden|bestimmt|sicher|vielleicht|bald|morgen|kann|koennte|sollte|moechte)\b")
# "Mama ist stolz auf dich!": parents and grandparents speak of themselves by their role.
_SPEAKS_OF_ITSELF_AS_KIN = re.compile(
    r"^(?:mama|mami|papa|papi|oma|omi|opa|grosi|nani|gotti|goetti) (?:\w+ ){0,4}(?:dich|dir|euch)\b"
)
_IN_THE_STORY = re.compile(r"\bin (?:deiner|deinem|der|dem) (?:geschichte|text|gedicht|erzaehlung)\b")
# "Ich bin keine KI", "Das hier schreibt kein Roboter", "nicht von einem Computer geschrieben"
_DENIES_MACHINE = re.compile(
    rf"\b(?:{_SELF}|das hier|dies\w*(?: {_COMMENT})?|hier|es) (?:{_BE}|ist|schreibt|spricht|antwortet)"
    rf"(?: {_ADV})* {_NEG}(?: {_DET})?(?: {_ADJ}){{0,2}} {_MACHINE_PHRASE}\b"
    rf"|\b{_NEG} (?:von )?(?:{_DET} )?(?:{_ADJ} ){{0,2}}{_MACHINE_PHRASE} (?:\w+ ){{0,4}}(?:{_WRITTEN}|"
    r"generiert|geantwortet|geschickt)\b"
    r"|\bnicht (?:automatisch|maschinell|kuenstlich) (?:geschrieben|erstellt|generiert|verfasst)\b"
)

_UP_THERE = r"(?:oben|am anfang|in (?:den )?(?:eckigen )?klammern|in der ersten zeile|vor diesem satz)"
# The first line as something a sentence speaks of ("der Hinweis oben", "das mit der KI").
_FIRST_LINE = re.compile(
    r"\b(?:hinweis|satz|zeile|text|angabe|vermerk|markierung|kennzeichnung|klammer|klammern|disclaimer|"
    rf"warnung|info|information|notiz|teil|absatz|kommentar|das|was|alles)(?: da| ganz)? {_UP_THERE}\b"
    r"|\b(?:obere|oberen|obige|obigen|obiger|obiges)\b|\boben steht\b|\bsteht oben\b"
    rf"|\b(?:das|die sache|der teil|der satz) mit (?:der|dem) {_MACHINE_PHRASE}\b"
    rf"|\b{_MACHINE_PHRASE} (?:hinweis|angabe|satz|zeile|teil|sache|kennzeichnung|label|vermerk|info|warnung|"
    r"zeug)\b"
    r"|\bder hinweis\b(?! (?:auf|des|der|von|vom|zum|zur|im|in|dass|mit))"
    r"|\bdisclaimer\b"
)
# The pupil's text has a first line too ("Im ersten Satz fehlt ein Komma"): only without such words.
_OPENING = re.compile(r"\b(?:erste|ersten|erster|erstes) (?:zeile|satz|absatz|teil|hinweis|klammer)\b")
_DISMISSES = re.compile(
    r"\b(?:vergiss|vergesst|vergessen sie|ignorier\w*|ueberlies|ueberlest|ueberles\w*|"
    r"(?:kannst|darfst|koennt|duerft) (?:du |ihr )?(?:\w+ )?(?:vergessen|ueberspringen)|"
    r"beachte\w* (?:\w+ ){0,3}nicht|nicht beachten|nicht ernst|glaub\w* (?:\w+ ){0,3}(?:nicht|kein\w*)|"
    r"achte\w* nicht|gelogen|luege|luegen|luegt|quatsch|unsinn|bloedsinn|scherz|witz|fake|erfunden|"
    r"gilt nicht|nicht wahr|stimmt nicht|stimmt gar nicht|stimmt so nicht|nicht echt|falscher alarm|"
    r"reingelegt)\b"
)
# The disclosure's own words, which a pupil's story seldom uses (unlike "Roboter" or "Computer").
_MENTIONS_THE_AI = re.compile(r"\b(?:ki|ai|chatbot|bot|kuenstliche intelligenz)\b")
# Weaker: also said of a pupil's sentence ("Im ersten Satz ist ein Wort falsch"), so not of the story.
_WRONG = re.compile(r"\b(?:falsch\w*|irrtum|fehler|egal|spass|nicht richtig)\b")
# Editing advice for the pupil ("Streich den ersten Satz") unless the first line is named for sure.
_REMOVES = re.compile(r"\b(?:streich\w*|loesch\w*|ueberspring\w*)\b")
_NOT_FORGETTING = re.compile(r"\b(?:vergiss|vergesst) (?:\w+ )?nicht\b")
# A whole sentence of mockery: "Nur ein Scherz!", "April, April!", "Haha, reingelegt."
_JOKE_WORDS = _word_set("scherz scherzchen witz spass april reingelegt reingefallen kidding")
_LAUGHTER = re.compile(r"(?:h[aeiy])+h?|lol|xd")
_FILLER_WORDS = _word_set(
    "das war ist nur bloss ein kleiner natuerlich alles oben haha hihi hehe lol jk klar doch eh ja , - just "
    "am anfang da ganz mit der dem ki"
)

# Sign-offs: a greeting that takes a signer ("Liebe Grüsse, Frau Meier") or a parting ("Bis bald").
_GREETING = re.compile(
    r"^(?:\w+ ){0,3}gru(?:e|ee)?ss\w*"
    r"|^(?:lg|glg|vg|mfg|hg|herzlich|herzlichst|alles liebe|in liebe|gez|gezeichnet|unterschrift|best|"
    r"cheers|love|regards|yours|sincerely|xoxo|hdl)\b"
)
_PARTING = re.compile(
    r"^(?:bis zum naechsten mal|bis \w+|tschuess|tschau|ciao|adieu|servus|bye|auf wiedersehen)\b"
)
_SIGNER = re.compile(
    rf"(?:(?:dein|deine|euer|eure|von|vom) )?(?:{_DET} )?(?:{_ADJ} )?(?P<role>{_ROLE})?(?: ?(?P<title>{_TITLE}))?"
)
_NOT_A_SIGNER = _word_set(
    "an und zu zum zur fuer aus nach in im auf bis mit auch noch dir euch dich uns mir mich ins beim "
    "weiter so viel viele schreib willkommen gerne gern danke"
)
# A comma, a hyphen standing alone, and a signature dash (en or em dash, "--", "~").
_RELATIVE = (("der",), ("die",), ("das",), ("welcher",), ("welche",))
_MARKS = (",", "-")  # a comma, a dash standing alone (fold() makes every dash a hyphen)


@dataclass(frozen=True)
class _Sentence:
    """One sentence as words: casefolded with umlauts spelt out (commas and dashes as words of their
    own), and which of them were capitalised as shown."""

    words: tuple[str, ...]
    capitals: tuple[bool, ...]
    spaced: bool = False  # letters were written apart

    @property
    def plain(self) -> str:
        return " ".join(self.words)

    def after(self, count: int) -> _Sentence:
        return _Sentence(self.words[count:], self.capitals[count:])

    def without_marks(self) -> _Sentence:
        keep = [i for i, w in enumerate(self.words) if w not in _MARKS]
        return _Sentence(tuple(self.words[i] for i in keep), tuple(self.capitals[i] for i in keep))


_SENTENCE_BREAK = re.compile(r"(?<=[.!?…;])\s+")
# "Frau Dr. Brunner", "Gez. Meier", "z. B.": a full stop that ends no sentence.
_ABBREVIATION = re.compile(
    r"(?:^|\s)(?:dr|prof|gez|st|nr|bzw|ca|vgl|usw|etc|co|bsp|evtl|inkl|bd|kap|abs|[^\W\d_])\.$", re.IGNORECASE
)
_PIECE = re.compile(r"[^\W_]+|,|(?:^|(?<=\s))[-~]+(?=\s|$)")
_LEET = str.maketrans("0134578", "oieastb")


def _spell_out(word: str) -> str:
    word = word.casefold().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    if any(ch.isdigit() for ch in word) and any(ch.isalpha() for ch in word):
        word = word.translate(_LEET)  # "L3hrerin", "M3nsch"
    return word


def _sentence(text: str) -> _Sentence:
    words: list[str] = []
    capitals: list[bool] = []
    letters: list[str] = []  # single letters in a row: "L e h r e r i n", "K.I."

    def add(piece: str) -> None:
        words.append("-" if piece[0] in "-~" else _spell_out(piece))
        capitals.append(piece[:1].isupper())

    spaced = False
    for piece in [*_PIECE.findall(text), ""]:
        if len(piece) == 1 and piece.isalpha():
            letters.append(piece)
            continue
        if letters:
            spaced = spaced or len(letters) > 2
            add("".join(letters))
            letters.clear()
        if piece:
            add(piece)
    return replace(_without_names_after_titles(words, capitals), spaced=spaced)


def _without_names_after_titles(words: list[str], capitals: list[bool]) -> _Sentence:
    """ "Frau Dr. Meier" reads as "frau": what is said of a titled person is said of a person."""
    kept: list[int] = []
    after_title = 0  # capitalised words dropped since the last title
    for i in range(len(words)):
        if i and capitals[i] and after_title < 2 and (words[i - 1] in _TITLE_WORDS or after_title):
            after_title += 1
            continue
        after_title = 0
        kept.append(i)
    return _Sentence(tuple(words[i] for i in kept), tuple(capitals[i] for i in kept))


_QUOTED = re.compile(r"«[^«»]*»|„[^„“”]*[“”]|“[^“”]*”|\"[^\"]*\"|‹[^‹›]*›")


@dataclass(frozen=True)
class _Said:
    """A sentence whole, and what it says in its own words: a quotation with words around it ("Deine
    Figur sagt: «Ich bin kein Roboter!»") is someone else's, a quotation alone is the writer's."""

    whole: _Sentence
    own: _Sentence
    only_quoted: bool = False  # the sentence is one quotation and nothing else


def _sentences(line: str) -> list[_Said]:
    parts: list[str] = []
    for part in _SENTENCE_BREAK.split(_QUOTED.sub(_quote_kept_whole, fold(line))):
        if parts and _ABBREVIATION.search(parts[-1]):
            parts[-1] += f" {part}"
        elif part.strip():
            parts.append(part)
    said = []
    for part in parts:
        whole, outside = _sentence(part), _sentence(_QUOTED.sub(" ", part))
        only_quoted = not outside.words and bool(_QUOTED.fullmatch(part.strip(" .!?…;:")))
        said.append(_Said(whole, outside if len(outside.words) >= 2 else whole, only_quoted))
    return said


# Stands for a space inside a quotation while sentences are split: not whitespace to the splitter (a
# no-break space would be), not a word character to _PIECE, and never in folded text (private use).
_QUOTED_SPACE = "\ue000"


def _quote_kept_whole(quote: re.Match[str]) -> str:
    """A quotation is part of the sentence around it: no sentence ends inside it."""
    return re.sub(r"\s+", _QUOTED_SPACE, quote.group(0))


def _claims_a_person(s: _Sentence, *, only_quoted: bool = False) -> bool:
    """A claim to be a person. A line that is one quotation and nothing else still claims what it says
    of itself ("«Ich bin deine Lehrerin.»"), but a first-person life inside it is the pupil's narrative
    quoted back («ich war in der schule.in der pause …», «Mein Vater fährt Taxi»), not the writer's."""
    plain = s.plain
    if _PERSON_CLAIM.search(plain) or _DENIES_MACHINE.search(plain):
        return True
    if not only_quoted and _FIRST_PERSON_LIFE.search(plain):
        return True
    if _PERSON_WRITES_NOW.search(plain) and not _MAYBE.search(plain):
        return True
    if not only_quoted and _SPEAKS_OF_ITSELF_AS_KIN.search(plain) and not _IN_THE_STORY.search(plain):
        return True
    return _names_itself(s) or _spaced_claim(s)


def _names_itself(s: _Sentence) -> bool:
    """ "Ich bin Anna.", "Ich heisse Tim", "ich bin der Luca aus …", "Mein Name ist Frau Meier": the
    writer with a person's name."""
    words, capitals = s.words, s.capitals
    for i in range(len(words)):
        if words[i : i + 3] == ("mein", "name", "ist"):
            start = i + 3
        elif words[i : i + 2] in (("ich", "heisse"), ("ich", "heiss"), ("ich", "bin"), ("ich", "war")):
            start = i + 2
        else:
            continue
        name = start + (start < len(words) and words[start] in ("der", "die"))
        if name >= len(words) or words[name] in _MACHINE_WORDS or not capitals[name]:
            continue
        after = words[name + 1] if name + 1 < len(words) else None
        if words[i + 1] in ("bin", "war") and after not in (None, "und", "aus", *_MARKS):
            continue  # "Ich bin Fan von …" is no name
        return True
    return False


def _spaced_claim(s: _Sentence) -> bool:
    """ "I c h  b i n  d e i n e  L e h r e r i n": words run together once letters are spaced apart."""
    return s.spaced and bool(_SQUASHED_CLAIM.search("".join(s.words)))


def _denies_the_disclosure(s: _Sentence) -> bool:
    plain = s.plain
    if _NOT_FORGETTING.search(plain):
        return False
    about_the_story = _ABOUT_THE_STORY.search(plain)
    if _MENTIONS_THE_AI.search(plain) and _DISMISSES.search(plain) and not about_the_story:
        return True  # "Das war nur ein Witz mit der KI"
    if _FIRST_LINE.search(plain):
        return bool(
            _DISMISSES.search(plain)
            or _REMOVES.search(plain)
            or (_WRONG.search(plain) and not about_the_story)
        )
    if _OPENING.search(plain) and not about_the_story:
        return bool(_DISMISSES.search(plain) or _WRONG.search(plain))
    jokes = [w for w in s.words if w not in _FILLER_WORDS and not _LAUGHTER.fullmatch(w)]
    return bool(jokes) and set(jokes) <= _JOKE_WORDS


def _is_signer(s: _Sentence, *, bare_name: bool, signing: bool = False) -> bool:
    """Words that name someone as the writer: a role ("deine Lehrerin"), a title and a name ("Frau
    Meier"), or, where a sign-off stands, a name ("Anna", "von Tim", "Sarah und Ben"). After a greeting
    or a dash (`signing`), what follows the name ("aus der 4b", "Klasse 4b") does not matter."""
    s = s.without_marks()
    if signing:
        s = _before_affiliation(s)
    if not s.words or len(s.words) > 5 or s.words[0] in _NOT_A_SIGNER:
        return False
    if any(w in _MACHINE_WORDS for w in s.words):
        return False  # the bot signing as itself agrees with the disclosure
    head = _SIGNER.match(s.plain)
    rest = s.after(len(head.group(0).split())) if head and head.group(0) else s
    names = [c and w.isalpha() for w, c in zip(rest.words, rest.capitals, strict=True) if w != "und"]
    all_names = all(names) and rest.words != ("mir",)
    if head and head.group("role"):
        return all_names  # "Dein Lehrer", "Deine Klassenlehrerin Frau Meier"
    if head and head.group("title"):
        return all_names and bool(names)
    return bare_name and all_names and 0 < len(names) <= 3


def _before_affiliation(s: _Sentence) -> _Sentence:
    """ "Frau Gerber aus Bern", "Anna, Klasse 4b", "Frau Gerber und der ganzen Klasse": the signer first."""
    for i, word in enumerate(s.words[1:], 1):
        joins_others = word == "und" and i + 1 < len(s.words) and not s.capitals[i + 1]
        if word in ("aus", "klasse", "vom") or s.words[i : i + 2] == ("von", "der") or joins_others:
            return _Sentence(s.words[:i], s.capitals[:i])
    return s


def _signs(s: _Sentence, *, closing: bool) -> bool:
    """A sign-off naming a person: after a greeting ("Liebe Grüsse, Anna", "Grüsse aus Bern, Noah"),
    after a dash ("– Herr Keller, Klasse 4b"), or alone ("Dein Lehrer", "Frau Meier"); `closing` when
    the sentence ends the comment. A line written all in lower case has its names in lower case too."""
    if not s.words:
        return False
    if not any(s.capitals):
        s = _Sentence(s.words, (True,) * len(s.words))
    if s.words[0] == "-":  # "– Herr Keller"; "– Anna" only at the end, where it is no list item
        bare_name = closing and len(s.words) <= 3
        return any(_is_signer(part, bare_name=bare_name, signing=True) for part in _parts(s.after(1)))
    if greeting := _GREETING.match(s.plain):
        if s.words[len(greeting.group(0).split()) :][:1] in (("an",), ("dich",), ("dir",), ("euch",)):
            return False  # "Liebe Grüsse an Lina, Krümel und Herrn Müller": greetings to others
        return any(
            _is_signer(part, bare_name=True, signing=True)
            for part in _parts(s.after(len(greeting.group(0).split())))
        )
    if parting := _PARTING.match(s.plain):
        return _is_signer(s.after(len(parting.group(0).split())), bare_name=False)
    last = _parts(s)[-1]
    after_dash = len(last.words) < len(s.words) and s.words[-len(last.words) - 1] == "-"
    if after_dash and _is_signer(last, bare_name=closing, signing=True):
        return True  # "Toll gemacht – Anna"
    parts = _parts(s)
    if len(parts) > 1 and last.words[:1] in (("dein",), ("deine",), ("euer",), ("eure",)):
        return _is_signer(last, bare_name=False)  # "Ich bin stolz auf dich, deine Mama."
    if len(parts) == 2 and s.words[:1] in (("dein",), ("deine",)) and parts[1].words[:1] in _RELATIVE:
        return _is_signer(parts[0], bare_name=False)  # "Dein Papi, der stolz auf dich ist"
    return _is_signer(s, bare_name=closing and len(s.words) <= 3 and s.words[0] in ("dein", "deine", "von"))


def _parts(s: _Sentence) -> list[_Sentence]:
    """The pieces between commas and dashes: in "Liebe Grüsse aus Bern, Anna" the signer is one of them."""
    cuts = [-1, *(i for i, w in enumerate(s.words) if w in _MARKS), len(s.words)]
    return [_Sentence(s.words[a + 1 : b], s.capitals[a + 1 : b]) for a, b in itertools.pairwise(cuts)]


def _greets_only(s: _Sentence) -> bool:
    greeting = _GREETING.match(s.plain) or _PARTING.match(s.plain)
    return greeting is not None and not s.after(len(greeting.group(0).split())).without_marks().words


def contradiction(line: str, *, closing: bool = False) -> str | None:
    """How a line contradicts the disclosure (one of the kinds above), or None when it does not.

    `closing` tells that the line ends the comment: there a bare name ("Deine Anna") is a signature."""
    if is_disclosure_like(line):
        return IMITATES_THE_DISCLOSURE
    sentences = _sentences(line)
    for number, said in enumerate(sentences, 1):
        if _claims_a_person(said.own, only_quoted=said.only_quoted):
            return CLAIMS_A_PERSON
        if _denies_the_disclosure(said.own):
            return DENIES_THE_DISCLOSURE
        if not said.only_quoted and _signs(said.whole, closing=closing and number == len(sentences)):
            return SIGNS_AS_A_PERSON
    return None


def contradictions(lines: Sequence[str]) -> list[str]:
    """The kind of every line that contradicts the disclosure, in order. A greeting on a line of its own
    makes the line after it a sign-off ("Liebe Grüsse," then "Anna")."""
    found: list[str] = []
    greeted = False
    for number, line in enumerate(lines, 1):
        kind = contradiction(line, closing=number == len(lines))
        parts = _sentences(line)
        if kind is None and greeted and parts and _is_signer(parts[0].whole, bare_name=True, signing=True):
            kind = SIGNS_AS_A_PERSON
        if kind:
            found.append(kind)
        greeted = bool(parts) and _greets_only(parts[-1].whole)
    return found


# --- what a posted comment shows ---------------------------------------------------------------------
# Checked after generating, after a person's edit and again right before the POST: the one home of the
# absolute rules on a comment's text (docs/rules.md). The quality checks are in llm/gate.py.

_BREAKING_TAG = re.compile(r"<\s*(?:br|/?p|/?div)\b[^>]*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^>]*>")
_LINE_BREAK = re.compile(r"</p>|<br\s*/?>", re.IGNORECASE)


def disclosure_block(extra_line: str | None = None) -> str:
    """What every comment starts with: the fixed disclosure paragraph, then the operator's line if set."""
    block = f"<p>{html.escape(DISCLOSURE, quote=False)}</p>"
    return block + (f"<p>{html.escape(extra_line, quote=False)}</p>" if extra_line else "")


def visible_lines(comment_html: str) -> list[str]:
    """The comment as a reader sees it, one entry per paragraph or line break."""
    lines = _LINE_BREAK.split(comment_html)
    return [plain for line in lines if (plain := comment_plain_text(line))]


def disclosure_problems(comment_html: str) -> list[str]:
    """The disclosure first and only once: no copy, look-alike or line contradicting it anywhere else."""
    problems: list[str] = []
    if not comment_html.startswith(disclosure_block()):
        problems.append("The comment does not start with the disclosure paragraph.")
    lines = visible_lines(comment_html)
    others = lines[1:] if lines and lines[0] == DISCLOSURE else lines
    found = contradictions(others)
    if look_alikes := found.count(IMITATES_THE_DISCLOSURE):
        problems.append(f"The comment has {look_alikes} more disclosure-like line(s) besides the disclosure.")
    if contrary := [kind for kind in found if kind != IMITATES_THE_DISCLOSURE]:
        kinds = "; ".join(dict.fromkeys(contrary))
        problems.append(f"The comment has {len(contrary)} line(s) contradicting the disclosure ({kinds}).")
    return problems


def link_problems(comment_html: str) -> list[str]:
    """No link in any spelling in what a reader sees."""
    lines = visible_lines(comment_html)
    return [f"The comment contains a link: {kind}." for kind in find_links("\n".join(lines))]


def hidden_link_problems(raw: str) -> list[str]:
    """A link the answer displayed in another order (a reversed address inside a right-to-left override):
    the override is removed before posting, but the answer wrote a link all the same."""
    plain = comment_plain_text(raw)
    if not may_reorder(plain):
        return []
    if find_links(shown(plain)) or not find_links(visual(plain)):
        return []  # a link readable without the reordering is reported by `link_problems`
    return ["The comment contains a link: an address in reordered (right-to-left) text."]


def invisible_problems(comment_html: str) -> list[str]:
    """Nothing posted holds characters that change the display while showing nothing themselves."""
    if count := invisible_characters(html.unescape(comment_html)):
        return [f"The comment contains {count} invisible or display-changing character(s)."]
    return []


def posting_problems(comment_html: str) -> list[str]:
    """What no comment may ever show, checked after generating and again before posting: the disclosure
    first and only once (no copy, look-alike or counter-claim anywhere else), no link in any spelling,
    and no invisible or display-changing character (the text checked is the text shown)."""
    return disclosure_problems(comment_html) + link_problems(comment_html) + invisible_problems(comment_html)


def missing_extra_line(comment_html: str, extra_line: str | None) -> list[str]:
    """The operator's line, when one is configured, follows the disclosure."""
    if extra_line and not comment_html.startswith(disclosure_block(extra_line)):
        return ["The comment does not carry the configured extra line after the disclosure."]
    return []


def comment_plain_text(comment_html: str) -> str:
    """Readable text of a comment: tags stripped, paragraph breaks as spaces, whitespace collapsed."""
    text = _ANY_TAG.sub("", _BREAKING_TAG.sub(" ", comment_html))
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


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
    elif kind := contradiction(line, closing=True):  # a line of its own, like a comment's last
        problems.append(f"contradicts the AI disclosure: it {kind}")
    problems.extend(f"contains {kind}" for kind in find_links(line))
    return problems
