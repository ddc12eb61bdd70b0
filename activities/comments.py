"""The comments queue's activities: generate with the LLM (also a reviewer's regeneration), pace per login,
post exactly once."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from temporalio import activity

from activities.deps import ActivityGroup, RequestTally
from activities.errors import keep_alive, translate_errors
from yourmoment import comment_cap
from yourmoment.budget import RequestClass, site_request
from yourmoment.errors import NotFoundError, PermanentError
from yourmoment.llm.client import Acquire
from yourmoment.llm.generation import AttemptReport, GeneratedComment, GenerationFigures, generate_comment
from yourmoment.llm.templates import ArticleContext, render_messages
from yourmoment.messages import (
    GenerateInput,
    GenerateResult,
    PostInput,
    PostResultMsg,
    RegenerateInput,
    RegenerateResult,
    ReserveSlotInput,
    ReserveSlotResult,
)
from yourmoment.mymoment.client import MyMomentClient
from yourmoment.mymoment.types import ArticleDetail
from yourmoment.statuses import CommentStatus, EventKind, PostOutcome
from yourmoment.store import accounts, attempts, posting, review
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


class CommentActivities(ActivityGroup):
    # --- generation ---------------------------------------------------------------------------------

    @activity.defn
    @translate_errors
    @keep_alive
    async def generate_comment(self, inp: GenerateInput) -> GenerateResult:
        item, template, provider, username = await run_db(self._generation_inputs, inp)
        if item.status != S.PREPARED:  # a retry after the result was stored
            return _generate_result(item)
        generated = await self._generate(item, template, provider, username)
        await self._store(item, _stored_values(generated, template, provider), kind=EventKind.GENERATED)
        return _result(GenerateResult, item.id, generated)

    @activity.defn
    @translate_errors
    @keep_alive
    async def regenerate_comment(self, inp: RegenerateInput) -> RegenerateResult:
        """A reviewer's new generation for an item in `regenerating`; the previous text stays in the
        history (and in `original_html` when it was the first)."""
        item, template, provider, username = await run_db(self._generation_inputs, inp)
        if item.status == S.GENERATED:  # a retry after the result was stored
            return RegenerateResult(item_id=item.id, regenerated=True, model=item.model_name)
        if item.status != S.REGENERATING:
            raise PermanentError(f"work item {item.id} is {item.status}, not waiting for a regeneration")
        generated = await self._generate(item, template, provider, username)
        values = _stored_values(generated, template, provider)
        detail = f"template {template.name} (version {template.version})"
        stored = await self._store(item, values, kind=EventKind.REGENERATED, actor=inp.actor, detail=detail)
        if not stored:
            return RegenerateResult(item_id=item.id, regenerated=False, reason="the item moved on meanwhile")
        return _result(RegenerateResult, item.id, generated, regenerated=True)

    async def _generate(
        self, item: AIComment, template: PromptTemplate, provider: LLMProvider, username: str
    ) -> GeneratedComment:
        ctx = ArticleContext.model_validate(item).model_copy(update={"mymoment_username": username})
        messages = render_messages(template.system_prompt, template.user_prompt_template, ctx)
        s = self.deps.settings
        llm = self.deps.llm(provider, acquire=self._llm_pacer(provider))

        async def record_attempt(report: AttemptReport) -> None:
            # One row per answer, its own transaction: rejected answers stay on record if the activity fails.
            # The store numbers the attempts itself, across retries of this activity.
            await run_db(
                self.deps.in_session,
                attempts.record,
                item.id,
                prompt_template_id=template.id,
                reasons=[p.model_dump() for p in report.problems],
                accepted=report.accepted,
                finish_reason=report.finish_reason,
                model_name=report.model_name,
                prompt_tokens=report.prompt_tokens,
                completion_tokens=report.completion_tokens,
                generation_ms=report.generation_ms,
            )

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
        self.deps.metrics.llm_call(
            provider.provider,
            "ok",
            generated.generation_ms,
            generated.prompt_tokens,
            generated.completion_tokens,
        )
        self.deps.metrics.item("generated")
        return generated

    async def _store(
        self,
        item: AIComment,
        values: dict[str, object],
        *,
        kind: EventKind,
        actor: str | None = None,
        detail: str | None = None,
    ) -> bool:
        """A generation stored with its history event (`kind`; a regeneration's `actor` and `detail`),
        unless the item left the status it was generated in (checked by the caller) meanwhile."""
        return await run_db(
            self.deps.in_session,
            review.store_generated,
            item.id,
            [item.status],
            values,
            kind=kind,
            actor=actor,
            detail=detail,
        )

    def _generation_inputs(
        self, inp: GenerateInput | RegenerateInput
    ) -> tuple[AIComment, PromptTemplate, LLMProvider, str]:
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

    def _llm_pacer(self, provider: LLMProvider) -> Acquire | None:
        if not provider.requests_per_minute:
            return None
        rate = provider.requests_per_minute / 60.0

        async def acquire() -> None:
            await self.deps.limiter.acquire(f"llm:{provider.id}", rate, 1)

        return acquire

    # --- posting ------------------------------------------------------------------------------------

    @activity.defn
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

    @activity.defn
    @translate_errors
    @keep_alive
    async def post_comment(self, inp: PostInput) -> PostResultMsg:
        # Release 1's inputs carried no login: read it off the item then.
        login_id = inp.login_id or await run_db(self._login_of, inp.item_id)
        client = await self.deps.mymoment(login_id)
        claim = await run_db(self._claim, inp.item_id, client, inp.held_by_stop)
        if isinstance(claim, posting.NotPosted):
            return PostResultMsg(item_id=inp.item_id, outcome=claim.outcome, requests=0, reason=claim.reason)
        item, first_try, expected = claim.item, claim.first_try, claim.account_comments

        async def still_wanted() -> str | None:
            """Asked right before the POST leaves: a stop of the process since the claim holds it."""
            return await run_db(self._held_by_stop, item.process_id) if inp.held_by_stop else None

        # Read after the claim's commit: of two items claiming at once, the later reader sees the other.
        held = await run_db(self._places_held_by_others, client.site, item)
        cap = self.deps.settings.max_ai_comments_per_article
        # On the first try, no POST was ever sent for this item and the page read when it was prepared,
        # if recent, is the check; every later try (a retry, a run after a crash) reads the page first.
        prepared_accounts = comment_cap.from_column(item.page_ai_accounts)
        use_prepared = (
            first_try
            and prepared_accounts is not None
            and comment_cap.page_is_recent(item.scraped_at, utcnow())
        )
        if use_prepared and (reason := comment_cap.cap_refusal(cap, held, prepared_accounts or [])):
            await run_db(self._settle, item.id, S.SKIPPED, {"error": reason}, None, True)
            return PostResultMsg(item_id=item.id, outcome="skipped", requests=0, reason=reason)

        def page_check(page: ArticleDetail) -> str | None:
            return comment_cap.cap_refusal(cap, held, comment_cap.page_ai_accounts(page, client.base_url))

        async with self.deps.tally_requests(item.process_id) as tally:
            with site_request(RequestClass.PREPARE, item.process_id):
                result = await client.post_comment(
                    item.mymoment_article_id,
                    item.comment_html or "",
                    hide=inp.hide,
                    verify_first=not use_prepared,
                    account_comments=expected,
                    page_check=page_check,
                    before_send=still_wanted,
                )
            if result.outcome == "withdrawn":
                # Nothing was sent: back to `generated` with its place and claim (a later `post` reads
                # the page first, as after any interrupted try).
                await run_db(self._settle, item.id, S.GENERATED, {"error": None}, tally)
                return PostResultMsg(
                    item_id=item.id, outcome=PostOutcome.HELD, requests=result.requests, reason=result.reason
                )
            if result.outcome in ("account_commented", "page_refused"):
                reason = result.reason or "the page already shows an AI comment by this myMoment account"
                # Nothing was sent in this try and the page shows no comment of this item: its place is free.
                await run_db(self._settle, item.id, S.SKIPPED, {"error": reason}, tally, True)
                return PostResultMsg(
                    item_id=item.id, outcome="skipped", requests=result.requests, reason=reason
                )
            posted = {"posted_at": utcnow(), "is_hidden": inp.hide, "error": None}
            await run_db(self._settle, item.id, S.POSTED, posted, tally)
        self.deps.metrics.item("posted")
        activity.logger.info(
            "comment posted item_id=%s article_id=%s outcome=%s requests=%d",
            item.id,
            item.mymoment_article_id,
            result.outcome,
            result.requests,
        )
        return PostResultMsg(item_id=item.id, outcome=result.outcome, requests=result.requests)

    def _held_by_stop(self, process_id: str) -> str | None:
        with self.deps.db() as session:
            return posting.stop_hold(session, process_id)

    def _login_of(self, item_id: str) -> str:
        with self.deps.db() as session:
            item = session.get(AIComment, item_id)
            if item is None:
                raise NotFoundError(f"work item {item_id} does not exist")
            return item.login_id

    def _settle(
        self,
        item_id: str,
        status: str,
        values: dict[str, object],
        tally: RequestTally | None = None,
        release_place: bool = False,
    ) -> None:
        """The item's outcome and the requests its POST took; `release_place`: it ends unposted."""
        with self.deps.db() as session:
            if tally is not None:
                tally.store(session)
            posting.settle(session, item_id, status, values, release_place)

    def _places_held_by_others(self, site: str, item: AIComment) -> list[str]:
        with self.deps.db() as session:
            return posting.slot_holders(session, site, item.mymoment_article_id, but=item.id)

    def _claim(
        self, item_id: str, client: MyMomentClient, held_by_stop: bool = False
    ) -> posting.Claimed | posting.NotPosted:
        account = posting.Account(
            client.login_id, client.account_key, client.legacy_account_keys, client.site
        )
        cap = self.deps.settings.max_ai_comments_per_article
        with self.deps.db() as session:
            return posting.claim(session, item_id, account, cap, held_by_stop=held_by_stop)

    ACTIVITIES = (generate_comment, regenerate_comment, reserve_post_slot, post_comment)


ResultT = TypeVar("ResultT", GenerateResult, RegenerateResult)


def _result(
    result_type: type[ResultT], item_id: str, generated: GeneratedComment, **extra: object
) -> ResultT:
    """The generation's figures for the workflow: model, tokens, time. Only GenerationFigures' fields
    are taken: the comment's text and reasoning stay in the database."""
    figures = generated.model_dump(include=set(GenerationFigures.model_fields))
    return result_type(item_id=item_id, model=figures.pop("model_name"), **figures, **extra)


def _stored_values(
    generated: GeneratedComment, template: PromptTemplate, provider: LLMProvider
) -> dict[str, object]:
    """The ai_comments columns a generation sets: the comment, its figures, what produced it."""
    return {
        **generated.model_dump(),
        "prompt_template_id": template.id,
        "prompt_template_version": template.version,
        "llm_provider_id": provider.id,
        "error": None,
    }


def _generate_result(item: AIComment) -> GenerateResult:
    """What an earlier attempt stored (a retry after the comment was generated)."""
    return GenerateResult(
        item_id=item.id,
        model=item.model_name or "",
        prompt_tokens=item.prompt_tokens or 0,
        completion_tokens=item.completion_tokens or 0,
        generation_ms=item.generation_ms or 0,
    )
