"""MonitoringProcessWorkflow: one run of a monitoring process, driven by durable timers."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from temporalio import workflow
from temporalio.common import RawValue, SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.monitoring import MonitoringActivities
    from activities.sessions import SessionActivities
    from workflows.activity_config import (
        BOOKKEEPING,
        CLOSE_SESSIONS,
        FINISH_PROCESS,
        NOTIFY,
        OPEN_SESSION,
        READ_MYMOMENT,
        deployed,
    )
    from workflows.article import ArticleCommentWorkflow, pick_prompt
    from workflows.common import failure_message, is_cancellation, is_permanent, is_rejected_login
    from workflows.signals import NO_INPUT, read_stop
    from yourmoment.messages import (
        SEARCH_ATTR_PROCESS_ID,
        SEARCH_ATTR_PROCESS_NAME,
        SEARCH_ATTR_STATUS,
        ArticleFilter,
        ArticleWorkflowInput,
        CloseSessionsInput,
        DiscoverInput,
        DiscoverResult,
        FinishProcessInput,
        LoadProcessInput,
        LoginState,
        MonitorInput,
        MonitorResult,
        MonitorState,
        MonitorStatus,
        NotifyInput,
        OpenSessionInput,
        ProcessConfig,
        RecordProcessInput,
        ResumeItemsInput,
        RunCounts,
        StopRequest,
        WorkItemRef,
        workflow_id_for_item,
    )
    from yourmoment.statuses import CommentStatus, LoginSessionState, ProcessStatus, RunEnd

Outcome = tuple[RunEnd, str]  # how a run ends, and why (shown as the process's stop reason)

MAX_BACKOFF_SECONDS = 600
PROCESS_ID_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTR_PROCESS_ID)
STATUS_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTR_STATUS)
PROCESS_NAME_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTR_PROCESS_NAME)
# Article workflows carry their process's id, so one filter in the Web UI finds a process and its articles.
# Guarded: runs recorded before this started their children without it.
CHILD_ATTRIBUTES_PATCH = "article-process-id-attribute"
# Notifications (NOTIFY_URLS): activities that runs recorded before them never scheduled.
NOTIFY_PATCH = "notifications"
# YourMomentStatus follows pause, resume and stop; YourMomentProcessName on the process and its articles.
# Guarded: runs recorded before this upserted the status only at the start and the end.
TEACHER_ATTRIBUTES_PATCH = "status-follows-state-and-process-name"
# A stop without --drain records at once that the article workflows post nothing more (their post
# activity reads it right before the POST). Guarded: runs recorded before this did not record it.
STOP_HOLDS_POSTS_PATCH = "stop-holds-posts"
PAUSED = "paused"  # YourMomentStatus while paused (the process row stays `running`)
# Discovery stretches its interval while the site's budget is saturated (yourmoment/budget.py).
BUDGET_PATCH = "discovery-adapts-to-site-budget"
# A stop that arrives while a run waits for its children before continuing as new ends the process
# instead of being left behind with the old run. Guarded: runs recorded before this continued as new.
STOP_BEFORE_CONTINUE_PATCH = "stop-before-continue-as-new"
# Runs continue as new after `MonitorInput.events_before_continue` events instead of 500 loop passes: the
# worker's memory for a cached run grows with its history. Guarded: runs recorded with the old rule.
SHORT_RUNS_PATCH = "short-runs"
# A discovery that gave its turn up comes back at a random point once the queue it saw has drained,
# instead of after its whole interval: processes that gave up together no longer come back together.
# Guarded: runs recorded before this waited the stretched interval and drew no random number.
RETRY_APART_PATCH = "give-up-retries-apart"
SATURATED_NOTE = "discovery slowed: site budget saturated"
SATURATED_MIN_WAIT_SECONDS = 2.0


def discovery_wait(interval: int, empty_streak: int) -> float:
    """Runs that find nothing back off: interval · 2^(streak−1), capped at 600 s; a hit resets."""
    if empty_streak <= 0:
        return float(interval)
    return float(min(interval * 2 ** (empty_streak - 1), max(MAX_BACKOFF_SECONDS, interval)))


def budget_saturated_after(interval: int) -> float:
    """The wait for a turn in the site's budget beyond which discovery counts it as saturated."""
    return max(SATURATED_MIN_WAIT_SECONDS, interval / 4)


def next_budget_stretch(stretch: int, wait_seconds: float, interval: int) -> int:
    """After a discovery that waited `wait_seconds` for its turns: while the budget is saturated, one doubling
    more, or at once as many as make the interval as long as that wait (up to the backoff cap); one doubling
    less once the wait is under half the threshold."""
    threshold = budget_saturated_after(interval)
    if wait_seconds > threshold:
        cap = max(MAX_BACKOFF_SECONDS, interval)
        needed = math.ceil(math.log2(wait_seconds / interval)) if wait_seconds > interval else 0
        wanted = max(stretch + 1, needed)
        while wanted > 0 and interval * 2 ** (wanted - 1) >= cap:  # doublings past the cap change nothing
            wanted -= 1
        return max(wanted, stretch)
    if wait_seconds <= threshold / 2:
        return max(0, stretch - 1)
    return stretch


def adaptive_discovery_wait(interval: int, empty_streak: int, stretch: int) -> float:
    """The backoff's wait, or the interval doubled `stretch` times if longer; capped like the backoff."""
    stretched = min(interval * 2**stretch, max(MAX_BACKOFF_SECONDS, interval))
    return max(discovery_wait(interval, empty_streak), float(stretched))


def retry_after_give_up(budget_wait: float, interval_wait: float, draw: float) -> float:
    """When a discovery that gave its turn up tries again: after the wait for a turn it saw (the queue it
    would have joined has drained by then) plus a random share `draw` (0 ≤ draw < 1) of as long again, so
    the processes of one wave come back spread over the next. A give-up saw more than the 5 s a discovery
    waits, so a process tries at most that often. The base is at most half the interval's wait: the retry
    is never later than that wait, and the random share always counts (a wave pinned to the interval
    would come back as one)."""
    base = min(max(budget_wait, SATURATED_MIN_WAIT_SECONDS), interval_wait / 2)
    return base * (1.0 + draw)


def left_out_message(reasons: list[str], shown: int = 3) -> str | None:
    """The articles a discovery could not record, for the status (the first few of them, each once)."""
    unique = sorted(set(reasons))
    if not unique:
        return None
    more = f"; and {len(unique) - shown} more" if len(unique) > shown else ""
    return "discovery: " + "; ".join(unique[:shown]) + more


class BudgetTurn(NamedTuple):
    """How a discovery run fared in the site's budget: its logins' longest wait, and whether all gave up."""

    wait: float
    gave_up: bool


@workflow.defn
class MonitoringProcessWorkflow:
    def __init__(self) -> None:
        self._state = MonitorState()
        self._config: ProcessConfig | None = None
        self._stop: StopRequest | None = None
        self._discover_now = False
        self._children: dict[str, asyncio.Task[None]] = {}
        self._status = ProcessStatus.RUNNING
        self._next_discovery_at: datetime | None = None
        self._process_id = ""
        self._use_search_attributes = False
        self._notices: set[asyncio.Task[None]] = set()
        self._approval_timer: asyncio.Task[None] | None = None
        self._hold_posts: asyncio.Task[None] | None = None

    # --- messages -----------------------------------------------------------------------------------

    # Each state change refreshes the Web UI's details at once (details are not commands: replay-safe).

    # Every signal takes its input raw (nothing, null, text or JSON, as people type it in the CLI or the
    # Web UI's dialog): pause, resume and discover_now need none and ignore what comes; stop reads it.

    @workflow.signal
    def stop(self, request: RawValue = NO_INPUT) -> None:
        read = read_stop(request)
        if isinstance(read, str):
            self._state.ignored_signal = f"ignored signal stop: {read}"
            workflow.logger.warning(self._state.ignored_signal)
            self._show_progress()
            return
        if self._stop is not None and not (self._stop.drain and not read.drain):
            return  # stopping already; only a stop without --drain after one with it changes anything
        self._stop = read
        self._next_discovery_at = None
        if not read.drain and self._hold_posts is None and workflow.patched(STOP_HOLDS_POSTS_PATCH):
            self._hold_posts = asyncio.create_task(self._record_hold())
        self._show_status(ProcessStatus.STOPPING)
        self._show_progress()

    @workflow.signal
    def pause(self, _input: RawValue = NO_INPUT) -> None:
        self._state.paused = True
        self._next_discovery_at = None
        if self._stop is None:
            self._show_status(PAUSED)
        self._show_progress()

    @workflow.signal
    def resume(self, _input: RawValue = NO_INPUT) -> None:
        was_paused, self._state.paused = self._state.paused, False
        self._discover_now = True
        if was_paused:
            self._next_discovery_at = workflow.now()  # resume discovers at once
            if self._stop is None:
                self._show_status(ProcessStatus.RUNNING)
            self._show_progress()

    @workflow.signal
    def discover_now(self, _input: RawValue = NO_INPUT) -> None:
        self._discover_now = True

    @workflow.query
    def status(self) -> MonitorStatus:
        cfg = self._config
        return MonitorStatus(
            process_id=self._process_id,
            name=cfg.name if cfg else "",
            status=self._shown_status(),
            stop_reason=self._stop.reason if self._stop else None,
            started_at=self._state.started_at,
            deadline=self._state.deadline,
            paused=self._state.paused,
            run_counts=RunCounts.model_validate(self._state.counts.model_dump()),
            logins=self._state.logins,
            in_flight=len(self._children),
            discovery_runs=self._state.discovery_runs,
            empty_streak=self._state.empty_streak,
            last_discovery_at=self._state.last_discovery_at,
            next_discovery_at=self._next_discovery_at,
            last_error=self._state.last_error,
            all_runs=self._state.totals,
            ignored_signal=self._state.ignored_signal,
            discovery_note=SATURATED_NOTE if self._state.budget_stretch else None,
        )

    # --- main loop ----------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: MonitorInput) -> MonitorResult:
        self._process_id = inp.process_id
        self._use_search_attributes = inp.use_search_attributes
        first_run = inp.state is None
        self._state = inp.state or MonitorState()
        outcome: Outcome | None
        try:
            self._config = await workflow.execute_activity_method(
                MonitoringActivities.load_process_config,
                LoadProcessInput(process_id=inp.process_id, mark_running=first_run),
                **deployed(BOOKKEEPING),
            )
            cfg = self._config
            if self._state.deadline is None:
                # Workflow time, not the database's clock: the deadline is a durable timer of this run.
                self._state.started_at = workflow.now()
                self._state.deadline = workflow.now() + timedelta(minutes=cfg.max_duration_minutes)
            if inp.use_search_attributes:
                workflow.upsert_search_attributes(
                    [PROCESS_ID_KEY.value_set(inp.process_id), STATUS_KEY.value_set(ProcessStatus.RUNNING)]
                )
                if workflow.patched(TEACHER_ATTRIBUTES_PATCH):
                    status = PAUSED if self._state.paused and self._stop is None else self._shown_status()
                    workflow.upsert_search_attributes(
                        [PROCESS_NAME_KEY.value_set(cfg.name), STATUS_KEY.value_set(status)]
                    )
            if first_run:
                outcome = await self._open_sessions()
                if outcome is None:
                    await self._resume_pending()
            else:
                outcome = None
            if outcome is None:
                outcome = await self._loop(inp)
        except asyncio.CancelledError:
            outcome = (RunEnd.STOPPED, "cancelled")
        if outcome[0] == RunEnd.CONTINUE:
            await workflow.wait_condition(lambda: not self._children)
            await workflow.wait_condition(workflow.all_handlers_finished)
            # A stop is no state the next run inherits: received while the children finished, it ends
            # the process here (pause, by contrast, is in `_state` and carries over).
            if self._stop is not None and workflow.patched(STOP_BEFORE_CONTINUE_PATCH):
                outcome = (RunEnd.STOPPED, self._stop.reason)
            else:
                await self._settle_notices()
                workflow.continue_as_new(inp.model_copy(update={"state": self._state}))
        return await self._shutdown(inp, *outcome)

    async def _loop(self, inp: MonitorInput) -> Outcome:
        cfg = self._config
        assert cfg is not None and self._state.deadline is not None
        iterations = 0
        self._announce_approvals()  # those a previous run left unannounced
        while True:
            if self._stop is not None:
                return RunEnd.STOPPED, self._stop.reason
            if workflow.now() >= self._state.deadline:
                return RunEnd.COMPLETED, "max_duration"
            if not self._ready_logins():
                return RunEnd.FAILED, "no login can sign in: " + self._login_errors()
            if self._history_full(inp, iterations):
                return RunEnd.CONTINUE, "history limit"
            iterations += 1
            if self._state.paused:
                self._next_discovery_at = None
                self._show_progress()
                await self._wait(lambda: self._stop is not None or not self._state.paused)
                continue
            self._discover_now = False
            turn = await self._discover()
            wait = discovery_wait(cfg.discovery_interval_seconds, self._state.empty_streak)
            if workflow.patched(BUDGET_PATCH):
                interval = cfg.discovery_interval_seconds
                if turn is not None:
                    self._state.budget_stretch = next_budget_stretch(
                        self._state.budget_stretch, turn.wait, interval
                    )
                wait = adaptive_discovery_wait(interval, self._state.empty_streak, self._state.budget_stretch)
                if turn is not None and turn.gave_up and workflow.patched(RETRY_APART_PATCH):
                    wait = retry_after_give_up(turn.wait, wait, workflow.random().random())
            self._next_discovery_at = workflow.now() + timedelta(seconds=wait)
            self._show_progress()
            await self._wait(
                lambda: self._stop is not None or self._discover_now or self._state.paused, timeout=wait
            )

    @staticmethod
    def _history_full(inp: MonitorInput, passes: int) -> bool:
        """Time to continue as new: the run's history holds `events_before_continue` events (after one
        pass of the loop at least, so every run makes progress), or the server suggests it."""
        if workflow.info().is_continue_as_new_suggested():
            return True
        if workflow.patched(SHORT_RUNS_PATCH):
            return passes > 0 and workflow.info().get_current_history_length() >= inp.events_before_continue
        return passes >= inp.iterations_before_continue

    async def _wait(self, condition: Callable[[], bool], timeout: float | None = None) -> None:
        """Waits for a signal, the timeout, or the deadline, whichever comes first (durable timers)."""
        assert self._state.deadline is not None
        left = (self._state.deadline - workflow.now()).total_seconds()
        limit = left if timeout is None else min(timeout, left)
        if limit <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(condition, timeout=timedelta(seconds=limit))

    # --- sessions -----------------------------------------------------------------------------------

    async def _open_sessions(self) -> Outcome | None:
        cfg = self._config
        assert cfg is not None
        self._state.logins = [LoginState(login_id=ref.login_id, name=ref.name) for ref in cfg.logins]
        await asyncio.gather(*(self._open_session(state) for state in self._state.logins))
        if not self._ready_logins():
            return RunEnd.FAILED, "no login can sign in: " + (
                self._login_errors() or "the process has no login"
            )
        return None

    async def _open_session(self, login: LoginState) -> None:
        try:
            await workflow.execute_activity_method(
                SessionActivities.open_session,
                OpenSessionInput(login_id=login.login_id),
                **deployed(OPEN_SESSION),
            )
            login.state = LoginSessionState.READY
        except ActivityError as err:
            login.state, login.error = LoginSessionState.FAILED, failure_message(err)
            self._notify_rejected_login(login, err)

    def _ready_logins(self) -> list[LoginState]:
        return [login for login in self._state.logins if login.state == LoginSessionState.READY]

    def _login_errors(self) -> str:
        return "; ".join(f"{login.name}: {login.error}" for login in self._state.logins if login.error)

    # --- discovery ----------------------------------------------------------------------------------

    async def _discover(self) -> BudgetTurn | None:
        """One discovery run; returns the longest wait of its logins for the site's budget, and whether
        they all gave their turn up (None: no login ran)."""
        cfg = self._config
        assert cfg is not None
        baseline = not cfg.comment_on_existing and not self._state.baseline_done
        slots = [p.template_id for p in cfg.prompts] if cfg.prompt_mode == "all" else [""]
        results = await asyncio.gather(
            *(self._discover_login(login, slots, baseline) for login in self._ready_logins())
        )
        self._state.discovery_runs += 1
        self._state.last_discovery_at = workflow.now()
        succeeded = [r for r in results if r is not None]
        self._state.totals = next((r.totals for r in reversed(succeeded) if r.totals), self._state.totals)
        if not succeeded:
            return None  # an error run: recorded, next try after the plain interval, streak unchanged
        if all(r.budget_saturated for r in succeeded):
            # Nothing listed, the site's budget is taken: no baseline, streak unchanged; the caller slows down.
            return BudgetTurn(max(r.budget_wait_seconds for r in succeeded), gave_up=True)
        # A login that could not list has recorded no baseline yet: the next run records it.
        if not any(r.budget_saturated for r in succeeded):
            self._state.baseline_done = True
        # Items already running are not news (discovery also returns unstarted items of earlier attempts).
        new_items = [item for r in succeeded for item in r.new_items if item.item_id not in self._children]
        self._state.empty_streak = 0 if new_items else self._state.empty_streak + 1
        if len(succeeded) == len(results):
            # A clean run clears the last error; articles it had to leave out stay named instead.
            await self._show_error(left_out_message([reason for r in succeeded for reason in r.left_out]))
        for item in new_items:
            self._start_child(item)
        return BudgetTurn(max(r.budget_wait_seconds for r in succeeded), gave_up=False)

    async def _show_error(self, message: str | None) -> None:
        """The process's last error (status, the process row) becomes `message`; None clears it."""
        cfg = self._config
        assert cfg is not None
        if message == self._state.last_error:
            return
        self._state.last_error = message
        record = (
            RecordProcessInput(process_id=cfg.process_id, last_error=message)
            if message
            else RecordProcessInput(process_id=cfg.process_id, clear_error=True)
        )
        await self._record(record)

    async def _discover_login(
        self, login: LoginState, slots: list[str], baseline: bool
    ) -> DiscoverResult | None:
        cfg = self._config
        assert cfg is not None
        request = DiscoverInput(
            **_filter_of(cfg),
            process_id=cfg.process_id,
            login_id=login.login_id,
            limit=cfg.max_articles,
            prompt_slots=slots,
            baseline=baseline,
        )
        try:
            return await workflow.execute_activity_method(
                MonitoringActivities.discover_articles, request, **deployed(READ_MYMOMENT)
            )
        except ActivityError as err:
            message = f"discovery failed for {login.name}: {failure_message(err)}"
            if is_permanent(err):
                login.state, login.error = LoginSessionState.FAILED, failure_message(err)
                self._notify_rejected_login(login, err)
            self._state.last_error = message
            await self._record(RecordProcessInput(process_id=cfg.process_id, last_error=message))
            return None

    # --- article children ---------------------------------------------------------------------------

    async def _resume_pending(self) -> None:
        cfg = self._config
        assert cfg is not None
        pending = await workflow.execute_activity_method(
            MonitoringActivities.resume_items,
            ResumeItemsInput(process_id=cfg.process_id, include_posting=not cfg.generate_only),
            **deployed(BOOKKEEPING),
        )
        ready = {login.login_id for login in self._ready_logins()}
        for item in pending.items:
            if item.login_id in ready:
                self._start_child(item, count_discovered=False)

    def _start_child(self, item: WorkItemRef, count_discovered: bool = True) -> None:
        if item.item_id in self._children:
            return
        if count_discovered:
            self._state.counts.discovered += 1
        self._children[item.item_id] = asyncio.create_task(self._run_child(item))

    async def _run_child(self, item: WorkItemRef) -> None:
        cfg = self._config
        assert cfg is not None
        child_input = ArticleWorkflowInput(
            **item.model_dump(),  # the work item's ids and prompt slot
            process_id=cfg.process_id,
            # Chosen here, so a child carries one template id instead of the whole weighted list.
            template_id=item.prompt_slot or pick_prompt(cfg.prompts, workflow.random().random()),
            generate_only=cfg.generate_only,
            hide=cfg.hide_comments,
            pace_comments=cfg.pace_comments,
        )
        try:
            handle = await workflow.start_child_workflow(
                ArticleCommentWorkflow.run,
                child_input,
                id=workflow_id_for_item(cfg.process_id, item.login_id, item.article_id, item.prompt_slot),
                task_queue=workflow.info().task_queue,  # the monitoring queue this workflow runs on
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                static_summary=self._child_summary(item.article_id, item.login_id, child_input.template_id),
                search_attributes=self._child_search_attributes(),
            )
            result = await handle
            self._count(result.status)
            if result.status == CommentStatus.GENERATED:
                self._approval_waiting()
        except WorkflowAlreadyStartedError:
            pass  # the same work item runs already: Temporal refused the duplicate
        except ChildWorkflowError as err:
            if not is_cancellation(err):
                self._state.last_error = f"article {item.article_id}: {failure_message(err)}"
            self._count(CommentStatus.SKIPPED)
            self._show_progress()
        finally:
            self._children.pop(item.item_id, None)
            self._show_progress()

    def _child_search_attributes(self) -> TypedSearchAttributes | None:
        if not self._use_search_attributes or not workflow.patched(CHILD_ATTRIBUTES_PATCH):
            return None
        pairs: list[SearchAttributePair[str]] = [SearchAttributePair(PROCESS_ID_KEY, self._process_id)]
        if self._config and workflow.patched(TEACHER_ATTRIBUTES_PATCH):
            pairs.append(SearchAttributePair(PROCESS_NAME_KEY, self._config.name))
        return TypedSearchAttributes(pairs)

    def _child_summary(self, article_id: str, login_id: str, template_id: str) -> str:
        """What the article workflow does, in the teacher's words (the Web UI's list shows it): the
        process, the article's number, the login and the template by their names; never a pupil's."""
        cfg = self._config
        assert cfg is not None
        login = next((ref.name for ref in cfg.logins if ref.login_id == login_id), "?")
        template = next((p.name for p in cfg.prompts if p.template_id == template_id and p.name), "?")
        return f"{cfg.name}: article {article_id}, login {login}, template {template}"

    def _count(self, status: CommentStatus) -> None:
        counts = self._state.counts
        if hasattr(counts, status):
            setattr(counts, status, getattr(counts, status) + 1)

    # --- the end ------------------------------------------------------------------------------------

    async def _shutdown(self, inp: MonitorInput, end: RunEnd, reason: str) -> MonitorResult:
        status = ProcessStatus(end)
        self._status = ProcessStatus.STOPPING
        self._next_discovery_at = None
        self._show_status(ProcessStatus.STOPPING)
        self._show_progress()
        if self._hold_posts is not None:
            await self._hold_posts
        elif end == RunEnd.STOPPED and self._stop is None and workflow.patched(STOP_HOLDS_POSTS_PATCH):
            await self._record_hold()  # cancelled (the Web UI's "Request Cancellation"): a stop as well
        if self._children:
            await self._record(RecordProcessInput(process_id=inp.process_id, status=ProcessStatus.STOPPING))
            # Running article work may finish within the grace period; the rest is cancelled.
            try:
                await workflow.wait_condition(
                    lambda: not self._children, timeout=timedelta(seconds=inp.grace_seconds)
                )
            except TimeoutError:
                for task in list(self._children.values()):
                    task.cancel()
                await workflow.wait_condition(lambda: not self._children)
        login_ids = [login.login_id for login in self._state.logins]
        await workflow.execute_activity_method(
            SessionActivities.close_sessions,
            CloseSessionsInput(login_ids=login_ids),
            **deployed(CLOSE_SESSIONS),
        )
        finished = await workflow.execute_activity_method(
            MonitoringActivities.finish_process,
            FinishProcessInput(
                process_id=inp.process_id, status=status, reason=reason, logins=self._state.logins
            ),
            **deployed(FINISH_PROCESS),
        )
        await self._notify_ended(status, reason)
        self._status = status
        self._state.totals = finished.totals or self._state.totals
        if inp.use_search_attributes:
            workflow.upsert_search_attributes([STATUS_KEY.value_set(status)])
        self._show_progress()
        return MonitorResult(
            process_id=inp.process_id,
            status=status,
            reason=reason,
            counts=self._state.counts,
            left_unposted=finished.left_unposted,
        )

    # --- notifications (NOTIFY_URLS) -----------------------------------------------------------------

    # Sent in the background: a notifier that fails after NOTIFY's retries is logged (and recorded by
    # the activity for `health`), never the process's failure, and never holds up its work.

    def _notifying(self) -> bool:
        cfg = self._config
        return cfg is not None and cfg.notify and workflow.patched(NOTIFY_PATCH)

    def _notify(self, notice: NotifyInput) -> None:
        task = asyncio.create_task(self._send_notice(notice))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    async def _send_notice(self, notice: NotifyInput) -> None:
        try:
            await workflow.execute_activity_method(
                MonitoringActivities.send_notification, notice, **deployed(NOTIFY)
            )
        except ActivityError as err:
            if not is_cancellation(err):
                workflow.logger.warning("notification %s not sent: %s", notice.kind, failure_message(err))

    def _notify_rejected_login(self, login: LoginState, err: ActivityError) -> None:
        if is_rejected_login(err) and self._notifying():
            self._notify(
                NotifyInput(
                    kind="login_rejected",
                    process_id=self._process_id,
                    login=login.name,
                    reason=failure_message(err),
                )
            )

    def _approval_waiting(self) -> None:
        """A comment now waits for a person (require-approval and generate-only processes)."""
        cfg = self._config
        if cfg is not None and cfg.generate_only and self._notifying():
            self._state.approvals_unannounced += 1
            self._announce_approvals()

    def _announce_approvals(self) -> None:
        """At most one message per NOTIFY_MIN_INTERVAL: comments generated sooner are announced once it
        has passed (a timer), or in the process's last message."""
        cfg, state = self._config, self._state
        if cfg is None or not state.approvals_unannounced or not self._notifying():
            return
        last = state.approvals_announced_at
        due = last + timedelta(seconds=cfg.notify_min_interval_seconds) if last else workflow.now()
        if workflow.now() < due:
            if self._approval_timer is None:
                self._approval_timer = asyncio.create_task(self._announce_at(due))
            return
        state.approvals_announced_at = workflow.now()
        new, state.approvals_unannounced = state.approvals_unannounced, 0
        self._notify(NotifyInput(kind="approval", process_id=self._process_id, new=new))

    async def _announce_at(self, due: datetime) -> None:
        await workflow.sleep(due - workflow.now())
        self._approval_timer = None
        self._announce_approvals()

    async def _notify_ended(self, status: ProcessStatus, reason: str) -> None:
        """The last message: how the run ended, its counts and the comments still waiting."""
        if not self._notifying():
            return
        self._state.approvals_unannounced = 0  # the message counts every comment waiting
        self._notify(
            NotifyInput(
                kind="ended",
                process_id=self._process_id,
                status=status,
                reason=reason,
                counts=RunCounts.model_validate(self._state.counts.model_dump()),
            )
        )
        await self._settle_notices()

    async def _settle_notices(self) -> None:
        """Before the run ends: no timer left, every message sent or given up."""
        if self._approval_timer is not None:
            self._approval_timer.cancel()
            self._approval_timer = None
        if self._notices:
            await workflow.wait_condition(lambda: not self._notices)

    async def _record_hold(self) -> None:
        """A stop without --drain: the row says at once that nothing more is posted (the article
        workflows' post activity reads it right before each POST; a POST already sent finishes)."""
        await self._record(
            RecordProcessInput(process_id=self._process_id, status=ProcessStatus.STOPPING, hold_posts=True)
        )

    def _show_status(self, status: str) -> None:
        """YourMomentStatus follows the state: running, paused, stopping (then the end's status)."""
        if self._use_search_attributes and workflow.patched(TEACHER_ATTRIBUTES_PATCH):
            workflow.upsert_search_attributes([STATUS_KEY.value_set(status)])

    async def _record(self, record: RecordProcessInput) -> None:
        await workflow.execute_activity_method(
            MonitoringActivities.record_process, record, **deployed(BOOKKEEPING)
        )

    def _shown_status(self) -> ProcessStatus:
        return (
            ProcessStatus.STOPPING if self._stop and self._status == ProcessStatus.RUNNING else self._status
        )

    def _show_progress(self) -> None:
        """Plain text for the Web UI's workflow details, readable without decoding payloads."""
        workflow.set_current_details(progress_details(self.status()))


def progress_details(view: MonitorStatus) -> str:
    """The Web UI's details of a process: its state, this start's counts and the totals of all runs
    (the database's, manual posts included) beside them, labelled, and what a person should know."""
    c = view.run_counts
    nxt = view.next_discovery_at.strftime("%H:%M:%S") if view.next_discovery_at else "-"
    paused = " (paused)" if view.paused and view.status == ProcessStatus.RUNNING else ""
    lines = [
        f"{view.name or view.process_id}: {view.status}{paused}"
        + (f"; stop reason: {view.stop_reason}" if view.stop_reason else ""),
        f"since start: discovered {c.discovered}, posted {c.posted}, generated {c.generated}, "
        f"failed {c.failed}, skipped {c.skipped}; in flight {view.in_flight}",
    ]
    if (t := view.all_runs) is not None:
        lines.append(
            f"all runs (database, as of the last discovery): posted {t.posted}, generated and not posted {t.generated}, "
            f"posting {t.posting}, failed {t.failed}, skipped {t.skipped}, in work {t.discovered + t.prepared}"
        )
    note = f"; {view.discovery_note}" if view.discovery_note else ""
    lines.append(
        f"discovery runs {view.discovery_runs}, next {nxt}{note}; last error: {view.last_error or '-'}"
    )
    if view.ignored_signal:
        lines.append(view.ignored_signal)
    return "\n".join(lines)


def _filter_of(cfg: ProcessConfig) -> dict[str, object]:
    """The article filter part of the configuration, as fields for a DiscoverInput."""
    return cfg.model_dump(include=set(ArticleFilter.model_fields))
