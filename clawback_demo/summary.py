"""What ``clawback demo`` tells the person at the end, and what ``--json`` adds for machines.

Everything here is read from outcomes the runner already scrubbed, from fingerprints and from
the stand-ins' own verdicts: no secret value passes through.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

KEY_ACTIONS = ("revoke", "verify_revoked", "rotate")
COUNT_COLUMNS = ("revoked", "verified dead", "not proven dead", "rotated", "manual", "failed")


@dataclass(frozen=True)
class ManualStep:
    provider: str
    what: str  # kind and fingerprint tail, e.g. "bot_token …ROza"
    action: str
    url: str
    instructions: str

    def as_dict(self) -> dict[str, str]:
        return {
            "provider": self.provider,
            "what": self.what,
            "action": self.action,
            "url": self.url,
            "instructions": self.instructions,
        }


def _provider(result: Any) -> str:
    return str(result.target_info.get("provider") or result.target.split(":", 1)[0])


def provider_counts(results: Iterable[Any]) -> dict[str, dict[str, int]]:
    """Per provider: keys revoked (or disabled), proven dead, replaced, left to a human, failed."""
    counts: dict[str, dict[str, int]] = {}
    for r in results:
        if r.action not in KEY_ACTIONS:
            continue
        row = counts.setdefault(_provider(r), dict.fromkeys(COUNT_COLUMNS, 0))
        name = type(r.outcome).__name__
        if r.outcome.status == "manual":
            row["manual"] += 1
        elif r.outcome.status == "unproven":
            row["not proven dead"] += 1
        elif r.outcome.status in ("failed", "refused"):
            row["failed"] += 1
        elif r.action == "revoke" and r.outcome.succeeded:
            row["revoked"] += 1
        elif r.action == "verify_revoked" and name == "VerifiedDead":
            row["verified dead"] += 1
        elif r.action == "rotate" and name == "Rotated":
            row["rotated"] += 1
    return dict(sorted(counts.items()))


def manual_steps(results: Iterable[Any]) -> dict[str, list[ManualStep]]:
    """Every step left to a human, grouped by provider."""
    grouped: dict[str, list[ManualStep]] = {}
    for r in results:
        if r.outcome.status != "manual":
            continue
        kind = str(r.target_info.get("kind", "")).split(":", 1)[-1] or r.target
        tail = str(r.target_info.get("fingerprint", "")).split(" ", 1)[0]
        grouped.setdefault(_provider(r), []).append(
            ManualStep(
                provider=_provider(r),
                what=f"{kind} {tail}".strip(),
                action=r.action,
                url=getattr(r.outcome, "url", ""),
                instructions=getattr(r.outcome, "instructions", ""),
            )
        )
    return dict(sorted(grouped.items()))


def unproven_keys(results: Iterable[Any]) -> list[dict[str, str]]:
    """Keys revoked but not proven dead: what the provider answered and what to check."""
    out = []
    for r in results:
        if r.outcome.status != "unproven":
            continue
        kind = str(r.target_info.get("kind", "")).split(":", 1)[-1] or r.target
        tail = str(r.target_info.get("fingerprint", "")).split(" ", 1)[0]
        out.append({
            "provider": _provider(r),
            "what": f"{kind} {tail}".strip(),
            "reason": str(getattr(r.outcome, "reason", "")),
            "check": str(getattr(r.outcome, "check", "")),
            "url": str(getattr(r.outcome, "url", "")),
        })
    return out


def demo_section(outcome: Any) -> dict[str, Any]:
    """The ``demo`` part of ``clawback demo --json`` (also written to the sandbox's demo.json)."""
    results = outcome.result.results if outcome.result is not None else []
    return {
        "sandbox": str(outcome.root),
        "incident_dir": str(outcome.incident_dir) if outcome.incident_dir else None,
        "contain_exit": outcome.contain_exit,
        "gateway_stopped": outcome.gateway_stopped,
        "gateway_port": outcome.gateway_port,
        "aws_keys_after": outcome.aws_keys_after,
        "verify_exit": outcome.verify_exit,
        "verify": {
            k: outcome.verify.get(k)
            for k in ("intact", "anchored", "entry_count", "checkpoint_sizes", "key_fingerprint")
        },
        "report": {p.name: str(p) for p in outcome.report_files},
        "providers": provider_counts(results),
        "unproven": unproven_keys(results),
        "manual_steps": {
            provider: [step.as_dict() for step in steps]
            for provider, steps in manual_steps(results).items()
        },
        "failed": [f"{r.action} {r.target}" for r in outcome.failed],
        "contract_checks": outcome.contract_checks,
        "still_accepted": outcome.still_accepted,
        "restart": outcome.restart,
        "planted": outcome.planted,
        "investigation": investigation_facts(outcome),
        "remarks": outcome.remarks,
        "notes": outcome.notes,
        "ok": outcome.ok,
    }


def investigation_facts(outcome: Any) -> dict[str, Any]:
    """What the investigation contain ran at its end found, against the sample's story."""
    result = getattr(outcome, "result", None)
    found = getattr(result, "investigation", None) if result is not None else None
    if not found or not found.get("ran"):
        return {"ran": False, "why": (found or {}).get("error") or (found or {}).get("reason")
                or "no investigation", "recovered": False}
    story = getattr(outcome, "story", None)  # clawback_demo.attack_story.AttackStory
    window, summary = found["window"], found["summary"]
    sent = {c["fingerprint"] for c in found["exposed"] if c["sent"]}
    first = window.get("first_suspicious") or {}
    recovered = story is not None and (
        set(story.sent) <= sent
        and story.attacker_domain in summary.get("suspect_destinations", ())
        and bool(first.get("ts")) and first["ts"] <= _iso(story.first_malicious)
    )
    return {
        "ran": True,
        "file": found.get("file"),
        "exposed": found["exposed"],
        "suspect_destinations": summary.get("suspect_destinations", []),
        "first_suspicious": {k: first.get(k) for k in ("ts", "kind", "summary", "flags")}
        if first else None,
        "seconds_to_detect": window.get("seconds_to_detect"),
        "seconds_to_contain": window.get("seconds_to_contain"),
        "recovered": recovered,
    }


def _iso(moment: Any) -> str:
    from clawback.investigate.records import iso

    return iso(moment) or ""


def print_demo_ending(section: dict[str, Any], console: Any, *, display: Any = None) -> None:
    """The end of the demo on screen, from ``demo_section``: what is left to do by hand (one
    entry per provider, where to do it), the stand-ins' verdicts, that the gateway is down,
    the verify verdict, and where the incident and its report are. Lines are wrapped at
    spaces: no path or URL is cut."""
    from clawback.console import print_note, wrapped
    from clawback.shown import printable

    quiet = bool(display is not None and display.quiet)
    if section["manual_steps"] and not quiet:
        console.print()
        wrapped(console, "Left for a human (no API can do these; the report has every step):",
                "bold yellow")
        for provider, steps in section["manual_steps"].items():
            what = [s["what"] for s in steps if s["action"] != "rotate"]
            replace = [s["what"] for s in steps if s["action"] == "rotate"]
            text = ", ".join(what)
            if replace:
                text += ("; " if text else "") + "replace " + ", ".join(replace)
            wrapped(console, f"{printable(provider):<12} {printable(text)}", indent=" " * 15,
                    first="  ")
            urls = dict.fromkeys(s["url"] for s in steps if s["url"])
            for url in urls:
                wrapped(console, printable(url), "dim", indent=" " * 15)

    for key in section.get("unproven", ()):
        wrapped(console, f"? not proven dead: {printable(key['provider'])} "
                         f"{printable(key['what'])}: {printable(key['reason'])}", "magenta",
                indent="    ", first="  ")
        wrapped(console, f"check: {printable(key['check'])}", "dim", indent="    ",
                first="    ")

    still = section["still_accepted"]
    if still:
        wrapped(console, f"Still accepted by their provider's stand-in ({len(still)}, all "
                         "listed above): " + printable(", ".join(
                             f"{s['provider']} {s['kind'].split(':', 1)[-1]} "
                             f"{s['fingerprint'].split()[0]}" for s in still)))
    checks = section["contract_checks"]
    violations = [v for c in checks for v in c["violations"]]
    warnings = sum(len(c["warnings"]) for c in checks)
    wrapped(console, (
        f"Provider stand-ins: {sum(c['requests'] for c in checks)} requests checked against "
        "the providers' descriptions, "
        + (f"{len(violations)} violation(s)" if violations else "no violation")
        + (f" ({warnings} warning(s), listed in demo.json)" if warnings else "")
    ), "red" if violations else "")
    for violation in violations:
        wrapped(console, f"✘ {printable(violation)}", "red", indent="    ", first="  ")
    for failed in section["failed"]:
        wrapped(console, f"✘ failed: {printable(failed)}", "red", indent="    ", first="  ")
    for remark in section["remarks"]:
        print_note(console, remark)

    found = section.get("investigation") or {}
    if found.get("ran") and not quiet:
        console.print()
        wrapped(console, "What the agent did (clawback investigate, from the sealed evidence "
                         "only):", "bold")
        first = found.get("first_suspicious") or {}
        if first:
            flags = ", ".join(first.get("flags") or ())
            wrapped(console, f"first malicious event {printable(str(first['ts']))}: "
                             f"{printable(str(first['summary']))}"
                             + (f" [{printable(flags)}]" if flags else ""), "red",
                    indent="    ", first="  ")
        sent = [c for c in found["exposed"] if c["sent"]]
        wrapped(console, f"{len(found['exposed'])} keys exposed, {len(sent)} sent out: "
                + printable(", ".join(f"{c['provider']} {c['fingerprint'].split()[0]}"
                                      for c in sent)), "red" if sent else "", indent="    ",
                first="  ")
        if found["suspect_destinations"]:
            wrapped(console, "attacker destinations: "
                    + printable(", ".join(found["suspect_destinations"])), "red",
                    indent="    ", first="  ")
        from clawback.report.model import duration_text

        detect, contain = found.get("seconds_to_detect"), found.get("seconds_to_contain")
        wrapped(console, "time to detect (first malicious event to contain): "
                + (duration_text(float(detect)) if detect is not None else "unknown")
                + "; time to contain: "
                + (duration_text(float(contain)) if contain is not None else "unknown"),
                indent="    ", first="  ")
    elif not found.get("ran"):
        wrapped(console, f"Investigation: not done ({printable(str(found.get('why')))})",
                "bold red")

    if section["gateway_stopped"]:
        wrapped(console, "Gateway: stopped for good (supervisord keeps it down; nothing "
                         f"answers on 127.0.0.1:{section['gateway_port']})", "green")
    else:
        wrapped(console, "Gateway: STILL RUNNING", "bold red")
    restart = section.get("restart") or {}
    if restart:
        probes = restart.get("probes") or []
        held = all(p.get("old") == 401 and p.get("new") == 200 for p in probes) and probes
        line = (
            f"still {str(restart.get('after_update')).lower()} after `supervisorctl update`; "
            "started again by hand: "
            + ", ".join(f"old {p['kind'].split(':')[-1]} {p.get('old')}, new {p.get('new')}"
                        for p in probes if "old" in p)
        )
        colour = "green" if held and restart.get("after_update") == "STOPPED" else "red"
        wrapped(console, f"Restart as the owner: {printable(line)}", colour)
    verify = section["verify"]
    if section["verify_exit"] == 0 and verify.get("anchored"):
        size = max(verify.get("checkpoint_sizes") or [0])
        wrapped(console, f"clawback verify: INTACT, {verify.get('entry_count')} signed "
                         f"entries, anchored to the final checkpoint (tree size {size})",
                "green")
    else:
        wrapped(console, f"clawback verify: NOT INTACT (exit {section['verify_exit']})",
                "bold red")
    wrapped(console, "Incident:")
    wrapped(console, printable(str(section["incident_dir"])), indent="  ")
    report = section["report"].get("report.html")
    if report:
        wrapped(console, "Report:")
        wrapped(console, printable(str(report)), "bold", indent="  ")
