"""Reading the operator's playbooks and config only when nobody else could have edited them.

A playbook decides what clawback does as root during an incident, and a config names where the
admin credentials live, so a file someone else can write is refused, as ssh refuses such an
``authorized_keys``: it must be owned by the current user or root and writable by nobody else.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from clawback.errors import BadInput

# Playbooks and configs are a few kilobytes; reading gigabytes would hold up the panic button.
MAX_TRUSTED_BYTES = 1024 * 1024


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def read_trusted_file(path: Path, *, what: str, limit: int = MAX_TRUSTED_BYTES) -> bytes:
    """Return the bytes of ``path`` after the ownership and mode checks; ``what`` names it.

    A file bigger than ``limit`` is bad input: it is refused before it is read."""
    try:
        # O_NONBLOCK: a FIFO planted at the path must not hang the panic button on open().
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise BadInput(f"{what} not found", path=path) from None
    except OSError as exc:
        raise BadInput(f"cannot open the {what}: {exc.strerror}", path=path) from None
    try:
        # fstat on the open descriptor: the checked file is the file read.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BadInput(f"the {what} is not a regular file", path=path)
        if info.st_uid not in (os.geteuid(), 0):
            raise BadInput(
                f"the {what} is owned by {_user_name(info.st_uid)} (uid {info.st_uid}), not by "
                f"you or root, so someone else could change what clawback does. Fix: chown "
                f"{_user_name(os.geteuid())} {path} && chmod 600 {path}",
                path=path,
            )
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise BadInput(
                f"the {what} is writable by group or others (mode "
                f"{stat.S_IMODE(info.st_mode):04o}), so someone else could change what clawback "
                f"does. Fix: chmod 600 {path}",
                path=path,
            )
        if info.st_size > limit:
            raise BadInput(
                f"the {what} is {info.st_size} bytes; clawback reads at most {limit} bytes of a "
                f"{what} (it needs a few kilobytes)",
                path=path,
            )
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise BadInput(f"the {what} grew past {limit} bytes while it was read", path=path)
        return data
    finally:
        os.close(fd)


class NotRegular(OSError):
    """A path that should be a plain file is a link, a FIFO, a device or a directory."""


def open_regular(path: Path, *, follow_links: bool = False) -> int:
    """A read-only descriptor on the regular file ``path``, opened without blocking (a FIFO
    planted in an incident directory must not hang ``verify``) and, unless ``follow_links``,
    without following a link: evidence and checkpoints are read where they are, never through a
    link someone put in their place. Raises NotRegular (or the OSError of the open)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    if not follow_links:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EOPNOTSUPP):
            raise _not_regular(path) from None
        raise
    try:
        info = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise _not_regular(path)
    return fd


def _not_regular(path: Path) -> NotRegular:
    try:
        info = os.lstat(path)
    except OSError:
        return NotRegular(errno.EINVAL, "not a regular file", str(path))
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "(unreadable)"
        return NotRegular(errno.ELOOP, f"a symbolic link to {target}, not a regular file",
                          str(path))
    kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a directory"
            if stat.S_ISDIR(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode)
            else "a device or special file")
    return NotRegular(errno.EINVAL, f"{kind}, not a regular file", str(path))


def read_regular(path: Path, *, follow_links: bool = False, limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path`` (see ``open_regular``), at most ``limit``."""
    fd = open_regular(path, follow_links=follow_links)
    with os.fdopen(fd, "rb") as fh:
        return fh.read() if limit is None else fh.read(limit)
