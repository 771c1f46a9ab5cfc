"""Panic-button latency: process start → the stop signal reaching the agent.

Starts a gateway stand-in (a real process with a pid file and a loopback listener) that notes
the CLOCK_MONOTONIC time at which SIGTERM arrives, then runs the real ``clawback contain``
(packaged playbook: volatile snapshot, then stop) as a fresh process, N times. CLOCK_MONOTONIC is
shared by every process on the machine, so the difference is the true latency. Both forms are
timed: with live progress (what a person types) and with ``--json``. Also prints the bare
interpreter start-up measured the same way, for comparison. Goal (design section 9): median
<= 0.25 s.

    .venv/bin/python bench/first_action.py [--runs 20]
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

STAND_IN = r"""
import os, signal, socket, sys, time
port, pidfile, stampfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port)); listener.listen()
def on_term(signum, frame):
    open(stampfile, "w").write(repr(time.monotonic()))
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
open(pidfile, "w").write(str(os.getpid()))
while True:
    time.sleep(1)
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_run(root: Path, home: object, run: int, *,
            json_output: bool = False) -> tuple[float, float]:
    """(start -> SIGTERM at the agent, start -> incident opened) of one cold run."""
    port = free_port()
    pidfile, stamp = root / f"gw{run}.pid", root / f"gw{run}.term"
    gateway = subprocess.Popen([sys.executable, "-c", STAND_IN, str(port), str(pidfile),
                                str(stamp)])
    while not pidfile.exists():
        time.sleep(0.01)
    settings = dict(home.agent_settings())  # type: ignore[attr-defined]
    settings["gateway_port"] = port
    config = root / f"clawback{run}.toml"
    lines = ["[agent]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    lines += ["[[agent.services]]", 'kind = "pidfile"', 'name = "openclaw-gateway"',
              f"pidfile = {json.dumps(str(pidfile))}"]
    config.write_text("\n".join(lines) + "\n")
    os.chmod(config, 0o600)
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
           "XDG_DATA_HOME": str(root / "data")}
    incidents = root / f"incidents{run}"
    started, started_wall = time.monotonic(), time.time()
    subprocess.run(
        [sys.executable, "-m", "clawback", "contain", "--config", str(config), "--yes",
         "--incidents-dir", str(incidents), *(["--json"] if json_output else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )
    gateway.wait(timeout=30)
    if not stamp.exists():
        raise SystemExit("the stand-in never received SIGTERM: contain did not stop it")
    return float(stamp.read_text()) - started, opened_at(incidents) - started_wall


def opened_at(incidents: Path) -> float:
    """Wall-clock time of the run's entry 0: the incident is open and the volatile snapshot,
    the playbook's first action, starts (it writes no intent: it changes nothing)."""
    (incident,) = incidents.iterdir()
    with (incident / "timeline.jsonl").open() as timeline:
        entry = json.loads(timeline.readline())
    return datetime.fromisoformat(entry["ts"].replace("Z", "+00:00")).timestamp()


def interpreter_start(root: Path) -> float:
    stamp = root / "bare.stamp"
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", f"import time; open({str(stamp)!r}, 'w')"
                    ".write(repr(time.monotonic()))"], check=True)
    return float(stamp.read_text()) - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)

    from clawback.sandbox.home import build_sample_home

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = build_sample_home(root / "host")
        one_run(root, home, -1)  # warm the page cache and create the signing key
        # Interleaved, so both forms see the same machine load.
        plain, machine = [], []
        for run in range(args.runs):
            plain.append(one_run(root, home, 2 * run))
            machine.append(one_run(root, home, 2 * run + 1, json_output=True))
        bare = statistics.median(interpreter_start(root) for _ in range(5))
    print(f"{args.runs} cold starts of each form of clawback contain (volatile snapshot first, "
          "then stop); goal: median <= 0.25 s to the first containment action")
    for label, runs in (("clawback contain --yes (live progress)", plain),
                        ("clawback contain --yes --json", machine)):
        stops, opened = [r[0] for r in runs], [r[1] for r in runs]
        print(f"  {label}:")
        print(f"    start -> SIGTERM at the agent: median {statistics.median(stops):.3f} s, "
              f"min {min(stops):.3f} s, max {max(stops):.3f} s")
        print(f"    start -> incident opened, volatile snapshot starting: median "
              f"{statistics.median(opened):.3f} s")
    print(f"bare Python start-up on this machine, same method: {bare:.3f} s")


if __name__ == "__main__":
    main()
