"""The student backup (docs/versions.md): read each tracked pupil's dashboard through the teacher login,
read the articles that are new or changed, store a version per distinct content.

Called by `MaintenanceActivities.student_backup` (the `student-backup` Schedule and `track run`). A pupil's
failure is recorded on the pupil (`track list`) and the run goes on with the next; only a failing
database fails the run. Every version is stored exactly once (yourmoment/store/versions.py), so an
attempt retried after a crash resumes: it reads again what it had not recorded and adds nothing twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from temporalio import activity

from activities.deps import Dependencies
from yourmoment.errors import ForbiddenError, NotFoundError, PermanentError, TransientError
from yourmoment.messages import MaintenanceInput, MaintenanceResult
from yourmoment.mymoment.client import counting_requests
from yourmoment.statuses import TrackState
from yourmoment.store import versions
from yourmoment.store.db import run_db


@dataclass
class PupilOutcome:
    state: TrackState
    articles_read: int = 0
    versions: int = 0


async def back_up_pupils(deps: Dependencies, inp: MaintenanceInput) -> MaintenanceResult:
    pupil_ids = await run_db(
        deps.in_session, versions.pupils_to_back_up, inp.student_ids or None, inp.user_id
    )
    states: Counter[str] = Counter()
    read = stored = 0
    with counting_requests() as requests:
        for pupil_id in pupil_ids:
            outcome = await back_up_pupil(deps, pupil_id)
            states[outcome.state] += 1
            read += outcome.articles_read
            stored += outcome.versions
    counts = {
        "pupils": len(pupil_ids),
        **{str(state).replace(" ", "_"): n for state, n in sorted(states.items())},
        "articles_read": read,
        "versions": stored,
        "requests": requests[0],
    }
    activity.logger.info("student_backup done: %s", ", ".join(f"{k}={v}" for k, v in counts.items()))
    return MaintenanceResult(task=inp.task, counts=counts)


async def back_up_pupil(deps: Dependencies, pupil_id: str) -> PupilOutcome:
    work = await run_db(deps.in_session, versions.pupil_work, pupil_id)
    if work is None:  # removed while the run went on
        return PupilOutcome(TrackState.GONE)
    settings = deps.settings
    try:
        client = await deps.mymoment(work.login_id)
        dashboard = await client.read_dashboard(work.student_id)
    except ForbiddenError:
        return await _ended(
            deps, work, TrackState.NO_ACCESS, "the login has no access to this pupil's dashboard"
        )
    except NotFoundError:
        return await _ended(deps, work, TrackState.GONE, "myMoment knows no pupil with this id")
    except (PermanentError, TransientError) as exc:
        return await _ended(deps, work, TrackState.ERROR, str(exc))
    outcome = PupilOutcome(TrackState.OK)
    for row in dashboard.articles:
        if not versions.needs_read(row, work.listed.get(row.id)):
            continue
        try:
            detail = await client.read_article(row.id)
        except NotFoundError:
            continue  # deleted between the dashboard and its page
        except (PermanentError, TransientError) as exc:
            return await _ended(deps, work, TrackState.ERROR, f"article {row.id}: {exc}")
        created = await run_db(
            deps.in_session,
            versions.store_backup_read,
            work,
            row,
            detail,
            settings.student_backup_max_versions_per_article,
        )
        outcome.articles_read += 1
        outcome.versions += int(created)
    await run_db(
        deps.in_session,
        versions.record_state,
        work.pupil_id,
        TrackState.OK,
        name=dashboard.name,
        listed=len(dashboard.articles),
    )
    return outcome


async def _ended(deps: Dependencies, work: versions.PupilWork, state: TrackState, why: str) -> PupilOutcome:
    activity.logger.warning("student_backup: tracked pupil %s: %s", work.pupil_id, state)
    await run_db(deps.in_session, versions.record_state, work.pupil_id, state, why)
    return PupilOutcome(state)
