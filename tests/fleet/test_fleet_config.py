"""``[[hosts]]``, ``[fleet]`` and ``--hosts``: every mistake is refused with its place and what
to write instead, before anything connects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clawback.config import load_config
from clawback.contain import ContainRequest, prepare
from clawback.errors import BadInput
from clawback.fleet import host_settings, phases_of, prepare_fleet, select_hosts

PROVIDERS = ("aws", "github")

HOSTS = """\
[fleet]
known_hosts = "{known_hosts}"

[[hosts]]
name = "pi"
ssh = "root@192.0.2.10:2222"
groups = ["agents", "home"]
[hosts.agent]
user_home = "/home/alice"
gateway_port = 18790
[[hosts.agent.services]]
kind = "supervisord"
name = "openclaw-gateway"
socket = "/run/supervisor.sock"

[[hosts]]
name = "vps"
ssh = "admin@[2001:db8::7]:22"
identity = "keyring:clawback/fleet-key"
sudo = true
groups = ["agents"]

[[hosts]]
name = "lab"
ssh = "lab.example"
"""


def write(tmp_path: Path, text: str) -> Path:
    known = tmp_path / "known_hosts"
    known.write_text("")
    path = tmp_path / "clawback.toml"
    path.write_text(text.replace("{known_hosts}", str(known)))
    return path


def refused(path: Path) -> BadInput:
    with pytest.raises(BadInput) as caught:
        load_config(path, known_providers=PROVIDERS)
    return caught.value


def test_hosts_and_groups_are_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, HOSTS), known_providers=PROVIDERS)
    assert [h.name for h in config.hosts] == ["pi", "vps", "lab"]
    assert config.hosts[0].identity == "agent" and config.hosts[1].sudo
    # Paths on another host are not expanded against this machine's home.
    services = config.hosts[0].agent.services
    assert services is not None and services[0].socket == "/run/supervisor.sock"
    names = [h.name for h in select_hosts(config, "@agents", None)]
    assert names == ["pi", "vps"]
    assert [h.name for h in select_hosts(config, "lab,@home,pi", None)] == ["lab", "pi"]
    assert [h.name for h in select_hosts(config, "@all", None)] == ["pi", "vps", "lab"]
    ad_hoc = select_hosts(config, "root@198.51.100.4:2200", None)
    assert [(h.name, h.ssh) for h in ad_hoc] == [("198.51.100.4-2200", "root@198.51.100.4:2200")]


def test_a_host_sees_its_own_agent_table_not_this_machines(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, HOSTS + '\n[agent]\nuser_home = "/srv/local"\n'),
                         known_providers=PROVIDERS)
    pi, lab = config.hosts[0], config.hosts[2]
    settings = host_settings(config, pi)
    assert settings["agent"] == {
        "user_home": "/home/alice", "gateway_port": 18790,
        "services": [{"kind": "supervisord", "name": "openclaw-gateway",
                      "socket": "/run/supervisor.sock"}],
    }
    assert settings["host"] == {"name": "pi", "ssh": "root@192.0.2.10:2222", "sudo": False}
    assert host_settings(config, lab)["agent"] == {}
    assert "evidence" in settings and "network" in settings


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ("vpss", "no host 'vpss' in [[hosts]]. Did you mean 'vps'?"),
        ("@agnets", "no [[hosts]] entry is in group 'agnets'; groups: @agents, @home"),
        (" , ", "--hosts names no host"),
        ("root@bad host:22", "'root@bad host:22': expected user@address:port"),
    ],
)
def test_unknown_selection_is_refused_with_advice(tmp_path: Path, selection: str,
                                                  message: str) -> None:
    config = load_config(write(tmp_path, HOSTS), known_providers=PROVIDERS)
    with pytest.raises(BadInput) as caught:
        select_hosts(config, selection, None)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("change", "at", "message"),
    [
        (("ssh = \"lab.example\"", "ssh = \"lab example\""), 'ssh = "lab example"',
         "hosts[2].ssh: expected user@address:port"),
        (("name = \"lab\"", "name = \"vps\""), "[[hosts]]",
         "host name 'vps' is used by [[hosts]] #2 and #3"),
        (("sudo = true", "sudo = true\nbecome = true"), "become",
         "unknown key 'become' in [[hosts]] #2; allowed: agent, groups, identity, name"),
        (("identity = \"keyring:clawback/fleet-key\"", "identity = \"~/.ssh/id_ed25519\""),
         'identity = "~/.ssh/id_ed25519"', "a literal credential"),
        (("gateway_port = 18790", "gateway_prot = 18790"), "gateway_prot",
         "unknown key 'gateway_prot' in [[hosts]] #1 agent; allowed:"),
    ],
)
def test_host_mistakes_are_located(tmp_path: Path, change: tuple[str, str], at: str,
                                   message: str) -> None:
    text = HOSTS.replace(*change)
    error = refused(write(tmp_path, text))
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if at in ln)
    assert error.line == line or (at == "[[hosts]]" and error.line is not None)
    assert message in error.message, error.message


def _prepare(tmp_path: Path, text: str, **request: Any) -> Any:
    return prepare(ContainRequest(config=write(tmp_path, text), **request))


def test_fleet_inputs_are_checked_before_anything_connects(tmp_path: Path,
                                                           memory_keyring: Any) -> None:
    prepared = _prepare(tmp_path, HOSTS)
    with pytest.raises(BadInput) as caught:
        prepare_fleet(prepared, "vps")
    assert "identity" in str(caught.value) and "keyring set clawback fleet-key" in str(
        caught.value)
    assert caught.value.line == HOSTS.splitlines().index(
        'identity = "keyring:clawback/fleet-key"') + 1

    memory_keyring.set_password("clawback", "fleet-key", "not a key")
    with pytest.raises(BadInput) as caught:
        prepare_fleet(prepared, "vps")
    assert "is not an unencrypted OpenSSH private key" in str(caught.value)

    (tmp_path / "known_hosts").unlink()
    with pytest.raises(BadInput) as caught:
        prepare_fleet(prepared, "pi")
    assert "no known_hosts file" in str(caught.value) and "ssh-keyscan" in str(caught.value)

    resumed = _prepare(tmp_path, HOSTS, resume="2026-01-01T0000Z-abcd")
    with pytest.raises(BadInput) as caught:
        prepare_fleet(resumed, "pi")
    assert "cannot be resumed" in str(caught.value)


def test_contain_playbook_runs_host_steps_in_parallel_phases_and_keys_centrally(
    tmp_path: Path,
) -> None:
    prepared = _prepare(tmp_path, HOSTS)
    phases = [(p.central, p.step_ids) for p in phases_of(prepared.loaded)]
    assert phases == [
        (False, ("volatile", "stop")),
        (True, ("revoke",)),
        (False, ("evidence",)),
        (True, ("agent-secrets",)),
        (False, ("lockdown", "isolate")),
    ]
