"""The invoke tasks behind ``clawback`` and ``inv``: thin adapters over ``clawback.cli``."""

from __future__ import annotations

from typing import Any

from invoke import Collection, Program, task
from invoke.exceptions import Exit

from clawback import __version__, cli


def _finish(code: int) -> None:
    if code:
        raise Exit(code=code)


@task(
    auto_shortflags=False,
    help={name: help_text for name, (_, help_text) in cli.CONTAIN_OPTIONS.items()},
)
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
) -> None:
    """Contain a compromised agent now: evidence, stop, revoke keys, evidence, (cut network)."""
    _finish(cli.contain(
        playbook=playbook, config=config, dry_run=dry_run, cut_network=cut_network, yes=yes,
        resume=resume, confirm_manual=confirm_manual, json=json, incidents_dir=incidents_dir,
        hosts=hosts,
    ))


@task(
    auto_shortflags=False,
    help={
        "incident": "incident id or directory",
        "checkpoint": "a checkpoint you kept off the host (rules out truncation and rewrite)",
        "pubkey": "the signing public key (PEM) you trust; default: the one the timeline names",
        "json": "print the verdicts as JSON",
        "incidents-dir": "where incidents are kept",
    },
)
def verify(
    c: Any,
    incident: str,
    checkpoint: str | None = None,
    pubkey: str | None = None,
    json: bool = False,
    incidents_dir: str | None = None,
) -> None:
    """Prove an incident's timeline and evidence are intact (exit 0 intact, 1 tampered)."""
    _finish(cli.verify(incident, checkpoint=checkpoint, pubkey=pubkey, json=json,
                       incidents_dir=incidents_dir))


@task(
    auto_shortflags=False,
    help={
        "home": "the agent user's home directory (default: [agent] user_home, else yours)",
        "json": "print the inventory as JSON (fingerprints only)",
        "config": "clawback.toml: its [agent] table says where to look, as for contain",
    },
)
def discover(c: Any, home: str | None = None, json: bool = False,
             config: str | None = None) -> None:
    """List every secret the agent can reach, with where it was found (never the values)."""
    _finish(cli.discover(home=home, json=json, config=config))


@task(auto_shortflags=False,
      help={"json": "print the contain result as JSON instead of live progress"})
def demo(c: Any, json: bool = False) -> None:
    """Run the real contain playbook against an embedded sandbox (no root, loopback only)."""
    _finish(cli.demo(json=json))


@task(
    name="restore-network",
    auto_shortflags=False,
    help={
        "incident": "incident id or directory whose network cut to undo",
        "confirm": "keep the cut instead: you still have access, disarm the automatic rollback",
        "json": "print the outcome as JSON",
        "incidents-dir": "where incidents are kept",
        "hosts": "fleet incident: only these cut hosts (comma-separated names; default: all)",
        "config": "fleet incident: clawback.toml naming the hosts (default: the one it ran with)",
    },
)
def restore_network(c: Any, incident: str, confirm: bool = False, json: bool = False,
                    incidents_dir: str | None = None, hosts: str | None = None,
                    config: str | None = None) -> None:
    """Undo the network cut of an incident, or with --confirm keep it and disarm the rollback."""
    _finish(cli.restore_network(incident, confirm=confirm, json=json,
                                incidents_dir=incidents_dir, hosts=hosts, config=config))


@task(
    auto_shortflags=False,
    help={
        "preflight": "change nothing: prove each admin credential can do what contain needs",
        "config": "clawback.toml (default: ./clawback.toml, then $XDG_CONFIG_HOME/clawback/)",
        "json": "print the result as JSON",
        "dry-run": "show every rotation that would be made; change and write nothing",
        "resume": "finish drill ID after a crash: one live new key per credential, old ones dead",
        "confirm-manual": "with --resume: record every open manual step as done by you, now",
        "playbook": "drill playbook YAML (default: the packaged drill.yaml)",
        "incidents-dir": "where incidents are kept (default: $XDG_STATE_HOME/clawback/incidents)",
    },
)
def drill(c: Any, preflight: bool = False, config: str | None = None, json: bool = False,
          dry_run: bool = False, resume: str | None = None, confirm_manual: bool = False,
          playbook: str | None = None, incidents_dir: str | None = None) -> None:
    """The quarterly drill: rotate every key with zero downtime (--preflight changes nothing)."""
    _finish(cli.drill(preflight=preflight, config=config, json=json, dry_run=dry_run,
                      resume=resume, confirm_manual=confirm_manual, playbook=playbook,
                      incidents_dir=incidents_dir))


@task(
    auto_shortflags=False,
    help={
        "incident": "incident id or directory",
        "format": "comma-separated: md, html, timesketch (default: all three)",
        "checkpoint": "a checkpoint you kept off the host (the report says 'unanchored' without)",
        "pubkey": "the signing public key (PEM) you trust",
        "incidents-dir": "where incidents are kept",
    },
)
def report(c: Any, incident: str, format: str = "md,html,timesketch",
           checkpoint: str | None = None, pubkey: str | None = None,
           incidents_dir: str | None = None) -> None:
    """Write the post-incident report (Markdown, HTML, Timesketch JSONL) from the timeline."""
    _finish(cli.report(incident, format=format, checkpoint=checkpoint, pubkey=pubkey,
                       incidents_dir=incidents_dir))


@task(
    auto_shortflags=False,
    help={
        "home": "the agent user's home directory (default: [agent] user_home, else yours)",
        "format": "text, json or sarif",
        "fail-on": "exit 3 when a finding is at least this severe (critical, high, medium, low)",
        "config": "clawback.toml, for the contain-readiness checks",
    },
)
def audit(c: Any, home: str | None = None, format: str = "text", fail_on: str | None = None,
          config: str | None = None) -> None:
    """The hardening checklist, read-only: what is missing, and what would make contain fail."""
    _finish(cli.audit(home=home, format=format, fail_on=fail_on, config=config))


namespace = Collection(contain, verify, discover, demo, restore_network, drill, report, audit)


def build_program() -> Program:
    return Program(namespace=namespace, name="clawback", binary="clawback", version=__version__)
