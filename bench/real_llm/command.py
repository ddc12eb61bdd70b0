"""The lane's small commands (`python -m bench.real_llm.build`, `… .model`): one answer on stdout, or the
command's known failure as one sentence on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable


def answer_or_error(answer: Callable[[], str], known_failure: type[Exception]) -> int:
    """Prints what `answer` returns and gives exit code 0; when it raises `known_failure` (a missing model,
    a failed build: something the user fixes), prints `error: …` on stderr instead and gives 1."""
    try:
        text = answer()
    except known_failure as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(text)
    return 0
