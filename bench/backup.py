"""Student backup: myMoment requests per tracked pupil and hour, for unchanged and changing dashboards.

`python -m bench.backup [--pupils 10] [--articles 5] [--runs 3] [--interval-minutes 60] [--json-out FILE]`

A teacher login tracks `--pupils` pupils of one class with `--articles` articles each. A first run stores
every article; then `--runs` runs of unchanged dashboards, then `--runs` runs where every pupil revised
one article since the run before (backdated into the simulated hour, as hourly runs would see it). Each
run is the `student-backup` task as the Schedule starts it (MaintenanceWorkflow, worker.py), through the
politeness limiter. Requests per pupil and hour = requests per run / pupils x runs per hour.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

from bench.harness import BenchHarness
from bench.output import Option, log, run_benchmark
from bench.stats import by_kind
from imitation.mymoment.state import site_now
from yourmoment.crypto import Encryptor
from yourmoment.schedules_apply import start_backup
from yourmoment.store import accounts, versions
from yourmoment.store.db import session_scope
from yourmoment_dev.harness import IMITATION_PASSWORD

CLASS_ID = 82
TEACHER = "teacher-bench"
OPTIONS = (
    Option("--pupils", int, 10),
    Option("--articles", int, 5),
    Option("--runs", int, 3),
    Option("--interval-minutes", int, 60, "STUDENT_BACKUP_INTERVAL_MINUTES: runs per hour = 60 / this"),
)


def seed(h: BenchHarness, pupils: int, articles: int) -> tuple[str, dict[str, list[int]]]:
    """The teacher login and the tracked pupils with their articles (last changed two hours ago)."""
    h.add_class(CLASS_ID)
    state = h.mm_state
    state.add_account(TEACHER, IMITATION_PASSWORD, "teacher", [CLASS_ID])
    long_ago = site_now() - timedelta(hours=2)
    article_ids: dict[str, list[int]] = {}
    with session_scope(h.database_url) as session:
        user = accounts.get_user(session, h.user_email)
        enc = Encryptor(h.settings.yourmoment_encryption_key)
        login = accounts.add_login(
            session,
            enc,
            user,
            TEACHER,
            TEACHER,
            IMITATION_PASSWORD,
            True,
            base_url=h.settings.mymoment_base_url,
        )
        for n in range(pupils):
            pupil = state.add_account(
                f"kind-{n}-{uuid.uuid4().hex[:4]}", IMITATION_PASSWORD, "pupil", [CLASS_ID]
            )
            article_ids[pupil.username] = [
                state.add_article(
                    f"Text {a} von Kind {n}",
                    pupil.username,
                    class_id=CLASS_ID,
                    category_id=7,
                    paragraphs=[f"Das ist Text {a}.", "Er hat zwei Absätze."],
                    created=long_ago,
                )
                for a in range(articles)
            ]
            versions.add_tracked(session, user, login, str(pupil.uid), None, pupil.username, pupils)
        user_id = user.id
    return user_id, article_ids


async def one_run(h: BenchHarness, user_id: str) -> dict[str, Any]:
    assert h.client is not None
    h.mm_state.reset_stats()
    began = time.monotonic()
    handle = await start_backup(h.client, h.settings, user_id, [], uuid.uuid4().hex[:12])
    result = await handle.result()
    stats = h.mm_state.stats()
    return {
        "seconds": round(time.monotonic() - began, 2),
        "requests": stats["total"],
        "requests_by_kind": {k: v for k, v in by_kind(stats["requests"]).items() if v},
        "versions": result.counts.get("versions", 0),
        "articles_read": result.counts.get("articles_read", 0),
    }


def per_pupil_hour(runs: list[dict[str, Any]], pupils: int, interval_minutes: int) -> float:
    per_run = sum(int(r["requests"]) for r in runs) / len(runs)
    return round(per_run / pupils * 60 / interval_minutes, 2)


async def backup(
    h: BenchHarness, pupils: int, articles: int, runs: int, interval_minutes: int
) -> dict[str, Any]:
    user_id, article_ids = seed(h, pupils, articles)
    worker = h.start_worker()
    log(f"worker ready in {worker.startup_s:.2f} s; first backup of {pupils} pupils x {articles} articles")
    first = await one_run(h, user_id)
    unchanged = [await one_run(h, user_id) for _ in range(runs)]
    changing = []
    for r in range(runs):
        edited = site_now() - timedelta(minutes=10)  # within the simulated hour before this run
        for username, ids in article_ids.items():
            h.mm_state.edit_article(
                ids[r % len(ids)], [f"Neu in Runde {r}: {username}.", "Zweiter Absatz."], modified=edited
            )
        changing.append(await one_run(h, user_id))
    h.stop_worker(worker)
    return {
        "benchmark": "backup",
        "command": "python -m bench.backup",
        "parameters": {
            "pupils": pupils,
            "articles_per_pupil": articles,
            "runs": runs,
            "interval_minutes": interval_minutes,
            **h.politeness.as_dict(),
            "database": h.database_kind,
        },
        "first_run": first,
        "unchanged_runs": unchanged,
        "changing_runs": changing,
        "requests_per_pupil_per_hour": {
            "unchanged": per_pupil_hour(unchanged, pupils, interval_minutes),
            "one_article_changed_per_pupil": per_pupil_hour(changing, pupils, interval_minutes),
        },
        "targets_met": {
            "unchanged_dashboard_one_request": all(r["requests"] == pupils for r in unchanged),
            "one_version_per_changed_article": all(r["versions"] == pupils for r in changing),
        },
    }


if __name__ == "__main__":
    run_benchmark("bench.backup", __doc__, OPTIONS, backup)
