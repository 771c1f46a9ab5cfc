"""A whole sandboxed host, driven through the real ``clawback`` CLI (see conftest.py).

``build_sandbox`` lays out what ``clawback demo`` builds, but owned by the test: a sample
OpenClaw home whose AWS key is a real key in moto's IAM (authentication enforced, so a deleted
key is rejected), a gateway stand-in under a private supervisord with autorestart on, and a
clawback.toml that points ``[providers.aws]`` at moto (or at an ``IamGate`` in front of it)
through ``env:`` references. Every run is ``python -m clawback`` in a subprocess with the
sandbox's own XDG dirs (so its own signing key) and keyrings.alt's PlaintextKeyring file as
keyring, so the test can read back what a run stored.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawback.secret_store import KEYRING_SERVICE
from clawback_demo.home import SampleHome, build_sample_home
from clawback_demo.standins import MotoStandIn, free_port
from clawback_demo.supervisor import SupervisorHandle, start_supervisord

from .iam_gate import IamGate

GATEWAY_PROGRAM = "openclaw-gateway"
ADMIN_KEY_ID_VAR = "CLAWBACK_PRESSURE_AWS_ADMIN_KEY_ID"
ADMIN_SECRET_VAR = "CLAWBACK_PRESSURE_AWS_ADMIN_SECRET"
KEYRING_BACKEND = "keyrings.alt.file.PlaintextKeyring"
# Generous for a process that normally finishes in seconds: only a hang reaches it.
# Hang guards, not speed bounds: a niced run on a machine at load 20+ took over 60 s to reach a
# kill point that takes ~2 s when quiet.
RUN_TIMEOUT_S = 300.0
KILLED_RUN_NICENESS = 10


class Overshot(AssertionError):
    """The run got past the kill point before the watcher saw it (a loaded machine): the
    instant that was aimed at was missed, and the scenario says nothing about it."""
XDG_VARS = ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")
DEAD_PROXY = "http://127.0.0.1:9"  # as in tests/conftest.py: refused at once

_user_numbers = itertools.count(1)


@dataclass
class MotoAccount:
    """The session's moto server with an admin identity allowed to manage IAM keys."""

    moto: MotoStandIn
    admin: tuple[str, str]


def make_dirs(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 and mode of every regular file under ``root``: proves a run changed nothing."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            out[str(path.relative_to(root))] = f"{digest} {oct(path.stat().st_mode & 0o7777)}"
    return out


def read_entries(timeline: Path) -> list[dict[str, Any]]:
    """The complete lines of a timeline that may still be being written."""
    try:
        data = timeline.read_bytes()
    except FileNotFoundError:
        return []
    complete = data[: data.rfind(b"\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


@dataclass
class Progress:
    """What a running contain has written so far, read incrementally while it runs."""

    incident: Path | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: int = 0  # checkpoints in checkpoints.txt: one per finished step
    gate_reached: bool = False  # the sandbox's IamGate caught the call it waits for
    _offset: int = 0
    _pending: bytes = b""
    _history_size: int = 0

    @property
    def count(self) -> int:
        return len(self.entries)

    def poll(self) -> bool:
        """Read what was appended since the last call; True when anything changed."""
        assert self.incident is not None
        # Two stats per poll, and a read only when a file grew: the watchers share the test
        # process (and its GIL) with moto, which the runs they watch are talking to.
        timeline = self.incident / "timeline.jsonl"
        history = self.incident / "checkpoints.txt"
        changed = False
        if _size(timeline) > self._offset:
            with timeline.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
            self._offset += len(chunk)
            complete, _, self._pending = (self._pending + chunk).rpartition(b"\n")
            for line in complete.splitlines():
                if line.strip():
                    self.entries.append(json.loads(line))
                    changed = True
        size = _size(history)
        if size != self._history_size:
            self._history_size = size
            # Each checkpoint is one signed note, whose first line names the log.
            self.checkpoints = sum(
                1 for line in history.read_text().splitlines() if line.startswith("clawback/")
            )
            changed = True
        return changed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@dataclass
class Killed:
    """A contain run stopped by SIGKILL once ``when`` held for the files it had written."""

    incident: Path
    entries_at_kill: int
    stdout: str
    stderr: str
    returncode: int


@dataclass
class Sandbox:
    root: Path
    home: SampleHome
    config: Path
    incidents: Path
    account: MotoAccount
    supervisor: SupervisorHandle
    agent_user: str
    old_key_id: str
    env: dict[str, str] = field(repr=False)
    gate: IamGate | None = None  # between clawback and moto, when the test pins a crash
    _orphans: list[int] = field(default_factory=list, repr=False)

    # -- running clawback -------------------------------------------------------------------

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "clawback", *args]

    def clawback(self, *args: str, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, env=dict(env or self.env),
            cwd=cwd or self.root, timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL,
        )

    def contain_args(self, *extra: str) -> list[str]:
        return ["contain", "--config", str(self.config), "--incidents-dir", str(self.incidents),
                "--yes", *extra]

    def contain(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.clawback(*self.contain_args(*extra))

    def verify(self, incident: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.clawback("verify", str(incident), "--incidents-dir", str(self.incidents),
                             *extra)

    def incident_dirs(self) -> list[Path]:
        if not self.incidents.exists():
            return []
        return sorted(p for p in self.incidents.iterdir() if p.is_dir())

    def contain_until(self, reached: Callable[[Progress], bool], *extra: str,
                      deadline_s: float = RUN_TIMEOUT_S) -> Killed:
        """Start ``clawback contain`` and SIGKILL it as soon as ``reached(progress)`` holds for
        what it has written so far. Fails the test if the run ends first: the kill point was
        never reached."""
        out, err = self.root / "killed.stdout", self.root / "killed.stderr"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                self.argv(*self.contain_args(*extra)), stdout=stdout, stderr=stderr,
                env=self.env, cwd=self.root, stdin=subprocess.DEVNULL,
            )
        with contextlib.suppress(OSError):
            # The watcher (this process) must win the race to each kill point on a loaded
            # machine; children of the run inherit the lower priority.
            os.setpriority(os.PRIO_PROCESS, process.pid, KILLED_RUN_NICENESS)
        try:
            progress = self._watch(process, reached, deadline_s)
        except BaseException:
            self._kill_tree(process)
            raise
        assert progress.incident is not None
        if any(e["action"] == "close"
               for e in read_entries(progress.incident / "timeline.jsonl")):
            raise Overshot("the run closed its timeline before the kill landed")
        return Killed(progress.incident, progress.count, out.read_text(), err.read_text(),
                      process.returncode)

    def _watch(self, process: subprocess.Popen[bytes], reached: Callable[[Progress], bool],
               deadline_s: float) -> Progress:
        deadline = time.monotonic() + deadline_s
        progress = Progress()
        while time.monotonic() < deadline:
            if progress.incident is None:
                found = self.incident_dirs()
                progress.incident = found[0] if found else None
            progress.gate_reached = self.gate is not None and self.gate.reached.is_set()
            if (progress.incident is not None and (progress.poll() or progress.gate_reached)
                    and reached(progress)):
                self._kill_tree(process)
                if self.gate is not None:
                    self.gate.release.set()
                return progress
            if process.poll() is not None:
                error = Overshot if process.returncode in (0, 3) else AssertionError
                raise error(
                    f"contain exited ({process.returncode}) before the kill point was reached; "
                    f"stderr: {(self.root / 'killed.stderr').read_text()[-2000:]}"
                )
            time.sleep(0.002)
        raise AssertionError(f"the kill point was not reached within {deadline_s:g} s")

    def _kill_tree(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the contain process; whatever it had started itself is ended afterwards."""
        import psutil

        try:
            children = psutil.Process(process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        self._orphans.extend(c.pid for c in children)

    def close(self) -> None:
        self.reap_orphans()
        self.supervisor.stop()
        if self.gate is not None:
            self.gate.close()

    def reap_orphans(self) -> None:
        import psutil

        alive = []
        for pid in self._orphans:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc = psutil.Process(pid)
                proc.kill()
                alive.append(proc)
        psutil.wait_procs(alive, timeout=5)
        self._orphans.clear()

    # -- what the outside world looks like --------------------------------------------------

    def aws_keys(self) -> dict[str, str]:
        """Access key id → status of every key moto still has for the agent's IAM user."""
        import boto3

        # A session of its own: boto3's default session is not thread-safe, and scenarios run
        # side by side.
        iam = boto3.session.Session().client(
            "iam", endpoint_url=self.account.moto.url, region_name="us-east-1",
            aws_access_key_id=self.account.admin[0],
            aws_secret_access_key=self.account.admin[1],
        )
        listed = iam.list_access_keys(UserName=self.agent_user)["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in listed}

    def keyring_values(self) -> dict[str, str]:
        """Every entry the runs stored under keyring service ``clawback``, by user name."""
        keyring_file = Path(self.env["XDG_DATA_HOME"]) / "python_keyring" / "keyring_pass.cfg"
        return {user: value for (service, user), value in read_keyring_file(keyring_file).items()
                if service == KEYRING_SERVICE}

    def stored_aws_key_ids(self) -> set[str]:
        ids = set()
        for name, value in self.keyring_values().items():
            if name.startswith("aws/"):
                ids.add(json.loads(value)["AccessKeyId"])
        return ids

    def gateway_state(self) -> str:
        import xmlrpc.client

        try:
            return str(self.supervisor.process_info(GATEWAY_PROGRAM).get("statename"))
        except xmlrpc.client.Fault:
            return "REMOVED"

    def gateway_port_open(self) -> bool:
        import socket

        with socket.socket() as probe:
            probe.settimeout(1)
            return probe.connect_ex(("127.0.0.1", self.home.gateway_port)) == 0


def read_keyring_file(path: Path) -> dict[tuple[str, str], str]:
    """(service, user) → value of every entry in a keyrings.alt PlaintextKeyring file."""
    from keyrings.alt.file import PlaintextKeyring

    if not path.exists():
        return {}
    backend = PlaintextKeyring()
    backend.file_path = str(path)
    parser = configparser.RawConfigParser()
    parser.read(path)
    out: dict[tuple[str, str], str] = {}
    for section in parser.sections():
        for option in parser.options(section):
            service, user = _unescape(section), _unescape(option)
            value = backend.get_password(service, user)
            if value is not None:
                out[(service, user)] = value
    return out


def _unescape(text: str) -> str:
    from keyrings.alt.escape import unescape

    return str(unescape(text))


def write_sandbox_config(path: Path, home: SampleHome, *, supervisor_socket: Path,
                         moto_url: str, agent_user: str) -> Path:
    lines = ["[agent]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in home.agent_settings().items()]
    lines += [
        "",
        "[[agent.services]]",
        'kind = "supervisord"',
        f"name = {json.dumps(GATEWAY_PROGRAM)}",
        f"socket = {json.dumps(str(supervisor_socket))}",
        "",
        "[providers.aws]",
        f"endpoint_url = {json.dumps(moto_url)}",
        'region = "us-east-1"',
        f'admin_access_key_id = "env:{ADMIN_KEY_ID_VAR}"',
        f'admin_secret_access_key = "env:{ADMIN_SECRET_VAR}"',
        f"users = [{json.dumps(agent_user)}]",
        "delete_grace_seconds = 0",
        "new_key_ready_seconds = 0",
    ]
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


def build_sandbox(root: Path, account: MotoAccount, *, gate: str | None = None) -> Sandbox:
    """Everything ``clawback demo`` sets up, under ``root``; ``Sandbox.close()`` ends it.

    ``gate`` puts an ``IamGate`` in that mode between clawback and moto."""
    root.mkdir(mode=0o700, parents=True)
    agent_user = f"openclaw-agent-{next(_user_numbers)}"
    old_key = account.moto.create_agent_key(agent_user)
    home = build_sample_home(root / "host", aws_keys=[old_key], gateway_port=free_port())
    supervisor = start_supervisord(
        root / "supervisor",
        {GATEWAY_PROGRAM: [
            sys.executable, "-m", "clawback_demo.gateway",
            "--port", str(home.gateway_port),
            "--lock-dir", str(home.lock_dir),
            "--config-path", str(home.config_path),
        ]},
        autorestart=True,
    )
    try:
        _wait_until_listening(home, supervisor)
    except BaseException:
        supervisor.stop()
        raise
    iam_gate = IamGate(account.moto.url, gate) if gate else None
    config = write_sandbox_config(
        root / "clawback.toml", home, supervisor_socket=supervisor.socket_path,
        moto_url=iam_gate.url if iam_gate else account.moto.url, agent_user=agent_user,
    )
    return Sandbox(
        root=root, home=home, config=config, incidents=root / "incidents",
        account=account, supervisor=supervisor, agent_user=agent_user,
        old_key_id=old_key[0], env=sandbox_environment(root, account), gate=iam_gate,
    )


def _wait_until_listening(home: SampleHome, supervisor: SupervisorHandle,
                          timeout: float = 15.0) -> None:
    """Until the gateway stand-in answers on its port and has rewritten its lock file naming
    itself, as OpenClaw's gateway does: only then is the host in the state a test compares
    against (supervisord calls a program RUNNING as soon as it is spawned)."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = supervisor.process_info(GATEWAY_PROGRAM).get("pid")
        try:
            lock = json.loads(home.lock_path.read_text())
        except (OSError, ValueError):
            lock = {}
        if pid and lock.get("pid") == pid:
            with socket.socket() as probe:
                probe.settimeout(1)
                if probe.connect_ex(("127.0.0.1", home.gateway_port)) == 0:
                    return
        time.sleep(0.02)
    raise AssertionError(f"the gateway stand-in did not start listening within {timeout:g} s")


def sandbox_environment(root: Path, account: MotoAccount) -> dict[str, str]:
    """The environment of every clawback run in a sandbox: its own XDG dirs (so its own
    signing key and keyring file), the file keyring, the admin key's env: references, and the
    dead proxy of tests/conftest.py, so nothing can leave the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "CLAWBACK_"))}
    for var in XDG_VARS:
        path = root / "xdg" / var.lower()
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        env[var] = str(path)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env[var] = DEAD_PROXY
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
    env["PYTHON_KEYRING_BACKEND"] = KEYRING_BACKEND
    env[ADMIN_KEY_ID_VAR], env[ADMIN_SECRET_VAR] = account.admin
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def scratch_root(name: str) -> Iterator[Path]:
    """A private directory on tmpfs when there is one, removed afterwards.

    Every timeline entry and journal write is fsync'ed, which is what durability on power loss
    needs; a SIGKILL leaves the page cache intact, so here the syncs only cost time (1-2 ms
    each on this machine's disk, serialized across side-by-side runs). On tmpfs they are free,
    and the short path keeps supervisord's socket under the 108-byte limit.
    """
    shm = Path("/dev/shm")
    parent = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    root = Path(tempfile.mkdtemp(prefix=f"clawback-{name}-", dir=parent))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def close_all(boxes: list[Sandbox]) -> None:
    """Stop every sandbox's processes, side by side (supervisord takes ~1 s to exit)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, len(boxes))) as pool:
        list(pool.map(lambda box: box.close(), boxes))


# --------------------------------------------------------------------------------------------
# Two hosts contained for real, shared by the leak and tamper suites
# --------------------------------------------------------------------------------------------


@dataclass
class CommandRun:
    """One ``clawback`` invocation and everything it printed."""

    args: tuple[str, ...]
    result: subprocess.CompletedProcess[str]

    @property
    def shown(self) -> str:
        return "clawback " + " ".join(self.args)


@dataclass
class ContainedHost:
    """A sandbox after ``clawback contain`` (and verify, report) ran in it."""

    box: Sandbox
    incident: Path
    final_checkpoint: Path  # the operator's off-host copy
    runs: list[CommandRun]

    def run(self, *args: str) -> CommandRun:
        done = CommandRun(args, self.box.clawback(*args))
        self.runs.append(done)
        return done

    def output_of(self, *args: str) -> CommandRun:
        return next(r for r in self.runs if r.args == args)


def contain_and_follow_up(box: Sandbox, *, json_output: bool) -> ContainedHost:
    """Read-only commands on the untouched host first, then contain, verify and report."""
    host = ContainedHost(box, Path(), Path(), [])
    home, config = str(box.home.user_home), str(box.config)
    if not json_output:
        host.run(*box.contain_args("--dry-run"))
        host.run(*box.contain_args("--dry-run", "--json"))
        host.run("discover", "--home", home)
        host.run("discover", "--home", home, "--json")
        for fmt in ("text", "json", "sarif"):
            host.run("audit", "--home", home, "--config", config, "--format", fmt)
        host.run("drill", "--preflight", "--config", config)
        host.run("drill", "--preflight", "--config", config, "--json")
    contained = host.run(*box.contain_args(*(["--json"] if json_output else [])))
    (incident,) = box.incident_dirs()
    host.incident = incident
    host.final_checkpoint = box.root / "checkpoint-kept-off-host.txt"
    if json_output:
        host.final_checkpoint.write_text(json.loads(contained.result.stdout)["final_checkpoint"])
    else:
        shutil.copy(incident / "checkpoint.txt", host.final_checkpoint)
    incidents = ("--incidents-dir", str(box.incidents))
    host.run("verify", incident.name, *incidents)
    host.run("verify", incident.name, *incidents, "--json", "--checkpoint",
             str(host.final_checkpoint))
    host.run("report", incident.name, *incidents, "--format", "md,html,timesketch",
             "--checkpoint", str(host.final_checkpoint))
    return host


# --------------------------------------------------------------------------------------------
# clawback demo, started as early as the session allows
# --------------------------------------------------------------------------------------------

DEMO_TIMEOUT_S = 180.0


@dataclass
class DemoProcess:
    """``clawback demo --json`` running in the background; its sandbox goes under ``tmp``."""

    process: subprocess.Popen[str]
    tmp: Path
    _result: subprocess.CompletedProcess[str] | None = None

    @classmethod
    def start(cls, tmp: Path) -> DemoProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAWBACK_", "XDG_"))}
        env["TMPDIR"] = str(tmp)  # the demo's sandbox goes where the test cleans up
        for var in XDG_VARS:  # anything it writes outside its sandbox lands here, to be searched
            env[var] = str(make_dirs(tmp / "xdg" / var.lower()))
        env.update({var: DEAD_PROXY for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                                                "http_proxy", "https_proxy")})
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
        process = subprocess.Popen(
            [sys.executable, "-m", "clawback", "demo", "--json"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp, stdin=subprocess.DEVNULL,
        )
        return cls(process, tmp)

    def result(self) -> subprocess.CompletedProcess[str]:
        if self._result is None:
            try:
                stdout, stderr = self.process.communicate(timeout=DEMO_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.stop()
                raise
            self._result = subprocess.CompletedProcess(
                self.process.args, self.process.returncode, stdout, stderr)
        return self._result

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        # SIGINT lets the demo's own cleanup stop its supervisord, Prism and moto.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
