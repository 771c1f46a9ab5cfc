"""Runs one audit inside a fresh network namespace with a stand-in gateway listening in it.

Usage (as root, inside ``unshare --net``):
``python netns_audit.py SPEC.json`` where SPEC holds ``user_home``, ``host_root``, ``settings``,
``listen`` (address), ``port``, ``as_uid`` (None: stay root), ``nft_rules`` (None: empty
ruleset) and optionally ``listener_home``/``listener_port`` (default: the audited ones).
Prints the audit's JSON report on stdout. Everything it creates (the listener, the ruleset, the
namespace itself) dies with the process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LISTENER = r"""
import os, socket, sys, time
from clawback_demo.gateway import set_process_title
address, port, uid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
set_process_title()
family = socket.AF_INET6 if ":" in address else socket.AF_INET
server = socket.socket(family, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((address, port))
server.listen(8)
if uid != "-":
    os.setgid(int(uid))
    os.setuid(int(uid))
print("listening", flush=True)
time.sleep(60)
"""


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if spec.get("nft_rules"):
        subprocess.run(["nft", "-f", "-"], input=spec["nft_rules"].encode(), check=True)
    uid = "-" if spec.get("as_uid") is None else str(spec["as_uid"])
    env = {**os.environ, "HOME": spec.get("listener_home") or spec["user_home"]}
    port = spec.get("listener_port") or spec["port"]
    listener = subprocess.Popen(
        [sys.executable, "-c", LISTENER, spec["listen"], str(port), uid],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert listener.stdout is not None
        if listener.stdout.readline().strip() != b"listening":
            raise SystemExit("the stand-in gateway did not start")
        from clawback.audit import HostSystem, render_json, run_audit

        report = run_audit(
            user_home=Path(spec["user_home"]),
            settings=spec["settings"],
            host=HostSystem(root=Path(spec["host_root"]), live=True),
            openclaw=(),
        )
        print(json.dumps({"report": render_json(report), "listener_pid": listener.pid}))
    finally:
        listener.kill()
        listener.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
