"""The investigation ``contain`` runs at its very end, off the panic path.

It starts only once the run is over: the agent stopped, the keys revoked, the evidence sealed
and the timeline closed. It then reopens the incident to seal its findings, as
``clawback investigate`` would. Whatever happens in it (bad rules, a bug, a full disk) is
reported as a warning and in the result's ``investigation``; it never changes what contain did
or its exit code, and ``clawback investigate INCIDENT`` can be run again at any time.
"""

from __future__ import annotations

from typing import Any

from clawback.runner import RunResult

# As [investigate] after_contain_seconds defaults: when no config section says otherwise.
DEFAULT_BUDGET_SECONDS = 120.0


def investigate_after_contain(result: RunResult, config: Any, reporter: Any,
                              usage: Any = None) -> None:
    """Investigate ``result``'s incident in place; record what came of it in the result."""
    settings = getattr(config, "investigate", None)
    if result.dry_run or result.incident_dir is None or not result.final_checkpoint:
        return
    if settings is not None and not settings.after_contain:
        result.investigation = {"ran": False, "reason": "[investigate] after_contain = false"}
        return
    note = getattr(reporter, "note", None)
    if note is not None:
        note("investigating the sealed evidence (contain is done; this changes nothing)")
    try:
        from clawback.investigate import investigate_incident

        ask = usage() if usage is not None and (settings is None or settings.ask_providers) \
            else None
        done = investigate_incident(
            result.incident_dir, rules_files=list(settings.rules) if settings else [],
            usage=ask, budget_seconds=(settings.after_contain_seconds if settings is not None
                                       else DEFAULT_BUDGET_SECONDS))
    except Exception as exc:  # the containment is done whatever happens here
        message = (f"the investigation of {result.incident_id} failed ({type(exc).__name__}: "
                   f"{exc}); containment is unaffected. Run `clawback investigate "
                   f"{result.incident_id}` once the cause is fixed.")
        result.investigation = {"ran": False, "error": message}
        result.warnings.append(message)
        warn = getattr(reporter, "warn", None)
        if warn is not None:
            warn(message)
        return
    doc = done.document
    sealed = done.sealed
    if sealed is not None and sealed.checkpoint:
        # The findings are new signed entries: the checkpoint to keep now covers them too.
        result.final_checkpoint = sealed.checkpoint
    result.investigation = {
        "ran": True,
        "file": str(sealed.document) if sealed else None,
        "sha256": sealed.document_sha256 if sealed else None,
        "summary": doc["summary"],
        "incomplete": doc["analysed"]["incomplete"],
        "window": doc["window"],
        "exposed": [
            {k: c[k] for k in ("provider", "kind", "fingerprint", "status", "sent")}
            | {"first": (c["first_exposed"] or {}).get("ts")}
            for c in doc["credentials"] if c["status"] == "exposed"
        ],
    }


def investigation_lines(investigation: dict[str, Any]) -> list[tuple[str, str]]:
    """What contain prints about it: a few lines, worst news first."""
    if not investigation.get("ran"):
        reason = investigation.get("error") or investigation.get("reason") or "not run"
        return [(f"Investigation: not done ({reason})", "yellow")]
    summary, window = investigation["summary"], investigation["window"]
    # A reading its budget cut short found at least this much: never "0 exposed" as a verdict.
    scope = "evidence only" if summary.get("complete", True) else "PARTIAL, evidence only"
    lines = [(f"Investigation ({scope}): {summary['exposed']} of "
              f"{summary['credentials']} credentials exposed, {summary['sent']} sent out; "
              f"{summary['suspicious_events']} suspicious events.",
              "bold red" if summary["exposed"] else
              "bold" if summary.get("complete", True) else "bold yellow")]
    first = window.get("first_suspicious")
    if first:
        flags = ", ".join(first.get("flags") or ())
        lines.append((f"  first suspicious {first['ts']}: {first['summary']}"
                      + (f" [{flags}]" if flags else ""), ""))
    for cred in investigation.get("exposed", [])[:5]:
        verb = "SENT" if cred["sent"] else "read"
        lines.append((f"  {verb} {cred['provider']} {cred['kind']} {cred['fingerprint']} at "
                      f"{cred['first']}", "red" if cred["sent"] else "yellow"))
    if summary.get("suspect_destinations"):
        lines.append(("  suspect destinations: "
                      + ", ".join(summary["suspect_destinations"][:5]), "red"))
    if investigation.get("incomplete"):
        lines.append(("  not complete: " + investigation["incomplete"], "yellow"))
    if investigation.get("file"):
        lines.append((f"  details: {investigation['file']} (clawback report shows them)", ""))
    return lines
