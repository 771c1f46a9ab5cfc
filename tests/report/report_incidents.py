"""Incidents for the report tests, written by the real engine and the real timeline.

``run_contain_incident`` runs a playbook through ``clawback.contain.prepare``/``run`` against
the sample OpenClaw home: real discovery, real host snapshots, real signing. The keys step is
handed to ``ReportKeysResponder``, a plugin that answers each credential kind with a different
outcome, so one signed timeline holds every outcome type the report must show. The provider
responders themselves are tested against their own stand-ins in tests/keys; here the subject
is the report built from the timeline they leave.

``write_host_incident`` uses the Timeline API directly for what a sandbox can't safely do on a
shared machine: stop a service, cut and restore the network, crash in the middle of an action.
A module of its own (not conftest) so the test files can import it by a unique name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from clawback.contain import ContainRequest, prepare, run
from clawback.signing import Signer
from clawback.timeline import Timeline
from clawback_demo.home import SampleHome, build_sample_home
from responders.interface import (
    AlreadyRevoked,
    Capability,
    Credential,
    Disabled,
    Failed,
    ManualRequired,
    Outcome,
    Responder,
    Revoked,
    Rotated,
    SecretStore,
    SecretValue,
    Skipped,
    VerifiedDead,
)

# A replacement key the responder "creates"; the report must never show it either.
NEW_OPENAI_KEY = "sk-proj-REPLACEMENTabcdefghijklmnopqrstuvwxyz0123456789"
OPENAI_CONSOLE = "https://platform.openai.com/settings/organization/api-keys"
STRIPE_ERROR = "Stripe answered HTTP 500 to both attempts"
SLACK_STILL_WORKS = "Slack still accepts the token (auth.test ok)"
PROVIDERS_IN_PLAY = ("openai", "stripe", "slack", "telegram")

PLAYBOOK = """
name: report-fixture
description: every kind of outcome a report must show, against the sample OpenClaw home
steps:
  - id: volatile
    uses: host.snapshot
    with: {volatile: true, system_artifacts: false}
  - id: revoke
    uses: keys.revoke_all
    with: {rotate: true, verify: true, providers: [openai, stripe, slack, telegram]}
  - id: evidence
    uses: host.snapshot
    with: {system_artifacts: false}
  - id: second-look
    uses: host.snapshot
    description: needs approval, which a run without a terminal or --yes can't give
    approve: true
    with: {system_artifacts: false}
  - id: isolate
    uses: host.cut_network
    when: "{{ cut_network }}"
    approve: true
"""


class ReportKeysResponder(Responder):
    """Answers each credential kind with its own outcome type.

    One subclass per provider, named like the installed responder of that provider: extra
    responders replace installed ones of the same name, so the scripted answers are used
    whichever real responders are installed, and nothing is sent anywhere.
    """

    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.REVOKE, Capability.VERIFY_REVOKED, Capability.ROTATE}
    )

    def revoke(self, cred: Credential) -> Outcome:
        if cred.kind == "openai:project_key":
            return Revoked(detail=f"deleted project key {cred.fingerprint}")
        if cred.kind == "openai:admin_key":
            return AlreadyRevoked(detail="the admin key was already deleted")
        if cred.provider == "openai":
            return ManualRequired(
                instructions="Sign out of every session in the OpenAI console to end it",
                url=OPENAI_CONSOLE,
            )
        if cred.kind == "stripe:secret_key":
            return Failed(error=STRIPE_ERROR, retryable=False)
        if cred.kind == "stripe:restricted_key":
            return Disabled(detail="rolled with immediate expiry")
        if cred.kind == "slack:signing_secret":
            return Skipped(reason="a signing secret is regenerated with the app, not revoked")
        if cred.provider == "slack":
            return Revoked(detail="auth.revoke ok")
        return ManualRequired(instructions=f"Roll {cred.kind} {cred.fingerprint} by hand")

    def verify_revoked(self, cred: Credential) -> Outcome:
        if cred.kind == "slack:user_token":
            return Failed(error=SLACK_STILL_WORKS, retryable=False)
        return VerifiedDead(detail="the provider rejected a call with the old key")

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        if cred.kind != "openai:project_key":
            return Skipped(reason="no API creates a replacement for this kind")
        new = SecretValue(NEW_OPENAI_KEY)
        reference = store.store(f"report-test/{cred.fingerprint[-8:]}", new)
        return Rotated(new_fingerprint=new.fingerprint, new_reference=reference)


class ReportOpenAI(ReportKeysResponder):
    name: ClassVar[str] = "openai"
    providers: ClassVar[frozenset[str]] = frozenset({"openai"})


class ReportStripe(ReportKeysResponder):
    name: ClassVar[str] = "stripe"
    providers: ClassVar[frozenset[str]] = frozenset({"stripe"})


class ReportSlack(ReportKeysResponder):
    name: ClassVar[str] = "slack"
    providers: ClassVar[frozenset[str]] = frozenset({"slack"})


SCRIPTED = (ReportOpenAI, ReportStripe, ReportSlack)


@dataclass(frozen=True)
class ContainIncident:
    directory: Path
    home: SampleHome
    checkpoint_off_host: Path  # the operator's copy of the final checkpoint

    @property
    def secrets(self) -> list[str]:
        return [p.value for p in self.home.planted] + [NEW_OPENAI_KEY]


def run_contain_incident(root: Path) -> ContainIncident:
    """A real contain run against a fresh sample home; the keyring must be set up already."""
    home = build_sample_home(root / "sample", era="both")
    config = root / "clawback.toml"
    lines = ["[agent]"] + [f"{k} = {json.dumps(v)}" for k, v in home.agent_settings().items()]
    # Only providers with a table in the config get their responder: name the scripted ones.
    for cls in SCRIPTED:
        lines += ["", f"[providers.{cls.name}]", 'purpose = "answers scripted by the report tests"']
    config.write_text("\n".join(lines) + "\n")
    os.chmod(config, 0o600)
    playbook = root / "report-fixture.yaml"
    playbook.write_text(PLAYBOOK)
    os.chmod(playbook, 0o600)
    request = ContainRequest(
        playbook=playbook,
        config=config,
        incidents_dir=root / "incidents",
        extra_responders=SCRIPTED,
    )
    prepared = prepare(request)
    for cls in SCRIPTED:
        (provider,) = cls.providers
        chosen = prepared.registry.responder_for_provider(provider)
        assert chosen is cls, f"{provider} credentials would go to {chosen}, not the script"
    result = run(prepared)
    assert result.incident_dir is not None and result.final_checkpoint
    off_host = root / "kept-off-host" / "checkpoint.txt"
    off_host.parent.mkdir()
    off_host.write_text(result.final_checkpoint)
    return ContainIncident(result.incident_dir, home, off_host)


# --------------------------------------------------------------------------------------------
# A host-side incident written entry by entry
# --------------------------------------------------------------------------------------------

HOST_INCIDENT_ID = "2026-11-21T0203Z-7f3a"
SERVICE = {"target": "systemd-user:openclaw-gateway.service"}
CRASHED_KEY = {
    "target": "github:…9f2e sha256:77aa0b1c",
    "provider": "github",
    "kind": "github:pat",
    "fingerprint": "…9f2e sha256:77aa0b1c",
    "locations": ["/home/agent/.openclaw/.env:GITHUB_TOKEN"],
}
MANUAL_KEY = {
    "target": "slack:…77aa sha256:0b1c9f2e",
    "provider": "slack",
    "kind": "slack:app_token",
    "fingerprint": "…77aa sha256:0b1c9f2e",
}
# Text an attacker could plant in what the agent's host reports: it must stay text.
HOSTILE_DETAIL = "<script>alert('x')</script> a | b\n# not a heading"
HOSTILE_URL = "javascript:alert(document.domain)"


def write_host_incident(directory: Path, signer: Signer, *, close: bool = True) -> Timeline:
    """Stop the agent, cut and restore the network, crash while revoking a key, close."""
    timeline = Timeline.create(
        directory,
        HOST_INCIDENT_ID,
        signer,
        header={
            "operator": "alice@web-01",
            "playbook": {"path": "/etc/clawback/contain.yaml", "sha256": "ab" * 32},
        },
    )
    _pair(timeline, "stop", "host.stop_service", SERVICE, "Done", "stopped; port 18789 closed")
    cut = {"target": "localhost"}
    timeline.append(step="isolate", action="host.cut_network", phase="intent", target=cut)
    timeline.append(
        step="isolate",
        action="host.cut_network",
        phase="result",
        target=cut,
        outcome="Done",
        detail=HOSTILE_DETAIL,
        extra={
            "status": "ok",
            "facts": {"rollback": {"armed": True, "deadline_utc": "2026-11-21T02:40:00Z"}},
        },
    )
    timeline.append(step="revoke", action="revoke", phase="intent", target=CRASHED_KEY)
    timeline.append(step="revoke", action="revoke", phase="intent", target=MANUAL_KEY)
    timeline.append(
        step="revoke",
        action="revoke",
        phase="result",
        target=MANUAL_KEY,
        outcome="ManualRequired",
        detail="revoke the app token in the app's settings",
        extra={"status": "manual", "instructions": "Revoke the app token", "url": HOSTILE_URL},
    )
    _pair(timeline, "restore", "host.restore_network", cut, "Done", "network restored")
    if close:
        timeline.close(manifest_sha256=None)
    else:
        timeline.release()
    return timeline


def _pair(
    timeline: Timeline, step: str, action: str, target: dict[str, object], outcome: str,
    detail: str,
) -> None:
    timeline.append(step=step, action=action, phase="intent", target=target)
    timeline.append(
        step=step, action=action, phase="result", target=target, outcome=outcome,
        detail=detail, extra={"status": "ok"},
    )


def outcomes_in(timeline_path: Path) -> list[tuple[int, str]]:
    """(seq, outcome) of every entry that has one, read straight from the file."""
    found = []
    for line in timeline_path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry["outcome"] is not None:
            found.append((entry["seq"], entry["outcome"]))
    return found


def every_text_form(secret: str) -> Sequence[str]:
    """The ways a secret could be smuggled into a text file without being visible as itself."""
    import base64
    import html
    import urllib.parse

    raw = secret.encode()
    forms = {
        secret,
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        html.escape(secret),
        json.dumps(secret)[1:-1],
    }
    return sorted(forms)
