"""Research commands: `export` (one row per work item, CSV or JSON Lines) and `report` (a process in figures)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.orm import Session

from yourmoment.cli.common import Context, add_command, print_json
from yourmoment.errors import ValidationError
from yourmoment.files import not_regular
from yourmoment.research.export import (
    COLUMNS,
    FORMATS,
    VERSION_COLUMNS,
    ExportOptions,
    ExportStats,
    Pseudonyms,
    count_rows,
    export_rows,
    version_rows,
    write_rows,
)
from yourmoment.research.report import UNKNOWN, process_report
from yourmoment.store import processes
from yourmoment.store.models import MonitoringProcess

PROGRESS_EVERY = 500  # rows between progress lines on a terminal


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub,
        "export",
        "one row per work item of the processes, for analysis (CSV or JSON Lines); authors "
        "pseudonymised and article texts left out unless asked for",
        cmd_export,
        examples=[
            'starter.py export "Klasse 82" --out study.csv',
            "starter.py export --versions --format jsonl --out versions.jsonl",
        ],
    )
    p.add_argument(
        "processes",
        nargs="*",
        metavar="PROCESS",
        help="process id, id prefix or name (with --versions: only the articles they commented on)",
    )
    p.add_argument(
        "--versions",
        action="store_true",
        help="one row per stored article version instead (docs/versions.md), with what changed",
    )
    p.add_argument("--format", choices=FORMATS, default="csv", help="csv (default) or jsonl")
    p.add_argument(
        "--out", type=Path, metavar="FILE", help="write here (readable by you only); default stdout"
    )
    p.add_argument(
        "--with-article-text",
        action="store_true",
        help="include the pupils' article texts (never for items older than RETENTION_DAYS)",
    )
    p.add_argument(
        "--with-authors",
        action="store_true",
        help="real author names instead of pseudonyms (never for items older than RETENTION_DAYS)",
    )

    p = add_command(
        sub,
        "report",
        "a process in figures: items by status, gate acceptance, time to generation and posting, "
        "tokens and estimated cost per provider, requests to myMoment",
        cmd_report,
    )
    p.add_argument("process", metavar="PROCESS", help="process id, id prefix or name")


# --- export -------------------------------------------------------------------------------------------


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def _check_out(path: Path | None, json_summary: bool) -> None:
    """Every problem with the destination before a single row is read, so a mistake writes nothing."""
    if path is None:
        if json_summary:
            raise ValidationError(
                ["--json prints a summary and needs --out FILE (without it stdout is the export)"]
            )
        return
    _refuse_unless_regular(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ValidationError([f"--out {path}: the directory {parent} does not exist"])
    if not os.access(parent, os.W_OK):
        raise ValidationError([f"--out {path}: the directory {parent} is not writable"])


def _resolve(ctx: Context, session: Session, refs: list[str]) -> list[MonitoringProcess]:
    user = ctx.user(session)
    found: dict[str, MonitoringProcess] = {}
    for ref in refs:
        process = processes.get_process(session, user, ref)
        found.setdefault(process.id, process)  # a process named twice is exported once
    return list(found.values())


def _progress(total: int) -> Any:
    """Progress on stderr, only on a terminal and only for exports that take a while."""
    if not sys.stderr.isatty() or total < 2 * PROGRESS_EVERY:
        return None

    def show(done: int) -> None:
        if done % PROGRESS_EVERY == 0 or done == total:
            end = "\n" if done == total else ""
            print(f"\rexported {done} of {total} rows", end=end, file=sys.stderr, flush=True)

    return show


def cmd_export(args: argparse.Namespace) -> int:
    ctx = Context(args)
    if args.out == Path("-"):  # the usual spelling of stdout
        args.out = None
    _check_out(args.out, args.json)
    options = ExportOptions(
        with_article_text=args.with_article_text,
        with_authors=args.with_authors,
        retention_days=ctx.settings.retention_days,
    )
    if not args.processes and not args.versions:
        raise ValidationError(["name at least one PROCESS (or export --versions)"])
    stats = ExportStats()
    columns = VERSION_COLUMNS if args.versions else COLUMNS
    with ctx.db() as session:
        chosen = _resolve(ctx, session, args.processes)
        names = [p.name for p in chosen]
        if args.versions:
            ids = [p.id for p in chosen] if chosen else None
            rows = version_rows(session, ctx.user(session).id, ids, options, Pseudonyms(), stats)
            progress = None
        else:
            progress = _progress(count_rows(session, [p.id for p in chosen]))
            rows = export_rows(session, chosen, options, Pseudonyms(), stats)
        if args.out is None:
            write_rows(rows, args.format, sys.stdout, progress, columns)
        else:
            _write_file(args.out, lambda out: write_rows(rows, args.format, out, progress, columns))
    if stats.withheld_past_retention:
        _note(
            f"{stats.withheld_past_retention} of {stats.rows} rows are older than RETENTION_DAYS "
            f"({options.retention_days} days): their article text and author name are left out "
            "(the author pseudonymised) whatever the flags"
        )
    summary = {
        "rows": stats.rows,
        "processes": names,
        "format": args.format,
        "out": str(args.out) if args.out else None,
        "columns": list(columns),
        "article_text": options.with_article_text,
        "authors": "names" if options.with_authors else "pseudonyms",
        "withheld_past_retention": stats.withheld_past_retention,
    }
    if args.json:
        print_json(summary)
    elif args.out is not None:
        what = "versions" if args.versions else f"rows of {len(names)} process(es)"
        print(f"exported {stats.rows} {what} to {args.out} ({args.format})")
    return 0


def _refuse_unless_regular(path: Path) -> None:
    """The rename replaces regular files only: never a device (as root, /dev/full itself), a FIFO, a
    symbolic link (the link would go, not its target) or a directory."""
    if kind := not_regular(path):
        raise ValidationError([f"--out {path} is {kind}, not a regular file; nothing written"])


def _write_file(path: Path, write: Any) -> None:
    """Into a temporary file beside the target (mode 0600: it may hold pupils' texts), then renamed:
    a failed export leaves no half-written file behind. The target is checked again right before the
    rename: something may have appeared there while the rows were written."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:  # an unwritable or missing folder, a read-only or full file system
        raise ValidationError(
            [f"cannot write {path}: {exc.strerror or type(exc).__name__}; nothing written"]
        ) from None
    try:
        out: TextIO
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            write(out)
        _refuse_unless_regular(path)
        os.replace(temp_name, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(exc, OSError):
            raise ValidationError(
                [f"cannot write {path}: {exc.strerror or type(exc).__name__}; nothing written"]
            ) from None
        raise


# --- report -------------------------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    ctx = Context(args)
    with ctx.db() as session:
        process = processes.get_process(session, ctx.user(session), args.process)
        data = process_report(session, process)
    if args.json:
        print_json(data)
    else:
        for line in report_lines(data):
            print(line)
    return 0


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f} %"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _cost(value: float | str) -> str:
    return value if value == UNKNOWN else f"{value:.4f}"


def report_lines(data: dict[str, Any]) -> list[str]:
    by_status = data["items"]["by_status"]
    gate, timing, mm = data["gate"], data["timing"], data["mymoment"]
    lines = [
        f"process: {data['name']} ({data['process_id']}), {data['status']}",
        f"items: {data['items']['total']} ("
        + ", ".join(f"{status} {n}" for status, n in by_status.items() if n)
        + ")",
        f"gate: {gate['accepted']} of {gate['answers']} answers accepted ({_percent(gate['acceptance_rate'])}); "
        f"first answer accepted for {gate['first_try_accepted']} of {gate['items_with_answers']} items "
        f"({_percent(gate['first_try_rate'])})",
    ]
    if gate["rejections_by_check"]:
        lines.append(
            "rejected for: " + ", ".join(f"{check} {n}" for check, n in gate["rejections_by_check"].items())
        )
    for key, label in (("discovery_to_generation", "generation"), ("discovery_to_posting", "posting")):
        t = timing[key]
        lines.append(
            f"discovery to {label}: p50 {_seconds(t['p50_seconds'])}, p95 {_seconds(t['p95_seconds'])} "
            f"({t['count']} items)"
        )
    for p in data["providers"]:
        models = ", ".join(p["models"]) or "-"
        lines.append(
            f"provider {p['provider'] or '(deleted)'} ({p['kind'] or '-'}, {models}): {p['answers']} answers, "
            f"{p['prompt_tokens']} prompt + {p['completion_tokens']} completion tokens, "
            f"estimated cost {_cost(p['cost'])}"
        )
    lines.append(f"estimated cost: {_cost(data['cost_total'])}")
    per_post = mm["requests_per_posted_comment"]
    lines.append(
        f"myMoment requests: {mm['requests']}"
        + (f" ({per_post:.1f} per posted comment)" if per_post is not None else "")
    )
    follow = data["follow_ups"]
    for label in follow["intervals"]:
        f = follow["overall"][label]
        line = (
            f"revised within {label} of the comment: {f['revised']} of {f['read']} ({_percent(f['share'])})"
        )
        templates = [
            f"{t['template'] or '(deleted)'} {t[label]['revised']}/{t[label]['read']}"
            for t in follow["by_template"]
        ]
        if f["skipped"]:
            line += f", {f['skipped']} reads skipped"
        lines.append(line + (f"; by template: {', '.join(templates)}" if templates else ""))
    return lines
