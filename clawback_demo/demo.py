"""``clawback demo``: the real contain playbook against an embedded sandbox.

In a fresh temporary directory: a sample OpenClaw home with planted secrets, a real gateway
stand-in process under a private supervisord (autorestart on), moto's IAM server holding the
agent's real access key, and a stateful loopback stand-in for every other provider with an API
(GitHub behind Prism, OpenAI, Anthropic, Slack, Cloudflare, Stripe: ``clawback_demo.
providers``), each seeded with the planted keys. Every provider table is configured, its admin
credential made up for this run and passed by ``env:`` reference, set for the run only. Then the
packaged contain playbook runs for real, verify checks the result against the final checkpoint,
and the post-incident report is written. No root, no network beyond loopback; every process
started here is stopped at the end. The directory is kept so the incident can be inspected.

Besides the incident, the sandbox holds ``planted.json`` (what was planted: fingerprints and
places, never a value), ``demo.json`` (what the demo found, as ``--json`` prints it) and
``gateway-endpoints.json`` (the stand-ins' URLs, where the gateway stand-in's ``/keys-ok`` finds
them). ``CLAWBACK_DEMO_SEED`` (an integer) makes the planted secrets reproducible.

``open_sandbox`` starts the same sandbox without running anything against it, for tests (a drill
against the demo backends while the gateway keeps running: tests/drill_demo).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from responders.kit.private_files import make_private_dir, write_private

if TYPE_CHECKING:
    from clawback_demo.home import SampleHome
    from clawback_demo.providers.fleet import ProviderFleet
    from clawback_demo.standins import MotoStandIn
    from clawback_demo.standins_process import RemoteFleet
    from clawback_demo.supervisor import SupervisorHandle

AGENT_IAM_USER = "openclaw-agent"
SEED_VARIABLE = "CLAWBACK_DEMO_SEED"
PLANTED_FILE = "planted.json"
SUMMARY_FILE = "demo.json"
ENDPOINTS_FILE = "gateway-endpoints.json"


@dataclass
class DemoOutcome:
    root: Path
    incident_dir: Path | None
    contain_exit: int
    verify_exit: int
    remarks: list[str] = field(default_factory=list)  # what the sandbox could not do here
    gateway_stopped: bool = False
    gateway_port: int = 0
    aws_keys_after: dict[str, str] = field(default_factory=dict)
    result: Any = None  # clawback.runner.RunResult
    story: Any = None  # the sample's attack (clawback_demo.attack_story.AttackStory)
    verify: dict[str, Any] = field(default_factory=dict)  # VerifyReport.as_dict()
    report_files: list[Path] = field(default_factory=list)
    contract_checks: list[dict[str, Any]] = field(default_factory=list)
    still_accepted: list[dict[str, str]] = field(default_factory=list)
    planted: list[dict[str, Any]] = field(default_factory=list)
    # The gateway started again by its owner after the incident: what `supervisorctl update`
    # did (nothing: it stays down), and how the old and the new tokens were answered.
    restart: dict[str, Any] = field(default_factory=dict)

    @property
    def notes(self) -> list[str]:
        """The remarks, then where the report is (``clawback demo`` prints notes last)."""
        report = [f"report: {self.report_html}"] if self.report_html else []
        return [*self.remarks, *report]

    @property
    def violations(self) -> list[str]:
        return [v for check in self.contract_checks for v in check["violations"]]

    @property
    def report_html(self) -> Path | None:
        return next((p for p in self.report_files if p.name == "report.html"), None)

    @property
    def failed(self) -> list[Any]:
        results = self.result.results if self.result is not None else []
        return [r for r in results if r.outcome.status in ("failed", "refused")]

    @property
    def ok(self) -> bool:
        # Exit 3 (manual steps left) is the expected end of a sandbox run: some providers have
        # no revoke API at all. In this sandbox every stand-in answers, so a failed step, like a
        # contract violation, is a bug in clawback or in a stand-in.
        return (
            self.contain_exit in (0, 3)
            and not self.failed
            and self.verify_exit == 0
            and self.gateway_stopped
            and not self.violations
            and self.report_html is not None
            and rotation_proved(self.restart)
            and investigation_recovered(self)
        )


@contextlib.contextmanager
def _isolated_keyring(root: Path) -> Iterator[None]:
    """Keep the demo's signing key and rotated keys out of the user's real keyring."""
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    previous_backend = keyring.get_keyring()
    previous_env = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(make_private_dir(root / "keyring"))
    keyring.set_keyring(PlaintextKeyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous_backend)
        if previous_env is None:
            os.environ.pop("XDG_DATA_HOME", None)
        else:
            os.environ["XDG_DATA_HOME"] = previous_env


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """The admin credentials' ``env:`` references resolve only while the run needs them."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def write_demo_config(
    path: Path,
    *,
    agent: dict[str, Any],
    supervisor_socket: Path,
    evidence: dict[str, Any] | None = None,
    moto_url: str,
    providers: Mapping[str, Mapping[str, Any]],
) -> Path:
    import tomli_w

    document: dict[str, Any] = {
        "agent": {
            **agent,
            "services": [
                {
                    "kind": "supervisord",
                    "name": "openclaw-gateway",
                    "socket": str(supervisor_socket),
                }
            ],
        },
        # Host-wide files (auth.log, crontabs) come from the sandbox's root, not this machine.
        **({"evidence": evidence} if evidence else {}),
        "providers": {
            "aws": {
                "endpoint_url": moto_url,
                "region": "us-east-1",
                "admin_access_key_id": "env:CLAWBACK_DEMO_AWS_ADMIN_KEY_ID",
                "admin_secret_access_key": "env:CLAWBACK_DEMO_AWS_ADMIN_SECRET",
                "users": [AGENT_IAM_USER],
                "delete_grace_seconds": 0,
                "new_key_ready_seconds": 0,
            },
            **providers,
        },
        # The gateway stand-in reads the agent's keys from its files on every use, so a drill
        # proves the handover by its answering after the switch (no restart needed).
        "drill": {
            "health_url": f"http://127.0.0.1:{agent['gateway_port']}/health",
            "grace_seconds": 10,
        },
    }
    header = (
        "# written by clawback demo: every provider points at a loopback stand-in, and every\n"
        "# admin credential is an env: reference set only while the demo runs\n"
    )
    write_private(path, header + tomli_w.dumps(document))
    return path


def planted_record(home: Any) -> list[dict[str, Any]]:
    """What was planted and where, by fingerprint: the value itself is never written."""
    return [
        {
            "provider": p.provider,
            "kind": p.kind,
            "key_id": p.key_id,
            "fingerprint": p.fingerprint,
            "target": f"{p.provider}:{p.key_id or p.fingerprint}",
            "locations": [str(loc) for loc in p.locations],
        }
        for p in home.planted
    ]


def _seed() -> int | None:
    raw = os.environ.get(SEED_VARIABLE, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        from clawback.errors import BadInput

        raise BadInput(f"{SEED_VARIABLE} must be an integer") from None


@dataclass
class Sandbox:
    """Everything ``clawback demo`` acts on, running: the agent's host, its backends and the
    clawback.toml that points at them. ``credentials`` are the values of the config's ``env:``
    references: set them only while clawback runs (``sandbox_environment``)."""

    root: Path
    home: SampleHome
    moto: MotoStandIn
    fleet: ProviderFleet | RemoteFleet
    gateway: SupervisorHandle
    config: Path
    endpoints: Path  # where the gateway stand-in finds the provider stand-ins
    planted: list[dict[str, Any]]
    credentials: dict[str, str] = field(repr=False)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.home.gateway_port}"


@contextlib.contextmanager
def sandbox_environment(sandbox: Sandbox) -> Iterator[None]:
    """The admin credentials' ``env:`` references resolve only while the run needs them."""
    with _environment(sandbox.credentials):
        yield


@contextlib.contextmanager
def _loopback_bypasses_proxies() -> Iterator[None]:
    """The sandbox lives on 127.0.0.1: an HTTP(S)_PROXY set for the user's real work must not
    receive its calls (boto3, httpx and urllib all honour NO_PROXY)."""
    loopback = ("127.0.0.1", "localhost", "::1")
    saved = {var: os.environ.get(var) for var in ("NO_PROXY", "no_proxy")}
    for var, value in saved.items():
        present = [v for v in (value or "").split(",") if v]
        os.environ[var] = ",".join([*present, *(h for h in loopback if h not in present)])
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


@contextlib.contextmanager
def open_sandbox(
    root: Path, reporter: Any, *, seed: int | None = None, standins_apart: bool = True
) -> Iterator[Sandbox]:
    """Start the demo's sandbox under ``root``; every process it started is stopped on exit.

    ``standins_apart``: moto and the provider stand-ins run in a process of their own
    (``clawback_demo.standins_process``), so contain's figures are clawback's own work; a test
    that reads the stand-ins' state directly keeps them in this process.

    The keyring is the caller's business: ``run_demo`` isolates it, a test brings its own.
    """
    from concurrent.futures import ThreadPoolExecutor

    from clawback_demo.home import build_sample_home
    from clawback_demo.providers.fleet import start_provider_fleet
    from clawback_demo.standins import (
        MotoStandIn,
        find_prism,
        free_port,
        github_spec,
        start_moto,
        start_prism_proxy,
    )
    from clawback_demo.standins_process import StandInsProcess
    from clawback_demo.supervisor import start_supervisord

    with contextlib.ExitStack() as cleanup:
        cleanup.enter_context(_loopback_bypasses_proxies())
        if standins_apart:
            apart = StandInsProcess()
            cleanup.callback(apart.stop)
            moto = MotoStandIn(url=apart.moto_url, server=None)
            starter: Any = apart.start_fleet
        else:
            moto = start_moto()
            cleanup.callback(moto.stop)
            cleanup.callback(leave_moto_clean, moto.url)
            starter = start_provider_fleet
        aws_key = moto.create_agent_key(AGENT_IAM_USER)
        aws_admin = moto.create_admin()
        moto.enforce_iam()
        reporter.note(f"AWS: moto's IAM on {moto.url}, the agent's key {aws_key[0]}")

        home = build_sample_home(
            root / "host", aws_keys=[aws_key], gateway_port=free_port(), seed=seed
        )
        planted = planted_record(home)
        write_private(root / PLANTED_FILE, json.dumps(planted, indent=2) + "\n")
        endpoints = root / ENDPOINTS_FILE
        prism, spec = find_prism(), github_spec()
        github_proxy = (
            functools.partial(start_prism_proxy, prism, spec) if prism and spec else None
        )
        with ThreadPoolExecutor(max_workers=1) as pool:
            # Prism takes a couple of seconds to read GitHub's description: meanwhile the
            # gateway starts under supervisord.
            fleet_starting = pool.submit(
                starter, home.planted, root,
                github_proxy=github_proxy,
                slack_allow_list=True,
            )
            cleanup.callback(_stop_when_started, fleet_starting)
            gateway = start_supervisord(
                root / "supervisor",
                {"openclaw-gateway": [
                    sys.executable, "-m", "clawback_demo.gateway",
                    "--port", str(home.gateway_port),
                    "--lock-dir", str(home.lock_dir),
                    "--config-path", str(home.config_path),
                    "--user-home", str(home.user_home),
                    "--endpoints", str(endpoints),
                ]},
                autorestart=True,
            )
            cleanup.callback(gateway.stop)
            fleet = fleet_starting.result()
        # Written once the stand-ins listen; the gateway reads it per request, so it need not
        # wait for them to start.
        write_private(endpoints, json.dumps(gateway_endpoints(moto.url, fleet.config)) + "\n")
        reporter.note(f"gateway stand-in under supervisord (autorestart) on "
                      f"127.0.0.1:{home.gateway_port}")
        # Their URLs are in gateway-endpoints.json and demo.json: a line each would be noise.
        reporter.note(
            "provider stand-ins on loopback, seeded with the planted keys: "
            + ", ".join(name + (" (behind Prism, checking GitHub's description)"
                                if name == "github" and fleet.prism else "")
                        for name in sorted(fleet.services))
        )

        config = write_demo_config(
            root / "clawback.toml", agent=home.agent_settings(),
            evidence=home.evidence_settings(), supervisor_socket=gateway.socket_path,
            moto_url=moto.url, providers=fleet.config,
        )
        yield Sandbox(
            root=root, home=home, moto=moto, fleet=fleet, gateway=gateway, config=config,
            endpoints=endpoints, planted=planted,
            credentials={
                "CLAWBACK_DEMO_AWS_ADMIN_KEY_ID": aws_admin[0],
                "CLAWBACK_DEMO_AWS_ADMIN_SECRET": aws_admin[1],
                **fleet.environ,
            },
        )


def gateway_endpoints(moto_url: str, providers: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Each provider's base URL as clawback is configured to reach it (GitHub's through Prism
    when it runs), so the agent's calls are checked like clawback's."""
    urls = {"aws": moto_url}
    for name, table in providers.items():
        url = table.get("base_url") or table.get("api_base")
        if url:
            urls[name] = str(url)
    return urls


def run_demo(reporter: Any, *, root: Path | None = None) -> DemoOutcome:
    from clawback.contain import ContainRequest, packaged_playbook, prepare, run
    from clawback.report import write_reports
    from clawback.verify import verify_incident

    seed = _seed()
    root = make_private_dir(root or Path(tempfile.mkdtemp(prefix="clawback-demo-")))
    reporter.note(f"sandbox in {root}")
    with _isolated_keyring(root), open_sandbox(root, reporter, seed=seed) as box:
        home, moto, fleet, gateway = box.home, box.moto, box.fleet, box.gateway
        request = ContainRequest(
            playbook=packaged_playbook("contain"), config=box.config, yes=True,
            incidents_dir=root / "incidents",
        )
        with sandbox_environment(box):
            result = run(prepare(request), reporter)

        verify: dict[str, Any] = {}
        report_files: list[Path] = []
        if result.incident_dir is not None and result.final_checkpoint:
            anchor = write_private(root / "checkpoint-kept-off-host.txt", result.final_checkpoint)
            verified = verify_incident(
                result.incident_dir, checkpoint=anchor, evidence_checker=_evidence_checker()
            )
            verify = verified.as_dict()
            report_files = write_reports(result.incident_dir, checkpoint=anchor)
        stopped = _gateway_stopped(gateway, home.gateway_port)
        restart = restart_as_owner(gateway, home, result) if stopped else {}
        outcome = DemoOutcome(
            root=root,
            incident_dir=result.incident_dir,
            contain_exit=result.exit_code,
            verify_exit=int(verify.get("exit_code", 1)),
            remarks=[*fleet.notes],
            gateway_stopped=stopped,
            gateway_port=home.gateway_port,
            aws_keys_after=moto.key_statuses(AGENT_IAM_USER),
            result=result,
            verify=verify,
            report_files=report_files,
            contract_checks=[tally.as_dict() for tally in fleet.tallies()],
            still_accepted=[
                {"provider": p.provider, "kind": p.kind, "fingerprint": p.fingerprint}
                for p in home.planted
                if fleet.accepts(p.provider, p.value)
            ],
            planted=box.planted,
            restart=restart,
            story=home.story,
        )
        from clawback_demo.summary import demo_section

        write_private(root / SUMMARY_FILE, json.dumps(demo_section(outcome), indent=2) + "\n")
        return outcome


def investigation_recovered(outcome: DemoOutcome) -> bool:
    """Whether the investigation contain ran at its end found the sample's attack: the keys
    the agent sent, the attacker's domain, and a first malicious event no later than the
    injected page."""
    from clawback_demo.summary import investigation_facts

    facts = investigation_facts(outcome)
    return bool(facts.get("recovered"))


def leave_moto_clean(moto_url: str) -> None:
    """moto keeps its accounts and its IAM switch in module state, shared by every server in
    the process: a sandbox opened inside a longer-lived process (a test session) switches
    enforcement back off and drops what it created, or the next moto started there refuses its
    own unsigned set-up calls and finds this sandbox's users."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for path, body in (("/moto-api/reset-auth", b"inf"), ("/moto-api/reset", b"")):
        request = urllib.request.Request(f"{moto_url}{path}", data=body, method="POST",
                                         headers={"Content-Type": "text/plain"})
        with opener.open(request, timeout=5):  # loopback only
            pass


def _stop_when_started(starting: Any) -> None:
    try:
        fleet = starting.result()
    except Exception:
        return  # it cleaned up after itself
    fleet.stop()


def _gateway_stopped(gateway: Any, port: int) -> bool:
    """Stopped for good: supervisord no longer runs it, and nothing answers on its port."""
    import socket
    import xmlrpc.client

    try:
        state = gateway.process_info("openclaw-gateway").get("statename")
    except xmlrpc.client.Fault:
        state = "REMOVED"  # taken out of supervisord so a reload cannot bring it back
    if state not in ("STOPPED", "EXITED", "REMOVED"):
        return False
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


GATEWAY_PROGRAM = "openclaw-gateway"
# Tokens the stand-in checks as the real gateway does, and where each is presented.
ROTATION_PROBES = (
    ("openclaw:gateway_token", "gateway.auth.token", "/tools/invoke"),
    ("openclaw:hooks_token", "hooks.token", "/hooks/wake"),
)


def restart_as_owner(gateway: Any, home: Any, result: Any, timeout: float = 15.0
                     ) -> dict[str, Any]:
    """After the incident, what the owner does: ``supervisorctl update`` (the program must
    stay down: its config now says autostart=false), then start it on purpose and try each
    token the gateway checks, old and new, against it. Stopped again at the end."""
    import time
    import urllib.error
    import urllib.request

    from clawback.secret_store import KeyringSecretStore

    rpc = gateway.rpc().supervisor
    added, _changed, _removed = rpc.reloadConfig()[0]
    if GATEWAY_PROGRAM in added:
        rpc.addProcessGroup(GATEWAY_PROGRAM)
    for _ in range(2):  # two answers: supervisord has had a pass to autostart it
        state = rpc.getProcessInfo(GATEWAY_PROGRAM)["statename"]
    report: dict[str, Any] = {"after_update": state, "probes": []}
    rotated = {
        str(r.target_info.get("fingerprint")): r.outcome for r in result.results
        if r.step == "agent-secrets" and r.action == "revoke" and r.outcome.name == "Rotated"
    }
    store = KeyringSecretStore()
    pairs = []
    for kind, key, path in ROTATION_PROBES:
        planted = next((p for p in home.planted if p.kind == kind and any(
            loc.path == str(home.config_path) and loc.key == key for loc in p.locations)), None)
        if planted is None or planted.fingerprint not in rotated:
            report["probes"].append({"kind": kind, "problem": "not rotated"})
            continue
        new = store.resolve(rotated[planted.fingerprint].new_reference).reveal()
        pairs.append((kind, path, planted.value, new))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    base = f"http://127.0.0.1:{home.gateway_port}"

    def status(path: str, token: str) -> int | None:
        request = urllib.request.Request(
            f"{base}{path}", data=b"{}", method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with opener.open(request, timeout=5) as answer:  # loopback only
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            return int(refused.code)
        except OSError:
            return None

    rpc.startProcess(GATEWAY_PROGRAM, True)
    try:
        deadline = time.monotonic() + timeout
        while status("/tools/invoke", "") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        for kind, path, old, new in pairs:
            report["probes"].append({"kind": kind, "old": status(path, old),
                                     "new": status(path, new)})
    finally:
        rpc.stopProcess(GATEWAY_PROGRAM, True)
    return report


def rotation_proved(restart: Mapping[str, Any]) -> bool:
    probes = restart.get("probes") or []
    return (
        restart.get("after_update") == "STOPPED"
        and len(probes) == len(ROTATION_PROBES)
        and all(p.get("old") == 401 and p.get("new") == 200 for p in probes)
    )


def _evidence_checker() -> Any:
    from clawback.evidence import check_evidence

    return check_evidence
