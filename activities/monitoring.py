"""Process bookkeeping activities: load the configuration, record progress, settle a run's end."""

from __future__ import annotations

import math

from temporalio import activity

from activities.deps import ActivityGroup
from activities.errors import translate_errors
from yourmoment.errors import NotFoundError
from yourmoment.messages import (
    FinishProcessInput,
    FinishProcessResult,
    LoadProcessInput,
    LoginRef,
    MarkItemInput,
    ProcessConfig,
    PromptChoice,
    RecordProcessInput,
    ResumeItemsInput,
    ResumeItemsResult,
)
from yourmoment.store import items, processes
from yourmoment.store.db import run_db
from yourmoment.store.models import MonitoringProcess, MyMomentLogin, PromptTemplate, utcnow


class RowWith:
    """A database row seen with some attributes replaced or added (for `model_validate(from_attributes)`)."""

    def __init__(self, row: object, **extra: object) -> None:
        self._row, self._extra = row, extra

    def __getattr__(self, name: str) -> object:
        return self._extra[name] if name in self._extra else getattr(self._row, name)


class ProcessActivities(ActivityGroup):
    @activity.defn(name="load_process_config")
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
            for link in process.prompts:
                tpl = session.get(PromptTemplate, link.template_id)
                # A non-finite weight (stored before weights were checked) could not travel as JSON.
                if link.is_active and 0 < link.weight < math.inf and tpl is not None and tpl.is_active:
                    prompts.append(PromptChoice(template_id=tpl.id, weight=link.weight))
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
            )
            return ProcessConfig.model_validate(row, from_attributes=True)

    @activity.defn(name="record_process")
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
            if inp.last_error:
                process.last_error = inp.last_error
            elif inp.clear_error:
                process.last_error = None

    @activity.defn(name="finish_process")
    @translate_errors
    async def finish_process(self, inp: FinishProcessInput) -> FinishProcessResult:
        result = await run_db(self._finish, inp)
        return result

    def _finish(self, inp: FinishProcessInput) -> FinishProcessResult:
        with self.deps.db() as session:
            skipped, returned = items.settle_leftovers(
                session, inp.process_id, f"process ended: {inp.reason}"
            )
            process = session.get(MonitoringProcess, inp.process_id)
            if process is not None:
                process.status = inp.status
                process.stop_reason = inp.reason
                process.stopped_at = utcnow()
                if inp.status == "failed":
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
        return FinishProcessResult(skipped=skipped, returned_to_generated=returned)

    @activity.defn(name="resume_items")
    @translate_errors
    async def resume_items(self, inp: ResumeItemsInput) -> ResumeItemsResult:
        def pending() -> ResumeItemsResult:
            with self.deps.db() as session:
                refs = items.pending_for_resume(session, inp.process_id, inp.include_posting)
                return ResumeItemsResult(items=refs)

        return await run_db(pending)

    @activity.defn(name="mark_item")
    @translate_errors
    async def mark_item(self, inp: MarkItemInput) -> bool:
        def mark() -> bool:
            with self.deps.db() as session:
                allowed = inp.only_from or ["discovered", "prepared", "generated", "posting"]
                return items.cas(session, inp.item_id, allowed, inp.status, error=inp.reason[:2000])

        return await run_db(mark)
