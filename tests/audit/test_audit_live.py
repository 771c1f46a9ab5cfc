"""Live host checks in a network namespace the test creates: a stand-in gateway process (titled
``openclaw-gateway``, as the real one) listening in it, and nftables rules loaded into it only.
The host's own sockets and ruleset are never looked at or touched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.audit.conftest import REPO, AuditedHome
from tests.conftest import require_binary, require_root

HELPER = Path(__file__).with_name("netns_audit.py")
NOBODY = 65534
DROP_INPUT = """
table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    iif lo accept
    ct state established,related accept
    tcp dport 22 accept
  }
}
"""
# A common shape: accept policy, with a final catch-all drop rule.
FINAL_DROP_RULE = """
table inet filter {
  chain input {
    type filter hook input priority 0; policy accept;
    iif lo accept
    counter drop
  }
}
"""


def audit_in_namespace(
    home: AuditedHome,
    tmp_path: Path,
    *,
    listen: str,
    as_uid: int | None,
    nft_rules: str | None,
    **listener: Any,
) -> dict[str, Any]:
    require_root()
    unshare = require_binary("unshare", "util-linux")
    require_binary("nft", "nftables")
    require_binary("ip", "iproute2")
    port = home.settings["agent"]["gateway_port"]
    spec = {
        "user_home": str(home.user_home),
        "host_root": str(home.host_root),
        "settings": home.settings,
        "listen": listen,
        "port": port,
        "as_uid": as_uid,
        "nft_rules": nft_rules,
        **listener,
    }
    spec_path = tmp_path / "netns-spec.json"
    spec_path.write_text(json.dumps(spec))
    done = subprocess.run(
        [unshare, "--net", sys.executable, str(HELPER), str(spec_path)],
        capture_output=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return json.loads(done.stdout)["report"]  # type: ignore[no-any-return]


def ids(report: dict[str, Any]) -> set[str]:
    return {f["id"] for f in report["findings"]}


def test_exposed_root_gateway_without_firewall_is_reported(
    weak: AuditedHome, tmp_path: Path
) -> None:
    report = audit_in_namespace(weak, tmp_path, listen="0.0.0.0", as_uid=None, nft_rules=None)
    found = {f["id"]: f for f in report["findings"]}
    port = weak.settings["agent"]["gateway_port"]
    listener = found["gateway.listener_exposed"]
    assert listener["severity"] == "critical"
    assert any(f"listens on 0.0.0.0:{port}" in line for line in listener["evidence"])
    root = found["process.gateway_root"]
    assert any("runs as uid 0" in line for line in root["evidence"])
    firewall = found["host.firewall_default_allow"]
    assert "ufw: disabled, default input policy ACCEPT" in firewall["evidence"]
    assert any(line.startswith("nft: no chain hooks input") for line in firewall["evidence"])


def test_loopback_unprivileged_gateway_behind_a_drop_policy_is_clean(
    hardened: AuditedHome, tmp_path: Path
) -> None:
    # ufw is "enabled" in the hardened host root; switch it off so nftables must carry it.
    (hardened.host_root / "etc/ufw/ufw.conf").write_text("ENABLED=no\n")
    report = audit_in_namespace(
        hardened, tmp_path, listen="127.0.0.1", as_uid=NOBODY, nft_rules=DROP_INPUT
    )
    assert ids(report) == {"contain.manual_only"}, json.dumps(report["findings"], indent=1)


@pytest.mark.parametrize("rules", [FINAL_DROP_RULE, None])
def test_a_final_drop_rule_counts_as_a_firewall(
    hardened: AuditedHome, tmp_path: Path, rules: str | None
) -> None:
    (hardened.host_root / "etc/ufw/ufw.conf").write_text("ENABLED=no\n")
    report = audit_in_namespace(
        hardened, tmp_path, listen="127.0.0.1", as_uid=NOBODY, nft_rules=rules
    )
    assert ("host.firewall_default_allow" in ids(report)) is (rules is None)


def test_a_gateway_of_another_home_on_another_port_is_not_this_install(
    hardened: AuditedHome, tmp_path: Path
) -> None:
    # Same title, root, all interfaces, but another user's HOME and port: not this install's.
    other_home = tmp_path / "someone-else"
    other_home.mkdir()
    port = hardened.settings["agent"]["gateway_port"]
    report = audit_in_namespace(
        hardened,
        tmp_path,
        listen="0.0.0.0",
        as_uid=None,
        nft_rules=DROP_INPUT,
        listener_home=str(other_home),
        listener_port=port + 7,
    )
    assert ids(report) == {"contain.manual_only"}


def test_a_root_gateway_of_this_home_on_loopback_is_still_reported(
    hardened: AuditedHome, tmp_path: Path
) -> None:
    report = audit_in_namespace(
        hardened, tmp_path, listen="127.0.0.1", as_uid=None, nft_rules=DROP_INPUT
    )
    assert ids(report) == {"contain.manual_only", "process.gateway_root"}


def test_a_config_binding_lan_with_a_loopback_listener_is_worded_as_what_runs(
    weak: AuditedHome, tmp_path: Path
) -> None:
    # `openclaw gateway --bind loopback` overrides gateway.bind = "lan" in the config.
    report = audit_in_namespace(weak, tmp_path, listen="127.0.0.1", as_uid=NOBODY,
                                nft_rules=DROP_INPUT)
    (bind,) = [f for f in report["findings"] if f["id"] == "gateway.bind_exposed"]
    assert bind["severity"] == "medium"
    assert "running gateway does not" in bind["title"]
    assert any("listens on loopback only" in line for line in bind["evidence"])
    assert "gateway.listener_exposed" not in ids(report)


def test_a_gateway_supervisord_runs_has_a_stop_path_without_unit_files(
    hardened: AuditedHome, tmp_path: Path
) -> None:
    from clawback.audit import HostSystem, run_audit
    from clawback_demo.supervisor import start_supervisord
    from tests.host.conftest import free_port, gateway_argv, port_open, wait_until

    for unit in (hardened.user_home / ".config" / "systemd" / "user").glob("*"):
        unit.unlink()
    port = free_port()
    hardened.settings["agent"]["gateway_port"] = port
    config = hardened.state_dir / "openclaw.json"
    argv = gateway_argv(port, tmp_path / "locks", str(config))
    with start_supervisord(tmp_path / "sv", {"openclaw-gateway": argv}):
        assert wait_until(lambda: port_open(port))
        report = run_audit(user_home=hardened.user_home, settings=hardened.settings,
                           host=HostSystem(root=hardened.host_root, live=True), openclaw=())
    assert "contain.no_stop_path" not in report.ids()
