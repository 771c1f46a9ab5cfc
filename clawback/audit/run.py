"""``run_audit``: gather the facts once, run every registered check, merge OpenClaw's own audit.

A check that crashes is reported in ``AuditReport.problems`` by id and exception type only (an
exception message can quote file content, which may hold secrets); the other checks still run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clawback.audit.context import AuditContext, HostSystem
from clawback.audit.model import AuditReport, CheckSpec, Finding, Hit


def _finding(ctx: AuditContext, spec: CheckSpec, hit: Hit) -> Finding:
    # Checks print fingerprints only; scrubbing again is the last line of defence.
    return Finding(
        check_id=spec.id,
        severity=hit.severity or spec.severity,
        title=hit.title or spec.title,
        evidence=tuple(ctx.scrub(line) for line in hit.evidence),
        fix=hit.fix or spec.fix,
        area=spec.area,
        locations=hit.locations,
    )


def run_audit(
    *,
    user_home: Path,
    state_dirs: Sequence[Path] | None = None,
    settings: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    host: HostSystem | None = None,
    openclaw: Sequence[str] | None = None,
    registry: Any = None,
) -> AuditReport:
    """Audit the OpenClaw install of the user whose home is ``user_home``; read-only.

    ``state_dirs`` None means discover them; ``settings`` is the clawback config as a mapping
    (``agent``, ``providers`` and the optional ``audit`` table: ``spend_limits``); ``env`` is
    the agent's environment if known. ``host`` says where ``/etc`` lives and whether processes,
    sockets and the firewall are looked at (default: the real host, live). ``openclaw`` is the
    command that runs the OpenClaw CLI: None finds ``openclaw`` on PATH, ``()`` skips it.
    ``registry`` replaces the installed responder registry (for embedders).
    """
    from clawback.audit import openclaw_cli

    started = time.perf_counter()
    ctx = AuditContext(
        user_home=Path(user_home).absolute(),
        state_dirs=[Path(p) for p in state_dirs] if state_dirs is not None else None,
        settings=settings or {},
        env=dict(env or {}),
        host=host or HostSystem(),
        registry=registry,
    )
    command = openclaw_cli.default_command() if openclaw is None else tuple(openclaw)
    outcome = openclaw_cli.run(ctx, command) if command else None
    ctx.memo("openclaw_run", lambda: outcome)
    if outcome is not None:
        ctx.openclaw_version = outcome.version
        ctx.openclaw_version_source = outcome.version_source

    findings: list[Finding] = []
    problems: list[str] = []
    ran: list[str] = []
    specs: list[CheckSpec] = []
    from clawback.audit.checklist import catalogue, spec_for

    for registered in catalogue():
        spec = registered.spec
        specs.append(spec)
        try:
            hits = list(registered.run(ctx))
        except Exception as exc:  # one broken check must not hide the others' findings
            problems.append(f"check {spec.id} failed: {type(exc).__name__}")
            continue
        ran.append(spec.id)
        findings.extend(_finding(ctx, spec, hit) for hit in hits)
    if outcome is not None and outcome.findings:
        findings = openclaw_cli.merge(ctx, findings, outcome, spec_for)

    from clawback.audit.checks.version import observe_versions

    try:
        observed = observe_versions(ctx)
    except Exception as exc:
        problems.append(f"version lookup failed: {type(exc).__name__}")
        observed = []
    findings.sort(key=lambda f: (-f.severity.rank, f.check_id, f.evidence))
    return AuditReport(
        user_home=str(ctx.user_home),
        findings=tuple(findings),
        checks_run=tuple(ran),
        problems=tuple([*ctx.problems, *problems]),
        notes=tuple(dict.fromkeys([*ctx.survey.notes, *ctx.notes])),
        version=observed[0].version if observed else None,
        version_source=observed[0].source if observed else None,
        openclaw_audit_ran=bool(outcome and outcome.report is not None),
        duration_seconds=time.perf_counter() - started,
        specs=tuple(specs),
        auditor_uid=os.geteuid(),
    )
