"""The monitoring queue's activities: a process's configuration and bookkeeping, and reading myMoment
(the article list, an article before its comment)."""

from __future__ import annotations

import logging
import math
import shlex

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity

from activities.deps import ActivityGroup, Dependencies
from activities.errors import keep_alive, translate_errors
from yourmoment import comment_cap
from yourmoment.budget import (
    DISCOVERY_MAX_WAIT_SECONDS,
    BudgetSaturated,
    RequestClass,
    measuring_waits,
    site_request,
)
from yourmoment.comment_rules import DISCLOSURE
from yourmoment.errors import ForbiddenError, NotFoundError, reduce_error
from yourmoment.messages import (
    DiscoverInput,
    DiscoverResult,
    EndRegenerationInput,
    FinishProcessInput,
    FinishProcessResult,
    FollowUpOutcome,
    FollowUpPlan,
    FollowUpReadInput,
    ItemInput,
    LoadProcessInput,
    LoginRef,
    MarkItemInput,
    NotifyInput,
    NotifyResult,
    PrepareResult,
    ProcessConfig,
    PromptChoice,
    RecordProcessInput,
    ResumeItemsInput,
    ResumeItemsResult,
    StatusCounts,
    WorkItemRef,
)
from yourmoment.mymoment import parsers
from yourmoment.mymoment.client import MyMomentClient
from yourmoment.notify import compose
from yourmoment.statuses import UNFINISHED_STATUSES, CommentStatus, ProcessStatus
from yourmoment.store import follow_ups, items, moves, notifications, posting, processes, review
from yourmoment.store.db import run_db
from yourmoment.store.models import (
    AIComment,
    MonitoringProcess,
    MyMomentLogin,
    PromptTemplate,
    utcnow,
)


def unposted_note(status: str, generated: int, name: str) -> str:
    """Added to a stopped process's reason: how many comments were generated and not posted."""
    if status != ProcessStatus.STOPPED or generated <= 0:
        return ""
    comments = "comment" if generated == 1 else "comments"
    post = f"starter.py post --process {shlex.quote(name)}"
    return f"; {generated} generated {comments} left unposted (review them, then: {post})"


class RowWith:
    """A database row seen with some attributes replaced or added (for `model_validate(from_attributes)`)."""

    def __init__(self, row: object, **extra: object) -> None:
        self._row, self._extra = row, extra

    def __getattr__(self, name: str) -> object:
        return self._extra[name] if name in self._extra else getattr(self._row, name)


class MonitoringActivities(ActivityGroup):
    # --- process bookkeeping ------------------------------------------------------------------------

    @activity.defn
    @translate_errors
    async def load_process_config(self, inp: LoadProcessInput) -> ProcessConfig:
        run_id = activity.info().workflow_run_id if inp.mark_running else None
        return await run_db(self._load, inp.process_id, run_id)

    def _load(self, process_id: str, mark_running_as: str | None) -> ProcessConfig:
        with self.deps.db() as session:
            if mark_running_as is not None:  # a first run: `start` may have died before marking the row
                processes.mark_running(session, process_id, mark_running_as)
            process = session.get(MonitoringProcess, process_id)
            if process is None:
                raise NotFoundError(f"process {process_id} does not exist")
            logins = []
            for link in process.logins:
                login = session.get(MyMomentLogin, link.login_id)
                if link.is_active and login is not None and login.is_active and not login.is_admin:
                    logins.append(LoginRef(login_id=login.id, name=login.name))
            prompts = []
            for choice in process.prompts:
                tpl = session.get(PromptTemplate, choice.template_id)
                # A non-finite weight (stored before weights were checked) could not travel as JSON.
                if choice.is_active and 0 < choice.weight < math.inf and tpl is not None and tpl.is_active:
                    prompts.append(PromptChoice(template_id=tpl.id, weight=choice.weight, name=tpl.name))
            # The row's columns by name; what is not a column (the usable logins and prompts, and two
            # settings of this worker) is laid over it.
            row = RowWith(
                process,
                # A process that requires approval generates and waits: posting is `post --approved`.
                generate_only=process.generate_only or process.require_approval,
                logins=logins,
                prompts=prompts,
                max_articles=self.deps.settings.max_articles_per_request,
                pace_comments=self.deps.settings.comment_rate_limit_seconds > 0,
                notify=self.deps.notifier.configured,
                notify_min_interval_seconds=self.deps.settings.notify_min_interval,
            )
            return ProcessConfig.model_validate(row, from_attributes=True)

    @activity.defn
    @translate_errors
    async def record_process(self, inp: RecordProcessInput) -> None:
        await run_db(self._record, inp)

    def _record(self, inp: RecordProcessInput) -> None:
        with self.deps.db() as session:
            process = session.get(MonitoringProcess, inp.process_id)
            if process is None:
                return
            if inp.status:
                process.status = inp.status
            if inp.hold_posts and process.posting_stopped_at is None:
                process.posting_stopped_at = utcnow()
            if inp.last_error:
                process.last_error = inp.last_error
            elif inp.clear_error:
                process.last_error = None

    @activity.defn
    @translate_errors
    async def finish_process(self, inp: FinishProcessInput) -> FinishProcessResult:
        result = await run_db(self._finish, inp)
        return result

    def _finish(self, inp: FinishProcessInput) -> FinishProcessResult:
        with self.deps.db() as session:
            skipped, returned = items.settle_leftovers(
                session, inp.process_id, f"process ended: {inp.reason}"
            )
            totals = items.counts(session, inp.process_id)
            process = session.get(MonitoringProcess, inp.process_id)
            if process is not None:
                process.status = inp.status
                process.stop_reason = inp.reason + unposted_note(inp.status, totals.generated, process.name)
                process.stopped_at = utcnow()
                if inp.status == ProcessStatus.FAILED:
                    process.last_error = inp.reason
                states = {login.login_id: login for login in inp.logins}
                for link in process.logins:  # kept for `status` once the workflow has ended
                    state = states.get(link.login_id)
                    link.last_state = state.state if state else None
                    link.last_error = state.error if state else None
        activity.logger.info(
            "process finished process_id=%s status=%s skipped=%d returned=%d",
            inp.process_id,
            inp.status,
            skipped,
            returned,
        )
        return FinishProcessResult(
            skipped=skipped, returned_to_generated=returned, left_unposted=totals.generated, totals=totals
        )

    @activity.defn
    @translate_errors
    async def resume_items(self, inp: ResumeItemsInput) -> ResumeItemsResult:
        def pending() -> ResumeItemsResult:
            with self.deps.db() as session:
                refs = items.pending_for_resume(session, inp.process_id, inp.include_posting)
                return ResumeItemsResult(items=refs)

        return await run_db(pending)

    @activity.defn
    @translate_errors
    async def mark_item(self, inp: MarkItemInput) -> bool:
        def mark() -> bool:
            with self.deps.db() as session:
                allowed = inp.only_from or list(UNFINISHED_STATUSES)
                return moves.cas(session, inp.item_id, allowed, inp.status, error=inp.reason[:2000])

        return await run_db(mark)

    @activity.defn
    @translate_errors
    async def end_regeneration(self, inp: EndRegenerationInput) -> bool:
        """A regeneration that failed or was cancelled: the item is `generated` again with its old text."""
        return await run_db(self.deps.in_session, review.end_regeneration, inp.item_id, inp.reason, inp.actor)

    # --- reading myMoment ---------------------------------------------------------------------------

    @activity.defn
    @translate_errors
    @keep_alive
    async def discover_articles(self, inp: DiscoverInput) -> DiscoverResult:
        client = await self.deps.mymoment(inp.login_id)
        async with self.deps.tally_requests(inp.process_id) as tally:
            label = site_request(RequestClass.DISCOVERY, inp.process_id, max_wait=DISCOVERY_MAX_WAIT_SECONDS)
            with label, measuring_waits() as waits:
                try:
                    articles = await client.list_articles(
                        inp.tab,
                        category_id=inp.category_id,
                        task_id=inp.task_id,
                        search=inp.search,
                        limit=inp.limit,
                    )
                except BudgetSaturated as saturated:
                    # Not listed: the site's budget is taken by others; the process slows down instead.
                    activity.logger.info(
                        "discovery process_id=%s login_id=%s: site budget saturated (%.1f s away at least)",
                        inp.process_id,
                        inp.login_id,
                        saturated.expected,
                    )
                    wait = round(sum(waits) + saturated.waited + saturated.expected, 3)
                    return DiscoverResult(
                        listed=0, new_items=[], skipped=0, budget_wait_seconds=wait, budget_saturated=True
                    )
            left_out = [reason for article in articles if (reason := items.left_out_reason(article))]

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
            totals = await run_db(self._totals, inp.process_id)
        activity.logger.log(
            logging.WARNING if left_out else logging.INFO,
            "discovery process_id=%s login_id=%s listed=%d new=%d set_aside=%d left_out=%d",
            inp.process_id,
            inp.login_id,
            len(articles),
            len(new_items),
            set_aside,
            len(left_out),
        )
        return DiscoverResult(
            listed=len(articles),
            new_items=new_items,
            skipped=set_aside,
            left_out=left_out,
            totals=totals,
            budget_wait_seconds=round(sum(waits), 3),
        )

    def _totals(self, process_id: str) -> StatusCounts:
        with self.deps.db() as session:
            return items.counts(session, process_id)

    @activity.defn
    @translate_errors
    @keep_alive
    async def prepare_article(self, inp: ItemInput) -> PrepareResult:
        """Fetches the article page once: its text for the prompt, its comments for the duplicate check."""
        item = await run_db(self._item, inp.item_id)
        if item.status != CommentStatus.DISCOVERED:
            return PrepareResult(item_id=item.id, status=item.status, reason="already prepared")
        client = await self.deps.mymoment(item.login_id)
        async with self.deps.tally_requests(item.process_id) as tally:
            with site_request(RequestClass.PREPARE, item.process_id):
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
                        held = posting.slot_holders(session, client.site, item.mymoment_article_id)
                        reason = comment_cap.cap_refusal(cap, held, ai_accounts)
                    if reason:
                        moves.cas(
                            session, item.id, [CommentStatus.DISCOVERED], CommentStatus.SKIPPED, error=reason
                        )
                        return PrepareResult(item_id=item.id, status=CommentStatus.SKIPPED, reason=reason)
                    accounts = comment_cap.to_column(ai_accounts)
                    items.store_article(session, item.id, detail, utcnow(), page_ai_accounts=accounts)
                    return PrepareResult(item_id=item.id, status=CommentStatus.PREPARED)

            return await run_db(store)

    # --- follow-up reads after a comment (workflows/follow_up.py) ---------------------------------------

    @activity.defn
    @translate_errors
    async def plan_follow_ups(self, inp: ItemInput) -> FollowUpPlan:
        """When to read the commented article again: FOLLOW_UP_AFTER after its posting time."""
        intervals = self.deps.settings.follow_up_intervals
        steps = await run_db(self.deps.in_session, follow_ups.plan, inp.item_id, intervals)
        return FollowUpPlan(item_id=inp.item_id, steps=steps)

    @activity.defn
    @translate_errors
    @keep_alive
    async def follow_up_read(self, inp: FollowUpReadInput) -> FollowUpOutcome:
        """Reads the commented article once for one interval, the lowest-priority read on the site.

        Skipped, and recorded so, when it starts later than its interval after it was due (the site's
        politeness budget stayed saturated, or the site failed, that long): a read a week late says
        nothing about the first hour."""
        db, step = self.deps.in_session, inp.step
        done = await run_db(db, follow_ups.recorded, inp.item_id, step.label)
        if done is not None:
            return done
        late = (utcnow() - step.due_at).total_seconds()
        if late > step.seconds:
            note = f"skipped: not read within its interval ({late / 60:.0f} min late)"
            return await run_db(db, follow_ups.record_outcome, inp.item_id, step.label, "skipped", note)
        article = await run_db(db, follow_ups.commented_article, inp.item_id)
        if article is None:
            return FollowUpOutcome(item_id=inp.item_id, label=step.label, outcome="not_posted")
        client = await self.deps.mymoment(article.login_id)
        async with self.deps.tally_requests(article.process_id) as tally:
            try:
                detail = await client.read_article(article.article_id)
            except (NotFoundError, ForbiddenError) as exc:
                return await run_db(
                    db, follow_ups.record_outcome, inp.item_id, step.label, "failed", str(exc)
                )
            comment_html = (await run_db(self._item, inp.item_id)).comment_html or ""
            reply = parsers.reply_below(detail, client.username, comment_html, DISCLOSURE)
            max_versions = self.deps.settings.student_backup_max_versions_per_article

            def store() -> FollowUpOutcome:
                with self.deps.db() as session:
                    tally.store(session)
                    return follow_ups.record_read(session, article, step.label, detail, reply, max_versions)

            return await run_db(store)

    def _item(self, item_id: str) -> AIComment:
        with self.deps.db() as session:
            item = items.get_item(session, item_id)
            if item is None:
                raise NotFoundError(f"work item {item_id} does not exist")
            return item

    # --- notifications --------------------------------------------------------------------------------

    @activity.defn
    @translate_errors
    async def send_notification(self, inp: NotifyInput) -> NotifyResult:
        """One message to the NOTIFY_URLS of this worker (never in the input: they are secrets)."""
        return await deliver(self.deps, inp)

    ACTIVITIES = (
        load_process_config,
        record_process,
        finish_process,
        resume_items,
        mark_item,
        end_regeneration,
        discover_articles,
        prepare_article,
        send_notification,
        plan_follow_ups,
        follow_up_read,
    )


async def deliver(deps: Dependencies, inp: NotifyInput, subject: str | None = None) -> NotifyResult:
    """Composes the message from the process's name and its comments waiting for approval, sends it and
    records the attempt (delivered, or the value-free reason); a failure is raised again, so the
    calling activity's retries apply."""
    notifier = deps.notifier
    if not notifier.configured:
        return NotifyResult(sent=False, detail="no NOTIFY_URLS on this worker")
    name, unposted = await run_db(deps.in_session, _about_process, inp.process_id)
    try:
        await notifier.send(compose(inp, name, unposted.waiting_for_approval, unposted.left_by_a_stop))
    except Exception as exc:
        reason = str(reduce_error(exc, "the notifier"))
        await run_db(
            deps.in_session,
            notifications.record,
            inp.kind,
            process_id=inp.process_id,
            subject=subject,
            error=reason,
        )
        activity.logger.warning(
            "notification %s for process %s not delivered: %s", inp.kind, inp.process_id, reason
        )
        raise
    await run_db(deps.in_session, notifications.record, inp.kind, process_id=inp.process_id, subject=subject)
    return NotifyResult(sent=True, detail=f"sent to {notifier.describe()}")


def _about_process(session: Session, process_id: str) -> tuple[str, notifications.Unposted]:
    """The process's name (its id when it is gone) and its generated comments not posted."""
    name = session.scalar(select(MonitoringProcess.name).where(MonitoringProcess.id == process_id))
    return name or process_id, notifications.unposted(session, process_id)


def _sibling_claimed(session: Session, item: AIComment, client: MyMomentClient) -> bool:
    """In `all` mode the account posts one comment per prompt: once this process holds the article's
    claim, the comments of its other prompts are expected on the page."""
    if item.prompt_slot == posting.ARTICLE_CLAIM:
        return False
    article = posting.claim_row(
        session,
        client.account_key,
        item.mymoment_article_id,
        posting.ARTICLE_CLAIM,
        client.legacy_account_keys,
    )
    return article is not None and article.process_id == item.process_id
