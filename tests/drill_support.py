"""Support for the fault drills: a deployment made by starter.py, observation and the invariant checks."""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from tests.support import process_create, provider_add, run_starter, run_starter_here
from yourmoment.crypto import Encryptor, generate_key
from yourmoment.messages import (
    SEARCH_ATTR_STATUS,
    workflow_id_for_item,
    workflow_id_for_process,
)
from yourmoment.store import items
from yourmoment.store.db import session_scope
from yourmoment.store.models import MonitoringProcess, MyMomentLogin, MyMomentSession
from yourmoment.temporal_client import PYDANTIC_DATA_CONVERTER
from yourmoment_dev.harness import Imitations, WorkerProcess, hermetic_env, wait_until

PREFIX = "[Dieser Kommentar stammt von einem KI-ChatBot.]"
CLASS_ID = 82
PASSWORD = "drill-pass"
IN_BETWEEN = ("discovered", "prepared", "generated", "posting")
STOP_REASON = "drill over"
STATUS_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTR_STATUS)


# --- servers -------------------------------------------------------------------------------------------


class Site(Imitations):
    """Both imitations (yourmoment_dev.harness.Imitations) with one pupil account per login name."""

    def __init__(self, usernames: dict[str, str]) -> None:
        super().__init__()
        self.usernames = usernames  # login name (in yourMoment) -> myMoment username


@contextmanager
def imitations(login_names: list[str]) -> Iterator[Site]:
    """Fresh myMoment and LLM imitations for one drill: class 82 and one pupil account per login name."""
    site = Site({name: f"pupil-{name}" for name in login_names})
    site.mm.add_class(CLASS_ID, "Beispielklasse A", "Testschule")
    for username in site.usernames.values():
        site.mm.add_account(username, PASSWORD, "pupil", [CLASS_ID])
    with site:
        yield site


def add_articles(site: Site, n: int, batch: int) -> list[int]:
    return [
        site.mm.add_article(
            title=f"Drill {batch}-{i}",
            author=f"Kind{batch}x{i}",
            class_id=CLASS_ID,
            category_id=7,
            paragraphs=[f"Das ist Text {i} aus Runde {batch}.", "Ich mag Hunde und Katzen sehr."],
        )
        for i in range(n)
    ]


# --- the deployment ------------------------------------------------------------------------------------


@dataclass
class Deployment:
    """What starter.py configured: the environment every process shares, the database and the process."""

    env: dict[str, str]
    db_url: str
    process_id: str
    site: Site
    workers: list[WorkerProcess] = field(default_factory=list)
    api_key: str | None = None
    cli_output: list[str] = field(default_factory=list)  # everything starter.py printed, for the leak scan

    def start_worker(self, extra_env: dict[str, str] | None = None) -> WorkerProcess:
        worker = WorkerProcess({**self.env, **(extra_env or {})})
        self.workers.append(worker)
        worker.start(timeout=60)
        return worker

    def live_workers(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.alive()]

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()

    def worker_log_tail(self, lines: int = 25) -> str:
        """The end of the newest workers' output (older ones were killed or replaced)."""
        newest = list(enumerate(self.workers))[-2:]
        return "\n".join(f"--- worker {i} ---\n" + "".join(w.output[-lines:]) for i, w in newest)

    def starter(self, *args: str, stdin: str | None = None, here: bool = False) -> str:
        """starter.py ARGS in its own process (`here`: in this one, for the set-up), which must succeed."""
        run = run_starter_here if here else run_starter
        code, out, err = run(self.env, *args, stdin=stdin)
        self.cli_output.append(out + err)
        assert code == 0, f"starter.py {' '.join(args)} failed ({code}): {out}{err}"
        return out


def deployment_env(
    db_url: str, site: Site, temporal_address: str, redis_url: str | None = None, **settings: str
) -> dict[str, str]:
    """Fast settings unless a drill overrides them; no developer REDIS_URL leaks in."""
    values = {
        "DATABASE_URL": db_url,
        "YOURMOMENT_ENCRYPTION_KEY": generate_key(),
        "MYMOMENT_BASE_URL": site.mm_url,
        "MYMOMENT_TIMEOUT": "15",
        "TEMPORAL_ADDRESS": temporal_address,
        "TEMPORAL_TASK_QUEUE_PREFIX": f"drill{os.urandom(3).hex()}-",
        "COMMENT_RATE_LIMIT_SECONDS": "0",
        "SCRAPING_RATE_LIMIT": "100",
        "SCRAPING_BURST_LIMIT": "50",
        "MAX_ARTICLES_PER_REQUEST": "60",
        "LLM_TIMEOUT": "15",
        **settings,
    }
    env = hermetic_env(**values)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def configure(
    env: dict[str, str], db_url: str, site: Site, interval: int = 5, api_key: str | None = None
) -> Deployment:
    """A user, the logins, the imitation LLM provider (which requires `api_key` when given), the seeded
    templates and a posting process, through starter.py's commands in this process (the drills run the
    commands they are about, `start`, `stop` and `status`, as their own processes)."""
    deployment = Deployment(env, db_url, "", site, api_key=api_key)
    deployment.starter("db", "upgrade", here=True)
    deployment.starter("user", "add", "teacher@example.org", here=True)
    for name, username in site.usernames.items():
        deployment.starter(
            "login", "add", name, "--username", username, "--password-stdin", stdin=PASSWORD + "\n", here=True
        )
    key_args, key_stdin = (["--api-key-stdin"], api_key + "\n") if api_key else ([], None)
    site.llm.required_api_key = api_key
    deployment.starter(
        *provider_add("local", "imitation", *key_args, base_url=f"{site.llm_url}/v1"),
        stdin=key_stdin,
        here=True,
    )
    deployment.starter("template", "seed", here=True)
    template = json.loads(deployment.starter("template", "list", "--json", here=True))[0]["name"]
    out = deployment.starter(
        *process_create("drill", "local", list(site.usernames), template, tab=str(CLASS_ID)),
        "--post",
        "--interval",
        str(interval),
        "--max-duration",
        "30",
        "--json",
        here=True,
    )
    deployment.process_id = json.loads(out)["id"]
    return deployment


async def connect(address: str) -> Client:
    return await Client.connect(address, data_converter=PYDANTIC_DATA_CONVERTER)


async def discover_now(client: Client, process_id: str) -> None:
    """New articles are picked up at once instead of after the backed-off discovery interval."""
    await client.get_workflow_handle(workflow_id_for_process(process_id)).signal("discover_now")


# --- observing -----------------------------------------------------------------------------------------


def item_rows(db_url: str, process_id: str) -> list[dict[str, Any]]:
    with session_scope(db_url) as session:
        names = dict(session.execute(select(MyMomentLogin.id, MyMomentLogin.name)).all())
        return [
            {
                "id": i.id,
                "login": names.get(i.login_id),
                "login_id": i.login_id,
                "article_id": int(i.mymoment_article_id),
                "prompt_slot": i.prompt_slot,
                "status": i.status,
                "error": i.error,
                "attempts": i.attempts,
            }
            for i in items.list_items(session, process_id)
        ]


def status_counts(db_url: str, process_id: str) -> dict[str, int]:
    return dict(Counter(row["status"] for row in item_rows(db_url, process_id)))


# An unsettled item without a healthy running article workflow for this long is stuck: every retry
# (the heartbeat timeout of a killed worker's activity is 20 s) has had its chance by then.
ORPHAN_AFTER_S = 45.0


async def wait_until_settled(deployment: Deployment, client: Client, expected: int, timeout: float) -> None:
    """Every expected work item exists and has left the in-between states. Fails early when an item
    stays without a healthy article workflow; the message names each unsettled item with its workflow's state."""
    orphans: dict[str, float] = {}  # item id -> first seen without a healthy article workflow
    last_look = 0.0

    def unsettled() -> list[dict[str, Any]]:
        return [r for r in item_rows(deployment.db_url, deployment.process_id) if r["status"] in IN_BETWEEN]

    async def settled() -> bool:
        nonlocal last_look
        open_rows = unsettled()
        if len(item_rows(deployment.db_url, deployment.process_id)) >= expected and not open_rows:
            return True
        if time.monotonic() - last_look >= 5:
            last_look = time.monotonic()
            for row in open_rows:
                if await child_state(client, deployment, row) != "RUNNING":
                    orphans.setdefault(row["id"], last_look)
                else:
                    orphans.pop(row["id"], None)
        if any(last_look - seen >= ORPHAN_AFTER_S for seen in orphans.values()):
            raise AssertionError(f"stuck work items: no healthy article workflow for {ORPHAN_AFTER_S:.0f} s")
        return False

    try:
        await wait_until(settled, timeout, f"{expected} settled work items", every=0.5)
    except AssertionError as exc:
        lines = [
            str(exc),
            f"items: {status_counts(deployment.db_url, deployment.process_id)} (expected {expected})",
        ]
        for row in unsettled()[:10]:
            lines.append(
                f"  {row['status']} item {row['id']} article {row['article_id']} attempts "
                f"{row['attempts']}: article workflow {await child_state(client, deployment, row)}"
            )
        raise AssertionError("\n".join([*lines, deployment.worker_log_tail()])) from None


async def child_state(client: Client, deployment: Deployment, row: dict[str, Any]) -> str:
    """The item's article workflow: RUNNING when healthy, else why not ("none": never started)."""
    wf_id = workflow_id_for_item(
        deployment.process_id, row["login_id"], str(row["article_id"]), row["prompt_slot"]
    )
    try:
        desc = await client.get_workflow_handle(wf_id).describe()
    except RPCError as exc:
        return "none" if exc.status == RPCStatusCode.NOT_FOUND else f"unknown ({exc.status.name})"
    task = desc.raw_description.pending_workflow_task
    if desc.status == WorkflowExecutionStatus.RUNNING and task.attempt >= 3:
        return f"RUNNING but its workflow task fails (attempt {task.attempt}; see the worker log)"
    return desc.status.name if desc.status else "unknown"


def check_items(deployment: Deployment, expected: int) -> Counter[str]:
    """The drills' invariant: every article ends posted exactly once or failed with a reason.

    Checked on both sides: the database (no in-between state, failures explained) and the imitation
    (one comment per posted item, none for a failed one, no comment without an item, all disclosed).
    """
    site = deployment.site
    rows = item_rows(deployment.db_url, deployment.process_id)
    assert len(rows) == expected, f"{len(rows)} work items, expected {expected}"
    problems = []
    for row in rows:
        username = site.usernames[row["login"]]
        mine = [c for c in site.mm.comments_for(row["article_id"]) if c["author"] == username]
        if row["status"] == "posted" and len(mine) != 1:
            problems.append(
                f"posted item {row['id']} has {len(mine)} comments on article {row['article_id']}"
            )
        elif row["status"] == "failed" and (mine or not row["error"]):
            problems.append(f"failed item {row['id']}: {len(mine)} comments, error {row['error']!r}")
        elif row["status"] not in ("posted", "failed"):
            problems.append(f"item {row['id']} ends {row['status']} ({row['error']})")
    posted = sum(row["status"] == "posted" for row in rows)
    comments = site.mm.all_comments()
    if len(comments) != posted:
        problems.append(f"{len(comments)} comments on the site for {posted} posted items")
    undisclosed = [c["id"] for c in comments if not c["text"].startswith(f"<p>{PREFIX}</p>")]
    if undisclosed:
        problems.append(f"comments without the disclosure first: {undisclosed}")
    assert not problems, "\n".join(problems) + "\n" + deployment.worker_log_tail()
    return Counter(row["status"] for row in rows)


async def stop_and_check(deployment: Deployment, client: Client, expected: int) -> Counter[str]:
    """Stops through starter.py and checks the process status everywhere: DB row, Temporal, `status`."""
    out = deployment.starter("stop", deployment.process_id, "--reason", STOP_REASON, "--wait")
    assert "stopped" in out, out
    with session_scope(deployment.db_url) as session:
        row = session.get(MonitoringProcess, deployment.process_id)
        assert row is not None
        assert (row.status, row.stop_reason) == ("stopped", STOP_REASON), (row.status, row.stop_reason)
        assert row.stopped_at is not None
    desc = await client.get_workflow_handle(workflow_id_for_process(deployment.process_id)).describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED, desc.status
    assert desc.typed_search_attributes.get(STATUS_KEY) == "stopped"
    status = json.loads(deployment.starter("status", deployment.process_id, "--json"))
    assert status["status"] == "stopped" and status["stop_reason"] == STOP_REASON, status
    counts = check_items(deployment, expected)  # the stop settled nothing that was still open
    assert {k: v for k, v in status["totals"].items() if v} == dict(counts), (status["totals"], counts)
    return counts


def assert_running(deployment: Deployment) -> None:
    with session_scope(deployment.db_url) as session:
        row = session.get(MonitoringProcess, deployment.process_id)
        assert row is not None and row.status == "running", row and row.status


# --- measuring -----------------------------------------------------------------------------------------


def posts_in_flight(site: Site) -> int:
    """Comment POSTs the imitation has received but not answered yet."""
    return sum(1 for r in list(site.mm.requests) if r.kind == "post" and r.status is None)


def post_outcomes(workers: list[WorkerProcess]) -> dict[str, int]:
    """post_comment results from the workers' logs: `already_posted` is a duplicate the page check prevented."""
    pattern = re.compile(r"comment posted item_id=\S+ article_id=\S+ outcome=(\w+)")
    found = (m.group(1) for w in workers for line in w.output if (m := pattern.search(line)))
    return dict(Counter(found))


def emit_summary(name: str, started: float, **facts: Any) -> dict[str, Any]:
    """One JSON line per drill (visible with -s): what happened, for the CI log and for reports."""
    summary = {"drill": name, **facts, "duration_s": round(time.monotonic() - started, 1)}
    print("\nDRILL " + json.dumps(summary, sort_keys=False), flush=True)
    return summary


# --- the leak scan (issue 8, finding 1) ------------------------------------------------------------------


def secrets_of(deployment: Deployment) -> dict[str, str]:
    """What must never leave the application's database: every article's title, author and paragraphs,
    the logins' password, the provider's API key, and every cookie value the site issued or we stored."""
    site = deployment.site
    found: dict[str, str] = {"password": PASSWORD}
    if deployment.api_key:
        found["API key"] = deployment.api_key
    for article in list(site.mm.articles.values()):
        found[f"title of {article.id}"] = article.title
        found[f"author of {article.id}"] = article.author
        for n, paragraph in enumerate(article.paragraphs):
            found[f"text of {article.id} ({n})"] = paragraph
    for n, key in enumerate(list(site.mm.sessions)):  # the site's live sessions: their cookie values
        found[f"session cookie {n}"] = key
    for n, value in enumerate(stored_cookie_values(deployment)):
        found[f"stored cookie {n}"] = value
    return found


def stored_cookie_values(deployment: Deployment) -> list[str]:
    """The cookie values and form tokens in the stored (encrypted) sessions, readable or not."""
    enc = Encryptor(deployment.env["YOURMOMENT_ENCRYPTION_KEY"])
    values: list[str] = []
    with session_scope(deployment.db_url) as session:
        for row in session.scalars(select(MyMomentSession)):
            jar = json.loads(enc.decrypt(row.session_enc))
            for cookie in jar.get("cookies", []):
                value = cookie.get("value")
                values.extend(
                    v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v
                )
            if isinstance(jar.get("csrf_token"), str):
                values.append(jar["csrf_token"])
    return values


async def raw_histories(address: str, process_id: str) -> bytes:
    """Every history of this process as the server stores it, read without the codec (`temporal workflow
    show` without `--codec-endpoint`): the events' protobuf bytes, where strings are plain UTF-8."""
    client = await Client.connect(address)  # the default converter: nothing is decoded
    chunks: list[bytes] = []
    async for execution in client.list_workflows(page_size=1000):
        if process_id not in execution.id:
            continue
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        chunks.extend(event.SerializeToString() for event in history.events)
    return b"\n".join(chunks)


def redis_dump(redis_url: str) -> bytes:
    """Every key and value in the Redis database (read only; other tests' keys hold no secret of ours)."""
    import redis

    # Declared as str or bytes throughout; without decode_responses every answer is bytes.
    client: Any = redis.Redis.from_url(redis_url)
    try:
        chunks: list[bytes] = []
        for key in client.scan_iter(count=500):
            kind = client.type(key)
            chunks.append(key)
            if kind == b"string":
                chunks.append(client.get(key) or b"")
            elif kind == b"hash":
                chunks.extend(b"%s=%s" % item for item in client.hgetall(key).items())
            elif kind in (b"list", b"set", b"zset"):
                members = {
                    b"list": lambda k: client.lrange(k, 0, -1),
                    b"set": client.smembers,
                    b"zset": lambda k: client.zrange(k, 0, -1),
                }[kind](key)
                chunks.extend(members)
        return b"\n".join(chunks)
    finally:
        client.close()


def temporal_db_files(db_file: Path) -> bytes:
    """The dev server's SQLite file with its write-ahead log: what an operator's backup would hold."""
    paths = [db_file, db_file.with_name(db_file.name + "-wal"), db_file.with_name(db_file.name + "-shm")]
    return b"".join(path.read_bytes() for path in paths if path.exists())


async def scan_for_leaks(
    deployment: Deployment, address: str, temporal_db: Path | None, redis_url: str | None = None
) -> dict[str, int]:
    """Asserts that no secret or pupil's text is in the raw histories, the dev server's database, the
    worker and CLI output or Redis. Returns the bytes scanned per place. Each place is checked to hold
    what it should (the process id, the workers' failure lines), so an empty scan cannot pass."""
    places: dict[str, bytes] = {
        "raw history": await raw_histories(address, deployment.process_id),
        "worker log": "".join(line for w in deployment.workers for line in w.output).encode(),
        "CLI output": "\n".join(deployment.cli_output).encode(),
    }
    if temporal_db is not None:
        places["Temporal database"] = temporal_db_files(temporal_db)
        assert deployment.process_id.encode() in places["Temporal database"], (
            "the scan cannot read the database"
        )
    if redis_url:
        places["Redis"] = redis_dump(redis_url)
    assert deployment.process_id.encode() in places["raw history"], "no history found for the process"
    secrets = secrets_of(deployment)
    hits = [
        f"{label} in the {place}"
        for place, data in places.items()
        for label, value in secrets.items()
        if value.encode() in data
    ]
    assert not hits, "leaks: " + "; ".join(hits)
    return {place: len(data) for place, data in places.items()}
