"""Values scraped from myMoment are bounded before the database, alike on SQLite and PostgreSQL, and
an article that cannot be stored is left out visibly while the others are discovered and commented."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from imitation.mymoment import templates as imitation_pages
from tests.support import start_monitoring
from yourmoment import processes_client
from yourmoment.mymoment import parsers
from yourmoment.store import items
from yourmoment.store.db import session_scope
from yourmoment.store.limits import max_length
from yourmoment.store.models import AIComment
from yourmoment_dev.harness import Harness, add_articles, fast_settings, running_worker, wait_until

BASE = "https://www.mymoment.ch"
LOGOUT_FORM = '<form action="/accounts/logout/" method="post"></form>'
AUTHOR_LIMIT = max_length(AIComment.article_author)
CATEGORY_LIMIT = max_length(AIComment.article_category)
TASK_LIMIT = max_length(AIComment.article_task)
ID_LIMIT = max_length(AIComment.mymoment_article_id)
LONG_AUTHOR = "Lina" + "x" * 400  # one "word": usernames hold no spaces
LONG_TITLE = "Mein sehr langer Titel " * 400  # a Text column: kept whole
LONG_CATEGORY = "Kategorie" * 30
LONG_TASK = "Aufgabe " * 60


def bounded(value: str, limit: int | None) -> str:
    """What the store keeps of an over-long value: the start, marked as cut."""
    assert limit is not None and len(value) > limit
    return value[: limit - 1] + "…"


def test_the_parsers_bound_every_scraped_value_to_its_column() -> None:
    card = f"""<ul id="pills-tab"></ul><div id="pills-home"><div class="row article-list">
      <div class="col-lg-4"><a href="/article/9/"><div class="card"><div class="card-header publiziert"></div>
        <div class="article-title">{LONG_TITLE}</div><div class="article-author">{LONG_AUTHOR}</div></div></a></div>
    </div></div>"""
    [summary] = parsers.parse_article_list(card, "home", BASE)
    assert summary.author == bounded(LONG_AUTHOR, AUTHOR_LIMIT)
    assert summary.title == LONG_TITLE.strip()  # article_title is Text: nothing to bound
    detail = parsers.parse_article_detail(
        f"""<html><body>{LOGOUT_FORM}<h1>{LONG_TITLE} von {LONG_AUTHOR}</h1><ul class="social list-group">
        <li class="list-group-item">Kategorie: {LONG_CATEGORY}</li>
        <li class="list-group-item">Aufgabe: {LONG_TASK}</li></ul>
        <div class="article"><div class="highlight-target"><p>Es war \x00einmal.</p></div></div></body></html>""",
        "9",
        BASE,
    )
    assert detail.author == bounded(LONG_AUTHOR, AUTHOR_LIMIT)
    assert detail.category == bounded(LONG_CATEGORY.strip(), CATEGORY_LIMIT)
    assert detail.task == bounded(" ".join(LONG_TASK.split()), TASK_LIMIT)
    assert "\x00" not in detail.content and "\x00" not in detail.raw_html  # PostgreSQL refuses NUL in text


@pytest.mark.slow
async def test_an_article_with_over_long_values_is_stored_bounded_and_blocks_no_other(  # type: ignore[no-untyped-def]
    dev_env, any_db_url, mymoment_server, llm_server, monkeypatch
) -> None:
    """On PostgreSQL an author name longer than its column made every discovery of the process fail;
    SQLite stored it whole. Now both store the same bounded values, an article whose id cannot be
    stored is named in the status, and every other article (one added later too) is commented."""
    state = mymoment_server.state
    monkeypatch.setitem(imitation_pages.CATEGORIES, 99, LONG_CATEGORY)
    monkeypatch.setitem(imitation_pages.TASKS, 99, LONG_TASK)
    settings = fast_settings(
        any_db_url, mymoment_server.url, temporal_task_queue_prefix=f"sv{uuid.uuid4().hex[:6]}-"
    )
    world = Harness.seed(settings, state, llm_server.url)
    long_one = state.add_article(
        LONG_TITLE,
        LONG_AUTHOR,
        class_id=82,
        category_id=99,
        task_id=99,
        paragraphs=["Es war einmal ein Hund."],
    )
    ordinary = add_articles(state, 2)
    too_long_id = state.add_article("Zu lang", "Kind", class_id=82, id=10**ID_LIMIT, paragraphs=["Hallo."])
    process_id = world.create_process(discovery_interval_seconds=5)
    world.mark_running(process_id)

    def posted(n: int) -> Any:
        def check() -> bool:
            with session_scope(any_db_url) as session:
                return items.counts(session, process_id).posted == n

        return check

    async with running_worker(dev_env.client, settings):
        handle = await start_monitoring(dev_env.client, settings, process_id)
        await wait_until(posted(3), 60, "the long article and the two ordinary ones posted")
        later = state.add_article("Später", "Kind9", class_id=82, id=9001, paragraphs=["Ein neuer Text."])
        await wait_until(posted(4), 60, "the article added later posted too")
        status = await processes_client.status(handle)
        await processes_client.stop(handle)
        await handle.result()

    assert status.last_error is not None and f"{str(too_long_id)[:12]}…" in status.last_error
    assert f"longer than {ID_LIMIT}" in status.last_error
    for article_id in (long_one, *ordinary, later):
        assert len(state.comments_for(article_id)) == 1, article_id
    assert state.comments_for(too_long_id) == []
    with session_scope(any_db_url) as session:
        stored = {item.mymoment_article_id: item for item in items.list_items(session, process_id)}
        assert set(stored) == {str(a) for a in (long_one, *ordinary, later)}
        row = stored[str(long_one)]
        assert row.article_author == bounded(LONG_AUTHOR, AUTHOR_LIMIT)
        assert row.article_category == bounded(LONG_CATEGORY, CATEGORY_LIMIT)
        assert row.article_task == bounded(" ".join(LONG_TASK.split()), TASK_LIMIT)
        assert row.article_title == LONG_TITLE.strip()
