"""Incidents written by the real Timeline, and an attacker's tools to tamper with them.

A module of its own (not conftest) so the test files can import it by a name no other test
area uses.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785

from clawback.signing import Signer
from clawback.timeline import PUBLIC_KEY_FILE, SIGNATURE_DOMAIN, TIMELINE_FILE, Timeline

INCIDENT_ID = "2026-11-21T0203Z-7f3a"
PLAYBOOK_HEADER = {"playbook": {"name": "contain", "sha256": "ab" * 32}}
AWS_KEY = {
    "provider": "aws",
    "kind": "aws:access_key",
    "fingerprint": "…WXYZ sha256:0123abcd",
    "key_id": "AKIAEXAMPLE0001",
}
GITHUB_PAT = {"provider": "github", "kind": "github:pat", "fingerprint": "…9f2e sha256:77aa0b1c"}


@dataclass
class Incident:
    directory: Path
    signer: Signer
    mid_checkpoint: str  # printed halfway through the run: the operator's off-host copy
    final_checkpoint: str
    manifest_sha256: str

    @property
    def timeline(self) -> Path:
        return self.directory / TIMELINE_FILE

    def lines(self) -> list[bytes]:
        return self.timeline.read_bytes().splitlines(keepends=True)


def write_run(directory: Path, signer: Signer, incident_id: str = INCIDENT_ID) -> Incident:
    """A typical contain run: stop the agent, revoke two keys, snapshot evidence, close."""
    timeline = Timeline.create(directory, incident_id, signer, header=PLAYBOOK_HEADER)
    stop = {"service": "openclaw-gateway", "backend": "supervisord"}
    timeline.append(step="stop", action="host.stop_service", phase="intent", target=stop)
    timeline.append(
        step="stop",
        action="host.stop_service",
        phase="result",
        target=stop,
        outcome="Done",
        detail="stopped in 412 ms",
        extra={"duration_ms": 412},
    )
    mid = timeline.checkpoint()
    for cred in (AWS_KEY, GITHUB_PAT):
        timeline.append(step="revoke", action="keys.revoke", phase="intent", target=cred)
    for cred in (GITHUB_PAT, AWS_KEY):
        timeline.append(
            step="revoke",
            action="keys.revoke",
            phase="result",
            target=cred,
            outcome="Revoked",
            detail=f"{cred['kind']} {cred['fingerprint']} revoked",
        )
    timeline.append(
        step="evidence",
        action="host.snapshot",
        phase="event",
        outcome="Collected",
        evidence_refs=["EV-0001", "EV-0002"],
    )
    manifest = hashlib.sha256(b"manifest.json as written by the evidence engine").hexdigest()
    timeline.close(manifest_sha256=manifest)
    assert timeline.last_checkpoint is not None
    return Incident(directory, signer, mid, timeline.last_checkpoint, manifest)


def copy_log_only(source: Incident, destination: Path) -> Path:
    """The timeline and public key without the local checkpoints: an attacker deletes those, and
    the log's own checks must stand without them."""
    destination.mkdir(parents=True)
    shutil.copy(source.timeline, destination / TIMELINE_FILE)
    shutil.copy(source.directory / PUBLIC_KEY_FILE, destination / PUBLIC_KEY_FILE)
    return destination


def forge_line(fields: dict[str, Any], signer: Signer) -> bytes:
    """A validly hashed and signed line, built straight from rfc8785 (an attacker with the key)."""
    body = {k: v for k, v in fields.items() if k not in ("hash", "sig")}
    digest = hashlib.sha256(rfc8785.dumps(body)).digest()
    sig = base64.b64encode(signer.sign(SIGNATURE_DOMAIN + digest)).decode()
    return rfc8785.dumps({**body, "hash": digest.hex(), "sig": sig}) + b"\n"


def fields_of(line: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(line)
    return parsed


Rewriter = Callable[[list[bytes]], list[bytes]]


def rewrite_lines(path: Path, change: Rewriter) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(change(lines)))
