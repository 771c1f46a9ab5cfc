"""``clawback restore-network``: undo (or keep) a network cut, recorded in the incident.

The change is appended to the incident's own timeline (reopened, then closed again) so the
isolation window is on record with the rest of the response.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from clawback.runner import outcome_fields, outcome_summary
from responders.interface import Outcome


@dataclass(frozen=True)
class NetworkChange:
    incident_dir: Path
    outcome: Outcome
    checkpoint: str


def change_network(incident_dir: Path, *, confirm: bool) -> NetworkChange:
    """``confirm``: keep the cut and disarm its auto-rollback; otherwise remove the cut."""
    from clawback.incident import IncidentLock
    from clawback.signing import load_signing_key
    from clawback.timeline import Timeline
    from responders.host.network import confirm_network_cut, restore_network

    action = "network.confirm_cut" if confirm else "network.restore"
    with IncidentLock(incident_dir):
        timeline = Timeline.resume(incident_dir, load_signing_key())
        intent = timeline.append(step="restore-network", action=action, phase="intent",
                                 target={"target": "localhost"})
        outcome = confirm_network_cut(incident_dir) if confirm else restore_network(incident_dir)
        timeline.append(
            step="restore-network", action=action, phase="result",
            target={"target": "localhost"}, outcome=outcome.name,
            detail=outcome_summary(outcome), extra=outcome_fields(outcome),
            intent_seq=intent.seq,
        )
        timeline.close(manifest_sha256=_manifest_sha256(incident_dir))
        checkpoint = timeline.last_checkpoint or ""
    return NetworkChange(incident_dir=incident_dir, outcome=outcome, checkpoint=checkpoint)


def _manifest_sha256(incident_dir: Path) -> str | None:
    manifest = incident_dir / "evidence" / "manifest.json"
    if not manifest.exists():
        return None
    return hashlib.sha256(manifest.read_bytes()).hexdigest()
