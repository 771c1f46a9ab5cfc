"""``clawback contain`` and ``clawback verify`` as a user runs them: real processes, real files.

The keyring is keyrings.alt's file backend inside the test's own XDG_DATA_HOME.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clawback.incident import IncidentLock

from .conftest import Workspace

SNAPSHOT_ONLY = """
name: snapshot
steps:
  - id: evidence
    uses: host.snapshot
    with: {system_artifacts: false}
"""


def clawback(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    env.pop("CLAWBACK_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "clawback", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=120, stdin=subprocess.DEVNULL,
    )


def contain(ws: Workspace, playbook: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return clawback("contain", "--config", str(ws.config), "--playbook", str(playbook),
                    "--incidents-dir", str(ws.incidents), *extra)


def verify(ws: Workspace, incident: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return clawback("verify", str(incident), "--incidents-dir", str(ws.incidents), *extra)


def assert_no_secret(ws: Workspace, *texts: str) -> None:
    for text in texts:
        for secret in ws.secrets:
            assert secret not in text, f"planted secret {secret[:6]}… leaked"


def tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_snapshot_contain_verifies_and_detects_tampering(workspace: Workspace) -> None:
    run = contain(workspace, workspace.playbook(SNAPSHOT_ONLY), "--yes")
    assert run.returncode == 0, run.stderr
    (incident,) = workspace.incident_dirs()
    assert (incident / "evidence" / "manifest.json").exists()
    archives = list((incident / "evidence").glob("*.tar.gz"))
    assert len(archives) == 1

    for path in [incident, *incident.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))

    unanchored = verify(workspace, incident)
    assert unanchored.returncode == 0, unanchored.stdout + unanchored.stderr
    assert "UNANCHORED" in unanchored.stdout

    checkpoint = workspace.root / "kept-off-host.txt"
    checkpoint.write_text((incident / "checkpoint.txt").read_text())
    anchored = verify(workspace, incident, "--checkpoint", str(checkpoint))
    assert anchored.returncode == 0, anchored.stdout
    assert "UNANCHORED" not in anchored.stdout and "INTACT" in anchored.stdout

    texts = [run.stdout, run.stderr, unanchored.stdout]
    texts += [p.read_text() for p in incident.rglob("*") if p.is_file() and p.suffix != ".gz"]
    assert_no_secret(workspace, *texts)

    timeline = incident / "timeline.jsonl"
    original = timeline.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    timeline.write_bytes(bytes(flipped))
    broken = verify(workspace, incident, "--checkpoint", str(checkpoint))
    assert broken.returncode == 1, broken.stdout
    assert "TAMPERED" in broken.stdout
    timeline.write_bytes(original)

    archive = archives[0]
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    evidence_broken = verify(workspace, incident, "--checkpoint", str(checkpoint), "--json")
    assert evidence_broken.returncode == 1
    codes = {v["code"] for v in json.loads(evidence_broken.stdout)["verdicts"]}
    assert "ARCHIVE_MISMATCH" in codes, codes


def test_json_output_is_machine_readable_and_secret_free(workspace: Workspace) -> None:
    run = contain(workspace, workspace.playbook(SNAPSHOT_ONLY), "--yes", "--json")
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["exit_code"] == 0
    assert document["results"][0]["outcome"] == "Collected"
    assert document["final_checkpoint"].startswith("clawback/")
    assert_no_secret(workspace, run.stdout, run.stderr)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: x\nsteps:\n  - id: a\n    uses: host.snapshotz\n", ":4:"),
        ("name: x\nsteps:\n  - id: a\n    uses: host.snapshot\n    with: {volatile: maybe}\n",
         ":5:"),
        ("name: x\nsteps: [\n", "playbook.yaml:"),
    ],
)
def test_bad_playbook_exits_2_and_creates_nothing(workspace: Workspace, text: str,
                                                   needle: str) -> None:
    before = tree_digest(workspace.home.root)
    run = contain(workspace, workspace.playbook(text), "--yes")
    assert run.returncode == 2, run.stderr
    assert needle in run.stderr
    assert "Traceback" not in run.stderr
    assert workspace.incident_dirs() == []
    assert tree_digest(workspace.home.root) == before


def test_bad_config_exits_2(workspace: Workspace) -> None:
    workspace.config.write_text(workspace.config.read_text() + "\n[providers.nosuch]\nx = 1\n")
    run = contain(workspace, workspace.playbook(SNAPSHOT_ONLY), "--yes")
    assert run.returncode == 2
    assert "clawback.toml:" in run.stderr and "nosuch" in run.stderr
    assert workspace.incident_dirs() == []


def test_a_credential_that_does_not_resolve_degrades_instead_of_refusing(
    workspace: Workspace,
) -> None:
    """Degraded mode: an unset variable behind [providers.aws] does not stop the panic button.
    The evidence is sealed, AWS's keys become manual steps that say why, exit 3; the dry run
    predicts exactly that."""
    workspace.config.write_text(
        workspace.config.read_text()
        + '\n[providers.aws]\nadmin_access_key_id = "env:CLAWBACK_TEST_UNSET_VAR"\n'
        'admin_secret_access_key = "env:CLAWBACK_TEST_UNSET_VAR"\n'
    )
    os.environ.pop("CLAWBACK_TEST_UNSET_VAR", None)
    playbook = workspace.playbook(SNAPSHOT_ONLY + "  - id: revoke\n    uses: keys.revoke_all\n")
    planned = contain(workspace, playbook, "--dry-run", "--json")
    run = contain(workspace, playbook, "--yes", "--json")
    assert run.returncode == planned.returncode == 3, run.stderr
    document = json.loads(run.stdout)
    assert document["results"][0]["outcome"] == "Collected"
    aws = [r for r in document["results"] if r["target"].startswith("aws:")]
    assert aws and all(r["outcome"] == "ManualRequired" for r in aws)
    assert all("CLAWBACK_TEST_UNSET_VAR" in r["instructions"] for r in aws)
    assert any(r["target"] == "providers.aws" for r in document["remaining"])
    assert any("[providers.aws] cannot be used" in w for w in document["warnings"])
    dry = json.loads(planned.stdout)
    mine = {r["target"] for r in document["remaining"] if r["target"].startswith(("aws:",
                                                                                "providers."))}
    assert mine <= {r["target"] for r in dry["remaining"]}
    (incident,) = workspace.incident_dirs()
    assert verify(workspace, incident).returncode == 0
    # A reference that is not one at all is still bad input: exit 2, nothing done.
    workspace.config.write_text(workspace.config.read_text().replace(
        '"env:CLAWBACK_TEST_UNSET_VAR"', '"keyring:no-slash"', 1))
    refused = contain(workspace, playbook, "--yes")
    assert refused.returncode == 2, refused.stderr
    assert "keyring:SERVICE/USER" in refused.stderr
    assert len(workspace.incident_dirs()) == 1


def test_world_writable_playbook_is_refused(workspace: Workspace) -> None:
    path = workspace.playbook(SNAPSHOT_ONLY)
    os.chmod(path, 0o666)
    run = contain(workspace, path, "--yes")
    assert run.returncode == 2
    assert "chmod" in run.stderr


def test_a_held_lock_refuses_with_exit_4(workspace: Workspace) -> None:
    playbook = workspace.playbook(SNAPSHOT_ONLY)
    first = contain(workspace, playbook, "--yes")
    assert first.returncode == 0
    (incident,) = workspace.incident_dirs()
    with IncidentLock(incident):
        second = contain(workspace, playbook, "--yes", "--resume", incident.name)
    assert second.returncode == 4, second.stderr
    assert "lock" in second.stderr


def test_dry_run_writes_nothing(workspace: Workspace) -> None:
    before = tree_digest(workspace.home.root)
    playbook = workspace.playbook(
        SNAPSHOT_ONLY + "  - id: revoke\n    uses: keys.revoke_all\n"
    )
    run = contain(workspace, playbook, "--dry-run")
    # The exit code the real run would give: the sample home holds keys only a human can kill.
    assert run.returncode == 3, run.stderr
    assert "Dry run" in run.stderr and "The real run would exit 3" in run.stderr
    assert workspace.incident_dirs() == []
    assert tree_digest(workspace.home.root) == before
    keyring_file = Path(os.environ["XDG_DATA_HOME"]) / "python_keyring"
    assert not keyring_file.exists(), "dry run touched the keyring"
    assert_no_secret(workspace, run.stdout, run.stderr)
