"""The ``clawback`` command: plain command functions, and the console script's entry point.

``main`` reads the command line with ``clawback.command_line`` (argparse, only clawback's own
options) and calls the function of the command; ``tasks.py`` (``inv`` in a checkout) calls the
same functions through ``clawback.commands``. Errors are printed as advice, never as
tracebacks, with the exit codes of the CLI contract.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from clawback.display import Display
from clawback.errors import EXIT_INTERNAL, BadInput, ClawbackError

F = TypeVar("F", bound=Callable[..., int])

# The panic button must act within a quarter second: only the command's own parser is built
# (clawback.command_line), and rich, invoke and the responders' SDKs wait until later.


def with_advice(func: F) -> F:
    """Turn clawback's errors into a one-line message and the contract's exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        # Before anything is created: whatever clawback writes (and what libraries such as
        # keyrings.alt create for it) is private even under the caller's umask 000. (main()
        # sets it for the whole process; a library caller gets its own back afterwards.)
        previous = os.umask(0o077)
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
        finally:
            os.umask(previous)

    return wrapper  # type: ignore[return-value]


def _err(message: str) -> None:
    """An error for a person: one message, one line per line, escaped (text from outside
    cannot forge lines or drive the terminal), and any value that looks like a secret shown
    as its fingerprint only."""
    from clawback.shown import for_error

    sys.stderr.write(for_error(message) + "\n")
    sys.stderr.flush()


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def _ask(question: str) -> bool:
    from clawback.shown import printable

    shown = "\n".join(printable(line) for line in question.split("\n"))
    try:
        answer = input(f"{shown} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _read_secret(prompt: str) -> str:
    import getpass

    try:
        return getpass.getpass(prompt)
    except EOFError:
        return ""


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
    home: str | None = None,
    display: Display | None = None,
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
        home=_path(home),
    )
    if hosts is not None:
        # The fleet branch: SSH and Fabric are imported only here.
        from clawback.fleet import run_fleet

        run = functools.partial(run_fleet, hosts=hosts)
    return _run_and_report(request, json_output=json, prepare=prepare, run=run,
                           display=display or Display())


def _run_and_report(request: Any, *, json_output: bool, prepare: Any, run: Any,
                    display: Display) -> int:
    prepared = prepare(request)
    if json_output:
        from clawback.console import JsonReporter, print_json, result_document

        result = run(prepared, JsonReporter())
        print_json(result_document(result))
    else:
        import dataclasses

        from clawback.console import RichReporter, print_summary

        reporter = RichReporter(defer_until_action=True, display=display)
        request = dataclasses.replace(
            prepared.request, approver=reporter.prompting(prepared.request.approver),
            secret_prompt=reporter.prompting(prepared.request.secret_prompt),
        )
        result = run(dataclasses.replace(prepared, request=request), reporter)
        print_summary(result, reporter, agent_home=_agent_home(prepared.settings))
    return int(result.exit_code)


def _agent_home(settings: dict[str, Any]) -> str:
    return str((settings.get("agent") or {}).get("user_home") or Path.home())


@with_advice
def verify(
    incident: str,
    checkpoint: str | None = None,
    pubkey: str | None = None,
    json: bool = False,
    incidents_dir: str | None = None,
    display: Display | None = None,
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
        _print_verdicts(incident_dir.name, report, display or Display())
    return int(report.exit_code)


def _print_verdicts(incident: str, report: Any, display: Display) -> None:
    from rich.text import Text

    from clawback.shown import printable

    console = display.console()
    colours = {"ok": "green", "warning": "yellow", "failure": "red"}
    for v in report.verdicts:
        if display.quiet and v.severity == "ok":
            continue
        colour = colours.get(v.severity, "white")
        where = f" (entry {v.seq})" if v.seq is not None else ""
        where += f" [{v.path}]" if v.path else ""
        console.print(Text.assemble((v.code, colour), printable(f"{where}: {v.message}")))
    verdict = "INTACT" if report.intact else "TAMPERED OR INVALID"
    colour = "green" if report.intact else "red"
    console.print(Text(f"{incident}: {verdict}", style=f"bold {colour}"))


@with_advice
def discover(home: str | None = None, json: bool = False, config: str | None = None,
             display: Display | None = None) -> int:
    """List every secret the agent can reach, with where it was found (never the values).

    Looks where contain looks: [agent] of clawback.toml when there is one (its temp dirs hold
    lock files and the gateway's rolling logs), else the defaults. Exit 3 when no OpenClaw
    install is found: nothing found is not all clear."""
    from clawback.config import find_config, load_config
    from clawback.registry import load_agent

    agent: dict[str, Any] = {}
    found = find_config(_path(config))
    if found is not None:
        from clawback.registry import load_registry

        providers = {n for n, c in load_registry().responders.items() if c.providers}
        agent = load_config(found, known_providers=providers).settings().get("agent", {})
    user_home = _path(home) or Path(agent.get("user_home") or Path.home())
    if not user_home.is_dir():
        raise BadInput(f"--home {user_home}: no such directory (give the agent user's home, "
                       "where OpenClaw keeps its state)")
    # A home can be made arbitrarily slow to read (gigabytes of planted logs): after its budget
    # discovery stops and says in its notes what it left unread.
    inventory = load_agent().discover(agent, user_home=user_home, budget_seconds=120.0)
    code = 0 if inventory.found_install else 3
    if json:
        from clawback.console import print_json

        print_json({**inventory.as_dict(), "home": str(user_home),
                    "openclaw_found": inventory.found_install})
        if code:
            _err(_not_found(user_home, home))
        return code
    _print_inventory(inventory, user_home, display or Display())
    if code:
        _err(_not_found(user_home, home))
    return code


def _not_found(user_home: Path, given: str | None) -> str:
    hint = ("if the agent runs as another user, give its home: clawback discover --home "
            "/home/AGENT-USER") if given is None else (
        "is this the agent user's home? Give that one with --home")
    return (f"clawback: no OpenClaw install found under {user_home} (no ~/.openclaw or "
            f"profile state dir, config or gateway service). Nothing found is not all clear: "
            f"{hint}")


def _print_inventory(inventory: Any, user_home: Path, display: Display) -> None:
    from clawback.console import print_inventory

    print_inventory(display.console(), inventory, str(user_home), quiet=display.quiet)


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
    home: str | None = None,
    display: Display | None = None,
) -> int:
    """Quarterly drill: rotate every key with zero downtime, timed per provider and compared
    with the previous drill. --preflight: prove every admin credential can do what contain
    needs, changing nothing, and exit with the code contain would give."""
    display = display or Display()
    if preflight:
        from clawback.contain import ContainRequest, prepare
        from clawback.preflight import run_preflight

        report = run_preflight(prepare(ContainRequest(config=_path(config), home=_path(home))))
        if json:
            from clawback.console import print_json

            print_json(report.as_dict())
            return report.exit_code
        from clawback.console import print_preflight

        print_preflight(display.console(), report)
        return report.exit_code

    from clawback.drill import DrillRequest, run_drill

    request = DrillRequest(
        config=_path(config), playbook=_path(playbook), dry_run=dry_run, resume=resume,
        confirm_manual=confirm_manual, incidents_dir=_path(incidents_dir),
        interactive=sys.stdin.isatty() and not json, approver=_ask, home=_path(home),
    )
    if json:
        from clawback.console import JsonReporter, print_json, result_document

        drilled = run_drill(request, JsonReporter())
        print_json({**result_document(drilled.result), "drill": drilled.as_dict()})
        return int(drilled.result.exit_code)
    from clawback.console import RichReporter, print_drill

    reporter = RichReporter(display=display)
    drilled = run_drill(request, reporter)
    reporter.finish()
    print_drill(drilled, reporter.console)
    return int(drilled.result.exit_code)


@with_advice
def report(incident: str, format: str = "md,html,timesketch", checkpoint: str | None = None,
           pubkey: str | None = None, incidents_dir: str | None = None,
           display: Display | None = None) -> int:
    """Write the post-incident report (Markdown, HTML, Timesketch JSONL) from the timeline."""
    from clawback.incident import incidents_root, resolve_incident
    from clawback.report import build_report, write_report_files

    incident_dir = resolve_incident(incident, incidents_root(_path(incidents_dir)))
    formats = [f.strip() for f in format.split(",") if f.strip()]
    built = build_report(incident_dir, checkpoint=_path(checkpoint), pubkey=_path(pubkey))
    written = write_report_files(built, formats)
    if not (display and display.quiet):
        sys.stderr.write(built.integrity.headline + "\n")
    for path in written:
        sys.stdout.write(f"{path}\n")
    # The report says so when the timeline is not intact; the exit code says it to scripts.
    return 1 if built.integrity.state == "not_intact" else 0


@with_advice
def investigate(incident: str, rules: str | None = None, checkpoint: str | None = None,
                pubkey: str | None = None, incidents_dir: str | None = None,
                json: bool = False, ask_providers: bool = False, config: str | None = None,
                display: Display | None = None) -> int:
    """What the agent did, which secrets left, and since when: from the sealed evidence only."""
    from clawback.incident import incidents_root, resolve_incident
    from clawback.investigate import investigate_incident
    from clawback.investigate.sealed import EvidenceRefused

    incident_dir = resolve_incident(incident, incidents_root(_path(incidents_dir)))
    files = [Path(f.strip()).expanduser() for f in (rules or "").split(",") if f.strip()]
    usage = None
    if ask_providers:
        from clawback.investigate.provider_usage import from_config

        usage = from_config(_path(config))
        if usage is None:
            raise BadInput("--ask-providers: no clawback.toml names a provider that can say how "
                           "a key was used (give --config FILE with a [providers.aws] table)")
    try:
        result = investigate_incident(incident_dir, rules_files=files, usage=usage,
                                      checkpoint=_path(checkpoint), pubkey=_path(pubkey))
    except EvidenceRefused as refused:
        if json:
            from clawback.console import print_json

            print_json({"incident": incident_dir.name, "investigated": False,
                        "reason": str(refused),
                        "verdicts": [v.as_dict() for v in refused.verdicts]})
            return refused.exit_code
        raise
    if json:
        from clawback.console import print_json
        from clawback.investigate.summary import json_summary

        print_json(json_summary(result))
    else:
        from clawback.investigate.summary import print_summary

        print_summary(result, (display or Display()).console(), quiet=bool(
            display and display.quiet))
    return 0


@with_advice
def audit(home: str | None = None, format: str = "text", fail_on: str | None = None,
          config: str | None = None, display: Display | None = None) -> int:
    """The hardening checklist, read-only: what is missing, and what would make contain fail."""
    from clawback.audit import render_json, render_sarif, render_text, run_audit

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
                    config: str | None = None, display: Display | None = None) -> int:
    """Undo the network cut of an incident, or with --confirm keep it and disarm the rollback."""
    from clawback.incident import incidents_root, resolve_incident
    from clawback.recorder import outcome_fields, outcome_summary
    from clawback.restore import change_network, fleet_header

    display = display or Display()
    incident_dir = resolve_incident(incident, incidents_root(_path(incidents_dir)))
    if fleet_header(incident_dir) is not None:
        return _restore_fleet_network(incident_dir, confirm=confirm, json=json, hosts=hosts,
                                      config=_path(config), display=display)
    if hosts is not None or config is not None:
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
        from clawback.console import print_outcome_and_checkpoint

        print_outcome_and_checkpoint(display.console(), outcome, change.checkpoint)
    return 0 if outcome.succeeded else 3


def _restore_fleet_network(incident_dir: Path, *, confirm: bool, json: bool,
                           hosts: str | None, config: Path | None, display: Display) -> int:
    """restore-network on a fleet incident: one line per host as it ends, then the checkpoint."""
    from clawback.restore import HostChange, change_fleet_network, host_documents

    console: Any = None
    if not json:
        console = display.console()

    def note(message: str) -> None:
        if console is not None and not display.quiet:
            from clawback.console import print_note

            print_note(console, message)

    def host_line(change: HostChange) -> None:
        if console is not None:
            from clawback.console import print_host_change

            print_host_change(console, change.host, change.outcome)

    change = change_fleet_network(incident_dir, confirm=confirm, hosts=hosts, config=config,
                                  on_note=note, on_host=host_line)
    if json:
        from clawback.console import print_json

        print_json({"incident": incident_dir.name,
                    "action": "confirm_cut" if confirm else "restore",
                    "ok": change.succeeded, "notes": list(change.notes),
                    "hosts": host_documents(change.hosts), "checkpoint": change.checkpoint})
    else:
        from clawback.console import print_fleet_change_end

        failed = [c.host for c in change.hosts if not c.succeeded]
        print_fleet_change_end(console, failed, len(change.hosts), change.checkpoint)
    return 0 if change.succeeded else 3


@with_advice
def status(incident: str | None = None, incidents_dir: str | None = None, json: bool = False,
           display: Display | None = None) -> int:
    """Where every incident stands: agent, live keys, open steps, network cut and rollback,
    checkpoint shipped. Changes nothing; exit 3 when something needs a human."""
    from clawback.incident import incidents_root, resolve_incident
    from clawback.status import collect_status

    root = incidents_root(_path(incidents_dir))
    only = [resolve_incident(incident, root)] if incident else []
    statuses = collect_status(root, only=only)
    code = 3 if any(s.needs_a_human for s in statuses) else 0
    if json:
        from clawback.console import print_json

        print_json({"incidents_dir": str(root), "exit_code": code,
                    "incidents": [s.as_dict() for s in statuses]})
        return code
    from clawback.status_view import print_status

    display = display or Display()
    print_status(display.console(), statuses, root=str(root), quiet=display.quiet)
    return code


@with_advice
def init(home: str | None = None, output: str | None = None, json: bool = False,
         display: Display | None = None) -> int:
    """Write a commented clawback.toml (0600) for this host from discovery, never over an
    existing file, then run the preflight on it; exit with the code the preflight gives."""
    from clawback.config import find_config, load_config
    from clawback.init_config import default_path, plan_init, render_config, write_new
    from clawback.registry import load_agent, load_registry

    display = display or Display()
    user_home = _path(home) or Path.home()
    if not user_home.is_dir():
        raise BadInput(f"--home {user_home}: no such directory (give the agent user's home)")
    inventory = load_agent().discover({}, user_home=user_home)
    if not inventory.found_install:
        _err(_not_found(user_home, home) + ". Nothing was written.")
        return 3
    registry = load_registry()
    plan = plan_init(user_home.absolute(), inventory, registry)
    path = _path(output) or default_path()
    written = write_new(path, render_config(plan))
    # The file must load as contain will load it; if it does not, that is init's bug.
    providers = {n for n, c in registry.responders.items() if c.providers}
    load_config(written, known_providers=providers)
    from clawback.contain import ContainRequest, prepare
    from clawback.preflight import run_preflight

    report = run_preflight(prepare(ContainRequest(config=written, home=user_home)))
    if json:
        from clawback.console import print_json

        print_json({"config": str(written), "providers": [p.provider for p in plan.providers],
                    "references": [ref for _, ref in plan.references],
                    "preflight": report.as_dict(), "exit_code": report.exit_code})
        return report.exit_code
    from clawback.console import print_init, print_preflight

    console = display.console()
    print_init(console, written, plan, found_default=find_config(None) == written)
    print_preflight(console, report)
    return report.exit_code


@with_advice
def runbook(home: str | None = None, config: str | None = None, format: str = "md",
            output: str | None = None, display: Display | None = None) -> int:
    """A printable page for this host: what contain will do by itself, each step left to a
    human with its instructions, what to fix now, what to have at hand. Changes nothing."""
    if format not in ("md", "html"):
        raise BadInput(f"unknown runbook format {format!r}; choose md or html")
    from clawback.contain import ContainRequest, prepare
    from clawback.notify_worker import destination_label
    from clawback.preflight import run_preflight
    from clawback.runbook import build_runbook, render_runbook, write_runbook

    prepared = prepare(ContainRequest(config=_path(config), home=_path(home)))
    report = run_preflight(prepared)
    labels = []
    for reference in prepared.config.notify.urls:
        try:
            labels.append(destination_label(prepared.store.resolve(reference).reveal()))
        except Exception:
            labels.append(f"{reference} (not resolvable now)")
    book = build_runbook(prepared, report, notify_labels=labels)
    text = render_runbook(book, format)
    if output:
        written = write_runbook(Path(output).expanduser(), text)
        sys.stdout.write(f"{written}\n")
    else:
        sys.stdout.write(text)
    if not book.install_found:
        # Nothing found is not all clear: a page for the wrong home is printed (it says so at
        # the top), and the exit code says so too, as discover's does.
        _err(_not_found(Path(book.agent_home), home) + ". The runbook describes nothing to "
             "contain.")
        return 3
    return 0


# What ``clawback demo`` needs beyond the engine: its own package (``clawback_demo``, imported only
# here and only when ``demo`` runs) and the libraries of the ``demo`` extra.
_DEMO_MODULES = ("clawback_demo", "moto", "keyrings.alt", "supervisor", "openapi_core", "tomli_w")


def _missing_demo_modules() -> list[str]:
    import importlib.util

    missing = []
    for name in _DEMO_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # its parent package is missing
            found = False
        if not found:
            missing.append(name)
    return missing


@with_advice
def demo(json: bool = False, display: Display | None = None) -> int:
    """Run the real contain playbook against an embedded sandbox (no root, loopback only).

    Exit 0 when the demo showed what it should (its contain ends with exit 3: some keys have no
    revoke API), 1 when something in it broke, 2 without the demo extra."""
    missing = _missing_demo_modules()
    if missing:
        raise BadInput(
            "clawback demo needs the demo extra, which is not installed (missing: "
            f"{', '.join(missing)}): pip install 'clawback[demo]' (in a checkout: "
            "./scripts/demo installs it)"
        )
    from clawback.console import JsonReporter, RichReporter, print_json, result_document
    from clawback_demo.demo import run_demo
    from clawback_demo.summary import demo_section, print_demo_ending

    display = display or Display()
    # The demo ends with its own summary and keeps the final checkpoint itself.
    reporter: Any = (JsonReporter() if json
                     else RichReporter(show_checkpoints=False, display=display))
    outcome = run_demo(reporter)
    code = 0 if outcome.ok else EXIT_INTERNAL
    if json:
        document = result_document(outcome.result)
        # The document's exit code is the command's; contain's own is beside it.
        document["contain_exit_code"] = document["exit_code"]
        document["exit_code"] = code
        document["demo"] = demo_section(outcome)
        print_json(document)
    else:
        reporter.finish()
        print_demo_ending(demo_section(outcome), reporter.console, display=display)
    return code


def show_help(topic: str | None = None, display: Display | None = None) -> int:
    from clawback.command_line import show_help as show

    return show(topic)


@with_advice
def completion(shell: str, display: Display | None = None) -> int:
    """Print a shell completion script."""
    from clawback.command_line import completion_script

    try:
        script = completion_script(shell)
    except ModuleNotFoundError:
        raise BadInput("shell completion needs shtab: pip install shtab") from None
    sys.stdout.write(script if script.endswith("\n") else script + "\n")
    return 0


COMMAND_FUNCTIONS: dict[str, Callable[..., int]] = {
    "contain": contain,
    "verify": verify,
    "report": report,
    "investigate": investigate,
    "restore-network": restore_network,
    "drill": drill,
    "audit": audit,
    "discover": discover,
    "status": status,
    "init": init,
    "runbook": runbook,
    "demo": demo,
    "help": show_help,
    "completion": completion,
}


def main(argv: list[str] | None = None) -> None:
    os.umask(0o077)  # everything clawback creates is private, from the first file on
    # pydantic scans every installed package for plugins on first use; clawback uses none, and
    # the scan costs the panic button tens of milliseconds before it can act.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from clawback.command_line import parse

    invocation = parse(sys.argv[1:] if argv is None else argv)
    function = COMMAND_FUNCTIONS[invocation.command]
    sys.exit(function(**invocation.options, display=invocation.display))
