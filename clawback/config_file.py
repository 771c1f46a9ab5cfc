"""Where ``clawback.toml`` is found (standard library only: the panic button finds its config
before it knows whether the config needs validating again, see ``clawback.checked_inputs``)."""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_FILE_NAME = "clawback.toml"


def find_config(explicit: Path | None) -> Path | None:
    """``--config``, then ``./clawback.toml``, then ``$XDG_CONFIG_HOME/clawback/clawback.toml``."""
    if explicit is not None:
        return Path(explicit)
    local = Path.cwd() / CONFIG_FILE_NAME
    if local.is_file():
        return local
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    # The XDG spec says to ignore a relative value.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".config"
    candidate = base / "clawback" / CONFIG_FILE_NAME
    return candidate if candidate.is_file() else None
