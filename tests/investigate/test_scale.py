"""A 1 GiB transcript set: investigate streams it with bounded memory.

The set is generated (``bench/investigate.py`` writes it: pi-coding-agent v3 lines with tool
results up to 16 KB, base64 blobs, and two credential values at known places), sealed as
contain seals evidence, and investigated in a child process whose peak RSS is read from the
kernel. Memory is asserted, never time: the suite shares its machine.
"""

from __future__ import annotations

import importlib.util
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

from responders.interface import fingerprint

REPO = Path(__file__).resolve().parents[2]
GiB = 1024**3
# Decompression, hashing, the event spool's cache (16 MB), buffers of a 32 MB line cap: the
# investigation's peak stays far below what holding 1 GiB (or its events) would take.
PEAK_RSS_LIMIT_MIB = 200


def _bench() -> object:
    spec = importlib.util.spec_from_file_location("bench_investigate",
                                                  REPO / "bench" / "investigate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_gigabyte_of_transcripts_is_investigated_in_bounded_memory(tmp_path: Path) -> None:
    bench = _bench()
    values = bench.secrets(random.Random(3))  # type: ignore[attr-defined]
    home = tmp_path / "home"
    written = bench.write_transcripts(  # type: ignore[attr-defined]
        home / ".openclaw" / "agents" / "main" / "sessions", GiB, values)
    assert written >= GiB
    incident = bench.seal_incident(tmp_path, home, values)  # type: ignore[attr-defined]
    shutil.rmtree(home)
    done = subprocess.run([sys.executable, "-c", bench.CHILD, "investigate", str(incident)],  # type: ignore[attr-defined]
                          capture_output=True, text=True, check=False, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bytes"] >= GiB
    assert result["peak_rss_kib"] / 1024 < PEAK_RSS_LIMIT_MIB, result
    assert fingerprint(values["github"]) in result["sent"]
    assert fingerprint(values["openai"]) in result["exposed"]
    assert fingerprint(values["gateway"]) not in result["exposed"]
    assert result["events"] > 100_000
