"""Fleet soak: ``contain --hosts`` over 3 and over 10 hosts, N times in a row, counting failures.

The same setup as ``bench/fleet.py`` (real sshd per host on loopback, sample home, gateway
stand-in under its own supervisord, moto for the shared AWS key), each run from scratch. Every
failed outcome is printed with its error, so a flake shows its cause. Needs root and
openssh-server.

    sudo .venv/bin/python bench/fleet_repeat.py [--runs 20] [--hosts 3 10]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.fleet import fresh_iam  # noqa: E402
from tests.conftest import MemoryKeyring  # noqa: E402
from tests.fleet.conftest import (  # noqa: E402
    KEYRING_SERVICE,
    KEYRING_USER,
    ClientKey,
    Fleet,
    add_host,
    generate_key,
)


def one_run(hosts: int, moto: Any, client: ClientKey) -> list[str]:
    """The failures of one fleet contain over ``hosts`` hosts (empty: it passed)."""
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
            result = run_fleet(prepared, hosts="@agents")
            problems = [f"{r.step} {r.target}: {r.outcome.status} "
                        f"{getattr(r.outcome, 'error', '') or r.outcome.detail}"
                        for r in result.results if r.outcome.status == "failed"]
            problems += [f"{h.name}: gateway still up ({h.gateway_state()})"
                         for h in fleet.hosts if not h.gateway_down()]
            return problems
        finally:
            for host in fleet.hosts:
                host.sshd.stop()
                host.supervisor.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--hosts", type=int, nargs="+", default=[3, 10])
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: the hosts' sshd log in as root (sudo .venv/bin/python ...)")

    import keyring

    from clawback_demo.standins import start_moto

    moto = start_moto()
    counts: dict[int, collections.Counter[str]] = {}
    with tempfile.TemporaryDirectory(prefix="clawback-bench-key-") as keys:
        client = ClientKey(Path(keys) / "id_ed25519",
                           generate_key(Path(keys) / "id_ed25519", "clawback-bench"))
        backend = MemoryKeyring()
        backend.set_password(KEYRING_SERVICE, KEYRING_USER, client.private_text)
        keyring.set_keyring(backend)
        try:
            for hosts in args.hosts:
                counts[hosts] = collections.Counter()
                for run in range(1, args.runs + 1):
                    started = time.monotonic()
                    problems = one_run(hosts, moto, client)
                    verdict = "passed" if not problems else "FAILED"
                    counts[hosts][verdict] += 1
                    print(f"{hosts:>2} hosts run {run:>2}: {verdict} in "
                          f"{time.monotonic() - started:5.1f} s "
                          f"(load {os.getloadavg()[0]:.1f})", flush=True)
                    for problem in problems:
                        print(f"      {problem}", flush=True)
        finally:
            moto.stop()
    for hosts, counter in counts.items():
        print(f"{hosts} hosts: {counter['passed']} passed, {counter['FAILED']} failed "
              f"of {args.runs} in a row")


if __name__ == "__main__":
    main()
