"""Inputs and results of every workflow and activity: ids, settings and counts, never secrets.

This module is imported inside the workflow sandbox, so it imports nothing but Pydantic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from yourmoment.statuses import CommentStatus, LoginSessionState, PostOutcome, ProcessStatus

# Task queues (docs/rules.md#task-queues). On the server each is named prefix + queue, the
# prefix (TEMPORAL_TASK_QUEUE_PREFIX) separating deployments that share one Temporal namespace.
QUEUE_MONITORING = "monitoring"
QUEUE_COMMENTS = "comments"
QUEUE_SESSIONS = "sessions"
QUEUE_MAINTENANCE = "maintenance"
ALL_QUEUES = (QUEUE_MONITORING, QUEUE_COMMENTS, QUEUE_SESSIONS, QUEUE_MAINTENANCE)
# The queues whose workers run workflows as well as activities (workflows/by_queue.py has their classes).
WORKFLOW_QUEUES = (QUEUE_MONITORING, QUEUE_MAINTENANCE)
DEFAULT_QUEUE_PREFIX = "yourmoment-"


def task_queue(prefix: str, queue: str) -> str:
    """The one place a task queue's server name is built (see also Settings.task_queue)."""
    return f"{prefix}{queue}"


def queue_prefix_of(name: str) -> str:
    """The prefix of a task queue's server name: a workflow reads its deployment's prefix off the
    queue it runs on, so no input has to carry it."""
    for queue in ALL_QUEUES:
        if name.endswith(queue):
            return name[: -len(queue)]
    raise ValueError(f"task queue {name!r} is none of {', '.join(ALL_QUEUES)}")


# Search attributes (registered on the server by the demo, the tests and docker-compose).
SEARCH_ATTR_PROCESS_ID = "YourMomentProcessId"
SEARCH_ATTR_STATUS = "YourMomentStatus"
SEARCH_ATTR_PROCESS_NAME = "YourMomentProcessName"  # the teacher's name of the process, to find it by


def workflow_id_for_process(process_id: str) -> str:
    return f"monitoring-process-{process_id}"


def workflow_id_for_item(process_id: str, login_id: str, article_id: str, prompt_slot: str = "") -> str:
    """Derived from the work item's natural key, so Temporal itself refuses a duplicate."""
    base = f"article-{process_id}-{login_id}-{article_id}"
    return f"{base}-{prompt_slot}" if prompt_slot else base


class Message(BaseModel):
    """Base of every workflow and activity input and result.

    JSON has no inf or nan: the converter would write `null` and the workflow could never decode its
    input again, retrying its task forever. Such a value fails here, where it is built.
    """

    model_config = ConfigDict(allow_inf_nan=False)


# --- process configuration ---------------------------------------------------------------------------


class PromptChoice(Message):
    template_id: str
    weight: float = Field(gt=0)
    name: str = ""  # the template's name, for the article workflows' summaries in the Web UI


class LoginRef(Message):
    login_id: str
    name: str


class ArticleFilter(Message):
    """Which articles a process watches: the site's tab and filters (a process row's columns)."""

    tab: str
    category_id: int | None
    task_id: int | None
    search: str | None


class ProcessSettings(ArticleFilter):
    """What a user sets on a process, as its row's columns name it: declared once here, read off a row
    with `model_validate(row, from_attributes=True)` by the workflow's configuration and `process show`
    (store/processes.ProcessSpec is the same set as a partial update, with names for ids)."""

    name: str
    prompt_mode: Literal["weighted", "all"]
    generate_only: bool
    hide_comments: bool
    comment_on_existing: bool
    discovery_interval_seconds: int
    max_duration_minutes: int
    # Nothing is posted before a reviewer approves it; the workflow's config then reads generate_only.
    require_approval: bool = False


class ProcessConfig(ProcessSettings):
    """The non-secret part of a process row, loaded once per workflow run (the JSON shape is that of
    release 1's histories, which still replay)."""

    process_id: str = Field(validation_alias=AliasChoices("process_id", "id"))
    logins: list[LoginRef]
    prompts: list[PromptChoice]
    max_articles: int
    pace_comments: bool = True  # False when COMMENT_RATE_LIMIT_SECONDS is 0: no slot to reserve
    # The worker's NOTIFY_URLS are set (the URLs themselves never leave the worker), and its
    # NOTIFY_MIN_INTERVAL: at most one "waiting for approval" message per process in that time.
    notify: bool = False
    notify_min_interval_seconds: int = 0


class LoadProcessInput(Message):
    process_id: str
    # A run's first activity marks the row running, so the row is right even if `start` died after
    # Temporal accepted the workflow (the CLI marks it only once the start succeeded).
    mark_running: bool = False


# --- sessions ----------------------------------------------------------------------------------------


class OpenSessionInput(Message):
    login_id: str


class OpenSessionResult(Message):
    login_id: str
    restored: bool  # True: a stored session was reused without logging in


class LoginState(Message):
    login_id: str
    name: str
    state: LoginSessionState = LoginSessionState.PENDING
    error: str | None = None


class CloseSessionsInput(Message):
    login_ids: list[str]


# --- discovery ---------------------------------------------------------------------------------------


class DiscoverInput(ArticleFilter):
    process_id: str
    login_id: str
    limit: int
    prompt_slots: list[str]  # [""] in weighted mode; one template id per slot in `all` mode
    baseline: bool  # first run with comment_on_existing = false: record, do not comment


class WorkItemRef(Message):
    item_id: str
    login_id: str
    article_id: str
    prompt_slot: str


class DiscoverResult(Message):
    listed: int
    new_items: list[WorkItemRef]  # every item of the login still waiting to be worked on
    skipped: int  # recorded but not worked on (baseline, or already commented by this login)
    # Listed articles that could not be recorded, each with its reason (an id too long to store);
    # shown as the process's last error while they are listed.
    left_out: list[str] = Field(default_factory=list)
    totals: StatusCounts | None = None  # the process's work items, all runs, by status (for the details)
    # Seconds its requests waited for their turn in the site's budget (saturated: the process slows down).
    budget_wait_seconds: float = 0.0
    # Nothing was listed: the turn was further away than a discovery waits (then the wait it saw + would see).
    budget_saturated: bool = False


# --- article work ------------------------------------------------------------------------------------


class ArticleWorkflowInput(Message):
    item_id: str
    process_id: str
    login_id: str
    article_id: str
    prompt_slot: str
    # The prompt template, chosen by the parent. Children started by release 1 carry "" and the
    # weighted `prompts` instead, and pick one themselves.
    template_id: str = ""
    prompts: list[PromptChoice] = Field(default_factory=list)
    generate_only: bool
    hide: bool
    pace_comments: bool = True


class ArticleWorkflowResult(Message):
    item_id: str
    status: CommentStatus  # final status of the work item
    error: str | None = None


class ItemInput(Message):
    item_id: str


class PrepareResult(Message):
    item_id: str
    status: CommentStatus  # prepared, or skipped when this login already commented there
    reason: str | None = None


class GenerateInput(Message):
    item_id: str
    template_id: str


class GenerateResult(Message):
    item_id: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    generation_ms: int


class RegenerateInput(Message):
    """A reviewer's `comments regenerate`: the item (in `regenerating`), the template, and who asked."""

    item_id: str
    template_id: str
    actor: str  # the reviewer's e-mail, for the comment's history


class EndRegenerationInput(Message):
    item_id: str
    reason: str
    actor: str


class RegenerateResult(Message):
    item_id: str
    regenerated: bool  # False: the previous comment stays, `reason` says why
    reason: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generation_ms: int = 0


class ReserveSlotInput(Message):
    login_id: str


class ReserveSlotResult(Message):
    wait_seconds: float


class PostInput(Message):
    item_id: str
    hide: bool
    login_id: str = ""  # for PostCommentWorkflow's pacing; release 1 passed it as a second argument
    # Set by the process's article workflows: a stop of the process (not --drain) holds the comment
    # `generated` instead of posting it. A person's `post` leaves it False.
    held_by_stop: bool = False


class PostResultMsg(Message):
    item_id: str
    outcome: PostOutcome
    requests: int
    reason: str | None = None


class MarkItemInput(Message):
    item_id: str
    status: Literal[CommentStatus.FAILED, CommentStatus.SKIPPED]
    reason: str
    only_from: list[CommentStatus] = Field(default_factory=list)  # compare-and-set: only from these


class ResumeItemsInput(Message):
    process_id: str
    include_posting: bool


class ResumeItemsResult(Message):
    items: list[WorkItemRef]


# --- process bookkeeping -----------------------------------------------------------------------------


class RecordProcessInput(Message):
    process_id: str
    status: ProcessStatus | None = None
    last_error: str | None = None
    clear_error: bool = False
    hold_posts: bool = False  # a stop (not --drain): the article workflows post nothing more


class FinishProcessInput(Message):
    process_id: str
    status: Literal[ProcessStatus.STOPPED, ProcessStatus.COMPLETED, ProcessStatus.FAILED]
    reason: str
    logins: list[LoginState] = Field(default_factory=list)  # each login's state at the end of the run


class FinishProcessResult(Message):
    skipped: int
    returned_to_generated: int
    left_unposted: int = 0  # comments `generated` and not posted when the run ended (postable later)
    totals: StatusCounts | None = None  # the process's work items, all runs, by status


# --- the monitoring workflow -------------------------------------------------------------------------


class StatusCounts(Message):
    """Work items by status. As the database's `totals`: every item of the process, across all runs,
    in its current status. As the workflow's state: its run counters (see RunCounts)."""

    discovered: int = 0
    prepared: int = 0
    generated: int = 0
    posting: int = 0
    posted: int = 0
    failed: int = 0
    skipped: int = 0
    regenerating: int = 0


class RunCounts(Message):
    """Counted by the workflow since `start` (carried across continue-as-new): `discovered` work items
    this run started; `generated`, `posted`, `failed`, `skipped` article workflows of this run that
    ended so. Work items picked up from an earlier run are not counted as discovered."""

    discovered: int = 0
    generated: int = 0
    posted: int = 0
    failed: int = 0
    skipped: int = 0


class MonitorState(Message):
    """Carried across continue-as-new."""

    started_at: datetime | None = None
    deadline: datetime | None = None
    empty_streak: int = 0
    discovery_runs: int = 0
    baseline_done: bool = False
    paused: bool = False
    logins: list[LoginState] = Field(default_factory=list)
    counts: StatusCounts = Field(default_factory=StatusCounts)
    last_discovery_at: datetime | None = None
    last_error: str | None = None
    # Comments waiting for approval not yet announced, and when the last such message went out.
    approvals_unannounced: int = 0
    approvals_announced_at: datetime | None = None
    # The database's counts of the process's work items, all runs (manual posts included), as last read.
    totals: StatusCounts | None = None
    ignored_signal: str | None = None  # "ignored signal NAME: why", the last input that could not be read
    # Doublings of the discovery interval while the site's budget is saturated (0: the configured pace).
    budget_stretch: int = 0


class MonitorInput(Message):
    process_id: str
    state: MonitorState | None = None
    grace_seconds: float = 60.0
    # A run continues as new once its history holds this many events, after one pass of its loop at
    # least. The worker keeps a cached run's state for each of its events (the SDK's core: about 4 KB
    # per timer and activity), so short runs keep 1,000 idle processes small (bench/README.md, "Short runs").
    events_before_continue: int = 150
    # Runs recorded before the `short-runs` patch continued after this many passes of the loop instead.
    iterations_before_continue: int = 500
    use_search_attributes: bool = True


class StopRequest(Message):
    """The `stop` signal: the CLI sends this object; people may also send nothing, null or a plain
    reason (see workflows/signals.py)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = "stopped by user"
    # True: the queued comments are still posted before the process ends (`stop --drain`); False:
    # nothing new is posted, generated comments stay `generated` for a later `post`.
    drain: bool = False


class MonitorStatus(Message):
    """The `status` query; `starter.py status --json` prints the same fields with the same meaning."""

    process_id: str
    name: str
    status: ProcessStatus
    stop_reason: str | None
    started_at: datetime | None
    deadline: datetime | None
    paused: bool
    # This run's counters. Workers before this field was renamed answer `counts` with the same meaning.
    run_counts: RunCounts = Field(validation_alias=AliasChoices("run_counts", "counts"))
    logins: list[LoginState]
    in_flight: int
    discovery_runs: int
    empty_streak: int
    last_discovery_at: datetime | None
    next_discovery_at: datetime | None
    last_error: str | None
    # The process's work items of all runs by status, as the workflow last read them (None before).
    all_runs: StatusCounts | None = None
    ignored_signal: str | None = None  # the last signal whose input could not be read, and why
    # "discovery slowed: site budget saturated" while the process stretches its interval; None otherwise.
    discovery_note: str | None = None


class MonitorResult(Message):
    process_id: str
    status: ProcessStatus
    reason: str
    counts: StatusCounts
    left_unposted: int = 0  # generated comments not posted when the process ended (`post` sends them)


# --- notifications -------------------------------------------------------------------------------------

NotifyKind = Literal["approval", "login_rejected", "ended", "stuck"]


class NotifyInput(Message):
    """What a notification is about: ids, a login's name, a status, counts and value-free reasons. The
    activity adds the process's name and the comments waiting for approval (yourmoment/notify.py)."""

    kind: NotifyKind
    process_id: str
    new: int = 0  # approval: comments generated since the last such message
    login: str | None = None  # login_rejected: the login's name
    reason: str | None = None  # login_rejected, ended
    status: ProcessStatus | None = None  # ended
    counts: RunCounts | None = None  # ended: this run's counts


class NotifyResult(Message):
    sent: bool  # False: no NOTIFY_URLS on the worker that took it
    detail: str


# --- follow-up reads after a comment (workflows/follow_up.py, docs/versions.md) ------------------------

FollowUpOutcomeKind = Literal["read", "skipped", "failed", "not_posted"]


class FollowUpInput(Message):
    item_id: str


class FollowUpStep(Message):
    label: str  # as FOLLOW_UP_AFTER spells it, e.g. "1h"
    seconds: int
    due_at: datetime  # the comment's posting time + seconds


class FollowUpPlan(Message):
    item_id: str
    steps: list[FollowUpStep] = Field(default_factory=list)  # empty: the comment was not posted


class FollowUpReadInput(Message):
    item_id: str
    step: FollowUpStep


class FollowUpOutcome(Message):
    item_id: str
    label: str
    outcome: FollowUpOutcomeKind
    changed: bool | None = None
    reply_seen: bool | None = None


class FollowUpResult(Message):
    item_id: str
    outcomes: list[FollowUpOutcome] = Field(default_factory=list)


# --- maintenance (scheduled) ---------------------------------------------------------------------------

# Each task is named after the activity that does it (workflows/maintenance.py TASKS; its options in
# workflows/activity_config.py). The schedules on the server carry these names: they stay.
MaintenanceTask = Literal[
    "expire_sessions",
    "purge_sessions",
    "retention_cleanup",
    "health_check",
    "reconcile_processes",
    "student_backup",
]


class MaintenanceInput(Message):
    task: MaintenanceTask
    # student_backup only (`track run`): one user's pupils, or these pupils of theirs; empty: every
    # tracked pupil that is not paused (the Schedule).
    user_id: str | None = None
    student_ids: list[str] = Field(default_factory=list)


class MaintenanceResult(Message):
    """Counts for the Web UI and the logs (ids and numbers only, never texts or secrets)."""

    task: str
    counts: dict[str, int] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    healthy: bool = True
