"""``clawback demo`` wall time: the whole command, and its contain run, median of 3.

Each run is ``python -m clawback demo --json`` in a fresh temporary directory, as a newcomer runs
it: sandbox, moto, Prism and the provider stand-ins, supervisord, the contain playbook, verify
and the report. Goal (issue 6): the whole demo in under a minute.

contain's time is read from its signed timeline, twice (issue 20: contain <= 1.8 s):

- "contained": from the incident's ``open`` entry to its first ``close``, the entry written
  once every step is done and the stop's respawn re-check has its own signed result;
- "+ investigation": to the timeline's last entry, the ``close`` that follows the findings of
  the investigation contain runs on the sealed evidence once the incident is closed.

Each run also prints the CPU time of the whole demo (its process and every process it waited
for: Prism, supervisord, the gateway), which a busy machine disturbs far less than wall time.

``--baseline DIR`` runs another revision's code (a checkout or ``git archive`` of it in DIR, put
first on PYTHONPATH; give it a ``.tools`` link to this tree's, for Prism) interleaved with this
one's, and prints the ratio of the medians: how a change moved the figure, whatever the load.

    .venv/bin/python bench/demo.py [--runs 3] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path


def contain_seconds(incident_dir: Path) -> tuple[float, float]:
    """(to the incident's first close, to the timeline's last entry), in seconds."""
    entries = [json.loads(line)
               for line in (incident_dir / "timeline.jsonl").read_text().splitlines()]
    opened = datetime.fromisoformat(entries[0]["ts"])
    closed = next(e for e in entries if e["action"] == "close")

    def since_open(entry: dict[str, str]) -> float:
        return (datetime.fromisoformat(entry["ts"]) - opened).total_seconds()

    return since_open(closed), since_open(entries[-1])


# the whole demo, contained, with the investigation, the demo's CPU time (seconds each)
Run = tuple[float, float, float, float]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_run(code: Path | None = None) -> Run:
    with tempfile.TemporaryDirectory(prefix="clawback-bench-demo-") as workdir:
        env = {**os.environ, "TMPDIR": workdir}
        if code is not None:
            env["PYTHONPATH"] = str(code)
        started, cpu_before = time.monotonic(), children_cpu()
        finished = subprocess.run(
            [sys.executable, "-m", "clawback", "demo", "--json"],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False,
        )
        whole, cpu = time.monotonic() - started, children_cpu() - cpu_before
        if finished.returncode != 0:
            sys.exit(f"clawback demo exited {finished.returncode}:\n{finished.stderr[-2000:]}\n"
                     f"{finished.stdout[-3000:]}")
        document = json.loads(finished.stdout)
        return (whole, *contain_seconds(Path(document["incident_dir"])), cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another revision's tree, to compare")
    args = parser.parse_args()
    trees: dict[str, Path | None] = {"this tree": None}
    if args.baseline is not None:
        trees["baseline"] = args.baseline.resolve()
    runs: dict[str, list[Run]] = {label: [] for label in trees}
    for index in range(1, args.runs + 1):
        for label, code in trees.items():
            run = one_run(code)
            runs[label].append(run)
            whole, contained, investigated, cpu = run
            print(f"run {index} ({label}): demo {whole:6.2f} s (CPU {cpu:5.2f} s)   contained "
                  f"{contained:5.2f} s   + investigation {investigated:5.2f} s   "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    medians = {label: tuple(statistics.median(r[i] for r in series) for i in range(4))
               for label, series in runs.items()}
    for label, (whole, contained, investigated, cpu) in medians.items():
        verdict = "ok" if whole < 60 else "OVER the 60 s goal"
        print(f"median of {args.runs} ({label}): demo {whole:.2f} s ({verdict}; CPU {cpu:.2f} s), "
              f"contained {contained:.2f} s, with the investigation {investigated:.2f} s (goal "
              f"for contain: 1.8 s)")
    if args.baseline is not None:
        for index, what in ((1, "contained"), (2, "with the investigation"), (3, "demo CPU")):
            now, then = medians["this tree"][index], medians["baseline"][index]
            print(f"{what}, this tree against the baseline: {now:.2f} s vs {then:.2f} s = "
                  f"{now / then:.2f}×")


if __name__ == "__main__":
    main()
