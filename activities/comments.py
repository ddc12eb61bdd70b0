"""Comment activities: generate with the LLM, pace per login, post exactly once."""

from __future__ import annotations

from sqlalchemy import select
from temporalio import activity

from activities.deps import Dependencies
from activities.errors import keep_alive, translate_errors
from yourmoment.errors import NotFoundError, PermanentError
from yourmoment.llm.comments import posting_problems
from yourmoment.llm.generation import AttemptReport, generate_comment
from yourmoment.llm.templates import ArticleContext, render_messages
from yourmoment.messages import (
    GenerateInput,
    GenerateResult,
    PostInput,
    PostResultMsg,
    ReserveSlotInput,
    ReserveSlotResult,
)
from yourmoment.statuses import CommentStatus
from yourmoment.store import accounts, attempts, items
from yourmoment.store.db import run_db
from yourmoment.store.models import (
    AIComment,
    LLMProvider,
    MonitoringProcess,
    MyMomentLogin,
    PromptTemplate,
    utcnow,
)

S = CommentStatus


class CommentActivities:
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps

    # --- generation ---------------------------------------------------------------------------------

    @activity.defn(name="generate_comment")
    @translate_errors
    @keep_alive
    async def generate_comment(self, inp: GenerateInput) -> GenerateResult:
        item, template, provider, username = await run_db(self._generation_inputs, inp)
        if item.status != S.PREPARED:  # a retry after the result was stored
            return _generate_result(item)
        ctx = ArticleContext.model_validate(item).model_copy(update={"mymoment_username": username})
        messages = render_messages(template.system_prompt, template.user_prompt_template, ctx)
        s = self.deps.settings
        llm = self.deps.llm(provider, acquire=self._llm_pacer(provider))

        async def record_attempt(report: AttemptReport) -> None:
            await run_db(self._record_attempt, item.id, template.id, report)

        try:
            generated = await generate_comment(
                llm,
                messages,
                min_length=s.comment_min_length,
                max_length=s.comment_max_length,
                extra_line=s.ai_comment_extra_line,
                article_text=[ctx.article_title, ctx.article_content],
                on_attempt=record_attempt,
            )
        except Exception as exc:
            self.deps.metrics.llm_call(provider.provider, type(exc).__name__)
            raise
        finally:
            await llm.close()
        self.deps.metrics.llm_call(provider.provider, "ok", generated.generation_ms, generated.prompt_tokens,
                                   generated.completion_tokens)  # fmt: skip
        self.deps.metrics.item("generated")

        def store() -> None:
            with self.deps.db() as session:
                items.cas(
                    session, item.id, [S.PREPARED], S.GENERATED,
                    comment_html=generated.html, reasoning=generated.reasoning, model_name=generated.model,
                    provider_name=generated.provider, prompt_tokens=generated.prompt_tokens,
                    completion_tokens=generated.completion_tokens, generation_ms=generated.generation_ms,
                    prompt_template_id=template.id, llm_provider_id=provider.id, error=None,
                )  # fmt: skip

        await run_db(store)
        return GenerateResult(
            item_id=item.id,
            model=generated.model,
            prompt_tokens=generated.prompt_tokens,
            completion_tokens=generated.completion_tokens,
            generation_ms=generated.generation_ms,
        )

    def _record_attempt(self, item_id: str, template_id: str, report: AttemptReport) -> None:
        """One row per answer, its own transaction: rejected answers stay on record if the activity fails."""
        with self.deps.db() as session:
            attempts.record(
                session,
                item_id,
                accepted=report.accepted,
                reasons=[p.model_dump() for p in report.problems],
                finish_reason=report.finish_reason,
                model_name=report.model,
                prompt_template_id=template_id,
                prompt_tokens=report.prompt_tokens,
                completion_tokens=report.completion_tokens,
                generation_ms=report.generation_ms,
            )

    def _generation_inputs(self, inp: GenerateInput) -> tuple[AIComment, PromptTemplate, LLMProvider, str]:
        """One transaction: the item, its template and provider, and the login's myMoment username
        (the prompt may name it); the password is not decrypted and no myMoment client is built."""
        with self.deps.db() as session:
            item = session.get(AIComment, inp.item_id)
            if item is None:
                raise NotFoundError(f"work item {inp.item_id} does not exist")
            template = session.get(PromptTemplate, inp.template_id)
            provider = session.scalar(
                select(LLMProvider)
                .join(MonitoringProcess, MonitoringProcess.llm_provider_id == LLMProvider.id)
                .where(MonitoringProcess.id == item.process_id)
            )
            login = session.get(MyMomentLogin, item.login_id)
            if template is None or provider is None or login is None:
                raise PermanentError("the process's prompt template, LLM provider or login no longer exists")
            return item, template, provider, accounts.login_username(session, self.deps.encryptor, login)

    def _llm_pacer(self, provider: LLMProvider):  # type: ignore[no-untyped-def]
        if not provider.requests_per_minute:
            return None
        rate = provider.requests_per_minute / 60.0

        async def acquire() -> None:
            await self.deps.limiter.acquire(f"llm:{provider.id}", rate, 1)

        return acquire

    # --- posting ------------------------------------------------------------------------------------

    @activity.defn(name="reserve_post_slot")
    @translate_errors
    async def reserve_post_slot(self, inp: ReserveSlotInput) -> ReserveSlotResult:
        """Books the account's next comment slot; the workflow sleeps on a durable timer until then.

        A plan only: the client checks the interval again right before the POST leaves (see
        MyMomentClient._pace), because pacing may hold a POST past its slot.
        """
        interval = self.deps.settings.comment_rate_limit_seconds
        if interval <= 0:
            return ReserveSlotResult(wait_seconds=0.0)
        account = (await self.deps.mymoment(inp.login_id)).account_key
        wait = await self.deps.limiter.reserve_interval(f"comment:{account}", interval)
        return ReserveSlotResult(wait_seconds=wait)

    @activity.defn(name="post_comment")
    @translate_errors
    @keep_alive
    async def post_comment(self, inp: PostInput) -> PostResultMsg:
        # Release 1's inputs carried no login: read it off the item then.
        login_id = inp.login_id or await run_db(self._login_of, inp.item_id)
        client = await self.deps.mymoment(login_id)
        claim = await run_db(self._claim_for_posting, inp.item_id, login_id, client.account_key)
        if isinstance(claim, PostResultMsg):
            return claim
        item, first_try, expected = claim
        # On the first try the page was read when the item was prepared and no POST was ever sent for
        # this item; every later try (a retry, or a run after a crash) reads the page before posting.
        result = await client.post_comment(
            item.mymoment_article_id, item.comment_html or "", hide=inp.hide, verify_first=not first_try,
            account_comments=expected,
        )  # fmt: skip
        if result.outcome == "account_commented":
            reason = "the page already shows an AI comment by this myMoment account"
            await run_db(self._settle, item.id, S.SKIPPED, {"error": reason})
            return PostResultMsg(item_id=item.id, outcome="skipped", requests=result.requests, reason=reason)
        await run_db(
            self._settle, item.id, S.POSTED, {"posted_at": utcnow(), "is_hidden": inp.hide, "error": None}
        )
        self.deps.metrics.item("posted")
        activity.logger.info(
            "comment posted item_id=%s article_id=%s outcome=%s requests=%d",
            item.id, item.mymoment_article_id, result.outcome, result.requests,
        )  # fmt: skip
        return PostResultMsg(item_id=item.id, outcome=result.outcome, requests=result.requests)

    def _login_of(self, item_id: str) -> str:
        with self.deps.db() as session:
            item = session.get(AIComment, item_id)
            if item is None:
                raise NotFoundError(f"work item {item_id} does not exist")
            return item.login_id

    def _settle(self, item_id: str, status: str, values: dict[str, object]) -> None:
        with self.deps.db() as session:
            items.cas(session, item_id, [S.POSTING], status, **values)

    def _claim_for_posting(
        self, item_id: str, client_login_id: str, account_key: str
    ) -> tuple[AIComment, bool, list[str]] | PostResultMsg:
        """Moves the item to `posting` once it holds the account's claim on the article (a database
        constraint across users, processes and workers); an item that loses the claim is skipped."""
        with self.deps.db() as session:
            item = session.get(AIComment, item_id)
            if item is None:
                raise NotFoundError(f"work item {item_id} does not exist")
            if item.login_id != client_login_id:
                raise PermanentError(f"work item {item_id} belongs to another login than the one posting")
            if item.status == S.POSTED:
                return PostResultMsg(item_id=item_id, outcome="already_posted", requests=0)
            if item.status not in (S.GENERATED, S.POSTING):
                return PostResultMsg(
                    item_id=item_id, outcome="skipped", requests=0, reason=f"item is {item.status}"
                )
            # Checked again here: a comment stored by an older version or edited in the database.
            if problems := posting_problems(item.comment_html or ""):
                raise PermanentError(f"the stored comment is never posted: {' '.join(problems)}")
            if reason := items.claim_for_posting(session, item, account_key):
                items.cas(session, item_id, [S.GENERATED, S.POSTING], S.SKIPPED, error=reason)
                return PostResultMsg(item_id=item_id, outcome="skipped", requests=0, reason=reason)
            first_try = item.status == S.GENERATED and item.attempts == 0
            if not items.cas(
                session, item_id, [S.GENERATED, S.POSTING], S.POSTING, attempts=item.attempts + 1
            ):
                return PostResultMsg(
                    item_id=item_id, outcome="skipped", requests=0, reason="claimed elsewhere"
                )
            return item, first_try, items.account_comments(session, account_key, item)


def _generate_result(item: AIComment) -> GenerateResult:
    """What an earlier attempt stored (a retry after the comment was generated)."""
    return GenerateResult(
        item_id=item.id,
        model=item.model_name or "",
        prompt_tokens=item.prompt_tokens or 0,
        completion_tokens=item.completion_tokens or 0,
        generation_ms=item.generation_ms or 0,
    )
