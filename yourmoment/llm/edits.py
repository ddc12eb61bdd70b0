"""A reviewer's edited comment through the same sanitiser and quality gate as a model's answer.

The reviewer edits the whole comment, disclosure included: it must stay the first paragraph (then the
operator's extra line, if one is configured). The rest is judged like generated text, so a link, a
second disclosure-like line or a length outside the limits is refused the same way.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from yourmoment.comment_rules import DISCLOSURE, find_links
from yourmoment.llm.comments import comment_plain_text, visible_lines
from yourmoment.llm.gate import Check, GateProblem, Verdict, judge

_LOOKS_LIKE_HTML = re.compile(r"</?[A-Za-z][^<>]*>")


def readable_lines(text: str) -> list[str]:
    """The edited text as a reader would see it, one entry per paragraph or line."""
    if _LOOKS_LIKE_HTML.search(text):
        return visible_lines(text)
    return [plain for line in text.splitlines() if (plain := comment_plain_text(html.escape(line)))]


def _without_first(text: str, line: str) -> str:
    """The text with the first occurrence of a leading line removed (as typed or HTML-escaped)."""
    for form in dict.fromkeys([line, html.escape(line, quote=False)]):
        if form in text:
            return text.replace(form, "", 1)
    return text


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
    if not lines or lines[0] != DISCLOSURE:
        problem = GateProblem(
            check=Check.DISCLOSURE,
            message=f"The comment must keep the disclosure as its first paragraph: {DISCLOSURE}",
        )
        return Verdict(html="", problems=[problem])
    # Sanitising would quietly drop a link tag and keep its words; a reviewer who typed a link (in a
    # tag's attribute or as text) is told instead, as docs/reviewing.md promises.
    if kinds := find_links(text):
        problem = GateProblem(
            check=Check.LINK, message=f"The comment must not link anywhere; it holds {', '.join(kinds)}."
        )
        return Verdict(html="", problems=[problem])
    # The block in front is added again by the normaliser; the operator's line would stand twice.
    if extra_line and len(lines) > 1 and lines[1] == extra_line.strip():
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
