"""The ``clawback`` command: plain command functions, and the console script's entry point.

The commands are exposed as invoke tasks by ``clawback.commands`` (the ``clawback`` Program and
``inv`` in a checkout). ``contain`` alone also has a fast path that parses its options without
importing invoke: the panic button must act within a quarter second, and invoke's import is a
third of that. Both parsers are built from ``CONTAIN_OPTIONS`` and a test keeps them equal.
Errors are printed as advice, never as tracebacks, with the exit codes of the CLI contract.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from clawback.errors import EXIT_INTERNAL, ClawbackError

F = TypeVar("F", bound=Callable[..., int])


def with_advice(func: F) -> F:
    """Turn clawback's errors into a one-line message and the contract's exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        try:
            return func(*args, **kwargs)
        except ClawbackError as exc:
            _err(f"clawback: {exc}")
            return exc.exit_code
        except KeyboardInterrupt:
            _err("clawback: interrupted; resume with --resume INCIDENT if a run was under way")
            return 130
        except Exception as exc:  # a bug: say so plainly, keep the detail for a report
            if os.environ.get("CLAWBACK_DEBUG"):
                raise
            _err(
                f"clawback: internal error ({type(exc).__name__}: {exc}). This is a bug; rerun "
                f"with CLAWBACK_DEBUG=1 for the traceback."
            )
            return EXIT_INTERNAL

    return wrapper  # type: ignore[return-value]


def _err(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def _ask(question: str) -> bool:
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _read_secret(prompt: str) -> str:
    import getpass

    try:
        return getpass.getpass(prompt)
    except EOFError:
        return ""


# Option name → (takes a value, help). The invoke task and the fast path are both built from it.
CONTAIN_OPTIONS: dict[str, tuple[bool, str]] = {
    "playbook": (True, "playbook YAML to run (default: the packaged contain.yaml)"),
    "config": (True, "clawback.toml (default: ./clawback.toml, then $XDG_CONFIG_HOME/clawback/)"),
    "dry-run": (False, "show every action that would be taken; change and write nothing"),
    "cut-network": (False, "also run the network-cut step (asks first unless --yes)"),
    "yes": (False, "approve every step that asks for approval"),
    "resume": (True, "continue incident ID: skip what is done, retry failures, ask about manual "
                     "steps"),
    "confirm-manual": (False, "with --resume: record every open manual step as done by you, now"),
    "json": (False, "print one machine-readable JSON document instead of live progress"),
    "incidents-dir": (True, "where incidents are kept (default: $XDG_STATE_HOME/clawback/"
                            "incidents)"),
    "hosts": (True, "contain these [[hosts]] over SSH in one incident: names, @group, @all or "
                    "user@address:port, comma-separated"),
}


@with_advice
def contain(
    playbook: str | None = None,
    config: str | None = None,
    dry_run: bool = False,
    cut_network: bool = False,
    yes: bool = False,
    resume: str | None = None,
    confirm_manual: bool = False,
    json: bool = False,
    incidents_dir: str | None = None,
    hosts: str | None = None,
) -> int:
    """Contain a compromised agent now: evidence, stop, revoke keys, evidence, (cut network)."""
    from clawback.contain import ContainRequest, prepare, run

    request = ContainRequest(
        playbook=_path(playbook),
        config=_path(config),
        dry_run=dry_run,
        yes=yes,
        cut_network=cut_network,
        resume=resume,
        confirm_manual=confirm_manual,
        incidents_dir=_path(incidents_dir),
        interactive=sys.stdin.isatty() and not json,
        approver=_ask,
        secret_prompt=_read_secret,
    )
    if hosts is not None:
        # The fleet branch: SSH and Fabric are imported only here.
        from clawback.fleet import run_fleet

        run = functools.partial(run_fleet, hosts=hosts)
    return _run_and_report(request, json_output=json, prepare=prepare, run=run)


def _run_and_report(request: Any, *, json_output: bool, prepare: Any, run: Any) -> int:
    prepared = prepare(request)
    if json_output:
        from clawback.console import JsonReporter, print_json, result_document

        result = run(prepared, JsonReporter())
        print_json(result_document(result))
    else:
        import dataclasses

        from clawback.console import RichReporter, print_summary

        reporter = RichReporter(defer_until_action=True)
        request = dataclasses.replace(
            prepared.request, approver=reporter.prompting(prepared.request.approver),
            secret_prompt=reporter.prompting(prepared.request.secret_prompt),
        )
        result = run(dataclasses.replace(prepared, request=request), reporter)
        print_summary(result, reporter)
    return int(result.exit_code)


def _contain_fast(argv: list[str]) -> int | None:
    """Parse ``contain``'s options without invoke; None when argv needs the full program."""
    import argparse

    parser = argparse.ArgumentParser(prog="clawback contain", add_help=False,
                                     allow_abbrev=False)
    for name, (takes_value, help_text) in CONTAIN_OPTIONS.items():
        if takes_value:
            parser.add_argument(f"--{name}", help=help_text)
        else:
            parser.add_argument(f"--{name}", action="store_true", help=help_text)
    try:
        parsed, extra = parser.parse_known_args(argv)
    except SystemExit:
        return None
    if extra:
        return None  # more tasks on one line, or a typo: invoke explains both
    return contain(**{k: v for k, v in vars(parsed).items()})


@with_advice
def verify(
    incident: str,
    checkpoint: str | None = None,
    pubkey: str | None = None,
    json: bool = False,
    incidents_dir: str | None = None,
) -> int:
    """Prove an incident's timeline and evidence are intact (exit 0 intact, 1 tampered)."""
    from clawback.evidence import check_evidence
    from clawback.incident import incidents_root, resolve_incident
    from clawback.verify import verify_incident

    incident_dir = resolve_incident(incident, incidents_root(_path(incidents_dir)))
    report = verify_incident(
        incident_dir,
        checkpoint=_path(checkpoint),
        pubkey=_path(pubkey),
        evidence_checker=check_evidence,
    )
    if json:
        from clawback.console import print_json

        print_json({
            "incident": incident_dir.name,
            "intact": report.intact,
            "exit_code": report.exit_code,
            "verdicts": [v.as_dict() for v in report.verdicts],
        })
    else:
        _print_verdicts(incident_dir.name, report)
    return int(report.exit_code)


def _print_verdicts(incident: str, report: Any) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=True)
    colours = {"ok": "green", "warning": "yellow", "failure": "red"}
    for v in report.verdicts:
        colour = colours.get(v.severity, "white")
        where = f" (entry {v.seq})" if v.seq is not None else ""
        where += f" [{v.path}]" if v.path else ""
        console.print(f"[{colour}]{v.code}[/{colour}]{escape(where)}: {escape(v.message)}")
    verdict = "INTACT" if report.intact else "TAMPERED OR INVALID"
    colour = "green" if report.intact else "red"
    console.print(f"[bold {colour}]{incident}: {verdict}[/bold {colour}]")


@with_advice
def discover(home: str | None = None, json: bool = False, config: str | None = None) -> int:
    """List every secret the agent can reach, with where it was found (never the values)."""
    from clawback.config import find_config, load_config
    from clawback.inventory import discover_agent

    # The same places contain looks: [agent] of clawback.toml when there is one (its temp
    # dirs hold lock files and the gateway's rolling logs), else the defaults.
    agent: dict[str, Any] = {}
    found = find_config(_path(config))
    if found is not None:
        from clawback.registry import load_registry

        providers = {n for n, c in load_registry().responders.items() if c.providers}
        agent = load_config(found, known_providers=providers).settings().get("agent", {})
    inventory = discover_agent(agent, user_home=_path(home))
    if json:
        from clawback.console import print_json

        print_json(inventory.as_dict())
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{len(inventory.credentials)} secret(s) the agent can reach")
    for column in ("provider", "kind", "key id", "fingerprint", "found in"):
        table.add_column(column)
    for cred in inventory.credentials:
        table.add_row(
            cred.provider, cred.kind, cred.key_id or "", cred.fingerprint,
            escape("\n".join(str(loc) for loc in cred.locations)),
        )
    Console().print(table)
    return 0


@with_advice
def drill(
    preflight: bool = False,
    config: str | None = None,
    json: bool = False,
    dry_run: bool = False,
    resume: str | None = None,
    confirm_manual: bool = False,
    playbook: str | None = None,
    incidents_dir: str | None = None,
) -> int:
    """Quarterly drill: rotate every key with zero downtime, timed per provider and compared
    with the previous drill. --preflight: prove every admin credential can do what contain
    needs, changing nothing."""
    if preflight:
        from clawback.contain import ContainRequest, prepare
        from clawback.preflight import run_preflight

        report = run_preflight(prepare(ContainRequest(config=_path(config))))
        if json:
            from clawback.console import print_json

            print_json(report.as_dict())
            return report.exit_code
        _print_preflight(report)
        return report.exit_code

    from clawback.drill import DrillRequest, run_drill

    request = DrillRequest(
        config=_path(config), playbook=_path(playbook), dry_run=dry_run, resume=resume,
        confirm_manual=confirm_manual, incidents_dir=_path(incidents_dir),
        interactive=sys.stdin.isatty() and not json, approver=_ask,
    )
    if json:
        from clawback.console import JsonReporter, print_json, result_document

        drilled = run_drill(request, JsonReporter())
        print_json({**result_document(drilled.result), "drill": drilled.as_dict()})
        return int(drilled.result.exit_code)
    from clawback.console import RichReporter

    reporter = RichReporter()
    drilled = run_drill(request, reporter)
    _print_drill(drilled, reporter.console)
    return int(drilled.result.exit_code)


def _print_drill(drilled: Any, console: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    from clawback.runner import outcome_summary

    result = drilled.result
    counts: dict[str, int] = {}
    for r in result.results:
        counts[r.outcome.status] = counts.get(r.outcome.status, 0) + 1
    tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing to do"
    if result.dry_run:
        console.print(f"[bold cyan]Dry run[/bold cyan]: {tally}. Nothing was sent or changed.")
    else:
        console.print(f"[bold]Drill {result.incident_id}[/bold]: {tally}")
        console.print(f"  directory: {result.incident_dir}")
    if drilled.timings is not None and drilled.timings.providers:
        table = Table(title="Rotation time per provider")
        for column in ("provider", "keys", "rotated", "slowest key", "all keys"):
            table.add_column(column, justify="left" if column == "provider" else "right")
        for t in drilled.timings.providers.values():
            table.add_row(t.provider, str(t.keys), str(t.rotated), f"{t.slowest_ms} ms",
                          f"{t.total_ms} ms")
        console.print(table)
    if drilled.previous is None:
        console.print("No earlier drill to compare with.")
    elif drilled.comparison:
        table = Table(title=f"Compared with the drill {drilled.previous.incident} "
                            f"({drilled.previous.started})")
        for column in ("provider", "now", "then", ""):
            table.add_column(column)
        for c in drilled.comparison:
            table.add_row(c.provider, "" if c.now_ms is None else f"{c.now_ms} ms",
                          "" if c.before_ms is None else f"{c.before_ms} ms", c.verdict)
        console.print(table)
    else:
        console.print(f"The previous drill was {drilled.previous.incident} "
                      f"({drilled.previous.started}).")
    if result.dry_run:
        return
    if result.remaining:
        console.print("[bold yellow]A human must still do this:[/bold yellow]")
        for r in result.remaining:
            console.print(f"  • {escape(f'[{r.step}] {r.target}')}: "
                          f"{escape(outcome_summary(r.outcome))}")
        console.print(f"Then finish the drill with: clawback drill --resume {result.incident_id}")
    console.print(f"Verify with: clawback verify {result.incident_id}")


def _print_preflight(report: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    table = Table(title="Can the admin credentials do what `contain` needs?")
    for column in ("provider", "capability", "", "detail / missing permission"):
        table.add_column(column)
    for c in report.checks:
        detail = f"missing: {c.missing_permission}. " if c.missing_permission else ""
        table.add_row(c.provider, c.capability, "✅" if c.ok else "❌",
                      escape(detail + (c.detail or "")))
    if report.checks:
        console.print(table)
    else:
        console.print("No provider is configured: add [providers.X] tables to clawback.toml.")
    modes = {"api": "✅ revoked by API", "manual": "✋ guided manual step",
             "unconfigured": "❌ provider not configured", "none": "❌ no responder"}
    keys = Table(title="How contain would handle each discovered secret")
    for column in ("provider", "kind", "fingerprint", "handled"):
        keys.add_column(column)
    for k in report.coverage:
        keys.add_row(k.provider, k.kind, k.fingerprint, modes[k.mode]
                     + (f" ([providers.{k.handled_by}])" if k.mode == "unconfigured" else ""))
    console.print(keys)
    verdict = "the panic button would work" if report.ok else "the panic button would NOT " \
        "fully work: fix the ❌ rows"
    console.print(f"[bold {'green' if report.ok else 'red'}]{verdict}[/]")


@with_advice
def report(incident: str, format: str = "md,html,timesketch", checkpoint: str | None = None,
           pubkey: str | None = None, incidents_dir: str | None = None) -> int:
    """Write the post-incident report (Markdown, HTML, Timesketch JSONL) from the timeline."""
    from clawback.incident import incidents_root, resolve_incident
    from clawback.report import build_report, write_report_files

    incident_dir = resolve_incident(incident, incidents_root(_path(incidents_dir)))
    formats = [f.strip() for f in format.split(",") if f.strip()]
    built = build_report(incident_dir, checkpoint=_path(checkpoint), pubkey=_path(pubkey))
    written = write_report_files(built, formats)
    sys.stderr.write(built.integrity.headline + "\n")
    for path in written:
        sys.stdout.write(f"{path}\n")
    # The report says so when the timeline is not intact; the exit code says it to scripts.
    return 1 if built.integrity.state == "not_intact" else 0


@with_advice
def audit(home: str | None = None, format: str = "text", fail_on: str | None = None,
          config: str | None = None) -> int:
    """The hardening checklist, read-only: what is missing, and what would make contain fail."""
    from clawback.audit import render_json, render_sarif, render_text, run_audit
    from clawback.errors import BadInput

    if format not in ("text", "json", "sarif"):
        raise BadInput(f"unknown audit format {format!r}; choose text, json or sarif")
    settings: dict[str, Any] = {}
    config_path = _path(config)
    from clawback.config import find_config, load_config
    from clawback.registry import load_registry

    found = find_config(config_path)
    if found is not None:
        providers = {n for n, c in load_registry().responders.items() if c.providers}
        loaded = load_config(found, known_providers=providers)
        settings = {**loaded.settings(), "providers": {n: loaded.provider(n)
                                                       for n in loaded.providers},
                    "audit": loaded.audit.model_dump(mode="json")}
    agent = settings.get("agent", {})
    user_home = _path(home) or Path(agent.get("user_home") or Path.home())
    state_dirs = [Path(p) for p in agent.get("state_dirs") or []] or None
    result = run_audit(user_home=user_home, state_dirs=state_dirs, settings=settings)
    if format == "text":
        sys.stdout.write(render_text(result) + "\n")
    else:
        import json as json_module

        document = render_json(result) if format == "json" else render_sarif(result)
        sys.stdout.write(json_module.dumps(document, indent=2, sort_keys=True) + "\n")
    return result.exit_code(fail_on)


@with_advice
def restore_network(incident: str, confirm: bool = False, json: bool = False,
                    incidents_dir: str | None = None, hosts: str | None = None,
                    config: str | None = None) -> int:
    """Undo the network cut of an incident, or with --confirm keep it and disarm the rollback."""
    from clawback.incident import incidents_root, resolve_incident
    from clawback.restore import change_network, fleet_header
    from clawback.runner import outcome_fields, outcome_summary

    incident_dir = resolve_incident(incident, incidents_root(_path(incidents_dir)))
    if fleet_header(incident_dir) is not None:
        return _restore_fleet_network(incident_dir, confirm=confirm, json=json, hosts=hosts,
                                      config=_path(config))
    if hosts is not None or config is not None:
        from clawback.errors import BadInput

        raise BadInput(f"incident {incident_dir.name} is not a fleet incident (contain "
                       "--hosts): --hosts and --config apply only to those")
    change = change_network(incident_dir, confirm=confirm)
    outcome = change.outcome
    if json:
        from clawback.console import print_json

        print_json({"incident": incident_dir.name, "outcome": outcome.name,
                    "summary": outcome_summary(outcome), **outcome_fields(outcome),
                    "checkpoint": change.checkpoint})
    else:
        from rich.console import Console
        from rich.markup import escape

        console = Console(highlight=False, soft_wrap=True)
        colour = "green" if outcome.succeeded else "red"
        console.print(f"[{colour}]{outcome.name}[/{colour}]: {escape(outcome_summary(outcome))}")
        console.print("[dim]checkpoint (keep a copy off this host):[/dim]")
        console.print(escape(change.checkpoint.rstrip()), style="dim")
    return 0 if outcome.succeeded else 3


def _restore_fleet_network(incident_dir: Path, *, confirm: bool, json: bool,
                           hosts: str | None, config: Path | None) -> int:
    """restore-network on a fleet incident: one line per host as it ends, then the checkpoint."""
    from clawback.restore import HostChange, change_fleet_network, host_documents
    from clawback.runner import outcome_summary

    console: Any = None
    if not json:
        from rich.console import Console

        console = Console(highlight=False, soft_wrap=True)

    def note(message: str) -> None:
        if console is not None:
            from rich.markup import escape

            console.print(f"[yellow]note[/yellow]: {escape(message)}")

    def host_line(change: HostChange) -> None:
        if console is None:
            return
        from rich.markup import escape

        colour = "green" if change.succeeded else "red"
        console.print(f"[bold]{escape(change.host)}[/bold] [{colour}]{change.outcome.name}"
                      f"[/{colour}]: {escape(outcome_summary(change.outcome))}")

    change = change_fleet_network(incident_dir, confirm=confirm, hosts=hosts, config=config,
                                  on_note=note, on_host=host_line)
    if json:
        from clawback.console import print_json

        print_json({"incident": incident_dir.name,
                    "action": "confirm_cut" if confirm else "restore",
                    "ok": change.succeeded, "notes": list(change.notes),
                    "hosts": host_documents(change.hosts), "checkpoint": change.checkpoint})
    else:
        from rich.markup import escape

        failed = [c.host for c in change.hosts if not c.succeeded]
        if failed:
            console.print(f"[red]{len(failed)} of {len(change.hosts)} host(s) not done[/red]: "
                          f"{escape(', '.join(failed))} (advice above)")
        console.print("[dim]checkpoint (keep a copy off this host):[/dim]")
        console.print(escape(change.checkpoint.rstrip()), style="dim")
    return 0 if change.succeeded else 3


@with_advice
def demo(json: bool = False) -> int:
    """Run the real contain playbook against an embedded sandbox (no root, loopback only)."""
    from clawback.console import JsonReporter, RichReporter, print_json, result_document
    from clawback.sandbox.demo import run_demo
    from clawback.sandbox.summary import demo_section, print_demo_ending

    # The demo ends with its own summary and keeps the final checkpoint itself.
    reporter: Any = JsonReporter() if json else RichReporter(show_checkpoints=False)
    outcome = run_demo(reporter)
    if json:
        document = result_document(outcome.result)
        document["demo"] = demo_section(outcome)
        print_json(document)
    else:
        print_demo_ending(demo_section(outcome), reporter.console)
    return 0 if outcome.ok else EXIT_INTERNAL


def main() -> None:
    # pydantic scans every installed package for plugins on first use; clawback uses none, and
    # the scan costs the panic button tens of milliseconds before it can act.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    argv = sys.argv[1:]
    if argv[:1] == ["contain"] and not {"-h", "--help"} & set(argv):
        code = _contain_fast(argv[1:])
        if code is not None:
            sys.exit(code)
    from clawback.commands import build_program

    build_program().run()
