"""Files written safely: private files (mode 0600) and telling a regular file from anything else.

Keys, databases and exports hold secrets or pupils' texts: they are created readable by their owner
only, whatever the umask. A path that names a device, a FIFO, a symbolic link or a directory is
never replaced by a file of ours (as root, a rename over `/dev/full` would replace the device).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE = 0o600
# os.O_NOFOLLOW: a symbolic link planted at the path is an error, never followed to somewhere else.
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def not_regular(path: Path) -> str | None:
    """What `path` is ("a FIFO", "a symbolic link", …) when it exists and is not a regular file; None
    when it is one or does not exist. The link itself is looked at, not what it points to."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISREG(mode):
        return None
    return next((kind for is_kind, kind in _KINDS if is_kind(mode)), "not a regular file")


def write_private(path: Path, text: str) -> None:
    """`text` into `path`, created or truncated, readable by its owner only (an existing file's mode
    is tightened too)."""
    fd = os.open(path, _CREATE | os.O_TRUNC, PRIVATE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(fd, PRIVATE)
        out.write(text)


def create_private(path: Path) -> None:
    """An empty file readable by its owner only, unless `path` exists already (then it is left as it
    is). SQLite gives a database's WAL and shared-memory files the mode of the database file."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, _CREATE | os.O_EXCL, PRIVATE))
