"""``clawback audit``: the hardening checklist, checked on the real install, read-only.

``run_audit(user_home=…)`` returns an :class:`AuditReport`; ``render_text``, ``render_json`` and
``render_sarif`` present it, and ``AuditReport.exit_code("high")`` is the ``--fail-on`` verdict.
Checks live in ``clawback.audit.checks`` (one module per area) and register themselves with
``clawback.audit.model.check``; ``catalogue()`` lists them.
"""

from clawback.audit.context import HostSystem
from clawback.audit.model import (
    EXIT_FINDINGS_AT_THRESHOLD,
    AuditReport,
    CheckSpec,
    Finding,
    Severity,
    catalogue,
)
from clawback.audit.render import render_json, render_sarif, render_text
from clawback.audit.run import run_audit

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
