"""Temporal cost: history events and payload bytes per article (article workflows + share of the monitor).

`python -m bench.temporal_cost [--articles 5] [--json-out FILE]`

One login, N articles, posting on, instant LLM; after every comment is posted the process is stopped and
each workflow's history is read. Payloads are measured as the worker writes them (no payload codec).
"""

from __future__ import annotations

from typing import Any

from bench.harness import BenchHarness, Politeness
from bench.history import HistoryFigures, fetch, totals
from bench.output import Option, log, run_benchmark
from yourmoment.messages import workflow_id_for_item, workflow_id_for_process
from yourmoment.store import items
from yourmoment.store.db import session_scope
from yourmoment_dev.harness import wait_until

CLASS_ID = 82
LOGIN = "pupil-1"
CHILD_EVENTS = (
    "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
    "CHILD_WORKFLOW_EXECUTION_STARTED",
    "CHILD_WORKFLOW_EXECUTION_COMPLETED",
)
OPTIONS = (Option("--articles", int, 5),)


def article_workflow_ids(h: BenchHarness, process_id: str) -> list[str]:
    with session_scope(h.database_url) as session:
        rows = items.list_items(session, process_id)
        return [
            workflow_id_for_item(process_id, r.login_id, r.mymoment_article_id, r.prompt_slot) for r in rows
        ]


def mean(values: list[int]) -> float:
    return round(sum(values) / len(values), 1) if values else 0.0


async def temporal_cost(h: BenchHarness, articles: int) -> dict[str, Any]:
    h.add_logins([LOGIN], CLASS_ID)
    ids = h.add_articles(articles, CLASS_ID)
    process_id = h.create_process(logins=[LOGIN], tab=str(CLASS_ID))
    h.start_worker()
    await h.start_direct(process_id)
    await wait_until(lambda: h.counts(process_id)["posted"] >= len(ids), 300, f"{len(ids)} posted", every=0.2)
    await h.stop_process(process_id)
    log(f"{articles} comments posted, process stopped; reading histories")
    article_ids = article_workflow_ids(h, process_id)
    assert h.client is not None  # a harness from Harness.started
    per_article = await fetch(h.client, article_ids)
    monitor = (await fetch(h.client, [workflow_id_for_process(process_id)]))[0]
    return report(articles, per_article, monitor, h.politeness)


def report(
    articles: int, per_article: list[HistoryFigures], monitor: HistoryFigures, p: Politeness
) -> dict[str, Any]:
    child_events = sum(monitor.by_type[name] for name in CHILD_EVENTS)
    share_events = monitor.events / articles
    share_payload = monitor.payload_bytes / articles
    article_events = mean([f.events for f in per_article])
    article_payload = mean([f.payload_bytes for f in per_article])
    return {
        "benchmark": "temporal_cost",
        "command": f"python -m bench.temporal_cost --articles {articles}",
        "parameters": {"articles": articles, "logins": 1, "payload_codec": False, **p.as_dict()},
        "article_workflow": {
            "events_mean": article_events,
            "history_bytes_mean": mean([f.history_bytes for f in per_article]),
            "payload_bytes_mean": article_payload,
            "events_by_type_total": totals(per_article)["events_by_type"],
        },
        "monitoring_workflow": {
            "events": monitor.events,
            "history_bytes": monitor.history_bytes,
            "payload_bytes": monitor.payload_bytes,
            "child_workflow_events": child_events,
            "events_by_type": dict(sorted(monitor.by_type.items())),
            "share_per_article_events": round(share_events, 1),
            "share_per_article_payload_bytes": round(share_payload),
        },
        "per_article": {
            "events": round(article_events + share_events, 1),
            "payload_bytes": round(article_payload + share_payload),
            "history_bytes": round(
                mean([f.history_bytes for f in per_article]) + monitor.history_bytes / articles
            ),
            "note": "article workflow + the monitoring run's events divided by the articles it handled "
            "(that share includes the run's fixed start, discovery and stop events)",
        },
    }


if __name__ == "__main__":
    run_benchmark("bench.temporal_cost", __doc__, OPTIONS, temporal_cost)
