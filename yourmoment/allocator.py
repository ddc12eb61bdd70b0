"""glibc's allocator, tuned for a worker holding many cached workflows (WORKER_MALLOC_ARENAS, _TRIM_SECONDS).

Most of a cached workflow's memory lies outside Python's heap (the SDK's core, its threads' buffers).
glibc gives every thread that allocates its own arena (up to 8 per core) and returns freed memory to the
system only from the top of a heap, so a worker whose threads allocate and free workflow-task buffers
keeps fragmented arenas. Fewer arenas and a periodic `malloc_trim(0)` hand that memory back.
Elsewhere than on glibc (musl, macOS) both are no-ops.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # mallopt parameter of glibc's malloc.h


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def limit_arenas(arenas: int) -> bool:
    """Call before the SDK's threads start (arenas already made stay). True when glibc took it."""
    libc = _libc()
    if libc is None or arenas <= 0:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def trim() -> bool:
    """Give the free memory at the end of every arena back to the system; True when some was."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


async def trim_every(seconds: float) -> None:
    """In the worker's background: trim, in a thread (it walks every arena), every `seconds`."""
    if seconds <= 0 or _libc() is None:
        return
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(trim)
        except Exception as exc:  # never let a tuning stop the worker
            log.warning("malloc_trim failed: %s", exc)
            return
