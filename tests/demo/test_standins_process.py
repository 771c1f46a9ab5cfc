"""The demo's stand-ins in a process of their own (issue 20): they answer from that process, not
from the demo's, the demo can still ask what they saw, and they never outlive the demo."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from clawback_demo.home import SampleHome, build_sample_home
from clawback_demo.standins_process import StandInsProcess


@pytest.fixture
def home(tmp_path: Path) -> SampleHome:
    return build_sample_home(tmp_path / "host", seed=7, gateway_port=1)


def listening_pids(port: int) -> set[int]:
    return {
        c.pid for c in psutil.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
    }


def port_of(url: str) -> int:
    return int(urlsplit(url).port or 0)


def closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_stand_ins_listen_in_their_own_process_and_answer_the_demo(
    home: SampleHome, tmp_path: Path
) -> None:
    apart = StandInsProcess()
    try:
        fleet = apart.start_fleet(home.planted, tmp_path, slack_allow_list=True)
        assert set(fleet.services) == {"github", "openai", "anthropic", "slack", "cloudflare",
                                       "stripe"}
        ports = [port_of(apart.moto_url), *(port_of(s.url) for s in fleet.services.values())]
        for port in ports:
            assert listening_pids(port) == {apart.pid}, port
        assert os.getpid() != apart.pid

        # Slack's stand-in revokes a token over HTTP; the demo then asks whether it still works.
        token = home.planted_of("slack:bot_token")[0].value
        assert fleet.accepts("slack", token)
        answer = httpx.post(f"{fleet.services['slack'].url}/auth.revoke",
                            headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and answer.json()["ok"] is True
        assert not fleet.accepts("slack", token)
        (slack,) = [t for t in fleet.tallies() if t.provider == "slack"]
        assert slack.requests == 1 and slack.violations == []
        assert fleet.config["slack"]["base_url"] == fleet.services["slack"].url
    finally:
        apart.stop()
    assert not psutil.pid_exists(apart.pid) or psutil.Process(apart.pid).status() == \
        psutil.STATUS_ZOMBIE
    for port in ports:
        assert closed(port), port


def test_a_failure_in_the_stand_ins_reads_as_an_error_without_the_traceback(
    tmp_path: Path
) -> None:
    apart = StandInsProcess()
    try:
        with pytest.raises(RuntimeError, match="no such request now: tallies"):
            apart.call("tallies")
        # Still serving after the refusal.
        assert apart.call("moto") == apart.moto_url
    finally:
        apart.stop()


DYING_DEMO = """
import sys, time
from clawback_demo.standins_process import StandInsProcess
apart = StandInsProcess()
print(apart.pid, apart.moto_url, flush=True)
time.sleep(600)
"""


def test_the_stand_ins_stop_when_the_demo_dies_without_stopping_them(tmp_path: Path) -> None:
    demo = subprocess.Popen([sys.executable, "-c", DYING_DEMO], stdout=subprocess.PIPE,
                            text=True, cwd=tmp_path)
    try:
        assert demo.stdout is not None
        pid_text, url = demo.stdout.readline().split()
        child = psutil.Process(int(pid_text))
        assert not closed(port_of(url))
        os.kill(demo.pid, signal.SIGKILL)  # no cleanup of any kind in the demo
        demo.wait()
        # The socket pair closes with the demo: the stand-ins stop everything and exit.
        child.wait(timeout=60)
        deadline = time.monotonic() + 60
        while not closed(port_of(url)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert closed(port_of(url))
    finally:
        if demo.poll() is None:
            demo.kill()
