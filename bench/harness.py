"""The benchmarks' side of the shared harness (yourmoment_dev.harness): politeness, psutil-measured workers, starts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from yourmoment import processes_client
from yourmoment.messages import (
    MonitorResult,
)
from yourmoment_dev.harness import REPO, Harness, WorkerProcess


@dataclass
class Politeness:
    """SCRAPING_RATE_LIMIT, SCRAPING_BURST_LIMIT and COMMENT_RATE_LIMIT_SECONDS for the worker."""

    rate: float = 2.0
    burst: int = 5
    comment_interval: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "scraping_rate_limit": self.rate,
            "scraping_burst_limit": self.burst,
            "comment_rate_limit_seconds": self.comment_interval,
        }


class Sampler:
    """Samples a process's RSS every `every` seconds in a thread; keeps the peak and the last value."""

    def __init__(self, proc: psutil.Process, every: float = 0.25) -> None:
        self.proc = proc
        self.every = every
        self.peak_rss = 0
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self.proc.memory_info().rss
            except psutil.Error:
                return
            self.peak_rss = max(self.peak_rss, rss)
            self.samples.append((time.monotonic(), rss))
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


class MeasuredWorker(WorkerProcess):
    """The harness's worker process, measured: RSS sampled while it runs, CPU and memory on demand."""

    def __init__(
        self, env: dict[str, str], *args: str, cwd: Path | None = None, log_file: Path | None = None
    ) -> None:
        super().__init__(env, *args, cwd=cwd, log_file=log_file)
        self.ps: psutil.Process | None = None
        self.sampler: Sampler | None = None
        self.startup_s = 0.0

    def start(self, timeout: float = 60.0) -> float:
        self.startup_s = super().start(timeout)
        assert self.proc is not None
        self.ps = psutil.Process(self.proc.pid)
        self.sampler = Sampler(self.ps)
        return self.startup_s

    def cpu_seconds(self) -> float:
        assert self.ps is not None
        t = self.ps.cpu_times()
        return t.user + t.system

    def rss_mb(self) -> float:
        assert self.ps is not None
        return self.ps.memory_info().rss / 2**20

    def uss_mb(self) -> float:
        assert self.ps is not None
        return self.ps.memory_full_info().uss / 2**20

    def memory_map(self) -> dict[str, float]:
        assert self.ps is not None
        return memory_map(self.ps.pid)

    def peak_rss_mb(self) -> float:
        return (self.sampler.peak_rss if self.sampler else 0) / 2**20

    def kill(self) -> None:
        if self.sampler:
            self.sampler.stop()
        super().kill()

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM (graceful drain); kill -9 only if it does not end in time."""
        if self.sampler:
            self.sampler.stop()
        try:
            return super().terminate(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            assert self.proc is not None
            return self.proc.returncode


THREAD_HEAP_SIZE = 64 * 2**20  # glibc's HEAP_MAX_SIZE on 64 bit: a thread arena's reserved mapping


def memory_map(pid: int) -> dict[str, float]:
    """Where a process's resident memory lies, from /proc/PID/smaps (MB), by the kind of mapping:

    - `main_heap`: the brk heap of glibc's main arena (larger Python objects, C extensions' mallocs on
      the main thread);
    - `thread_arenas`: glibc's arenas of other threads (64 MiB-aligned mappings): the SDK's Rust core
      and its tokio threads, the thread pool of sync activities;
    - `other_anonymous`: pymalloc's arenas (Python objects of ≤ 512 bytes; the kernel merges adjacent
      ones, so they are not told apart from the rest), large mallocs served by mmap, thread stacks;
    - `files`: the interpreter, shared libraries (the SDK's core among them), mapped files.
    Classification by size and alignment is a heuristic, good to a few MB.
    """
    kinds = dict.fromkeys(("main_heap", "thread_arenas", "other_anonymous", "files"), 0)
    current: str | None = None
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and not fields[0].endswith(":"):
                start, end = (int(x, 16) for x in fields[0].split("-"))
                path = fields[5] if len(fields) > 5 else ""
                if path == "[heap]":
                    current = "main_heap"
                elif path.startswith("[") or path:
                    current = "files" if path and not path.startswith("[") else "other_anonymous"
                elif start % THREAD_HEAP_SIZE == 0 and end - start <= THREAD_HEAP_SIZE:
                    current = "thread_arenas"
                else:
                    current = "other_anonymous"
            elif fields[0] == "Rss:" and current is not None:
                kinds[current] += int(fields[1])
    return {kind: round(kb / 1024, 1) for kind, kb in kinds.items()}


def tree_rss_mb(pid: int) -> float:
    """The resident memory of a process and its children (the dev server runs as one)."""
    ps = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)]) / 2**20


@dataclass
class BenchHarness(Harness):
    """The shared harness with measured workers, the configured politeness, and the starts benchmarks use."""

    worker_class = MeasuredWorker
    politeness: Politeness = field(default_factory=Politeness)
    llm_latency_ms: int = 0

    @property
    def database_kind(self) -> str:
        """The run's database: "postgresql" (a scratch one, --database-url) or "sqlite"."""
        return "sqlite" if self.database_url.startswith("sqlite") else "postgresql"

    @classmethod
    @asynccontextmanager
    async def running(
        cls,
        politeness: Politeness | None = None,
        database_url: str | None = None,
        llm_latency_ms: int = 0,
        redis_url: str | None = None,
    ) -> AsyncIterator[BenchHarness]:
        """Everything started (yourmoment_dev.harness.Harness.started) with `politeness` for the workers."""
        politeness = politeness or Politeness()
        limits = {"MAX_RUNNING_PROCESSES_PER_USER": "100000"}
        async with cls.started(
            database_url,
            llm_latency_ms,
            limits,
            redis_url=redis_url,
            temporal_task_queue_prefix=f"bench{time.monotonic_ns() % 10**6}-",
            **politeness.as_dict(),
        ) as harness:
            harness.politeness = politeness
            harness.llm_latency_ms = llm_latency_ms
            yield harness

    async def start_via_cli(self, process_id: str) -> None:
        """`python starter.py start ID`, the user's route."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(REPO / "starter.py"),
            "start",
            process_id,
            "--json",
            cwd=self.workdir,
            env=self.child_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"starter.py start failed: {out.decode()}{err.decode()}")

    async def start_direct(self, process_id: str) -> processes_client.MonitoringHandle:
        """What `starter.py start` does (row marked running, workflow started), without a CLI process per
        start: for the benchmarks that start dozens or thousands of processes."""
        assert self.client is not None
        self.mark_running(process_id)
        return await processes_client.start_monitoring(self.client, self.settings, process_id)

    def handle(self, process_id: str) -> processes_client.MonitoringHandle:
        assert self.client is not None
        return processes_client.monitoring_handle(self.client, process_id)

    async def stop_process(self, process_id: str, timeout: float = 120.0) -> MonitorResult:
        handle = self.handle(process_id)
        await processes_client.stop(handle, "benchmark finished")
        return await asyncio.wait_for(handle.result(), timeout)
