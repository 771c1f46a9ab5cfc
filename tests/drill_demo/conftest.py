"""``clawback drill`` against the demo's sandbox while its gateway stand-in keeps running.

One sandbox per module (``clawback_demo.demo.open_sandbox``: the sample home, moto with IAM
enforced, the provider stand-ins, the gateway stand-in under supervisord), one drill run in this
process with the memory keyring, and a thread asking the gateway ``/keys-ok/detail`` over and
over while the drill runs. The gateway is never stopped or restarted: what it answers after the
drill it read from the files the drill rewrote. When the module is done, every process the
sandbox started must be gone and every port it listened on closed.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import keyring
import psutil
import pytest

from clawback.drill import STAGE_ACTION, DrillReport, DrillRequest, run_drill
from clawback.timeline import read_entries
from clawback_demo.demo import Sandbox, open_sandbox, sandbox_environment
from responders.kit.private_files import make_private_dir
from tests.conftest import MemoryKeyring, _check_address

SEED = 20261122
DEAD_PROXY = "http://127.0.0.1:9"
GATEWAY_PROGRAM = "openclaw-gateway"


class NoteTaker:
    """The reporter ``open_sandbox`` talks to: its notes are kept, nothing is printed."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)


@dataclass(frozen=True)
class Poll:
    """One ``/keys-ok/detail`` asked during the drill: when (wall clock, as the timeline's
    ``ts``), the raw answer, and what failed if the gateway did not answer."""

    started: float
    finished: float
    text: str
    error: str = ""

    @property
    def detail(self) -> dict[str, Any]:
        return dict(json.loads(self.text)) if self.text else {}

    def overlaps(self, start: float, end: float) -> bool:
        return self.started <= end and start <= self.finished


class GatewayPoller:
    """Asks the gateway without pause in a background thread until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.polls: list[Poll] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway poller", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.time()
            try:
                text = ask_gateway(self.url, "/keys-ok/detail")
                self.polls.append(Poll(started, time.time(), text))
            except (OSError, ValueError) as exc:
                self.polls.append(Poll(started, time.time(), "", type(exc).__name__))

    def __enter__(self) -> GatewayPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def ask_gateway(url: str, path: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url + path, timeout=10) as answer:
        return str(answer.read().decode())


def wait_for_key_checks(url: str, timeout: float = 15.0) -> None:
    """Until the gateway listens and knows its endpoints (supervisord calls it RUNNING as soon
    as it is spawned, before it listens)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ask_gateway(url, "/keys-ok")
            return
        except (OSError, urllib.error.HTTPError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass(frozen=True)
class RotationWindow:
    """A rotation's span in the timeline: from ``started`` until the agent's files held the
    new value (``pending``); None when it never got there."""

    target: str
    fingerprint: str
    started: float
    pending: float | None


@dataclass
class DrilledSandbox:
    box: Sandbox
    report: DrillReport
    keyring: MemoryKeyring
    before: dict[str, Any]  # /keys-ok/detail before the drill
    before_providers: dict[str, str]  # /keys-ok before the drill
    after: dict[str, Any]
    after_providers: dict[str, str]
    polls: list[Poll]
    gateway_pid_before: int
    gateway_pid_after: int
    drill_started: float
    drill_finished: float
    drill_seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def incident(self) -> Path:
        assert self.report.result.incident_dir is not None
        return self.report.result.incident_dir

    def results(self, action: str) -> list[Any]:
        return [r for r in self.report.result.results if r.action == action]

    def outcome_for(self, action: str, fingerprint: str) -> Any:
        """The outcome of ``action`` for the credential with this (old) fingerprint."""
        found = [r.outcome for r in self.results(action)
                 if r.target_info.get("fingerprint") == fingerprint]
        assert len(found) <= 1, f"{action} ran {len(found)} times for {fingerprint}"
        return found[0] if found else None

    def rotation_windows(self) -> dict[str, RotationWindow]:
        """By old fingerprint, from the drill's ``rotation.stage`` events."""
        stages: dict[str, dict[str, float]] = {}
        fingerprints: dict[str, str] = {}
        for entry in read_entries(self.incident / "timeline.jsonl"):
            if entry.action != STAGE_ACTION:
                continue
            target = entry.fields["target"]
            fingerprints[target["target"]] = target["fingerprint"]
            at = datetime.fromisoformat(str(entry.fields["ts"])).timestamp()
            stages.setdefault(target["target"], {}).setdefault(entry.extra["stage"], at)
        return {
            fingerprints[t]: RotationWindow(t, fingerprints[t], s["started"], s.get("pending"))
            for t, s in stages.items() if "started" in s
        }

    def new_secrets(self) -> list[str]:
        """Every value the drill stored (the new keys), as they would appear in a file: the
        stored AWS pair is JSON, of which only the secret access key is secret."""
        values = []
        for (service, _), value in self.keyring.store.items():
            if service != "clawback":
                continue
            if value.startswith("{") and "SecretAccessKey" in value:
                value = json.loads(value)["SecretAccessKey"]
            values.append(value)
        return values

    def planted_values(self) -> list[str]:
        return [p.value for p in self.box.home.planted] + list(self.box.credentials.values())


@contextlib.contextmanager
def memory_keyring_for_module() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@contextlib.contextmanager
def isolated_for_module(root: Path) -> Iterator[None]:
    """What tests/conftest.py's autouse fixture gives each test, for this module's sandbox:
    its own XDG dirs, no proxy for anything, and no connection beyond loopback."""
    with pytest.MonkeyPatch.context() as env:
        for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            env.setenv(var, str(make_private_dir(root / "xdg" / var.lower())))
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            env.setenv(var, DEAD_PROXY)
        for var in ("NO_PROXY", "no_proxy"):
            env.setenv(var, "127.0.0.1,localhost,::1")
        real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

        def guarded_connect(self: socket.socket, address: Any) -> None:
            _check_address(address)
            return real_connect(self, address)

        def guarded_connect_ex(self: socket.socket, address: Any) -> int:
            _check_address(address)
            return real_connect_ex(self, address)

        env.setattr(socket.socket, "connect", guarded_connect)
        env.setattr(socket.socket, "connect_ex", guarded_connect_ex)
        yield


def sandbox_processes(box: Sandbox) -> list[psutil.Process]:
    """supervisord, everything it runs, and Prism."""
    processes = [psutil.Process(box.gateway.pid)]
    processes += processes[0].children(recursive=True)
    if box.fleet.prism is not None:
        processes.append(psutil.Process(box.fleet.prism.process.pid))
    return processes


def sandbox_ports(box: Sandbox) -> list[int]:
    urls = [box.moto.url, box.gateway_url, *(s.url for s in box.fleet.services.values())]
    if box.fleet.prism is not None:
        urls.append(box.fleet.prism.url)
    return [int(urlsplit(url).port or 0) for url in urls]


def still_alive(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {process.name()}")
    return alive


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def gateway_pid(box: Sandbox) -> int:
    return int(box.gateway.process_info(GATEWAY_PROGRAM)["pid"])


@pytest.fixture(scope="module")
def drilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrilledSandbox]:
    root = make_private_dir(tmp_path_factory.mktemp("drill-demo") / "sandbox")
    reporter = NoteTaker()
    with isolated_for_module(root), memory_keyring_for_module() as memory:
        # The stand-ins stay in this process: the tests read their state (accounts) directly.
        with open_sandbox(root, reporter, seed=SEED, standins_apart=False) as box:
            processes, ports = sandbox_processes(box), sandbox_ports(box)
            wait_for_key_checks(box.gateway_url)
            pid_before = gateway_pid(box)
            before = json.loads(ask_gateway(box.gateway_url, "/keys-ok/detail"))
            before_providers = json.loads(ask_gateway(box.gateway_url, "/keys-ok"))
            with GatewayPoller(box.gateway_url) as poller, sandbox_environment(box):
                # Let the poller see the gateway before the drill too.
                while not poller.polls:
                    time.sleep(0.01)
                started, clock = time.time(), time.monotonic()
                request = DrillRequest(config=box.config, incidents_dir=root / "incidents")
                report = run_drill(request)
                seconds, finished = time.monotonic() - clock, time.time()
                # And once more after the drill has returned.
                count = len(poller.polls)
                while len(poller.polls) <= count:
                    time.sleep(0.01)
            after = json.loads(ask_gateway(box.gateway_url, "/keys-ok/detail"))
            after_providers = json.loads(ask_gateway(box.gateway_url, "/keys-ok"))
            yield DrilledSandbox(
                box=box, report=report, keyring=memory, before=before,
                before_providers=before_providers, after=after,
                after_providers=after_providers, polls=list(poller.polls),
                gateway_pid_before=pid_before, gateway_pid_after=gateway_pid(box),
                drill_started=started, drill_finished=finished, drill_seconds=seconds,
                notes=reporter.notes,
            )
        # The sandbox is closed: nothing it started may still run or listen.
        left = still_alive(processes)
        open_ports = [port for port in ports if listening(port)]
    assert not left, f"processes left running: {left}"
    assert not open_ports, f"ports still listening: {open_ports}"
    assert_moto_left_clean()


def assert_moto_left_clean() -> None:
    """moto keeps accounts and its IAM switch per process: the next moto of this test session
    must take unsigned set-up calls and not find the sandbox's agent user."""
    from clawback_demo.demo import AGENT_IAM_USER, leave_moto_clean
    from clawback_demo.standins import start_moto

    moto = start_moto()
    try:
        moto.create_agent_key(AGENT_IAM_USER)
    finally:
        leave_moto_clean(moto.url)
        moto.stop()
