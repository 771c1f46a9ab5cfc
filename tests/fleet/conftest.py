"""Real SSH for the fleet tests: an sshd per "host" on a loopback port, each with its own
config, host key and OpenClaw sample home whose gateway stand-in runs under its own supervisord.

As root every "host" is this machine, so each gets its own directories (home, tmp, supervisord
socket) through ``[hosts.agent]``, exactly as a real fleet names per-host paths. Host keys are
generated per host and written to a known_hosts file by the test: host key checking stays on.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from clawback_demo.home import SampleHome, build_sample_home
from clawback_demo.standins import MotoStandIn, free_port, start_moto
from clawback_demo.supervisor import SupervisorHandle, start_supervisord
from tests.conftest import require_binary, require_root

AGENT_IAM_USER = "openclaw-agent"
# The contain playbook's host and key steps with a shorter respawn re-check, for the tests that
# are about something else than the packaged playbook (test_fleet_contain runs that one).
QUICK_PLAYBOOK = """\
name: fleet-quick
steps:
  - id: volatile
    uses: host.snapshot
    with: {volatile: true}
  - id: stop
    uses: host.stop_service
    with: {recheck_seconds: 1}
  - id: revoke
    uses: keys.revoke_all
    with: {verify: true, providers: [aws]}
  - id: evidence
    uses: host.snapshot
"""
KEYRING_SERVICE = "clawback-fleet-test"
KEYRING_USER = "ssh-key"


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.3)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class ClientKey:
    private: Path
    public_line: str

    @property
    def private_text(self) -> str:
        return self.private.read_text()


def generate_key(path: Path, comment: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True, timeout=30)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> ClientKey:
    require_binary("ssh-keygen", "openssh-client")
    folder = tmp_path_factory.mktemp("client-key")
    public = generate_key(folder / "id_ed25519", "clawback-fleet-test")
    return ClientKey(folder / "id_ed25519", public)


@dataclass
class Sshd:
    """One sshd on 127.0.0.1:``port`` with its own config and host key."""

    port: int
    host_key_line: str  # "ssh-ed25519 AAAA..."
    process: subprocess.Popen[bytes]
    log: Path
    address: str = "127.0.0.1"

    @property
    def known_hosts_line(self) -> str:
        return f"[{self.address}]:{self.port} {self.host_key_line}"

    def stop(self) -> None:
        if self.process.poll() is None:
            # Its own session: the listener and any per-connection children go together.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def start_sshd(
    folder: Path, client: ClientKey, *, port: int | None = None, listen: str = "127.0.0.1",
    netns: str | None = None, binds: Sequence[tuple[Path, str]] = (),
) -> Sshd:
    """``netns``: run it inside that network namespace (one the test created). ``binds``:
    (folder, path) pairs mounted over each path for this sshd and its sessions only, in the
    mount namespace ``ip netns exec`` gives it (two "hosts" on this machine then keep their
    own /var/lib/clawback); each path must exist."""
    sshd = require_binary("sshd", "openssh-server")
    require_root()  # root sshd: login as root, which the sample homes and gateways run as
    folder.mkdir(parents=True, exist_ok=True)
    host_key = folder / "ssh_host_ed25519_key"
    public = " ".join(generate_key(host_key, "fleet-test-host").split()[:2])
    (folder / "authorized_keys").write_text(client.public_line + "\n")
    port = port or free_port()
    config = folder / "sshd_config"
    config.write_text("\n".join([
        f"ListenAddress {listen}",
        f"Port {port}",
        f"HostKey {host_key}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}",
        f"PidFile {folder / 'sshd.pid'}",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "UsePAM no",
        "StrictModes no",
        "PrintMotd no",
        "LogLevel VERBOSE",
        # Without it Fabric's SFTP (put/get) fails with "Channel closed".
        "Subsystem sftp internal-sftp",
    ]) + "\n")
    # Root's sshd needs its privilege-separation directory (systemd would create it).
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    subprocess.run([sshd, "-t", "-f", str(config)], check=True, timeout=30)
    log = folder / "sshd.log"
    inside = ["ip", "netns", "exec", netns] if netns else []
    if binds:
        if netns is None:
            raise ValueError("binds need netns: only there does sshd get its own mounts")
        mounts = " && ".join(f"mount --bind {shlex.quote(str(source))} {shlex.quote(path)}"
                             for source, path in binds)
        inside += ["sh", "-c", f'{mounts} && exec "$@"', "sh"]
    process = subprocess.Popen(
        [*inside, sshd, "-D", "-f", str(config), "-E", str(log)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = Sshd(port, public, process, log, listen)
    try:
        if netns is None:
            wait_for_port(port)
        else:
            wait_for_log(log, "Server listening on")
    except BaseException:
        server.stop()
        raise
    return server


def wait_for_log(log: Path, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{text!r} not in {log} after {timeout}s")


@dataclass
class FleetHost:
    """A "host": sshd + sample OpenClaw home + its gateway stand-in under supervisord."""

    name: str
    sshd: Sshd
    home: SampleHome
    supervisor: SupervisorHandle
    groups: tuple[str, ...] = ("agents",)
    sudo: bool = False

    @property
    def ssh_target(self) -> str:
        return f"{getpass.getuser()}@127.0.0.1:{self.sshd.port}"

    def gateway_state(self) -> str:
        import xmlrpc.client

        try:
            return str(self.supervisor.process_info("openclaw-gateway")["statename"])
        except xmlrpc.client.Fault:
            return "REMOVED"

    def gateway_down(self) -> bool:
        return self.gateway_state() in ("STOPPED", "EXITED", "REMOVED") and not port_open(
            self.home.gateway_port
        )

    def agent_table(self) -> dict[str, Any]:
        return {
            **self.home.agent_settings(),
            "services": [{"kind": "supervisord", "name": "openclaw-gateway",
                          "socket": str(self.supervisor.socket_path)}],
        }


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


@dataclass
class Fleet:
    root: Path
    client: ClientKey
    moto: MotoStandIn
    shared_aws_key: tuple[str, str]
    hosts: list[FleetHost] = field(default_factory=list)
    known_hosts: Path | None = None

    def host(self, name: str) -> FleetHost:
        return next(h for h in self.hosts if h.name == name)

    def write_known_hosts(self, hosts: Sequence[FleetHost] | None = None) -> Path:
        path = self.root / "known_hosts"
        lines = [h.sshd.known_hosts_line for h in (self.hosts if hosts is None else hosts)]
        path.write_text("\n".join(lines) + "\n")
        self.known_hosts = path
        return path

    def write_config(
        self,
        *,
        identity: str = f"keyring:{KEYRING_SERVICE}/{KEYRING_USER}",
        extra_hosts: Sequence[dict[str, Any]] = (),
        network: dict[str, Any] | None = None,
    ) -> Path:
        known_hosts = self.known_hosts or self.write_known_hosts()
        lines = [
            "[fleet]",
            f"known_hosts = {_toml(str(known_hosts))}",
            "max_parallel = 4",
            "connect_timeout_seconds = 5",
            "",
            "[providers.aws]",
            f"endpoint_url = {_toml(self.moto.url)}",
            'region = "us-east-1"',
            'admin_access_key_id = "env:CLAWBACK_FLEET_TEST_AWS_ID"',
            'admin_secret_access_key = "env:CLAWBACK_FLEET_TEST_AWS_SECRET"',
            f"users = [{_toml(AGENT_IAM_USER)}]",
            "delete_grace_seconds = 0",
            "new_key_ready_seconds = 0",
        ]
        if network:
            lines += ["", "[network]", *(f"{k} = {_toml(v)}" for k, v in network.items())]
        for host in self.hosts:
            lines += [
                "",
                "[[hosts]]",
                f"name = {_toml(host.name)}",
                f"ssh = {_toml(host.ssh_target)}",
                f"identity = {_toml(identity)}",
                f"sudo = {_toml(host.sudo)}",
                f"groups = {_toml(list(host.groups))}",
                "[hosts.agent]",
                *(f"{k} = {_toml(v)}" for k, v in host.agent_table().items()),
            ]
        for extra in extra_hosts:
            lines += ["", "[[hosts]]", *(f"{k} = {_toml(v)}" for k, v in extra.items())]
        path = self.root / "clawback.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def quick_playbook(self) -> Path:
        path = self.root / "quick.yaml"
        path.write_text(QUICK_PLAYBOOK)
        return path

    def planted_values(self) -> set[str]:
        return {p.value for h in self.hosts for p in h.home.planted}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoStandIn]:
    moto = start_moto()
    try:
        yield moto
    finally:
        moto.stop()


def _moto_post(moto: MotoStandIn, path: str, body: bytes = b"") -> None:
    import urllib.request

    # moto reads the body only when it is declared as text; loopback only.
    request = urllib.request.Request(f"{moto.url}{path}", data=body, method="POST",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=5):
        pass


@pytest.fixture
def fleet(
    tmp_path: Path, client_key: ClientKey, moto_server: MotoStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Fleet]:
    """moto holding the agent's AWS key (IAM enforced); hosts are added with ``add_host``."""
    require_binary("sshd", "openssh-server")
    require_root()
    moto = moto_server
    # moto's auth switch is process-wide: a previous test left IAM enforced.
    _moto_post(moto, "/moto-api/reset-auth", b"inf")
    _moto_post(moto, "/moto-api/reset")
    shared = moto.create_agent_key(AGENT_IAM_USER)
    admin_id, admin_secret = moto.create_admin()
    moto.enforce_iam()
    monkeypatch.setenv("CLAWBACK_FLEET_TEST_AWS_ID", admin_id)
    monkeypatch.setenv("CLAWBACK_FLEET_TEST_AWS_SECRET", admin_secret)
    state = Fleet(root=tmp_path, client=client_key, moto=moto, shared_aws_key=shared)
    try:
        yield state
    finally:
        for host in state.hosts:
            host.sshd.stop()
            host.supervisor.stop()
        _moto_post(moto, "/moto-api/reset-auth", b"inf")
        _moto_post(moto, "/moto-api/reset")


def add_host(
    fleet: Fleet, name: str, *, aws_keys: Sequence[tuple[str, str]] = (),
    groups: tuple[str, ...] = ("agents",), sudo: bool = False,
) -> FleetHost:
    folder = fleet.root / name
    home = build_sample_home(folder / "host", aws_keys=aws_keys, gateway_port=free_port())
    supervisor = start_supervisord(
        folder / "supervisor",
        {"openclaw-gateway": [
            sys.executable, "-m", "clawback_demo.gateway",
            "--port", str(home.gateway_port),
            "--lock-dir", str(home.lock_dir),
            "--config-path", str(home.config_path),
        ]},
        autorestart=True,
    )
    try:
        sshd = start_sshd(folder / "sshd", fleet.client)
    except BaseException:
        supervisor.stop()
        raise
    host = FleetHost(name, sshd, home, supervisor, groups, sudo)
    fleet.hosts.append(host)
    wait_for_port(home.gateway_port)
    return host


@pytest.fixture
def fleet_keyring(memory_keyring: Any, client_key: ClientKey) -> Any:
    """The SSH client key in keyring, where ``identity = "keyring:..."`` finds it."""
    memory_keyring.set_password(KEYRING_SERVICE, KEYRING_USER, client_key.private_text)
    return memory_keyring


@pytest.fixture
def ssh_agent(tmp_path: Path, client_key: ClientKey) -> Iterator[dict[str, str]]:
    """A real ssh-agent holding the client key; yields the environment that points at it."""
    agent = require_binary("ssh-agent", "openssh-client")
    add = require_binary("ssh-add", "openssh-client")
    sock = tmp_path / "agent.sock"
    process = subprocess.Popen([agent, "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        env = {"SSH_AUTH_SOCK": str(sock)}
        subprocess.run([add, "-q", str(client_key.private)], check=True, timeout=30,
                       env={**os.environ, **env}, capture_output=True)
        yield env
    finally:
        process.terminate()
        process.wait(timeout=5)
