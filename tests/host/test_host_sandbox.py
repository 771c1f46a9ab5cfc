"""The sandbox pieces the demo and the tests stand on: the gateway stand-in and the private
supervisord."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import urllib.request
from pathlib import Path

import psutil

from clawback_demo.gateway import lock_file_name
from clawback_demo.supervisor import start_supervisord
from responders.host.service import gateway_signature
from responders.openclaw.layout import HOST_FOOTPRINT
from tests.host.conftest import free_port, gateway_argv, port_open, wait_until


def test_gateway_stand_in_looks_like_openclaw_and_cleans_up_on_sigterm(tmp_path: Path) -> None:
    port, lock_dir, config = free_port(), tmp_path / "openclaw-0", "/srv/oc/openclaw.json"
    proc = subprocess.Popen(gateway_argv(port, lock_dir, config, pid_file=tmp_path / "gw.pid"))
    try:
        assert wait_until(lambda: port_open(port))
        lock = lock_dir / f"gateway.{hashlib.sha256(config.encode()).hexdigest()[:8]}.lock"
        assert lock.name == lock_file_name(config)
        assert wait_until(lock.exists)
        content = json.loads(lock.read_text())
        assert content["pid"] == proc.pid and content["configPath"] == config
        assert content["createdAt"].endswith("Z")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            assert json.loads(response.read()) == {"ok": True, "pid": proc.pid}
        me = psutil.Process(proc.pid)
        assert gateway_signature(me.name(), me.cmdline(), HOST_FOOTPRINT) == "process title"

        proc.send_signal(signal.SIGTERM)

        assert proc.wait(timeout=5) == 0
        assert not lock.exists() and not (tmp_path / "gw.pid").exists()
        assert not port_open(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_private_supervisord_respawns_and_stop_leaves_nothing(tmp_path: Path) -> None:
    port = free_port()
    handle = start_supervisord(
        tmp_path / "sv", {"openclaw-gateway": gateway_argv(port, tmp_path / "lock")}
    )
    try:
        assert handle.config_path.read_text().count("autorestart=true") == 1
        assert handle.socket_path.exists()
        first = handle.process_info("openclaw-gateway")["pid"]
        psutil.Process(first).kill()
        assert wait_until(
            lambda: handle.process_info("openclaw-gateway")["pid"] not in (0, first), timeout=5
        )
        tree = [handle.pid] + [c.pid for c in psutil.Process(handle.pid).children(recursive=True)]
    finally:
        handle.stop()
    assert all(not psutil.pid_exists(pid) for pid in tree)
    assert not port_open(port)
