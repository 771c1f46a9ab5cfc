"""The agent's files, touched so that the agent cannot steer what clawback does to them.

clawback runs as root; the agent runs as another user and has been compromised. Everything under
its home, its state dirs and the temp dirs belongs to the attacker, who can change it *while*
clawback runs: plant a link, swap a file or a directory for a link, a FIFO or ``/dev/zero``, grow
a file to gigabytes. Discovery, evidence collection and the OpenClaw responder reach those files
only through :class:`AgentFiles`, which keeps these rules:

* **No link is followed inside the agent's tree.** Every path is walked one component at a time
  by directory descriptors opened with ``O_NOFOLLOW``. Above the agent's roots (``/home``,
  ``/tmp``) a link is followed only when root or clawback's own user owns it (an admin's
  ``/home -> /srv/home``); at a root or below it, never: the link is reported with its target
  and left alone. Each step holds the directory it reached, so swapping any component for a
  link after the check sends nothing elsewhere. (``openat2`` with ``RESOLVE_BENEATH`` would do
  the walk in one call; the descriptor walk gives the same guarantee on every POSIX kernel and
  on a fleet host's bare Python.)
* **Reads never block and are never unbounded**: ``O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_NOCTTY``,
  then ``fstat`` must say regular file (a FIFO, a device, a socket is refused at once), at most
  ``limit`` bytes are read, and :class:`FileRead` says whether that was the whole file: a caller
  that needed all of it must say it could not do its job, not claim it did.
* **What the agent could not read is not the agent's.** With the agent's uid known, a file
  counts only if that uid could read it (owner, group and other bits along the path; ACLs are
  not consulted): a path the agent names (a ``tokenFile``, ``EnvironmentFile=``,
  ``OPENCLAW_CONFIG_PATH``) can't make clawback read root's own secrets as if they were the
  agent's.
* **Writes** happen only strictly inside a root, over a regular file with one link owned by the
  agent (or root) that is still the file the caller read (device, inode, size, mtime): a
  temporary file in the same directory (created ``O_EXCL|O_NOFOLLOW`` through the directory's
  descriptor), ``fsync``, owner and mode set on the descriptor, ``renameat`` over the name,
  ``fsync`` of the directory. A file that holds secrets ends ``0600`` when the agent owns it.
* **Deletes** are ``unlinkat`` on the directory's descriptor, of regular files only; ``rmdir``
  of empty directories only.

Refusals raise :class:`UnsafeFile`, an ``OSError`` whose ``strerror`` says what was found and
why it was left alone, so callers that already report ``OSError`` report these too.

Why not do the edits in a child dropped to the agent's uid: the walk above already gives each
operation the guarantee such a child would (nothing outside the tree, nothing through a link),
it works when the agent's uid is unknown or the file is root's own (a unit written by root),
and it needs no second process per edit on the panic path. What is the agent's own code (the
``openclaw`` CLI) does run as the agent.

Standard library only: the fleet agent packs this module for hosts with a bare Python.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# O_PATH opens a directory for walking without needing read permission on it (Linux).
_WALK_FLAGS = (
    getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
)
_LIST_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_READ_FLAGS = (
    os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | os.O_CLOEXEC
)
_NOATIME = getattr(os, "O_NOATIME", 0)
# Links followed while resolving one path above the agent's roots (the kernel's own limit).
MAX_LINK_HOPS = 40
# Entries returned for one directory: a directory the agent filled with millions of names
# must not hold clawback up.
MAX_DIR_ENTRIES = 100_000
READ_CHUNK = 1 << 20
# The biggest of the agent's files clawback reads whole to rewrite; a bigger one is reported
# for the operator to edit by hand.
MAX_EDITABLE_BYTES = 64 * 1024 * 1024


class UnsafeFile(OSError):
    """clawback left a path alone: a link, not a regular file or directory, out of reach of
    the agent, or changed since it was read. ``strerror`` says which, in words."""

    def __init__(self, path: str, reason: str, code: int = errno.EPERM) -> None:
        super().__init__(code, reason, path)


@dataclass(frozen=True)
class FileRead:
    """Up to ``limit`` bytes of a regular file; ``complete`` when that was all of it."""

    data: bytes = field(repr=False)  # may hold secrets
    size: int
    complete: bool
    stat: os.stat_result = field(repr=False)


@dataclass(frozen=True)
class DirEntry:
    """One name in a directory, with the entry's own ``lstat`` (a link is a link)."""

    name: str
    path: str
    stat: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.stat.st_mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.stat.st_mode)

    @property
    def is_link(self) -> bool:
        return stat.S_ISLNK(self.stat.st_mode)


def kind_of(mode: int) -> str:
    """What a file is, in words (for reasons a person reads)."""
    for test, name in (
        (stat.S_ISREG, "regular file"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISLNK, "symbolic link"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "special file"


def _parts(path: str) -> list[str]:
    """The components of an absolute, lexically normalised path."""
    normal = os.path.normpath(os.path.join("/", os.fspath(path)))
    return [p for p in normal.split("/") if p]


def _join(parts: Iterable[str]) -> str:
    return "/" + "/".join(parts)


def _strictly_under(parts: list[str], root: list[str]) -> bool:
    return len(parts) > len(root) and parts[: len(root)] == root


def _under_or_at(parts: list[str], root: list[str]) -> bool:
    return len(parts) >= len(root) and parts[: len(root)] == root


def _agent_groups(uid: int) -> frozenset[int]:
    try:
        import pwd

        entry = pwd.getpwuid(uid)
    except (ImportError, KeyError):
        return frozenset()
    try:
        return frozenset(os.getgrouplist(entry.pw_name, entry.pw_gid))
    except (AttributeError, OSError):
        return frozenset({entry.pw_gid})


class AgentFiles:
    """Read, list, rewrite and delete under the agent's ``roots`` (see the module docstring).

    ``uid`` is the agent's user: with it, files it could not read are refused, and rewritten
    files holding secrets end 0600 when it owns them. Holds a descriptor per root once used:
    ``close()`` (or ``with``) releases them.
    """

    def __init__(self, roots: Iterable[str | os.PathLike[str]], *, uid: int | None = None,
                 gids: Iterable[int] | None = None) -> None:
        unique: dict[tuple[str, ...], list[str]] = {}
        for root in roots:
            parts = _parts(os.fspath(root))
            unique.setdefault(tuple(parts), parts)
        self.roots: tuple[str, ...] = tuple(_join(p) for p in unique.values())
        self._root_parts = list(unique.values())
        self.uid = uid
        self.gids = frozenset(gids) if gids is not None else (
            _agent_groups(uid) if uid is not None else frozenset()
        )
        self._euid = os.geteuid()
        # Links clawback may follow above the roots: made by root or by whoever runs it.
        self._trusted_link_owners = {0, self._euid}
        self._root_fds: dict[str, int] = {}
        self._real_roots: list[list[str]] = []
        self._lock = threading.Lock()

    @classmethod
    def for_agent(cls, agent: Mapping[str, Any]) -> AgentFiles:
        """From ``[agent]`` settings: ``user_home``, ``state_dirs``, ``tmp_dirs``, ``uid``.

        The uid defaults to the owner of ``user_home``.
        """
        roots: list[str] = []
        home = agent.get("user_home")
        if home:
            roots.append(os.path.expanduser(str(home)))
        roots += [os.path.expanduser(str(p)) for p in agent.get("state_dirs") or ()]
        roots += [str(p) for p in agent.get("tmp_dirs") or ("/tmp",)]
        uid = agent.get("uid")
        if uid is None and home:
            uid = owner_of(os.path.expanduser(str(home)))
        return cls(roots, uid=uid if isinstance(uid, int) else None)

    @classmethod
    def for_settings(cls, settings: Mapping[str, Any]) -> AgentFiles:
        """The agent's tree as discovery sees it, from the whole config: its ``[agent]``
        table, with ``user_home`` defaulting to the invoking user's home (as discovery's)."""
        agent = dict(settings.get("agent") or {})
        if not agent.get("user_home"):
            agent["user_home"] = str(Path.home())
        return cls.for_agent(agent)

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            fds, self._root_fds = list(self._root_fds.values()), {}
        for fd in fds:
            os.close(fd)

    def __enter__(self) -> AgentFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        for fd in getattr(self, "_root_fds", {}).values():
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- where a path is ---------------------------------------------------------------------

    def inside(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` is at or below one of the agent's roots (lexically)."""
        parts = _parts(os.fspath(path))
        return any(_under_or_at(parts, root) for root in self._root_parts)

    def _outermost_root(self, parts: list[str]) -> list[str] | None:
        found = [r for r in self._root_parts if _under_or_at(parts, r)]
        return min(found, key=len) if found else None

    def _in_agent_tree(self, parts: list[str]) -> bool:
        """Strictly below a root, as given or as resolved: no link there is followed."""
        return any(_strictly_under(parts, r) for r in [*self._root_parts, *self._real_roots])

    # -- walking -----------------------------------------------------------------------------

    def _root_fd(self, root: list[str]) -> int:
        key = _join(root)
        with self._lock:
            fd = self._root_fds.get(key)
            if fd is not None:
                return fd
        fd, real = self._walk(root, resolving_root=True)
        with self._lock:
            if key in self._root_fds:  # another thread got there first
                os.close(fd)
                return self._root_fds[key]
            self._root_fds[key] = fd
            self._real_roots.append(real)
            return fd

    def _walk(self, parts: list[str], *, resolving_root: bool = False,
              reach: str | None = None) -> tuple[int, list[str]]:
        """A walk descriptor on the directory ``parts`` and its real path, from ``/``.

        Links are followed only when their owner is trusted and they are not inside the
        agent's tree (a root itself may be an admin's link; never anything below it). With
        ``reach`` (the path shown in errors), every directory passed must be searchable by the
        agent.
        """
        if not resolving_root:
            self._resolve_roots()
        fd = os.open("/", _WALK_FLAGS)
        real: list[str] = []
        pending = list(parts)
        hops = 0
        try:
            while pending:
                if reach is not None and not self._agent_may(os.fstat(fd), 1):
                    raise UnsafeFile(reach, f"the agent (uid {self.uid}) cannot reach "
                                     f"{_join(real)}", errno.EACCES)
                name = pending.pop(0)
                if name in ("", "."):
                    continue
                if name == "..":
                    parent = os.open("..", _WALK_FLAGS, dir_fd=fd)
                    os.close(fd)
                    fd = parent
                    real = real[:-1]
                    continue
                try:
                    child = os.open(name, _WALK_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    here = _join([*real, name])
                    info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if not stat.S_ISLNK(info.st_mode):
                        raise UnsafeFile(here, f"a {kind_of(info.st_mode)}, not a directory",
                                         errno.ENOTDIR) from None
                    target = os.readlink(name, dir_fd=fd)
                    inside = not resolving_root and self._in_agent_tree([*real, name])
                    if inside or info.st_uid not in self._trusted_link_owners:
                        raise UnsafeFile(
                            here, f"a symbolic link to {target}: clawback does not follow links "
                            "the agent could have made", errno.ELOOP,
                        ) from None
                    hops += 1
                    if hops > MAX_LINK_HOPS:
                        raise UnsafeFile(here, "too many levels of symbolic links",
                                         errno.ELOOP) from None
                    if target.startswith("/"):
                        os.close(fd)
                        fd = os.open("/", _WALK_FLAGS)
                        real = []
                    pending = [p for p in target.split("/") if p] + pending
                    continue
                os.close(fd)
                fd = child
                real.append(name)
            if reach is not None and not self._agent_may(os.fstat(fd), 1):
                raise UnsafeFile(reach, f"the agent (uid {self.uid}) cannot reach "
                                 f"{_join(real)}", errno.EACCES)
        except BaseException:
            os.close(fd)
            raise
        return fd, real

    def _resolve_roots(self) -> None:
        """Open every root once, so links leading into one (by its real path) are known."""
        if len(self._root_fds) == len(self._root_parts):
            return
        for root in self._root_parts:
            try:
                self._root_fd(root)
            except OSError:
                continue  # missing or refused: paths under it fail on their own

    def _parent(self, path: str | os.PathLike[str], *, reach: bool = False
                ) -> tuple[int, str, list[str], bool]:
        """(walk fd of the parent directory, final name, lexical parts, inside the tree).

        ``reach``: outside the agent's roots, the agent must be able to search every directory
        on the way. The caller closes the descriptor.
        """
        shown = os.fspath(path)
        parts = _parts(shown)
        if not parts:
            raise UnsafeFile("/", "the root directory itself", errno.EISDIR)
        root = self._outermost_root(parts)
        if root is None or len(parts) == len(root):
            checking = shown if reach and root is None and self._checks_agent else None
            fd, _ = self._walk(parts[:-1], reach=checking)
            inside = root is not None
        else:
            base = os.dup(self._root_fd(root))
            fd = self._descend(base, root, parts[len(root):-1])
            inside = True
        return fd, parts[-1], parts, inside

    def _descend(self, fd: int, above: list[str], names: list[str]) -> int:
        """From ``fd`` (consumed), down ``names`` without following anything."""
        here = list(above)
        try:
            for name in names:
                here.append(name)
                try:
                    child = os.open(name, _WALK_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise self._refusal(fd, name, _join(here)) from None
                    raise
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _refusal(self, dir_fd: int, name: str, shown: str, *, wanted: str = "directory",
                 info: os.stat_result | None = None) -> UnsafeFile:
        """Why ``name`` could not be used as the ``wanted`` kind of file."""
        if info is None:
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError as exc:
                return UnsafeFile(shown, exc.strerror or "cannot be examined", exc.errno or 0)
        if stat.S_ISLNK(info.st_mode):
            try:
                target = os.readlink(name, dir_fd=dir_fd)
            except OSError:
                target = "(unreadable)"
            return UnsafeFile(shown, f"a symbolic link to {target}: not followed in the "
                              "agent's files", errno.ELOOP)
        code = errno.ENOTDIR if wanted == "directory" else errno.EPERM
        return UnsafeFile(shown, f"a {kind_of(info.st_mode)}, not a {wanted}", code)

    def _outside_target(self, path: str | os.PathLike[str]) -> str:
        """``path`` with a trusted link at its end resolved, when it lies outside every root
        (``/etc/systemd/system/x.service -> /lib/systemd/system/x.service``); inside the agent's
        tree a path is always itself."""
        current = os.fspath(path)
        for _ in range(MAX_LINK_HOPS):
            parts = _parts(current)
            if not parts or self._outermost_root(parts) is not None:
                return current
            fd, real = self._walk(parts[:-1])
            try:
                info = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
                if not stat.S_ISLNK(info.st_mode) or info.st_uid not in self._trusted_link_owners:
                    return current
                target = os.readlink(parts[-1], dir_fd=fd)
            except OSError:
                return current
            finally:
                os.close(fd)
            if self._in_agent_tree([*real, parts[-1]]):
                return current
            current = os.path.normpath(os.path.join(_join(real), target))
        raise UnsafeFile(os.fspath(path), "too many levels of symbolic links", errno.ELOOP)

    def _dir_fd(self, path: str | os.PathLike[str], flags: int = _WALK_FLAGS) -> int:
        parts = _parts(os.fspath(path))
        if parts in self._root_parts:
            # A root may be an admin's link: it was opened by the trusted walk.
            return os.open(".", flags & ~os.O_NOFOLLOW, dir_fd=self._root_fd(parts))
        parent, name, _, _ = self._parent(path)
        try:
            try:
                return os.open(name, flags, dir_fd=parent)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise self._refusal(parent, name, os.fspath(path)) from None
                raise
        finally:
            os.close(parent)

    # -- permissions -------------------------------------------------------------------------

    @property
    def _checks_agent(self) -> bool:
        """Whether the agent's permissions differ from clawback's (otherwise nothing to check)."""
        return self.uid is not None and self.uid not in (0, self._euid)

    def _agent_may(self, info: os.stat_result, want: int) -> bool:
        """Whether the agent's uid has ``want`` (4 read, 1 search) on a file, by its mode."""
        if not self._checks_agent:
            return True
        mode = info.st_mode
        if info.st_uid == self.uid:
            bits = mode >> 6
        elif info.st_gid in self.gids:
            bits = mode >> 3
        else:
            bits = mode
        return bool(bits & want)

    # -- reading -----------------------------------------------------------------------------

    def open_regular(self, path: str | os.PathLike[str]) -> tuple[int, os.stat_result]:
        """A read-only descriptor on the regular file at ``path`` (never a link, never
        blocking) and its ``fstat``; the caller closes it. Raises FileNotFoundError,
        PermissionError or UnsafeFile."""
        shown = os.fspath(path)
        parent, name, _, _ = self._parent(self._outside_target(shown), reach=True)
        try:
            try:
                fd = os.open(name, _READ_FLAGS | _NOATIME, dir_fd=parent)
            except PermissionError:
                # O_NOATIME is for the file's owner (or root); a reader may still read.
                fd = os.open(name, _READ_FLAGS, dir_fd=parent)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.EACCES):
                    raise
                # A link (ELOOP), a socket (ENXIO), ...: say what it is.
                refusal = self._refusal(parent, name, shown, wanted="regular file")
                if refusal.errno == errno.ENOENT:
                    raise
                raise refusal from None
        finally:
            os.close(parent)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise UnsafeFile(shown, f"a {kind_of(info.st_mode)}, not a regular file")
            if not self._agent_may(info, 4):
                raise UnsafeFile(
                    shown, f"the agent (uid {self.uid}) cannot read it (owner uid "
                    f"{info.st_uid}, mode {stat.S_IMODE(info.st_mode):04o}): not the agent's",
                    errno.EACCES,
                )
        except BaseException:
            os.close(fd)
            raise
        return fd, info

    def read(self, path: str | os.PathLike[str], limit: int, *, tail: bool = False) -> FileRead:
        """At most ``limit`` bytes of a regular file (its end with ``tail``)."""
        fd, info = self.open_regular(path)
        try:
            if tail and info.st_size > limit:
                os.lseek(fd, info.st_size - limit, os.SEEK_SET)
            chunks: list[bytes] = []
            remaining = limit
            while remaining > 0:
                chunk = os.read(fd, min(remaining, READ_CHUNK))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            data = b"".join(chunks)
            # Whole only up to the end of the file: a file that grows while read is not whole.
            at_end = remaining > 0 or not os.read(fd, 1)
            complete = at_end and not (tail and info.st_size > limit)
            return FileRead(data=data, size=max(info.st_size, len(data)), complete=complete,
                            stat=info)
        finally:
            os.close(fd)

    def lstat(self, path: str | os.PathLike[str]) -> os.stat_result:
        """The entry at ``path`` itself: in the agent's tree a link is a link; a root, or a
        path outside every root, is what a trusted link leads to. Raises OSError."""
        parts = _parts(os.fspath(path))
        if parts in self._root_parts:
            return os.fstat(self._root_fd(parts))
        parent, name, _, _ = self._parent(self._outside_target(path))
        try:
            return os.stat(name, dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(parent)

    def kind(self, path: str | os.PathLike[str]) -> str | None:
        """``kind_of`` the entry at ``path``, or None when it is missing or unreachable."""
        try:
            return kind_of(self.lstat(path).st_mode)
        except OSError:
            return None

    def is_dir(self, path: str | os.PathLike[str]) -> bool:
        return self.kind(path) == "directory"

    def is_file(self, path: str | os.PathLike[str]) -> bool:
        return self.kind(path) == "regular file"

    def exists(self, path: str | os.PathLike[str]) -> bool:
        return self.kind(path) is not None

    def readlink(self, path: str | os.PathLike[str]) -> str:
        parent, name, _, _ = self._parent(path)
        try:
            return os.readlink(name, dir_fd=parent)
        finally:
            os.close(parent)

    def scandir(self, path: str | os.PathLike[str], *,
                limit: int = MAX_DIR_ENTRIES) -> list[DirEntry]:
        """The entries of the directory at ``path``, sorted by name, each with its ``lstat``.

        Raises OSError (UnsafeFile for a link or a non-directory) when it cannot be listed.
        """
        shown = os.fspath(path)
        fd = self._dir_fd(self._outside_target(shown), _LIST_FLAGS)
        try:
            names = sorted(os.listdir(fd))[:limit]
            entries = []
            for name in names:
                try:
                    info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except OSError:
                    continue  # gone since it was listed
                entries.append(DirEntry(name, os.path.join(shown, name), info))
            return entries
        finally:
            os.close(fd)

    # -- writing -----------------------------------------------------------------------------

    def _writable_parent(self, path: str | os.PathLike[str]) -> tuple[int, str, str]:
        shown = os.fspath(path)
        parent, name, parts, inside = self._parent(shown)
        root = self._outermost_root(parts)
        if not inside or root is None or len(parts) == len(root):
            os.close(parent)
            raise UnsafeFile(shown, "outside the agent's own files (home, state dirs, temp "
                             "dirs): clawback changes nothing there", errno.EACCES)
        return parent, name, shown

    def _check_target(self, parent: int, name: str, shown: str,
                      expect: os.stat_result | None) -> os.stat_result:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode):
            raise self._refusal(parent, name, shown, wanted="regular file", info=info)
        if info.st_nlink != 1:
            raise UnsafeFile(shown, f"has {info.st_nlink} hard links: rewriting it would "
                             "leave the other names with the old content")
        if self.uid is not None and info.st_uid not in (self.uid, 0):
            raise UnsafeFile(shown, f"owned by uid {info.st_uid}, neither the agent "
                             f"(uid {self.uid}) nor root")
        if expect is not None and (
            (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
            != (expect.st_dev, expect.st_ino, expect.st_size, expect.st_mtime_ns)
        ):
            raise UnsafeFile(shown, "changed since clawback read it: nothing written",
                             errno.EAGAIN)
        return info

    def replace(self, path: str | os.PathLike[str], data: bytes, *,
                expect: os.stat_result | None = None, secret: bool = True) -> None:
        """Atomically give the agent's regular file at ``path`` new content (see the module
        docstring). ``expect`` is the ``stat`` of the version the caller read and edited."""
        parent, name, shown = self._writable_parent(path)
        temporary = f".{name}.clawback-{os.getpid()}-{threading.get_ident()}"
        created = False
        try:
            info = self._check_target(parent, name, shown, expect)
            mode = stat.S_IMODE(info.st_mode)
            if secret and (self.uid is None or info.st_uid == self.uid):
                mode &= 0o600
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600, dir_fd=parent)
            created = True
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
                if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
                    os.fchown(fd, info.st_uid, info.st_gid)
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
            # The name may have been swapped since the check: renameat replaces the entry
            # itself (a link is replaced, never followed).
            os.rename(temporary, name, src_dir_fd=parent, dst_dir_fd=parent)
            created = False
            _fsync_dir(parent)
        finally:
            if created:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=parent)
            os.close(parent)

    def unlink(self, path: str | os.PathLike[str]) -> None:
        """Delete the agent's regular file at ``path`` (a link or anything else is refused)."""
        parent, name, shown = self._writable_parent(path)
        try:
            info = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode):
                raise self._refusal(parent, name, shown, wanted="regular file", info=info)
            # Swapped for a link since? unlinkat removes the link itself, never its target.
            os.unlink(name, dir_fd=parent)
            _fsync_dir(parent)
        finally:
            os.close(parent)

    def rmdir(self, path: str | os.PathLike[str]) -> None:
        """Remove the agent's empty directory at ``path``."""
        parent, name, _ = self._writable_parent(path)
        try:
            os.rmdir(name, dir_fd=parent)
        finally:
            os.close(parent)


def _fsync_dir(fd: int) -> None:
    """fsync a directory given a walk descriptor (an O_PATH one cannot be synced itself)."""
    try:
        os.fsync(fd)
    except OSError:
        synced = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        try:
            os.fsync(synced)
        finally:
            os.close(synced)


def owner_of(path: str | os.PathLike[str]) -> int | None:
    """The uid owning ``path`` itself (not a link's target), or None."""
    try:
        return os.lstat(path).st_uid
    except OSError:
        return None


def as_path(value: str | os.PathLike[str]) -> Path:
    return Path(os.fspath(value))
