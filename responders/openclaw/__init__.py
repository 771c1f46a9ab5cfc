"""OpenClaw, the agent itself, as one responder package.

- ``layout``: what OpenClaw's own files look like (state directories, config names, the gateway
  port): defined once here;
- ``discovery``: every secret the agent can reach (its config, includes, auth stores, dotenv
  files, units, pairing records), as ``Credential`` records; standard library only (the fleet
  agent runs it on a bare remote Python). Its entry points over one module a role:
  ``inventory`` (the results), ``config_load`` (JSON5, ``$include``), ``hinters``,
  ``agent_paths``, ``scan_base`` (a pass's budget, reads and judgement of values), the
  scanners ``scan_config``, ``scan_env``, ``scan_services``, ``scan_text``, then
  ``scan_resolve`` (references, pairing, merging) and ``scan_driver`` (the walk of an install);
- ``keeper``: ``OpenClawKeeper``, what the engine asks of the agent (entry point
  ``clawback.agents``);
- ``responder``: ``OpenClawResponder`` (entry point ``clawback.responders``), a thin
  coordinator over one module per role: ``own_secrets`` (the gateway's own tokens rotated,
  device tokens cleared), ``whatsapp`` (logouts), ``manual_steps``, ``lockdown`` (the action
  ``openclaw.lockdown``) and ``switching`` (a provider key's replacement written where the agent
  reads it, for the drill); they edit files through ``secret_edits``, ``json5_edit`` and
  ``places``, and read ``[providers.openclaw]`` through ``settings``; ``kinds`` names the
  secrets.

Importing the package imports nothing more: the names below load their module on first use, so
the fleet agent can import ``responders.openclaw.discovery`` without pydantic.
"""

from __future__ import annotations

import importlib
from typing import Any

# The package's own names, each from the module of its role.
_NAMES = {
    "OpenClawResponder": "responder",
    "LockdownAction": "lockdown",
    "LockdownParams": "lockdown",
    "LOOPBACK_PROXIES": "lockdown",
    "write_replacement": "switching",
    "switch_blockers": "switching",
    "Replacement": "switching",
    "whatsapp_logout_argv": "whatsapp",
    "file_holds": "secret_edits",
    "is_free_text": "secret_edits",
    "FREE_TEXT_MARKER": "secret_edits",
    "parse_key_path": "json5_edit",
    "KIND_GATEWAY_TOKEN": "kinds",
    "KIND_WHATSAPP": "kinds",
    "ROTATED_KINDS": "kinds",
    "CLEARED_KINDS": "kinds",
    "BackupStore": "responders.backups",
}


def __getattr__(name: str) -> Any:
    # Anything else, a submodule included, is not looked up here: ``from responders.openclaw
    # import discovery`` must import discovery alone, not the responder (and pydantic) first.
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'responders.openclaw' has no attribute {name!r}")
    qualified = module if "." in module else f"responders.openclaw.{module}"
    return getattr(importlib.import_module(qualified), name)
