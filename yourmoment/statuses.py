"""The status vocabularies shared by the database, the messages, the workflows and the CLI.

Standard library only, so workflows import it inside the sandbox. Each member is its string, so a
status travels in payloads and rows exactly as before (`CommentStatus.POSTED == "posted"`).
"""

from __future__ import annotations

import enum


class ProcessStatus(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    COMPLETED = "completed"
    FAILED = "failed"


class CommentStatus(enum.StrEnum):
    """A work item's life: discovered → prepared → generated → posting → posted, or failed/skipped.

    A reviewer's `comments regenerate` moves a generated item to `regenerating` and back (see
    workflows/regenerate.py); nothing posts, edits or settles an item while it is there.
    """

    DISCOVERED = "discovered"
    PREPARED = "prepared"
    GENERATED = "generated"
    POSTING = "posting"
    POSTED = "posted"
    FAILED = "failed"
    SKIPPED = "skipped"
    REGENERATING = "regenerating"


# Before its comment is generated, an item can still be skipped without loss when a process stops.
NOT_YET_GENERATED = (CommentStatus.DISCOVERED, CommentStatus.PREPARED)
UNFINISHED_STATUSES = (*NOT_YET_GENERATED, CommentStatus.GENERATED, CommentStatus.POSTING)
FINISHED_STATUSES = (CommentStatus.POSTED, CommentStatus.FAILED, CommentStatus.SKIPPED)


class EventKind(enum.StrEnum):
    """The steps of a work item's history (comment_events.kind, at most 16 characters)."""

    GENERATED = "generated"
    EDITED = "edited"
    REGENERATED = "regenerated"
    REGEN_FAILED = "regen_failed"
    APPROVED = "approved"
    REJECTED = "rejected"
    POSTED = "posted"
    # Undo (`comments unapprove`, `reopen`, `restore`).
    UNAPPROVED = "unapproved"
    REOPENED = "reopened"
    RESTORED = "restored"


# The steps that make a new text: each is the comment's next version (comment_events.version).
TEXT_EVENTS = (EventKind.GENERATED, EventKind.EDITED, EventKind.REGENERATED)


class LoginSessionState(enum.StrEnum):
    """A login's session as its process's workflow sees it ("unknown": asked the database while the
    process runs; only its workflow knows)."""

    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"
    UNKNOWN = "unknown"


class PostOutcome(enum.StrEnum):
    POSTED = "posted"
    ALREADY_POSTED = "already_posted"  # a retry found the comment it had posted before
    SKIPPED = "skipped"
    HELD = "held"  # the process was stopped (not --drain): nothing sent, the comment stays `generated`


class RunEnd(enum.StrEnum):
    """How one run of a monitoring workflow ends: a final status of the process, or continue-as-new."""

    STOPPED = "stopped"
    COMPLETED = "completed"
    FAILED = "failed"
    CONTINUE = "continue"


class TrackState(enum.StrEnum):
    """How a tracked pupil's last backup went (`track list`)."""

    NEW = "new"  # added, not read by a run yet
    OK = "ok"
    NO_ACCESS = "no access"  # the dashboard answered 403: the login has no access to this pupil
    GONE = "gone"  # the dashboard answered 404: no such pupil (any more)
    ERROR = "error"  # anything else; `last_error` says what
