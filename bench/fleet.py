"""``clawback contain --hosts`` wall time: one host against three, median of 3 runs each.

Each "host" is a real sshd on a loopback port with its own host key, sample OpenClaw home and
gateway stand-in under its own supervisord (the tests/fleet setup); moto holds the AWS key
planted on every host. The packaged contain playbook runs over SSH; the figure is the span the
signed timeline records (first entry to ``close``) and the wall time of the whole call. Goal
(issue 9): three hosts in at most 1.5 times the time of one, because hosts run in parallel.
Needs root and openssh-server.

    sudo .venv/bin/python bench/fleet.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import MemoryKeyring  # noqa: E402
from tests.fleet.conftest import (  # noqa: E402
    AGENT_IAM_USER,
    KEYRING_SERVICE,
    KEYRING_USER,
    ClientKey,
    Fleet,
    add_host,
    generate_key,
)


def timeline_span(incident_dir: Path) -> float:
    lines = (incident_dir / "timeline.jsonl").read_text().splitlines()
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    return (datetime.fromisoformat(last["ts"]) - datetime.fromisoformat(first["ts"])
            ).total_seconds()


def fresh_iam(moto: Any) -> tuple[str, str]:
    """Empty moto, then the agent's key and an enforced admin, as the tests set them up."""
    import urllib.request

    for path, body in (("/moto-api/reset-auth", b"inf"), ("/moto-api/reset", b"")):
        request = urllib.request.Request(f"{moto.url}{path}", data=body, method="POST",
                                         headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=5):  # loopback only
            pass
    shared = moto.create_agent_key(AGENT_IAM_USER)
    os.environ["CLAWBACK_FLEET_TEST_AWS_ID"], os.environ["CLAWBACK_FLEET_TEST_AWS_SECRET"] = (
        moto.create_admin()
    )
    moto.enforce_iam()
    return shared


def one_run(hosts: int, moto: Any, client: ClientKey) -> tuple[float, float]:
    from clawback.contain import ContainRequest, prepare
    from clawback.fleet import run_fleet

    with tempfile.TemporaryDirectory(prefix="clawback-bench-fleet-") as workdir:
        root = Path(workdir)
        for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
            os.environ[var] = str(root / var.lower())
        fleet = Fleet(root=root, client=client, moto=moto,  # type: ignore[arg-type]
                      shared_aws_key=fresh_iam(moto))
        try:
            for index in range(hosts):
                add_host(fleet, f"host{index + 1}", aws_keys=[fleet.shared_aws_key])
            config = fleet.write_config()
            prepared = prepare(ContainRequest(config=config, yes=True,
                                              incidents_dir=root / "incidents"))
            started = time.monotonic()
            result = run_fleet(prepared, hosts="@agents")
            wall = time.monotonic() - started
            failed = [r for r in result.results if r.outcome.status == "failed"]
            if failed or result.incident_dir is None:
                sys.exit(f"{hosts} host(s): {len(failed)} failed: "
                         + "; ".join(f"{r.step} {r.target}" for r in failed))
            return wall, timeline_span(result.incident_dir)
        finally:
            for host in fleet.hosts:
                host.sshd.stop()
                host.supervisor.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: the hosts' sshd log in as root (sudo .venv/bin/python ...)")

    import keyring

    from clawback_demo.standins import start_moto

    moto = start_moto()
    with tempfile.TemporaryDirectory(prefix="clawback-bench-key-") as keys:
        client = ClientKey(Path(keys) / "id_ed25519",
                           generate_key(Path(keys) / "id_ed25519", "clawback-bench"))
        backend = MemoryKeyring()
        backend.set_password(KEYRING_SERVICE, KEYRING_USER, client.private_text)
        keyring.set_keyring(backend)
        try:
            figures = {n: [one_run(n, moto, client) for _ in range(args.runs)] for n in (1, 3)}
        finally:
            moto.stop()
    for hosts, runs in figures.items():
        for index, (wall, span) in enumerate(runs, 1):
            print(f"{hosts} host(s) run {index}: wall {wall:6.2f} s   timeline {span:6.2f} s")
    one = statistics.median(w for w, _ in figures[1])
    three = statistics.median(w for w, _ in figures[3])
    ratio = three / one
    verdict = "ok" if ratio <= 1.5 else "OVER the 1.5x goal"
    print(f"median of {args.runs}: 1 host {one:.2f} s, 3 hosts {three:.2f} s, "
          f"ratio {ratio:.2f} ({verdict})")


if __name__ == "__main__":
    main()
