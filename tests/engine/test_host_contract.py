"""The engine asks about this machine through the contract: the host responder's
``HostKeeper``, found by entry point, answers with a frozen ``CutState`` for a network cut and
names a process's supervisor; the agent keeper says which processes look like the agent."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from clawback.registry import load_agent, load_host
from responders.interface import CutState, Failed, Skipped


def _record(incident_dir: Path, **state: object) -> None:
    # The record the cut writes (responders/host/network.py), here with no table behind it.
    (incident_dir / "network-cut.json").write_text(json.dumps(state))


def test_the_host_keeper_is_found_by_entry_point_and_reads_nothing_as_nothing(
        tmp_path: Path) -> None:
    network = load_host()
    assert network.cut_state(tmp_path) is None
    outcome = network.confirm_cut(tmp_path)
    assert isinstance(outcome, Skipped) and "no network cut is recorded" in outcome.reason
    assert load_host() is network  # one per process


def test_a_recorded_cut_reads_back_as_a_frozen_state(tmp_path: Path) -> None:
    deadline = time.time() + 3600
    _record(tmp_path, status="applied", table="clawback_isolate", family="inet",
            applied_at="2026-12-06T20:00:00Z",
            rollback={"armed": True, "deadline": deadline, "deadline_utc": "x", "pid": None})
    state = load_host().cut_state(tmp_path)
    assert isinstance(state, CutState)
    assert (state.table, state.status, state.rollback_armed) == (
        "inet clawback_isolate", "applied", True)
    assert state.rollback_deadline == pytest.approx(deadline)
    assert state.restored_at is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.status = "restored"  # type: ignore[misc]


def test_confirming_a_cut_already_undone_says_it_is_too_late(tmp_path: Path) -> None:
    _record(tmp_path, status="applied", table="clawback_isolate", family="inet",
            restored_at="2026-12-06T20:05:00Z", restored_by="rollback-timer",
            rollback={"armed": False})
    network = load_host()
    state = network.cut_state(tmp_path)
    assert state is not None and state.restored_by == "rollback-timer"
    assert state.rollback_armed is False and state.rollback_deadline is None
    outcome = network.confirm_cut(tmp_path)
    assert isinstance(outcome, Failed) and "too late" in outcome.error


def test_a_process_that_is_gone_has_no_supervisor_and_no_error() -> None:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid names no process now
    assert load_host().supervisor_of(child.pid) is None


def test_the_agent_keeper_names_what_looks_like_its_gateway() -> None:
    agent = load_agent()
    assert agent.process_signature("openclaw-gateway", ["openclaw-gateway"])
    assert agent.process_signature("bash", ["bash", "-c", "sleep 5"]) is None


def test_the_agent_keeper_names_its_config_files() -> None:
    # The audit finds config backups (`openclaw.json.bak.1`) by these names.
    assert "openclaw.json" in load_agent().config_names


def test_the_agent_keeper_surveys_an_install_in_the_contract_s_own_types(
        tmp_path: Path) -> None:
    # What `clawback audit` judges, asked through the contract: the engine never sees
    # discovery's own types, only the frozen ones responders/interface.py defines.
    from responders.interface import (
        AgentConfig,
        AgentLock,
        AgentService,
        AgentSurvey,
        ConfigFile,
    )

    home = tmp_path / "home"
    state = home / ".openclaw"
    state.mkdir(parents=True)
    (state / "openclaw.json").write_text(
        '{ gateway: { port: 24555, bind: "loopback" }, hooks: { $include: "./hooks.json5" } }')
    (state / "hooks.json5").write_text('{ enabled: true, path: "/hooks" }')
    units = home / ".config" / "systemd" / "user"
    units.mkdir(parents=True)
    (units / "openclaw-gateway.service").write_text(
        "[Service]\nExecStart=/usr/bin/node /opt/openclaw/dist/index.js gateway\n"
        f"Environment=OPENCLAW_STATE_DIR={state}\nEnvironment=OPENCLAW_SERVICE_VERSION=2026.9.6\n")
    locks = tmp_path / "tmp" / "openclaw-1000"
    locks.mkdir(parents=True)
    (locks / "gateway.0a1b2c3d.lock").write_text(json.dumps({"pid": 2**22 + 17}))
    empty_root = tmp_path / "root"
    empty_root.mkdir()

    survey = load_agent().survey(user_home=home, state_dirs=None, tmp_dirs=[tmp_path / "tmp"],
                                 env={}, system_root=empty_root)

    assert isinstance(survey, AgentSurvey)
    assert state in survey.state_dirs
    (config,) = survey.configs
    assert isinstance(config, AgentConfig)
    assert (config.path, config.state_dir) == (state / "openclaw.json", state)
    assert config.merged["hooks"] == {"enabled": True, "path": "/hooks"}
    assert all(type(f) is ConfigFile for f in config.files)
    assert [(f.path.name, f.mount) for f in config.files] == [
        ("openclaw.json", ()), ("hooks.json5", ("hooks",))]
    assert 24555 in survey.ports
    (service,) = survey.services
    assert type(service) is AgentService
    assert (service.kind, service.name, service.version) == (
        "systemd-user", "openclaw-gateway.service", "2026.9.6")
    (lock,) = survey.locks
    assert type(lock) is AgentLock and lock.pid == 2**22 + 17 and not lock.alive
    with pytest.raises(dataclasses.FrozenInstanceError):
        survey.ports = ()  # type: ignore[misc]
