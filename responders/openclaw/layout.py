"""What OpenClaw's own files look like, defined once for discovery, the responder and the
lockdown (standard library only: the fleet agent imports it on a bare remote Python).

The names are those of OpenClaw 2026.x and of its earlier names (Clawdbot, Moltbot, Moldbot),
whose state directories and configs it still reads.
"""

from __future__ import annotations

import re
from typing import Any

STATE_DIR_NAMES = (".openclaw", ".clawdbot", ".moldbot", ".moltbot")
CONFIG_NAMES = ("openclaw.json", "clawdbot.json", "moldbot.json", "moltbot.json")
PRODUCT_WORDS = ("openclaw", "clawdbot", "moltbot", "moldbot")
DEFAULT_GATEWAY_PORT = 18789
DEV_GATEWAY_PORT = 19001
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
