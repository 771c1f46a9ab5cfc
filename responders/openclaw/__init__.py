"""OpenClaw, the agent itself, as one responder package.

- ``layout``: what OpenClaw's own files look like (state directories, config names, the gateway
  port, credential kinds): defined once here;
- ``discovery``: every secret the agent can reach (its config, includes, auth stores, dotenv
  files, units, pairing records), as ``Credential`` records; standard library only (the fleet
  agent runs it on a bare remote Python);
- ``responder``: ``OpenClawResponder`` (gateway token, paired devices, sessions), the config
  lockdown, and writing a provider key's replacement where the agent reads it (drill).

Importing the package imports nothing more: the names below load their module on first use, so
the fleet agent can import ``responders.openclaw.discovery`` without pydantic.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    module = importlib.import_module("responders.openclaw.responder")
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module 'responders.openclaw' has no attribute {name!r}") from None
