"""The audit report as plain text, JSON and SARIF 2.1.0 (for code-scanning dashboards)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from clawback import __version__
from clawback.audit.model import AuditReport, CheckSpec, Finding, Severity
from clawback.shown import printable

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/clawback/clawback"
_SARIF_LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# The scale code-scanning dashboards sort by (CVSS-like, 0-10).
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
_LINE_KEY = re.compile(r"line (\d+)$")


def render_text(report: AuditReport) -> str:
    """Plain text. Evidence holds brackets (``mappings[0]``): print it with rich markup off."""
    counts = report.counts()
    lines = [
        f"clawback audit of {report.user_home}",
        "OpenClaw version: "
        + (f"{report.version} ({report.version_source})" if report.version else "unknown"),
        f"{len(report.findings)} finding(s): "
        + ", ".join(f"{counts[s.value]} {s.value}" for s in Severity)
        + f" — {len(report.checks_run)} checks in {report.duration_seconds:.2f} s"
        + (", with openclaw security audit" if report.openclaw_audit_ran else ""),
        "",
    ]
    for finding in report.findings:
        source = " (from openclaw)" if finding.source == "openclaw" else ""
        lines.append(
            f"{finding.severity.value.upper():<8} {finding.check_id}{source}: {finding.title}"
        )
        lines.extend(f"    {line}" for line in finding.evidence)
        if finding.openclaw_ids and finding.source != "openclaw":
            lines.append(f"    also reported by openclaw as: {', '.join(finding.openclaw_ids)}")
        lines.append(f"    fix: {finding.fix}")
        lines.append("")
    if not report.findings:
        lines += ["No findings.", ""]
    for problem in report.problems:
        lines.append(f"problem: {problem}")
    for note in report.notes:
        lines.append(f"note: {note}")
    # Evidence, paths and openclaw's answers are the agent's text: one escaped line each.
    return "\n".join(printable(line) for line in lines).rstrip() + "\n"


def render_json(report: AuditReport) -> dict[str, Any]:
    return {
        "tool": {"name": "clawback audit", "version": __version__},
        "user_home": report.user_home,
        "openclaw_version": report.version,
        "openclaw_version_source": report.version_source,
        "openclaw_audit_ran": report.openclaw_audit_ran,
        "summary": report.counts(),
        "findings": [f.as_dict() for f in report.findings],
        "checks_run": list(report.checks_run),
        "problems": list(report.problems),
        "notes": list(report.notes),
        "duration_seconds": round(report.duration_seconds, 4),
    }


def _rule(spec: CheckSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "name": "".join(part.capitalize() for part in re.split(r"[._]", spec.id)),
        "shortDescription": {"text": spec.title},
        "help": {"text": spec.fix},
        "defaultConfiguration": {"level": _SARIF_LEVELS[spec.severity]},
        "properties": {
            "tags": ["security", spec.area],
            "security-severity": _SECURITY_SEVERITY[spec.severity],
            "problem.severity": spec.severity.value,
        },
    }


def _openclaw_rule(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.check_id,
        "shortDescription": {"text": finding.title},
        "help": {"text": finding.fix},
        "defaultConfiguration": {"level": _SARIF_LEVELS[finding.severity]},
        "properties": {
            "tags": ["security", "openclaw"],
            "security-severity": _SECURITY_SEVERITY[finding.severity],
        },
    }


def _locations(finding: Finding) -> list[dict[str, Any]]:
    out = []
    for loc in finding.locations:
        physical: dict[str, Any] = {"artifactLocation": {"uri": Path(loc.path).as_uri()}}
        location: dict[str, Any] = {"physicalLocation": physical}
        line = _LINE_KEY.search(loc.key)
        if line:
            physical["region"] = {"startLine": int(line.group(1))}
        elif loc.key:
            location["logicalLocations"] = [{"fullyQualifiedName": loc.key, "kind": "member"}]
        out.append(location)
    return out


def render_sarif(report: AuditReport) -> dict[str, Any]:
    rules = [_rule(spec) for spec in report.specs]
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    for finding in report.findings:
        if finding.check_id not in index:
            index[finding.check_id] = len(rules)
            rules.append(_openclaw_rule(finding))
    results = []
    for finding in report.findings:
        result: dict[str, Any] = {
            "ruleId": finding.check_id,
            "ruleIndex": index[finding.check_id],
            "level": _SARIF_LEVELS[finding.severity],
            "message": {"text": f"{finding.title}: " + "; ".join(finding.evidence)},
            "properties": {
                "severity": finding.severity.value,
                "evidence": list(finding.evidence),
                "fix": finding.fix,
                "source": finding.source,
                "openclawCheckIds": list(finding.openclaw_ids),
            },
        }
        locations = _locations(finding)
        if locations:
            result["locations"] = locations
        results.append(result)
    notifications = [
        {"level": "error", "message": {"text": problem}} for problem in report.problems
    ] + [{"level": "note", "message": {"text": note}} for note in report.notes]
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "clawback",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not report.problems,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "results": results,
                "properties": {"userHome": report.user_home, "openclawVersion": report.version},
            }
        ],
    }
