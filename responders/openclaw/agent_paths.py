"""The agent's tree and its paths as the agent means them (``~`` is the agent's home)."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from responders.agent_files import AgentFiles, owner_of


def agent_tree(user_home: Path, roots: Sequence[Path], uid: int | None) -> AgentFiles:
    """The agent's tree: its home, its state dirs and the temp dirs (see agent_files)."""
    return AgentFiles([user_home, *roots], uid=uid if uid is not None else owner_of(user_home))


def real_dir(path: Path) -> bool:
    """A directory itself, not a link to one (a state dir that is a link was not read)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def expand_user(value: str, user_home: Path) -> Path:
    """``~`` means the agent user's home, not the home of whoever runs clawback."""
    if value == "~":
        return user_home
    if value.startswith("~/"):
        return user_home / value[2:]
    return Path(value)
