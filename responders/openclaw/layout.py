"""What OpenClaw's own files look like, defined once for discovery, the responder and the
lockdown, and how its gateway shows on a host (``HOST_FOOTPRINT``, which host code gets through
``AgentKeeper.footprint``). Standard library only: the fleet agent imports it on a bare remote
Python.

The names are those of OpenClaw 2026.x and of its earlier names (Clawdbot, Moltbot, Moldbot),
whose state directories and configs it still reads.
"""

from __future__ import annotations

import re
from typing import Any

from responders.interface import AgentFootprint

STATE_DIR_NAMES = (".openclaw", ".clawdbot", ".moldbot", ".moltbot")
CONFIG_NAMES = ("openclaw.json", "clawdbot.json", "moldbot.json", "moltbot.json")
PRODUCT_WORDS = ("openclaw", "clawdbot", "moltbot", "moldbot")
DEFAULT_GATEWAY_PORT = 18789
DEV_GATEWAY_PORT = 19001

# How the gateway shows on a host, for the host code that stops and collects it (it names no
# agent: ``AgentKeeper.footprint``). Measured on the real 2026.2.26 gateway from npm:
# * ``openclaw gateway`` is two processes: the CLI titles itself ``openclaw`` (its cmdline
#   becomes that word) and waits; its child titles itself ``openclaw-gateway`` (the kernel's
#   15-byte ``comm`` is ``openclaw-gatewa``). ``node …/openclaw/dist/index.js gateway`` is
#   the untitled form (older versions, or the moment before the title is set).
# * Its lock is ``$TMPDIR/openclaw-<uid>/gateway.<8 hex>.lock``; its rolling logs are in
#   ``$TMPDIR/openclaw/`` (``/tmp/clawdbot/`` before the rename).
# * ``openclaw gateway install`` writes ``~/.config/systemd/user/openclaw-gateway.service``
#   (``openclaw-gateway-<profile>.service`` for a profile); launchd ``ai.openclaw.gateway``
#   (``ai.openclaw.node`` is the paired-node host, not the gateway).
HOST_FOOTPRINT = AgentFootprint(
    product="OpenClaw",
    command="openclaw",
    packages=("openclaw", "clawdbot", "moltbot"),
    wrapper_scripts=("openclaw.mjs", "openclaw.js"),
    gateway_titles=("openclaw-gateway", "clawdbot-gateway", "moltbot-gateway"),
    gateway_argument="gateway",
    gateway_port=DEFAULT_GATEWAY_PORT,
    service_name="openclaw-gateway",
    launchd_label="ai.openclaw.gateway",
    unit_pattern=(
        r"^(?:openclaw-gateway(?:-[A-Za-z0-9_.@-]+)?|clawdbot-gateway|moltbot-gateway)\.service$"
    ),
    unit_globs=("openclaw-gateway*.service*", "clawdbot-gateway*.service*",
                "moltbot-gateway*.service*"),
    launchd_pattern=(
        r"^(?:ai\.openclaw\.(?!node$)[A-Za-z0-9_.-]+|com\.clawdbot\.gateway|bot\.molt\.gateway)$"
    ),
    launchd_prefixes=("ai.openclaw.", "com.openclaw.", "bot.molt.", "com.clawdbot."),
    state_dir_patterns=(".openclaw*", ".clawdbot", ".moldbot", ".moltbot"),
    config_names=CONFIG_NAMES,
    lock_dir_prefix="openclaw-",
    lock_pattern="gateway.*.lock",
    tmp_log_dirs=(("openclaw", "openclaw-*.log"), ("clawdbot", "clawdbot-*.log")),
    state_files=(("state", "openclaw.sqlite*"), ("agents", "*", "agent", "openclaw-agent.sqlite*")),
    workspace_trees=("memory", ".openclaw"),
    looked_for=(
        "systemd units openclaw-gateway[-<profile>].service (system and --user; legacy "
        "clawdbot-/moltbot-gateway), launchd ai.openclaw.gateway, docker/compose "
        "openclaw-gateway, supervisord parents, lock files $TMPDIR/openclaw-<uid>/gateway.*.lock, "
        "process title openclaw-gateway, a listener on the gateway port"
    ),
)
# Discovery's location for a secret found only in the environment mapping, not in a file.
ENVIRONMENT_LOCATION = "(environment)"


class Json5Error(Exception):
    """A JSON5 parse failure that carries a position only: the library's message and arguments
    may quote the document's values (secrets)."""

    def __init__(self, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}")
        self.line = line
        self.column = column


def decode_json5(text: str) -> Any:
    """Parse OpenClaw's JSON5 (pyjson5, imported here so a plain JSON path never loads it)."""
    import pyjson5

    try:
        return pyjson5.decode(text)
    except pyjson5.Json5Exception as exc:
        # The exception's args hold the partial parse result (secret values!): keep only the
        # offset from its message and drop the exception itself.
        match = re.search(r"near (\d+)", str(exc.args[0]) if exc.args else "")
        offset = int(match.group(1)) if match else 0
    line, column = line_and_column(text, offset)
    raise Json5Error(line, column)


def line_and_column(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column
