"""``inv <command>`` in a checkout (``tasks.py``): invoke tasks over the functions of
``clawback.cli``, with the options and help of ``clawback.command_line``'s table.

The installed ``clawback`` command does not use invoke. ``inv`` keeps invoke's own flags, and
one of them is dangerous here: ``inv contain --dry`` (``-R``) sets invoke's "echo commands
instead of running" mode, which clawback does not run commands through, so it would contain
for real. Every task refuses that mode (exit 2, nothing done) and names ``--dry-run``.
"""

from __future__ import annotations

from typing import Any

from invoke import Collection, task
from invoke.exceptions import Exit

from clawback import cli
from clawback.command_line import COMMANDS
from clawback.errors import EXIT_BAD_INPUT


def _help(command: str) -> dict[str, str]:
    return {arg.name: arg.help for arg in COMMANDS[command].args}


def _refuse_echo_mode(c: Any) -> None:
    if c.config.run.dry:
        raise Exit(
            "clawback: --dry/-R is invoke's 'echo commands instead of running' flag, which "
            "clawback does not run through: it would act for real. For a dry run: inv contain "
            "--dry-run (or clawback contain --dry-run). Nothing was done.",
            code=EXIT_BAD_INPUT,
        )


def _finish(code: int) -> None:
    if code:
        raise Exit(code=code)


@task(auto_shortflags=False, help=_help("contain"))
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
    hosts: str | None = None,
    home: str | None = None,
) -> None:
    """Contain a compromised agent now: evidence, stop, revoke keys, evidence, (cut network)."""
    _refuse_echo_mode(c)
    _finish(cli.contain(
        playbook=playbook, config=config, dry_run=dry_run, cut_network=cut_network, yes=yes,
        resume=resume, confirm_manual=confirm_manual, json=json, incidents_dir=incidents_dir,
        hosts=hosts, home=home,
    ))


@task(auto_shortflags=False, help=_help("verify"))
def verify(
    c: Any,
    incident: str,
    checkpoint: str | None = None,
    pubkey: str | None = None,
    json: bool = False,
    incidents_dir: str | None = None,
) -> None:
    """Prove an incident's timeline and evidence are intact (exit 0 intact, 1 tampered)."""
    _refuse_echo_mode(c)
    _finish(cli.verify(incident, checkpoint=checkpoint, pubkey=pubkey, json=json,
                       incidents_dir=incidents_dir))


@task(auto_shortflags=False, help=_help("discover"))
def discover(c: Any, home: str | None = None, json: bool = False,
             config: str | None = None) -> None:
    """List every secret the agent can reach, with where it was found (never the values)."""
    _refuse_echo_mode(c)
    _finish(cli.discover(home=home, json=json, config=config))


@task(auto_shortflags=False, help=_help("demo"))
def demo(c: Any, json: bool = False) -> None:
    """Run the real contain playbook against an embedded sandbox (no root, loopback only)."""
    _refuse_echo_mode(c)
    _finish(cli.demo(json=json))


@task(name="restore-network", auto_shortflags=False, help=_help("restore-network"))
def restore_network(c: Any, incident: str, confirm: bool = False, json: bool = False,
                    incidents_dir: str | None = None, hosts: str | None = None,
                    config: str | None = None) -> None:
    """Undo the network cut of an incident, or with --confirm keep it and disarm the rollback."""
    _refuse_echo_mode(c)
    _finish(cli.restore_network(incident, confirm=confirm, json=json,
                                incidents_dir=incidents_dir, hosts=hosts, config=config))


@task(auto_shortflags=False, help=_help("drill"))
def drill(c: Any, preflight: bool = False, config: str | None = None, json: bool = False,
          dry_run: bool = False, resume: str | None = None, confirm_manual: bool = False,
          playbook: str | None = None, incidents_dir: str | None = None,
          home: str | None = None) -> None:
    """The quarterly drill: rotate every key with zero downtime (--preflight changes nothing)."""
    _refuse_echo_mode(c)
    _finish(cli.drill(preflight=preflight, config=config, json=json, dry_run=dry_run,
                      resume=resume, confirm_manual=confirm_manual, playbook=playbook,
                      incidents_dir=incidents_dir, home=home))


@task(auto_shortflags=False, help=_help("report"))
def report(c: Any, incident: str, format: str = "md,html,timesketch",
           checkpoint: str | None = None, pubkey: str | None = None,
           incidents_dir: str | None = None) -> None:
    """Write the post-incident report (Markdown, HTML, Timesketch JSONL) from the timeline."""
    _refuse_echo_mode(c)
    _finish(cli.report(incident, format=format, checkpoint=checkpoint, pubkey=pubkey,
                       incidents_dir=incidents_dir))


@task(auto_shortflags=False, help=_help("investigate"))
def investigate(c: Any, incident: str, rules: str | None = None, checkpoint: str | None = None,
                pubkey: str | None = None, incidents_dir: str | None = None,
                json: bool = False, ask_providers: bool = False,
                config: str | None = None) -> None:
    """What the agent did, which secrets left, and since when: from the sealed evidence only."""
    _refuse_echo_mode(c)
    _finish(cli.investigate(incident, rules=rules, checkpoint=checkpoint, pubkey=pubkey,
                            incidents_dir=incidents_dir, json=json,
                            ask_providers=ask_providers, config=config))


@task(auto_shortflags=False, help=_help("audit"))
def audit(c: Any, home: str | None = None, format: str = "text", fail_on: str | None = None,
          config: str | None = None) -> None:
    """The hardening checklist, read-only: what is missing, and what would make contain fail."""
    _refuse_echo_mode(c)
    _finish(cli.audit(home=home, format=format, fail_on=fail_on, config=config))


@task(auto_shortflags=False, help=_help("status"))
def status(c: Any, incident: str | None = None, incidents_dir: str | None = None,
           json: bool = False) -> None:
    """Where every incident stands: agent, live keys, open steps, network cut and rollback."""
    _refuse_echo_mode(c)
    _finish(cli.status(incident, incidents_dir=incidents_dir, json=json))


@task(auto_shortflags=False, help=_help("init"))
def init(c: Any, home: str | None = None, output: str | None = None, json: bool = False) -> None:
    """Write a commented clawback.toml for this host, then run the preflight."""
    _refuse_echo_mode(c)
    _finish(cli.init(home=home, output=output, json=json))


@task(auto_shortflags=False, help=_help("runbook"))
def runbook(c: Any, home: str | None = None, config: str | None = None, format: str = "md",
            output: str | None = None) -> None:
    """A printable page: what contain does here by itself, and each step left to you."""
    _refuse_echo_mode(c)
    _finish(cli.runbook(home=home, config=config, format=format, output=output))


namespace = Collection(contain, verify, discover, demo, restore_network, drill, report,
                       investigate, audit, status, init, runbook)
