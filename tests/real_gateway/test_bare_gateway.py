"""``clawback contain`` against the real OpenClaw gateway run as a plain process through its
CLI wrapper, the way ``openclaw gateway`` runs in a terminal or a tmux session: no supervisor,
no unit, browser control on.

This is the shape the research notes got wrong for 2026.2.26: ``openclaw`` re-executes itself
and waits, the child rewrites its command line to ``openclaw-gateway``, it listens on 127.0.0.1
and ::1 plus browser control on port+2 and its relay on port+3, and writes its lock before it
listens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psutil
import pytest

from tests.real_gateway.conftest import (
    ClawbackRun,
    Operator,
    owner_checks_after_start,
    owner_checks_before_start,
    results,
)
from tests.real_gateway.world import READY_TIMEOUT_S, OpenClawWorld


@dataclass
class Bare:
    operator: Operator
    world: OpenClawWorld
    wrapper: psutil.Process
    gateway: psutil.Process
    lock_seen_s: float
    listening_s: float


def _gone(proc: psutil.Process) -> bool:
    """Dead, or a zombie its parent (this test) has not reaped: it runs nothing either way."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _listening(port: int) -> bool:
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
               for c in psutil.net_connections("tcp"))


@pytest.fixture(scope="module")
def bare(operator: Operator) -> Iterator[Bare]:
    world = operator.world
    world.unit.unlink()  # nothing but the process itself this time
    started = time.monotonic()
    proc = world.start_gateway("bare", wrapper=True, respawn=True, browser_control=True)
    lock_seen = listening = None
    # Both moments, polled from the start: the lock file, then the listening socket.
    while time.monotonic() - started < READY_TIMEOUT_S and listening is None:
        assert proc.poll() is None, world.log_tail()
        now = time.monotonic() - started
        if lock_seen is None and any(world.lock_dir.glob("gateway.*.lock")):
            lock_seen = now
        if _listening(world.port):
            listening = now
            if lock_seen is None and any(world.lock_dir.glob("gateway.*.lock")):
                lock_seen = now
        time.sleep(0.05)
    assert lock_seen is not None and listening is not None, world.log_tail()
    world.wait_ready(world.gateway_token, lambda: proc.poll() is None)
    wrapper = psutil.Process(proc.pid)
    (gateway,) = wrapper.children()
    yield Bare(operator, world, wrapper, gateway, lock_seen, listening)


@pytest.fixture(scope="module")
def contained(bare: Bare) -> ClawbackRun:
    run = bare.operator.contain()
    (bare.operator.root / "contain.json").write_text(run.stdout + run.stderr)
    return run


def test_the_wrapper_the_title_the_ports_and_the_lock(bare: Bare) -> None:
    world, wrapper, gateway = bare.world, bare.wrapper, bare.gateway
    # `openclaw` titles itself and waits; its child is the gateway, titled in turn.
    assert wrapper.name() == "openclaw" and wrapper.cmdline()[0] == "openclaw"
    assert gateway.name().startswith("openclaw-gatewa")
    assert gateway.cmdline()[0] == "openclaw-gateway" and gateway.ppid() == wrapper.pid
    listening = {(c.laddr.ip, c.laddr.port) for c in gateway.net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN}
    port = world.port
    assert {("127.0.0.1", port), ("::1", port)} <= listening
    assert {p for _, p in listening} == {port, port + 2, port + 3}
    assert wrapper.net_connections("tcp") == []
    lock = json.loads(next(world.lock_dir.glob("gateway.*.lock")).read_text())
    assert lock["pid"] == gateway.pid
    assert bare.lock_seen_s <= bare.listening_s


def test_contain_stops_the_wrapper_and_the_gateway_and_every_port(
    bare: Bare, contained: ClawbackRun
) -> None:
    document = contained.document
    failed = [r for r in document["results"] if r["outcome"] in ("Failed", "Refused")]
    assert failed == [], json.dumps(failed, indent=1)[:4000]
    (stop,) = [r for r in results(document, "stop") if r["action"] == "host.stop_service"]
    assert stop["outcome"] == "Done", stop
    (recheck,) = [r for r in results(document, "stop") if r["action"].endswith(".recheck")]
    assert recheck["outcome"] == "Done", recheck
    assert stop["target"].startswith("pidfile:")
    found = {p["pid"]: p["found_by"] for p in stop["facts"]["processes_before"]}
    assert set(found) == {bare.wrapper.pid, bare.gateway.pid}
    assert found[bare.wrapper.pid] == [f"openclaw wrapper of pid {bare.gateway.pid}"]
    assert any(r.startswith("lock file") for r in found[bare.gateway.pid])
    proof = stop["facts"]["proof"]
    assert proof["pids_after"] == [] and proof["listeners_after"] == []
    port = bare.world.port
    assert not any(_listening(p) for p in (port, port + 2, port + 3))
    assert _gone(bare.wrapper) and _gone(bare.gateway)
    assert not list(bare.world.lock_dir.glob("gateway.*.lock"))


def test_the_owner_starts_it_again_with_the_new_tokens_only(
    bare: Bare, contained: ClawbackRun
) -> None:
    world = bare.world
    new_gateway = owner_checks_before_start(bare.operator, contained.document)
    proc = world.start_gateway("restarted", wrapper=True, respawn=True)
    owner_checks_after_start(bare.operator, contained.document, new_gateway,
                             lambda: proc.poll() is None)
