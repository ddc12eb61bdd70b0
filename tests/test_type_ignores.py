"""Every mypy ignore comment in the project names its error code and says why, on its own line.

mypy itself (`make lint`) refuses an ignore without a code or one that is no longer needed; the reason is
this test's part.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The modules mypy checks (pyproject.toml, [tool.mypy] files).
CHECKED = ("yourmoment", "yourmoment_dev", "activities", "workflows", "imitation", "bench", "tests")
MARKER = "type" + ": ignore"  # spelt apart, so this file holds no ignore comment of its own
ANY_IGNORE = re.compile(r"#\s*" + MARKER)
EXPLAINED = re.compile(r"# " + MARKER + r"\[[a-z-]+(, [a-z-]+)*\]  # \S")


def checked_files() -> list[Path]:
    files = [REPO / "worker.py", REPO / "starter.py"]
    for package in CHECKED:
        files += sorted((REPO / package).rglob("*.py"))
    return files


def unexplained_ignores(path: Path) -> list[str]:
    return [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if ANY_IGNORE.search(line) and not EXPLAINED.search(line)
    ]


def test_the_pattern_tells_an_explained_ignore_from_a_bare_one() -> None:
    assert EXPLAINED.search(f"x = f()  # {MARKER}[arg-type]  # the stub is wrong")
    assert not EXPLAINED.search(f"x = f()  # {MARKER}[arg-type]")
    assert not EXPLAINED.search(f"x = f()  # {MARKER}  # no code")


def test_every_type_ignore_has_its_code_and_a_reason() -> None:
    files = checked_files()
    assert len(files) > 100, "the project's modules were not found"
    assert [problem for path in files for problem in unexplained_ignores(path)] == []
