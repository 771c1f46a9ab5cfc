"""Would ``clawback contain`` work here today? Every secret needs a responder that can kill it,
responders that act through an admin identity need that identity configured (as a reference),
and the evidence ``contain`` snapshots must be readable by whoever runs it.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from clawback.audit.context import AuditContext, is_dir, list_dir
from clawback.audit.model import Hit, Severity, check
from responders.interface import Capability, Credential

ACTING_CAPABILITIES = {Capability.REVOKE, Capability.DISABLE, Capability.ROTATE}
# Responders that act on this machine only (the agent's own files and processes), so they have
# no provider admin identity to configure.


def registry(ctx: AuditContext) -> Any:
    def load() -> Any:
        if ctx.registry is not None:
            return ctx.registry
        from clawback.registry import load_registry

        return load_registry()

    return ctx.memo("registry", load)


def _by_responder(ctx: AuditContext) -> dict[Any, list[Credential]]:
    grouped: dict[Any, list[Credential]] = defaultdict(list)
    for cred in ctx.credentials:
        grouped[registry(ctx).responder_for_provider(cred.provider)].append(cred)
    return grouped


def _summary(creds: list[Credential]) -> str:
    kinds = sorted({c.kind for c in creds})
    return f"{len(creds)} secret(s): {', '.join(kinds)}"


@check(
    "contain.unmapped_secret",
    Severity.HIGH,
    "Discovered secrets that no responder can revoke",
    fix="Install a responder plugin for the provider (entry point group clawback.responders), "
    "or write down the manual revocation steps and rotate these keys now.",
    area="readiness",
)
def unmapped_secret(ctx: AuditContext) -> Iterator[Hit]:
    creds = _by_responder(ctx).get(None, [])
    by_provider: dict[str, list[Credential]] = defaultdict(list)
    for cred in creds:
        by_provider[cred.provider].append(cred)
    if by_provider:
        yield Hit(
            evidence=tuple(
                f"{provider}: {_summary(found)}" for provider, found in sorted(by_provider.items())
            )
        )


@check(
    "contain.manual_only",
    Severity.LOW,
    "Some secrets can only be revoked by hand during containment",
    fix="Keep the provider's revocation steps at hand (contain prints them) or add a "
    "responder that revokes through the provider's API.",
    area="readiness",
)
def manual_only(ctx: AuditContext) -> Iterator[Hit]:
    evidence = []
    for responder, creds in _by_responder(ctx).items():
        if responder is None:
            continue
        if responder.fallback or not (set(responder.capabilities) & ACTING_CAPABILITIES):
            providers = sorted({c.provider for c in creds})
            evidence.append(f"{responder.name} (manual): {', '.join(providers)}: {_summary(creds)}")
    if evidence:
        yield Hit(evidence=tuple(evidence))


def _references(table: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for value in table.values():
        if isinstance(value, str) and value.startswith(("keyring:", "env:")):
            found.append(value)
        elif isinstance(value, Mapping):
            found += _references(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    found += _references(item)
    return found


def needs_admin_credential(responder: Any) -> bool:
    """Whether ``contain`` acts through an admin identity of this responder's provider: it
    talks to a provider's API (``needs_config``, not the guided fallback) and can prove its
    permissions (``preflight``). Asked through the contract, never by the responder's name."""
    if responder is None:
        return False
    return (
        bool(responder.needs_config) and not responder.fallback
        and Capability.PREFLIGHT in set(responder.capabilities)
    )


@check(
    "contain.admin_credentials_missing",
    Severity.HIGH,
    "A responder has no admin credential configured",
    fix="Add [providers.<name>] to clawback.toml with the admin credential as a reference "
    "(keyring:SERVICE/USER or env:NAME), then prove it with `clawback drill --preflight`.",
    area="readiness",
)
def admin_credentials_missing(ctx: AuditContext) -> Iterator[Hit]:
    for responder, creds in _by_responder(ctx).items():
        if not needs_admin_credential(responder):
            continue
        table = ctx.provider_settings.get(responder.name)
        if not isinstance(table, Mapping):
            yield Hit(
                evidence=(
                    f"[providers.{responder.name}] is missing; {_summary(creds)} depend on it",
                )
            )
            continue
        references = _references(table)
        if not references and not table.get("profile"):
            yield Hit(
                evidence=(
                    f"[providers.{responder.name}] names no credential reference "
                    f"(keyring:… or env:…); {_summary(creds)} depend on it",
                )
            )
            continue
        unset = [
            r for r in references
            if r.startswith("env:") and not os.environ.get(r.removeprefix("env:"))
        ]  # fmt: skip
        if unset:
            yield Hit(
                evidence=tuple(
                    f"[providers.{responder.name}] {r}: not set in this environment" for r in unset
                ),
                severity=Severity.MEDIUM,
                title="An admin credential reference does not resolve here",
            )


def evidence_paths(ctx: AuditContext) -> list[Path]:
    paths: list[Path] = []
    for state in ctx.state_dir_paths:
        paths += [state, state / "logs", state / "cron", state / "credentials"]
        for agent in list_dir(state / "agents"):
            paths += [agent / "sessions", agent / "agent"]
    for config in ctx.configs:
        paths += list(config.files)
    for tmp in ctx.tmp_dirs:
        paths.append(tmp / "openclaw")
    return [p for p in dict.fromkeys(paths) if os.path.lexists(p)]


def configured_state_dirs(ctx: AuditContext) -> list[Path]:
    named = list(ctx.state_dirs or [])
    named += [Path(str(p)) for p in ctx.agent_settings.get("state_dirs") or []]
    return list(dict.fromkeys(named))


def _blocked_ancestor(path: Path) -> Path | None:
    """The nearest existing ancestor this user cannot search, hiding ``path``."""
    for parent in path.parents:
        if os.path.lexists(parent):
            return None if os.access(parent, os.X_OK) else parent
    return None


@check(
    "contain.evidence_unreadable",
    Severity.HIGH,
    "Evidence that contain must snapshot is not readable by this user",
    fix="Run clawback as root or as the agent's user (or give it read access to the state "
    "dir, its logs and /tmp/openclaw); otherwise the snapshot misses them.",
    area="readiness",
)
def evidence_unreadable(ctx: AuditContext) -> Iterator[Hit]:
    uid = os.geteuid()
    unreadable = []
    for state in configured_state_dirs(ctx):
        blocked = _blocked_ancestor(state)
        if not os.path.lexists(state) and blocked is not None:
            unreadable.append(f"{state}: cannot be reached by uid {uid} ({blocked} is closed)")
    for path in evidence_paths(ctx):
        wanted = os.R_OK | (os.X_OK if is_dir(path) else 0)
        if not os.access(path, wanted):
            unreadable.append(f"{path}: not readable by uid {uid}")
    if unreadable:
        yield Hit(evidence=tuple(unreadable))


def _supervised_now(ctx: AuditContext) -> bool:
    """Whether a running gateway of this install is under a supervisor contain stops it
    through (supervisord, systemd, docker): then there is a stop path, unit file or not."""
    from clawback.audit.checks.host import gateway_processes
    from clawback.registry import load_host

    host = load_host()
    return any(host.supervisor_of(facts.pid) is not None for facts in gateway_processes(ctx))


@check(
    "contain.no_stop_path",
    Severity.MEDIUM,
    "No supervisor is known for the gateway",
    fix="Name the service in clawback.toml ([[agent.services]] kind/name), or install the "
    "gateway as a service (openclaw gateway install) so contain can stop it for good.",
    area="readiness",
)
def no_stop_path(ctx: AuditContext) -> Iterator[Hit]:
    if not ctx.configs:
        return
    configured = ctx.agent_settings.get("services")
    if ctx.survey.services or configured or _supervised_now(ctx):
        return
    yield Hit(
        evidence=(
            "no systemd unit, LaunchAgent, scheduled task or [[agent.services]] entry found; "
            "contain could only kill the process, which a supervisor may restart",
        )
    )
