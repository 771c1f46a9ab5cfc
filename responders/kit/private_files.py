"""Files clawback writes are 0600 and directories 0700, whatever the umask."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents we create) as 0700; tighten it if it exists."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(d, DIR_MODE)
    if path.is_dir() and (path.stat().st_mode & 0o777) != DIR_MODE and path in missing:
        os.chmod(path, DIR_MODE)
    return path


def open_private(path: Path, mode: str = "w", *, encoding: str | None = "utf-8") -> IO[Any]:
    """Open a file for writing or appending, created 0600 (never wider, even briefly)."""
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    if "b" in mode:
        return os.fdopen(fd, mode)
    return os.fdopen(fd, mode, encoding=encoding)


def write_private(
    path: Path, data: str | bytes | Iterable[str], *, fsync: bool = True
) -> Path:
    """Atomically replace ``path`` with ``data``, 0600, via a temporary file and rename.

    ``data`` may be text given piece by piece (a renderer's output as it is produced), so a
    large file is never held whole in memory."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    binary = isinstance(data, bytes)
    try:
        with open_private(tmp, "wb" if binary else "w") as fh:
            if isinstance(data, str | bytes):
                fh.write(data)
            else:
                fh.writelines(data)  # a renderer that fails midway leaves no partial file
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return path
