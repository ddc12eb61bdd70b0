"""`starter.py demo`: the whole system on one machine, with imitation servers, until every demo comment is posted."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from yourmoment.cli.common import PORT, add_plain_command, number
from yourmoment.crypto import generate_key
from yourmoment.errors import ConfigurationError
from yourmoment.files import write_private
from yourmoment_dev.harness import (
    REPO,
    DevServer,
    Imitations,
    WorkerProcess,
    free_port,
    port_free,
    temporal_binary,
)

DEMO_ARTICLES = 3
DEMO_LOGINS = ("demo-pupil-1", "demo-pupil-2")
LATE_ARTICLE_AFTER_SECONDS = 8


def register(sub: argparse._SubParsersAction) -> None:
    p = add_plain_command(
        sub, "demo", "run everything locally against imitation servers (Ctrl-C to end)", cmd_demo
    )
    p.add_argument("--dir", default=".demo", help="where the demo keeps its database, keys and logs")
    p.add_argument(
        "--exit-when-done",
        action="store_true",
        help="exit 0 once every demo article has its comments (non-zero with the reason otherwise)",
    )
    p.add_argument(
        "--timeout", type=number(1, 86400), default=300, help="seconds to wait for the comments (default 300)"
    )
    p.add_argument("--port", type=PORT, default=7233, help="Temporal frontend port (a free one if taken)")
    p.add_argument("--ui-port", type=PORT, default=8233, help="Temporal Web UI port (a free one if taken)")


@dataclass
class DemoSite:
    """Everything the demo started, so it can show addresses and stop it all."""

    dir: Path
    temporal_port: int = 0
    ui_port: int = 0
    mymoment_url: str = ""
    llm_url: str = ""
    codec_url: str = ""
    env: dict[str, str] = field(default_factory=dict)


def _port(preferred: int) -> int:
    return preferred if port_free(preferred) else free_port()


def _prepare_dir(path: Path) -> None:
    """Every run starts clean: the imitation is in memory, so old rows would not match its articles."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def _write_keys(site: DemoSite) -> tuple[str, str]:
    """The demo writes its keys to files on purpose; a real installation sets them in its environment."""
    from yourmoment.codec import generate_payload_key

    enc_key, payload_key = generate_key(), generate_payload_key()
    write_private(site.dir / "encryption.key", enc_key + "\n")
    write_private(site.dir / "payload.key", payload_key + "\n")
    return enc_key, payload_key


def _start_servers(site: DemoSite, stack: ExitStack, payload_key: str) -> None:
    from imitation import mymoment
    from yourmoment.codec import EncryptionCodec, create_codec_app
    from yourmoment.serving import serve_in_thread

    imitations = Imitations()
    mymoment.seed_demo(imitations.mm)
    stack.enter_context(imitations)
    site.mm_state = imitations.mm  # type: ignore[attr-defined]
    site.mymoment_url, site.llm_url = imitations.mm_url, imitations.llm_url
    site.ui_port = _port(site.ui_port)
    codec_app = create_codec_app(
        EncryptionCodec.from_keys(payload_key),
        [f"http://localhost:{site.ui_port}", f"http://127.0.0.1:{site.ui_port}"],
    )
    site.codec_url = stack.enter_context(serve_in_thread(codec_app)).url


def _environment(site: DemoSite, enc_key: str, payload_key: str) -> dict[str, str]:
    keep = {
        k: v for k, v in os.environ.items() if not k.startswith(("YOURMOMENT_", "TEMPORAL_", "DATABASE_URL"))
    }
    keep.update(
        {
            "DATABASE_URL": f"sqlite:///{site.dir / 'yourmoment.db'}",
            "YOURMOMENT_ENCRYPTION_KEY": enc_key,
            "YOURMOMENT_PAYLOAD_KEY": payload_key,
            "MYMOMENT_BASE_URL": site.mymoment_url,
            # The environment outranks `.env` and Temporal's profile (temporal_connect_config): the demo
            # talks to its own dev server whatever the user configured for real use.
            "TEMPORAL_ADDRESS": f"127.0.0.1:{site.temporal_port}",
            "TEMPORAL_NAMESPACE": "default",
            "TEMPORAL_TLS": "false",
            "COMMENT_RATE_LIMIT_SECONDS": "3",  # pacing stays visible but the demo ends in about a minute
            "REDIS_URL": "",
        }
    )
    return keep


def _configure(site: DemoSite) -> str:
    """The demo user, two pupil logins, a provider, the templates and a posting process; returns its id.

    Every step goes through starter.py's own commands, as a user would type them.
    """
    from yourmoment.cli.main import run

    steps: list[tuple[list[str], str | None]] = [
        (["db", "upgrade"], None),
        (["user", "add", "demo@example.org"], None),
        *(
            (["login", "add", name, "--username", name, "--password-stdin"], "demo-pass\n")
            for name in DEMO_LOGINS
        ),
        (
            [
                "provider",
                "add",
                "imitation",
                "--provider",
                "openai-compatible",
                "--model",
                "imitation-1",
                "--base-url",
                f"{site.llm_url}/v1",
            ],
            None,
        ),
        (["template", "seed"], None),
    ]
    for args, stdin in steps:
        _run_quiet(run, args, stdin)
    args = [
        "process",
        "create",
        "--name",
        "Demo Klasse A",
        "--tab",
        "82",
        "--provider",
        "imitation",
        "--prompt",
        "Ermutigendes Feedback:3",
        "--prompt",
        "Frage zum Weiterdenken:1",
        "--post",
        "--interval",
        "10",
        "--max-duration",
        "60",
    ]
    for name in DEMO_LOGINS:
        args += ["--login", name]
    _run_quiet(run, args, None)
    from yourmoment.cli.common import Context
    from yourmoment.store import processes

    ctx = Context(argparse.Namespace(user=None))
    with ctx.db() as session:
        return processes.get_process(session, ctx.user(session), "Demo Klasse A").id


def _run_quiet(run, args: list[str], stdin: str | None) -> None:  # type: ignore[no-untyped-def]
    import contextlib
    import io

    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin or "")
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(args)
    finally:
        sys.stdin = old_stdin
    if code != 0:
        raise ConfigurationError(f"demo set-up step '{' '.join(args[:2])}' failed: {err.getvalue().strip()}")


async def _watch(site: DemoSite, process_id: str, timeout: float, exit_when_done: bool) -> tuple[bool, str]:
    from yourmoment.cli.common import Context
    from yourmoment.cli.run_cmds import process_status
    from yourmoment.settings import get_settings
    from yourmoment.temporal_client import connect

    ctx = Context(argparse.Namespace(user=None))
    client = await connect(get_settings())
    state = site.mm_state  # type: ignore[attr-defined]
    started, late_added = time.monotonic(), False
    tty = sys.stdout.isatty()
    start = "\r" if tty else ""
    expected = (DEMO_ARTICLES + 1) * len(DEMO_LOGINS)
    while True:
        elapsed = time.monotonic() - started
        if not late_added and elapsed > LATE_ARTICLE_AFTER_SECONDS:
            state.add_article(
                title="Ein neuer Text kommt dazu",
                author="demo-autor",
                class_id=82,
                category_id=9,
                paragraphs=[
                    "Heute haben wir im Wald einen Igel gesehen.",
                    "Er war klein und hat geschnauft.",
                ],
            )
            late_added = True
        status = await process_status(ctx, client, process_id)
        posted_on_site = sum(len(state.comments_for(a)) for a in state.articles)
        c = status.totals
        # On a terminal the line updates in place; in a log, one line per update.
        print(
            f"{start}[{elapsed:5.0f} s] {status.status}: posted {c.posted}/{expected} "
            f"(on the site: {posted_on_site}), generated {c.generated}, failed {c.failed}, "
            f"in flight {status.in_flight}   ",
            end="" if tty else "\n",
            flush=True,
        )
        if c.posted >= expected and posted_on_site == expected:
            print()
            return True, f"all {expected} demo comments posted exactly once"
        if c.failed or status.status in ("failed", "stopped", "completed"):
            print()
            return False, f"process {status.status} with {c.failed} failed items: {status.last_error or '-'}"
        if elapsed > timeout:
            print()
            return False, f"timed out after {timeout:.0f} s with {c.posted}/{expected} posted"
        await asyncio.sleep(1)


def cmd_demo(args: argparse.Namespace) -> int:
    from yourmoment.settings import reset_settings_cache

    site = DemoSite(dir=Path(args.dir).resolve(), ui_port=args.ui_port)
    _prepare_dir(site.dir)
    with ExitStack() as stack:
        enc_key, payload_key = _write_keys(site)
        _start_servers(site, stack, payload_key)
        site.temporal_port = _port(args.port)
        print(
            f"starting the Temporal dev server on 127.0.0.1:{site.temporal_port} (Web UI on {site.ui_port})"
        )
        dev = DevServer(
            site.dir / "temporal.db",
            site.temporal_port,
            site.ui_port,
            site.codec_url,
            log_file=site.dir / "temporal.log",
        )
        stack.callback(dev.stop)
        dev.start()
        site.env = _environment(site, enc_key, payload_key)
        os.environ.update(site.env)
        reset_settings_cache()
        process_id = _configure(site)  # migrates first: the worker refuses an unmigrated database
        worker = WorkerProcess(site.env, cwd=Path.cwd(), log_file=site.dir / "worker.log")
        stack.callback(worker.stop, 20)
        worker.start(60)
        from yourmoment.cli.main import run

        _run_quiet(run, ["start", "Demo Klasse A"], None)
        _print_intro(site, process_id)
        ok, reason = asyncio.run(_watch(site, process_id, args.timeout, args.exit_when_done))
        print(("done: " if ok else "demo failed: ") + reason)
        if args.exit_when_done or not ok:
            return 0 if ok else 1
        _print_next_steps(site, process_id)
        try:
            while worker.alive():
                time.sleep(1)
            return 1
        except KeyboardInterrupt:
            print("\nstopping the demo")
            return 0


def _print_intro(site: DemoSite, process_id: str) -> None:
    print(f"""
yourMoment demo
  Temporal Web UI   http://localhost:{site.ui_port}/namespaces/default/workflows  (payloads decoded by {site.codec_url})
  myMoment (fake)   {site.mymoment_url}/   logins demo-pupil-1 / demo-pupil-2, password demo-pass
  LLM (fake)        {site.llm_url}/v1
  process           Demo Klasse A ({process_id}), posting, class tab 82
  data and logs     {site.dir}
""")


def _write_shell_env(site: DemoSite) -> Path:
    """`demo.env` for `. demo.env` in a shell: the demo's settings, and `python`/`temporal` from this venv."""
    keep = ("YOURMOMENT_", "TEMPORAL_", "DATABASE_URL", "MYMOMENT_", "COMMENT_")
    lines = [f"export {k}={shlex.quote(v)}" for k, v in site.env.items() if k.startswith(keep)]
    bins = dict.fromkeys([str(Path(sys.executable).parent), str(Path(temporal_binary()).parent)])
    lines.append(f'export PATH={shlex.quote(":".join(bins))}:"$PATH"')
    path = site.dir / "demo.env"
    write_private(path, "\n".join(lines) + "\n")  # it holds the demo's keys
    return path


def _print_next_steps(site: DemoSite, process_id: str) -> None:
    """Lines that work when pasted as printed (tests/test_demo.py runs each one)."""
    env_file, repo = _write_shell_env(site), REPO
    codec = f"{site.codec_url}/{{namespace}}"
    print(f"""
Try next, in another terminal (first line once, then any other):
  cd {shlex.quote(str(repo))} && . {shlex.quote(str(env_file))}   # the demo's settings; python and temporal from .venv
  python starter.py status "Demo Klasse A"
  python starter.py comments "Demo Klasse A" --full
  python starter.py monitor --once
  temporal workflow list --query 'YourMomentProcessId="{process_id}"'
  temporal workflow query --workflow-id monitoring-process-{process_id} --name status --codec-endpoint '{codec}'
  python starter.py stop "Demo Klasse A" --wait
The demo keeps running (a new article is discovered every few seconds if you add one); Ctrl-C ends it.""")
