"""Log output: JSON lines carry Temporal's workflow and activity ids; text is the default."""

from __future__ import annotations

import io
import json
import logging

from yourmoment.logs import JsonFormatter


def test_json_lines_carry_temporal_ids() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    context = {"workflow_id": "article-p-l-4501", "activity_type": "post_comment", "attempt": 2}
    logger.info("comment posted item_id=%s", "abc", extra={"temporal_activity": context})
    line = json.loads(stream.getvalue())
    assert line["message"] == "comment posted item_id=abc"
    assert line["workflow_id"] == "article-p-l-4501" and line["activity_type"] == "post_comment"
    assert line["attempt"] == 2 and line["level"] == "INFO"
