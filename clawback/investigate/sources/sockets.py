"""``generated/sockets.json``: the volatile snapshot's socket table (psutil), taken before the
agent was stopped: listening sockets and established connections, with the owning pid.

A snapshot cannot say when a socket appeared: every event is dated by when the table was taken
(``collected_at``). Connections to loopback are the host talking to itself and are left out.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator, Mapping
from typing import IO, Any

from clawback.investigate.clock import parse_iso
from clawback.investigate.records import Event, MemberRef
from clawback.investigate.sources import ParseContext

MAX_TABLE_BYTES = 64 * 1024 * 1024


def _address(value: Any) -> tuple[str, int] | None:
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
        return str(value[0]), value[1]
    return None


def _loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def parse(member: MemberRef, stream: IO[bytes], ctx: ParseContext) -> Iterator[Event]:
    data = stream.read(MAX_TABLE_BYTES + 1)
    if len(data) > MAX_TABLE_BYTES:
        ctx.long_line(member)
        return
    try:
        table = json.loads(data)
    except ValueError:
        ctx.bad_line(member)
        return
    if not isinstance(table, Mapping):
        return
    ts = parse_iso(table.get("collected_at")) or parse_iso(member.collected_at)
    gateway = table.get("gateway_port")
    ctx.gateway_port = gateway if isinstance(gateway, int) else ctx.gateway_port
    seen: set[tuple[Any, ...]] = set()
    for conn in table.get("connections") or ():
        if not isinstance(conn, Mapping):
            continue
        local, remote = _address(conn.get("laddr")), _address(conn.get("raddr"))
        status, pid = str(conn.get("status") or ""), conn.get("pid")
        if status == "LISTEN" and local is not None:
            key = ("listen", local, pid)
            if key in seen:
                continue
            seen.add(key)
            yield Event(ts, "sockets", "net.listen",
                        f"pid {pid if pid is not None else '?'} listening on "
                        f"{local[0]}:{local[1]}", member.at(0),
                        attrs={"address": local[0], "port": local[1], "pid": pid})
        elif remote is not None and not _loopback(remote[0]):
            key = ("conn", remote, pid)
            if key in seen:
                continue
            seen.add(key)
            yield Event(ts, "sockets", "net.connection",
                        f"pid {pid if pid is not None else '?'} connected to "
                        f"{remote[0]}:{remote[1]} ({status.lower() or '?'})", member.at(0),
                        attrs={"remote": remote[0], "remote_port": remote[1], "pid": pid,
                               "status": status})
