"""A reviewer's edited comment through the same sanitiser and quality gate as a model's answer.

The reviewer edits the whole comment, disclosure included: it must stay the first paragraph (then the
operator's extra line, if one is configured); an edit that loses either is refused, never repaired. The
rest is judged like generated text, so a link, a line contradicting the disclosure or a length outside
the limits is refused the same way (docs/rules.md#disclosure).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from yourmoment.comment_rules import DISCLOSURE, comment_plain_text, find_links, visible_lines
from yourmoment.llm.gate import Check, GateProblem, Verdict, judge

_LOOKS_LIKE_HTML = re.compile(r"</?[A-Za-z][^<>]*>")


def readable_lines(text: str) -> list[str]:
    """The edited text as a reader would see it, one entry per paragraph or line."""
    if _LOOKS_LIKE_HTML.search(text):
        return visible_lines(text)
    return [plain for line in text.splitlines() if (plain := comment_plain_text(html.escape(line)))]


def _without_first(text: str, line: str) -> str:
    """The text with the first occurrence of a leading line after the disclosure removed (as typed or
    HTML-escaped): an operator's line like "KI" must not be cut out of the disclosure itself."""
    after = max((text.find(form) + len(form) for form in _forms(DISCLOSURE) if form in text), default=0)
    for form in _forms(line):
        if (at := text.find(form, after)) >= 0:
            return text[:at] + text[at + len(form) :]
    return text


def _forms(line: str) -> list[str]:
    return list(dict.fromkeys([line, html.escape(line, quote=False)]))


def _lost_fixed_line(lines: list[str], extra_line: str | None) -> str | None:
    """The fixed lines the reviewer was given must stay where they were: the disclosure first, then the
    operator's line. Adding either back quietly would post a text the reviewer did not approve."""
    if not lines or lines[0] != DISCLOSURE:
        return f"The comment must keep the disclosure as its first paragraph: {DISCLOSURE}"
    if extra_line and (len(lines) < 2 or lines[1] != extra_line.strip()):
        return f"The comment must keep the operator's line (AI_COMMENT_EXTRA_LINE) as its second paragraph: {extra_line.strip()}"
    return None


def judge_edit(
    text: str,
    messages: list[dict[str, str]],
    *,
    min_length: int,
    max_length: int,
    extra_line: str | None = None,
    article_text: Sequence[str] = (),
) -> Verdict:
    """The normalised comment and every problem with it, as `judge` gives them for a model's answer."""
    lines = readable_lines(text)
    if lost := _lost_fixed_line(lines, extra_line):
        return Verdict(html="", problems=[GateProblem(check=Check.DISCLOSURE, message=lost)])
    # Sanitising would quietly drop a link tag and keep its words; a reviewer who typed a link (in a
    # tag's attribute or as text) is told instead, as docs/reviewing.md promises.
    if kinds := find_links(text):
        problem = GateProblem(
            check=Check.LINK, message=f"The comment must not link anywhere; it holds {', '.join(kinds)}."
        )
        return Verdict(html="", problems=[problem])
    # The block in front is added again by the normaliser; the operator's line would stand twice.
    if extra_line:
        text = _without_first(text, extra_line.strip())
    return judge(
        text,
        None,
        messages,
        min_length=min_length,
        max_length=max_length,
        extra_line=extra_line,
        article_text=list(article_text),
    )
