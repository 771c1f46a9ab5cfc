"""The ``clawback`` console script: a thin invoke Program over the library.

``tasks.py`` at the top of the repository exposes the same collection to ``inv``. Errors are
printed as advice, never as tracebacks, with the exit codes of the design's CLI contract.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from invoke import Collection, Program, task
from invoke.exceptions import Exit

from clawback import __version__
from clawback.errors import EXIT_INTERNAL, ClawbackError

F = TypeVar("F", bound=Callable[..., Any])


def advice_on_error(func: F) -> F:
    """Turn clawback's errors into a one-line message and the contract's exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exit:
            raise
        except ClawbackError as exc:
            _err(f"clawback: {exc}")
            raise Exit(code=exc.exit_code) from None
        except KeyboardInterrupt:
            _err("clawback: interrupted; resume with --resume INCIDENT if a run was under way")
            raise Exit(code=130) from None
        except Exception as exc:  # a bug: say so plainly, keep the detail for a report
            if os.environ.get("CLAWBACK_DEBUG"):
                raise
            _err(
                f"clawback: internal error ({type(exc).__name__}: {exc}). This is a bug; rerun "
                f"with CLAWBACK_DEBUG=1 for the traceback."
            )
            raise Exit(code=EXIT_INTERNAL) from None

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


@task(
    help={
        "playbook": "playbook YAML to run (default: the packaged contain.yaml)",
        "config": "clawback.toml (default: ./clawback.toml, then $XDG_CONFIG_HOME/clawback/)",
        "dry-run": "show every action that would be taken; change and write nothing",
        "cut-network": "also run the network-cut step (asks first unless --yes)",
        "yes": "approve every step that asks for approval",
        "resume": "continue incident ID: skip what is done, retry failures, ask about manual steps",
        "confirm-manual": "with --resume: record every open manual step as done by you, now",
        "json": "print one machine-readable JSON document instead of live progress",
        "incidents-dir": "where incidents are kept (default: $XDG_STATE_HOME/clawback/incidents)",
    }
)
@advice_on_error
def contain(
    c: Any,
    playbook: str | None = None,
    config: str | None = None,
    dry_run: bool = False,
    cut_network: bool = False,
    yes: bool = False,
    resume: str | None = None,
    confirm_manual: bool = False,
    json: bool = False,
    incidents_dir: str | None = None,
) -> None:
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
    )
    _run_and_report(request, json_output=json, prepare=prepare, run=run)


def _run_and_report(request: Any, *, json_output: bool, prepare: Any, run: Any) -> None:
    from clawback.console import (
        JsonReporter,
        RichReporter,
        print_json,
        print_summary,
        result_document,
    )

    prepared = prepare(request)
    if json_output:
        result = run(prepared, JsonReporter())
        print_json(result_document(result))
    else:
        reporter = RichReporter()
        result = run(prepared, reporter)
        print_summary(result, reporter)
    if result.exit_code:
        raise Exit(code=result.exit_code)


@task(
    help={
        "incident": "incident id or directory",
        "checkpoint": "a checkpoint you kept off the host (rules out truncation and rewrite)",
        "pubkey": "the signing public key (PEM) you trust; default: the one the timeline names",
        "json": "print the verdicts as JSON",
        "incidents-dir": "where incidents are kept",
    },
)
@advice_on_error
def verify(
    c: Any,
    incident: str,
    checkpoint: str | None = None,
    pubkey: str | None = None,
    json: bool = False,
    incidents_dir: str | None = None,
) -> None:
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
    if report.exit_code:
        raise Exit(code=report.exit_code)


def _print_verdicts(incident: str, report: Any) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=True)
    colours = {"ok": "green", "warning": "yellow", "failure": "red"}
    for v in report.verdicts:
        colour = colours.get(v.severity, "white")
        where = f" (entry {v.seq})" if v.seq is not None else ""
        where += f" [{escape(v.path)}]" if v.path else ""
        console.print(f"[{colour}]{v.code}[/{colour}]{escape(where)}: {escape(v.message)}")
    verdict = "INTACT" if report.intact else "TAMPERED OR INVALID"
    colour = "green" if report.intact else "red"
    console.print(f"[bold {colour}]{incident}: {verdict}[/bold {colour}]")


@task(
    help={
        "home": "the agent user's home directory (default: yours)",
        "json": "print the inventory as JSON (fingerprints only)",
    }
)
@advice_on_error
def discover(c: Any, home: str | None = None, json: bool = False) -> None:
    """List every secret the agent can reach, with where it was found (never the values)."""
    from clawback.inventory import discover as run_discovery

    inventory = run_discovery(user_home=_path(home) or Path.home())
    if json:
        from clawback.console import print_json

        print_json(inventory.as_dict())
        return
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


@task(help={"json": "print the contain result as JSON instead of live progress"})
@advice_on_error
def demo(c: Any, json: bool = False) -> None:
    """Run the real contain playbook against an embedded sandbox (no root, loopback only)."""
    from clawback.console import (
        JsonReporter,
        RichReporter,
        print_json,
        print_summary,
        result_document,
    )
    from clawback.sandbox.demo import run_demo

    reporter: Any = JsonReporter() if json else RichReporter()
    outcome = run_demo(reporter)
    if json:
        document = result_document(outcome.result)
        document["demo"] = {
            "sandbox": str(outcome.root),
            "gateway_stopped": outcome.gateway_stopped,
            "aws_keys_after": outcome.aws_keys_after,
            "verify_exit": outcome.verify_exit,
            "notes": outcome.notes,
        }
        print_json(document)
    else:
        print_summary(outcome.result, reporter)
        console = reporter.console
        console.print(f"gateway stand-in stopped for good: {outcome.gateway_stopped}")
        console.print(f"agent's AWS keys at the end (moto): {outcome.aws_keys_after or 'none'}")
        verdict = "INTACT (anchored to the final checkpoint)" if outcome.verify_exit == 0 \
            else f"NOT INTACT (exit {outcome.verify_exit})"
        console.print(f"clawback verify: {verdict}")
        for note in outcome.notes:
            console.print(f"[yellow]note:[/yellow] {note}")
        console.print(f"Everything is kept in {outcome.root}")
    if not outcome.ok:
        raise Exit(code=EXIT_INTERNAL)


namespace = Collection(contain, verify, discover, demo)


def build_program() -> Program:
    return Program(namespace=namespace, name="clawback", binary="clawback", version=__version__)


def main() -> None:
    build_program().run()
