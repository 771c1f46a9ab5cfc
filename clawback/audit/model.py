"""What an audit produces: severities, findings, the check catalogue and the report.

A *check* is a function described with :func:`check` under a stable id and listed in
``clawback.audit.checklist``. It reads facts from an
``AuditContext`` and yields :class:`Hit` objects; the runner turns each hit into a
:class:`Finding` carrying the check's id, severity and fix. Evidence strings hold file:key
places, modes, versions and fingerprints only, never a secret value.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clawback.errors import BadInput
from responders.interface import Location

if TYPE_CHECKING:
    from clawback.audit.context import AuditContext

# `--fail-on` matched: the owner has hardening work to do before trusting `contain`. 1 stays
# "internal error" as for every other command, so a crashed audit never reads as a verdict.
EXIT_FINDINGS_AT_THRESHOLD = 3


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise BadInput(
                f"unknown severity {text!r}: expected one of {', '.join(s.value for s in cls)}"
            ) from None


_RANKS = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


@dataclass(frozen=True)
class CheckSpec:
    """A check's identity. ``openclaw_ids`` are ``openclaw security audit`` checkIds (glob
    patterns) reporting the same weakness, so a merged run shows it once."""

    id: str
    severity: Severity
    title: str
    fix: str
    area: str
    openclaw_ids: tuple[str, ...] = ()

    def covers(self, openclaw_check_id: str) -> bool:
        return any(fnmatch.fnmatchcase(openclaw_check_id, p) for p in self.openclaw_ids)


@dataclass(frozen=True)
class Hit:
    """One occurrence a check found. ``severity``/``title``/``fix`` override the spec's."""

    evidence: tuple[str, ...]
    locations: tuple[Location, ...] = ()
    severity: Severity | None = None
    title: str | None = None
    fix: str | None = None


@dataclass(frozen=True)
class Finding:
    check_id: str
    severity: Severity
    title: str
    evidence: tuple[str, ...]
    fix: str
    area: str
    locations: tuple[Location, ...] = ()
    source: str = "clawback"  # or "openclaw" for findings merged from `openclaw security audit`
    openclaw_ids: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.check_id,
            "severity": self.severity.value,
            "title": self.title,
            "area": self.area,
            "evidence": list(self.evidence),
            "fix": self.fix,
            "locations": [{"path": loc.path, "key": loc.key} for loc in self.locations],
            "source": self.source,
            "openclaw_check_ids": list(self.openclaw_ids),
        }


CheckFunction = Callable[["AuditContext"], Iterable[Hit]]


@dataclass(frozen=True)
class RegisteredCheck:
    """A check function with its spec; calling it runs the check. The audit runs the ones
    listed in ``clawback.audit.checklist`` (an explicit list: importing a module registers
    nothing)."""

    spec: CheckSpec
    run: CheckFunction

    def __call__(self, ctx: AuditContext) -> Iterable[Hit]:
        return self.run(ctx)


def check(
    id: str,
    severity: Severity,
    title: str,
    *,
    fix: str,
    area: str,
    openclaw_ids: Iterable[str] = (),
) -> Callable[[CheckFunction], RegisteredCheck]:
    """Give a check its stable id (ids are public: SARIF rule ids, `--fail-on` users); list it
    in ``clawback.audit.checklist.CHECKS`` to have the audit run it."""

    def describe(func: CheckFunction) -> RegisteredCheck:
        return RegisteredCheck(CheckSpec(id, severity, title, fix, area, tuple(openclaw_ids)), func)

    return describe


@dataclass(frozen=True)
class AuditReport:
    user_home: str
    findings: tuple[Finding, ...]
    checks_run: tuple[str, ...]
    # Checks that could not run (a crash is reported, never hidden) and facts worth knowing.
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    version: str | None = None
    version_source: str | None = None
    openclaw_audit_ran: bool = False
    duration_seconds: float = 0.0
    auditor_uid: int | None = None
    specs: tuple[CheckSpec, ...] = field(default=(), repr=False)

    def ids(self) -> set[str]:
        return {f.check_id for f in self.findings}

    def by_id(self, check_id: str) -> list[Finding]:
        return [f for f in self.findings if f.check_id == check_id]

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Severity}
        for finding in self.findings:
            counts[finding.severity.value] += 1
        return counts

    def exit_code(self, fail_on: str | None) -> int:
        """0, or ``EXIT_FINDINGS_AT_THRESHOLD`` (3) when a finding is at least ``fail_on``.

        ``None`` never fails (report only). An unknown severity raises ``BadInput`` (exit 2).
        """
        if fail_on is None:
            return 0
        threshold = Severity.parse(fail_on)
        if any(f.severity.rank >= threshold.rank for f in self.findings):
            return EXIT_FINDINGS_AT_THRESHOLD
        return 0
