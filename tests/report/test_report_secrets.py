"""No secret value in any report output: the timeline holds none, and this proves the report
adds none, in any encoding, while the evidence beside it does hold them."""

from __future__ import annotations

import json
import tarfile

from report_incidents import PROVIDERS_IN_PLAY, ContainIncident, every_text_form

from clawback.report import write_reports


def test_no_planted_secret_in_any_report_output(contain_incident: ContainIncident) -> None:
    outputs = {
        path.name: path.read_text(encoding="utf-8")
        for path in write_reports(
            contain_incident.directory, checkpoint=contain_incident.checkpoint_off_host
        )
    }
    assert set(outputs) == {"report.md", "report.html", "timesketch.jsonl"}
    # The export escapes everything beyond ASCII; search its decoded text as well.
    outputs["timesketch.jsonl, decoded"] = "\n".join(
        json.dumps(json.loads(line), ensure_ascii=False)
        for line in outputs["timesketch.jsonl"].splitlines()
    )
    secrets = contain_incident.secrets
    assert len(secrets) > 40
    for secret in secrets:
        for form in every_text_form(secret):
            for name, text in outputs.items():
                assert form not in text, f"{name} holds planted secret …{secret[-4:]}"

    # The search is not vacuous: the credentials acted on are in every output by fingerprint,
    # and the raw values are in the sealed evidence right next to the report.
    acted_on = [p for p in contain_incident.home.planted if p.provider in PROVIDERS_IN_PLAY]
    assert acted_on
    for planted in acted_on:
        for name, text in outputs.items():
            if name != "timesketch.jsonl":
                assert planted.fingerprint in text, (name, planted.kind)
    evidence = b""
    for archive in (contain_incident.directory / "evidence").glob("*.tar.gz"):
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                extracted = tar.extractfile(member) if member.isreg() else None
                if extracted is not None:
                    evidence += extracted.read()
    assert any(p.value.encode() in evidence for p in acted_on)
