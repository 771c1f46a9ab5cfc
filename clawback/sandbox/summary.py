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
        "remarks": outcome.remarks,
        "notes": outcome.notes,
        "ok": outcome.ok,
    }


def print_demo_ending(section: dict[str, Any], console: Any) -> None:
    """The end of the demo on screen, from ``demo_section``: what is left to do by hand, what
    was done per provider, then that the gateway is down, the verify verdict, and where the
    incident and its report are."""
    from rich.markup import escape
    from rich.table import Table

    if section["manual_steps"]:
        table = Table(
            title="Left for a human: no API can do these (the report has every step)",
            title_justify="left", show_edge=False, pad_edge=False,
        )
        table.add_column("provider", style="bold")
        table.add_column("what")
        table.add_column("where", style="dim")
        for provider, steps in section["manual_steps"].items():
            what = ", ".join(
                step["what"] + (" (replacement)" if step["action"] == "rotate" else "")
                for step in steps
            )
            urls = ", ".join(
                dict.fromkeys(s["url"].removeprefix("https://") for s in steps if s["url"])
            )
            table.add_row(provider, escape(what), escape(urls or "the report"))
        console.print(table)

    table = Table(title="Keys per provider", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("provider", style="bold")
    for column in COUNT_COLUMNS:
        table.add_column(column, justify="right")
    for provider, row in section["providers"].items():
        cells = [str(row[c]) if row[c] else "[dim]·[/dim]" for c in COUNT_COLUMNS]
        if row["failed"]:
            cells[-1] = f"[red]{row['failed']}[/red]"
        table.add_row(provider, *cells)
    console.print(table)

    for key in section.get("unproven", ()):
        console.print(
            f"[magenta]? not proven dead:[/magenta] {escape(key['provider'])} "
            f"{escape(key['what'])}: {escape(key['reason'])}"
        )
        console.print(f"    [dim]check:[/dim] {escape(key['check'])}")

    still = section["still_accepted"]
    if still:
        console.print(
            f"Still accepted by their provider's stand-in ({len(still)}, all in the list above): "
            + escape(", ".join(f"{s['kind']} {s['fingerprint'].split()[0]}" for s in still))
        )
    checks = section["contract_checks"]
    violations = [v for c in checks for v in c["violations"]]
    warnings = sum(len(c["warnings"]) for c in checks)
    console.print(
        f"Provider stand-ins: {sum(c['requests'] for c in checks)} requests checked against "
        "the providers' descriptions, "
        + (f"[red]{len(violations)} violation(s)[/red]" if violations else "no violation")
        + (f" ({warnings} warning(s), listed in demo.json)" if warnings else "")
    )
    for violation in violations:
        console.print(f"  [red]✘[/red] {escape(violation)}")
    for failed in section["failed"]:
        console.print(f"  [red]✘ failed:[/red] {escape(failed)}")
    for remark in section["remarks"]:
        console.print(f"[yellow]note:[/yellow] {escape(remark)}")

    gateway = (
        "[green]stopped for good[/green] (supervisord keeps it down; nothing answers on "
        f"127.0.0.1:{section['gateway_port']})"
        if section["gateway_stopped"]
        else "[red]STILL RUNNING[/red]"
    )
    console.print(f"Gateway: {gateway}")
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
        console.print(f"Restart as the owner: [{colour}]{escape(line)}[/{colour}]")
    verify = section["verify"]
    if section["verify_exit"] == 0 and verify.get("anchored"):
        size = max(verify.get("checkpoint_sizes") or [0])
        verdict = (
            f"[green]INTACT[/green]: {verify.get('entry_count')} signed entries, anchored to the "
            f"final checkpoint (tree size {size})"
        )
    else:
        verdict = f"[red]NOT INTACT[/red] (exit {section['verify_exit']})"
    console.print(f"clawback verify: {verdict}")
    console.print(f"Incident: {section['incident_dir']}")
    report = section["report"].get("report.html")
    if report:
        console.print(f"Report:   [bold]{report}[/bold]")
