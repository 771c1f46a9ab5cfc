"""host.cut_network against real nftables, inside namespaces each test creates.

Every state-changing call runs in the test's own namespace through netns_driver.py; the
host's ruleset is compared before and after the whole module to prove it was never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from responders.host.network import (
    STATE_FILE,
    CutNetworkAction,
    CutNetworkParams,
    docker_containers,
    docker_disconnect_commands,
    docker_inspect_networks_command,
    docker_reconnect_commands,
    effective_params,
    render_ruleset,
    run_rollback_timer,
)
from responders.interface import ResponderContext, ResponderError
from tests.host.conftest import Namespaces, wait_until

WEB, SSH, OUTSIDE = 8080, 22, 9000
UNRELATED_TABLES = """\
table inet owner_rules {
	chain input {
		type filter hook input priority 10; policy accept;
		tcp dport 12345 accept
	}
}
table ip owner_nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
	}
}
"""


@pytest.fixture(scope="module", autouse=True)
def host_ruleset_untouched() -> Iterator[None]:
    """The host's own namespace must look the same after every network test."""
    if os.geteuid() != 0 or subprocess.run(["which", "nft"], capture_output=True).returncode:
        yield
        return
    before = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    yield
    after = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    assert after == before


@pytest.fixture
def world(netns: Namespaces) -> Namespaces:
    netns.serve(netns.host, [WEB, SSH])
    netns.serve(netns.peer, [OUTSIDE])
    return netns


def _cut(world: Namespaces, incident: Path, **params: object) -> dict:
    payload = {"incident_dir": str(incident), "params": params}
    return world.driver("cut", payload)


# --------------------------------------------------------------------------------------------


def test_an_admin_session_older_than_the_cut_is_not_stalled(
    netns: Namespaces, tmp_path: Path
) -> None:
    """No firewall tracked connections before the cut (a common host), so the admin's SSH
    session is first seen mid-stream. When the host speaks first after the cut (a command's
    output while the admin types nothing), that packet must go out, not wait for the client."""
    trigger = tmp_path / "speak"
    netns.start(netns.host, "announce", {"port": SSH, "trigger": str(trigger)}, "ready")
    client = netns.start(
        netns.peer, "listen",
        {"dst": netns.host_addr, "port": SSH, "src": netns.admin_addr, "timeout": 4.0},
        "connected",
    )
    cut = _cut(netns, tmp_path, admin_sources=[netns.admin_addr], rollback_minutes=0)
    assert cut["outcome"] == "Done", cut
    trigger.touch()
    assert client.stdin is not None and client.stdout is not None
    client.stdin.write("wait\n")
    client.stdin.flush()
    assert json.loads(client.stdout.readline()) == {"received": True}


def test_cut_blocks_everything_but_loopback_and_admin_ssh_and_restore_is_exact(
    world: Namespaces, tmp_path: Path
) -> None:
    w = world
    w.nft(UNRELATED_TABLES)
    rules_before = w.ruleset()
    assert w.can_connect(w.peer, w.host_addr, WEB, src=w.other_addr)
    assert w.can_connect(w.host, w.admin_addr, OUTSIDE)
    session = w.hold_session(w.peer, w.host_addr, SSH, src=w.admin_addr)

    cut = _cut(w, tmp_path, admin_sources=[w.admin_addr], rollback_minutes=0)

    assert cut["outcome"] == "Done", cut
    assert not w.can_connect(w.peer, w.host_addr, WEB, src=w.other_addr)
    assert not w.can_connect(w.host, w.admin_addr, OUTSIDE)
    assert not w.can_connect(w.peer, w.host_addr, WEB, src=w.admin_addr)  # admin: SSH only
    assert not w.can_connect(w.peer, w.host_addr, SSH, src=w.other_addr)
    assert w.can_connect(w.host, "127.0.0.1", WEB)
    assert w.can_connect(w.peer, w.host_addr, SSH, src=w.admin_addr)
    assert session.stdin is not None and session.stdout is not None
    session.stdin.write("still here\n")
    session.stdin.flush()
    assert json.loads(session.stdout.readline()) == {"echoed": True}
    # The other tables are still there, byte for byte, next to ours.
    assert rules_before.strip() in w.ruleset()
    state_path = tmp_path / STATE_FILE
    assert (state_path.stat().st_mode & 0o777) == 0o600
    state = json.loads(state_path.read_text())
    assert state["table"] == "clawback_isolate" and state["handle"] == cut["facts"]["handle"]
    applied = (tmp_path / "network-cut.nft").read_text()
    expected = render_ruleset(
        CutNetworkParams(admin_sources=[w.admin_addr], rollback_minutes=0),
        incident_id="2026-11-21T0203Z-test",
    )
    assert applied == expected
    argvs = [c["argv"][1:] for c in cut["facts"]["commands"]]
    ruleset_file = str(tmp_path / "network-cut.nft")
    assert argvs.index(["-c", "-f", ruleset_file]) < argvs.index(["-f", ruleset_file])
    assert all(len(c["binary_sha256"]) == 64 for c in cut["facts"]["commands"])

    restored = w.driver("restore", {"incident_dir": str(tmp_path)})

    assert restored["outcome"] == "Done", restored
    assert restored["facts"]["removed"]["handle"] == state["handle"]
    assert restored["facts"]["blocked_counters"]["dropped in"]["packets"] > 0
    assert w.ruleset() == rules_before
    assert w.can_connect(w.peer, w.host_addr, WEB, src=w.other_addr)
    assert w.can_connect(w.host, w.admin_addr, OUTSIDE)
    again = w.driver("restore", {"incident_dir": str(tmp_path)})
    assert again["outcome"] == "Skipped" and "already restored" in again["reason"]


def test_auto_rollback_fires_when_not_confirmed(world: Namespaces, tmp_path: Path) -> None:
    w = world
    cut = _cut(w, tmp_path, admin_sources=[w.admin_addr], rollback_minutes=0.03)
    assert cut["outcome"] == "Done", cut
    rollback = cut["facts"]["rollback"]
    assert rollback["armed"] and rollback["pid"] > 0
    assert not w.can_connect(w.peer, w.host_addr, WEB, src=w.other_addr)

    def rolled_back() -> bool:
        return json.loads((tmp_path / STATE_FILE).read_text()).get("restored_by") == "auto-rollback"

    assert wait_until(rolled_back, timeout=15, interval=0.2)
    assert "clawback_isolate" not in w.ruleset()
    assert w.can_connect(w.peer, w.host_addr, WEB, src=w.other_addr)
    log = (tmp_path / "network-rollback.log").read_text().strip().splitlines()
    assert json.loads(log[-1])["outcome"] == "Done"
    assert wait_until(lambda: not _pid_alive(rollback["pid"]), timeout=5)
    too_late = w.driver("confirm", {"incident_dir": str(tmp_path)})
    assert too_late["outcome"] == "Failed" and "too late" in too_late["error"]


def test_confirm_disarms_the_auto_rollback(world: Namespaces, tmp_path: Path) -> None:
    w = world
    # A deadline no loaded machine reaches before the confirm: the test must not race it.
    cut = _cut(w, tmp_path, admin_sources=[w.admin_addr], rollback_minutes=30)
    assert cut["outcome"] == "Done", cut

    confirmed = w.driver("confirm", {"incident_dir": str(tmp_path)})

    assert confirmed["outcome"] == "Done", confirmed
    assert not _pid_alive(cut["facts"]["rollback"]["pid"])
    # Even a timer that outlived the kill acts only on an armed state: it would stand down.
    assert not json.loads((tmp_path / STATE_FILE).read_text())["rollback"]["armed"]
    assert run_rollback_timer(tmp_path).name == "Skipped"
    assert "clawback_isolate" in w.ruleset()
    assert not w.can_connect(w.peer, w.host_addr, WEB, src=w.other_addr)
    assert json.loads((tmp_path / STATE_FILE).read_text())["restored_at"] is None
    assert w.driver("restore", {"incident_dir": str(tmp_path)})["outcome"] == "Done"
    assert w.can_connect(w.peer, w.host_addr, WEB, src=w.other_addr)


def test_remote_cut_needs_confirmation_rollback_and_the_session_in_the_allowlist(
    world: Namespaces, tmp_path: Path
) -> None:
    w = world
    rules_before = w.ruleset()
    over_ssh = {"SSH_CONNECTION": f"{w.other_addr} 50022 {w.host_addr} 22"}
    payload = {"incident_dir": str(tmp_path)}

    def cut(**params: object) -> dict:
        return w.driver("cut", {**payload, "params": params}, env=over_ssh)

    unconfirmed = cut(admin_sources=[w.other_addr])
    no_timer = cut(admin_sources=[w.other_addr], confirmed_remote=True, rollback_minutes=0)
    locks_me_out = cut(admin_sources=[w.admin_addr], confirmed_remote=True)
    assert [unconfirmed["outcome"], no_timer["outcome"], locks_me_out["outcome"]] == ["Refused"] * 3
    assert "confirmed_remote" in unconfirmed["reason"]
    assert "rollback_minutes" in no_timer["reason"]
    assert w.other_addr in locks_me_out["reason"] and "admin_sources" in locks_me_out["reason"]
    assert w.ruleset() == rules_before
    assert not (tmp_path / STATE_FILE).exists()

    done = cut(admin_sources=[w.other_addr], confirmed_remote=True, rollback_minutes=0.5)

    assert done["outcome"] == "Done", done
    assert done["facts"]["rollback"]["armed"] and done["facts"]["ssh_client"] == w.other_addr
    assert w.can_connect(w.peer, w.host_addr, SSH, src=w.other_addr)
    assert not w.can_connect(w.peer, w.host_addr, SSH, src=w.admin_addr)
    assert w.driver("restore", payload)["facts"]["rollback_process"] == "terminated"
    assert w.ruleset() == rules_before


def test_agent_scope_drops_only_the_agent_uid(world: Namespaces, tmp_path: Path) -> None:
    w = world
    agent_uid = 210_000 + os.getpid() % 1000
    assert w.can_connect(w.host, w.admin_addr, OUTSIDE, uid=agent_uid)

    cut = w.driver(
        "cut",
        {
            "incident_dir": str(tmp_path),
            "params": {"scope": "agent", "rollback_minutes": 0},
            "settings": {"agent": {"uid": agent_uid}},
        },
    )

    assert cut["outcome"] == "Done", cut
    assert f"meta skuid {agent_uid}" in w.ruleset()
    assert not w.can_connect(w.host, w.admin_addr, OUTSIDE, uid=agent_uid)
    assert w.can_connect(w.host, w.admin_addr, OUTSIDE)
    assert w.can_connect(w.peer, w.host_addr, WEB, src=w.other_addr)
    assert w.driver("restore", {"incident_dir": str(tmp_path)})["outcome"] == "Done"
    assert w.can_connect(w.host, w.admin_addr, OUTSIDE, uid=agent_uid)


def test_plan_shows_the_exact_ruleset_and_changes_nothing(
    netns: Namespaces, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "incident"
    before = netns.ruleset()
    planned = netns.driver(
        "plan", {"incident_dir": str(tmp_path), "params": {"admin_sources": ["192.0.2.0/24"]}}
    )
    assert planned["outcome"] == "Planned"
    expected = render_ruleset(
        CutNetworkParams(admin_sources=["192.0.2.0/24"]), incident_id="2026-11-21T0203Z-test"
    )
    assert planned["facts"]["ruleset"] == expected
    assert expected in planned["detail"]
    assert f"nft -f {tmp_path / 'network-cut.nft'}" in planned["commands"]
    assert netns.ruleset() == before
    assert not tmp_path.exists()


def test_a_table_with_our_name_that_we_did_not_make_is_left_alone(
    netns: Namespaces, tmp_path: Path
) -> None:
    netns.nft("table inet clawback_isolate {\n\tchain keep {\n\t}\n}\n")
    before = netns.ruleset()
    cut = netns.driver("cut", {"incident_dir": str(tmp_path), "params": {"rollback_minutes": 0}})
    assert cut["outcome"] == "Failed"
    assert "already exists" in cut["error"] and "table" in cut["error"]
    assert netns.ruleset() == before


def test_not_root_fails_with_advice_and_changes_nothing(netns: Namespaces, tmp_path: Path) -> None:
    before = netns.ruleset()
    answer = netns.driver(
        "cut", {"incident_dir": str(tmp_path), "params": {"rollback_minutes": 0}}, uid=54_321
    )
    assert answer["outcome"] == "Failed"
    assert "needs root" in answer["error"] and "sudo clawback" in answer["error"]
    assert netns.ruleset() == before


def test_missing_nft_fails_with_the_package_to_install(netns: Namespaces, tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    answer = netns.driver(
        "cut",
        {
            "incident_dir": str(tmp_path),
            "params": {"rollback_minutes": 0},
            "search_path": [str(empty)],
        },
    )
    assert answer["outcome"] == "Failed"
    assert "`nft` not found" in answer["error"]
    assert "apt-get install -y nftables" in answer["error"]
    assert not (tmp_path / STATE_FILE).exists()


# --------------------------------------------------------------------------------------------
# No root needed


def test_admin_sources_must_be_addresses_or_networks() -> None:
    with pytest.raises(ValueError, match="not an IP address or CIDR"):
        CutNetworkParams(admin_sources=["10.0.0.300"])
    with pytest.raises(ValueError, match="host bits"):
        CutNetworkParams(admin_sources=["10.0.0.1/24"])
    assert CutNetworkParams(admin_sources=["10.0.0.1", "2001:db8::/32"]).admin_sources == [
        "10.0.0.1/32",
        "2001:db8::/32",
    ]
    with pytest.raises(ResponderError, match=r"admin_sources.*not an IP address"):
        effective_params(CutNetworkParams(), {"network": {"admin_sources": ["vpn.example"]}})
    bad = CutNetworkAction(
        ResponderContext(settings={"network": {"table": "drop everything"}}), CutNetworkParams()
    )
    with pytest.raises(ResponderError, match="table"):
        bad.plan(bad.targets()[0])


def test_step_parameters_override_network_settings() -> None:
    settings = {
        "network": {"ssh_port": 2222, "admin_sources": ["198.51.100.7"], "rollback_minutes": 2}
    }
    merged = effective_params(CutNetworkParams(rollback_minutes=9), settings)
    assert (merged.ssh_port, merged.admin_sources, merged.rollback_minutes) == (
        2222,
        ["198.51.100.7/32"],
        9,
    )
    ruleset = render_ruleset(merged)
    assert "ip saddr @admin_v4 tcp dport 2222 ct state { new, established } accept" in ruleset
    assert "flush" not in ruleset and ruleset.count("table ") == 1


def test_docker_network_disconnect_commands_built_without_docker() -> None:
    settings = {"agent": {"services": [{"kind": "docker", "name": "openclaw-gateway"}]}}
    assert docker_containers(settings) == ["openclaw-gateway"]
    assert docker_inspect_networks_command("openclaw-gateway") == (
        "docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", "openclaw-gateway",
    )  # fmt: skip
    assert docker_disconnect_commands("openclaw-gateway", ["bridge", "oc_default"]) == [
        ("docker", "network", "disconnect", "--force", "bridge", "openclaw-gateway"),
        ("docker", "network", "disconnect", "--force", "oc_default", "openclaw-gateway"),
    ]
    assert docker_reconnect_commands([{"container": "c1", "network": "oc_default"}]) == [
        ("docker", "network", "connect", "oc_default", "c1")
    ]
    plan = CutNetworkAction(ResponderContext(settings=settings), CutNetworkParams(scope="agent"))
    commands = plan.plan(plan.targets()[0]).commands
    assert "docker network disconnect --force '<each network>' openclaw-gateway" in commands


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}/status").exists()
        and "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    )
