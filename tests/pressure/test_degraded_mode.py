"""Degraded mode, through the installed ``clawback`` on a sandboxed host: whatever is broken
about credentials, the panic button still acts.

Each scenario breaks one thing on its own host (moto playing IAM with authentication enforced,
the gateway stand-in under supervisord): no keyring backend at all (keyring's fail and null
backends, as on a headless root install of the base package), a keyring entry the config names
but nobody stored, a provider that does not answer. Then, as a user would:

* ``contain --dry-run`` and ``drill --preflight`` say what is broken, change nothing, and exit
  3, the code the real run gives;
* ``contain`` snapshots, stops the gateway for good, seals the evidence and exits 3 (never 2:
  it did things); the broken provider's keys are left to the operator with the reason;
* with no keyring, the incident is signed by a key file in its directory (0600), with a loud
  warning and the public key printed, and no replacement key is made that nobody could keep;
* ``verify`` passes against the final checkpoint (and the printed public key), and says how
  the incident was signed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import clawback_script

from .sandbox_host import (
    ADMIN_SECRET_VAR,
    RUN_TIMEOUT_S,
    MotoAccount,
    Sandbox,
    build_sandbox,
    scratch_root,
)

ENV_SECRET = f'admin_secret_access_key = "env:{ADMIN_SECRET_VAR}"'


@dataclass(frozen=True)
class Breakage:
    env: tuple[tuple[str, str], ...] = ()
    config: tuple[str, str] | None = None  # (old, new) in the sandbox's clawback.toml
    says: str = ""  # in the to-do list the contain run prints
    keyring: bool = True  # the keyring can keep secrets (and the signing key)


SCENARIOS = {
    "no-keyring-backend": Breakage(
        env=(("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring"),),
        says="no usable keyring backend", keyring=False),
    "null-keyring-backend": Breakage(
        env=(("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring"),),
        says="no usable keyring backend", keyring=False),
    "missing-keyring-entry": Breakage(
        config=(ENV_SECRET, 'admin_secret_access_key = "keyring:clawback/aws-admin-secret"'),
        says="keyring set clawback aws-admin-secret"),
    "unreachable-provider": Breakage(
        config=("endpoint_url = ", 'endpoint_url = "http://127.0.0.1:9" # was '),
        says="revoke it by hand"),
}


@dataclass
class Degraded:
    box: Sandbox
    env: dict[str, str]
    dry: subprocess.CompletedProcess[str]
    preflight: subprocess.CompletedProcess[str]
    contained: subprocess.CompletedProcess[str]
    gateway_before_contain: str
    incidents_before_contain: list[Path]

    @property
    def incident(self) -> Path:
        (incident,) = self.box.incident_dirs()
        return incident


def installed(box: Sandbox, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The console script a user types, in the sandbox's environment."""
    return subprocess.run([str(clawback_script()), *args], capture_output=True, text=True,
                          env=env, cwd=box.root, timeout=RUN_TIMEOUT_S,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module", params=list(SCENARIOS))
def degraded(request: pytest.FixtureRequest, moto_account: MotoAccount) -> Iterator[Degraded]:
    breakage = SCENARIOS[request.param]
    with scratch_root(f"degraded-{request.param}") as root:
        box = build_sandbox(root / "box", moto_account)
        try:
            if breakage.config is not None:
                old, new = breakage.config
                text = box.config.read_text()
                assert old in text
                box.config.write_text(text.replace(old, new))
            env = {**box.env, **dict(breakage.env)}
            env.pop("CLAWBACK_DEBUG", None)
            config = ("--config", str(box.config))
            dry = installed(box, env, *box.contain_args("--dry-run"))
            preflight = installed(box, env, "drill", "--preflight", *config)
            gateway, before = box.gateway_state(), box.incident_dirs()
            contained = installed(box, env, *box.contain_args())
            yield Degraded(box, env, dry, preflight, contained, gateway, before)
        finally:
            box.close()


def _scenario(request: pytest.FixtureRequest) -> Breakage:
    return SCENARIOS[request.node.callspec.params["degraded"]]


def test_dry_run_and_preflight_predict_exit_3_and_change_nothing(
    degraded: Degraded, request: pytest.FixtureRequest,
) -> None:
    breakage = _scenario(request)
    assert degraded.dry.returncode == 3, degraded.dry.stderr
    assert degraded.preflight.returncode == 3, degraded.preflight.stdout
    assert degraded.gateway_before_contain == "RUNNING"
    assert degraded.incidents_before_contain == []
    assert "The real run would exit 3" in degraded.dry.stderr
    if not breakage.keyring:
        assert "keyring cannot keep the timeline signing key" in degraded.dry.stderr
        assert "✘ keyring" in degraded.preflight.stdout
    elif breakage.config and "keyring:" in breakage.config[1]:
        assert "[providers.aws] cannot be used" in degraded.dry.stderr
        assert "✘ aws" in degraded.preflight.stdout
    assert "Traceback" not in degraded.dry.stderr + degraded.preflight.stderr


def test_contain_still_stops_the_agent_and_seals_the_evidence(degraded: Degraded) -> None:
    run = degraded.contained
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr and "This is a bug" not in run.stderr
    box = degraded.box
    assert box.gateway_state() in ("STOPPED", "EXITED", "REMOVED")
    assert not box.gateway_port_open()
    incident = degraded.incident
    manifest = json.loads((incident / "evidence" / "manifest.json").read_text())
    assert manifest and list((incident / "evidence").glob("*.tar.gz"))


def test_the_broken_part_is_on_the_to_do_list_with_its_reason(
    degraded: Degraded, request: pytest.FixtureRequest,
) -> None:
    breakage = _scenario(request)
    printed = degraded.contained.stderr
    assert "To do by hand" in printed
    assert breakage.says in " ".join(printed.split()), printed
    keys = degraded.box.aws_keys()
    if breakage.keyring:
        # AWS could not be reached or authenticated: the agent's key is untouched, and the
        # operator is told so.
        assert keys == {degraded.box.old_key_id: "Active"}
    else:
        # env: references still work without a keyring: the key is revoked, and no
        # replacement is made that nobody could keep.
        assert keys == {}
        assert "clawback made no replacement for aws:access_key" in " ".join(printed.split())


def test_without_a_keyring_the_incident_signs_with_its_own_key_and_verifies(
    degraded: Degraded, request: pytest.FixtureRequest, tmp_path: Path,
) -> None:
    breakage = _scenario(request)
    incident = degraded.incident
    key_file = incident / "signing-key.private"
    checkpoint = tmp_path / "kept-off-host.txt"
    checkpoint.write_text((incident / "checkpoint.txt").read_text())
    incidents = ("--incidents-dir", str(degraded.box.incidents))
    verified = installed(degraded.box, degraded.env, "verify", incident.name, *incidents,
                         "--checkpoint", str(checkpoint), "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    codes = {v["code"] for v in json.loads(verified.stdout)["verdicts"]}
    if breakage.keyring:
        assert not key_file.exists()
        assert "KEY_IN_INCIDENT" not in codes
        return
    assert key_file.is_file() and (key_file.stat().st_mode & 0o777) == 0o600
    assert "KEY_IN_INCIDENT" in codes and "INTACT" in codes
    printed = degraded.contained.stderr
    assert "WARNING: the keyring cannot keep the timeline signing key" in printed
    pem = re.search(r"-----BEGIN PUBLIC KEY-----\n.*?-----END PUBLIC KEY-----\n", printed,
                    re.DOTALL)
    assert pem is not None, printed
    pubkey = tmp_path / "printed.pub"
    pubkey.write_text(pem.group(0))
    assert pem.group(0) == (incident / "signing-key.pub").read_text()
    pinned = installed(degraded.box, degraded.env, "verify", incident.name, *incidents,
                       "--checkpoint", str(checkpoint), "--pubkey", str(pubkey))
    assert pinned.returncode == 0, pinned.stdout
    # The private key is never printed.
    secret = key_file.read_text().strip()
    assert secret not in printed + degraded.contained.stdout
    assert os.stat(incident).st_mode & 0o777 == 0o700
