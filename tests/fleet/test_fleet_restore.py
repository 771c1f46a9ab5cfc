"""``clawback restore-network`` on a fleet incident, for real: two hosts cut by ``contain
--hosts`` inside network namespaces this test creates, then kept and undone over SSH.

Each "host" is a namespace running its own sshd, with its own /var/lib/clawback bound over the
real one for that sshd only, so the two agents keep separate records as two machines would. The
"peer" namespace runs clawback with an admin address and an ordinary one on each link. Nothing
is added to this machine's own namespace.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clawback.timeline import read_entries
from clawback_demo.home import build_sample_home
from responders.fleet_agent.agent import rollback_timer
from tests.conftest import require_binary, require_root

from .conftest import ClientKey, Sshd, start_sshd
from .test_fleet_network import Link, ip

SSH_PORT = 2222
AGENT_STATE = "/var/lib/clawback"
REPO_ROOT = Path(__file__).resolve().parents[2]
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
    with: {confirmed_remote: true, rollback_minutes: 30}
"""


@dataclass
class TwoHosts:
    peer: str
    links: dict[str, Link]  # host name -> its link from the peer namespace
    sshd: dict[str, Sshd]
    peer_devices: dict[str, str]  # host name -> the peer's end of its link
    state: dict[str, Path]  # host name -> what that host sees as /var/lib/clawback
    config: Path
    incidents: Path
    env: dict[str, str] = field(repr=False)
    planted: set[str] = field(repr=False)

    def clawback(self, *args: str) -> subprocess.CompletedProcess[str]:
        """clawback as the operator runs it, from the peer namespace's admin addresses."""
        return subprocess.run(
            ["ip", "netns", "exec", self.peer, sys.executable, "-m", "clawback", *args,
             "--incidents-dir", str(self.incidents)],
            capture_output=True, text=True, timeout=120, env=self.env, cwd=str(REPO_ROOT),
        )

    def unplug(self, host: str) -> None:
        ip("-n", self.peer, "link", "set", self.peer_devices[host], "down")

    def plug(self, host: str) -> None:
        ip("-n", self.peer, "link", "set", self.peer_devices[host], "up")

    def cut_state(self, host: str, incident: str) -> dict[str, object]:
        state: dict[str, object] = json.loads(
            (self.state[host] / incident / "network-cut.json").read_text())
        return state


def _kill_inside(namespace: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True,
                          text=True).stdout
    for pid in (int(p) for p in pids.split()):
        # Only processes in a namespace this test created: sshd and rollback timers.
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


@pytest.fixture
def two_hosts(tmp_path: Path, client_key: ClientKey,
              ssh_agent: dict[str, str]) -> Iterator[TwoHosts]:
    require_root()
    require_binary("ip", "iproute2")
    require_binary("nft", "nftables")
    require_binary("mount", "mount")
    tag = secrets.token_hex(3)
    peer = f"cbr-{tag}-peer"
    created: list[str] = []
    made_mount_point = not Path(AGENT_STATE).exists()
    servers: list[Sshd] = []
    try:
        ip("netns", "add", peer)
        created.append(peer)
        ip("-n", peer, "link", "set", "lo", "up")
        links: dict[str, Link] = {}
        peer_devices: dict[str, str] = {}
        subnet = 1 + secrets.randbelow(250)
        state: dict[str, Path] = {}
        Path(AGENT_STATE).mkdir(mode=0o700, parents=True, exist_ok=True)
        for index, name in enumerate(("edge-a", "edge-b")):
            # One /29 per link: .1-.3 and .9-.11.
            link = Link(f"cbr-{tag}-{index}", peer, f"10.214.{subnet}.{8 * index + 1}",
                        f"10.214.{subnet}.{8 * index + 2}", f"10.214.{subnet}.{8 * index + 3}")
            ip("netns", "add", link.host)
            created.append(link.host)
            host_dev, peer_dev = f"cbr{tag}h{index}", f"cbr{tag}p{index}"
            ip("link", "add", host_dev, "netns", link.host, "type", "veth", "peer", "name",
               peer_dev, "netns", peer)
            ip("-n", link.host, "addr", "add", f"{link.host_addr}/29", "dev", host_dev)
            ip("-n", peer, "addr", "add", f"{link.admin_addr}/29", "dev", peer_dev)
            ip("-n", peer, "addr", "add", f"{link.other_addr}/29", "dev", peer_dev)
            for ns, dev in ((link.host, host_dev), (peer, peer_dev)):
                ip("-n", ns, "link", "set", dev, "up")
            ip("-n", link.host, "link", "set", "lo", "up")
            state[name] = tmp_path / name / "agent-state"
            state[name].mkdir(mode=0o700, parents=True)
            servers.append(start_sshd(tmp_path / name / "sshd", client_key, port=SSH_PORT,
                                      listen=link.host_addr, netns=link.host,
                                      binds=[(state[name], AGENT_STATE)]))
            links[name] = link
            peer_devices[name] = peer_dev
        sshd = dict(zip(links, servers, strict=True))
        home = build_sample_home(tmp_path / "edge-home")
        known = tmp_path / "known_hosts"
        known.write_text("".join(s.known_hosts_line + "\n" for s in servers))
        admins = ", ".join(json.dumps(f"{link.admin_addr}/32") for link in links.values())
        lines = ["[fleet]", f"known_hosts = {json.dumps(str(known))}",
                 "connect_timeout_seconds = 3", "max_parallel = 2",
                 "[network]", f"admin_sources = [{admins}]"]
        for name, link in links.items():
            lines += ["[[hosts]]", f"name = {json.dumps(name)}",
                      f"ssh = {json.dumps(f'root@{link.host_addr}:{SSH_PORT}')}",
                      'identity = "agent"', "[hosts.agent]",
                      f"user_home = {json.dumps(str(home.user_home))}",
                      f"tmp_dirs = [{json.dumps(str(home.tmp_dir))}]"]
        config = tmp_path / "clawback.toml"
        config.write_text("\n".join(lines) + "\n")
        env = {**os.environ, **ssh_agent,
               "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
        yield TwoHosts(peer, links, sshd, peer_devices, state, config, tmp_path / "incidents", env,
                       {p.value for p in home.planted})
    finally:
        for server in servers:
            server.stop()
        for ns in created:
            _kill_inside(ns)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if made_mount_point and Path(AGENT_STATE).is_dir() and not any(
                Path(AGENT_STATE).iterdir()):
            Path(AGENT_STATE).rmdir()


def _restore_entries(incident: Path) -> list[dict[str, object]]:
    return [dict(e.fields) for e in read_entries(incident / "timeline.jsonl")
            if e.fields["step"] == "restore-network" and e.phase in ("intent", "result")]


def test_fleet_cut_is_kept_then_undone_per_host_and_recorded(two_hosts: TwoHosts) -> None:
    fleet = two_hosts
    playbook = fleet.config.parent / "cut.yaml"
    playbook.write_text(PLAYBOOK)
    outputs: list[str] = []

    contained = fleet.clawback("contain", "--hosts", "edge-a,edge-b", "--config",
                               str(fleet.config), "--playbook", str(playbook), "--cut-network",
                               "--yes", "--json")
    assert contained.returncode == 0, contained.stderr
    document = json.loads(contained.stdout)
    incident_id = str(document["incident"])
    incident = Path(document["incident_dir"])
    cut = next(r for r in document["results"] if r["step"] == "isolate")
    # The step's advice names the command this test is about, the on-host one as fallback.
    assert f"clawback restore-network {incident_id} --confirm" in cut["summary"]
    for name, link in fleet.links.items():
        assert "clawback_isolate" in link.tables(), name
        assert not link.reaches(link.other_addr, SSH_PORT)

    # Bad input: nothing is done and nothing is written.
    before = (incident / "timeline.jsonl").read_bytes()
    unknown = fleet.clawback("restore-network", incident_id, "--hosts", "edge-c")
    assert unknown.returncode == 2, unknown.stderr
    assert "edge-c" in unknown.stderr and "edge-a, edge-b" in unknown.stderr
    no_config = fleet.clawback("restore-network", incident_id, "--config",
                               str(fleet.config.parent / "absent.toml"))
    assert no_config.returncode == 2 and "absent.toml" in no_config.stderr
    assert (incident / "timeline.jsonl").read_bytes() == before
    outputs += [unknown.stderr, no_config.stderr]

    # Keep the cut on both hosts: the rollback timers are disarmed and the deadline passes.
    kept = fleet.clawback("restore-network", incident_id, "--confirm", "--json")
    assert kept.returncode == 0, kept.stderr
    outputs.append(kept.stdout)
    answer = json.loads(kept.stdout)
    assert answer["ok"] is True
    assert answer["checkpoint"] == (incident / "checkpoint.txt").read_text()
    assert {h["host"]: h["outcome"] for h in answer["hosts"]} == {"edge-a": "Done",
                                                                  "edge-b": "Done"}
    for name in fleet.links:
        state = fleet.cut_state(name, incident_id)
        assert state["confirmed_at"] and not state["rollback"]["armed"]  # type: ignore[index]
        # The deadline comes for the on-host timer (in a copy of its state, set in the past,
        # instead of waiting for the clock: a 9-second deadline once raced the confirm on a
        # busy machine): disarmed, it undoes nothing.
        copy = fleet.incidents.parent / f"state-at-deadline-{name}"
        shutil.copytree(fleet.state[name] / incident_id, copy)
        at_deadline = json.loads((copy / "network-cut.json").read_text())
        at_deadline["rollback"]["deadline"] = datetime.now(UTC).timestamp() - 1
        (copy / "network-cut.json").write_text(json.dumps(at_deadline))
        assert rollback_timer(str(copy), poll_s=0.01) == 0
        assert not json.loads((copy / "network-cut.json").read_text()).get("restored_at")
    for name, link in fleet.links.items():
        assert "clawback_isolate" in link.tables(), f"{name}: the rollback fired anyway"
        assert not link.reaches(link.other_addr, SSH_PORT)

    # Undo it with edge-b unreachable: edge-a is restored, edge-b is named with advice.
    fleet.unplug("edge-b")
    partial = fleet.clawback("restore-network", incident_id)
    outputs.append(partial.stdout + partial.stderr)
    assert partial.returncode == 3, partial.stdout + partial.stderr
    # One entry per host, wrapped at 80 columns: read as words.
    shown = " ".join(partial.stdout.split())
    assert "✔ edge-a: done — network of edge-a restored" in shown
    failed = shown[shown.index("✘ edge-b: failed"):shown.index("Checkpoint (copy it off")]
    assert "cannot reach edge-b" in failed and "is still cut" in failed
    assert f"restore-network {incident_id} --hosts edge-b" in failed
    assert "clawback-agent.pyz restore" in failed  # the on-host fallback
    assert "still running unchecked" not in failed  # contain's advice, not true any more
    assert "Checkpoint (copy it off this host)" in partial.stdout
    a = fleet.links["edge-a"]
    assert "clawback_isolate" not in a.tables() and a.reaches(a.other_addr, SSH_PORT)
    assert fleet.cut_state("edge-a", incident_id)["restored_by"] == "restore-network"
    assert "clawback_isolate" in fleet.links["edge-b"].tables()

    # Back on the network, edge-b alone is retried, with a config edited since the incident.
    fleet.plug("edge-b")
    with fleet.config.open("a") as config:
        config.write("# edited after the incident\n")
    retried = fleet.clawback("restore-network", incident_id, "--hosts", "edge-b", "--json")
    outputs.append(retried.stdout)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    retry = json.loads(retried.stdout)
    assert [h["host"] for h in retry["hosts"]] == ["edge-b"]
    assert any("has changed since the incident was run" in n for n in retry["notes"])
    b = fleet.links["edge-b"]
    assert "clawback_isolate" not in b.tables() and b.reaches(b.other_addr, SSH_PORT)

    # The agent's own refusal is that host's failure: too late to keep a cut already undone.
    late = fleet.clawback("restore-network", incident_id, "--confirm", "--hosts", "edge-a")
    outputs.append(late.stdout + late.stderr)
    assert late.returncode == 3, late.stdout + late.stderr
    assert "✘ edge-a: failed" in late.stdout and "too late" in late.stdout

    # On record: per host, an intent before and a result after, each naming its host.
    entries = _restore_entries(incident)
    expected = [("network.confirm_cut", "edge-a", "Done"), ("network.confirm_cut", "edge-b",
                                                            "Done"),
                ("network.restore", "edge-a", "Done"), ("network.restore", "edge-b", "Failed"),
                ("network.restore", "edge-b", "Done"), ("network.confirm_cut", "edge-a",
                                                        "Failed")]
    results = [e for e in entries if e["phase"] == "result"]
    assert sorted((str(e["action"]), e["target"]["host"], str(e["outcome"]))  # type: ignore[index]
                  for e in results) == sorted(expected)
    intents = {int(str(e["seq"])): e for e in entries if e["phase"] == "intent"}
    for result in results:
        intent = intents[int(str(result["intent_seq"]))]
        assert intent["target"] == result["target"] and intent["seq"] < result["seq"]
    assert len(intents) == len(results)

    verified = subprocess.run([sys.executable, "-m", "clawback", "verify", incident_id,
                               "--incidents-dir", str(fleet.incidents)], capture_output=True,
                              text=True, timeout=60, env=fleet.env, cwd=str(REPO_ROOT))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    reported = subprocess.run([sys.executable, "-m", "clawback", "report", incident_id,
                               "--incidents-dir", str(fleet.incidents)], capture_output=True,
                              text=True, timeout=60, env=fleet.env, cwd=str(REPO_ROOT))
    assert reported.returncode == 0, reported.stdout + reported.stderr
    written = (incident / "timeline.jsonl").read_text() + (incident / "report.md").read_text()
    for text in [*outputs, written]:
        for value in fleet.planted:
            assert value not in text


def test_hosts_and_config_are_refused_on_a_single_host_incident(
    tmp_path: Path, memory_keyring: object, capsys: pytest.CaptureFixture[str],
) -> None:
    from clawback import cli
    from clawback.signing import load_signing_key
    from clawback.timeline import Timeline

    incident = tmp_path / "incidents" / "2026-11-21T0203Z-7f3a"
    timeline = Timeline.create(incident, incident.name, load_signing_key(),
                               header={"config": {"path": None, "sha256": None}})
    timeline.close(manifest_sha256=None)
    before = (incident / "timeline.jsonl").read_bytes()
    for option in ({"hosts": "edge-a"}, {"config": str(tmp_path / "clawback.toml")}):
        assert cli.restore_network(incident.name, incidents_dir=str(incident.parent),
                                   **option) == 2
        assert "is not a fleet incident" in capsys.readouterr().err
    assert (incident / "timeline.jsonl").read_bytes() == before
