"""``clawback investigate``: what the agent did, which secrets really left, and since when.

Reads only an incident's sealed evidence, verified against its manifest first (a tampered
incident is refused, exit 1), never the live host; streams it with bounded memory; and seals
its findings back into the incident as ``evidence/investigation.json`` and
``evidence/investigation-activity.jsonl`` (manifest entries that ``verify`` checks, and signed
timeline entries).

Layout (one role per module): ``rules`` (the YAML rules, shipped and user-extendable),
``sealed`` (verify, then stream the archives), ``sources/`` (one parser per evidence format),
``exposure`` (credential values found by fingerprint), ``scrub`` (no secret is ever written),
``indicators``, ``store`` (the event spool), ``engine`` (one pass), ``document`` (the files),
``seal`` (manifest and timeline), ``provider_usage`` (what providers say of the keys).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clawback.investigate.seal import Sealed
    from clawback.signing import Signer

__all__ = ["InvestigationResult", "investigate_incident"]


@dataclass(frozen=True)
class InvestigationResult:
    incident_dir: Path
    document: dict[str, Any]
    sealed: Sealed | None  # None: written, not sealed (seal=False)

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.document["summary"])


def investigate_incident(
    incident_dir: Path,
    *,
    rules_files: Sequence[Path] = (),
    checkpoint: Path | None = None,
    pubkey: Path | None = None,
    signer: Signer | None = None,
    usage: Callable[[Any], list[dict[str, Any]]] | None = None,
    progress: Callable[[str], None] | None = None,
    budget_seconds: float | None = None,
) -> InvestigationResult:
    """Verify, analyse and seal. BadInput (exit 2) for bad rules, EvidenceRefused (exit 1)
    when the incident does not verify; nothing is written then. ``usage`` asks the providers
    what they know of the credentials (``provider_usage.asker``): its answers go into
    investigation.json and the signed timeline. ``budget_seconds`` bounds the reading (what it
    left unread is said in the document's ``analysed.incomplete`` and first caveat)."""
    from clawback.evidence import evidence_dir
    from clawback.incident import IncidentLock
    from clawback.investigate import document, engine
    from clawback.investigate.rules import load_rules
    from clawback.investigate.seal import seal
    from clawback.investigate.sealed import verify_sealed

    incident_dir = Path(incident_dir)
    rules = load_rules(rules_files)  # bad rules are bad input before anything is read
    with IncidentLock(incident_dir):
        verified = verify_sealed(incident_dir, checkpoint=checkpoint, pubkey=pubkey)
        if signer is None:
            from clawback.signing import signer_for_incident

            signer = signer_for_incident(incident_dir)
        findings = engine.investigate(verified, rules, progress=progress,
                                      budget_seconds=budget_seconds)
        try:
            entries = (usage([e.as_dict() for e in findings.exposures])
                       if usage is not None else [])
            doc_path, activity_path, doc = document.write(
                findings, evidence_dir(incident_dir), prefix=".staged-", usage=entries)
            staged = (doc_path, activity_path)
        finally:
            findings.store.close()
        try:
            sealed = seal(incident_dir, signer, doc, staged, usage=entries)
        finally:
            for path in staged:
                path.unlink(missing_ok=True)
    return InvestigationResult(incident_dir, doc, sealed)
