"""A fleet incident's report has one section of host actions per member host."""

from __future__ import annotations

from pathlib import Path

from clawback.report import build_report
from clawback.report.markdown import render_markdown
from clawback.signing import Signer
from clawback.timeline import Timeline

INCIDENT = "2026-11-21T0203Z-f1ee"


def test_host_actions_are_grouped_per_fleet_host(tmp_path: Path) -> None:
    incident = tmp_path / INCIDENT
    timeline = Timeline.create(incident, INCIDENT, Signer.generate("clawback/test"), header={})
    for host in ("web-1", "pi"):
        target = {"target": "supervisord:openclaw-gateway", "host": host}
        intent = timeline.append(step="stop", action="host.stop_service", phase="intent",
                                 target=target)
        timeline.append(step="stop", action="host.stop_service", phase="result",
                        target=target, outcome="Done", detail=f"stopped on {host}",
                        intent_seq=intent.seq)
    timeline.close(manifest_sha256=None)

    report = build_report(incident)
    titles = [title for title, _ in report.host_groups]
    assert titles == ["Host web-1", "Host pi"]
    assert [r.detail for _, rows in report.host_groups for r in rows] == [
        "stopped on web-1", "stopped on pi",
    ]
    markdown = render_markdown(report)
    assert "### Host web-1" in markdown and "### Host pi" in markdown
