"""``clawback audit``: the hardening checklist, checked on the real install, read-only.

``run_audit(user_home=…)`` returns an :class:`AuditReport`; ``render_text``, ``render_json`` and
``render_sarif`` present it, and ``AuditReport.exit_code("high")`` is the ``--fail-on`` verdict.
Checks live in ``clawback.audit.checks`` (one module per area), each described with
``clawback.audit.model.check``; ``clawback.audit.checklist`` lists the ones the audit runs, and
``catalogue()`` returns that list.
"""

from clawback.audit.context import HostSystem
from clawback.audit.model import (
    EXIT_FINDINGS_AT_THRESHOLD,
    AuditReport,
    CheckSpec,
    Finding,
    RegisteredCheck,
    Severity,
)
from clawback.audit.render import render_json, render_sarif, render_text
from clawback.audit.run import run_audit


def catalogue() -> tuple[RegisteredCheck, ...]:
    """Every check the audit runs, in order (imports the check modules)."""
    from clawback.audit.checklist import catalogue as listed

    return listed()


__all__ = [
    "EXIT_FINDINGS_AT_THRESHOLD",
    "AuditReport",
    "CheckSpec",
    "Finding",
    "HostSystem",
    "Severity",
    "catalogue",
    "render_json",
    "render_sarif",
    "render_text",
    "run_audit",
]
