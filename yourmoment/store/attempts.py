"""Generation attempts: one row per answer a model gave for a work item, with the quality gate's reasons."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yourmoment.store.models import GenerationAttempt


def record(
    session: Session,
    item_id: str,
    *,
    accepted: bool,
    reasons: list[dict[str, str]],
    finish_reason: str | None,
    model_name: str | None,
    prompt_template_id: str | None,
    prompt_tokens: int,
    completion_tokens: int,
    generation_ms: int,
) -> int:
    """Adds the item's next attempt (numbers go on across activity retries) and returns its number."""
    last = session.scalar(
        select(func.max(GenerationAttempt.number)).where(GenerationAttempt.item_id == item_id)
    )
    number = (last or 0) + 1
    session.add(
        GenerationAttempt(
            item_id=item_id,
            number=number,
            accepted=accepted,
            reasons=json.dumps(reasons, ensure_ascii=False),
            finish_reason=(finish_reason or None) and finish_reason[:32],
            model_name=model_name,
            prompt_template_id=prompt_template_id,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            generation_ms=generation_ms,
        )
    )
    return number


def count(session: Session, item_id: str) -> int:
    return session.scalar(select(func.count()).where(GenerationAttempt.item_id == item_id)) or 0


def for_items(session: Session, item_ids: Collection[str]) -> dict[str, list[dict[str, Any]]]:
    """Every item's attempts in order, as plain dicts (`comments --json`)."""
    found: dict[str, list[dict[str, Any]]] = {item_id: [] for item_id in item_ids}
    if not found:
        return found
    query = (
        select(GenerationAttempt)
        .where(GenerationAttempt.item_id.in_(list(found)))
        .order_by(GenerationAttempt.item_id, GenerationAttempt.number)
    )
    for row in session.scalars(query):
        reasons = json.loads(row.reasons or "[]")
        found[row.item_id].append(
            {
                "number": row.number,
                "accepted": row.accepted,
                "checks": [r.get("check") for r in reasons],
                "reasons": reasons,
                "finish_reason": row.finish_reason,
                "model": row.model_name,
                "tokens": row.prompt_tokens + row.completion_tokens,
                "prompt_tokens": row.prompt_tokens,
                "completion_tokens": row.completion_tokens,
                "ms": row.generation_ms,
                "created_at": row.created_at,
            }
        )
    return found
