"""verify and report on 10,000 and 100,000 entries: wall time and peak RSS, each in a fresh
process (so one run's memory does not hide the next's).

Run: .venv/bin/python bench/verify_report.py [--sizes 10000 100000]   (prints, asserts nothing)

The timeline is a closed incident of revoke intent/result pairs signed with a real key,
written without fsync (the writing is not what is measured).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from clawback.signing import Signer
from clawback.timeline import Timeline

INCIDENT = "2026-12-06T0203Z-bench"
TARGET = {"provider": "aws", "kind": "aws:access_key", "fingerprint": "…WXYZ sha256:0123abcd"}

_MEASURE = """
import resource, sys, time
from pathlib import Path
start = time.perf_counter()
if sys.argv[1] == "verify":
    from clawback.verify import verify_incident
    report = verify_incident(Path(sys.argv[2]))
    assert report.entry_count == int(sys.argv[3]), report.entry_count
else:
    from clawback.report import write_reports
    write_reports(Path(sys.argv[2]), formats=("md", "html", "timesketch"))
elapsed = time.perf_counter() - start
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def build(root: Path, entries: int) -> Path:
    timeline = Timeline.create(
        root / f"n{entries}", INCIDENT, Signer.generate("clawback/bench"), header={},
        durable=False,
    )
    for i in range((entries - 2) // 2):
        target = {**TARGET, "key_id": f"AKIA{i:012d}"}
        timeline.append(step="revoke", action="keys.revoke", phase="intent", target=target)
        timeline.append(step="revoke", action="keys.revoke", phase="result", target=target,
                        outcome="Revoked", detail="access key deleted",
                        extra={"duration_ms": 12})
    timeline.close(manifest_sha256=None)
    return timeline.incident_dir


def measure(kind: str, incident: Path, entries: int) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, kind, str(incident), str(entries)],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            incident = build(Path(tmp), size)
            with open(incident / "timeline.jsonl", "rb") as lines:
                count = sum(1 for _ in lines)
            mb = (incident / "timeline.jsonl").stat().st_size / 1e6
            for kind in ("verify", "report"):
                began = time.perf_counter()
                seconds, rss = measure(kind, incident, count)
                del began
                print(f"{kind:6} {count:>7,} entries ({mb:5.1f} MB): {seconds:6.2f} s, "
                      f"peak RSS {rss:6.1f} MiB")


if __name__ == "__main__":
    main()
