"""The report's first screen answers in order: is the agent stopped, which keys are dead and
which still live, what is left (most urgent first), can the log be trusted; its counts add up,
and the checklist comes before the timeline in report.md."""

from __future__ import annotations

import re
from pathlib import Path

from report_html import parse, text_of
from report_incidents import ContainIncident

from clawback.report import build_report, write_reports
from clawback.report.standing import KEY_STANDINGS, LIVE, URGENCY, provider_counts
from clawback.signing import Signer
from clawback.timeline import Timeline


def _key(name: str, provider: str = "acme") -> dict[str, object]:
    fp = f"…{name[-4:]} sha256:{name[:8]}"
    return {"target": f"{provider}:{fp}", "provider": provider, "kind": f"{provider}:token",
            "fingerprint": fp, "locations": [f"/home/agent/.env:{name.upper()}"]}


def _result(timeline: Timeline, action: str, target: dict[str, object], outcome: str,
            status: str, **extra: object) -> None:
    timeline.append(step="revoke", action=action, phase="intent", target=target)
    timeline.append(step="revoke", action=action, phase="result", target=target,
                    outcome=outcome, extra={"status": status, **extra})


def test_counts_add_up_one_bucket_per_credential(contain_incident: ContainIncident) -> None:
    report = build_report(contain_incident.directory)
    standing = report.standing
    assert sum(standing.counts.values()) == standing.total == report.count("credentials")
    for provider in report.providers:
        counts = provider_counts(provider)
        assert sum(counts.values()) == provider.count("credentials")
    assert len(standing.live) == standing.live_count == sum(standing.counts[s] for s in LIVE)
    # the fixture: Slack still takes one key; Stripe's failed, Telegram's manual, ... not revoked
    assert standing.counts["accepted"] == 1
    assert standing.counts["dead"] == sum(
        c.verified_dead for p in report.providers for c in p.credentials)

    markdown = write_reports(contain_incident.directory, formats=["md"])[0].read_text()
    total = next(line for line in markdown.splitlines() if line.startswith("| **total** |"))
    cells = [int(c.strip(" *")) for c in total.split("|")[2:-1]]
    # credentials, then one column per standing (they add up to it), then replacements
    assert cells[0] == standing.total == sum(cells[1:6])


def test_markdown_first_screen_then_checklist_then_timeline(
    contain_incident: ContainIncident,
) -> None:
    report = build_report(contain_incident.directory)
    markdown = write_reports(contain_incident.directory, formats=["md"])[0].read_text()
    top = markdown.split("\n## Checklist", 1)[0]
    lines = [line for line in top.splitlines() if line.startswith("- **")]
    assert [line.split(":", 1)[0] for line in lines] == [
        "- **Agent", "- **Keys", "- **Left for a human", "- **Integrity"]
    # every live key is named there, in red
    for cred, _ in report.standing.live:
        assert any(cred.fingerprint in line and "🔴" in line for line in top.splitlines())
    assert markdown.index("## Checklist") < markdown.index("## 4. Timeline")
    assert markdown.index("## Checklist") < markdown.index("## 1. Executive summary")
    checklist = markdown.split("## Checklist", 1)[1].split("\n## ", 1)[0]
    numbered = re.findall(r"^(\d+)\. \[ \] ", checklist, flags=re.M)
    assert numbered == [str(n) for n in range(1, len(report.standing.todo) + 1)]
    # each item says where: the places the key was found, its link, its timeline entry
    for item, action in zip(re.split(r"^\d+\. \[ \] ", checklist, flags=re.M)[1:],
                            report.standing.todo, strict=True):
        for place in action.locations:
            assert place in item
        if action.link:
            assert f"<{action.link}>" in item
        if action.seq is not None:
            assert f"Timeline entry {action.seq}" in item


def test_checklist_is_most_urgent_first(contain_incident: ContainIncident) -> None:
    todo = build_report(contain_incident.directory).standing.todo
    ranks = [URGENCY[h.rank] for h in todo]
    assert ranks == sorted(ranks)
    assert todo[0].rank == "accepted" and todo[0].kind == "slack:user_token"
    assert todo[-1].rank == "step"  # the step refused for want of approval, after every key

    html = write_reports(contain_incident.directory, formats=["html"])[0].read_text()
    items = [attrs.get("id") for tag, attrs in parse(html).tags
             if tag == "li" and (attrs.get("id") or "").startswith("todo-")]
    assert items == [f"todo-{n}" for n in range(1, len(todo) + 1)]
    first = text_of(html, "todo-1")
    assert "slack" in first and todo[0].locations[0] in first
    assert f"timeline entry {todo[0].seq}" in first


def test_live_keys_come_before_replacements(tmp_path: Path) -> None:
    """A key the provider still takes, then one nobody revoked, then one not proven dead,
    and a replacement to create last, whatever order the timeline has them in."""
    directory = tmp_path / "incidents" / "ordering"
    timeline = Timeline.create(directory, "2026-11-21T0203Z-0a0a", Signer.generate("t/x"),
                               header={"operator": "alice@web-01"})
    replaced, manual, accepted, unproven = (_key(n) for n in (
        "replacedkey1", "manualkey22", "acceptedkey3", "unprovenkey4"))
    _result(timeline, "revoke", replaced, "Revoked", "ok")
    _result(timeline, "rotate", replaced, "ManualRequired", "manual",
            instructions="Create a new token in the console")
    _result(timeline, "revoke", manual, "ManualRequired", "manual",
            instructions="Revoke it in the console", url="https://acme.example/tokens")
    _result(timeline, "revoke", accepted, "Revoked", "ok")
    _result(timeline, "verify_revoked", accepted, "Failed", "failed", error="still 200")
    _result(timeline, "revoke", unproven, "Revoked", "ok")
    _result(timeline, "verify_revoked", unproven, "Unproven", "unproven",
            reason="a 401 without the code", check="the console's key list")
    timeline.close(manifest_sha256=None)

    standing = build_report(directory).standing
    assert [h.rank for h in standing.todo] == ["accepted", "not_revoked", "unproven",
                                               "replacement"]
    assert standing.counts == {"accepted": 1, "not_revoked": 1, "unproven": 1,
                               "unchecked": 1, "dead": 0}
    assert set(standing.counts) == set(KEY_STANDINGS)
    assert [c.fingerprint for c, _ in standing.live] == [
        accepted["fingerprint"], manual["fingerprint"], unproven["fingerprint"]]
    assert standing.agent.state == "no_stop_step"


def test_agent_is_stopped_only_while_it_stays_stopped(tmp_path: Path) -> None:
    service = {"target": "supervisord:openclaw-gateway"}

    def incident(name: str, recheck: tuple[str, str]) -> Path:
        directory = tmp_path / name
        timeline = Timeline.create(directory, "2026-11-21T0203Z-0b0b", Signer.generate("t/y"),
                                   header={"operator": "alice@web-01"})
        timeline.append(step="stop", action="host.stop_service", phase="intent", target=service)
        timeline.append(step="stop", action="host.stop_service", phase="result", target=service,
                        outcome="Done", detail="stopped", extra={"status": "ok"})
        outcome, status = recheck
        timeline.append(step="stop", action="host.stop_service.recheck", phase="result",
                        target=service, outcome=outcome, detail="respawned by supervisord",
                        extra={"status": status, "error": "it came back: pid 4242"})
        timeline.close(manifest_sha256=None)
        return directory

    stayed = build_report(incident("stayed", ("Done", "ok"))).standing.agent
    assert stayed.stopped and "still stopped" in stayed.detail
    came_back = build_report(incident("came-back", ("Failed", "failed"))).standing
    assert came_back.agent.state == "not_stopped"
    assert "it came back" in came_back.agent.detail
    assert came_back.todo[0].rank == "agent"
    markdown = write_reports(tmp_path / "came-back", formats=["md"])[0].read_text()
    assert "- **Agent: 🔴 NOT stopped**" in markdown
