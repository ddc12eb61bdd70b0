"""Notifications to the people running processes (NOTIFY_URLS, docs/notifications.md), through apprise.

What a message may say: process names, login names, statuses, counts and the value-free reasons
this project's errors carry. Never a pupil's name, an article's title or text, or a comment: the
composer below is given none of them (the activity reads the process's name and a count only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from yourmoment.errors import ConfigurationError, NotifierError
from yourmoment.messages import NotifyInput
from yourmoment.statuses import ProcessStatus

if TYPE_CHECKING:
    from yourmoment.settings import Settings

# Below the activity's start-to-close timeout (workflows/activity_config.py NOTIFY): a slow service
# fails this attempt with a reason instead of a timeout without one.
SEND_TIMEOUT_S = 20.0
SERVICES_LIST = "https://github.com/caronc/apprise/wiki"


@dataclass(frozen=True)
class Notice:
    title: str
    body: str


def compose(inp: NotifyInput, process_name: str, waiting: int, left_unposted: int = 0) -> Notice:
    """The message for `inp` about the process `process_name` with `waiting` comments to approve and
    `left_unposted` generated comments a stop held back (a posting process)."""
    name = f"'{process_name}'"
    review = f"python starter.py comments review {shlex.quote(process_name)}"
    if inp.kind == "approval":
        comments = "comment" if waiting == 1 else "comments"
        return Notice(
            f"yourMoment: {waiting} {comments} waiting for approval in {name}",
            f"Process {name} has {waiting} {comments} waiting for approval "
            f"({inp.new} new since the last message). Review them: {review}",
        )
    if inp.kind == "login_rejected":
        return Notice(
            f"yourMoment: a login of {name} was rejected",
            f"myMoment rejected login '{inp.login}' of process {name}: {inp.reason}. "
            "Check its password: python starter.py login test " + shlex.quote(inp.login or ""),
        )
    if inp.kind == "stuck":
        return Notice(
            f"yourMoment: process {name} is stuck",
            f"The workflow of process {name} makes no progress: its workflow task keeps failing. "
            "Details: python starter.py health",
        )
    status = inp.status or ProcessStatus.STOPPED
    body = f"Process {name} {_ended_words(status)} ({inp.reason})."
    if inp.counts is not None:  # none when reconciliation found the workflow ended without a word
        body += (
            " This run: "
            + ", ".join(f"{key} {value}" for key, value in inp.counts.model_dump().items())
            + "."
        )
    if waiting:
        body += f" {waiting} comment{'s' if waiting != 1 else ''} waiting for approval: {review}"
    if left_unposted:
        post = f"python starter.py post --process {shlex.quote(process_name)}"
        body += f" {left_unposted} generated comment{'s' if left_unposted != 1 else ''} left unposted: {post}"
    return Notice(f"yourMoment: process {name} {_ended_words(status)}", body)


def _ended_words(status: ProcessStatus) -> str:
    return {ProcessStatus.FAILED: "failed", ProcessStatus.COMPLETED: "completed"}.get(status, "stopped")


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


class Notifier:
    """The configured notification services; `send` delivers one message to each of them.

    apprise is imported only when URLs are configured (a worker without them never loads it).
    """

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self._services: list[tuple[str, Any]] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifier:
        return cls(settings.notification_urls)

    @property
    def configured(self) -> bool:
        return bool(self.urls)

    def schemes(self) -> list[str]:
        return [url.partition("://")[0].lower() for url in self.urls]

    def describe(self) -> str:
        """`2 notification URLs (json, mailto)`: what is configured, without any of its secrets."""
        count = len(self.urls)
        return f"{count} notification URL{'s' if count != 1 else ''} ({', '.join(self.schemes())})"

    def check(self) -> None:
        """ConfigurationError naming the first URL (by position and scheme) apprise cannot use."""
        self._load()

    def _load(self) -> list[tuple[str, Any]]:
        if self._services is None:
            import apprise

            services = []
            for number, (url, scheme) in enumerate(zip(self.urls, self.schemes(), strict=True), start=1):
                with _quiet(logging.getLogger("apprise")):  # its "Unparseable URL …": ours says it better
                    service = apprise.Apprise.instantiate(url, suppress_exceptions=True)
                if service is None:
                    raise ConfigurationError(
                        f"NOTIFY_URLS: entry {number} ({scheme}://…) is not a notification URL apprise "
                        f"can use (unknown service or a part missing; see {SERVICES_LIST})"
                    )
                services.append((scheme, service))
            self._services = services
        return self._services

    async def send(self, notice: Notice) -> None:
        """Delivers to every service; NotifierError names (by scheme) those that did not take it."""
        services = self._load()
        results = await asyncio.gather(*(self._send_one(service, notice) for _, service in services))
        failed = [scheme for (scheme, _), ok in zip(services, results, strict=True) if not ok]
        if failed:
            raise NotifierError(
                f"not delivered by {len(failed)} of {len(services)} notification services "
                f"({', '.join(failed)}); the service's answer is in the worker's log"
            )

    @staticmethod
    async def _send_one(service: Any, notice: Notice) -> bool:
        try:
            return bool(
                await asyncio.wait_for(
                    asyncio.to_thread(service.notify, body=notice.body, title=notice.title), SEND_TIMEOUT_S
                )
            )
        except TimeoutError:
            return False
