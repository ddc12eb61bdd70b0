"""What the model wrote, made safe: sanitised <p> paragraphs behind the fixed disclosure (checked in comment_rules)."""

from __future__ import annotations

import html
import re

import nh3

from yourmoment.comment_rules import DISCLOSURE, comment_plain_text, disclosure_block
from yourmoment.links import restore_missing_spaces
from yourmoment.visible_text import shown

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


def comment_body(comment_html: str, extra_line: str | None = None) -> str:
    """What the model contributed: the comment without the disclosure block (or a stray copy of it)."""
    block = disclosure_block(extra_line)
    body = comment_html.removeprefix(block) if comment_html.startswith(block) else comment_html
    return _remove_disclosure(body).strip()
