"""Files are written safely: `export --out` replaces regular files only, output that cannot be written
is one `error:` line, and the database, the demo's keys and the dev server's database are private."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import process_create, provider_add
from yourmoment.crypto import generate_key
from yourmoment_dev.demo_cmds import DemoSite, _write_keys, _write_shell_env
from yourmoment_dev.harness import REPO, DevServer, hermetic_env

EMAIL = "forscherin@example.org"
NO_SPACE = os.strerror(28)  # ENOSPC: "No space left on device"


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.fixture
def exported_process(env, run_cli) -> str:  # type: ignore[no-untyped-def]
    """A process of the CLI's user, to export (it has no rows: what matters is where they go)."""
    for args, stdin in [
        (("user", "add", EMAIL), None),
        (("login", "add", "a", "--username", "pupil-a", "--password-stdin"), "pass-a\n"),
        (provider_add("local", "imitation", base_url="http://127.0.0.1:9/v1"), None),
        (("template", "seed"), None),
    ]:
        assert run_cli(*args, stdin=stdin).code == 0
    template = run_cli("template", "list", "--json").json()[0]["name"]
    created = run_cli(*process_create("klasse-82", "local", "a", template), "--json")
    assert created.code == 0, created
    return str(created.json()["id"])


# --- export --out replaces regular files only --------------------------------------------------------


def _device(tmp_path: Path) -> tuple[Path, str]:
    """A character device like /dev/full. As root, a copy of it in tmp_path (same device numbers), so a
    regression replaces the copy and never the system's device; otherwise /dev/full itself."""
    if os.geteuid() != 0:
        return Path("/dev/full"), "a character device"
    copy = tmp_path / "full"
    os.mknod(copy, stat.S_IFCHR | 0o666, os.stat("/dev/full").st_rdev)
    return copy, "a character device"


def _targets(tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    """(case, --out target, what the refusal calls it)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    yield "fifo", fifo, "a FIFO"
    regular = tmp_path / "real.csv"
    regular.write_text("keep me\n")
    link = tmp_path / "link.csv"
    link.symlink_to(regular)
    yield "symlink", link, "a symbolic link"
    to_device = tmp_path / "to-full.csv"
    to_device.symlink_to("/dev/full")
    yield "symlink to /dev/full", to_device, "a symbolic link"
    folder = tmp_path / "folder"
    folder.mkdir()
    yield "directory", folder, "a directory"
    device, kind = _device(tmp_path)
    yield "device", device, kind


def _identity(path: Path) -> tuple[int, int, int]:
    info = path.lstat()
    return info.st_ino, info.st_mode, info.st_rdev


def test_export_never_replaces_what_is_not_a_regular_file(exported_process, run_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for case, target, kind in list(_targets(tmp_path)):
        before = sorted(p.name for p in tmp_path.iterdir())
        identity = _identity(target)
        result = run_cli("export", exported_process, "--out", target)
        line = one_error_line(result.err)
        assert result.code == 2, (case, result)
        assert line == f"error: --out {target} is {kind}, not a regular file; nothing written", case
        assert _identity(target) == identity, f"{case}: the target was replaced"
        assert sorted(p.name for p in tmp_path.iterdir()) == before, f"{case}: a file was left behind"
    assert (tmp_path / "real.csv").read_text() == "keep me\n"
    fresh = tmp_path / "export.csv"
    assert run_cli("export", exported_process, "--out", fresh).code == 0
    assert fresh.is_file() and not fresh.is_symlink() and private(fresh)


# --- output that cannot be written ---------------------------------------------------------------------


# Commands that print: help (argparse's own output), a key, a table, JSON, a CSV export, a report line.
PRINTING_COMMANDS = [
    ("--help",),
    ("keygen",),
    ("template", "list"),
    ("template", "list", "--json"),
    ("process", "list"),
    ("export", "klasse-82"),
]


@pytest.fixture
def cli_env(exported_process, env) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The seeded database of `exported_process` for starter.py in its own process."""
    return hermetic_env(
        DATABASE_URL=env.database_url,
        YOURMOMENT_ENCRYPTION_KEY=env.encryption_key,
        YOURMOMENT_DEFAULT_USER=EMAIL,
        MYMOMENT_BASE_URL=env.mymoment_base_url,
    )


def run_into(stdout: Any, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "starter.py"), *args],
        cwd=cwd,
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("args", PRINTING_COMMANDS, ids=" ".join)
def test_output_to_a_full_disk_is_one_error_line(args, cli_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with open("/dev/full", "w") as full:
        proc = run_into(full, cli_env, tmp_path, *args)
    assert one_error_line(proc.stderr) == f"error: cannot write the output: {NO_SPACE}"
    assert proc.returncode == 1


@pytest.mark.parametrize("args", PRINTING_COMMANDS, ids=" ".join)
def test_output_to_a_closed_pipe_is_one_error_line(args, cli_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`starter.py … | head -c1` where the reader is gone before anything is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = run_into(write_end, cli_env, tmp_path, *args)
    finally:
        os.close(write_end)
    assert one_error_line(proc.stderr) == "error: cannot write the output: the reader closed the pipe"
    assert proc.returncode == 141  # 128 + SIGPIPE, as the shell reports a command ended by a closed pipe


# --- private files ------------------------------------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask 022, under which a plain open() creates files that everyone may read."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_sqlite_database_and_its_wal_files_are_private(tmp_path, open_umask) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "yourmoment.db"
    env = hermetic_env(DATABASE_URL=f"sqlite:///{db}", YOURMOMENT_ENCRYPTION_KEY=generate_key())
    for args in (("db", "upgrade"), ("user", "add", EMAIL)):
        proc = run_into(subprocess.PIPE, env, tmp_path, *args)
        assert proc.returncode == 0, proc.stderr
    files = sorted(tmp_path.glob("yourmoment.db*"))
    assert [f.name for f in files] == ["yourmoment.db", "yourmoment.db-shm", "yourmoment.db-wal"]
    assert all(private(f) for f in files), {f.name: oct(f.stat().st_mode) for f in files}


def test_the_demos_key_files_are_private(tmp_path, open_umask) -> None:  # type: ignore[no-untyped-def]
    site = DemoSite(dir=tmp_path)
    enc_key, payload_key = _write_keys(site)
    site.env = {"YOURMOMENT_ENCRYPTION_KEY": enc_key, "YOURMOMENT_PAYLOAD_KEY": payload_key}
    shell_env = _write_shell_env(site)
    for path in (tmp_path / "encryption.key", tmp_path / "payload.key", shell_env):
        assert private(path), (path.name, oct(path.stat().st_mode))
    assert (tmp_path / "encryption.key").read_text() == enc_key + "\n"


@pytest.mark.slow
def test_the_dev_servers_database_is_private(tmp_path, open_umask) -> None:  # type: ignore[no-untyped-def]
    server = DevServer(tmp_path / "temporal.db", log_file=tmp_path / "temporal.log")
    server.start()
    try:
        files = sorted(tmp_path.glob("temporal.db*"))
        assert files and all(private(f) for f in files), {f.name: oct(f.stat().st_mode) for f in files}
    finally:
        server.stop()
