"""clawback's entry points, read from an index while the installed distributions are unchanged.

Reading entry points means importing ``importlib.metadata`` and opening every installed
distribution's metadata: ~10 ms of the panic path before the agent is stopped, spent for the
same answer run after run. This index keeps the ``clawback.*`` groups as ``importlib.metadata``
last answered them, under a signature of what that answer depends on: each ``sys.path`` entry
(as given, and its directory's inode), each ``*.dist-info``/``*.egg-info`` in it with the size,
mtime and inode of its ``entry_points.txt``. A different signature, a finder that can provide
distributions from elsewhere than those entries, or an index that is not clawback's own (0600 in
its 0700 state directory, this user's or root's, not writable by others) or does not parse means
reading the metadata again, never a refusal. The index is written by a run that may write
(``contain`` and ``drill`` when not dry runs: ``remember``), never by a dry run or a command
that only reads.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from clawback.errors import BadInput

INDEX_NAME = "entry-points"
GROUP_PREFIX = "clawback."
MAX_INDEX_BYTES = 1024**2


def index_path() -> Path:
    """Beside the incidents, in clawback's state directory (``$XDG_STATE_HOME/clawback``)."""
    from clawback.incident import state_dir

    return state_dir() / INDEX_NAME


class IndexedEntryPoint:
    """An entry point as ``importlib.metadata`` gave it: name, value (``module:attr``), group."""

    __slots__ = ("group", "name", "value")

    def __init__(self, name: str, value: str, group: str) -> None:
        self.name, self.value, self.group = name, value, group

    @property
    def module(self) -> str:
        return self.value.split(":", 1)[0].strip()

    @property
    def attr(self) -> str:
        # ``module:attr [extras]``: extras name optional dependencies, nothing to load.
        return self.value.partition(":")[2].split("[", 1)[0].strip()

    def load(self) -> Any:
        return functools.reduce(getattr, filter(None, self.attr.split(".")),
                                importlib.import_module(self.module))

    def __repr__(self) -> str:
        return f"IndexedEntryPoint(name={self.name!r}, value={self.value!r}, group={self.group!r})"


def _searches_sys_path(finder: object) -> bool:
    """The standard path finder, or the importlib_metadata backport's copy of it (keyring
    installs it): both find distributions in the sys.path entries the signature covers."""
    from importlib.machinery import PathFinder

    kind = finder if isinstance(finder, type) else type(finder)
    return finder is PathFinder or (kind.__module__, kind.__qualname__) == (
        "importlib_metadata", "MetadataPathFinder")


def _signature() -> list[Any] | None:
    """What ``importlib.metadata``'s answer depends on; None when it cannot be told cheaply."""
    for finder in sys.meta_path:
        if getattr(finder, "find_distributions", None) is not None and not _searches_sys_path(
                finder):
            return None  # distributions from elsewhere: no cheap way to see them change
    parts: list[Any] = []
    for entry in sys.path:
        where = entry or os.getcwd()
        try:
            info = os.stat(where)
        except OSError:
            parts.append([entry, None])
            continue
        if not os.path.isdir(where):
            parts.append([entry, info.st_size, info.st_mtime_ns, info.st_ino])
            continue
        found = []
        try:
            with os.scandir(where) as entries:
                for item in entries:
                    if not item.name.endswith((".dist-info", ".egg-info")):
                        continue
                    try:
                        points = os.stat(os.path.join(item.path, "entry_points.txt"))
                        found.append([item.name, item.inode(), points.st_size,
                                      points.st_mtime_ns, points.st_ino])
                    except OSError:
                        found.append([item.name, item.inode()])
        except OSError:
            return None
        # Not the directory's mtime: every file made there changes it (``python -m`` puts the
        # working directory on sys.path), and the listing above already shows a distribution
        # installed or removed.
        parts.append([entry, where, info.st_ino, sorted(found)])
    return parts


def _read(path: Path) -> dict[str, Any] | None:
    from clawback.trusted_files import read_trusted_file

    try:
        index = json.loads(read_trusted_file(path, what="entry-point index",
                                             limit=MAX_INDEX_BYTES))
    except (BadInput, ValueError):
        return None
    return index if isinstance(index, dict) else None


def _from_metadata() -> dict[str, list[list[str]]]:
    from importlib.metadata import entry_points

    every = entry_points()
    return {group: [[point.name, point.value] for point in every.select(group=group)]
            for group in sorted(every.groups) if group.startswith(GROUP_PREFIX)}


# What the metadata answered and under which signature, until ``remember`` writes it.
_unwritten: dict[str, Any] = {}


@functools.cache
def _groups() -> dict[str, list[list[str]]]:
    path = index_path()
    signature = _signature()
    if signature is not None:
        index = _read(path)
        if index is not None and index.get("signature") == signature:
            groups = index.get("groups")
            if isinstance(groups, dict) and all(
                    isinstance(points, list) and all(
                        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
                        for p in points) for points in groups.values()):
                return groups
    groups = _from_metadata()
    if signature is not None:
        _unwritten.update(path=path, index={"signature": signature, "groups": groups})
    return groups


def remember() -> None:
    """Write the index if this process read the metadata (a run that may write: never a dry
    run, which writes nothing at all). A failure to write only costs the next run time."""
    from responders.kit.private_files import make_private_dir, write_private

    if not _unwritten:
        return
    path, index = _unwritten.pop("path"), _unwritten.pop("index")
    try:
        make_private_dir(path.parent)
        write_private(path, json.dumps(index, sort_keys=True), fsync=False)
    except OSError:
        return


def entry_points(group: str) -> Iterable[IndexedEntryPoint]:
    """The entry points of ``group`` (a ``clawback.*`` group), as ``importlib.metadata``
    gives them, in its order."""
    if not group.startswith(GROUP_PREFIX):
        raise ValueError(f"only clawback's groups are indexed, not {group!r}")
    return [IndexedEntryPoint(name, value, group) for name, value in _groups().get(group, [])]
