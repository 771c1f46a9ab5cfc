"""Incidents for the investigate tests, written by the real engine against the sample home.

``contain_sample`` runs a playbook through ``clawback.contain.prepare``/``run`` against a fresh
sample OpenClaw home carrying the attack story (``clawback_demo.attack_story``): real
discovery, real snapshots (the sample's ``/var/log/auth.log`` under its own root), real signing.
Keys go to ``StoryKeys``, a plugin that answers every credential "revoked" without sending
anything anywhere: the subject here is what the sealed evidence says, not the providers.
A module of its own (not conftest) so test files can import it by a unique name.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from clawback.contain import ContainRequest, prepare, run
from clawback_demo.home import SampleHome, build_sample_home
from responders.interface import Capability, Credential, Outcome, Responder, Revoked

PROVIDERS = ("openai", "anthropic", "github", "aws", "openclaw", "slack", "stripe")

PLAYBOOK = """
name: investigate-fixture
description: snapshot, revoke (scripted), seal
steps:
  - id: volatile
    uses: host.snapshot
    with: {volatile: true, system_artifacts: false}
  - id: revoke
    uses: keys.revoke_all
    with: {rotate: false, verify: false}
  - id: evidence
    uses: host.snapshot
"""


class StoryKeys(Responder):
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.REVOKE})

    def revoke(self, cred: Credential) -> Outcome:
        return Revoked(detail=f"scripted: {cred.kind} {cred.fingerprint} revoked")


SCRIPTED = tuple(
    type(f"Story{name.title()}", (StoryKeys,), {"name": name, "providers": frozenset({name})})
    for name in PROVIDERS
)


@dataclass(frozen=True)
class SampleIncident:
    directory: Path
    home: SampleHome
    checkpoint: str


def contain_sample(root: Path, *, home: SampleHome | None = None, investigate: bool = False
                   ) -> SampleIncident:
    """A contain run against a sample home; the keyring and XDG dirs must be set up."""
    home = home or build_sample_home(root / "sample", era="file")
    config = root / "clawback.toml"
    lines = ["[agent]"] + [f"{k} = {json.dumps(v)}" for k, v in home.agent_settings().items()]
    lines += ["", "[evidence]"] + [f"{k} = {json.dumps(v)}"
                                   for k, v in home.evidence_settings().items()]
    for name in PROVIDERS:
        lines += ["", f"[providers.{name}]", 'purpose = "scripted by the investigate tests"']
    if not investigate:
        lines += ["", "[investigate]", "after_contain = false"]
    config.write_text("\n".join(lines) + "\n")
    os.chmod(config, 0o600)
    playbook = root / "investigate-fixture.yaml"
    playbook.write_text(PLAYBOOK)
    os.chmod(playbook, 0o600)
    request = ContainRequest(playbook=playbook, config=config, incidents_dir=root / "incidents",
                             extra_responders=SCRIPTED)
    result = run(prepare(request))
    assert result.incident_dir is not None and result.final_checkpoint
    return SampleIncident(result.incident_dir, home, result.final_checkpoint)
