"""What ``clawback investigate`` prints: the findings a tired person needs, at 80 columns.

Every text that came from the evidence (summaries, paths, domains) passes through
``clawback.shown.printable``: the evidence was written by the attacker's agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clawback.shown import printable

if TYPE_CHECKING:
    from clawback.investigate import InvestigationResult

MAX_LISTED = 10


def _seconds(value: Any) -> str:
    if not isinstance(value, int):
        return "unknown"
    from clawback.report.formatting import duration_text

    return duration_text(float(value))


def _where(evidence: dict[str, Any]) -> str:
    line = evidence.get("line")
    at = f"line {line}" if line is not None else f"offset {evidence.get('offset')}"
    return f"{evidence.get('evidence_id')} {evidence.get('source')} {at}"


def json_summary(result: InvestigationResult) -> dict[str, Any]:
    doc = result.document
    sealed = result.sealed
    return {
        "incident": doc["incident"],
        "investigated": True,
        "summary": doc["summary"],
        "window": doc["window"],
        "credentials": doc["credentials"],
        "indicators": [i for i in doc["indicators"] if i["severity"] in ("medium", "high")],
        "analysed": doc["analysed"],
        "files": {
            "investigation": str(sealed.document) if sealed else None,
            "investigation_sha256": sealed.document_sha256 if sealed else None,
            "activity": str(sealed.activity) if sealed else None,
            "activity_sha256": sealed.activity_sha256 if sealed else None,
        },
        "checkpoint": sealed.checkpoint if sealed else None,
    }


def print_summary(result: InvestigationResult, console: Any, *, quiet: bool = False) -> None:
    from rich.text import Text

    doc = result.document
    summary, win = doc["summary"], doc["window"]
    verified = doc["verified"]

    def line(text: str, style: str = "") -> None:
        console.print(Text(printable(text), style=style))

    if not quiet:
        line(f"Incident {doc['incident']}: verified ({verified['timeline_entries']} timeline "
             f"entries, {len(verified['archives'])} archives); read "
             f"{doc['analysed']['bytes']:,} bytes of evidence, {summary['events']:,} events.")
    first = win.get("first_suspicious")
    line("Window", "bold")
    if first:
        line(f"  first suspicious   {first['ts']}  {first['summary']}", "red")
        line(f"                     ({_where(first['evidence'])})")
    else:
        line("  first suspicious   none found by the rules (not the same as all clear)")
    exposure = win.get("first_exposure")
    if exposure:
        line(f"  first exposure     {exposure['ts']}  {exposure['how']}: {exposure['summary']}")
    line(f"  contain started    {win.get('containment_started') or '?'}  "
         f"(time to detect: {_seconds(win.get('seconds_to_detect'))})")
    line(f"  contained          {win.get('contained') or 'not proven'}  "
         f"(time to contain: {_seconds(win.get('seconds_to_contain'))})")

    creds = doc["credentials"]
    line(f"Credentials: {summary['exposed']} of {summary['credentials']} exposed, "
         f"{summary['sent']} sent out", "bold")
    for cred in [c for c in creds if c["status"] == "exposed"][:MAX_LISTED * 2]:
        tag = "SENT" if cred["sent"] else "READ"
        first_seen = cred["first_exposed"] or {}
        line(f"  {tag}  {cred['provider']} {cred['kind']} {cred['fingerprint']}",
             "red" if cred["sent"] else "yellow")
        line(f"        {first_seen.get('ts')}: {first_seen.get('summary')}")
        if first_seen.get("evidence"):
            line(f"        ({_where(first_seen['evidence'])})")
    reachable = sum(c["status"] != "exposed" for c in creds)
    if reachable:
        line(f"  reachable only: {reachable} (no transcript shows their value)")

    suspects = summary.get("suspect_destinations") or []
    if suspects:
        line("Suspect destinations: " + ", ".join(suspects[:MAX_LISTED]), "bold red")
    alarms = [i for i in doc["indicators"] if i["severity"] in ("medium", "high")]
    if alarms:
        line(f"Indicators ({len(alarms)} medium or high)", "bold")
        for indicator in alarms[: MAX_LISTED if not quiet else 3]:
            line(f"  {indicator['severity']:<6} {indicator['type']} {indicator['value']}: "
                 f"{indicator['relation']} ({indicator['rule']})")
            line(f"         {indicator['first_seen']} {_where(indicator['evidence'])}")
    if result.sealed is not None:
        sealed = result.sealed
        line(f"Sealed: evidence/{sealed.document.name} sha256 {sealed.document_sha256}")
        line(f"        evidence/{sealed.activity.name} sha256 {sealed.activity_sha256}")
        if not quiet and sealed.checkpoint:
            line("New checkpoint (copy it off the host):")
            console.print(Text(sealed.checkpoint))
