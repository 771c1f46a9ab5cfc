"""Rewriting root's own files outside the agent's tree (supervisord's config, when root runs
the supervisord that runs the gateway).

The agent's files are rewritten through ``AgentFiles.replace``, which follows no link; a file
here is root's, yet even here a link or a hard-linked file in its place is refused.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path

from responders.interface import ResponderError


def replace_file(path: Path, data: bytes, *, holds_secret: bool = False) -> None:
    """Atomically give ``path`` new content, keeping its owner and mode; a file that
    ``holds_secret`` loses any group and other bits (at most 0600)."""
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        raise ResponderError(f"{path} is not a plain file (a link, or a file with more than "
                             "one name): edit it by hand")
    temporary = path.with_name(f".{path.name}.clawback-{os.getpid()}-{threading.get_ident()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as sink:
            sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())
            if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
                os.fchown(sink.fileno(), info.st_uid, info.st_gid)
            mode = stat.S_IMODE(info.st_mode)
            os.fchmod(sink.fileno(), mode & 0o600 if holds_secret else mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
