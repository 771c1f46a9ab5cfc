"""Investigate streams: its memory does not grow with the evidence.

The same kind of transcript set (``bench/investigate.py`` writes it: pi-coding-agent v3 lines,
tool results up to 16 KB, base64 blobs, two credential values at known places) is sealed at
N and at 4N bytes and investigated in this process under ``tracemalloc``. Holding the input, its
lines or its events would add at least the 3N bytes of difference to the peak; streaming adds
nothing but the bounded caches. The gigabyte itself, its time and its peak RSS are measured by
``bench/investigate.py`` (bench/README.md), never timed here: the suite shares its machine.
"""

from __future__ import annotations

import importlib.util
import random
import shutil
import tracemalloc
from pathlib import Path

from clawback.investigate import investigate_incident
from responders.interface import fingerprint

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
N = 4 * MiB
# 3N more input may move the peak by this much (allocator noise, a longer line, a cache entry):
# an eighth of what keeping the extra input would cost.
MARGIN = 3 * N // 8


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_investigate",
                                                  REPO / "bench" / "investigate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _peak(root: Path, size: int) -> tuple[int, dict[str, object]]:
    bench = _bench()
    values = bench.secrets(random.Random(3))
    home = root / "home"
    written = bench.write_transcripts(home / ".openclaw" / "agents" / "main" / "sessions",
                                      size, values)
    assert written >= size
    incident = bench.seal_incident(root, home, values)
    shutil.rmtree(home)  # what is read is the sealed evidence
    tracemalloc.start()
    try:
        document = investigate_incident(incident).document
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert document["analysed"]["bytes"] >= size
    assert fingerprint(values["github"]) in [c["fingerprint"] for c in document["credentials"]
                                             if c["sent"]]
    assert fingerprint(values["openai"]) in [c["fingerprint"] for c in document["credentials"]
                                             if c["status"] == "exposed"]
    return peak, document


def test_four_times_the_transcripts_take_no_more_memory(tmp_path: Path) -> None:
    small_peak, small = _peak(tmp_path / "n", N)
    large_peak, large = _peak(tmp_path / "4n", 4 * N)
    assert large["summary"]["events"] > 3 * small["summary"]["events"]
    assert large_peak < small_peak + MARGIN, (small_peak, large_peak)
