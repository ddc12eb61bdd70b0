"""The lane's child processes: llama-server with its default slots and context, and the starter.py CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from yourmoment_dev.harness import free_port

REPO = Path(__file__).resolve().parents[2]
MODEL_ALIAS = "SmolLM2-135M-Instruct"


class LlamaServer:
    """`llama-server -m MODEL --alias NAME --host 127.0.0.1 --port N`: slots and context are its defaults.

    The alias only names the model in /v1/models (otherwise the file's path).
    """

    def __init__(self, binary: Path, gguf: Path, log_file: Path) -> None:
        self.binary, self.gguf, self.log_file = binary, gguf, log_file
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        return [
            str(self.binary),
            "-m",
            str(self.gguf),
            "--alias",
            MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]

    def start(self, timeout: float = 180.0) -> None:
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.proc.returncode}; see {self.log_file}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass  # still loading the model
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama-server not ready after {timeout:.0f} s; see {self.log_file}")
            time.sleep(0.5)

    def settings(self) -> dict[str, Any]:
        """What the server chose by itself: slots, context per slot, the model it serves."""
        props = httpx.get(f"{self.url}/props", timeout=10).json()
        models = httpx.get(f"{self.url}/v1/models", timeout=10).json().get("data") or [{}]
        generation = props.get("default_generation_settings") or {}
        return {
            "command": f"{self.binary.name} -m {self.gguf.name} --alias {MODEL_ALIAS} --host 127.0.0.1 --port N",
            "total_slots": props.get("total_slots"),
            "n_ctx": generation.get("n_ctx", props.get("n_ctx")),
            "build_info": props.get("build_info"),
            "model_id": models[0].get("id"),
        }

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class Cli:
    """`python starter.py …` as a user types it, in a folder without a `.env`."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd

    def run(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 300) -> str:
        done = subprocess.run(
            [sys.executable, str(REPO / "starter.py"), *args],
            input=stdin or "",
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.cwd,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"starter.py {' '.join(args[:2])} exited {done.returncode}: {done.stderr.strip()[-500:]}"
            )
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json"))

    def supports(self, command: tuple[str, ...], flag: str) -> bool:
        """Whether this version of the CLI knows `flag` (the lane runs against older and newer ones)."""
        return flag in self.run(*command, "--help")
