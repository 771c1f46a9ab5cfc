"""The network cut on a fleet host, for real, inside network namespaces this test creates.

The "host" namespace runs sshd (the fleet host); the "peer" namespace runs clawback (the
operator's machine) with an admin address and an ordinary one on the same link. Nothing is
added to this machine's own namespace: the veth pair is born inside the two namespaces.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clawback_demo.home import build_sample_home
from responders.remote.network import remote_state_dir
from tests.conftest import require_binary, require_root

from .conftest import ClientKey, Sshd, start_sshd

SSH_PORT = 2222
ECHO_PORT = 8080
PLAYBOOK = """\
name: fleet-cut
steps:
  - id: volatile
    uses: host.snapshot
    with: {volatile: true, system_artifacts: false}
  - id: isolate
    uses: host.cut_network
    when: "{{ cut_network }}"
    approve: true
    with: {confirmed_remote: true, rollback_minutes: 0.1}
"""
PROBE = (
    "import socket, sys\n"
    "s = socket.socket(); s.settimeout(0.5); s.bind((sys.argv[1], 0))\n"
    "print(1 if s.connect_ex((sys.argv[2], int(sys.argv[3]))) == 0 else 0)\n"
)
SERVE = (
    "import socket, sys\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8); print('ready', flush=True)\n"
    "while True: s.accept()[0].close()\n"
)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@dataclass
class Link:
    host: str  # namespace of the fleet host
    peer: str  # namespace clawback runs in
    host_addr: str
    admin_addr: str
    other_addr: str

    def inside(self, ns: str, *argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True,
                              text=True, timeout=120, **kwargs)  # type: ignore[call-overload]

    def reaches(self, source: str, port: int) -> bool:
        done = self.inside(self.peer, sys.executable, "-c", PROBE, source, self.host_addr,
                           str(port))
        return done.stdout.strip() == "1"

    def tables(self) -> str:
        return self.inside(self.host, "nft", "list", "tables").stdout


def _kill_inside(ns: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    for pid in (int(p) for p in pids.split()):
        # Only processes in a namespace this test created: sshd, servers, rollback timers.
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


@pytest.fixture
def link() -> Iterator[Link]:
    require_root()
    require_binary("ip", "iproute2")
    require_binary("nft", "nftables")
    tag, subnet = secrets.token_hex(3), 1 + secrets.randbelow(250)
    spaces = Link(f"cbf-{tag}-host", f"cbf-{tag}-peer", f"10.213.{subnet}.1",
                  f"10.213.{subnet}.2", f"10.213.{subnet}.3")
    created: list[str] = []
    try:
        for ns in (spaces.host, spaces.peer):
            ip("netns", "add", ns)
            created.append(ns)
        ip("link", "add", f"cbf{tag}h", "netns", spaces.host, "type", "veth",
           "peer", "name", f"cbf{tag}p", "netns", spaces.peer)
        ip("-n", spaces.host, "addr", "add", f"{spaces.host_addr}/29", "dev", f"cbf{tag}h")
        ip("-n", spaces.peer, "addr", "add", f"{spaces.admin_addr}/29", "dev", f"cbf{tag}p")
        ip("-n", spaces.peer, "addr", "add", f"{spaces.other_addr}/29", "dev", f"cbf{tag}p")
        for ns, dev in ((spaces.host, f"cbf{tag}h"), (spaces.peer, f"cbf{tag}p")):
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield spaces
    finally:
        for ns in created:
            _kill_inside(ns)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _config(root: Path, link: Link, sshd: Sshd, admin: str) -> Path:
    home = build_sample_home(root / "edge-home")
    known = root / "known_hosts"
    known.write_text(sshd.known_hosts_line + "\n")
    config = root / f"clawback-{admin}.toml"
    config.write_text("\n".join([
        "[fleet]",
        f"known_hosts = {json.dumps(str(known))}",
        "connect_timeout_seconds = 5",
        "[network]",
        f"admin_sources = [{json.dumps(admin + '/32')}]",
        "[[hosts]]",
        'name = "edge"',
        f"ssh = {json.dumps(f'root@{link.host_addr}:{SSH_PORT}')}",
        'identity = "agent"',
        "[hosts.agent]",
        f"user_home = {json.dumps(str(home.user_home))}",
        f"tmp_dirs = [{json.dumps(str(home.tmp_dir))}]",
    ]) + "\n")
    return config


def _contain(link: Link, root: Path, config: Path, agent_env: dict[str, str]) -> dict[str, object]:
    playbook = root / "cut.yaml"
    playbook.write_text(PLAYBOOK)
    env = {**os.environ, **agent_env,
           "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
    done = link.inside(link.peer, sys.executable, "-m", "clawback", "contain", "--hosts", "edge",
                       "--config", str(config), "--playbook", str(playbook), "--cut-network",
                       "--yes", "--json", "--incidents-dir", str(root / "incidents"), env=env,
                       cwd=str(Path(__file__).resolve().parents[2]))
    assert done.stdout, done.stderr
    document: dict[str, object] = json.loads(done.stdout)
    document["exit"] = done.returncode
    return document


def _isolate(document: dict[str, object]) -> dict[str, object]:
    results = document["results"]
    assert isinstance(results, list)
    return next(r for r in results if r["step"] == "isolate")


def test_cut_keeps_the_admin_session_drops_the_rest_and_rolls_back(
    tmp_path: Path, link: Link, client_key: ClientKey, ssh_agent: dict[str, str],
) -> None:
    sshd = start_sshd(tmp_path / "sshd", client_key, port=SSH_PORT, listen=link.host_addr,
                      netns=link.host)
    server = subprocess.Popen(["ip", "netns", "exec", link.host, sys.executable, "-c", SERVE,
                               link.host_addr, str(ECHO_PORT)], stdout=subprocess.PIPE,
                              text=True)
    state_dirs: list[str] = []
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        assert link.reaches(link.admin_addr, ECHO_PORT)

        # The guard: this session comes from the admin address, which is not allowed.
        refused = _contain(link, tmp_path, _config(tmp_path, link, sshd, link.other_addr),
                           ssh_agent)
        outcome = _isolate(refused)
        assert outcome["outcome"] == "Refused" and refused["exit"] == 3
        assert f"sees this session coming from {link.admin_addr}" in str(outcome["reason"])
        assert "clawback_isolate" not in link.tables()

        done = _contain(link, tmp_path, _config(tmp_path, link, sshd, link.admin_addr),
                        ssh_agent)
        cut = _isolate(done)
        assert cut["outcome"] == "Done", cut
        state_dirs.append(remote_state_dir(str(done["incident"])))
        facts = cut["facts"]
        assert isinstance(facts, dict) and facts["ssh_port"] == SSH_PORT
        assert "clawback_isolate" in link.tables()
        # The run's own session survived to clean up; the admin can still get in, nobody else,
        # and nothing else is reachable.
        assert link.reaches(link.admin_addr, SSH_PORT)
        assert not link.reaches(link.other_addr, SSH_PORT)
        assert not link.reaches(link.admin_addr, ECHO_PORT)
        incident = Path(str(done["incident_dir"]))
        assert json.loads((incident / "hosts" / "edge" / "network-cut.json").read_text())[
            "status"] == "applied"

        # Unconfirmed, the timer on the host deletes exactly that table.
        deadline = time.monotonic() + 15
        while "clawback_isolate" in link.tables() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "clawback_isolate" not in link.tables()
        assert link.reaches(link.admin_addr, ECHO_PORT)
        state = json.loads(Path(state_dirs[0], "network-cut.json").read_text())
        assert state["restored_by"] == "auto-rollback"
    finally:
        server.kill()
        server.wait(timeout=5)
        sshd.stop()
        for folder in state_dirs:
            shutil.rmtree(folder, ignore_errors=True)
        root = Path(remote_state_dir("x")).parent
        if root.is_dir() and not any(root.iterdir()):
            root.rmdir()
