"""The budgeted discovery pass over one install (``Discovery``): the order in which the
state dirs, their stores, the user's files, compose files, ``exec`` scripts and temp dirs
are scanned, each by the scanner of its kind, and the ``Inventory`` made of what was found."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from responders.agent_files import AgentFiles
from responders.kit import secret_patterns as sp
from responders.kit.secret_patterns import Confidence, Recognition
from responders.openclaw.agent_paths import expand_user
from responders.openclaw.config_load import LoadedConfig, config_workspaces
from responders.openclaw.hinters import (
    auth_store_hinter,
    config_hinter,
    constant,
    fixed_hinter,
    flat_auth_hinter,
    top_key,
)
from responders.openclaw.inventory import GatewayFacts, GatewayLock, Inventory
from responders.openclaw.kinds import (
    KIND_DEVICE_KEY,
    KIND_DEVICE_TOKEN,
    KIND_EXEC_APPROVALS_TOKEN,
    KIND_NODE_TOKEN,
    KIND_SIDECAR_KEY,
    KIND_WHATSAPP,
)
from responders.openclaw.layout import (
    CONFIG_NAMES,
    DEFAULT_GATEWAY_PORT,
    DEV_GATEWAY_PORT,
    PRODUCT_WORDS,
    STATE_DIR_NAMES,
)
from responders.openclaw.scan_config import ConfigScans
from responders.openclaw.scan_resolve import Resolution
from responders.openclaw.scan_services import ServiceScans
from responders.openclaw.scan_text import TextScans


class Discovery(ConfigScans, ServiceScans, TextScans, Resolution):
    """One pass: each scanner is the mixin of its kind; this class walks the install."""

    def candidate_state_dirs(self) -> list[Path]:
        found: list[Path] = []

        def add(path: Path) -> None:
            kind = self.files.kind(path)
            if kind == "symbolic link":
                # ~/.openclaw pointing elsewhere: the agent could point it at anything.
                self.note_refused(path, kind)
            elif kind == "directory" and all(
                os.path.abspath(path) != os.path.abspath(p) for p in found
            ):
                found.append(path)

        for name in ("OPENCLAW_STATE_DIR", "CLAWDBOT_STATE_DIR"):
            if self.env.get(name):
                add(expand_user(self.env[name], self.user_home))
        for _service, environment in self.service_envs:
            for name in ("OPENCLAW_STATE_DIR", "CLAWDBOT_STATE_DIR"):
                if environment.get(name):
                    add(expand_user(environment[name], self.user_home))
        home = (
            expand_user(self.env["OPENCLAW_HOME"], self.user_home)
            if self.env.get("OPENCLAW_HOME")
            else self.user_home
        )
        add(home / ".openclaw")
        for path in self.list_dir(home):
            if not path.name.startswith(".openclaw-"):
                continue
            if self.files.kind(path) == "symbolic link":
                self.note_refused(path, "symbolic link")
            elif _looks_like_state_dir(self.files, path):
                add(path)
        for name in STATE_DIR_NAMES[1:]:
            add(home / name)
        return found

    def is_env_state_dir(self, state: Path) -> bool:
        """Whether ``env`` (the agent's environment) describes this state dir's gateway."""
        explicit = self.env.get("OPENCLAW_STATE_DIR") or self.env.get("CLAWDBOT_STATE_DIR")
        if explicit:
            return os.path.abspath(expand_user(explicit, self.user_home)) == os.path.abspath(
                state
            )
        return state.name == ".openclaw"

    def config_overrides(self) -> list[Path]:
        """``OPENCLAW_CONFIG_PATH`` from the environment and from every service definition."""
        found = []
        for environment in [self.env, *(env for _svc, env in self.service_envs)]:
            value = environment.get("OPENCLAW_CONFIG_PATH") or environment.get(
                "CLAWDBOT_CONFIG_PATH"
            )
            if value:
                found.append(expand_user(value, self.user_home))
        return found

    def scan_state_dir(self, state: Path) -> None:
        configs = [
            path
            for path in self.config_overrides()
            if os.path.abspath(path.parent) == os.path.abspath(state) and self.is_file(path)
        ]
        configs.extend(state / name for name in CONFIG_NAMES if self.is_file(state / name))
        primary: LoadedConfig | None = None
        for config in configs:
            loaded = self.scan_config(config)
            if config not in self.config_paths:
                self.config_paths.append(config)
            primary = primary or loaded
        for path in self.list_dir(state):
            if any(path.name.startswith(f"{name}.bak") for name in CONFIG_NAMES):
                self.scan_config(path)
        merged: Mapping[str, Any] = primary.merged if primary else {}

        self.scan_dotenv(state / ".env")
        self.scan_json_file(state / "secrets.json", lambda p: (sp.recognize_config_path(p), None))

        agent_ids = _agent_ids(self.files, state, merged)
        agent_dirs = [state / "agents" / agent / "agent" for agent in agent_ids]
        for name in ("OPENCLAW_AGENT_DIR", "PI_CODING_AGENT_DIR"):
            if self.env.get(name):
                agent_dirs.append(expand_user(self.env[name], self.user_home))
        for agent_dir in agent_dirs:
            self.scan_json_file(agent_dir / "auth-profiles.json", hinter_for=auth_store_hinter)
            self.scan_json_file(agent_dir / "auth.json", flat_auth_hinter)
            self.scan_json_file(agent_dir / "models.json", config_hinter(()))
            if self.is_file(agent_dir / "openclaw-agent.sqlite"):
                self.scan_sqlite(agent_dir / "openclaw-agent.sqlite")
        for agent in agent_ids:
            for transcript in self.list_dir(state / "agents" / agent / "sessions"):
                if ".jsonl" in transcript.name:
                    self.scan_text(transcript)
        if self.is_file(state / "state" / "openclaw.sqlite"):
            self.scan_sqlite(state / "state" / "openclaw.sqlite")
        for db in self.list_dir(state / "memory"):
            if db.suffix == ".sqlite":
                self.scan_sqlite(db)

        self.scan_credentials_dir(
            expand_user(self.env["OPENCLAW_OAUTH_DIR"], self.user_home)
            if self.env.get("OPENCLAW_OAUTH_DIR")
            else state / "credentials"
        )
        self.scan_pairing_stores(state)
        # A job's message is free text the agent acts on: a webhook URL or a key pasted there
        # is in the middle of a sentence.
        self.scan_json_file(state / "cron" / "jobs.json", text_in_strings=True)
        for run_log in self.list_dir(state / "cron" / "runs"):
            self.scan_log(run_log)
        for log in self.list_dir(state / "logs"):
            if self.is_file(log):
                self.scan_log(log)
        if self.is_file(state / "gateway.cmd"):
            self.scan_gateway_cmd(state / "gateway.cmd", state)
        for workspace in config_workspaces(state, merged, self.user_home):
            self.scan_dotenv(workspace / ".env")
            self.workspaces.append(workspace)

        self.gateways.append(
            self.gateway_facts(state, configs[0] if configs else None, merged, agent_ids)
        )

    def scan_credentials_dir(self, credentials: Path) -> None:
        self.scan_json_file(credentials / "oauth.json", flat_auth_hinter)
        self.scan_json_file(
            credentials / "github-copilot.token.json",
            fixed_hinter("github", "github:copilot_token", frozenset({"token"}), constant(None)),
        )
        for account_dir in self.list_dir(credentials / "whatsapp"):
            hinter = fixed_hinter(
                "whatsapp",
                KIND_WHATSAPP,
                frozenset({"advSecretKey"}),
                constant(account_dir.name),
            )
            for name in ("creds.json", "creds.json.bak"):
                self.scan_json_file(account_dir / name, hinter)
        self.scan_json_file(
            credentials / "matrix" / "credentials.json",
            fixed_hinter(
                "matrix",
                "matrix:access_token",
                frozenset({"accessToken", "password"}),
                constant(None),
            ),
        )
        for path in self.list_dir(credentials / "auth-profiles"):
            self.scan_json_file(path)
        for path in self.list_dir(credentials):
            if path.suffix == ".json" and not path.name.endswith(
                ("-allowFrom.json", "-pairing.json")
            ):
                self.scan_json_file(path)

    def scan_pairing_stores(self, state: Path) -> None:
        self.scan_json_file(
            state / "identity" / "device.json",
            fixed_hinter(
                "openclaw",
                KIND_DEVICE_KEY,
                frozenset({"privateKeyPem"}),
                constant(None),
            ),
        )
        device_auth = state / "identity" / "device-auth.json"
        device_id = _json_field(self.files, device_auth, "deviceId")
        self.scan_json_file(
            device_auth,
            fixed_hinter(
                "openclaw", KIND_DEVICE_TOKEN, frozenset({"token"}), constant(device_id)
            ),
        )
        self.scan_json_file(
            state / "devices" / "paired.json",
            fixed_hinter("openclaw", KIND_DEVICE_TOKEN, frozenset({"token"}), top_key),
        )
        self.scan_json_file(
            state / "nodes" / "paired.json",
            fixed_hinter("openclaw", KIND_NODE_TOKEN, frozenset({"token"}), top_key),
        )
        self.scan_json_file(
            state / "exec-approvals.json",
            fixed_hinter(
                "openclaw", KIND_EXEC_APPROVALS_TOKEN, frozenset({"token"}), constant(None)
            ),
        )

    def gateway_facts(
        self, state: Path, config: Path | None, merged: Mapping[str, Any], agent_ids: Sequence[str]
    ) -> GatewayFacts:
        gateway = _table(merged, "gateway")
        auth = _table(gateway, "auth")
        tailscale = _table(gateway, "tailscale")
        meta = _table(merged, "meta")
        port, port_source = DEFAULT_GATEWAY_PORT, "default"
        if state.name == ".openclaw-dev":
            port, port_source = DEV_GATEWAY_PORT, "profile-default"
        if isinstance(gateway.get("port"), int):
            port, port_source = gateway["port"], "config"
        env_port = self.env.get("OPENCLAW_GATEWAY_PORT") or self.env.get("CLAWDBOT_GATEWAY_PORT")
        if env_port and env_port.isdigit() and self.is_env_state_dir(state):
            port, port_source = int(env_port), "env"
        for service, environment in self.service_envs:
            service_port = environment.get("OPENCLAW_GATEWAY_PORT", "")
            if service.state_dir == str(state) and service_port.isdigit():
                port, port_source = int(service_port), "service-env"
                break
        auth_mode = auth.get("mode") if isinstance(auth.get("mode"), str) else None
        if auth_mode is None:
            auth_mode = (
                "token" if auth.get("token") else "password" if auth.get("password") else None
            )

        def text(value: Any) -> str | None:
            return value if isinstance(value, str) else None

        return GatewayFacts(
            state_dir=str(state),
            config_path=str(config) if config else None,
            mode=text(gateway.get("mode")),
            bind=text(gateway.get("bind")),
            port=port,
            port_source=port_source,
            auth_mode=auth_mode,
            tailscale_mode=text(tailscale.get("mode")),
            version=text(meta.get("lastTouchedVersion")),
            agent_ids=tuple(agent_ids),
        )

    # ---- user-level files and tmp ----------------------------------------------------------------

    def scan_user_files(self) -> None:
        home = self.user_home
        self.scan_aws_credentials(home / ".aws" / "credentials")
        self.scan_aws_credentials(home / ".aws" / "config")
        for history in (".bash_history", ".zsh_history", ".history", ".sh_history"):
            self.scan_text(home / history)
        config_home = home / ".config" / "openclaw"
        self.scan_dotenv(config_home / "gateway.env")
        key = Recognition("openclaw", KIND_SIDECAR_KEY, Confidence.LOCATION)
        for candidate in (
            config_home / "auth-profile-secret-key",
            home / ".openclaw-auth-profile-secrets" / "auth-profile-secret-key",
            home / "Library" / "Application Support" / "OpenClaw" / "auth-profile-secret-key",
        ):
            if self.is_file(candidate):
                self.scan_whole_file_secret(candidate, key)
        for working_dir in self.service_working_dirs:
            self.scan_dotenv(expand_user(str(working_dir), home) / ".env")

    def scan_tmp_dirs(self, tmp_dirs: Sequence[Path]) -> None:
        for tmp in tmp_dirs:
            for path in self.list_dir(tmp):
                name = path.name
                if name in PRODUCT_WORDS:
                    for log in self.list_dir(path):
                        if log.suffix == ".log":
                            self.scan_log(log)
                elif any(name.startswith(f"{w}-") for w in PRODUCT_WORDS) and self.is_dir(path):
                    for entry in self.list_dir(path):
                        if entry.name.startswith("gateway.") and entry.suffix == ".lock":
                            self.read_lock(entry)
                        elif entry.suffix == ".log":
                            self.scan_log(entry)

    def read_lock(self, path: Path) -> None:
        text = self.read_text(path, 64 * 1024)
        if text is None:
            return
        try:
            data = json.loads(text)
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        pid = data.get("pid") if isinstance(data.get("pid"), int) and data["pid"] > 0 else None
        self.locks.append(
            GatewayLock(
                path=str(path),
                pid=pid,
                config_path=data.get("configPath")
                if isinstance(data.get("configPath"), str)
                else None,
                created_at=data.get("createdAt")
                if isinstance(data.get("createdAt"), str)
                else None,
                alive=pid is not None and _pid_alive(pid),
            )
        )


def _read_bytes(
    files: AgentFiles, path: Path, limit: int, *, tail: bool = False
) -> tuple[bytes, int] | None:
    """``(data, full_size)`` of a regular file, at most ``limit`` bytes; None if unreadable.

    ``tail`` keeps the end of an oversized file (the newest log lines).
    """
    try:
        read = files.read(path, limit, tail=tail)
    except OSError:
        return None
    return read.data, read.size


def _table(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``parent[key]`` when the config made it a table; an empty one when it is missing or the
    agent wrote something else there (a string, a list)."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _looks_like_state_dir(files: AgentFiles, path: Path) -> bool:
    return files.is_dir(path) and any(
        files.exists(path / name) for name in (*CONFIG_NAMES, "agents", "credentials")
    )


def _agent_ids(files: AgentFiles, state: Path, merged: Mapping[str, Any]) -> list[str]:
    ids = ["main"]
    agents = merged.get("agents")
    listed = agents.get("list") if isinstance(agents, dict) else None
    if isinstance(listed, list):
        ids += [a["id"] for a in listed if isinstance(a, dict) and isinstance(a.get("id"), str)]
    with contextlib.suppress(OSError):
        ids += [e.name for e in files.scandir(state / "agents") if e.is_dir]
    return list(dict.fromkeys(i for i in ids if i and "/" not in i and i not in {".", ".."}))


def _json_field(files: AgentFiles, path: Path, name: str) -> str | None:
    read = _read_bytes(files, path, 1024 * 1024)
    if read is None:
        return None
    try:
        data = json.loads(read[0])
    except ValueError:
        return None
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _iter_state_dirs(explicit: Sequence[Path]) -> Iterator[Path]:
    seen: set[str] = set()
    for path in explicit:
        real = os.path.abspath(path)
        if real not in seen:
            seen.add(real)
            yield Path(path)


# One note per refused place is plenty to act on; a home full of planted links must not bury
# the rest.
MAX_NOTES = 200


def scan_install(
    scan: Discovery,
    state_dirs: Sequence[Path] | None,
    configured: Sequence[Path],
    tmp_dirs: Sequence[Path],
    system_service_dirs: Sequence[Path],
) -> Inventory:
    files = scan.files
    scan.scan_services(system_service_dirs)
    if state_dirs is None:
        chosen = scan.candidate_state_dirs()
    else:
        chosen = list(_iter_state_dirs(configured))
        listed = {os.path.abspath(p) for p in chosen}
        for service in scan.services:
            if (
                service.state_dir
                and os.path.abspath(service.state_dir) not in listed
                and scan.is_dir(Path(service.state_dir))
            ):
                scan.notes.append(
                    f"service {service.name} uses state dir {service.state_dir}, which is not "
                    "in the configured state_dirs; it was not scanned"
                )
    for state in chosen:
        kind = files.kind(state)
        if kind == "directory":
            scan.scan_state_dir(state)
        elif kind is None:
            scan.notes.append(f"state dir {state} does not exist")
        else:
            scan.note_refused(state, kind)
    for config in scan.config_overrides():
        # OPENCLAW_CONFIG_PATH may point outside every state dir.
        if scan.is_file(config) and config not in scan.config_paths:
            scan.scan_config(config)
            scan.config_paths.append(config)
    scan.scan_user_files()
    scan.scan_compose_files(chosen)
    scan.scan_exec_scripts()
    scan.scan_tmp_dirs([Path(p) for p in tmp_dirs])
    references = scan.resolve_references()
    scan.locate_known_values()
    credentials = scan.credentials()
    notes = list(dict.fromkeys(scan.notes))
    if len(notes) > MAX_NOTES:
        notes = [*notes[:MAX_NOTES], f"... and {len(notes) - MAX_NOTES} more such notes"]
    return Inventory(
        credentials=credentials,
        state_dirs=tuple(chosen),
        config_paths=tuple(scan.config_paths),
        services=tuple(scan.services),
        gateways=tuple(scan.gateways),
        gateway_locks=tuple(scan.locks),
        references=tuple(references),
        notes=tuple(notes),
        deferred=tuple(dict.fromkeys(scan.deferred)),
    )
