"""The stop as root against the agent's lock files: they can neither hang it nor aim it.

OpenClaw's lock file (``$TMPDIR/openclaw-<uid>/gateway.*.lock``) names the gateway's pid, and
the agent writes it. A FIFO there must not hang the panic button before the agent is stopped,
and a lock naming a process of another user (root's sshd, say) must not get that process
killed: only a process of the user who could write the lock file is signalled through it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

import psutil

from responders.host.service import AgentSettings, find_gateway_processes
from responders.openclaw.layout import HOST_FOOTPRINT
from tests.hostile.conftest import AGENT_PYTHON, HostileHome

BOUND_S = 60.0
SLEEPER = "import time\nwhile True: time.sleep(1)\n"


def lock_dir(hostile: HostileHome) -> os.PathLike[str]:
    return hostile.tmp / f"openclaw-{hostile.agent.uid}"


def write_lock(hostile: HostileHome, pid: int) -> None:
    for old in os.listdir(lock_dir(hostile)):
        os.unlink(os.path.join(lock_dir(hostile), old))
    path = os.path.join(lock_dir(hostile), "gateway.deadbeef.lock")
    with open(path, "w") as out:
        json.dump({"pid": pid, "createdAt": "2099-01-01T00:00:00.000Z",
                   "configPath": str(hostile.state / "openclaw.json")}, out)
    os.chown(path, hostile.agent.uid, hostile.agent.gid)


def agent_settings(hostile: HostileHome) -> AgentSettings:
    settings: dict[str, Any] = {"agent": {**hostile.agent_settings(), "gateway_port": 1}}
    return AgentSettings.from_settings(settings, HOST_FOOTPRINT)


def found_pids(hostile: HostileHome) -> set[int]:
    box: list[Any] = []
    worker = threading.Thread(
        target=lambda: box.append(find_gateway_processes(agent_settings(hostile))), daemon=True
    )
    worker.start()
    worker.join(BOUND_S)
    assert box, "looking for the gateway blocked on the agent's lock file"
    return {g.pid for g in box[0][0]}


def test_a_fifo_lock_file_does_not_hang_the_stop(hostile: HostileHome) -> None:
    for old in os.listdir(lock_dir(hostile)):
        os.unlink(os.path.join(lock_dir(hostile), old))
    os.mkfifo(os.path.join(lock_dir(hostile), "gateway.deadbeef.lock"))
    assert found_pids(hostile) == set()


def test_a_lock_naming_another_users_process_does_not_aim_the_stop(
    hostile: HostileHome,
) -> None:
    victim = subprocess.Popen([sys.executable, "-c", SLEEPER])  # root's own process
    gateway = subprocess.Popen([AGENT_PYTHON, "-c", SLEEPER], **hostile.agent.popen_args())
    try:
        time.sleep(0.2)  # both exist before the lock names them (the pid reuse check)
        write_lock(hostile, victim.pid)
        assert victim.pid not in found_pids(hostile)
        write_lock(hostile, 1)
        assert 1 not in found_pids(hostile)
        write_lock(hostile, gateway.pid)
        assert gateway.pid in found_pids(hostile)
        assert psutil.Process(victim.pid).is_running()
    finally:
        for proc in (victim, gateway):
            proc.kill()
            proc.wait(timeout=30)


def test_the_fleet_agent_is_neither_hung_nor_aimed_by_a_lock_file(hostile: HostileHome) -> None:
    """The agent clawback ships to fleet hosts reads lock files with the same rules."""
    from responders.fleet_agent.agent import process_of_pid_file

    lock = os.path.join(lock_dir(hostile), "gateway.deadbeef.lock")
    victim = subprocess.Popen([sys.executable, "-c", SLEEPER])
    gateway = subprocess.Popen([AGENT_PYTHON, "-c", SLEEPER], **hostile.agent.popen_args())
    try:
        time.sleep(0.2)
        write_lock(hostile, victim.pid)
        assert process_of_pid_file(lock) is None
        write_lock(hostile, gateway.pid)
        found = process_of_pid_file(lock)
        assert found is not None and found.pid == gateway.pid
        os.unlink(lock)
        os.mkfifo(lock)
        box: list[Any] = []
        worker = threading.Thread(target=lambda: box.append(process_of_pid_file(lock)),
                                  daemon=True)
        worker.start()
        worker.join(BOUND_S)
        assert box == [None], "the fleet agent blocked on a FIFO lock file"
    finally:
        for proc in (victim, gateway):
            proc.kill()
            proc.wait(timeout=30)
