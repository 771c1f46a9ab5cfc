"""Audit speed on the sample OpenClaw home (issue: "runs in under a second").

Prints the median wall time of ``clawback audit --format json`` as a person runs it (a fresh
process each time, start-up included) and of the checks alone (``run_audit`` in this process,
after one warm-up), over N runs each, with the number of findings so a run that found nothing
can't pass for a fast one.

    .venv/bin/python bench/audit.py [--runs 10]
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
from pathlib import Path

from clawback.audit import HostSystem, run_audit
from clawback_demo.home import build_sample_home


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = build_sample_home(root / "sample")
        env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
        cli, findings = [], 0
        for _ in range(args.runs):
            started = time.perf_counter()
            run = subprocess.run(
                [sys.executable, "-m", "clawback", "audit", "--home", str(home.user_home),
                 "--format", "json"],
                capture_output=True, text=True, env=env, check=False,
            )
            cli.append(time.perf_counter() - started)
            findings = len(json.loads(run.stdout)["findings"])

        def checks() -> int:
            report = run_audit(user_home=home.user_home,
                               settings={"agent": home.agent_settings()},
                               host=HostSystem(root=root / "hostroot", live=True), openclaw=())
            return len(report.findings)

        checks()  # warm-up: imports
        in_process = []
        for _ in range(args.runs):
            started = time.perf_counter()
            checks()
            in_process.append(time.perf_counter() - started)
    print(f"clawback audit on the sample home ({findings} findings), {args.runs} runs each "
          "(goal: under a second):")
    print(f"  as a command (fresh process, start-up included): median "
          f"{statistics.median(cli):.3f} s, max {max(cli):.3f} s")
    print(f"  the checks alone (in process, warm): median {statistics.median(in_process):.3f} s, "
          f"max {max(in_process):.3f} s")


if __name__ == "__main__":
    main()
