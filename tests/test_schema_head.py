"""The declared schema head matches alembic's, and an idle worker loads neither alembic nor openai."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from yourmoment.store.db import SCHEMA_HEAD, current_revision, head_revision, upgrade

ROOT = Path(__file__).resolve().parent.parent


def test_the_declared_schema_head_is_the_newest_migration() -> None:
    assert head_revision() == SCHEMA_HEAD, "a migration was added: set SCHEMA_HEAD in yourmoment/store/db.py"


def test_current_revision_reads_the_version_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert current_revision(url) is None  # an empty database has no version table yet
    assert upgrade(url) == SCHEMA_HEAD == current_revision(url)


def test_the_worker_imports_neither_alembic_nor_openai_until_it_needs_them() -> None:
    """18 MB (openai), 11 MB (alembic), 12 MB (ICU, for the comment rules) and 14 MB (apprise, only with
    NOTIFY_URLS) a worker serving only idle processes never uses; 6.8 MB (rich and pygments, httpx's
    command-line client, yourmoment/lean_httpx.py) it never uses at all."""
    probe = (
        "import sys, json, yourmoment.worker_main, activities.by_queue, workflows.monitoring;"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'openai', 'mako', 'icu', 'apprise', 'rich', 'pygments'})))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
