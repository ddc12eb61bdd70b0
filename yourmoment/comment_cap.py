"""At most MAX_AI_COMMENTS_PER_ARTICLE AI comments per article: what counts against the cap (docs/rules.md#ai-comments-per-article).

Two sources count: the places held in the database (`article_comment_slots`, this installation's comments,
posted or about to be) and the AI comments the page shows. A comment of ours is in both, so a page's
comment counts only when its account holds no place for it: what is left is from elsewhere (another
installation, or ours from before the cap existed). Accounts are compared as digests (account_key).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from yourmoment.mymoment import parsers
from yourmoment.mymoment.account import account_key
from yourmoment.mymoment.types import ArticleDetail

SETTING = "MAX_AI_COMMENTS_PER_ARTICLE"
# A page read while preparing stands in for the check before the first POST only this long; an older one
# (a comment that waited for a reviewer or for its account's comment interval) is read again.
PREPARED_PAGE_MAX_AGE = timedelta(minutes=2)


def over_cap_reason(cap: int) -> str:
    return f"the article has its {cap} AI comment(s) already, on the page or claimed ({SETTING}={cap})"


def page_ai_accounts(page: ArticleDetail, base_url: str) -> list[str]:
    """The account of every AI comment on the page, as digests (never the usernames)."""
    return [account_key(base_url, comment.author) for comment in parsers.ai_comments(page)]


def to_column(accounts: Sequence[str]) -> str:
    return json.dumps(sorted(accounts))


def from_column(value: str | None) -> list[str] | None:
    """The accounts stored while preparing; None when the item was prepared before they were kept."""
    return None if value is None else [str(key) for key in json.loads(value)]


def from_elsewhere(held: Sequence[str], page_accounts: Sequence[str]) -> int:
    """The page's AI comments beyond the places their accounts hold in the database: not ours."""
    places = Counter(held)
    return sum(max(0, shown - places[key]) for key, shown in Counter(page_accounts).items())


def comments_counted(held_by_others: Sequence[str], page_accounts: Sequence[str]) -> int:
    """The article's AI comments other than the one asking: places held in the database by other items,
    plus the page's AI comments from elsewhere."""
    return len(held_by_others) + from_elsewhere(held_by_others, page_accounts)


def cap_refusal(cap: int, held_by_others: Sequence[str], page_accounts: Sequence[str]) -> str | None:
    """Why one more AI comment may not go on the article, or None when it may."""
    if comments_counted(held_by_others, page_accounts) >= cap:
        return over_cap_reason(cap)
    return None


def page_is_recent(scraped_at: datetime | None, now: datetime) -> bool:
    return scraped_at is not None and now - scraped_at <= PREPARED_PAGE_MAX_AGE
