"""The HTTP responders' httpx comes without its command-line tool (click, rich, pygments)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
{prepare}
import httpx
client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(204)))
print(json.dumps({{"status": client.get("http://127.0.0.1/x").status_code,
                  "cli": sorted(m for m in ("httpx._main", "rich", "pygments")
                                if sys.modules.get(m) is not None)}}))
"""


def probe(prepare: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(prepare=prepare)],
                         capture_output=True, text=True, check=True, timeout=120)
    return dict(json.loads(out.stdout))


def test_httpx_works_without_importing_its_cli() -> None:
    import importlib.util

    skipped = probe("from responders.kit.httpx_cli import skip_httpx_cli; skip_httpx_cli()")

    assert skipped == {"status": 204, "cli": []}
    if importlib.util.find_spec("click") is not None:  # the demo extra brings it (Flask)
        assert probe("")["cli"] == ["httpx._main", "pygments", "rich"]
