"""What every benchmark shares: the harness (dev server, imitations, database, worker process) and statistics."""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter

from imitation import llm_server, mymoment
from imitation.mymoment import peak_in_window
from imitation.serve import BackgroundServer, serve_in_thread
from yourmoment.crypto import Encryptor, generate_key
from yourmoment.devserver import WorkerProcess, free_port, temporal_binary
from yourmoment.messages import (
    QUEUE_MONITORING,
    SEARCH_ATTR_PROCESS_ID,
    SEARCH_ATTR_STATUS,
    MonitorInput,
    MonitorResult,
    StopRequest,
    workflow_id_for_process,
)
from yourmoment.settings import Settings
from yourmoment.store import accounts, items, processes
from yourmoment.store.db import session_scope, upgrade
from yourmoment.store.models import MonitoringProcess, ProcessStatus, utcnow

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
PASSWORD = "bench-password"
# Celery reference figures (issue 5), printed beside ours for comparison.
CELERY_REFERENCE = {
    "requests_per_comment": 6,
    "requests_for_three_comments": "25-27",
    "peak_rps_against_2_rps_policy": 3.9,
    "worker_rss_mb": 1500,
    "worker_startup_s": 10,
}


# --- statistics ------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values: Sequence[float], digits: int = 3) -> dict[str, float | int | None]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, digits)

    return {
        "n": len(values),
        "p50": r(percentile(values, 50)),
        "p95": r(percentile(values, 95)),
        "max": r(max(values) if values else None),
    }


def pacing_excess(times: Iterable[float], rate: float, burst: int) -> float:
    """How far the requests exceed the GCRA envelope: max over i ≤ j of (j−i+1) − burst − rate·(t_j − t_i).

    ≤ 0 means every interval held at most `burst` + `rate`·length requests, i.e. the global pacing held.
    O(n) with a running maximum of rate·t_i − i.
    """
    ordered = sorted(times)
    best = -math.inf
    running = -math.inf
    for j, t in enumerate(ordered):
        running = max(running, rate * t - j)
        best = max(best, (j + 1) + running - rate * t - burst)
    return 0.0 if best == -math.inf else round(best, 3)


def pacing_report(requests: list[dict[str, Any]], rate: float, burst: int) -> dict[str, Any]:
    times = [r["t"] for r in requests]
    excess = pacing_excess(times, rate, burst)
    return {
        "configured_rate_per_s": rate,
        "configured_burst": burst,
        "peak_requests_in_1s": peak_in_window(times, 1.0),
        "peak_rate_10s_window": round(peak_in_window(times, 10.0) / 10.0, 2),
        # Server-side arrival jitter may add a fraction of a request; a whole extra request is a breach.
        "gcra_excess_requests": excess,
        "pacing_held": excess < 1.0,
    }


def by_kind(requests: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(mymoment.REQUEST_KINDS, 0)
    for r in requests:
        counts[r["kind"]] += 1
    return counts


# --- output ----------------------------------------------------------------------------------------------


def emit(result: dict[str, Any], human: str, json_out: str | None) -> None:
    """JSON on stdout (and in `json_out`), one human line on stderr."""
    text = json.dumps(result, indent=2, default=str)
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(text + "\n")
    print(text)
    print(human, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        # Other work on the machine skews CPU and latency figures: the load is recorded with them.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the worker process ----------------------------------------------------------------------------------


class Sampler:
    """Samples a process's RSS every `every` seconds in a thread; keeps the peak and the last value."""

    def __init__(self, proc: psutil.Process, every: float = 0.25) -> None:
        self.proc = proc
        self.every = every
        self.peak_rss = 0
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self.proc.memory_info().rss
            except psutil.Error:
                return
            self.peak_rss = max(self.peak_rss, rss)
            self.samples.append((time.monotonic(), rss))
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


class WorkerProc(WorkerProcess):
    """The worker process of the tests, measured: RSS sampled while it runs, CPU and memory on demand."""

    def __init__(self, env: dict[str, str], cwd: Path, *args: str) -> None:
        super().__init__(env, *args, cwd=cwd)
        self.ps: psutil.Process | None = None
        self.sampler: Sampler | None = None
        self.startup_s = 0.0

    def start(self, timeout: float = 60.0) -> float:
        self.startup_s = super().start(timeout)
        assert self.proc is not None
        self.ps = psutil.Process(self.proc.pid)
        self.sampler = Sampler(self.ps)
        return self.startup_s

    def cpu_seconds(self) -> float:
        assert self.ps is not None
        t = self.ps.cpu_times()
        return t.user + t.system

    def rss_mb(self) -> float:
        assert self.ps is not None
        return self.ps.memory_info().rss / 2**20

    def uss_mb(self) -> float:
        assert self.ps is not None
        return self.ps.memory_full_info().uss / 2**20

    def peak_rss_mb(self) -> float:
        return (self.sampler.peak_rss if self.sampler else 0) / 2**20

    def kill(self) -> None:
        if self.sampler:
            self.sampler.stop()
        super().kill()

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM (graceful drain); kill -9 only if it does not end in time."""
        if self.sampler:
            self.sampler.stop()
        try:
            return super().terminate(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            assert self.proc is not None
            return self.proc.returncode


# --- the harness -----------------------------------------------------------------------------------------


@dataclass
class Politeness:
    """SCRAPING_RATE_LIMIT, SCRAPING_BURST_LIMIT and COMMENT_RATE_LIMIT_SECONDS for the worker."""

    rate: float = 2.0
    burst: int = 5
    comment_interval: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"scraping_rate_limit": self.rate, "scraping_burst_limit": self.burst,
                "comment_rate_limit_seconds": self.comment_interval}  # fmt: skip


class DevServer:
    """`temporal server start-dev` (in-memory, headless) as a child process; its output goes to a file,
    so the benchmark's stdout stays pure JSON."""

    def __init__(self, log_file: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        args = [
            temporal_binary(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
            "--port", str(self.port), "--log-level", "warn",
            "--search-attribute", f"{SEARCH_ATTR_PROCESS_ID}=Keyword",
            "--search-attribute", f"{SEARCH_ATTR_STATUS}=Keyword",
        ]  # fmt: skip
        self._log = open(log_file, "ab")  # noqa: SIM115 - open as long as the server runs
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        self.ps = psutil.Process(self.proc.pid)

    async def connect(self, timeout: float = 30.0) -> Client:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await Client.connect(self.address, data_converter=pydantic_data_converter)
            except RuntimeError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    def rss_mb(self) -> float:
        return sum(p.memory_info().rss for p in [self.ps, *self.ps.children(recursive=True)]) / 2**20

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@dataclass
class Harness:
    """Dev server, both imitations, a migrated database, one user with a provider; workers on demand."""

    politeness: Politeness = field(default_factory=Politeness)
    database_url: str | None = None
    llm_latency_ms: int = 0
    worker_args: tuple[str, ...] = ()
    redis_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    async def __aenter__(self) -> Harness:
        self.tmp = Path(tempfile.mkdtemp(prefix="yourmoment-bench-"))
        self.database_url = self.database_url or f"sqlite:///{self.tmp / 'bench.db'}"
        upgrade(self.database_url)
        self.key = generate_key()
        self.mm_state = mymoment.MyMomentState()
        self.llm_state = llm_server.LLMState(latency_ms=self.llm_latency_ms)
        self._servers: list[BackgroundServer] = [
            serve_in_thread(mymoment.create_app(self.mm_state)),
            serve_in_thread(llm_server.create_app(self.llm_state)),
        ]
        self.mm_url, self.llm_url = self._servers[0].url, self._servers[1].url
        self.server = DevServer(self.tmp / "temporal.log")
        self.client: Client = await self.server.connect()
        self.temporal_address = self.server.address
        self.prefix = f"bench{uuid.uuid4().hex[:6]}-"
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=self.database_url,
            yourmoment_encryption_key=self.key,
            mymoment_base_url=self.mm_url,
        )
        self.workers: list[WorkerProc] = []
        self._seed_user()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for worker in self.workers:
            worker.terminate(20)
        self.server.stop()
        for server in self._servers:
            server.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- configuration through the store layer --------------------------------------------------------

    def _seed_user(self) -> None:
        enc = Encryptor(self.key)
        with session_scope(self.database_url) as session:  # type: ignore[arg-type]
            self.user_email = f"bench-{uuid.uuid4().hex[:8]}@example.org"
            user = accounts.add_user(session, self.user_email)
            provider = accounts.add_provider(
                session, enc, user, name=f"imitation-{uuid.uuid4().hex[:4]}", provider="openai-compatible",
                model="imitation-1", base_url=f"{self.llm_url}/v1", api_key=None,
            )  # fmt: skip
            self.provider_id = provider.id
            accounts.seed_system_templates(session)
            self.template_id = accounts.list_templates(session, user)[0].id

    def add_class(self, class_id: int) -> None:
        if class_id not in self.mm_state.classes:
            self.mm_state.add_class(class_id, f"Klasse {class_id}", "Benchschule")

    def add_logins(self, names: Sequence[str], class_id: int) -> None:
        """Pupil accounts on the imitation and the same logins in the database (named as the username)."""
        self.add_class(class_id)
        enc = Encryptor(self.key)
        with session_scope(self.database_url) as session:  # type: ignore[arg-type]
            user = accounts.get_user(session, self.user_email)
            for name in names:
                self.mm_state.add_account(name, PASSWORD, "pupil", [class_id])
                accounts.add_login(session, enc, user, name, name, PASSWORD, False, base_url=self.mm_url)

    def create_process(self, logins: Sequence[str], tab: str, **spec: Any) -> str:
        values: dict[str, Any] = {
            "name": f"bench-{uuid.uuid4().hex[:8]}", "provider": self.provider_id, "tab": tab,
            "logins": list(logins), "prompts": [(self.template_id, 1.0)], "generate_only": False,
            "discovery_interval_seconds": 60, "max_duration_minutes": 60,
        }  # fmt: skip
        values.update(spec)
        with session_scope(self.database_url) as session:  # type: ignore[arg-type]
            user = accounts.get_user(session, self.user_email)
            return processes.create_process(session, user, processes.ProcessSpec(**values)).id

    def add_article(self, class_id: int, n: int) -> int:
        return self.mm_state.add_article(
            title=f"Benchtext {n}", author=f"Kind{n}", class_id=class_id, category_id=7,
            paragraphs=[f"Das ist Absatz eins von Text {n}.", "Ich mag Hunde und Katzen sehr."],
        )  # fmt: skip

    def counts(self, process_id: str) -> dict[str, int]:
        with session_scope(self.database_url) as session:  # type: ignore[arg-type]
            return items.counts(session, process_id).model_dump()

    # --- processes and workers ------------------------------------------------------------------------

    def child_env(self) -> dict[str, str]:
        """Only what the benchmark sets: the developer's own settings (and .env) never leak in."""
        drop = {name.upper() for name in Settings.model_fields} | {"REDIS_URL", "DATABASE_URL"}
        env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("TEMPORAL_")}
        env.update(
            DATABASE_URL=str(self.database_url),
            YOURMOMENT_ENCRYPTION_KEY=self.key,
            YOURMOMENT_DEFAULT_USER=self.user_email,
            MYMOMENT_BASE_URL=self.mm_url,
            TEMPORAL_ADDRESS=self.temporal_address,
            TEMPORAL_NAMESPACE="default",
            TEMPORAL_TASK_QUEUE_PREFIX=self.prefix,
            SCRAPING_RATE_LIMIT=str(self.politeness.rate),
            SCRAPING_BURST_LIMIT=str(self.politeness.burst),
            COMMENT_RATE_LIMIT_SECONDS=str(self.politeness.comment_interval),
            MAX_RUNNING_PROCESSES_PER_USER="100000",
        )
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        env.update(self.extra_env)
        return env

    def start_worker(self, *args: str) -> WorkerProc:
        worker = WorkerProc(self.child_env(), self.tmp, *(args or self.worker_args))
        worker.start()
        self.workers.append(worker)
        return worker

    def stop_worker(self, worker: WorkerProc) -> None:
        worker.terminate()
        self.workers.remove(worker)

    async def start_via_cli(self, process_id: str) -> None:
        """`python starter.py start ID`, the user's route."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(REPO / "starter.py"), "start", process_id, "--json",
            cwd=self.tmp, env=self.child_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"starter.py start failed: {out.decode()}{err.decode()}")

    async def start_direct(self, process_id: str) -> WorkflowHandle[Any, Any]:
        """What `starter.py start` does (row marked running, workflow started), without a CLI process per
        start: for the benchmarks that start dozens or thousands of processes."""
        with session_scope(self.database_url) as session:  # type: ignore[arg-type]
            row = session.get(MonitoringProcess, process_id)
            assert row is not None
            row.status, row.started_at, row.stopped_at = ProcessStatus.RUNNING, utcnow(), None
        return await self.client.start_workflow(
            "MonitoringProcessWorkflow",
            MonitorInput(process_id=process_id, queue_prefix=self.prefix),
            id=workflow_id_for_process(process_id),
            task_queue=f"{self.prefix}{QUEUE_MONITORING}",
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )

    def handle(self, process_id: str) -> WorkflowHandle[Any, MonitorResult]:
        return self.client.get_workflow_handle(workflow_id_for_process(process_id), result_type=MonitorResult)

    async def stop_process(self, process_id: str, timeout: float = 120.0) -> MonitorResult:
        handle = self.handle(process_id)
        await handle.signal("stop", StopRequest(reason="benchmark finished"))
        return await asyncio.wait_for(handle.result(), timeout)


async def wait_until(check: Callable[[], bool | Awaitable[bool]], timeout: float, what: str,
                     every: float = 0.05) -> float:  # fmt: skip
    """Polls `check`; returns the time.time() at which it first held; raises after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.time()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(every)


def post_times(requests: list[dict[str, Any]]) -> dict[tuple[int, str], float]:
    """(article id, login) -> wall time of the comment POST that stored it (answered with a redirect)."""
    found: dict[tuple[int, str], float] = {}
    for r in requests:
        if r["kind"] == "post" and r["status"] in (301, 302, 303) and r["login"]:
            article_id = int(r["path"].strip("/").split("/")[1])
            found.setdefault((article_id, r["login"]), r["wall"])
    return found
