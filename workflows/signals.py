"""Reading a signal's input as people type it (the CLI, `temporal workflow signal`, the Web UI's dialog).

The monitoring workflow's signals take the raw payload (`RawValue`), so no input is dropped by the SDK
before the workflow sees it: what cannot be read comes back as the reason, and the workflow records
"ignored signal NAME: why" where `status` and the Web UI's details show it. Pure functions, no I/O.
"""

from __future__ import annotations

import json

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue

from yourmoment.messages import StopRequest

# A signal sent without input (the SDK passes no argument then; this default stands for it).
NO_INPUT = RawValue(Payload(metadata={"encoding": b"binary/null"}))
MAX_REASON_CHARS = 500  # a stop reason is shown in `status`, `list` and the Web UI
STOP_SHAPES = 'nothing, null, a reason as text, or {"reason": "...", "drain": false}'
_NOT_TEXT = object()


def signal_input(request: StopRequest) -> RawValue:
    """The CLI's `stop`: the object as JSON (the client's codec encrypts it like any payload)."""
    return RawValue(Payload(metadata={"encoding": b"json/plain"}, data=request.model_dump_json().encode()))


def read_stop(raw: RawValue) -> StopRequest | str:
    """The stop request in `raw`, or why it cannot be read (a message naming the accepted shapes)."""
    value = _value(raw.payload)
    if value is _NOT_TEXT:
        encoding = raw.payload.metadata.get("encoding", b"").decode(errors="replace") or "none"
        return f"input with encoding {encoding!r} is not text; send {STOP_SHAPES}"
    if value is None:
        return StopRequest()
    if isinstance(value, str):
        reason = " ".join(value.split())[:MAX_REASON_CHARS]
        return StopRequest(reason=reason) if reason else StopRequest()
    if isinstance(value, dict):
        try:
            request = StopRequest.model_validate(value)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in err.errors()
            )
            return f"{problems}; send {STOP_SHAPES}"
        reason = " ".join(request.reason.split())[:MAX_REASON_CHARS]
        return request.model_copy(update={"reason": reason or StopRequest().reason})
    return f"a {_kind(value)} is not a stop request; send {STOP_SHAPES}"


def _value(payload: Payload) -> object:
    """JSON when it parses, else the text itself (a reason typed without quotes); _NOT_TEXT for bytes
    that are no UTF-8 text, or an encoding that is neither JSON nor plain text nor null."""
    encoding = payload.metadata.get("encoding", b"")
    if encoding == b"binary/null":
        return None
    if encoding not in (b"json/plain", b"binary/plain"):
        return _NOT_TEXT
    try:
        text = payload.data.decode()
    except UnicodeDecodeError:
        return _NOT_TEXT
    if encoding == b"binary/plain":
        return text
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return text


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "list"
    return type(value).__name__
