"""The keyring's own files are trusted only when nobody else could read or swap them.

The keyring holds the timeline signing key and every new secret a rotation makes. A file-based
backend (keyrings.alt's plaintext or encrypted keyring) keeps them in one file: if another user
owns it or can read it, they hold the keys; if they can write its directory (keyrings.alt makes
it 0777 under umask 000) they can swap in a file of their own and read what clawback stores
next. So, as ssh does for ``authorized_keys``: the file must be a regular file of the invoking
user, readable by nobody else; its directory, and every directory above it, must be owned by
that user or root and writable by nobody else (a sticky ``/tmp`` excepted).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from clawback.errors import BadInput


def file_paths(backend: Any) -> list[Path]:
    """The files a keyring backend keeps secrets in (none for a Secret Service, say)."""
    found: list[Path] = []
    path = getattr(backend, "file_path", None)
    if isinstance(path, str | os.PathLike):
        found.append(Path(path))
    for inner in getattr(backend, "backends", ()) or ():  # keyring's ChainerBackend
        found += file_paths(inner)
    return found


def check_backend(backend: Any) -> None:
    """Raise BadInput, with the fix, if any file of ``backend`` is not private."""
    for path in file_paths(backend):
        check_keyring_file(path)


def _who(uid: int) -> str:
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def check_keyring_file(path: Path) -> None:
    """The checks of the module docstring for the keyring file ``path`` (which may not exist
    yet: then only its directories are checked)."""
    me = os.geteuid()
    path = Path(os.path.abspath(path))
    directory = path.parent
    for depth, current in enumerate([directory, *directory.parents]):
        try:
            found = os.lstat(current)
        except (FileNotFoundError, NotADirectoryError):
            continue  # clawback creates it, private (umask 077); or the backend will say why
        if stat.S_ISLNK(found.st_mode):
            if found.st_uid in (0, me):
                continue  # an admin's own link (/home -> /srv/home)
            raise BadInput(f"a directory above the keyring file is a link owned by "
                           f"{_who(found.st_uid)}: it could point anywhere", path=current)
        writable = found.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if found.st_uid not in (0, me):
            raise BadInput(
                f"the keyring {'directory' if depth == 0 else 'path'} {current} is owned by "
                f"{_who(found.st_uid)}, who could swap the keyring file. Keep the keyring in a "
                "directory of yours", path=path,
            )
        if writable and not (found.st_mode & stat.S_ISVTX and depth > 0):
            raise BadInput(
                f"the keyring directory {current} is writable by group or others (mode "
                f"{stat.S_IMODE(found.st_mode):04o}): anyone could swap the keyring file for "
                f"their own. Fix: chmod 700 {current}, and check {path} is still yours",
                path=path,
            )
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        info = None
    if info is not None:
        if not stat.S_ISREG(info.st_mode):
            raise BadInput(f"the keyring file {path} is not a regular file (a link or "
                           "something else put in its place): remove it", path=path)
        if info.st_uid != me:
            raise BadInput(
                f"the keyring file {path} is owned by {_who(info.st_uid)}, not by you: whoever "
                "owns it can read the signing key and every rotated secret. Move it away and "
                "let clawback make a new one, or restore yours", path=path,
            )
        if info.st_mode & 0o077:
            raise BadInput(
                f"the keyring file {path} is open to group or others (mode "
                f"{stat.S_IMODE(info.st_mode):04o}): treat what it holds as exposed, then "
                f"chmod 600 {path}", path=path,
            )
