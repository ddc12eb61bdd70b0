"""httpx without its command-line client: import `httpx` from here, before anything else imports it.

httpx imports its own command-line client whenever that client's packages are installed, and ours are:
rich (for `starter.py comments review`), pygments and click. Their import measured 6.8 MB in every
process that imports httpx, the worker included, for a client no process of ours runs (click stays in
the worker: uvicorn needs it). A `None` in `sys.modules` makes that one import fail, and httpx falls
back to a stub `main` as it does when they are missing. Only the myMoment client imports httpx, from here.
"""

from __future__ import annotations

import sys

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None blocks an import

import httpx  # noqa: E402 (after the line above, which is the point)

__all__ = ["httpx"]
