"""What discovery found: the ``Inventory`` and the records in it (services, gateways, lock
files, references). Fingerprints and names only: ``as_dict()`` never holds a value."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from responders.interface import Credential
from responders.openclaw.agent_paths import real_dir


@dataclass(frozen=True)
class Service:
    """A service definition that runs (or ran) the gateway. Variable names only, no values."""

    kind: str  # systemd-user | systemd | launchd | schtasks
    name: str  # unit file name, launchd label or scheduled-task name
    path: str
    state_dir: str | None = None
    environment: tuple[str, ...] = ()
    version: str | None = None

    def as_setting(self) -> dict[str, Any]:
        """The ``[[agent.services]]`` entry the stop action understands."""
        setting: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.kind.startswith("systemd"):
            setting["unit"] = self.name
        elif self.kind == "launchd":
            setting["label"] = self.name
        return setting


@dataclass(frozen=True)
class GatewayFacts:
    """How one state dir's gateway is exposed. No secret values, only modes and numbers."""

    state_dir: str
    config_path: str | None
    mode: str | None
    bind: str | None
    port: int
    port_source: str  # service-env | env | config | profile-default | default
    auth_mode: str | None
    tailscale_mode: str | None
    version: str | None
    agent_ids: tuple[str, ...]


@dataclass(frozen=True)
class GatewayLock:
    path: str
    pid: int | None
    config_path: str | None
    created_at: str | None
    alive: bool


@dataclass(frozen=True)
class SecretReference:
    """A config value that points at a secret instead of holding it."""

    path: str
    key: str
    source: str  # env-substitution | env | file | exec
    target: str  # variable name, or "<provider>:<id>" for SecretRefs
    resolved: str | None = None  # fingerprint of the value it resolves to, if found


@dataclass(frozen=True)
class Inventory:
    credentials: tuple[Credential, ...]
    state_dirs: tuple[Path, ...]
    config_paths: tuple[Path, ...] = ()
    services: tuple[Service, ...] = ()
    gateways: tuple[GatewayFacts, ...] = ()
    gateway_locks: tuple[GatewayLock, ...] = ()
    references: tuple[SecretReference, ...] = ()
    notes: tuple[str, ...] = ()
    # Free text ``discover(free_text=False)`` left for ``discover_deferred``.
    deferred: tuple[Path, ...] = ()

    @property
    def found_install(self) -> bool:
        """Whether an OpenClaw install was found at all: a state dir, a config or a service.
        Nothing found is not all clear: most often clawback looked in the wrong home."""
        return bool(self.config_paths or self.services
                    or any(real_dir(Path(p)) for p in self.state_dirs))

    @property
    def gateway(self) -> GatewayFacts | None:
        """The primary gateway (the first state dir's)."""
        return self.gateways[0] if self.gateways else None

    def by_provider(self) -> dict[str, tuple[Credential, ...]]:
        grouped: dict[str, list[Credential]] = defaultdict(list)
        for cred in self.credentials:
            grouped[cred.provider].append(cred)
        return {provider: tuple(creds) for provider, creds in sorted(grouped.items())}

    def find(self, fingerprint_: str) -> Credential | None:
        return next((c for c in self.credentials if c.fingerprint == fingerprint_), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe view for ``clawback discover --json``: fingerprints, never values."""
        return {
            "summary": dict(sorted(Counter(c.provider for c in self.credentials).items())),
            "credentials": [c.describe() for c in self.credentials],
            "state_dirs": [str(p) for p in self.state_dirs],
            "config_paths": [str(p) for p in self.config_paths],
            "services": [
                {
                    "kind": s.kind,
                    "name": s.name,
                    "path": s.path,
                    "state_dir": s.state_dir,
                    "environment": list(s.environment),
                    "version": s.version,
                }
                for s in self.services
            ],
            "gateways": [
                {
                    "state_dir": g.state_dir,
                    "config_path": g.config_path,
                    "mode": g.mode,
                    "bind": g.bind,
                    "port": g.port,
                    "port_source": g.port_source,
                    "auth_mode": g.auth_mode,
                    "tailscale_mode": g.tailscale_mode,
                    "version": g.version,
                    "agent_ids": list(g.agent_ids),
                }
                for g in self.gateways
            ],
            "gateway_locks": [
                {
                    "path": lock.path,
                    "pid": lock.pid,
                    "config_path": lock.config_path,
                    "created_at": lock.created_at,
                    "alive": lock.alive,
                }
                for lock in self.gateway_locks
            ],
            "references": [
                {
                    "path": r.path,
                    "key": r.key,
                    "source": r.source,
                    "target": r.target,
                    "resolved": r.resolved,
                }
                for r in self.references
            ],
            "notes": list(self.notes),
        }
