"""``clawback demo`` wall time: the whole command, and its contain run, median of 3.

Each run is ``python -m clawback demo --json`` in a fresh temporary directory, as a newcomer runs
it: sandbox, moto, Prism and the provider stand-ins, supervisord, the contain playbook, verify
and the report. "contain" is the span the signed timeline records, from its first entry to its
``close`` entry. Goal (issue 6): the whole demo in under a minute.

``--baseline DIR`` runs another revision's code (a checkout or ``git archive`` of it in DIR, put
first on PYTHONPATH; give it a ``.tools`` link to this tree's, for Prism) interleaved with this
one's, and prints the ratio of the medians: how a change moved the figure, whatever the load.

    .venv/bin/python bench/demo.py [--runs 3] [--baseline DIR]
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


def one_run(code: Path | None = None) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="clawback-bench-demo-") as workdir:
        env = {**os.environ, "TMPDIR": workdir}
        if code is not None:
            env["PYTHONPATH"] = str(code)
        started = time.monotonic()
        finished = subprocess.run(
            [sys.executable, "-m", "clawback", "demo", "--json"],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False,
        )
        whole = time.monotonic() - started
        if finished.returncode != 0:
            sys.exit(f"clawback demo exited {finished.returncode}:\n{finished.stderr[-2000:]}\n"
                     f"{finished.stdout[-3000:]}")
        document = json.loads(finished.stdout)
        return whole, contain_seconds(Path(document["incident_dir"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another revision's tree, to compare")
    args = parser.parse_args()
    trees: dict[str, Path | None] = {"this tree": None}
    if args.baseline is not None:
        trees["baseline"] = args.baseline.resolve()
    runs: dict[str, list[tuple[float, float]]] = {label: [] for label in trees}
    for index in range(1, args.runs + 1):
        for label, code in trees.items():
            whole, contain = one_run(code)
            runs[label].append((whole, contain))
            print(f"run {index} ({label}): demo {whole:6.2f} s   contain {contain:6.2f} s   "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    medians = {label: (statistics.median(r[0] for r in series),
                       statistics.median(r[1] for r in series))
               for label, series in runs.items()}
    for label, (whole, contain) in medians.items():
        verdict = "ok" if whole < 60 else "OVER the 60 s goal"
        print(f"median of {args.runs} ({label}): demo {whole:.2f} s ({verdict}), "
              f"contain {contain:.2f} s")
    if args.baseline is not None:
        now, then = medians["this tree"][1], medians["baseline"][1]
        print(f"contain, this tree against the baseline: {now:.2f} s vs {then:.2f} s = "
              f"{now / then:.2f}×")


if __name__ == "__main__":
    main()
