"""Tracking pupils and reading their articles' versions: `track …` and `versions …` (docs/versions.md)."""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any

from yourmoment.cli import common
from yourmoment.errors import ForbiddenError, NotFoundError, ValidationError
from yourmoment.research.revisions import render_diff, revision, word_diff
from yourmoment.store import accounts, versions
from yourmoment.store.models import ArticleVersion, TrackedPupil

TRACK_COLUMNS = ["student_id", "name", "label", "login", "state", "paused", "articles", "last_run_at"]
VERSION_COLUMNS = ["id", "article", "number", "pupil", "title", "words", "source", "fetched_at"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _register_track(sub)
    _register_versions(sub)


# --- track -----------------------------------------------------------------------------------------


def _register_track(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    track = common.command_group(sub, "track", "pupils whose texts are backed up as versions")
    add = common.add_plain_command(
        track,
        "add",
        "track a pupil through a teacher login with dashboard access (the login is tried once)",
        cmd_track_add,
        examples=["starter.py track add 2417 --login teacher --label '4a Mia'"],
    )
    add.add_argument("student_id", metavar="STUDENT_ID", help="the pupil's myMoment id")
    add.add_argument(
        "--login", required=True, help="your teacher login (`login add --admin`) that reads the dashboard"
    )
    add.add_argument("--label", help="your note for this pupil, e.g. the class")
    common.add_command(
        track,
        "list",
        "tracked pupils and how their last backup went",
        cmd_track_list,
        examples=["starter.py track list --json"],
    )
    for name, help_text, handler in (
        ("remove", "stop tracking a pupil (the versions stay)", cmd_track_remove),
        ("pause", "leave a pupil out of the scheduled backups", cmd_track_pause),
        ("resume", "back up a paused pupil again", cmd_track_resume),
    ):
        action = common.add_plain_command(
            track, name, help_text, handler, examples=[f"starter.py track {name} 2417"]
        )
        action.add_argument("student_id", metavar="STUDENT_ID")
    run = common.add_command(
        track,
        "run",
        "back up now: all your tracked pupils, or one (paused ones too)",
        cmd_track_run,
        examples=["starter.py track run", "starter.py track run 2417 --wait"],
    )
    run.add_argument("student_id", metavar="STUDENT_ID", nargs="?")
    run.add_argument("--wait", action="store_true", help="wait for the run and print what it stored")


def _limit(text: str | None, column: Any, label: str) -> str | None:
    if text is None:
        return None
    from yourmoment.store.limits import check_text

    problems: list[str] = []
    check_text(problems, label, text, column)
    if problems:
        raise ValidationError(problems)
    return text


async def cmd_track_add(args: argparse.Namespace) -> None:
    from yourmoment.cli.browse_cmds import login_client

    ctx = common.Context(args)
    student_id = versions.check_student_id(args.student_id)
    label = _limit(args.label, TrackedPupil.label, "--label")
    with ctx.db() as session:
        user = ctx.user(session)
        accounts.get_login(session, user, args.login)
        versions.check_can_track(
            session, user, student_id, ctx.settings.student_backup_max_tracked_students_per_user
        )
    async with login_client(ctx, args.login) as client:
        try:
            dashboard = await client.read_dashboard(student_id)
        except ForbiddenError:
            raise ValidationError(
                [
                    f"login '{args.login}' has no access to the dashboard of pupil {student_id} (myMoment answered 403)"
                ]
            ) from None
        except NotFoundError:
            raise ValidationError([f"myMoment knows no pupil {student_id} (404)"]) from None
    with ctx.db() as session:
        user = ctx.user(session)
        login = accounts.get_login(session, user, args.login)
        versions.add_tracked(
            session,
            user,
            login,
            student_id,
            label,
            dashboard.name,
            ctx.settings.student_backup_max_tracked_students_per_user,
        )
    print(
        f"tracking pupil {student_id} through login '{args.login}' ({len(dashboard.articles)} articles on "
        "the dashboard); the next backup stores their versions ('starter.py track run' for now)"
    )


def _track_dict(pupil: TrackedPupil, login_names: dict[str, str]) -> dict[str, Any]:
    return {
        "student_id": pupil.student_id,
        "name": pupil.name,
        "label": pupil.label,
        "login": login_names.get(pupil.login_id, pupil.login_id),
        "state": pupil.state,
        "paused": pupil.paused,
        "articles": pupil.articles_listed,
        "last_run_at": pupil.last_run_at,
        "last_error": pupil.last_error,
    }


def cmd_track_list(args: argparse.Namespace) -> None:
    ctx = common.Context(args)
    with ctx.db() as session:
        user = ctx.user(session)
        names = {login.id: login.name for login in accounts.list_logins(session, user)}
        rows = [_track_dict(p, names) for p in versions.list_tracked(session, user)]
    common.emit(args, rows, TRACK_COLUMNS)


def cmd_track_remove(args: argparse.Namespace) -> None:
    ctx = common.Context(args)
    with ctx.db() as session:
        pupil = versions.get_tracked(session, ctx.user(session), args.student_id)
        session.delete(pupil)
    print(f"pupil {args.student_id} is no longer tracked (the versions stay)")


def _set_paused(args: argparse.Namespace, paused: bool) -> None:
    ctx = common.Context(args)
    with ctx.db() as session:
        versions.get_tracked(session, ctx.user(session), args.student_id).paused = paused
    print(f"pupil {args.student_id} {'paused' if paused else 'resumed'}")


def cmd_track_pause(args: argparse.Namespace) -> None:
    _set_paused(args, True)


def cmd_track_resume(args: argparse.Namespace) -> None:
    _set_paused(args, False)


async def cmd_track_run(args: argparse.Namespace) -> int | None:
    from temporalio.api.enums.v1 import TaskQueueType

    from yourmoment.messages import QUEUE_MAINTENANCE
    from yourmoment.schedules_apply import start_backup
    from yourmoment.temporal_checks import poller_count

    ctx = common.Context(args)
    with ctx.db() as session:
        user = ctx.user(session)
        student_ids = (
            [versions.get_tracked(session, user, args.student_id).student_id] if args.student_id else []
        )
        if not student_ids and not versions.list_tracked(session, user):
            raise ValidationError(["you track no pupil; see 'starter.py track add --help'"])
        user_id = user.id
    client = await common.require_client(ctx.settings)
    queue = ctx.settings.task_queue(QUEUE_MAINTENANCE)
    unserved = not await poller_count(client, queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
    hint = f"no worker polls {queue}: the backup waits until one runs ('python worker.py')"
    if unserved and args.wait:
        return common.fail(f"{hint}; nothing started", code=1)
    handle = await start_backup(client, ctx.settings, user_id, student_ids, uuid.uuid4().hex[:12])
    if unserved:
        print(f"note: {hint}", file=sys.stderr)
    if not args.wait:
        data: dict[str, Any] = {"workflow_id": handle.id, "started": True}
        if args.json:
            common.print_json(data)
        else:
            print(f"backup started (workflow {handle.id}); 'starter.py track list' shows how it went")
        return None
    result = await handle.result()
    if args.json:
        common.print_json({"workflow_id": handle.id, **result.counts})
        return None
    print(", ".join(f"{key.replace('_', ' ')} {value}" for key, value in result.counts.items()))
    return None


# --- versions --------------------------------------------------------------------------------------


def _register_versions(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = common.command_group(sub, "versions", "the stored versions of tracked and commented articles")
    listing = common.add_command(
        group,
        "list",
        "versions, oldest first per article",
        cmd_versions_list,
        examples=["starter.py versions list --pupil 2417", "starter.py versions list --article 4501 --json"],
    )
    listing.add_argument("--pupil", metavar="ID", help="only this pupil's (myMoment student id)")
    listing.add_argument("--article", metavar="ID", help="only this article's (myMoment article id)")
    show = common.add_command(
        group,
        "show",
        "one version with its text",
        cmd_versions_show,
        examples=["starter.py versions show 12"],
    )
    show.add_argument("version_id", metavar="VERSION_ID", type=common.number(1, 2**31 - 1, whole=True))
    diff = common.add_command(
        group,
        "diff",
        "what changed in an article's text, word by word: [-removed-] {+added+}",
        cmd_versions_diff,
        examples=["starter.py versions diff 4501", "starter.py versions diff 4501 1 3"],
    )
    diff.add_argument("article_id", metavar="ARTICLE_ID")
    diff.add_argument(
        "numbers",
        metavar="A B",
        nargs="*",
        type=common.number(1, 2**31 - 1, whole=True),
        help="the version numbers to compare (default: the last two)",
    )


def _version_dict(version: ArticleVersion, with_text: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": version.id,
        "article": version.mymoment_article_id,
        "number": version.number,
        "pupil": version.student_id,
        "author": version.author,
        "title": version.title,
        "status": version.status,
        "site_modified": version.site_modified,
        "chars": version.chars,
        "words": version.words,
        "sha256": version.content_hash,
        "source": version.source,
        "item_id": version.item_id,
        "fetched_at": version.fetched_at,
    }
    if with_text:
        data["content"] = version.content
    return data


def _article_id(text: str | None, label: str) -> str | None:
    if text is not None and not (text.isdigit() and len(text) <= 32):
        raise ValidationError([f"{label} must be a myMoment id (digits), not {text!r}"])
    return text


def cmd_versions_list(args: argparse.Namespace) -> None:
    ctx = common.Context(args)
    pupil = _article_id(args.pupil, "--pupil")
    article = _article_id(args.article, "--article")
    with ctx.db() as session:
        rows = [_version_dict(v) for v in versions.list_versions(session, ctx.user(session), pupil, article)]
    common.emit(args, rows, VERSION_COLUMNS)


def cmd_versions_show(args: argparse.Namespace) -> None:
    ctx = common.Context(args)
    with ctx.db() as session:
        data = _version_dict(versions.get_version(session, ctx.user(session), int(args.version_id)), True)
    if args.json:
        common.print_json(data)
        return
    text = data.pop("content")
    common.emit(args, data)
    print()
    print(text if text is not None else "(the text was removed after RETENTION_DAYS)")


def cmd_versions_diff(args: argparse.Namespace) -> None:
    ctx = common.Context(args)
    article = _article_id(args.article_id, "ARTICLE_ID")
    assert article is not None
    if len(args.numbers) not in (0, 2):
        raise ValidationError(["give two version numbers A B, or none for the last two"])
    with ctx.db() as session:
        user = ctx.user(session)
        if args.numbers:
            old, new = (versions.version_by_number(session, user, article, int(n)) for n in args.numbers)
        else:
            stored = versions.list_versions(session, user, article_id=article)
            if len(stored) < 2:
                raise ValidationError([f"article {article} has {len(stored)} version(s); a diff needs two"])
            old, new = stored[-2], stored[-1]
        if old.content is None or new.content is None:
            raise ValidationError(["a version's text was removed after RETENTION_DAYS; nothing to compare"])
        parts = word_diff(old.content, new.content)
        figures = revision(old.content, new.content)
        header = {"article": article, "from": old.number, "to": new.number}
    if args.json:
        common.print_json({**header, **figures.model_dump(), "diff": [p.model_dump() for p in parts]})
        return
    print(
        f"article {article}: version {header['from']} → {header['to']}: "
        f"{figures.words_added} words added, {figures.words_removed} removed, "
        f"edit distance {figures.edit_distance} words"
    )
    print(render_diff(parts) if figures.changed else "(the same words)")
