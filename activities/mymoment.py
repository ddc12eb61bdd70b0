"""myMoment activities: open sessions, discover articles, fetch an article before its comment."""

from __future__ import annotations

from sqlalchemy.orm import Session
from temporalio import activity

from activities.deps import ActivityGroup
from activities.errors import keep_alive, translate_errors
from yourmoment import comment_cap
from yourmoment.comment_rules import DISCLOSURE
from yourmoment.errors import BadCredentialsError, NotFoundError
from yourmoment.messages import (
    CloseSessionsInput,
    DiscoverInput,
    DiscoverResult,
    ItemInput,
    OpenSessionInput,
    OpenSessionResult,
    PrepareResult,
    WorkItemRef,
)
from yourmoment.mymoment import parsers
from yourmoment.mymoment.client import MyMomentClient
from yourmoment.statuses import CommentStatus
from yourmoment.store import items
from yourmoment.store.db import run_db
from yourmoment.store.models import AIComment, utcnow


class MyMomentActivities(ActivityGroup):
    @activity.defn(name="open_session")
    @translate_errors
    @keep_alive
    async def open_session(self, inp: OpenSessionInput) -> OpenSessionResult:
        """Restores the stored session (no request) or logs in; bad credentials are permanent."""
        client = await self.deps.mymoment(inp.login_id)
        try:
            restored = await client.ensure_session()
        except BadCredentialsError:
            await self.deps.drop_client(inp.login_id)
            raise
        return OpenSessionResult(login_id=inp.login_id, restored=bool(restored))

    @activity.defn(name="close_sessions")
    @translate_errors
    async def close_sessions(self, inp: CloseSessionsInput) -> None:
        """Releases this worker's HTTP clients; the stored sessions stay for the next run."""
        for login_id in inp.login_ids:
            await self.deps.drop_client(login_id)

    @activity.defn(name="discover_articles")
    @translate_errors
    @keep_alive
    async def discover_articles(self, inp: DiscoverInput) -> DiscoverResult:
        client = await self.deps.mymoment(inp.login_id)
        async with self.deps.tally_requests(inp.process_id) as tally:
            articles = await client.list_articles(
                inp.tab, category_id=inp.category_id, task_id=inp.task_id, search=inp.search, limit=inp.limit
            )

            def record() -> tuple[list[WorkItemRef], int]:
                with self.deps.db() as session:
                    tally.store(session)
                    return items.record_discovered(
                        session,
                        inp.process_id,
                        inp.login_id,
                        client.account_key,
                        articles,
                        inp.prompt_slots,
                        inp.baseline,
                        aliases=client.legacy_account_keys,
                        cap=(client.site, self.deps.settings.max_ai_comments_per_article),
                    )

            new_items, set_aside = await run_db(record)
        activity.logger.info(
            "discovery process_id=%s login_id=%s listed=%d new=%d set_aside=%d",
            inp.process_id,
            inp.login_id,
            len(articles),
            len(new_items),
            set_aside,
        )
        return DiscoverResult(listed=len(articles), new_items=new_items, skipped=set_aside)

    @activity.defn(name="prepare_article")
    @translate_errors
    @keep_alive
    async def prepare_article(self, inp: ItemInput) -> PrepareResult:
        """Fetches the article page once: its text for the prompt, its comments for the duplicate check."""
        item = await run_db(self._item, inp.item_id)
        if item.status != CommentStatus.DISCOVERED:
            return PrepareResult(item_id=item.id, status=item.status, reason="already prepared")
        client = await self.deps.mymoment(item.login_id)
        async with self.deps.tally_requests(item.process_id) as tally:
            detail = await client.get_article(item.mymoment_article_id)
            own_ai_comment = bool(parsers.own_ai_comments(detail, client.username, DISCLOSURE))
            ai_accounts = comment_cap.page_ai_accounts(detail, client.base_url)
            cap = self.deps.settings.max_ai_comments_per_article

            def store() -> PrepareResult:
                with self.deps.db() as session:
                    tally.store(session)
                    reason = None
                    if own_ai_comment and not _sibling_claimed(session, item, client):
                        reason = "this myMoment account already has an AI comment on the article"
                    else:  # early, to spare the LLM; the places taken at posting decide
                        held = items.slot_holders(session, client.site, item.mymoment_article_id)
                        reason = comment_cap.cap_refusal(cap, held, ai_accounts)
                    if reason:
                        items.cas(
                            session, item.id, [CommentStatus.DISCOVERED], CommentStatus.SKIPPED, error=reason
                        )
                        return PrepareResult(item_id=item.id, status=CommentStatus.SKIPPED, reason=reason)
                    accounts = comment_cap.to_column(ai_accounts)
                    items.store_article(session, item.id, detail, utcnow(), page_ai_accounts=accounts)
                    return PrepareResult(item_id=item.id, status=CommentStatus.PREPARED)

            return await run_db(store)

    def _item(self, item_id: str) -> AIComment:
        with self.deps.db() as session:
            item = items.get_item(session, item_id)
            if item is None:
                raise NotFoundError(f"work item {item_id} does not exist")
            return item


def _sibling_claimed(session: Session, item: AIComment, client: MyMomentClient) -> bool:
    """In `all` mode the account posts one comment per prompt: once this process holds the article's
    claim, the comments of its other prompts are expected on the page."""
    if item.prompt_slot == items.ARTICLE_CLAIM:
        return False
    article = items.claim_row(
        session, client.account_key, item.mymoment_article_id, items.ARTICLE_CLAIM, client.legacy_account_keys
    )
    return article is not None and article.process_id == item.process_id
