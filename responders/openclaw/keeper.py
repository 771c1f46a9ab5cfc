"""OpenClaw as the engine's ``AgentKeeper`` (entry point ``clawback.agents: openclaw``).

Importing this module imports discovery only (the panic path discovers first); the file
switching the drill needs (``switching``) is imported on first use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from responders.interface import (
    AgentConfig,
    AgentInventory,
    AgentLock,
    AgentService,
    AgentSurvey,
    ConfigFile,
    Credential,
    SecretValue,
    SwitchBlocker,
)
from responders.openclaw import discovery
from responders.openclaw.layout import CONFIG_NAMES

if TYPE_CHECKING:
    from responders.agent_files import AgentFiles
    from responders.backups import BackupStore
    from responders.interface import AgentKeeper
    from responders.openclaw.switching import Replacement


class OpenClawKeeper:
    name = "openclaw"
    config_names: tuple[str, ...] = CONFIG_NAMES

    def discover(
        self, agent: Mapping[str, Any], user_home: Path | None = None, *,
        free_text: bool = True, budget_seconds: float | None = None,
    ) -> discovery.Inventory:
        return discovery.discover_agent(agent, user_home, free_text=free_text,
                                        budget_seconds=budget_seconds)

    def discover_deferred(
        self, first: AgentInventory, agent: Mapping[str, Any], *,
        budget_seconds: float | None = None,
    ) -> discovery.Inventory:
        uid = agent.get("uid")
        return discovery.discover_deferred(
            first.deferred,
            user_home=Path(agent.get("user_home") or Path.home()),
            state_dirs=[Path(p) for p in agent.get("state_dirs") or []] or None,
            tmp_dirs=[Path(p) for p in agent.get("tmp_dirs") or ["/tmp"]],
            uid=uid if isinstance(uid, int) else None,
            budget_seconds=budget_seconds,
            known=[c.fingerprint for c in first.credentials],
        )

    def workspace_dirs(self, state_dir: Path, user_home: Path,
                       files: AgentFiles | None = None) -> list[Path]:
        return discovery.workspace_dirs(state_dir, user_home, files)

    def survey(
        self, *, user_home: Path, state_dirs: Sequence[Path] | None = None,
        tmp_dirs: Sequence[Path] = (), env: Mapping[str, str] | None = None,
        system_root: Path = Path("/"),
    ) -> AgentSurvey:
        found = discovery.discover(
            user_home=user_home, state_dirs=state_dirs, tmp_dirs=tmp_dirs, env=env,
            system_service_dirs=[system_root / str(d).lstrip("/")
                                 for d in discovery.SYSTEM_SERVICE_DIRS],
        )
        # A config belongs to the state dir whose gateway reads it; a stray one to its folder.
        state_of = {g.config_path: Path(g.state_dir) for g in found.gateways if g.config_path}
        configs = []
        for path in found.config_paths:
            loaded = discovery.load_config(path)
            configs.append(AgentConfig(
                path=path, state_dir=state_of.get(str(path), path.parent), merged=loaded.merged,
                files=tuple(ConfigFile(part.path, part.data, part.mount) for part in loaded.parts),
                problems=loaded.problems,
            ))
        return AgentSurvey(
            credentials=found.credentials,
            state_dirs=found.state_dirs,
            configs=tuple(configs),
            services=tuple(AgentService(s.kind, s.name, s.path, s.version)
                           for s in found.services),
            ports=tuple(dict.fromkeys(g.port for g in found.gateways)),
            locks=tuple(AgentLock(lock.path, lock.pid, lock.alive)
                        for lock in found.gateway_locks),
            notes=found.notes,
        )

    def process_signature(self, name: str, cmdline: Sequence[str]) -> str | None:
        from responders.hostprobes.gateway import gateway_signature

        return gateway_signature(name, cmdline)

    def agent_files(self, settings: Mapping[str, Any]) -> AgentFiles:
        from responders.openclaw.settings import agent_files_for

        return agent_files_for(settings)

    def backups(self, incident_dir: Path) -> BackupStore:
        from responders.backups import BackupStore

        return BackupStore(incident_dir)

    def switch_blockers(self, cred: Credential) -> list[SwitchBlocker]:
        from responders.openclaw.switching import switch_blockers

        return [SwitchBlocker(location, why) for location, why in switch_blockers(cred)]

    def write_replacement(
        self, cred: Credential, new: SecretValue, backups: BackupStore, *,
        old: SecretValue | None = None, companions: Sequence[tuple[str, str]] = (),
        files: AgentFiles | None = None,
    ) -> Replacement:
        from responders.openclaw.switching import write_replacement

        return write_replacement(cred, new, backups, old=old, companions=companions, files=files)


if TYPE_CHECKING:
    # mypy holds the keeper to the contract the engine finds it by.
    _KEEPER: AgentKeeper = OpenClawKeeper()
