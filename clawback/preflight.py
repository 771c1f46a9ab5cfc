"""``clawback drill --preflight``: prove, without changing anything, that the panic button works.

Two questions: can each configured admin credential really do what ``contain`` needs (each
responder's ``preflight()``, read-only probes), and does every secret discovery finds map to a
responder clawback can act with? The answer is a table provider × capability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clawback.runner import RateLimitedFanOut, concurrent_fan_out
from responders.interface import PreflightCheck, Responder, ResponderContext, ResponderError


@dataclass(frozen=True)
class KeyCoverage:
    """How one discovered secret would be handled by ``contain``."""

    provider: str
    kind: str
    fingerprint: str
    handled_by: str  # responder name, or "" when nobody can act
    mode: str  # "api" | "manual" | "unconfigured" | "none"


@dataclass
class PreflightReport:
    checks: list[PreflightCheck] = field(default_factory=list)
    coverage: list[KeyCoverage] = field(default_factory=list)

    @property
    def failed_checks(self) -> list[PreflightCheck]:
        return [c for c in self.checks if not c.ok]

    @property
    def uncovered(self) -> list[KeyCoverage]:
        """Keys contain could revoke automatically if their provider were configured."""
        return [k for k in self.coverage if k.mode in ("unconfigured", "none")]

    @property
    def ok(self) -> bool:
        return not self.failed_checks and not self.uncovered

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 3

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [
                {"provider": c.provider, "capability": c.capability, "ok": c.ok,
                 "detail": c.detail, "missing_permission": c.missing_permission}
                for c in self.checks
            ],
            "coverage": [k.__dict__ for k in self.coverage],
        }


def run_preflight(prepared: Any) -> PreflightReport:
    """``prepared`` is ``clawback.contain.prepare``'s result; nothing is written or changed."""
    registry = prepared.registry
    configured = set(prepared.config.providers)
    report = PreflightReport()

    def check(cls: type[Responder]) -> list[PreflightCheck]:
        context = ResponderContext(
            config=prepared.config.provider(cls.name), secrets=prepared.store, dry_run=True,
            fan_out=RateLimitedFanOut(cls.rate_limit), settings=prepared.settings,
        )
        try:
            return list(cls(context).preflight())
        except ResponderError as exc:
            return [PreflightCheck(cls.name, "config", False, detail=str(exc))]
        except Exception as exc:  # a responder bug must not hide the other providers
            return [PreflightCheck(cls.name, "preflight", False,
                                   detail=f"{type(exc).__name__}: {exc}")]

    responders = [cls for cls in registry.key_responders if cls.name in configured]
    for checks in concurrent_fan_out(check, responders):
        if isinstance(checks, list):
            report.checks.extend(checks)

    for cred in prepared.credentials():
        cls = registry.responder_for_provider(cred.provider)
        if cls is None:
            mode, name = "none", ""
        elif cls.fallback:
            mode, name = "manual", cls.name
        elif cls.name not in configured:
            mode, name = "unconfigured", cls.name
        else:
            mode, name = "api", cls.name
        report.coverage.append(KeyCoverage(cred.provider, cred.kind, cred.fingerprint, name, mode))
    return report
