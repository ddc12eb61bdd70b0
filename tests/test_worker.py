"""The worker entry point: clear refusals (key, database, settings, arguments, contact) and its metrics endpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import MyMomentServer, migrated_sqlite
from yourmoment.comment_rules import DISCLOSURE
from yourmoment.crypto import generate_key
from yourmoment.settings import Settings
from yourmoment.worker_main import parse_args
from yourmoment_dev.harness import REPO, DevServer, WorkerProcess, free_port, hermetic_env, wait_until


def run_worker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "worker.py"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def worker_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """A migrated SQLite file, a key, Temporal and myMoment where nothing listens; `values` on top."""
    db_url = migrated_sqlite(tmp_path / "w.db")
    defaults = {
        "DATABASE_URL": db_url,
        "YOURMOMENT_ENCRYPTION_KEY": generate_key(),
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        "MYMOMENT_BASE_URL": "http://127.0.0.1:9",
    }
    return hermetic_env(**{**defaults, **values})


def test_refuses_without_encryption_key(tmp_path: Path) -> None:
    db_url = migrated_sqlite(tmp_path / "w.db")
    proc = run_worker(hermetic_env(DATABASE_URL=db_url, TEMPORAL_ADDRESS="127.0.0.1:1"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: YOURMOMENT_ENCRYPTION_KEY is not set")
    assert "Traceback" not in proc.stderr


def test_refuses_unmigrated_database(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()  # there, but no schema (a missing file is named as such: test_bad_input)
    env = hermetic_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}",
        YOURMOMENT_ENCRYPTION_KEY=generate_key(),
        TEMPORAL_ADDRESS="127.0.0.1:1",
        MYMOMENT_BASE_URL="http://127.0.0.1:9",
    )
    proc = run_worker(env)
    assert proc.returncode == 2
    assert "not migrated" in proc.stderr and "db upgrade" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreachable_temporal_is_one_line(tmp_path: Path) -> None:
    proc = run_worker(worker_env(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: cannot reach Temporal at 127.0.0.1:1")


def test_task_queue_selection() -> None:
    assert parse_args(["--task-queues", "monitoring,comments"]).queues == ["monitoring", "comments"]
    assert parse_args([]).queues == ["monitoring", "comments", "sessions", "maintenance"]
    proc = run_worker(hermetic_env(), "--task-queues", "monitoring,timeouts")
    assert proc.returncode == 2 and "unknown task queue(s) timeouts" in proc.stderr


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("AI_COMMENT_PREFIX", "Liebe Grüsse von Frau Meier:", "is fixed and cannot be replaced"),
        ("AI_COMMENT_PREFIX", " ", "is fixed and cannot be replaced"),
        ("AI_COMMENT_EXTRA_LINE", " ", "blank"),
        ("AI_COMMENT_EXTRA_LINE", "Spiele auf www.beispiel.ch", "web address"),
    ],
)
def test_refuses_a_replaced_disclosure_or_a_bad_extra_line(
    tmp_path: Path, name: str, value: str, says: str
) -> None:
    proc = run_worker(worker_env(tmp_path, **{name: value}))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: invalid setting {name}: ") and says in lines[0], (
        lines
    )
    assert (
        "Frau Meier" not in proc.stderr and "beispiel" not in proc.stderr
    )  # names the setting, not its value


@pytest.mark.parametrize(
    ("name", "value"),
    [("AI_COMMENT_PREFIX", DISCLOSURE), ("AI_COMMENT_EXTRA_LINE", "Ein Projekt der Klasse 82.")],
)
def test_accepts_the_disclosure_itself_and_a_good_extra_line(tmp_path: Path, name: str, value: str) -> None:
    proc = run_worker(worker_env(tmp_path, **{name: value}))
    # The settings pass; the worker gets as far as connecting to Temporal.
    assert proc.stderr.strip().splitlines()[-1].startswith("error: cannot reach Temporal at 127.0.0.1:1")


# --- the contact in the User-Agent: required for the real myMoment site ---------------------------------

REAL_SITE_SPELLINGS = [
    "https://www.mymoment.ch",
    "HTTPS://WWW.MyMoment.CH/",
    "http://mymoment.ch:443/",
    "https://mymoment.ch./",
    "https://app.mymoment.ch:8443/x",
]


@pytest.mark.parametrize("base_url", REAL_SITE_SPELLINGS)
def test_refuses_the_real_site_without_a_contact(tmp_path: Path, base_url: str) -> None:
    proc = run_worker(worker_env(tmp_path, MYMOMENT_BASE_URL=base_url))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: CONTACT is not set") and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("contact", "problem"),
    [
        ("ops@example.org", "placeholder"),
        ("https://example.com/kontakt", "placeholder"),
        ("someone@localhost", "neither"),
        ("bitte anrufen", "neither"),
        ("ftp://schule.ch", "neither"),
    ],
)
def test_refuses_the_real_site_with_a_placeholder_or_invalid_contact(
    tmp_path: Path, contact: str, problem: str
) -> None:
    proc = run_worker(worker_env(tmp_path, MYMOMENT_BASE_URL="https://www.mymoment.ch", CONTACT=contact))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: CONTACT"), proc.stderr
    assert problem in lines[0]


def test_a_real_contact_passes_the_check(tmp_path: Path) -> None:
    env = worker_env(
        tmp_path, MYMOMENT_BASE_URL="https://www.mymoment.ch", CONTACT="it-support@schule-muster.ch"
    )
    proc = run_worker(env)
    # It gets as far as Temporal: the contact was accepted.
    assert proc.returncode == 2 and "error: cannot reach Temporal" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("contact", "agent"),
    [
        ("it@schule-muster.ch", "yourMoment-Temporal/0.1 (+mailto:it@schule-muster.ch)"),
        ("mailto:it@schule-muster.ch", "yourMoment-Temporal/0.1 (+mailto:it@schule-muster.ch)"),
        ("https://schule-muster.ch/kontakt", "yourMoment-Temporal/0.1 (+https://schule-muster.ch/kontakt)"),
    ],
)
def test_user_agent_names_the_contact(contact: str, agent: str) -> None:
    for base_url in ("https://www.mymoment.ch", "http://127.0.0.1:9"):
        settings = Settings(_env_file=None, mymoment_base_url=base_url, contact=contact)
        assert settings.user_agent == agent


def test_the_imitation_needs_no_contact_and_gets_no_made_up_one() -> None:
    settings = Settings(_env_file=None, mymoment_base_url="http://127.0.0.1:9")
    assert settings.contact is None and settings.user_agent == "yourMoment-Temporal/0.1"
    placeholder = Settings(_env_file=None, mymoment_base_url="http://127.0.0.1:9", contact="demo@example.org")
    assert placeholder.user_agent.endswith("(+mailto:demo@example.org)")


@pytest.mark.parametrize(
    "url",
    [
        "https://mymoment.ch.evil.example",
        "http://127.0.0.1:9",
        "https://notmymoment.ch",
        "https://mymoment.chx",
    ],
)
def test_other_hosts_are_not_the_real_site(url: str) -> None:
    from yourmoment.settings import is_real_mymoment

    assert not is_real_mymoment(url)
    # Without a scheme the setting itself is refused; the check still knows the host.
    assert all(is_real_mymoment(spelling) for spelling in [*REAL_SITE_SPELLINGS, "www.mymoment.ch"])


# --- the Prometheus endpoint binds loopback unless told otherwise ------------------------------------


def listening_addresses(pid: int, port: int) -> set[str]:
    return {
        c.laddr.ip
        for c in psutil.Process(pid).net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }


@pytest.mark.parametrize(("metrics_host", "expected"), [(None, "127.0.0.1"), ("0.0.0.0", "0.0.0.0")])
async def test_metrics_endpoint_binds_loopback_by_default(
    dev_server: DevServer, tmp_path: Path, metrics_host: str | None, expected: str
) -> None:
    db_url = migrated_sqlite(tmp_path / "m.db")
    port = free_port()
    env = hermetic_env(
        DATABASE_URL=db_url,
        YOURMOMENT_ENCRYPTION_KEY=generate_key(),
        METRICS_PORT=str(port),
        MYMOMENT_BASE_URL="http://127.0.0.1:9",
        TEMPORAL_TASK_QUEUE_PREFIX=f"m{port}-",
        TEMPORAL_ADDRESS=dev_server.address,
    )
    env.pop("METRICS_HOST", None)
    if metrics_host:
        env["METRICS_HOST"] = metrics_host
    worker = WorkerProcess(env, "--task-queues", "comments")
    worker.start()
    try:
        assert listening_addresses(worker.pid, port) == {expected}
        assert "temporal_" in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        assert worker.terminate() == 0


# --- /health and /ready over HTTP (HEALTH_PORT) ---------------------------------------------------------


async def test_health_and_ready_over_http(
    dev_server: DevServer, tmp_path: Path, mymoment_server: MyMomentServer
) -> None:
    """A worker of three queues is ready (it polls them) but unhealthy (nobody polls maintenance): 503 naming
    that check; once a maintenance worker runs, 200. Loopback only, as the metrics."""
    db_url = migrated_sqlite(tmp_path / "h.db")
    port = free_port()
    env = hermetic_env(
        DATABASE_URL=db_url,
        YOURMOMENT_ENCRYPTION_KEY=generate_key(),
        MYMOMENT_BASE_URL=mymoment_server.url,
        TEMPORAL_TASK_QUEUE_PREFIX=f"h{port}-",
        TEMPORAL_ADDRESS=dev_server.address,
    )
    worker = WorkerProcess({**env, "HEALTH_PORT": str(port)}, "--task-queues", "monitoring,comments,sessions")
    maintenance = WorkerProcess(env, "--task-queues", "maintenance")
    worker.start()
    base = f"http://127.0.0.1:{port}"
    last: list[httpx.Response] = []

    async def answers(path: str, status: int) -> bool:
        async with httpx.AsyncClient(timeout=60) as http:
            last[:] = [await http.get(base + path)]
        return last[0].status_code == status

    def shown() -> str:
        return last[0].text if last else "(no answer)"

    try:
        assert listening_addresses(worker.pid, port) == {"127.0.0.1"}
        await wait_until(lambda: answers("/ready", 200), 60, "/ready 200", explain=shown)
        ready = last[0].json()
        assert ready["ok"] is True
        assert [q["queue"] for q in ready["queues"]] == [
            f"h{port}-{q}" for q in ("monitoring", "comments", "sessions")
        ]
        assert await answers("/health", 503), shown()
        report = last[0].json()
        failed = {c["name"]: c["detail"] for c in report["checks"] if not c["ok"]}
        assert report["ok"] is False and "pollers:maintenance" in failed, report
        assert "start 'python worker.py --task-queues maintenance'" in failed["pollers:maintenance"]
        assert {c["name"] for c in report["checks"] if c["ok"]} >= {"temporal", "database", "mymoment"}
        maintenance.start()
        await wait_until(lambda: answers("/health", 200), 90, "/health 200", explain=shown)
        assert last[0].json()["ok"] is True
        async with httpx.AsyncClient() as http:
            assert (await http.get(base + "/metrics")).status_code == 404  # the metrics have their own port
    finally:
        if maintenance.alive():
            assert maintenance.terminate() == 0
        assert worker.terminate() == 0
