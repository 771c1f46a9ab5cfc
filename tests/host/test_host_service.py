"""host.stop_service against real processes: a gateway stand-in under a private supervisord
with autorestart, behind a pid file, and found by its lock file alone.

systemd, launchd and docker do not run on this machine: for them the exact commands are
checked, and the test names say so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from clawback_demo.gateway import lock_file_name
from clawback_demo.supervisor import SupervisorHandle, start_supervisord
from responders.host.service import (
    ServiceSpec,
    StopServiceAction,
    StopServiceParams,
    discover_unit_files,
    gateway_signature,
    recheck_window,
    services_from_settings,
    stop_commands,
)
from responders.interface import ResponderContext, ResponderError
from responders.openclaw.layout import HOST_FOOTPRINT
from tests.host.conftest import (
    AgentHost,
    as_uid,
    free_port,
    gateway_argv,
    port_open,
    wait_until,
)

# OpenClaw's footprint, as its keeper gives it to the stop (``AgentKeeper.footprint``).
NOT_FOUND_TARGET = HOST_FOOTPRINT.service_name
PLANTED_TOKEN = "oc-gw-token-" + "7f3a9c2e5b1d" * 3


def _action(settings: dict, recheck: float | None = 0.3, incident_dir: Path | None = None
            ) -> StopServiceAction:
    params = StopServiceParams(recheck_seconds=recheck, term_timeout=3, kill_timeout=2)
    # An incident directory for the backups a final supervisord stop keeps.
    incident_dir = incident_dir or Path(tempfile.mkdtemp(prefix="clawback-test-incident-"))
    context = ResponderContext(settings=settings, incident_id="test-incident",
                               incident_dir=incident_dir)
    return StopServiceAction(context, params)


def _stop_then_watch(action: StopServiceAction, target: str) -> tuple[Any, Any]:
    """The stop, then its re-check as the engine runs it beside the next steps, here with the
    incident already closing: the re-check watches its minimum window and no longer."""
    outcome = action.execute(target)
    if outcome.name != "Done":
        return outcome, None
    closing = threading.Event()
    closing.set()
    return outcome, action.recheck(target, closing)


def _gateway_pids(handle: SupervisorHandle) -> list[int]:
    return [c.pid for c in psutil.Process(handle.pid).children(recursive=True)]


@pytest.fixture
def supervised(tmp_path: Path) -> tuple[SupervisorHandle, int, Path]:
    port = free_port()
    lock_dir = tmp_path / "openclaw-lock"
    handle = start_supervisord(
        tmp_path / "supervisor",
        {"openclaw-gateway": gateway_argv(port, lock_dir)},
        autorestart=True,
    )
    assert wait_until(lambda: port_open(port))
    yield handle, port, lock_dir
    handle.stop()


def test_supervisord_stop_disables_autorestart_and_the_port_stays_closed(
    supervised: tuple[SupervisorHandle, int, Path], tmp_path: Path
) -> None:
    handle, port, lock_dir = supervised
    pid = handle.process_info("openclaw-gateway")["pid"]
    service = {"kind": "supervisord", "name": "openclaw-gateway", "socket": str(handle.socket_path)}
    action = _action({"agent": {"gateway_port": port, "services": [service]}}, recheck=1.5,
                     incident_dir=tmp_path / "incident")
    assert action.targets() == ["supervisord:openclaw-gateway"]

    outcome, again = _stop_then_watch(action, "supervisord:openclaw-gateway")

    assert outcome.name == "Done", outcome
    proof = outcome.facts["proof"]
    assert proof["pids_before"] == [pid]
    assert proof["pids_after"] == [] and proof["port_open_after"] is False
    assert proof["supervisor_state_after"] == "removed"
    assert again.name == "Done", again  # and it stayed down over the whole re-check window
    assert again.facts["proof"]["rechecked_after_s"] >= 1.5
    assert again.facts["proof"]["pids_after"] == [] and not again.facts["proof"]["port_open_after"]
    rpcs = [c["rpc"] for c in outcome.facts["commands"]]
    assert rpcs == ["supervisor.stopProcessGroup", "supervisor.removeProcessGroup"]
    # Not supervisord's wait=True (an answer on its next 1-second tick): polled until down.
    assert outcome.facts["commands"][0]["args"] == ["openclaw-gateway", False]
    assert outcome.facts["commands"][0]["state_after"] in ("STOPPED", "EXITED")
    assert outcome.facts["stop_sent_after_s"] < 0.25
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not list(lock_dir.glob("gateway.*.lock"))
    time.sleep(1.5)  # longer than supervisord's respawn tick: nothing comes back
    assert not port_open(port) and _gateway_pids(handle) == []
    assert "openclaw-gateway" not in [
        p["name"] for p in handle.rpc().supervisor.getAllProcessInfo()
    ]
    # Found from the socket alone: the supervisord listening on it names its config file.
    persistence = outcome.facts["persistence"]
    assert persistence["file"] == str(handle.config_path) and persistence["autostart"] == "false"
    (backup,) = persistence["backups"]
    assert "autostart=true" in Path(backup["backup"]).read_text()


def test_the_stop_survives_supervisorctl_update_and_a_supervisord_restart(
    supervised: tuple[SupervisorHandle, int, Path], tmp_path: Path
) -> None:
    handle, port, _ = supervised
    service = {"kind": "supervisord", "name": "openclaw-gateway", "socket": str(handle.socket_path)}
    action = _action({"agent": {"gateway_port": port, "services": [service]}},
                     incident_dir=tmp_path / "incident")
    before = handle.config_path.read_text()

    outcome = action.execute("supervisord:openclaw-gateway")

    assert outcome.name == "Done", outcome
    after = handle.config_path.read_text()
    changed = [line for line in after.splitlines() if line not in before.splitlines()]
    assert changed == ["; clawback incident test-incident: kept off", "autostart=false"]
    update = subprocess.run(
        [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(handle.config_path),
         "update"], capture_output=True, text=True, timeout=60, check=False,
    )
    assert update.returncode == 0, update.stderr
    # Each RPC answer comes after a pass of supervisord's loop, which starts autostart
    # programs: two answers after the update, it has had its chance.
    for _ in range(2):
        info = handle.process_info("openclaw-gateway")
    assert (info["statename"], info["pid"]) == ("STOPPED", 0)
    handle.restart()
    for _ in range(2):
        info = handle.process_info("openclaw-gateway")
    assert (info["statename"], info["pid"]) == ("STOPPED", 0)
    assert not port_open(port)


def test_a_supervisord_whose_config_is_unknown_is_stopped_and_left_to_a_human(
    supervised: tuple[SupervisorHandle, int, Path], tmp_path: Path
) -> None:
    handle, port, _ = supervised
    missing = tmp_path / "elsewhere" / "supervisord.conf"
    service = {"kind": "supervisord", "name": "openclaw-gateway", "socket": str(handle.socket_path),
               "supervisor_config": str(missing)}
    action = _action({"agent": {"gateway_port": port, "services": [service]}},
                     incident_dir=tmp_path / "incident")

    outcome = action.execute("supervisord:openclaw-gateway")

    assert outcome.name == "ManualRequired", outcome
    assert outcome.facts["proof"]["pids_after"] == [] and not port_open(port)
    assert "autostart=false" in outcome.instructions
    assert "[program:openclaw-gateway]" in outcome.instructions
    assert str(missing) in outcome.instructions


def test_a_stop_supervisord_proves_final_is_rechecked_for_one_supervisor_tick(
    supervised: tuple[SupervisorHandle, int, Path],
) -> None:
    handle, port, _ = supervised
    service = {"kind": "supervisord", "name": "openclaw-gateway", "socket": str(handle.socket_path)}
    # No recheck_seconds: the floor follows from what proved the stop final.
    action = _action({"agent": {"gateway_port": port, "services": [service]}}, recheck=None)

    outcome, again = _stop_then_watch(action, "supervisord:openclaw-gateway")

    assert outcome.name == "Done", outcome
    assert again.name == "Done", again
    window = again.facts["window"]
    assert window["min_s"] == 1.0
    assert window["reason"].startswith("supervisord no longer has 'openclaw-gateway' in its "
                                       "running config and nothing matching is alive")
    assert "at least 1 s because supervisord no longer has" in again.detail
    assert again.facts["proof"]["supervisor_state_after"] == "removed"
    assert again.facts["proof"]["rechecked_after_s"] >= 1.0


def test_a_stop_only_the_process_table_speaks_for_keeps_the_longer_floor(
    agent_host: AgentHost,
) -> None:
    agent_host.start_gateway()
    settings = agent_host.settings([{"kind": "process", "name": "openclaw-gateway"}])

    outcome, again = _stop_then_watch(_action(settings, recheck=None), "process:openclaw-gateway")

    assert outcome.name == "Done", outcome
    assert again.name == "Done", again
    assert again.facts["window"]["min_s"] == 3.0
    assert again.facts["window"]["reason"].startswith("only the process table speaks")
    assert again.facts["proof"]["rechecked_after_s"] >= 3.0


def test_the_recheck_floor_follows_what_proved_the_stop_final() -> None:
    masked = "systemd reports openclaw-gateway.service masked and inactive"
    assert recheck_window("systemd", masked, None) == (1.0, f"{masked}: one supervisor tick")
    assert recheck_window("systemd", None, None)[0] == 3.0  # disabled, not masked
    assert recheck_window("pidfile", None, None)[0] == 3.0
    # launchd's KeepAlive throttle (10 s by default) outlasts a shorter watch.
    assert recheck_window("launchd", None, None)[0] > 10.0
    assert recheck_window("supervisord", None, 0.5) == (
        0.5, "recheck_seconds is set in the playbook"
    )


def test_discovery_finds_the_supervised_gateway_and_stops_it_through_supervisord(
    agent_host: AgentHost, tmp_path: Path
) -> None:
    argv = gateway_argv(agent_host.port, agent_host.lock_dir, uid=agent_host.uid)
    with start_supervisord(tmp_path / "sv", {"openclaw-gateway": argv}) as handle:
        assert wait_until(lambda: port_open(agent_host.port))
        action = _action(agent_host.settings(), recheck=1.5, incident_dir=tmp_path / "incident")

        assert action.targets() == ["supervisord:openclaw-gateway"]
        planned = action.plan("supervisord:openclaw-gateway")
        outcome = action.execute("supervisord:openclaw-gateway")

        assert outcome.name == "Done", outcome
        found = outcome.facts["found"]
        assert found["socket"] == str(handle.socket_path) and found["supervisord_pid"] == handle.pid
        assert found["supervisor_config"] == str(handle.config_path)
        assert outcome.facts["persistence"]["autostart"] == "false"
        assert any("autostart=false in [program:openclaw-gateway]" in line
                   for line in planned.commands)
        assert any("removeProcessGroup" in line for line in planned.commands)
        assert outcome.facts["proof"]["pids_after"] == []
        assert not port_open(agent_host.port)
        assert not list(agent_host.lock_dir.glob("gateway.*.lock"))


def test_killing_a_supervised_gateway_directly_is_caught_as_a_respawn(
    agent_host: AgentHost, tmp_path: Path
) -> None:
    argv = gateway_argv(agent_host.port, agent_host.lock_dir, uid=agent_host.uid)
    with start_supervisord(tmp_path / "sv", {"openclaw-gateway": argv}, autorestart=True) as sv:
        assert wait_until(lambda: port_open(agent_host.port))
        first = sv.process_info("openclaw-gateway")["pid"]
        # Misconfigured on purpose: a bare process, so the stop is a plain TERM.
        settings = agent_host.settings([{"kind": "process", "name": "openclaw-gateway"}])

        stopped, again = _stop_then_watch(_action(settings, recheck=30),
                                          "process:openclaw-gateway")

        # Caught by the first proof or by the re-check (which ends as soon as it sees it).
        outcome = stopped if stopped.name == "Failed" else again
        assert outcome.name == "Failed", outcome
        assert "came back as pid" in outcome.error and "supervisord" in outcome.error
        assert "[[agent.services]]" in outcome.error
        respawned = sv.process_info("openclaw-gateway")["pid"]
        assert respawned != first and respawned in outcome.facts["proof"]["pids_after"]


def test_pid_file_stop(agent_host: AgentHost) -> None:
    pid_file = agent_host.lock_dir / "gateway.pid"
    proc = agent_host.start_gateway(pid_file=pid_file)
    assert wait_until(pid_file.exists)
    settings = agent_host.settings([{"kind": "pidfile", "pidfile": str(pid_file)}])
    action = _action(settings)

    outcome = action.execute(f"pidfile:{pid_file}")

    assert outcome.name == "Done", outcome
    assert outcome.facts["commands"][0]["signals"]["terminated"] == [proc.pid], outcome.facts
    assert outcome.facts["proof"]["pids_before"] == [proc.pid]
    assert proc.wait(timeout=5) == 0  # SIGTERM handled: a clean shutdown
    assert not pid_file.exists() and not port_open(agent_host.port)


def test_lock_file_alone_is_enough_to_find_and_stop_a_bare_gateway(
    agent_host: AgentHost,
) -> None:
    proc = agent_host.start_gateway(env={"OPENCLAW_GATEWAY_TOKEN": PLANTED_TOKEN})
    lock = agent_host.lock_dir / lock_file_name("/home/agent/.openclaw/openclaw.json")
    assert json.loads(lock.read_text())["pid"] == proc.pid
    action = _action(agent_host.settings())
    target = f"pidfile:{lock}"
    assert action.targets() == [target]

    outcome = action.execute(target)

    assert outcome.name == "Done", outcome
    reasons = outcome.facts["processes_before"][0]["found_by"]
    assert f"lock file {lock}" in reasons and "process title" in reasons
    assert proc.wait(timeout=5) == 0
    assert not lock.exists() and not port_open(agent_host.port)
    assert PLANTED_TOKEN not in json.dumps(outcome.facts, default=str) + outcome.detail


# The shape of `openclaw gateway` in 2026.2.26: a CLI process titled "openclaw" that started
# the gateway and waits. This one keeps waiting after its child is gone, so only a stop that
# finds the wrapper gets rid of it.
WRAPPER = """
import ctypes, os, subprocess, sys, time
ctypes.CDLL(None).prctl(15, b"openclaw", 0, 0, 0)
# The stand-in needs only the standard library: the system's Python, which this uid can
# always run (a venv's interpreter may be a link into a home it cannot enter).
python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
subprocess.call([python, *sys.argv[2:]])
time.sleep(600)
"""


def test_the_openclaw_wrapper_is_stopped_with_the_gateway(agent_host: AgentHost) -> None:
    argv = gateway_argv(agent_host.port, agent_host.lock_dir)
    wrapper = subprocess.Popen(
        as_uid(agent_host.uid, [sys.executable, "-c", WRAPPER, *argv]),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    agent_host.processes.append(wrapper)
    assert wait_until(lambda: port_open(agent_host.port))
    assert wait_until(lambda: any(agent_host.lock_dir.glob("gateway.*.lock")))
    action = _action(agent_host.settings())
    (target,) = action.targets()

    outcome = action.execute(target)

    assert outcome.name == "Done", outcome
    found = {p["pid"]: p["found_by"] for p in outcome.facts["processes_before"]}
    assert found[wrapper.pid] == [f"openclaw wrapper of pid {_child_pid(found, wrapper.pid)}"]
    assert wrapper.wait(timeout=10) != 0  # terminated, not left waiting


def _child_pid(found: dict[int, list[str]], wrapper: int) -> int:
    (child,) = [pid for pid in found if pid != wrapper]
    return child


def _port_pair() -> int:
    """A port P with P+2 free too (the gateway's browser-control side port)."""
    import socket

    for _ in range(100):
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 2))
            except OSError:
                continue
        return port
    raise AssertionError("no free port pair")


def test_a_side_port_left_open_by_the_agent_fails_the_proof(agent_host: AgentHost) -> None:
    agent_host.port = _port_pair()
    agent_host.start_gateway()
    side = subprocess.Popen(
        as_uid(agent_host.uid, [sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                str(agent_host.port + 2)]),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    agent_host.processes.append(side)
    assert wait_until(lambda: port_open(agent_host.port + 2))
    action = _action(agent_host.settings())
    (target,) = action.targets()

    outcome = action.execute(target)

    assert outcome.name == "Failed", outcome
    assert side.pid in outcome.facts["proof"]["listeners_after"]
    assert "still has a listener" in outcome.error


def test_a_recycled_pid_in_a_stale_pid_file_is_not_killed(tmp_path: Path) -> None:
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        pid_file = tmp_path / "gateway.pid"
        pid_file.write_text(f"{bystander.pid}\n")
        an_hour_ago = time.time() - 3600
        os.utime(pid_file, (an_hour_ago, an_hour_ago))
        settings = {"agent": {"gateway_port": free_port(), "services": [
            {"kind": "pidfile", "pidfile": str(pid_file)}
        ]}}  # fmt: skip

        outcome = _action(settings).execute(f"pidfile:{pid_file}")

        # Nothing was stopped, and that is not an all-clear: a human must look.
        assert outcome.name == "ManualRequired"
        assert "nothing was stopped" in outcome.detail
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_plan_changes_nothing(supervised: tuple[SupervisorHandle, int, Path]) -> None:
    handle, port, _ = supervised
    pid = handle.process_info("openclaw-gateway")["pid"]
    service = {"kind": "supervisord", "name": "openclaw-gateway", "socket": str(handle.socket_path)}
    action = _action({"agent": {"gateway_port": port, "services": [service]}})

    planned = action.plan("supervisord:openclaw-gateway")

    assert planned.name == "Planned"
    assert planned.commands[0] == (
        f"supervisord unix://{handle.socket_path}: "
        "supervisor.stopProcessGroup('openclaw-gateway', wait=False), then getProcessInfo "
        "until it is down"
    )
    assert planned.facts["pids"] == [pid]
    time.sleep(0.3)
    info = handle.process_info("openclaw-gateway")
    assert (info["statename"], info["pid"]) == ("RUNNING", pid) and port_open(port)


def test_unknown_supervisord_program_fails_with_advice(
    supervised: tuple[SupervisorHandle, int, Path],
) -> None:
    handle, port, _ = supervised
    service = {"kind": "supervisord", "name": "openclaw", "socket": str(handle.socket_path)}
    outcome = _action({"agent": {"gateway_port": port, "services": [service]}}).execute(
        "supervisord:openclaw"
    )
    assert outcome.name == "Failed"
    assert "no program 'openclaw'" in outcome.error and "openclaw-gateway" in outcome.error
    assert "yet the gateway is up" in outcome.error and f"listening on port {port}" in outcome.error
    assert "[[agent.services]]" in outcome.error
    assert handle.process_info("openclaw-gateway")["statename"] == "RUNNING"


def test_a_retried_supervisord_stop_finds_it_already_removed_and_succeeds(
    supervised: tuple[SupervisorHandle, int, Path], tmp_path: Path
) -> None:
    handle, port, lock_dir = supervised
    service = {"kind": "supervisord", "name": "openclaw-gateway", "socket": str(handle.socket_path)}
    settings = {"agent": {"gateway_port": port, "tmp_dirs": [str(tmp_path)], "services": [service]}}
    action = _action(settings, incident_dir=tmp_path / "incident")
    target = "supervisord:openclaw-gateway"
    assert action.execute(target).name == "Done"

    # The runner's retry after a first answer was lost: the same stop, once more.
    again = action.execute(target)

    assert again.name == "Done", again
    assert again.detail.startswith("found already removed supervisord openclaw-gateway")
    (call,) = again.facts["commands"]
    assert {k: v for k, v in call.items() if k != "detail"} == {
        "rpc": "supervisor.getProcessInfo", "args": ["openclaw-gateway"],
        "server": f"unix://{handle.socket_path}", "result": "already removed",
        "programs": "none"}
    assert call["detail"].startswith("already removed from supervisord")
    # Still final: the config keeps the program off (the first attempt's edit holds).
    persistence = again.facts["persistence"]
    assert persistence["autostart"] == "false" and persistence["edited"] == []
    assert again.facts["proof"]["pids_after"] == [] and not again.facts["proof"]["port_open_after"]
    assert again.facts["proof"]["supervisor_state_after"] == "removed"
    assert not port_open(port) and not list(lock_dir.glob("gateway.*.lock"))


def test_nothing_found_says_what_was_looked_for(agent_host: AgentHost) -> None:
    action = _action(agent_host.settings())
    assert action.targets() == [NOT_FOUND_TARGET]
    outcome = action.execute(NOT_FOUND_TARGET)
    # Nothing found is not an all-clear: a manual step that says where clawback looked and
    # how to point it at the agent (--home, [[agent.services]]).
    assert outcome.name == "ManualRequired"
    for looked_for in ("systemd", "launchd", "lock files", "[[agent.services]]", "supervisord",
                       "--home"):
        assert looked_for in outcome.instructions
    # The dry run predicts it.
    assert action.plan(NOT_FOUND_TARGET).name == "ManualRequired"


def test_a_stranger_on_the_gateway_port_is_not_taken_for_the_gateway(
    agent_host: AgentHost,
) -> None:
    stranger = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(agent_host.port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    agent_host.processes.append(stranger)
    assert wait_until(lambda: port_open(agent_host.port))
    action = _action(agent_host.settings())
    assert action.targets() == [NOT_FOUND_TARGET]

    outcome = action.execute(NOT_FOUND_TARGET)

    assert outcome.name == "Failed"
    assert "does not look like the OpenClaw gateway" in outcome.error
    assert outcome.facts["port_listeners"][0]["pid"] == stranger.pid
    assert stranger.poll() is None


def _stray_unit(agent_host: AgentHost) -> Path:
    """The unit `openclaw gateway install` leaves (0644, the token in clear) in the home."""
    home = agent_host.tmp_dir / "home"
    unit = home / ".config" / "systemd" / "user" / "openclaw-gateway.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/usr/bin/node /x/openclaw/dist/index.js gateway\n"
                    f"Environment=OPENCLAW_GATEWAY_TOKEN={PLANTED_TOKEN}\n")
    os.chown(home, agent_host.uid, agent_host.uid)
    return unit


def test_a_user_unit_with_no_systemd_behind_it_is_reported_not_failed(
    agent_host: AgentHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = _stray_unit(agent_host)
    monkeypatch.setattr("responders.host.service.SYSTEMD_RUNTIME_DIR",
                        str(agent_host.tmp_dir / "no-systemd-here"))
    action = _action(agent_host.settings())
    target = f"systemd-user:{agent_host.uid}/openclaw-gateway.service"
    assert action.targets() == [target]

    planned = action.plan(target)
    outcome = action.execute(target)

    assert outcome.name == "Skipped", outcome
    assert "no systemd runs on this host" in outcome.reason and str(unit) in outcome.reason
    # The dry run predicts the real run's outcome (issue 13): the same report, no command.
    assert planned == outcome and not getattr(planned, "commands", ())


def test_a_user_unit_whose_user_manager_is_down_is_left_to_a_human(
    agent_host: AgentHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = _stray_unit(agent_host)
    booted = agent_host.tmp_dir / "run-systemd-system"
    booted.mkdir()
    monkeypatch.setattr("responders.host.service.SYSTEMD_RUNTIME_DIR", str(booted))
    action = _action(agent_host.settings())

    outcome = action.execute(f"systemd-user:{agent_host.uid}/openclaw-gateway.service")

    assert outcome.name == "ManualRequired", outcome
    assert "next login" in outcome.instructions and str(unit) in outcome.instructions


def test_unknown_kind_is_refused_with_the_kinds_and_how_to_name_it() -> None:
    with pytest.raises(ResponderError) as raised:
        services_from_settings([{"kind": "runit", "name": "openclaw-gateway"}],
                               footprint=HOST_FOOTPRINT)
    message = str(raised.value)
    assert "agent.services[0]" in message and "'runit'" in message
    assert "systemd-user" in message and "[[agent.services]]" in message
    action = _action({"agent": {"services": [{"kind": "runit"}]}})
    with pytest.raises(ResponderError, match="unknown kind"):
        action.execute(action.targets()[0])


def test_gateway_signature() -> None:
    def signature(name: str, cmdline: list[str]) -> str | None:
        return gateway_signature(name, cmdline, HOST_FOOTPRINT)

    assert signature("openclaw-gatewa", ["python3"]) == "process title"
    assert signature("node", ["openclaw-gateway"]) == "process title"
    # 2026.2.26 as psutil sees it: the title overwrites argv, padded with empty strings.
    assert signature("openclaw-gateway", ["openclaw-gateway", "", ""]) == "process title"
    # Its wrapper is no gateway by its looks: it is found as the gateway's parent.
    assert signature("openclaw", ["openclaw", "", ""]) is None
    real = ["node", "/usr/lib/node_modules/openclaw/dist/index.js", "gateway", "--port", "18789"]
    assert signature("node", real) == "argv"
    assert signature("python3", [sys.executable, "-m", "clawback.cli", "contain"]) is None
    assert signature("bash", ["bash", "-c", "echo openclaw gateway"]) is None


# --------------------------------------------------------------------------------------------
# Managers that do not run here: the exact commands


def test_systemd_commands_built_without_systemd() -> None:
    spec = services_from_settings([{"kind": "systemd", "name": "openclaw-gateway"}],
                                  footprint=HOST_FOOTPRINT)[0]
    assert [c.argv for c in stop_commands(spec, own_uid=0, term_timeout=10)] == [
        ("systemctl", "stop", "openclaw-gateway.service"),
        ("systemctl", "disable", "openclaw-gateway.service"),
        ("systemctl", "mask", "openclaw-gateway.service"),
    ]
    assert [c.required for c in stop_commands(spec, own_uid=0, term_timeout=10)] == [
        True,
        True,
        False,
    ]


def test_systemd_user_commands_built_without_systemd() -> None:
    spec = ServiceSpec("systemd-user", "openclaw-gateway-work.service", {"user": "alice"})
    as_root = [c.argv for c in stop_commands(spec, own_uid=0, term_timeout=10)]
    assert as_root[:2] == [
        ("systemctl", "--user", "--machine=alice@.host", "stop", "openclaw-gateway-work.service"),
        (
            "systemctl",
            "--user",
            "--machine=alice@.host",
            "disable",
            "openclaw-gateway-work.service",
        ),
    ]
    own = ServiceSpec("systemd-user", "openclaw-gateway.service", {"user": str(os.getuid())})
    assert stop_commands(own, own_uid=os.getuid(), term_timeout=10)[0].argv == (
        "systemctl", "--user", "stop", "openclaw-gateway.service",
    )  # fmt: skip
    unknown_user = ServiceSpec("systemd-user", "openclaw-gateway.service", {})
    with pytest.raises(ResponderError, match='user = "<login>"'):
        stop_commands(unknown_user, own_uid=0, term_timeout=10)


def test_systemd_units_discovered_without_systemd(tmp_path: Path) -> None:
    system = tmp_path / "etc-systemd-system"
    user_dir = tmp_path / "home" / "alice" / ".config" / "systemd" / "user"
    for directory, names in (
        (system, ["clawdbot-gateway.service", "ssh.service", "openclaw-node.service"]),
        (user_dir, ["openclaw-gateway.service", "openclaw-gateway-work.service"]),
    ):
        directory.mkdir(parents=True)
        for name in names:
            (directory / name).write_text("[Service]\nRestart=always\n")
    found = discover_unit_files(
        [str(tmp_path / "home" / "alice")], HOST_FOOTPRINT, system_unit_dirs=[str(system)],
        platform="linux",
    )
    assert [(s.kind, s.name) for s in found] == [
        ("systemd", "clawdbot-gateway.service"),
        ("systemd-user", "openclaw-gateway-work.service"),
        ("systemd-user", "openclaw-gateway.service"),
    ]


def test_config_loader_entries_are_understood_as_written() -> None:
    """clawback.toml entries arrive with every optional key present, unset ones as None."""
    blank = dict.fromkeys(
        ("socket", "supervisor_config", "pidfile", "compose_file", "unit", "label", "container")
    )
    entries = [
        {**blank, "kind": "systemd-user", "name": "gateway", "unit": "openclaw-gateway.service"},
        {**blank, "kind": "launchd", "name": "gateway", "label": "ai.openclaw.gateway"},
        {**blank, "kind": "docker", "name": "gateway", "container": "oc-openclaw-gateway-1"},
    ]
    user, launchd, docker = services_from_settings(entries, footprint=HOST_FOOTPRINT,
                                                   agent_uid=0)
    assert (user.name, user.options["user"]) == ("openclaw-gateway.service", "root")
    assert stop_commands(user, own_uid=0, term_timeout=10)[0].argv == (
        "systemctl", "--user", "stop", "openclaw-gateway.service",
    )  # fmt: skip
    assert "socket" not in user.options
    assert stop_commands(launchd, own_uid=0, term_timeout=10)[0].argv == (
        "launchctl", "bootout", "gui/0/ai.openclaw.gateway",
    )  # fmt: skip
    assert stop_commands(docker, own_uid=0, term_timeout=10)[0].argv[-1] == "oc-openclaw-gateway-1"


def test_launchd_commands_built_without_launchd(tmp_path: Path) -> None:
    agents = tmp_path / "Users" / "alice" / "Library" / "LaunchAgents"
    agents.mkdir(parents=True)
    for label in ("ai.openclaw.gateway", "ai.openclaw.node", "com.apple.something"):
        (agents / f"{label}.plist").write_text("<plist/>")
    found = discover_unit_files([str(tmp_path / "Users" / "alice")], HOST_FOOTPRINT,
                                platform="darwin")
    assert [(s.kind, s.name) for s in found] == [("launchd", "ai.openclaw.gateway")]
    spec = ServiceSpec("launchd", "ai.openclaw.gateway", {"domain": "gui/501"})
    commands = stop_commands(spec, own_uid=0, term_timeout=10)
    assert [c.argv for c in commands] == [
        ("launchctl", "bootout", "gui/501/ai.openclaw.gateway"),
        ("launchctl", "disable", "gui/501/ai.openclaw.gateway"),
    ]
    assert 113 in commands[0].ok_exit_codes  # "not loaded" means already stopped


def test_docker_commands_built_without_docker() -> None:
    spec = services_from_settings([{"kind": "docker", "name": "openclaw-gateway"}],
                                  footprint=HOST_FOOTPRINT)[0]
    assert [c.argv for c in stop_commands(spec, own_uid=0, term_timeout=10)] == [
        ("docker", "stop", "--time", "10", "openclaw-gateway"),
        ("docker", "update", "--restart=no", "openclaw-gateway"),
    ]


def test_compose_commands_built_without_docker() -> None:
    spec = services_from_settings(
        [{"kind": "compose", "compose_file": "/srv/openclaw/docker-compose.yml", "project": "oc"}],
        footprint=HOST_FOOTPRINT,
    )[0]
    commands = stop_commands(spec, own_uid=0, term_timeout=7.6)
    base = ("docker", "compose", "-f", "/srv/openclaw/docker-compose.yml", "-p", "oc")
    assert [c.argv for c in commands] == [
        (*base, "stop", "--timeout", "8", "openclaw-gateway"),
        (*base, "ps", "--all", "-q", "openclaw-gateway"),
        ("docker", "update", "--restart=no"),
    ]
    assert commands[2].append_previous_stdout
    assert commands[2].display().endswith("<ids printed by the previous command>")
    with pytest.raises(ResponderError, match="compose_file"):
        services_from_settings([{"kind": "compose"}], footprint=HOST_FOOTPRINT)
