"""Local imitation of the myMoment site (see docs/protocol.md#the-imitation), with an admin API and fault switches.

Modules: `vocabulary` (categories, tasks, statuses), `state` (data, sessions, request log, faults),
`security` (cookies, CSRF, Referer), `templates` (the HTML), `pages` (site routes), `admin` (the
/_admin/ JSON API), `demo` (demo data), `app` (the ASGI app and `python -m imitation.mymoment`).
"""

from imitation.mymoment.app import MyMomentApp, create_app, main
from imitation.mymoment.demo import seed_demo
from imitation.mymoment.state import (
    FAULT_DEFAULTS,
    REQUEST_KINDS,
    Account,
    Article,
    Classroom,
    Comment,
    LoggedRequest,
    MyMomentState,
    Session,
    peak_in_window,
)

__all__ = [
    "FAULT_DEFAULTS",
    "REQUEST_KINDS",
    "Account",
    "Article",
    "Classroom",
    "Comment",
    "LoggedRequest",
    "MyMomentApp",
    "MyMomentState",
    "Session",
    "create_app",
    "main",
    "peak_in_window",
    "seed_demo",
]
