"""The worker entry point: clear refusals for a missing key, an unmigrated database, bad settings or arguments."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.processes import REPO, base_env
from yourmoment.comment_rules import DISCLOSURE
from yourmoment.crypto import generate_key
from yourmoment.store.db import upgrade
from yourmoment.worker_main import parse_args


def run_worker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "worker.py"), *args], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_refuses_without_encryption_key(tmp_path) -> None:
    db_url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(db_url)
    proc = run_worker(base_env(DATABASE_URL=db_url, TEMPORAL_ADDRESS="127.0.0.1:1"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: YOURMOMENT_ENCRYPTION_KEY is not set")
    assert "Traceback" not in proc.stderr


def test_refuses_unmigrated_database(tmp_path) -> None:
    env = base_env(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}", YOURMOMENT_ENCRYPTION_KEY=generate_key(),
                   TEMPORAL_ADDRESS="127.0.0.1:1")  # fmt: skip
    proc = run_worker(env)
    assert proc.returncode == 2
    assert "not migrated" in proc.stderr and "db upgrade" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreachable_temporal_is_one_line(tmp_path) -> None:
    db_url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(db_url)
    env = base_env(
        DATABASE_URL=db_url, YOURMOMENT_ENCRYPTION_KEY=generate_key(), TEMPORAL_ADDRESS="127.0.0.1:1"
    )
    proc = run_worker(env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: cannot reach Temporal at 127.0.0.1:1")


def test_task_queue_selection() -> None:
    assert parse_args(["--task-queues", "monitoring,comments"]).queues == ["monitoring", "comments"]
    assert parse_args([]).queues == ["monitoring", "comments", "sessions", "maintenance"]
    proc = run_worker(base_env(), "--task-queues", "monitoring,timeouts")
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
    tmp_path, name: str, value: str, says: str
) -> None:  # type: ignore[no-untyped-def]
    db_url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(db_url)
    env = base_env(DATABASE_URL=db_url, YOURMOMENT_ENCRYPTION_KEY=generate_key(), TEMPORAL_ADDRESS="127.0.0.1:1",
                   **{name: value})  # fmt: skip
    proc = run_worker(env)
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
)  # fmt: skip
def test_accepts_the_disclosure_itself_and_a_good_extra_line(tmp_path, name: str, value: str) -> None:  # type: ignore[no-untyped-def]
    db_url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(db_url)
    env = base_env(DATABASE_URL=db_url, YOURMOMENT_ENCRYPTION_KEY=generate_key(), TEMPORAL_ADDRESS="127.0.0.1:1",
                   **{name: value})  # fmt: skip
    proc = run_worker(env)
    # The settings pass; the worker gets as far as connecting to Temporal.
    assert proc.stderr.strip().splitlines()[-1].startswith("error: cannot reach Temporal at 127.0.0.1:1")
