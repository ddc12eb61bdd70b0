"""Monitoring process configuration: creation and update rules, checks before a start (see docs/rules.md#data-model)."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yourmoment.errors import NotFoundError, ValidationError
from yourmoment.messages import ProcessSettings
from yourmoment.settings import DISCOVERY_INTERVAL_RANGE
from yourmoment.statuses import ProcessStatus
from yourmoment.store import accounts
from yourmoment.store.db import row_count
from yourmoment.store.limits import check_int, check_number, check_text
from yourmoment.store.models import (
    LLMProvider,
    MonitoringProcess,
    MyMomentLogin,
    ProcessLogin,
    ProcessPrompt,
    PromptTemplate,
    TemplateCategory,
    User,
    utcnow,
)

ACTIVE_STATUSES = (ProcessStatus.RUNNING, ProcessStatus.STOPPING)
PROMPT_MODES = ("weighted", "all")
# Weights are relative; the cap keeps their sum finite for the workflow's weighted choice.
WEIGHT_MAX = 1_000_000
MIN_ID_PREFIX = 8


def normalize_name(name: str) -> str:
    """How a process name is stored: Unicode NFKC (full-width letters become plain ones), invisible
    format characters (zero-width spaces …) removed, outer whitespace stripped, inner runs collapsed,
    so two names that look the same are the same name."""
    visible = "".join(ch for ch in unicodedata.normalize("NFKC", name) if unicodedata.category(ch) != "Cf")
    return " ".join(visible.split())


def name_key(name: str) -> str:
    """Names are unique per user under this key (case-insensitive, like the database index on lower(name))."""
    return normalize_name(name).lower()


# The columns a user sets that are copied as given: ProcessSettings declares them (its name is
# normalised, and ids, logins and prompts are resolved by name), and ProcessSpec has each of them.
USER_SET_COLUMNS: tuple[str, ...] = (
    "description",
    *(field for field in ProcessSettings.model_fields if field != "name"),
)


@dataclass
class ProcessSpec:
    """What a user sets on a process (ProcessSettings' fields and the ones resolved by name); None in an
    update means 'leave as it is'. tests/test_cli_config.py checks that it covers USER_SET_COLUMNS."""

    name: str | None = None
    description: str | None = None
    provider: str | None = None  # name or id
    tab: str | None = None
    category_id: int | None = None
    task_id: int | None = None
    search: str | None = None
    max_duration_minutes: int | None = None
    discovery_interval_seconds: int | None = None
    generate_only: bool | None = None
    hide_comments: bool | None = None
    prompt_mode: str | None = None
    comment_on_existing: bool | None = None
    require_approval: bool | None = None
    logins: list[str] | None = None  # login names
    prompts: list[tuple[str, float]] | None = None  # (template name or id, weight)
    clear_filters: list[str] = field(default_factory=list)


def _check_name(name: str | None, problems: list[str]) -> None:
    """A name must show something, and nothing that moves the cursor or rings a terminal's bell: it is
    printed in tables, logs and the Web UI."""
    if name is None:
        return
    controls = sorted({ch for ch in name if unicodedata.category(ch) == "Cc"})
    if controls:
        shown = ", ".join(f"U+{ord(ch):04X}" for ch in controls)
        problems.append(f"--name must not contain control characters ({shown})")
    elif not normalize_name(name):
        problems.append(
            "the process needs a name"
            if not name.strip()
            else "--name is empty once invisible characters are removed"
        )


def _check_scalars(spec: ProcessSpec, problems: list[str]) -> None:
    _check_name(spec.name, problems)
    for label, value, column in (
        ("--name", spec.name, MonitoringProcess.name),
        ("--description", spec.description, MonitoringProcess.description),
        ("--tab", spec.tab, MonitoringProcess.tab),
        ("--search", spec.search, MonitoringProcess.search),
    ):
        check_text(problems, label, value.strip() if value is not None else None, column)
    if spec.tab is not None:
        tab = spec.tab.strip()
        if tab == "alle":
            problems.append("the 'alle' tab cannot be monitored; choose 'home' or a class id")
        elif tab != "home" and not (tab.isascii() and tab.isdigit()):
            problems.append(f"tab must be 'home' or a numeric class id, not '{tab}'")
    if spec.max_duration_minutes is not None and not 1 <= spec.max_duration_minutes <= 1440:
        problems.append("--max-duration must be between 1 and 1440 minutes")
    check_int(
        problems,
        "--interval",
        spec.discovery_interval_seconds,
        MonitoringProcess.discovery_interval_seconds,
        *DISCOVERY_INTERVAL_RANGE,
    )
    if spec.prompt_mode is not None and spec.prompt_mode not in PROMPT_MODES:
        problems.append(f"prompt mode must be 'weighted' or 'all', not '{spec.prompt_mode}'")
    check_int(problems, "--category", spec.category_id, MonitoringProcess.category_id)
    check_int(problems, "--task", spec.task_id, MonitoringProcess.task_id)


def _check_unique(label: str, refs: list[str], problems: list[str]) -> None:
    """Each login and template once: a second link row would break the table's primary key."""
    for ref in sorted({ref for ref in refs if refs.count(ref) > 1}):
        problems.append(f"{label} names '{ref}' more than once")


def _resolve_logins(
    session: Session, user: User, names: list[str], problems: list[str]
) -> list[MyMomentLogin]:
    logins = []
    if not names:
        problems.append("the process needs at least one login")
    _check_unique("--login", names, problems)
    for name in names:
        login = session.scalar(
            select(MyMomentLogin).where(
                MyMomentLogin.user_id == user.id, MyMomentLogin.name == name, MyMomentLogin.is_active
            )
        )
        if login is None:
            problems.append(f"login '{name}' is not one of your active logins")
        elif login.is_admin:
            problems.append(f"login '{name}' is an admin/teacher login and may not be attached to a process")
        else:
            logins.append(login)
    return logins


def _resolve_prompts(
    session: Session,
    user: User,
    prompts: list[tuple[str, float]],
    problems: list[str],
    kept: Collection[str] = (),
) -> list[tuple[PromptTemplate, float]]:
    """The templates by id or name with their weights; a retired template only where it is `kept` (the
    process has it already)."""
    resolved = []
    if not prompts:
        problems.append("the process needs at least one prompt template")
    for ref, weight in prompts:
        tpl = session.scalar(
            select(PromptTemplate).where(
                PromptTemplate.is_active,
                (PromptTemplate.id == ref) | (PromptTemplate.name == ref),
                (PromptTemplate.user_id == user.id) | (PromptTemplate.category == TemplateCategory.SYSTEM),
            )
        )
        weight_problems: list[str] = []
        check_number(
            weight_problems, f"--prompt '{ref}': the weight", weight, 0, WEIGHT_MAX, low_inclusive=False
        )
        if tpl is None:
            problems.append(f"template '{ref}' is not one of your templates nor a system template")
        elif tpl.retired_at is not None and tpl.id not in kept:
            problems.append(
                f"template '{tpl.name}' is retired: it is offered to no new process (the processes that "
                "have it keep it); see 'starter.py template list'"
            )
        elif weight_problems:
            problems.extend(weight_problems)
        else:
            resolved.append((tpl, weight))
    if len({tpl.id for tpl, _ in resolved}) < len(resolved):
        problems.append("--prompt names one template more than once")
    return resolved


def _resolve_provider(session: Session, user: User, ref: str, problems: list[str]) -> LLMProvider | None:
    provider = accounts.find_provider(session, user, ref)
    if provider is None:
        problems.append(f"provider '{ref}' is not one of your active providers")
    return provider


def _check_name_free(
    session: Session, user: User, process: MonitoringProcess, name: str, problems: list[str]
) -> None:
    """One name, one process: a name lookup must never have to guess (the unique index is the backstop)."""
    key = name_key(name)
    for other_id, other_name in session.execute(
        select(MonitoringProcess.id, MonitoringProcess.name).where(MonitoringProcess.user_id == user.id)
    ):
        if other_id != process.id and name_key(other_name) == key:
            problems.append(f"a process named '{other_name}' exists already; choose another name")


def _apply(session: Session, user: User, process: MonitoringProcess, spec: ProcessSpec) -> None:
    problems: list[str] = []
    _check_scalars(spec, problems)
    name = normalize_name(spec.name) if spec.name is not None else None
    if name:
        _check_name_free(session, user, process, name, problems)
    provider = (
        _resolve_provider(session, user, spec.provider, problems) if spec.provider is not None else None
    )
    logins = _resolve_logins(session, user, spec.logins, problems) if spec.logins is not None else None
    kept = {link.template_id for link in process.prompts}
    prompts = (
        _resolve_prompts(session, user, spec.prompts, problems, kept) if spec.prompts is not None else None
    )
    if problems:
        raise ValidationError(problems)
    if name:
        process.name = name
    for attr in USER_SET_COLUMNS:
        value = getattr(spec, attr)
        if value is not None:
            setattr(process, attr, value.strip() if isinstance(value, str) else value)
    for attr in spec.clear_filters:
        setattr(process, attr, None)
    if provider is not None:
        process.llm_provider_id = provider.id
    if logins is not None:
        process.logins = [ProcessLogin(login_id=login.id) for login in logins]
    if prompts is not None:
        process.prompts = [ProcessPrompt(template_id=tpl.id, weight=weight) for tpl, weight in prompts]


def create_process(session: Session, user: User, spec: ProcessSpec) -> MonitoringProcess:
    missing = [
        label
        for label, value in (("--name", spec.name), ("--tab", spec.tab), ("--provider", spec.provider))
        if value is None
    ]
    if spec.logins is None:
        missing.append("--login")
    if spec.prompts is None:
        missing.append("--prompt")
    if missing:
        raise ValidationError([f"a new process needs {', '.join(missing)}"])
    process = MonitoringProcess(user_id=user.id, name="", tab="home")
    _apply(session, user, process, spec)
    session.add(process)
    _flush(session, process)
    return process


def update_process(session: Session, user: User, process: MonitoringProcess, spec: ProcessSpec) -> None:
    if process.status in ACTIVE_STATUSES:
        raise ValidationError([f"process '{process.name}' is {process.status}; stop it before changing it"])
    _apply(session, user, process, spec)
    _flush(session, process)


def _flush(session: Session, process: MonitoringProcess) -> None:
    """Two commands racing past the name check: the unique index refuses the second, with the same words."""
    try:
        session.flush()
    except IntegrityError as exc:
        if "uq_process_name_per_user" not in str(exc.orig):
            raise
        raise ValidationError(
            [f"a process named '{process.name}' exists already; choose another name"]
        ) from None


def delete_process(session: Session, process: MonitoringProcess) -> None:
    if process.status in ACTIVE_STATUSES:
        raise ValidationError([f"process '{process.name}' is {process.status}; stop it before deleting it"])
    session.delete(process)


def get_process(session: Session, user: User | None, ref: str) -> MonitoringProcess:
    """A process by id, name (case and spacing ignored) or id prefix (8+ characters); never a guess."""
    query = select(MonitoringProcess).order_by(MonitoringProcess.created_at, MonitoringProcess.id)
    if user is not None:
        query = query.where(MonitoringProcess.user_id == user.id)
    exact = session.scalar(query.where(MonitoringProcess.id == ref))
    if exact is not None:
        return exact
    key = name_key(ref)
    # Names are few per user; comparing in Python keeps one rule (str.lower) on SQLite and PostgreSQL.
    matches = [p for p in session.scalars(query) if name_key(p.name) == key]
    prefix = ref.strip()
    if not matches and len(prefix) >= MIN_ID_PREFIX:
        matches = list(session.scalars(query.where(MonitoringProcess.id.startswith(prefix, autoescape=True))))
    if len(matches) == 1:
        return matches[0]
    if matches:
        candidates = ", ".join(f"{p.id} ({p.name})" for p in matches)
        raise ValidationError(
            [f"'{ref}' matches {len(matches)} processes: {candidates}; give more of the id"]
        )
    raise NotFoundError(f"no process '{ref}'; see 'starter.py process list'")


def list_processes(session: Session, user: User | None, status: str | None = None) -> list[MonitoringProcess]:
    query = select(MonitoringProcess).order_by(MonitoringProcess.created_at)
    if user is not None:
        query = query.where(MonitoringProcess.user_id == user.id)
    if status:
        query = query.where(MonitoringProcess.status == status)
    return list(session.scalars(query))


def running_count(session: Session, user_id: str) -> int:
    """The user's processes that are active (running, stopping, ...): what MAX_RUNNING_PROCESSES_PER_USER counts."""
    running = session.scalar(
        select(func.count())
        .select_from(MonitoringProcess)
        .where(MonitoringProcess.user_id == user_id, MonitoringProcess.status.in_(ACTIVE_STATUSES))
    )
    return running or 0


def check_startable(session: Session, process: MonitoringProcess, max_running: int) -> None:
    """Every problem that would stop a run, one message each (see docs/rules.md#process-lifecycle-and-limits)."""
    problems = []
    if process.status in ACTIVE_STATUSES:
        problems.append(f"process '{process.name}' is already {process.status}")
    logins = [session.get(MyMomentLogin, link.login_id) for link in process.logins if link.is_active]
    usable = [login for login in logins if login is not None and login.is_active and not login.is_admin]
    if not usable:
        problems.append("the process has no active, non-admin login")
    for login in logins:
        if login is not None and login.is_admin:
            problems.append(f"login '{login.name}' is an admin/teacher login and may not be used")
    if any(not math.isfinite(p.weight) for p in process.prompts):
        problems.append("a prompt weight is not a finite number; set it again with 'process update --prompt'")
    prompts = [
        session.get(PromptTemplate, p.template_id) for p in process.prompts if p.is_active and p.weight > 0
    ]
    if not any(t is not None and t.is_active for t in prompts):
        problems.append("the process has no active prompt template")
    provider = session.get(LLMProvider, process.llm_provider_id) if process.llm_provider_id else None
    if provider is None or not provider.is_active:
        problems.append("the process has no active LLM provider")
    if not process.tab or process.tab == "alle":
        problems.append("the process needs a tab ('home' or a class id)")
    running = running_count(session, process.user_id)
    if running >= max_running:
        problems.append(
            f"you already run {running} processes, the most allowed (MAX_RUNNING_PROCESSES_PER_USER)"
        )
    if problems:
        raise ValidationError(problems)


def mark_running(
    session: Session, process_id: str, run_id: str | None, unchanged_since: datetime | None = None
) -> bool:
    """A run has begun: the row becomes running with fresh times, and the last run's stop reason, error
    and login states are cleared, in one statement on a row that is not running already.

    `start` calls it once Temporal accepted the workflow, with the `updated_at` it read before: a row
    changed since is left alone, because the workflow's first activity (which calls it too, in case
    `start` died in between) has marked it, or the run has even ended, and that word is newer.
    """
    conditions = [MonitoringProcess.id == process_id, MonitoringProcess.status.not_in(ACTIVE_STATUSES)]
    if unchanged_since is not None:
        conditions.append(MonitoringProcess.updated_at == unchanged_since)
    result = session.execute(
        update(MonitoringProcess)
        .where(*conditions)
        .values(
            status=ProcessStatus.RUNNING,
            started_at=utcnow(),
            stopped_at=None,
            stop_reason=None,
            last_error=None,
            workflow_run_id=run_id,
            posting_stopped_at=None,
        )
    )
    changed = row_count(result)
    if changed:
        session.execute(
            update(ProcessLogin)
            .where(ProcessLogin.process_id == process_id)
            .values(last_state=None, last_error=None)
        )
    return bool(changed)


def add_mymoment_requests(session: Session, process_id: str, count: int) -> None:
    """Adds the myMoment requests one activity made for the process (`report`), in one UPDATE.

    `updated_at` stays as it is: `start` compares it (see mark_running), and a counter is no change.
    """
    if count <= 0:
        return
    session.execute(
        update(MonitoringProcess)
        .where(MonitoringProcess.id == process_id)
        .values(
            mymoment_requests=MonitoringProcess.mymoment_requests + count,
            updated_at=MonitoringProcess.updated_at,
        )
    )
