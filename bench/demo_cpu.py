"""CPU time of the demo's own process while contain runs: what clawback spends, the stand-ins aside.

``bench/demo.py`` times contain from its signed timeline and counts the CPU of every process the
demo started; on a shared machine the first is noisy and the second includes the providers'
stand-ins, whose CPU is no part of clawback's in a real incident. This script runs
``clawback demo --json`` with ``clawback.contain.run`` wrapped so that the demo's process prints
its CPU time (every thread: ``time.process_time``) and the wall time of that one call. Where the
stand-ins still run inside the demo's process (a baseline before issue 20's change), their
server threads are in the figure; where they run apart, they are not.

``--baseline DIR`` runs another revision's code (a checkout or ``git archive`` in DIR, first on
PYTHONPATH, with a ``.tools`` link for Prism) interleaved with this tree's, and prints the
ratio of the medians.

    .venv/bin/python bench/demo_cpu.py [--runs 4] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

MARK = "CLAWBACK_BENCH_CONTAIN"
# Run as ``python -c``: wraps contain's run() and then starts the command line as the demo does.
WRAPPER = f"""
import sys, time
import clawback.contain as contain
real_run = contain.run
def timed_run(*args, **kwargs):
    cpu, wall = time.process_time(), time.monotonic()
    try:
        return real_run(*args, **kwargs)
    finally:
        print("{MARK}", time.process_time() - cpu, time.monotonic() - wall, file=sys.stderr)
contain.run = timed_run
sys.argv = ["clawback", "demo", "--json"]
from clawback.cli import main
main()
"""


def one_run(code: Path | None) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of contain's run() in the demo's process."""
    with tempfile.TemporaryDirectory(prefix="clawback-bench-demo-cpu-") as workdir:
        env = {**os.environ, "TMPDIR": workdir}
        if code is not None:
            env["PYTHONPATH"] = str(code)
        finished = subprocess.run(
            [sys.executable, "-c", WRAPPER], cwd=workdir, env=env, capture_output=True,
            text=True, timeout=300, check=False,
        )
        marked = [line for line in finished.stderr.splitlines() if line.startswith(MARK)]
        if finished.returncode != 0 or not marked:
            sys.exit(f"clawback demo exited {finished.returncode}:\n{finished.stderr[-2000:]}")
        cpu, wall = (float(field) for field in marked[-1].split()[1:])
        return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--baseline", type=Path, help="another revision's tree, to compare")
    args = parser.parse_args()
    trees: dict[str, Path | None] = {"this tree": None}
    if args.baseline is not None:
        trees["baseline"] = args.baseline.resolve()
    runs: dict[str, list[tuple[float, float]]] = {label: [] for label in trees}
    for index in range(1, args.runs + 1):
        for label, code in trees.items():
            cpu, wall = one_run(code)
            runs[label].append((cpu, wall))
            print(f"run {index} ({label}): contain's run() {wall:5.2f} s, CPU of the demo's "
                  f"process {cpu:5.2f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    medians = {label: (statistics.median(c for c, _ in series),
                       statistics.median(w for _, w in series))
               for label, series in runs.items()}
    for label, (cpu, wall) in medians.items():
        print(f"median of {args.runs} ({label}): CPU {cpu:.2f} s, wall {wall:.2f} s")
    if args.baseline is not None:
        (cpu, wall), (base_cpu, base_wall) = medians["this tree"], medians["baseline"]
        print(f"CPU of the demo's process during contain, this tree against the baseline: "
              f"{cpu:.2f} s vs {base_cpu:.2f} s = {cpu / base_cpu:.2f}×")
        print(f"contain's run(), wall: {wall:.2f} s vs {base_wall:.2f} s = {wall / base_wall:.2f}×")


if __name__ == "__main__":
    main()
