"""Sealing an investigation into its incident: manifest entries that verify checks, and signed
timeline entries that say what was found.

The incident is reopened as ``restore-network`` and ``contain --resume`` reopen it (a
``resume`` entry, then a new ``close``): an intent, one entry per credential (exposed or
reachable only, by fingerprint), the window, the worst indicators, a result naming both files'
SHA-256, then the manifest gets both files and a ``derived`` custody event, and the new close
records the new manifest hash. The files are written aside first and moved into place only
once the intent is on disk, so an interrupted seal leaves the timeline unclosed (verify says
so; ``investigate`` again finishes it) and never a sealed file that differs from its record.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clawback.evidence import (
    CustodyEvent,
    EvidenceFile,
    _sha256_file,
    evidence_dir,
    load_manifest,
    utc_now,
    write_manifest,
)
from clawback.investigate.document import ACTIVITY_NAME, DOCUMENT_NAME
from clawback.signing import Signer

STEP = "investigate"
MAX_INDICATOR_ENTRIES = 50
SOURCE = "clawback investigate (derived from the sealed archives)"


@dataclass(frozen=True)
class Sealed:
    document: Path
    activity: Path
    document_sha256: str
    activity_sha256: str
    manifest_sha256: str
    checkpoint: str


def _credential_entry(cred: Mapping[str, Any]) -> tuple[dict[str, Any], str, list[str]]:
    target = {
        "target": f"{cred['provider']}:{cred.get('key_id') or cred['fingerprint']}",
        "provider": cred["provider"], "kind": cred["kind"], "fingerprint": cred["fingerprint"],
        **({"key_id": cred["key_id"]} if cred.get("key_id") else {}),
    }  # fmt: skip
    first = cred.get("first_exposed")
    if not first:
        logged = cred.get("also_logged")
        extra = (f"; its value is written in clear in {logged['evidence']['source']}"
                 if logged else "")
        return target, f"reachable only: no transcript shows its value{extra}", []
    how = "sent out" if cred.get("sent") else "read by the agent"
    where = first["evidence"]
    detail = (f"exposed: {how} at {first['ts'] or 'an unknown time'} ({first['event']}: "
              f"{first['summary']}) in {where['source']} line {where.get('line', '?')}")
    return target, detail, [where["evidence_id"]]


def seal(
    incident_dir: Path,
    signer: Signer,
    doc: Mapping[str, Any],
    written: tuple[Path, Path],
    *,
    usage: list[dict[str, Any]] | None = None,
) -> Sealed:
    """Record the investigation in the incident (the caller holds the incident lock)."""
    from clawback.timeline import Timeline

    evidence = evidence_dir(incident_dir)
    staged_doc, staged_activity = written
    doc_sha, activity_sha = _sha256_file(staged_doc), _sha256_file(staged_activity)
    timeline = Timeline.resume(incident_dir, signer)
    try:
        target = {"target": f"evidence/{DOCUMENT_NAME}"}
        summary = doc["summary"]
        intent = timeline.append(
            step=STEP, action="investigation.seal", phase="intent", target=target,
            detail=f"seal {DOCUMENT_NAME} and {ACTIVITY_NAME} into the evidence",
        )
        for cred in doc["credentials"]:
            cred_target, detail, refs = _credential_entry(cred)
            timeline.append(
                step=STEP, action="investigation.exposure", phase="event", target=cred_target,
                detail=detail, evidence_refs=refs,
                extra={"status": cred["status"], "sent": cred["sent"],
                       "first_exposed": cred["first_exposed"],
                       "times_read": cred["times_read"], "times_sent": cred["times_sent"]},
            )
        for entry in usage or ():
            timeline.append(step=STEP, action="investigation.provider_usage", phase="event",
                            target=entry["target"], detail=entry["detail"],
                            extra=entry["extra"])
        win = doc["window"]
        first = win.get("first_suspicious") or {}
        timeline.append(
            step=STEP, action="investigation.window", phase="event", target={"target": "window"},
            detail=(f"first suspicious event {first.get('ts') or 'none found'}; containment "
                    f"started {win.get('containment_started')}; contained "
                    f"{win.get('contained') or 'not proven'}"),
            evidence_refs=[first["evidence"]["evidence_id"]] if first else [],
            extra=dict(win),
        )
        for indicator in [i for i in doc["indicators"] if i["severity"] == "high"][
                :MAX_INDICATOR_ENTRIES]:
            timeline.append(
                step=STEP, action="investigation.indicator", phase="event",
                target={"target": f"{indicator['type']}:{indicator['value']}"},
                detail=f"{indicator['relation']} ({indicator['rule']}): {indicator['summary']}",
                evidence_refs=[indicator["evidence"]["evidence_id"]],
                extra={"first_seen": indicator["first_seen"], "count": indicator["count"],
                       "evidence": indicator["evidence"]},
            )
        os.replace(staged_doc, evidence / DOCUMENT_NAME)
        os.replace(staged_activity, evidence / ACTIVITY_NAME)
        manifest = load_manifest(incident_dir)
        now = utc_now()
        for name, digest in ((DOCUMENT_NAME, doc_sha), (ACTIVITY_NAME, activity_sha)):
            record = EvidenceFile(file=name, sha256=digest,
                                  size=(evidence / name).stat().st_size, source=SOURCE,
                                  collected_at=now, step=STEP)
            manifest.files = [f for f in manifest.files if f.file != name] + [record]
        manifest.custody.append(CustodyEvent(
            event_id=f"{manifest.incident_id}-custody-{len(manifest.custody) + 1:03d}",
            action="derived", ts=now, from_party=manifest.examiner, to_party=manifest.examiner,
            evidence_ids=(DOCUMENT_NAME, ACTIVITY_NAME), sha256=doc_sha, hash_verified=True,
            note=(f"derived by clawback investigate from the sealed archives, verified first; "
                  f"{ACTIVITY_NAME} sha256 {activity_sha}"),
        ))
        manifest_sha = write_manifest(incident_dir, manifest)
        timeline.append(
            step=STEP, action="investigation.seal", phase="result", target=target,
            outcome="Done", intent_seq=intent.seq,
            detail=(f"{summary['exposed']} of {summary['credentials']} credentials exposed "
                    f"({summary['sent']} sent out), {summary['suspicious_events']} suspicious "
                    f"events, {len(summary['suspect_destinations'])} suspect destinations"),
            evidence_refs=[DOCUMENT_NAME, ACTIVITY_NAME],
            extra={"status": "ok", "files": {DOCUMENT_NAME: doc_sha, ACTIVITY_NAME: activity_sha},
                   "summary": dict(summary)},
        )
        timeline.close(manifest_sha256=manifest_sha)
    finally:
        timeline.release()
    return Sealed(evidence / DOCUMENT_NAME, evidence / ACTIVITY_NAME, doc_sha, activity_sha,
                  manifest_sha, timeline.last_checkpoint or "")
