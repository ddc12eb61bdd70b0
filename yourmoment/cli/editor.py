"""A text opened in the user's $VISUAL/$EDITOR, and texts read from a file or stdin ('-')."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from yourmoment.errors import ValidationError


def edit_in_editor(text: str, suffix: str) -> str:
    """What the editor saved of `text`; refused (nothing changed) when there is no editor, it cannot
    start or it exits with an error."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        raise ValidationError(
            ["set $EDITOR, or give the new text with --text-file FILE (--text-file - for stdin)"]
        )
    with tempfile.NamedTemporaryFile("w", suffix=suffix, encoding="utf-8", delete=False) as handle:
        handle.write(text)
        path = handle.name
    try:
        try:
            code = subprocess.run([*shlex.split(editor), path], check=False).returncode
        except OSError as exc:  # not found, not executable
            raise ValidationError(
                [f"cannot start the editor {editor!r}: {exc.strerror or exc}; nothing changed"]
            ) from None
        if code != 0:
            raise ValidationError([f"the editor exited with {code}; nothing changed"])
        return _read(Path(path))
    finally:
        os.unlink(path)


def read_text_file(name: str) -> str:
    """FILE, or stdin for '-': UTF-8 text, else one refusal naming it."""
    if name == "-":
        try:
            return sys.stdin.read()
        except UnicodeError:
            raise ValidationError(["stdin is not UTF-8 text; nothing changed"]) from None
    return _read(Path(name))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeError:
        raise ValidationError([f"{path} is not UTF-8 text; nothing changed"]) from None
    except OSError as exc:
        raise ValidationError([f"cannot read {path}: {exc.strerror or exc}; nothing changed"]) from None
