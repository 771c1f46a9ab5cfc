"""``clawback demo`` wall time: the whole command, and its contain run, median of 3.

Each run is ``python -m clawback demo --json`` in a fresh temporary directory, as a newcomer runs
it: sandbox, moto, Prism and the provider stand-ins, supervisord, the contain playbook, verify
and the report. "contain" is the span the signed timeline records, from its first entry to its
``close`` entry. Goal (issue 6): the whole demo in under a minute.

    .venv/bin/python bench/demo.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path


def contain_seconds(incident_dir: Path) -> float:
    lines = (incident_dir / "timeline.jsonl").read_text().splitlines()
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    span = datetime.fromisoformat(last["ts"]) - datetime.fromisoformat(first["ts"])
    return span.total_seconds()


def one_run() -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="clawback-bench-demo-") as workdir:
        env = {**os.environ, "TMPDIR": workdir}
        started = time.monotonic()
        finished = subprocess.run(
            [sys.executable, "-m", "clawback", "demo", "--json"],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False,
        )
        whole = time.monotonic() - started
        if finished.returncode != 0:
            sys.exit(f"clawback demo exited {finished.returncode}:\n{finished.stderr[-2000:]}")
        document = json.loads(finished.stdout)
        return whole, contain_seconds(Path(document["incident_dir"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    for index, (whole, contain) in enumerate(runs, 1):
        print(f"run {index}: demo {whole:6.2f} s   contain {contain:6.2f} s")
    whole = statistics.median(r[0] for r in runs)
    contain = statistics.median(r[1] for r in runs)
    verdict = "ok" if whole < 60 else "OVER the 60 s goal"
    print(f"median of {len(runs)}: demo {whole:.2f} s ({verdict}), contain {contain:.2f} s")


if __name__ == "__main__":
    main()
