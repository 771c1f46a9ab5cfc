"""The fault matrix's machinery: one provider misbehaves, every other one is its ordinary stand-in.

A *cell* is one real ``python -m clawback contain --yes --json`` on a fresh sample home
(``clawback_demo.home``) against fresh provider stand-ins (``clawback_demo.providers``;
GitHub's answered by openapi-core rather than behind Prism, so a fault reaches clawback as the
provider sent it) and moto's IAM server, with exactly one provider faulty:

- an ``InjectedFault`` set on that provider's ``LoopbackService``: 500, 429 with Retry-After,
  a hang longer than the client waits, 401, or a 200 whose body breaks off, each error body in
  the provider's own shape (``ERROR_BODIES``);
- or, for ``refused``, its table pointing at a loopback port that is bound and not listening
  (the kernel answers a connection there with RST: refused, every time, for the whole run).

AWS is moto behind ``AwsFront``, a ``LoopbackService`` that passes every request on untouched
(Host header included, so moto's SigV4 checks hold) until a fault is set on it.

moto is shared by the module (each cell has its own IAM user and its own front); the stand-ins
are stateful (a revoked key stays dead), so each cell gets its own fleet, which costs
milliseconds once the descriptions are loaded. Cells run a few at a time in the background from
the module's first test on (``FaultMatrix``); each test waits only for its own cell. Client
timeouts are short where a provider hangs (``CLIENT_TIMEOUT_S``) and the playbook bounds the
runner's retries, so the slowest key-step cell (a hang, retried) takes a few seconds; a
packaged-playbook cell (``Cell.packaged``: a gateway stand-in under a private supervisord,
stopped by the playbook's stop step, which re-checks after 3 s) about ten.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from clawback_demo.demo import leave_moto_clean, write_demo_config
from clawback_demo.home import SampleHome, build_sample_home
from clawback_demo.providers.fleet import start_provider_fleet
from clawback_demo.providers.loopback import InjectedFault, LoopbackService
from clawback_demo.standins import MotoStandIn, free_port, start_moto
from clawback_demo.supervisor import SupervisorHandle, start_supervisord
from tests.demo.test_demo import KILLED_BY_API as KILLED_IN_THE_DEMO
from tests.demo.test_demo import REPLACED_BY_API as REPLACED_BY_API  # re-exported

PROVIDERS = ("github", "openai", "anthropic", "slack", "cloudflare", "stripe", "aws")
# Planted kinds a provider's API kills, as tests/demo counts them: each is revoked and proven
# dead when its provider works (and, in REPLACED_BY_API, replaced), and none may be called dead
# on the word of a provider that misbehaves.
KILLED_BY_API = {provider: {kind for kind in KILLED_IN_THE_DEMO if kind.startswith(f"{provider}:")}
                 for provider in PROVIDERS}

CLIENT_TIMEOUT_S = 0.5  # the hanging provider's connect and read timeout
HANG_S = 5.0  # a "timeout" fault holds each request this long: ten times what the client waits
MATRIX_RETRIES = 1  # the runner tries a retryable failure twice in all
RETRY_AFTER_S = 1  # what a 429 asks for
FAULT_NAMES = ("500", "429", "timeout", "refused", "401", "malformed-json")
RETRYABLE_FAULTS = frozenset({"500", "429", "timeout", "refused"})


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


def _aws_error(kind: str, code: str, message: str) -> bytes:
    return (
        '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
        f"<Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>4b3c8f61-0c1d-4d8e-9a39-fault0matrix</RequestId></ErrorResponse>"
    ).encode()


# Each provider errs in its own words (the bodies their API references show), so a responder
# that reads the error body reads what the provider would send.
ERROR_BODIES: dict[str, dict[str, bytes]] = {
    "github": {
        "500": _json({"message": "Server Error"}),
        "429": _json({"message": "API rate limit exceeded",
                      "documentation_url": "https://docs.github.com/rest/rate-limit"}),
        "401": _json({"message": "Bad credentials",
                      "documentation_url": "https://docs.github.com/rest"}),
    },
    "openai": {
        "500": _json({"error": {"message": "The server had an error while processing your "
                                           "request.", "type": "server_error", "param": None,
                                "code": None}}),
        "429": _json({"error": {"message": "Rate limit reached for requests", "type": "requests",
                                "param": None, "code": "rate_limit_exceeded"}}),
        "401": _json({"error": {"message": "Incorrect API key provided.",
                                "type": "invalid_request_error", "param": None,
                                "code": "invalid_api_key"}}),
    },
    "anthropic": {
        "500": _json({"type": "error", "error": {"type": "api_error",
                                                 "message": "Internal server error"}}),
        "429": _json({"type": "error", "error": {"type": "rate_limit_error",
                                                 "message": "Rate limited"}}),
        "401": _json({"type": "error", "error": {"type": "authentication_error",
                                                 "message": "invalid x-api-key"}}),
    },
    "slack": {
        "500": _json({"ok": False, "error": "internal_error"}),
        "429": _json({"ok": False, "error": "ratelimited"}),
        "401": _json({"ok": False, "error": "invalid_auth"}),
    },
    "cloudflare": {
        "500": _json({"success": False, "errors": [{"code": 10000, "message": "Internal error"}],
                      "messages": [], "result": None}),
        "429": _json({"success": False, "errors": [{"code": 971, "message": "Please wait and "
                                                    "consider throttling your request speed"}],
                      "messages": [], "result": None}),
        "401": _json({"success": False, "errors": [{"code": 10000,
                                                    "message": "Authentication error"}],
                      "messages": [], "result": None}),
    },
    "stripe": {
        "500": _json({"error": {"type": "api_error", "message": "An unknown error occurred"}}),
        "429": _json({"error": {"type": "invalid_request_error", "code": "rate_limit",
                                "message": "Too many requests hit the API too quickly."}}),
        "401": _json({"error": {"type": "invalid_request_error",
                                "message": "Invalid API Key provided."}}),
    },
    "aws": {
        "500": _aws_error("Receiver", "ServiceFailure", "Request processing has failed."),
        "429": _aws_error("Sender", "Throttling", "Rate exceeded"),
        "401": _aws_error("Sender", "InvalidClientTokenId",
                          "The security token included in the request is invalid."),
    },
}
# A 200 whose body breaks off: JSON for the JSON APIs, IAM's XML for AWS.
MALFORMED = {"aws": b'<ListAccessKeysResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
                    b"<ListAccessKeysResult><AccessKeyMetadata><member><UserName"}
MALFORMED_JSON = b'{"object": "list", "data": [{"id": "key_'


def injected_fault(provider: str, fault: str) -> InjectedFault | None:
    """How ``provider`` misbehaves for ``fault``; None for ``refused``, which is no answer."""
    content_type = "text/xml" if provider == "aws" else "application/json"
    if fault == "refused":
        return None
    if fault == "timeout":
        return InjectedFault(fault, 504, b"", content_type, hang_seconds=HANG_S)
    if fault == "malformed-json":
        return InjectedFault(fault, 200, MALFORMED.get(provider, MALFORMED_JSON), content_type)
    headers = (("Retry-After", str(RETRY_AFTER_S)),) if fault == "429" else ()
    return InjectedFault(fault, int(fault), ERROR_BODIES[provider][fault], content_type, headers)


# Only the keys steps: what the matrix is about, in a second or two per cell.
MATRIX_PLAYBOOK = f"""\
name: fault-matrix
description: the contain playbook's key steps, with the runner's retries bounded
steps:
  - id: revoke
    uses: keys.revoke_all
    with: {{rotate: true, verify: true, exclude_providers: [openclaw, whatsapp]}}
    retries: {MATRIX_RETRIES}
    timeout: 20
"""

AWS_ADMIN_KEY_ID_VAR = "CLAWBACK_DEMO_AWS_ADMIN_KEY_ID"  # the names write_demo_config refers to
AWS_ADMIN_SECRET_VAR = "CLAWBACK_DEMO_AWS_ADMIN_SECRET"
KEYRING_BACKEND = "keyrings.alt.file.PlaintextKeyring"
DEAD_PROXY = "http://127.0.0.1:9"  # any HTTP that would leave loopback is refused at once
RUN_TIMEOUT_S = 120.0  # only a hang reaches it; a cell normally takes seconds
GATEWAY_PROGRAM = "openclaw-gateway"
# Set in every process a cell's contain and verify start (and inherited by theirs): a process
# still carrying it once both have returned was left behind.
MARK_VARIABLE = "FAULT_MATRIX_CELL_MARK"
BASE_URL_KEY = {"stripe": "api_base", "aws": "endpoint_url"}  # the rest say base_url

_cell_numbers = count(1)


# -- AWS: moto behind a front that can misbehave ----------------------------------------------


class AwsFront:
    """moto's IAM server behind a ``LoopbackService`` of the cell's own: every request is passed
    on untouched until ``service.fault`` is set, so AWS can fail the way the other stand-ins do
    while the cells next to it, sharing moto, see a working AWS."""

    def __init__(self, moto_url: str) -> None:
        from urllib.parse import urlsplit

        self._upstream = urlsplit(moto_url)
        assert self._upstream.hostname == "127.0.0.1"  # loopback only, never anywhere else
        self.service = LoopbackService("aws", self._forward, None, "moto")

    def _forward(self, request: Any) -> Any:
        import http.client

        from werkzeug import Response

        upstream = http.client.HTTPConnection(
            self._upstream.hostname, self._upstream.port, timeout=30
        )
        try:
            # Host header and body exactly as signed: moto checks the SigV4 signature over both.
            upstream.request(request.method, request.full_path.rstrip("?"),
                             body=request.get_data(), headers=dict(request.headers.items()))
            answer = upstream.getresponse()
            body = answer.read()
            passed = [(k, v) for k, v in answer.getheaders()
                      if k.lower() not in ("content-length", "transfer-encoding", "connection")]
            return Response(body, answer.status, passed)
        finally:
            upstream.close()

    @property
    def url(self) -> str:
        return self.service.url

    def stop(self) -> None:
        self.service.stop()


@dataclass
class AwsAccount:
    """The module's moto, with an admin identity allowed to manage IAM keys."""

    moto: MotoStandIn
    admin: tuple[str, str]
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def new_agent_key(self) -> tuple[str, tuple[str, str]]:
        """A fresh IAM user holding one access key: each cell revokes its own."""
        user = f"openclaw-agent-{next(_cell_numbers)}"
        with self._lock:  # boto3's default session is not thread-safe
            return user, self.moto.create_agent_key(user)

    def key_statuses(self, user: str) -> dict[str, str]:
        with self._lock:
            return self.moto.key_statuses(user)


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsAccount]:
    moto = start_moto()
    try:
        # moto's accounts and IAM switch are per process: start from none of another area's
        # users with unsigned set-up allowed, and leave it so for the areas after this one.
        leave_moto_clean(moto.url)
        admin = moto.create_admin()
        moto.enforce_iam()
        yield AwsAccount(moto, admin)
    finally:
        leave_moto_clean(moto.url)
        moto.stop()


# -- one cell ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    provider: str  # the one that misbehaves
    fault: str  # one of FAULT_NAMES
    packaged: bool = False  # the packaged contain playbook, gateway and all, not the key step

    @property
    def id(self) -> str:
        return f"{self.provider}-{self.fault}" + ("-packaged" if self.packaged else "")


@dataclass
class CellRun:
    """What one cell's contain and verify did, and what the world looks like afterwards."""

    cell: Cell
    contain: subprocess.CompletedProcess[str]
    verify: subprocess.CompletedProcess[str] | None
    document: dict[str, Any]
    planted: list[dict[str, str]]  # provider, kind, target, fingerprint of every planted secret
    still_accepted: set[str]  # targets whose value a stand-in still takes
    faulted_at: list[float]  # when the faulty provider answered a request with the fault
    violations: dict[str, list[str]]  # contract violations per stand-in
    aws_keys_after: dict[str, str]  # the cell's IAM user's keys, id → status
    old_aws_key_id: str
    seconds: float  # contain's wall time
    leaked: list[str]  # fingerprints of planted values found in any output
    left_behind: list[str] = field(default_factory=list)  # processes the cell's runs left
    gateway_state: str | None = None  # supervisord's word for the gateway (packaged cells)
    gateway_listening: bool | None = None

    @property
    def results(self) -> list[dict[str, Any]]:
        return list(self.document.get("results", []))

    def outcomes(self, target: str, action: str) -> list[dict[str, Any]]:
        return [r for r in self.results if r["target"] == target and r["action"] == action]

    def api_targets(self, provider: str) -> dict[str, str]:
        """target → kind of every planted secret ``provider``'s API can kill."""
        return {p["target"]: p["kind"] for p in self.planted
                if p["provider"] == provider and p["kind"] in KILLED_BY_API[provider]}

    def diagnosis(self) -> str:
        """What to read when a cell fails: exit codes, timing and the end of stderr."""
        verify = self.verify.returncode if self.verify is not None else "not run"
        return (f"{self.cell.id}: contain exit {self.contain.returncode}, verify {verify}, "
                f"{self.seconds:.1f} s; stderr: {self.contain.stderr[-2000:]}")


def make_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


# Taken once, while only one thread runs: cells are built by a thread pool, and iterating
# os.environ while another thread of the session sets or removes a variable raises KeyError
# (seen once in the github-401 cell under load).
_PROCESS_ENV = dict(os.environ)


def cell_environment(root: Path, credentials: Mapping[str, str]) -> dict[str, str]:
    """The cell's own XDG dirs (own signing key, own file keyring) and loopback-only HTTP."""
    env = {k: v for k, v in _PROCESS_ENV.items() if not k.startswith("CLAWBACK_")}
    for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        env[var] = str(make_dir(root / "xdg" / var.lower()))
    env.update({
        "PYTHON_KEYRING_BACKEND": KEYRING_BACKEND,
        "NO_PROXY": "127.0.0.1,localhost,::1",
        "no_proxy": "127.0.0.1,localhost,::1",
        **{v: DEAD_PROXY for v in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
                                   "https_proxy")},
        **credentials,
    })
    return env


@contextlib.contextmanager
def refusing_port() -> Iterator[str]:
    """A loopback URL whose port is bound but not listening: every connection is refused, and
    no other process can take the port while the cell runs."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


def short_timeouts(provider: str, table: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(table)
    if provider == "aws":
        out.update(connect_timeout=CLIENT_TIMEOUT_S, read_timeout=CLIENT_TIMEOUT_S)
    else:
        out.update(timeout_seconds=CLIENT_TIMEOUT_S, connect_timeout_seconds=CLIENT_TIMEOUT_S)
    return out


def aws_table(endpoint: str, user: str) -> dict[str, Any]:
    return {
        "endpoint_url": endpoint,
        "region": "us-east-1",
        "admin_access_key_id": f"env:{AWS_ADMIN_KEY_ID_VAR}",
        "admin_secret_access_key": f"env:{AWS_ADMIN_SECRET_VAR}",
        "users": [user],
        "delete_grace_seconds": 0,
        "new_key_ready_seconds": 0,
    }


def clawback_cli(env: Mapping[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clawback", *args], capture_output=True, text=True,
        env=dict(env), cwd=cwd, timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False,
    )


@dataclass
class Gateway:
    """The agent's gateway stand-in under a private supervisord, for the packaged playbook."""

    supervisor: SupervisorHandle
    port: int

    def state(self) -> str:
        import xmlrpc.client

        try:
            return str(self.supervisor.process_info(GATEWAY_PROGRAM).get("statename"))
        except xmlrpc.client.Fault:
            return "REMOVED"  # taken out of supervisord so a reload cannot bring it back

    def listening(self) -> bool:
        with socket.socket() as probe:
            probe.settimeout(1)
            return probe.connect_ex(("127.0.0.1", self.port)) == 0


def start_gateway(home: SampleHome, workdir: Path) -> Gateway:
    supervisor = start_supervisord(
        workdir,
        {GATEWAY_PROGRAM: [
            sys.executable, "-m", "clawback_demo.gateway",
            "--port", str(home.gateway_port),
            "--lock-dir", str(home.lock_dir),
            "--config-path", str(home.config_path),
        ]},
        autorestart=True,
    )
    gateway = Gateway(supervisor, home.gateway_port)
    deadline = time.monotonic() + 15
    # supervisord calls a program RUNNING once spawned; contain must find it listening.
    while not gateway.listening():
        if time.monotonic() > deadline:
            supervisor.stop()
            raise AssertionError("the gateway stand-in never listened")
        time.sleep(0.05)
    return gateway


def run_cell(cell: Cell, root: Path, aws: AwsAccount, playbook: Path) -> CellRun:
    """One contain with ``cell.provider`` misbehaving, then verify, then what is still alive."""
    make_dir(root)
    user, (old_key_id, old_secret) = aws.new_agent_key()
    home = build_sample_home(root / "host", aws_keys=[(old_key_id, old_secret)],
                             gateway_port=free_port())
    fault = injected_fault(cell.provider, cell.fault)
    with contextlib.ExitStack() as cleanup:
        fleet = start_provider_fleet(home.planted, root)
        cleanup.callback(fleet.stop)
        front = AwsFront(aws.moto.url)
        cleanup.callback(front.stop)
        services: dict[str, LoopbackService] = {**fleet.services, "aws": front.service}
        tables = {name: dict(table) for name, table in fleet.config.items()}
        tables["aws"] = aws_table(front.url, user)
        faulty = services[cell.provider]
        if cell.fault == "timeout":
            # Only here, where the wait is the point: elsewhere a short timeout on a loaded
            # machine would turn a slow success into a retry, or a 401 into a timeout.
            tables[cell.provider] = short_timeouts(cell.provider, tables[cell.provider])
        if fault is None:
            closed = cleanup.enter_context(refusing_port())
            tables[cell.provider][BASE_URL_KEY.get(cell.provider, "base_url")] = closed
        else:
            faulty.fault = fault
        gateway: Gateway | None = None
        socket_path = root / "no-supervisor.sock"  # the key step never asks supervisord
        if cell.packaged:
            gateway = start_gateway(home, root / "sv")
            cleanup.callback(gateway.supervisor.stop)
            socket_path = gateway.supervisor.socket_path
        config = write_demo_config(root / "clawback.toml", agent=home.agent_settings(),
                                   supervisor_socket=socket_path, moto_url=front.url,
                                   providers=tables)
        mark = uuid.uuid4().hex
        env = cell_environment(root, {AWS_ADMIN_KEY_ID_VAR: aws.admin[0],
                                      AWS_ADMIN_SECRET_VAR: aws.admin[1], MARK_VARIABLE: mark,
                                      **fleet.environ})
        incidents = root / "incidents"
        started = time.monotonic()
        contain = clawback_cli(env, root, "contain", "--config", str(config), "--playbook",
                               str(playbook), "--incidents-dir", str(incidents), "--yes", "--json")
        seconds = time.monotonic() - started
        try:
            document = json.loads(contain.stdout)
        except ValueError:
            document = {}
        verify = None
        if document.get("incident_dir") and document.get("final_checkpoint"):
            anchor = root / "checkpoint-kept-off-host.txt"
            anchor.write_text(document["final_checkpoint"])
            verify = clawback_cli(env, root, "verify", document["incident_dir"],
                                  "--incidents-dir", str(incidents), "--checkpoint", str(anchor))
        return CellRun(
            cell=cell, contain=contain, verify=verify, document=document,
            planted=[{"provider": p.provider, "kind": p.kind, "fingerprint": p.fingerprint,
                      "target": planted_target(p)} for p in home.planted],
            still_accepted={planted_target(p) for p in home.planted
                            if fleet.accepts(p.provider, p.value)},
            faulted_at=list(faulty.faulted_at),
            violations={t.provider: list(t.violations) for t in fleet.tallies()},
            aws_keys_after=aws.key_statuses(user),
            old_aws_key_id=old_key_id,
            seconds=seconds,
            leaked=leaks(home, old_secret, [contain, verify], incidents),
            left_behind=reap_marked(mark),
            gateway_state=gateway.state() if gateway else None,
            gateway_listening=gateway.listening() if gateway else None,
        )


def reap_marked(mark: str) -> list[str]:
    """Every process still carrying ``mark``, described, then killed so the suite goes on."""
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARK_VARIABLE) == mark:
                found.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
                process.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def planted_target(secret: Any) -> str:
    """How contain names a planted secret's target (as ``clawback_demo.demo`` records it)."""
    return f"{secret.provider}:{secret.key_id or secret.fingerprint}"


def leaks(home: SampleHome, aws_secret: str,
          runs: list[subprocess.CompletedProcess[str] | None], incidents: Path) -> list[str]:
    """Fingerprints of planted values found in what was printed or written to the incident
    (the sealed evidence archives and the backups are copies of the agent's files: skipped)."""
    from responders.interface import fingerprint

    values = {p.value for p in home.planted} | {aws_secret}
    outputs = [text.encode() for run in runs if run is not None
               for text in (run.stdout, run.stderr)]
    for path in incidents.rglob("*"):
        if path.is_file() and "backups" not in path.parts and not path.name.endswith(".tar.gz"):
            outputs.append(path.read_bytes())
    return sorted({fingerprint(v) for v in values for data in outputs if v.encode() in data})


# -- the module's cells, a few at a time ------------------------------------------------------


class FaultMatrix:
    """Runs cells in the background, ``workers`` at a time; ``result`` waits for one.

    Most of a cell is waiting (on a hang, a Retry-After, a subprocess starting), so a few side
    by side finish the module in a fraction of the time one after another would take.
    """

    def __init__(self, root: Path, aws: AwsAccount, workers: int) -> None:
        self._root = root
        self._aws = aws
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fault cell")
        self._runs: dict[Cell, Future[CellRun]] = {}
        self._lock = threading.Lock()
        self._playbooks = {False: write_playbook(root / "fault-matrix.yaml"),
                           True: packaged_contain_playbook()}

    def start(self, cells: list[Cell]) -> None:
        with self._lock:
            for cell in cells:
                if cell not in self._runs:
                    self._runs[cell] = self._pool.submit(
                        run_cell, cell, self._root / cell.id, self._aws,
                        self._playbooks[cell.packaged],
                    )

    def result(self, cell: Cell) -> CellRun:
        self.start([cell])
        return self._runs[cell].result()

    def close(self) -> None:
        for run in self._runs.values():
            run.cancel()
        self._pool.shutdown(wait=True)


def write_playbook(path: Path) -> Path:
    make_dir(path.parent)
    path.write_text(MATRIX_PLAYBOOK)
    os.chmod(path, 0o600)
    return path


def packaged_contain_playbook() -> Path:
    from clawback.contain import packaged_playbook

    return Path(packaged_playbook("contain"))


MATRIX_WORKERS = 3


@pytest.fixture(scope="module")
def fault_matrix(request: pytest.FixtureRequest, aws: AwsAccount,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultMatrix]:
    """The module's matrix, with every cell this session selected from the module started at
    once (so a single ``-k`` cell runs alone)."""
    matrix = FaultMatrix(tmp_path_factory.mktemp("faults"), aws, MATRIX_WORKERS)
    try:
        selected = [
            item.callspec.params["cell"] for item in request.session.items
            if getattr(item, "module", None) is request.module
            and "cell" in getattr(getattr(item, "callspec", None), "params", {})
        ]
        # The packaged playbook's cells take longest: started first, they do not end last.
        matrix.start(sorted(selected, key=lambda cell: not cell.packaged))
        yield matrix
    finally:
        matrix.close()
