"""Real processes and real network namespaces for the host-control tests.

Gateways run as a throwaway uid (no passwd entry needed: ``setpriv`` switches to any number), so
discovery scoped to that uid never sees another test's or another engineer's stand-ins. Network
tests build two namespaces joined by a veth pair created directly inside them: no address, link
or rule ever exists in the host's own namespace.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import require, require_binary, require_root

DRIVER = Path(__file__).with_name("netns_driver.py")
REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def as_uid(uid: int | None, argv: Sequence[str]) -> list[str]:
    if uid is None:
        return list(argv)
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *argv]


def gateway_argv(
    port: int,
    lock_dir: Path,
    config_path: str = "/home/agent/.openclaw/openclaw.json",
    *,
    pid_file: Path | None = None,
    uid: int | None = None,
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "clawback_demo.gateway",
        "--port",
        str(port),
        "--lock-dir",
        str(lock_dir),
        "--config-path",
        config_path,
    ]
    if pid_file is not None:
        argv += ["--pid-file", str(pid_file)]
    return as_uid(uid, argv)


@dataclass
class AgentHost:
    """A throwaway agent account: its uid, a TMPDIR-like dir and its OpenClaw lock dir."""

    uid: int
    tmp_dir: Path
    port: int
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def lock_dir(self) -> Path:
        return self.tmp_dir / f"openclaw-{self.uid}"

    def settings(self, services: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "agent": {
                "uid": self.uid,
                "tmp_dirs": [str(self.tmp_dir)],
                "gateway_port": self.port,
                "homes": [str(self.tmp_dir / "home")],
                "services": services or [],
            }
        }

    def start_gateway(
        self, *, pid_file: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            gateway_argv(self.port, self.lock_dir, pid_file=pid_file, uid=self.uid),
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(proc)
        assert wait_until(lambda: port_open(self.port)), "gateway stand-in did not listen"
        assert wait_until(lambda: any(self.lock_dir.glob("gateway.*.lock")))
        return proc


@pytest.fixture
def agent_host() -> Iterator[AgentHost]:
    """Needs root: the agent runs under its own uid, as on a real host."""
    require_root()
    require(shutil.which("setpriv") is not None, "needs `setpriv` (apt-get install util-linux)")
    uid = 200_000 + secrets.randbelow(99_999)
    # Under /tmp, not tmp_path: pytest's base dir is 0700 root and the agent uid must reach it.
    tmp_dir = Path(tempfile.mkdtemp(prefix="cbk-host-"))
    os.chmod(tmp_dir, 0o711)
    host = AgentHost(uid=uid, tmp_dir=tmp_dir, port=free_port())
    host.lock_dir.mkdir()
    os.chown(host.lock_dir, uid, uid)
    os.chmod(host.lock_dir, 0o700)
    try:
        yield host
    finally:
        for proc in host.processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        shutil.rmtree(tmp_dir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Network namespaces
# --------------------------------------------------------------------------------------------


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Namespaces:
    """``host`` is the machine being isolated; ``peer`` is the outside world, with an admin
    address and an ordinary one on the same link."""

    host: str
    peer: str
    host_addr: str
    admin_addr: str
    other_addr: str
    servers: list[subprocess.Popen[str]] = field(default_factory=list)

    def run(self, ns: str, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, **kwargs
        )

    def ruleset(self, ns: str | None = None) -> str:
        result = self.run(ns or self.host, ["nft", "list", "ruleset"], check=True)
        return result.stdout

    def nft(self, script: str, ns: str | None = None) -> None:
        self.run(ns or self.host, ["nft", "-f", "-"], input=script, check=True)

    def driver(
        self,
        op: str,
        payload: dict[str, Any],
        *,
        ns: str | None = None,
        env: dict[str, str] | None = None,
        uid: int | None = None,
    ) -> dict[str, Any]:
        """Run the library inside a namespace (netns_driver.py) and return its JSON answer."""
        argv = as_uid(uid, [sys.executable, str(DRIVER), op, json.dumps(payload)])
        child_env = {
            k: v for k, v in os.environ.items() if k not in ("SSH_CONNECTION", "SSH_CLIENT")
        }
        child_env.update(env or {})
        result = self.run(ns or self.host, argv, env=child_env, cwd=REPO_ROOT, timeout=60)
        assert result.returncode == 0, result.stderr
        answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        return answer

    def serve(self, ns: str, ports: Sequence[int]) -> None:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(DRIVER), "serve", json.dumps(ports)],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=REPO_ROOT,
        )
        self.servers.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"

    def can_connect(
        self, ns: str, dst: str, port: int, *, src: str | None = None, uid: int | None = None
    ) -> bool:
        payload = {"dst": dst, "port": port, "src": src, "timeout": 0.4}
        return bool(self.driver("connect", payload, ns=ns, uid=uid)["connected"])

    def hold_session(self, ns: str, dst: str, port: int, src: str) -> subprocess.Popen[str]:
        """An open TCP session (an SSH stand-in) that echoes one line on demand."""
        payload = {"dst": dst, "port": port, "src": src}
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(DRIVER), "hold", json.dumps(payload)],
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
        )
        self.servers.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "connected"
        return proc


    def start(self, ns: str, op: str, payload: dict[str, Any], ready: str) -> subprocess.Popen[str]:
        """A long-running driver op inside ``ns``, once it has printed ``ready``."""
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(DRIVER), op, json.dumps(payload)],
            stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        )
        self.servers.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == ready
        return proc


def _kill_namespace_processes(ns: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    for pid in (int(p) for p in pids.split()):
        # Only processes inside a namespace this test created: servers, drivers, rollback timers.
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    for pid in (int(p) for p in pids.split()):
        try:
            psutil.Process(pid).wait(timeout=5)
        except (psutil.NoSuchProcess, psutil.TimeoutExpired):
            continue


@pytest.fixture
def netns() -> Iterator[Namespaces]:
    require_root()
    require_binary("nft", "nftables")
    require_binary("ip", "iproute2")
    tag = secrets.token_hex(3)
    subnet = 1 + secrets.randbelow(250)
    spaces = Namespaces(
        host=f"cbk-{tag}-host",
        peer=f"cbk-{tag}-peer",
        host_addr=f"10.213.{subnet}.1",
        admin_addr=f"10.213.{subnet}.2",
        other_addr=f"10.213.{subnet}.3",
    )
    created: list[str] = []
    try:
        for ns in (spaces.host, spaces.peer):
            _ip("netns", "add", ns)
            created.append(ns)
        # Both ends are born inside the namespaces: nothing appears in the host's namespace.
        _ip(
            "link", "add", f"cbk{tag}h", "netns", spaces.host, "type", "veth",
            "peer", "name", f"cbk{tag}p", "netns", spaces.peer,
        )  # fmt: skip
        _ip("-n", spaces.host, "addr", "add", f"{spaces.host_addr}/29", "dev", f"cbk{tag}h")
        _ip("-n", spaces.peer, "addr", "add", f"{spaces.admin_addr}/29", "dev", f"cbk{tag}p")
        _ip("-n", spaces.peer, "addr", "add", f"{spaces.other_addr}/29", "dev", f"cbk{tag}p")
        for ns, dev in ((spaces.host, f"cbk{tag}h"), (spaces.peer, f"cbk{tag}p")):
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield spaces
    finally:
        for proc in spaces.servers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        for ns in created:
            _kill_namespace_processes(ns)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
