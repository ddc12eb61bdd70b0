"""`report`: one process in figures: items by status, the gate's acceptance, timings, tokens and cost, requests."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yourmoment.settings import parse_durations
from yourmoment.statuses import CommentStatus
from yourmoment.store import items
from yourmoment.store.models import (
    AIComment,
    FollowUp,
    GenerationAttempt,
    LLMProvider,
    MonitoringProcess,
    PromptTemplate,
)

UNKNOWN = "unknown"  # a cost whose provider has no price (see `provider set --price-prompt`)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _durations(pairs: Sequence[tuple[datetime, datetime | None]]) -> dict[str, Any]:
    seconds = [(end - start).total_seconds() for start, end in pairs if end is not None]
    return {
        "count": len(seconds),
        "p50_seconds": _round(percentile(seconds, 50)),
        "p95_seconds": _round(percentile(seconds, 95)),
    }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class _ProviderUse:
    provider_id: str | None
    answers: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    models: set[str] = field(default_factory=set)


def estimated_cost(
    prompt_tokens: int, completion_tokens: int, price_prompt: float | None, price_completion: float | None
) -> float | str:
    """Prices are per million tokens; without both prices the cost is unknown (none is guessed)."""
    if not prompt_tokens and not completion_tokens:
        return 0.0
    if price_prompt is None or price_completion is None:
        return UNKNOWN
    return round(prompt_tokens / 1e6 * price_prompt + completion_tokens / 1e6 * price_completion, 6)


def process_report(session: Session, process: MonitoringProcess) -> dict[str, Any]:
    """Every figure from the database, over all runs of the process."""
    by_status = items.counts(session, process.id).model_dump()
    item_rows = session.execute(
        select(
            AIComment.id,
            AIComment.llm_provider_id,
            AIComment.created_at,
            AIComment.generated_at,
            AIComment.posted_at,
        ).where(AIComment.process_id == process.id)
    ).all()
    provider_of_item = {row.id: row.llm_provider_id or process.llm_provider_id for row in item_rows}
    attempts = session.execute(
        select(
            GenerationAttempt.item_id,
            GenerationAttempt.number,
            GenerationAttempt.accepted,
            GenerationAttempt.reasons,
            GenerationAttempt.model_name,
            GenerationAttempt.prompt_tokens,
            GenerationAttempt.completion_tokens,
        )
        .join(AIComment, AIComment.id == GenerationAttempt.item_id)
        .where(AIComment.process_id == process.id)
    ).all()

    accepted = sum(1 for a in attempts if a.accepted)
    first_tries = [a for a in attempts if a.number == 1]
    first_accepted = sum(1 for a in first_tries if a.accepted)
    rejections: Counter[str] = Counter()
    use: dict[str | None, _ProviderUse] = {}
    for a in attempts:
        if not a.accepted:
            rejections.update({str(r.get("check")) for r in json.loads(a.reasons or "[]")})
        provider_id = provider_of_item.get(a.item_id)
        entry = use.setdefault(provider_id, _ProviderUse(provider_id))
        entry.answers += 1
        entry.prompt_tokens += a.prompt_tokens
        entry.completion_tokens += a.completion_tokens
        if a.model_name:
            entry.models.add(a.model_name)

    providers = _provider_lines(session, list(use.values()))
    costs = [p["cost"] for p in providers]
    posted = by_status[CommentStatus.POSTED]
    requests = process.mymoment_requests or 0
    return {
        "process_id": process.id,
        "name": process.name,
        "status": process.status,
        "items": {"total": len(item_rows), "by_status": by_status},
        "gate": {
            "answers": len(attempts),
            "accepted": accepted,
            "rejected": len(attempts) - accepted,
            "acceptance_rate": _round(accepted / len(attempts), 4) if attempts else None,
            "items_with_answers": len(first_tries),
            "first_try_accepted": first_accepted,
            "first_try_rate": _round(first_accepted / len(first_tries), 4) if first_tries else None,
            "rejections_by_check": dict(sorted(rejections.items())),
        },
        "timing": {
            "discovery_to_generation": _durations([(r.created_at, r.generated_at) for r in item_rows]),
            "discovery_to_posting": _durations([(r.created_at, r.posted_at) for r in item_rows]),
        },
        "providers": providers,
        "cost_total": UNKNOWN if UNKNOWN in costs else round(sum(float(c) for c in costs), 6),
        "mymoment": {
            "requests": requests,
            "posted": posted,
            "requests_per_posted_comment": _round(requests / posted, 2) if posted else None,
        },
        "follow_ups": follow_up_report(session, process),
    }


def interval_order(labels: set[str]) -> list[str]:
    """FOLLOW_UP_AFTER labels, shortest first."""
    return [label for label, _ in parse_durations(",".join(sorted(labels)))] if labels else []


def _shares(rows: Sequence[Any], intervals: list[str]) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    for label in intervals:
        of_label = [r for r in rows if r.interval == label]
        read = [r for r in of_label if r.outcome == "read" and r.changed is not None]
        revised = sum(1 for r in read if r.changed)
        figures[label] = {
            "read": len(read),
            "revised": revised,
            "share": _round(revised / len(read), 4) if read else None,
            "skipped": sum(1 for r in of_label if r.outcome == "skipped"),
        }
    return figures


def follow_up_report(session: Session, process: MonitoringProcess) -> dict[str, Any]:
    """Per FOLLOW_UP_AFTER interval: the commented articles read again, how many the pupil had revised
    since the comment (their share), how many reads were skipped; overall and per prompt template."""
    rows = session.execute(
        select(FollowUp.interval, FollowUp.outcome, FollowUp.changed, AIComment.prompt_template_id)
        .join(AIComment, AIComment.id == FollowUp.item_id)
        .where(AIComment.process_id == process.id)
    ).all()
    intervals = interval_order({r.interval for r in rows})
    names = dict(session.execute(select(PromptTemplate.id, PromptTemplate.name)).all())
    by_template = []
    for template_id in sorted({r.prompt_template_id or "" for r in rows}):
        chosen = [r for r in rows if (r.prompt_template_id or "") == template_id]
        by_template.append({"template": names.get(template_id), **_shares(chosen, intervals)})
    return {"intervals": intervals, "overall": _shares(rows, intervals), "by_template": by_template}


def _provider_lines(session: Session, uses: list[_ProviderUse]) -> list[dict[str, Any]]:
    ids = [u.provider_id for u in uses if u.provider_id]
    rows = {p.id: p for p in session.scalars(select(LLMProvider).where(LLMProvider.id.in_(ids)))}
    lines = []
    for u in uses:
        row = rows.get(u.provider_id or "")
        price_prompt = row.price_prompt_per_million if row else None
        price_completion = row.price_completion_per_million if row else None
        lines.append(
            {
                "provider": row.name if row else None,
                "kind": row.provider if row else None,
                "models": sorted(u.models),
                "answers": u.answers,
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "price_prompt_per_million": price_prompt,
                "price_completion_per_million": price_completion,
                "cost": estimated_cost(u.prompt_tokens, u.completion_tokens, price_prompt, price_completion),
            }
        )
    return sorted(lines, key=lambda line: str(line["provider"]))
