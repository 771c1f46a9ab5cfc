"""``clawback demo``: the real contain playbook against an embedded sandbox.

In a fresh temporary directory: a sample OpenClaw home with planted secrets, a real gateway
stand-in process under a private supervisord (autorestart on), moto's IAM server holding the
agent's real access key, and Prism serving GitHub's official description when it is installed.
Then the packaged contain playbook runs for real, and verify checks the result against the final
checkpoint. No root, no network beyond loopback; every process started here is stopped at the end.
The directory is kept so the incident can be inspected.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawback.private_files import make_private_dir, write_private

AGENT_IAM_USER = "openclaw-agent"


@dataclass
class DemoOutcome:
    root: Path
    incident_dir: Path | None
    contain_exit: int
    verify_exit: int
    notes: list[str] = field(default_factory=list)
    gateway_stopped: bool = False
    aws_keys_after: dict[str, str] = field(default_factory=dict)
    result: Any = None  # clawback.runner.RunResult

    @property
    def ok(self) -> bool:
        # Exit 3 (manual steps left) is the expected end of a sandbox run: some providers have
        # no revoke API at all. Anything else means the demo itself failed.
        return self.contain_exit in (0, 3) and self.verify_exit == 0 and self.gateway_stopped


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


def _toml_value(value: Any) -> str:
    return json.dumps(value)


def write_demo_config(path: Path, *, agent: dict[str, Any], supervisor_socket: Path,
                      moto_url: str, github_url: str | None) -> Path:
    lines = ["# written by clawback demo: every provider points at a loopback stand-in", "[agent]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in agent.items()]
    lines += [
        "",
        "[[agent.services]]",
        'kind = "supervisord"',
        'name = "openclaw-gateway"',
        f"socket = {_toml_value(str(supervisor_socket))}",
        "",
        "[providers.aws]",
        f"endpoint_url = {_toml_value(moto_url)}",
        'region = "us-east-1"',
        'admin_access_key_id = "env:CLAWBACK_DEMO_AWS_ADMIN_KEY_ID"',
        'admin_secret_access_key = "env:CLAWBACK_DEMO_AWS_ADMIN_SECRET"',
        f"users = [{_toml_value(AGENT_IAM_USER)}]",
        "delete_grace_seconds = 0",
        "new_key_ready_seconds = 0",
    ]
    if github_url:
        lines += [
            "",
            "[providers.github]",
            f"base_url = {_toml_value(github_url)}",
            # Prism serves GitHub's description, which only declares application/json.
            'accept = "application/json"',
        ]
    write_private(path, "\n".join(lines) + "\n")
    return path


DEMO_PLAYBOOK_TAIL = """
# The demo runs the packaged contain playbook; this copy only leaves out {excluded}, which has no
# stand-in on this machine (so clawback would have nowhere safe to send its requests).
"""


def run_demo(reporter: Any, *, root: Path | None = None) -> DemoOutcome:
    from clawback.contain import ContainRequest, packaged_playbook, prepare, run
    from clawback.sandbox.home import build_sample_home
    from clawback.sandbox.standins import (
        find_prism,
        free_port,
        github_spec,
        start_moto,
        start_prism,
    )
    from clawback.sandbox.supervisor import start_supervisord
    from clawback.verify import verify_incident

    root = make_private_dir(root or Path(tempfile.mkdtemp(prefix="clawback-demo-")))
    notes: list[str] = []
    with contextlib.ExitStack() as cleanup, _isolated_keyring(root):
        reporter.note(f"sandbox in {root}")
        moto = start_moto()
        cleanup.callback(moto.stop)
        aws_key = moto.create_agent_key(AGENT_IAM_USER)
        admin_id, admin_secret = moto.create_admin()
        moto.enforce_iam()
        os.environ["CLAWBACK_DEMO_AWS_ADMIN_KEY_ID"] = admin_id
        os.environ["CLAWBACK_DEMO_AWS_ADMIN_SECRET"] = admin_secret
        reporter.note(f"moto IAM on {moto.url}: user {AGENT_IAM_USER} holds key {aws_key[0]}")

        github_url = None
        prism, spec = find_prism(), github_spec()
        if prism and spec:
            stand_in = start_prism(prism, spec, root / "prism.log")
            cleanup.callback(stand_in.stop)
            github_url = stand_in.url
            reporter.note(f"Prism serving GitHub's description on {github_url}")
        else:
            notes.append("Prism is not installed (scripts/bootstrap --demo installs it): "
                         "GitHub tokens are left out of the revoke step")

        home = build_sample_home(root / "host", aws_keys=[aws_key], gateway_port=free_port())
        gateway = start_supervisord(
            root / "supervisor",
            {"openclaw-gateway": [
                sys.executable, "-m", "clawback.sandbox.gateway",
                "--port", str(home.gateway_port),
                "--lock-dir", str(home.lock_dir),
                "--config-path", str(home.config_path),
            ]},
            autorestart=True,
        )
        cleanup.callback(gateway.stop)
        reporter.note(
            f"gateway stand-in running under supervisord (autorestart) on "
            f"127.0.0.1:{home.gateway_port}"
        )

        config = write_demo_config(
            root / "clawback.toml", agent=home.agent_settings(),
            supervisor_socket=gateway.socket_path, moto_url=moto.url, github_url=github_url,
        )
        playbook = packaged_playbook("contain")
        if github_url is None:
            text = playbook.read_text().replace(
                "with: {rotate: true, verify: true}",
                "with: {rotate: true, verify: true, exclude_providers: [github]}",
            )
            playbook = write_private(
                root / "contain.yaml", text + DEMO_PLAYBOOK_TAIL.format(excluded="github")
            )

        request = ContainRequest(
            playbook=playbook, config=config, yes=True, incidents_dir=root / "incidents",
        )
        result = run(prepare(request), reporter)

        verdict = 1
        if result.incident_dir is not None and result.final_checkpoint:
            anchor = write_private(root / "checkpoint-kept-off-host.txt", result.final_checkpoint)
            report = verify_incident(
                result.incident_dir, checkpoint=anchor, evidence_checker=_evidence_checker()
            )
            verdict = report.exit_code
        gateway_stopped = _gateway_stopped(gateway, home.gateway_port)
        return DemoOutcome(
            root=root,
            incident_dir=result.incident_dir,
            contain_exit=result.exit_code,
            verify_exit=verdict,
            notes=notes,
            gateway_stopped=gateway_stopped,
            aws_keys_after=moto.key_statuses(AGENT_IAM_USER),
            result=result,
        )


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


def _evidence_checker() -> Any:
    from clawback.evidence import check_evidence

    return check_evidence
