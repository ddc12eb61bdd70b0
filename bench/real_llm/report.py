"""What one lane run yields: per item first try / regenerated / failed with reasons, timings, junk, and the table."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench.real_llm.articles import ARTICLES, LaneArticle
from bench.real_llm.junk import answer_text, junk_reasons, plain_paragraphs, words

# An item that failed because the server was flooded or slow, not because of what the model wrote.
OVERLOAD = re.compile(
    r"no answer within|timed? ?out|timeout|context size|context length|exceed|slot|overload|busy|"
    r"connection failed|HTTP 5\d\d|HTTP 429|rate limit|unavailable",
    re.IGNORECASE,
)
MATCH_WORDS = 8  # the first words of a stored comment that identify the answer it came from
SETTLED = ("generated", "failed", "skipped", "posted")


def is_overload(error: str | None) -> bool:
    return bool(error) and bool(OVERLOAD.search(error or ""))


def source_answer(comment_html: str, records: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The recorded answer a stored comment was made from: the last one containing its first words."""
    body = words(" ".join(plain_paragraphs(comment_html)))[:MATCH_WORDS]
    if not body:
        return None
    needle = " " + " ".join(body) + " "
    found = [
        r
        for r in records
        if r.get("content") and needle in " " + " ".join(words(answer_text(r["content"]))) + " "
    ]
    return found[-1] if found else None


def reason_code(reason: Any) -> str:
    """A gate reason as counted in the report: its check's name (a plain string from older versions)."""
    if isinstance(reason, dict):
        return str(reason.get("check") or reason.get("message") or reason)
    return str(reason)


def reason_text(reason: Any) -> str:
    if isinstance(reason, dict) and reason.get("message"):
        return f"{reason.get('check')}: {reason['message']}"
    return reason_code(reason)


def _rejections(attempts: list[dict[str, Any]]) -> list[Any]:
    return [reason for a in attempts if not a.get("accepted") for reason in a.get("reasons") or []]


def analyse_item(row: dict[str, Any], records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One work item of `comments --json`: its outcome, its regeneration reasons and any junk in it."""
    article: LaneArticle | None = next((a for a in ARTICLES if a.title == row.get("title")), None)
    attempts = row.get("generation_attempts")
    item: dict[str, Any] = {
        "id": row["id"],
        "title": row.get("title"),
        "status": row["status"],
        "error": row.get("error"),
        "attempts": len(attempts) if attempts is not None else None,
    }
    if attempts is not None:
        item["reasons"] = [reason_code(r) for r in _rejections(attempts)]
        item["reason_texts"] = [reason_text(r) for r in _rejections(attempts)]
        item["attempt_seconds"] = [a["ms"] / 1000 for a in attempts if isinstance(a.get("ms"), int | float)]
    html = row.get("comment_html")
    if row["status"] in ("generated", "posted") and html:
        source = source_answer(
            html, [r for r in records if r.get("article_title") == item["title"]] or records
        )
        if attempts is not None:
            item["regenerated"] = len(attempts) > 1
        else:  # before generation_attempts: whether the stored answer was a second request
            item["regenerated"] = source["regeneration"] if source else None
        item["source_finish_reason"] = source.get("finish_reason") if source else None
        item["junk"] = junk_reasons(html, article.content if article else None, item["source_finish_reason"])
        item["comment_text"] = " / ".join(plain_paragraphs(html))[:600]
    elif row["status"] == "failed":
        item["overload"] = is_overload(row.get("error"))
    return item


def _stats(values: list[float]) -> dict[str, float | int | None]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 2)

    ordered = sorted(values)
    return {
        "n": len(values),
        "mean": r(statistics.fmean(values)) if values else None,
        "median": r(statistics.median(values)) if values else None,
        "p95": r(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]) if values else None,
        "max": r(ordered[-1]) if values else None,
    }


def request_summary(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    answered = [r for r in records if r.get("status") == 200]
    return {
        "total": len(records),
        "answered": len(answered),
        "client_gave_up": sum(bool(r.get("client_gone")) for r in records),
        "errors_by_status": dict(
            Counter(str(r["status"]) for r in records if r.get("status") not in (200, None))
        ),
        "error_texts": dict(
            Counter((r.get("error") or "")[:120] for r in records if r.get("status") not in (200, None))
        ),
        "regeneration_requests": sum(bool(r.get("regeneration")) for r in records),
        "finish_reasons": dict(Counter(str(r.get("finish_reason")) for r in answered)),
        "completion_tokens": _stats(
            [float(r["completion_tokens"]) for r in answered if r.get("completion_tokens")]
        ),
    }


def summarise_run(
    mode: str, rows: list[dict[str, Any]], records: list[dict[str, Any]], expected: int, wall_s: float
) -> dict[str, Any]:
    """The figures of one run (one mode) from `comments --json` rows and the proxy's records."""
    items = [analyse_item(row, records) for row in rows]
    done = [i for i in items if i["status"] in ("generated", "posted")]
    failed = [i for i in items if i["status"] == "failed"]
    regeneration_reasons: Counter[str] = Counter()
    for i in done:
        if i.get("regenerated"):
            regeneration_reasons.update(i.get("reasons") or ["(reasons not recorded by this version)"])
    failure_reasons = Counter((i.get("error") or "?")[:160] for i in failed)
    # The checks that rejected the answers of items that failed in the end (with generation_attempts).
    failure_checks = Counter(code for i in failed for code in i.get("reasons") or [])
    answered = [r for r in records if r.get("status") == 200]
    return {
        "mode": mode,
        "items": len(items),
        "expected_items": expected,
        "unsettled": sum(i["status"] not in SETTLED for i in items) + max(0, expected - len(items)),
        "generated": len(done),
        "first_try": sum(i.get("regenerated") is False for i in done),
        "regenerated": sum(bool(i.get("regenerated")) for i in done),
        "regenerated_unknown": sum(i.get("regenerated") is None for i in done),
        "regeneration_reasons": dict(regeneration_reasons),
        "failed": len(failed),
        "failure_reasons": dict(failure_reasons),
        "failure_checks": dict(failure_checks),
        "failed_overload_or_timeout": sum(bool(i.get("overload")) for i in failed),
        "failed_rejected_by_gate": sum(not i.get("overload") for i in failed),
        "junk_stored": sum(bool(i.get("junk")) for i in done),
        "junk": [{"id": i["id"], "title": i["title"], "reasons": i["junk"]} for i in done if i.get("junk")],
        "attempts_source": "generation_attempts"
        if any(r.get("generation_attempts") is not None for r in rows)
        else "recording (comments --json has no generation_attempts)",
        # Per answered request, as the proxy saw it (includes waiting for a server slot).
        "seconds_per_generation": _stats([r["elapsed_s"] for r in answered]),
        # Per attempt, as the project recorded it (generation_attempts only).
        "seconds_per_attempt_recorded": _stats([t for i in items for t in i.get("attempt_seconds") or []]),
        "requests": request_summary(records),
        "wall_s": round(wall_s, 1),
        "item_details": items,
    }


def run_failed(run: dict[str, Any]) -> list[str]:
    """Why a run breaks the issue's "done when"; empty when it holds."""
    if run.get("skipped"):
        return []
    if run.get("error"):
        return [f"{run['mode']}: {run['error']}"]
    problems = []
    if run["failed_overload_or_timeout"]:
        problems.append(
            f"{run['mode']}: {run['failed_overload_or_timeout']} item(s) failed for overload/timeout"
        )
    if run["junk_stored"]:
        problems.append(f"{run['mode']}: {run['junk_stored']} stored comment(s) show junk")
    if run["unsettled"] or run.get("timed_out"):
        gave_up = run["requests"]["client_gave_up"]
        problems.append(
            f"{run['mode']}: {run['unsettled']} item(s) not settled in time ({gave_up} requests timed out)"
        )
    return problems


COLUMNS = (
    "mode",
    "items",
    "first try",
    "regen.",
    "failed",
    "open",
    "overload",
    "junk",
    "s/gen mean",
    "median",
    "wall s",
)


def table(runs: Sequence[dict[str, Any]]) -> str:
    """The report: one row per run, then each run's reasons."""
    rows: list[tuple[str, ...]] = [COLUMNS]
    notes: list[str] = []
    for run in runs:
        if "items" not in run:  # skipped, or broke before it had items
            rows.append((run["mode"], *["-"] * (len(COLUMNS) - 1)))
            notes.append(
                f"{run['mode']}: {'skipped: ' + run['skipped'] if run.get('skipped') else run['error']}"
            )
            continue
        s = run["seconds_per_generation"]
        regen = str(run["regenerated"]) + (
            f" (+{run['regenerated_unknown']}?)" if run["regenerated_unknown"] else ""
        )
        rows.append(
            (
                run["mode"],
                str(run["items"]),
                str(run["first_try"]),
                regen,
                str(run["failed"]),
                str(run["unsettled"]),
                str(run["failed_overload_or_timeout"]),
                str(run["junk_stored"]),
                str(s["mean"]),
                str(s["median"]),
                str(run["wall_s"]),
            )
        )
        notes += _reason_lines(run)
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join([*lines, "", *notes])


def _reason_lines(run: dict[str, Any]) -> list[str]:
    lines = [
        f"{run['mode']}: requests {run['requests']['total']} ({run['requests']['regeneration_requests']} "
        f"regenerations, {run['requests']['client_gave_up']} given up by the client), finish reasons "
        f"{run['requests']['finish_reasons']}; attempts from {run['attempts_source']}"
    ]
    for title, counts in (
        ("regenerated because", run["regeneration_reasons"]),
        ("failed", run["failure_reasons"]),
    ):
        for reason, n in sorted(counts.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {title}: {n} x {reason}")
    for junk in run["junk"]:
        lines.append(f"  JUNK stored ({junk['title']}): {'; '.join(junk['reasons'])}")
    return lines
