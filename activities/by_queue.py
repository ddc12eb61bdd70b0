"""Which activity class a worker registers on each task queue (the workflows' side: workflows/by_queue.py)."""

from __future__ import annotations

from activities.comments import CommentActivities
from activities.deps import ActivityGroup
from activities.maintenance import MaintenanceActivities
from activities.monitoring import MonitoringActivities
from activities.sessions import SessionActivities
from yourmoment.messages import QUEUE_COMMENTS, QUEUE_MAINTENANCE, QUEUE_MONITORING, QUEUE_SESSIONS

ACTIVITY_CLASSES: dict[str, type[ActivityGroup]] = {
    QUEUE_MONITORING: MonitoringActivities,
    QUEUE_COMMENTS: CommentActivities,
    QUEUE_SESSIONS: SessionActivities,
    QUEUE_MAINTENANCE: MaintenanceActivities,
}
