"""``clawback drill --preflight``: prove, without changing anything, that the panic button works.

It asks what the real ``contain`` would meet, and answers with the exit code contain would give:

* can the keyring keep the timeline's signing key (else the incident signs with a key file of
  its own, degraded mode);
* does every admin credential reference resolve (else that provider's keys become manual);
* can each configured admin credential really do what ``contain`` needs (each responder's
  ``preflight()``, read-only probes);
* what would the playbook do here: its dry run, the same plan ``contain --dry-run`` shows (the
  agent found or not, each key revoked by API or left to a human).

Exit 0 when contain would finish everything, 3 when it would leave something to a human.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from clawback.errors import EXIT_OK, EXIT_PARTIAL
from clawback.runner import (
    RateLimitedFanOut,
    SilentReporter,
    TargetResult,
    concurrent_fan_out,
    outcome_summary,
)
from responders.interface import PreflightCheck, Responder, ResponderContext, ResponderError


@dataclass(frozen=True)
class KeyCoverage:
    """How one discovered secret would be handled by ``contain``."""

    provider: str
    kind: str
    fingerprint: str
    handled_by: str  # responder name, or "" when nobody can act
    mode: str  # "api" | "manual" | "unconfigured" | "unusable" | "none"


@dataclass(frozen=True)
class RequiredPermissions:
    """What one responder's admin credential must be allowed to do for ``contain`` (its
    ``Responder.setup``), said whether or not the provider could be reached."""

    provider: str
    permissions: tuple[str, ...]
    console: str = ""
    configured: bool = False
    keys_found: int = 0


@dataclass
class PreflightReport:
    checks: list[PreflightCheck] = field(default_factory=list)
    coverage: list[KeyCoverage] = field(default_factory=list)
    # The dry run's results: what contain would do here, step by step and key by key.
    plan: list[TargetResult] = field(default_factory=list)
    # Every API responder's required permissions: a provider that could not be reached (or is
    # not configured yet) still says what its admin credential needs.
    permissions: list[RequiredPermissions] = field(default_factory=list)
    agent_home: str = ""
    install_found: bool = True

    @property
    def failed_checks(self) -> list[PreflightCheck]:
        return [c for c in self.checks if not c.ok]

    @property
    def uncovered(self) -> list[KeyCoverage]:
        """Keys contain could revoke automatically if their provider were configured."""
        return [k for k in self.coverage if k.mode in ("unconfigured", "unusable", "none")]

    @property
    def left_to_you(self) -> list[TargetResult]:
        """What the real run would leave to a human (the dry run's manual and failed items)."""
        return [r for r in self.plan
                if r.outcome.status in ("manual", "failed", "refused", "unproven")]

    @property
    def ok(self) -> bool:
        """Nothing to fix in clawback's own set-up (config, keyring, admin permissions)."""
        return not self.failed_checks and not self.uncovered

    @property
    def exit_code(self) -> int:
        """The exit code the real ``contain`` would give."""
        return EXIT_OK if self.ok and not self.left_to_you else EXIT_PARTIAL

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "agent_home": self.agent_home,
            "openclaw_found": self.install_found,
            "checks": [
                {"provider": c.provider, "capability": c.capability, "ok": c.ok,
                 "detail": c.detail, "missing_permission": c.missing_permission}
                for c in self.checks
            ],
            "coverage": [k.__dict__ for k in self.coverage],
            "permissions": [
                {"provider": r.provider, "permissions": list(r.permissions),
                 "console": r.console, "configured": r.configured, "keys_found": r.keys_found}
                for r in self.permissions
            ],
            "left_to_you": [
                {"step": r.step, "action": r.action, "target": r.target,
                 "outcome": r.outcome.name, "what_to_do": outcome_summary(r.outcome)}
                for r in self.left_to_you
            ],
        }


def run_preflight(prepared: Any) -> PreflightReport:
    """``prepared`` is ``clawback.contain.prepare``'s result; nothing is written or changed."""
    from clawback.contain import run
    from clawback.signing import keyring_problem

    registry = prepared.registry
    configured = set(prepared.config.providers)
    unusable: dict[str, str] = dict(prepared.unusable)
    report = PreflightReport(
        agent_home=str((prepared.settings.get("agent") or {}).get("user_home") or "~"))

    problem = keyring_problem()
    report.checks.append(PreflightCheck(
        "keyring", "keep the signing key", problem is None,
        detail=problem or "the incident would be signed by this installation's key"))
    for name, reason in sorted(unusable.items()):
        report.checks.append(PreflightCheck(name, "admin credential", False, detail=reason))

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

    responders = [cls for cls in registry.key_responders
                  if cls.name in configured and cls.name not in unusable]
    for checks in concurrent_fan_out(check, responders):
        if isinstance(checks, list):
            report.checks.extend(checks)

    report.install_found = prepared.inventory.found_install
    report.checks.append(PreflightCheck(
        "agent", "OpenClaw install found", report.install_found,
        detail=f"under {report.agent_home}" if report.install_found else
        f"nothing under {report.agent_home}: if the agent runs as another user, give its home "
        "(--home DIR, or [agent] user_home in clawback.toml)"))

    found = prepared.full_inventory().credentials
    report.permissions = _required_permissions(registry, found, configured)
    for cred in found:
        cls = registry.responder_for_provider(cred.provider)
        if cls is None:
            mode, name = "none", ""
        elif cls.fallback:
            mode, name = "manual", cls.name
        elif cls.name in unusable:
            mode, name = "unusable", cls.name
        elif cls.needs_config and cls.name not in configured:
            mode, name = "unconfigured", cls.name
        else:
            mode, name = "api", cls.name
        report.coverage.append(KeyCoverage(cred.provider, cred.kind, cred.fingerprint, name, mode))

    # The playbook's own dry run: what contain --dry-run would show, and its exit code.
    dry = dataclasses.replace(prepared, request=dataclasses.replace(prepared.request,
                                                                    dry_run=True))
    report.plan = list(run(dry, SilentReporter()).results)
    return report


def _required_permissions(registry: Any, found: Any, configured: set[str]
                          ) -> list[RequiredPermissions]:
    """Each API responder's ``setup()`` permissions, for the keys found of its providers."""
    listed: list[RequiredPermissions] = []
    for cls in registry.key_responders:
        if cls.fallback or not cls.providers:
            continue
        mine = [c for c in found if c.provider in cls.providers]
        try:
            setup = cls.setup(mine)
        except Exception:  # a responder bug must not hide the other providers
            continue
        if setup is not None and setup.permissions:
            listed.append(RequiredPermissions(cls.name, tuple(setup.permissions), setup.console,
                                              cls.name in configured, len(mine)))
    return sorted(listed, key=lambda r: r.provider)
