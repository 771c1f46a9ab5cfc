"""The real OpenClaw gateway as the target (see world.py): one onboarded install per session,
reset before each module, which starts one gateway and contains it with the real CLI.

Needs root (the gateway runs as its own unprivileged account, clawback as root, as on a real
host) and OpenClaw in ``.tools/openclaw`` (``bash tests/audit/install_openclaw.sh``; CI runs it
when it is missing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REQUIRE_ALL, require, require_binary, require_root
from tests.real_gateway.world import INSTALLER, REPO, OpenClawWorld, build_world, installed

CONTAIN_TIMEOUT_S = 300.0
GATEWAY_CALL_MS = "120000"
KEYRING_BACKEND = "keyrings.alt.file.PlaintextKeyring"
XDG_VARS = ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")
DEAD_PROXY = "http://127.0.0.1:9"


@pytest.fixture(scope="session")
def openclaw_world() -> Iterator[OpenClawWorld]:
    require_root()
    require_binary("setpriv", "util-linux")
    require_binary("useradd", "passwd")
    if not installed() and REQUIRE_ALL:
        # CI machines start empty; the installer only talks to the npm registry.
        subprocess.run(["bash", str(INSTALLER)], check=True, timeout=900)
    require(installed(), f"needs OpenClaw in .tools/openclaw: bash {INSTALLER.relative_to(REPO)}")
    world = build_world()
    try:
        yield world
    finally:
        world.close()


@dataclass
class ClawbackRun:
    """One ``python -m clawback ...`` as root, with its own XDG dirs and file keyring."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.stdout)  # type: ignore[no-any-return]


@dataclass
class Operator:
    """Where clawback keeps its own files for one module, and how it is run."""

    root: Path
    world: OpenClawWorld

    @property
    def config(self) -> Path:
        return self.root / "clawback.toml"

    @property
    def incidents(self) -> Path:
        return self.root / "incidents"

    @property
    def keyring_file(self) -> Path:
        return self.root / "xdg" / "xdg_data_home" / "python_keyring" / "keyring_pass.cfg"

    def write_config(self, extra: str = "") -> None:
        world = self.world
        self.config.write_text(
            "[agent]\n"
            f"user_home = {json.dumps(str(world.home))}\n"
            f"uid = {world.user.pw_uid}\n"
            f"tmp_dirs = [{json.dumps(str(world.tmp))}]\n"
            f"gateway_port = {world.port}\n" + extra
        )
        os.chmod(self.config, 0o600)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "CLAWBACK_"))}
        for var in XDG_VARS:
            path = self.root / "xdg" / var.lower()
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            env[var] = str(path)
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            env[var] = DEAD_PROXY
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
        env["PYTHON_KEYRING_BACKEND"] = KEYRING_BACKEND
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def clawback(self, *args: str, timeout: float = CONTAIN_TIMEOUT_S) -> ClawbackRun:
        done = subprocess.run(
            [sys.executable, "-m", "clawback", *args],
            capture_output=True, text=True, timeout=timeout, env=self.env(), cwd=self.root,
            stdin=subprocess.DEVNULL, check=False,
        )
        return ClawbackRun(done.returncode, done.stdout, done.stderr)

    def contain(self) -> ClawbackRun:
        return self.clawback("contain", "--yes", "--json", "--config", str(self.config),
                             "--incidents-dir", str(self.incidents))

    def keyring(self) -> dict[tuple[str, str], str]:
        from tests.pressure.sandbox_host import read_keyring_file

        return read_keyring_file(self.keyring_file)


@pytest.fixture(scope="module")
def operator(openclaw_world: OpenClawWorld, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Operator]:
    """A fresh copy of the onboarded install and a clawback config for it."""
    openclaw_world.reset()
    op = Operator(tmp_path_factory.mktemp("operator"), openclaw_world)
    op.write_config()
    try:
        yield op
    finally:
        openclaw_world.kill_agent_processes()


def results(document: Mapping[str, Any], step: str) -> list[dict[str, Any]]:
    return [r for r in document["results"] if r["step"] == step]


def manifest_sources(incident_dir: Path) -> set[str]:
    manifest = json.loads((incident_dir / "evidence" / "manifest.json").read_text())
    sources: set[str] = set()
    for item in manifest.get("items", []):
        sources.add(str(item.get("source", "")))
    return sources


def tree_text(root: Path) -> str:
    """Every regular file under ``root``, concatenated (for "the old value is nowhere")."""
    parts = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and ".git" not in path.parts:
            parts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)


def which_files_hold(root: Path, value: str) -> list[str]:
    held = []
    for path in sorted(root.rglob("*")):
        regular = path.is_file() and not path.is_symlink() and ".git" not in path.parts
        if regular and value.encode() in path.read_bytes():
            held.append(str(path.relative_to(root)))
    return held


def supervisorctl(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(config), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )



def new_value(operator: Operator, document: Mapping[str, Any], kind: str) -> str:
    """The value contain rotated ``kind`` to, from the keyring, checked against the timeline's
    fingerprint of it."""
    from responders.interface import fingerprint

    rotated = [r for r in results(document, "agent-secrets") if r["action"] == "revoke"
               and r["outcome"] == "Rotated" and kind in r["summary"]]
    assert len(rotated) == 1, [r["summary"] for r in results(document, "agent-secrets")]
    expected = rotated[0]["new_fingerprint"]
    values = [v for v in operator.keyring().values() if fingerprint(v) == expected]
    assert values, "the new value is not in the keyring"
    return values[0]


def owner_checks_before_start(operator: Operator, document: Mapping[str, Any]) -> str:
    """What the owner checks before starting the gateway again: the config still parses and
    is locked down (OpenClaw's own reading of it), and the gateway token was rotated in the
    config and in OPENCLAW_GATEWAY_TOKEN together. Returns the new gateway token."""
    world = operator.world
    new_gateway = new_value(operator, document, "gateway_token")
    assert world.config_value("gateway.bind") == "loopback"
    assert world.config_value("channels.telegram.dmPolicy") == "disabled"
    # (`config get` redacts tokens: the file itself says which one it holds.)
    assert json.loads(world.config.read_text())["gateway"]["auth"]["token"] == new_gateway
    assert f"OPENCLAW_GATEWAY_TOKEN={new_gateway}" in (world.state / ".env").read_text()
    return new_gateway


def owner_checks_after_start(operator: Operator, document: Mapping[str, Any],
                             new_gateway: str, alive: Any) -> None:
    """The gateway started again by its owner refuses the old tokens, takes the new ones,
    and pairs no device without the owner's approval."""
    world = operator.world
    new_hooks = new_value(operator, document, "hooks_token")
    world.wait_listening(alive)

    assert world.invoke(world.gateway_token).status == 401
    old_ws = world.ws_connect(world.gateway_token)
    assert old_ws.ok is False and old_ws.close_code == 1008, old_ws
    assert world.wake_hook(world.hooks_token).status == 401
    assert world.ws_connect(new_gateway).ok is True
    assert world.wake_hook(new_hooks).status == 200

    # Devices were unpaired and loopback clients no longer pair silently: the gateway's own
    # tool client and the CLI wait for the owner's approval; nothing is paired until then.
    assert json.loads((world.state / "devices" / "paired.json").read_text()) == {}
    # The CLI's own connect waits for the gateway's answer: generous, for a loaded machine.
    listed = world.openclaw("devices", "list", "--json", "--timeout", GATEWAY_CALL_MS)
    pending = json.loads(listed.stdout[listed.stdout.find("{"):])["pending"]
    assert pending and all(not p.get("silent") for p in pending), pending
    assert json.loads((world.state / "devices" / "paired.json").read_text()) == {}
    for request in pending:
        world.openclaw("devices", "approve", request["requestId"], "--timeout",
                       GATEWAY_CALL_MS)
    # Approved: the in-process tools authenticate with OPENCLAW_GATEWAY_TOKEN (.env) and the
    # server checks gateway.auth.token, so 200 proves both hold the same new token.
    world.wait_ready(new_gateway, alive)
