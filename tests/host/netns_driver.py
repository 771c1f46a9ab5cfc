"""Runs inside a test's network namespace: ``python netns_driver.py OP JSON``.

The tests never apply nftables rules from the pytest process (that is the host's namespace);
they run this script with ``ip netns exec`` instead. It calls the real library and prints one
JSON line. Ops: cut, plan, restore, confirm (the library), serve, connect, hold, announce,
listen (traffic).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _outcome(outcome: Any) -> dict[str, Any]:
    return {"outcome": outcome.name, "status": outcome.status, **dataclasses.asdict(outcome)}


def _action(payload: dict[str, Any]) -> Any:
    from responders.host import commands
    from responders.host.network import CutNetworkAction, CutNetworkParams
    from responders.interface import ResponderContext

    if "search_path" in payload:
        # Stands in for a host without nft: the binary lookup sees only these directories.
        commands.SYSTEM_PATH = tuple(payload["search_path"])
    context = ResponderContext(
        incident_id=payload.get("incident_id", "2026-11-21T0203Z-test"),
        incident_dir=Path(payload["incident_dir"]),
        settings=payload.get("settings", {}),
    )
    return CutNetworkAction(context, CutNetworkParams(**payload.get("params", {})))


def _serve(ports: list[int]) -> None:
    def echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    def accept(server: socket.socket) -> None:
        while True:
            conn, _ = server.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    servers = []
    for port in ports:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", port))
        server.listen(16)
        servers.append(server)
    threads = [threading.Thread(target=accept, args=(s,), daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    threads[0].join()


def _connect(payload: dict[str, Any]) -> dict[str, Any]:
    sock = socket.socket()
    sock.settimeout(payload.get("timeout", 0.4))
    try:
        if payload.get("src"):
            sock.bind((payload["src"], 0))
        sock.connect((payload["dst"], payload["port"]))
        sock.sendall(b"ping\n")
        echoed = sock.recv(16) == b"ping\n"
    except OSError as exc:
        return {"connected": False, "error": type(exc).__name__}
    finally:
        sock.close()
    return {"connected": echoed}


def _hold(payload: dict[str, Any]) -> None:
    sock = socket.socket()
    sock.bind((payload["src"], 0))
    sock.connect((payload["dst"], payload["port"]))
    print("connected", flush=True)
    for line in sys.stdin:
        sock.settimeout(1.0)
        try:
            sock.sendall(line.encode())
            ok = sock.recv(4096) == line.encode()
        except OSError:
            ok = False
        print(json.dumps({"echoed": ok}), flush=True)


def _announce(payload: dict[str, Any]) -> None:
    """A server that speaks first: once ``trigger`` exists it sends one line to each client,
    as an SSH server does when a command's output arrives while the client is silent."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", payload["port"]))
    server.listen(4)
    print("ready", flush=True)
    conn, _ = server.accept()
    trigger = Path(payload["trigger"])
    while not trigger.exists():
        time.sleep(0.02)
    conn.sendall(b"announced\n")
    time.sleep(60)  # keep the session open; the test ends the process


def _listen(payload: dict[str, Any]) -> None:
    """A client that never sends: connects, then on each stdin line waits for the server."""
    sock = socket.socket()
    sock.bind((payload["src"], 0))
    sock.connect((payload["dst"], payload["port"]))
    print("connected", flush=True)
    for _ in sys.stdin:
        sock.settimeout(payload.get("timeout", 5.0))
        try:
            received = sock.recv(4096) == b"announced\n"
        except OSError:
            received = False
        print(json.dumps({"received": received}), flush=True)


def main() -> int:
    op, payload = sys.argv[1], json.loads(sys.argv[2])
    if op == "announce":
        _announce(payload)
        return 0
    if op == "listen":
        _listen(payload)
        return 0
    if op == "serve":
        _serve(payload)
        return 0
    if op == "hold":
        _hold(payload)
        return 0
    if op == "connect":
        print(json.dumps(_connect(payload)))
        return 0
    from responders.host.network import confirm_network_cut, restore_network

    if op == "cut":
        action = _action(payload)
        answer = _outcome(action.execute(action.targets()[0]))
    elif op == "plan":
        action = _action(payload)
        answer = _outcome(action.plan(action.targets()[0]))
    elif op == "restore":
        answer = _outcome(restore_network(Path(payload["incident_dir"])))
    elif op == "confirm":
        answer = _outcome(confirm_network_cut(Path(payload["incident_dir"])))
    else:
        raise SystemExit(f"unknown op {op}")
    print(json.dumps(answer, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
