"""httpx imported without its command-line tool.

``import httpx`` also imports ``httpx._main`` (click, rich, pygments) whenever click is
installed, as it is beside the demo extra's Flask: ~50 ms of CPU in the middle of the revoke
fan-out, for a tool clawback never runs. httpx catches the ImportError of its ``_main`` and
keeps a ``main`` that asks for ``httpx[cli]``; nothing else in it depends on that module.
"""

from __future__ import annotations

import sys


def skip_httpx_cli() -> None:
    """Call before ``import httpx``; after httpx is first imported it changes nothing."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
