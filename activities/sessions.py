"""The sessions queue's activities: open a login's myMoment session, release a run's clients."""

from __future__ import annotations

from temporalio import activity

from activities.deps import ActivityGroup
from activities.errors import keep_alive, translate_errors
from yourmoment.errors import BadCredentialsError
from yourmoment.messages import CloseSessionsInput, OpenSessionInput, OpenSessionResult


class SessionActivities(ActivityGroup):
    @activity.defn
    @translate_errors
    @keep_alive
    async def open_session(self, inp: OpenSessionInput) -> OpenSessionResult:
        """Restores the stored session (no request) or logs in; bad credentials are permanent."""
        client = await self.deps.mymoment(inp.login_id)
        try:
            restored = await client.ensure_session()
        except BadCredentialsError:
            await self.deps.drop_client(inp.login_id)
            raise
        return OpenSessionResult(login_id=inp.login_id, restored=bool(restored))

    @activity.defn
    @translate_errors
    async def close_sessions(self, inp: CloseSessionsInput) -> None:
        """Releases this worker's HTTP clients; the stored sessions stay for the next run."""
        for login_id in inp.login_ids:
            await self.deps.drop_client(login_id)

    ACTIVITIES = (open_session, close_sessions)
