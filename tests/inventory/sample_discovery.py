"""Discovery as the engine runs it, and a tree snapshot to prove discovery is read-only."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from clawback_demo.home import SampleHome
from responders.openclaw.discovery import Inventory, discover

TreeSnapshot = dict[str, tuple[str, int, str]]


def discover_sample(home: SampleHome, *, explicit_state_dirs: bool = True) -> Inventory:
    """Discovery exactly as the engine runs it from ``SampleHome.agent_settings()``."""
    settings = home.agent_settings()
    return discover(
        user_home=Path(settings["user_home"]),
        state_dirs=[Path(p) for p in settings["state_dirs"]] if explicit_state_dirs else None,
        tmp_dirs=[Path(p) for p in settings["tmp_dirs"]],
        system_service_dirs=(),
    )


def snapshot_tree(root: Path) -> TreeSnapshot:
    """Every entry under ``root``: type, permission bits and content hash (times ignored)."""
    entries: TreeSnapshot = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(directory) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                entries[str(path.relative_to(root))] = ("link", 0, os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entries[str(path.relative_to(root))] = ("dir", stat.S_IMODE(info.st_mode), "")
            elif stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                entries[str(path.relative_to(root))] = ("file", stat.S_IMODE(info.st_mode), digest)
            else:
                entries[str(path.relative_to(root))] = ("other", stat.S_IMODE(info.st_mode), "")
    return entries
