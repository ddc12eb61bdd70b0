"""What the model wrote, made safe: sanitised <p> paragraphs behind the fixed disclosure, then validated."""

from __future__ import annotations

import html
import re
from collections.abc import Collection

import nh3

from yourmoment.comment_rules import DISCLOSURE, IMITATES_THE_DISCLOSURE, contradictions
from yourmoment.links import find_links, restore_missing_spaces
from yourmoment.visible_text import invisible_characters, may_reorder, shown, visual

ALLOWED_TAGS: frozenset[str] = frozenset({"p", "strong", "em", "br"})
# Tags whose content is code or markup, never readable text: dropped together with the tag.
DROPPED_WITH_CONTENT: frozenset[str] = frozenset(
    {"script", "style", "template", "noscript", "iframe", "object", "svg", "math", "head", "title"}
)

_FENCE = re.compile(r"^```[\w-]*[ \t]*\n?(.*?)\n?```$", re.DOTALL)
_LOOKS_LIKE_HTML = re.compile(r"</?[A-Za-z][^<>]*>")
# Block-level tags become line breaks before sanitising, so list items and headings stay apart.
_BLOCK_TAG = re.compile(
    r"</?(?:div|h[1-6]|li|ul|ol|blockquote|section|article|header|footer|table|tr|pre|hr)\b[^>]*>",
    re.IGNORECASE,
)
_P_TAG = re.compile(r"(</?p>)")
_BR_EDGE = re.compile(r"^(?:\s|<br>)+|(?:\s|<br>)+$")
_MARKDOWN_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
_BREAKING_TAG = re.compile(r"<\s*(?:br|/?p|/?div)\b[^>]*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^>]*>")
_LINE_BREAK = re.compile(r"</p>|<br\s*/?>", re.IGNORECASE)
_WORD = re.compile(r"\w+")


def _sanitise(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        # "*" must be given: without it nh3 keeps its default generic attributes (title, lang).
        attributes={"*": set()},
        link_rel=None,
        strip_comments=True,
    )


def _strip_fences(text: str) -> str:
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text


def _lines_to_paragraphs(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _plain_paragraphs(text: str) -> list[str]:
    escaped = html.escape(text, quote=False)
    # Models often answer in Markdown; **bold** is the one mark-up worth keeping.
    return [_MARKDOWN_BOLD.sub(r"<strong>\1</strong>", line) for line in _lines_to_paragraphs(escaped)]


def _html_paragraphs(text: str) -> list[str]:
    """Split sanitised HTML into paragraph bodies; loose text between paragraphs becomes paragraphs too."""
    cleaned = _sanitise(_BLOCK_TAG.sub("\n", text))
    paragraphs: list[str] = []
    inside, current = False, ""
    for token in _P_TAG.split(cleaned):
        if token == "<p>":
            if not inside:
                paragraphs.extend(_lines_to_paragraphs(current))
                current = ""
            inside = True
        elif token == "</p>":
            if inside:
                paragraphs.append(current)
                current = ""
            inside = False
        else:
            current += token
    paragraphs.extend(_lines_to_paragraphs(current) if not inside else [current])
    return paragraphs


def _disclosure_forms() -> list[str]:
    """The disclosure as typed and as the sanitiser would escape it (the same while it holds no &, < or >)."""
    return list(dict.fromkeys([DISCLOSURE, html.escape(DISCLOSURE, quote=False)]))


def _remove_disclosure(text: str) -> str:
    """The model may copy the disclosure it was told about; the system adds it once, in front."""
    for form in _disclosure_forms():
        text = re.sub(rf"<p>\s*{re.escape(form)}\s*</p>", "", text, flags=re.IGNORECASE)
        text = text.replace(form, "")
    return text


def _tidy(paragraph: str) -> str:
    return _BR_EDGE.sub("", re.sub(r"\s+", " ", paragraph)).strip()


def disclosure_block(extra_line: str | None = None) -> str:
    """What every comment starts with: the fixed disclosure paragraph, then the operator's line if set."""
    block = f"<p>{html.escape(DISCLOSURE, quote=False)}</p>"
    return block + (f"<p>{html.escape(extra_line, quote=False)}</p>" if extra_line else "")


def normalize_comment(raw: str, extra_line: str | None = None) -> str:
    """Sanitised `<p>` paragraphs (only p, strong, em, br; no attributes) led by the disclosure block.

    What is posted is what the rules check (docs/rules.md#links): characters that change how text is
    displayed while showing nothing (bidi overrides, zero-width and other format characters) are
    removed, and a full stop the link rule reads as a missing space gets its space ("Schule. Jetzt").
    """
    text = _strip_fences(shown(raw).strip())
    paragraphs = _html_paragraphs(text) if _LOOKS_LIKE_HTML.search(text) else _plain_paragraphs(text)
    bodies = [_tidy(_remove_disclosure(p)) for p in paragraphs]
    body = "".join(f"<p>{b}</p>" for b in bodies if comment_plain_text(b))
    # A second pass repairs tags that the paragraph split cut apart (e.g. <strong> spanning paragraphs).
    body = re.sub(r"<p>(?:\s|<br>)*</p>", "", _sanitise(body))
    # Again on the sanitised text: the sanitiser turns character references (&#x202E;) into characters.
    return disclosure_block(extra_line) + restore_missing_spaces(shown(body))


def is_repetitive(plain: str) -> bool:
    """Fewer than half of the words distinct (over more than five words)."""
    words = [w.lower() for w in _WORD.findall(plain)]
    return len(words) > 5 and len(set(words)) / len(words) < 0.5


def brace_patterns(text: str) -> set[str]:
    """Every `{name}` in a text; generation allows those that the prompt's article text itself contains."""
    return set(_PLACEHOLDER.findall(text))


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


def comment_body(comment_html: str, extra_line: str | None = None) -> str:
    """What the model contributed: the comment without the disclosure block (or a stray copy of it)."""
    block = disclosure_block(extra_line)
    body = comment_html.removeprefix(block) if comment_html.startswith(block) else comment_html
    return _remove_disclosure(body).strip()


def extra_line_problems(comment_html: str, extra_line: str | None) -> list[str]:
    if extra_line and not comment_html.startswith(disclosure_block(extra_line)):
        return ["The comment does not carry the configured extra line after the disclosure."]
    return []


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
    """Problems with a normalised comment (see docs/rules.md#comment-content); the length counts HTML tags, not the disclosure block.

    `allowed_braces` lists `{name}` strings that are not leftovers: a pupil's title like "Mein {Hund}"
    may be quoted by the model.
    """
    problems = posting_problems(comment_html) + extra_line_problems(comment_html, extra_line)
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


def comment_plain_text(comment_html: str) -> str:
    """Readable text of a comment: tags stripped, paragraph breaks as spaces, whitespace collapsed."""
    text = _ANY_TAG.sub("", _BREAKING_TAG.sub(" ", comment_html))
    return re.sub(r"\s+", " ", html.unescape(text)).strip()
