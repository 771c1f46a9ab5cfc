"""Scanners of service definitions that run the gateway: systemd units (and their
``.bak`` copies), launchd plists and Windows' ``gateway.cmd``; variable names are kept as
``Service`` records, values are judged like any other."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from responders.openclaw.agent_paths import expand_user
from responders.openclaw.inventory import Service
from responders.openclaw.layout import (
    PRODUCT_WORDS,
)
from responders.openclaw.scan_base import EnvSource
from responders.openclaw.scan_env import EnvScans

SYSTEM_SERVICE_DIRS = (
    Path("/etc/systemd/system"),
    Path("/usr/lib/systemd/system"),
    Path("/lib/systemd/system"),
    Path("/Library/LaunchAgents"),
    Path("/Library/LaunchDaemons"),
)
_GATEWAY_UNIT_RE = re.compile(r"^(?:openclaw|clawdbot|moltbot)-gateway[\w.@-]*\.service$")
_LAUNCHD_LABEL_RE = re.compile(
    r"^(?:ai\.openclaw|com\.openclaw|bot\.molt|com\.clawdbot|com\.steipete\.clawdbot)\."
)

_CMD_SET_RE = re.compile(r'^\s*set\s+"?([A-Za-z_][A-Za-z0-9_]*)=(.*?)"?\s*$', re.IGNORECASE)


class ServiceScans(EnvScans):
    """The definitions of services that run the gateway (their ``EnvironmentFile``s are
    dotenv files, hence ``EnvScans``)."""

    def scan_services(self, system_dirs: Sequence[Path]) -> None:
        user_units = self.user_home / ".config" / "systemd" / "user"
        for path in self.list_dir(user_units):
            self.scan_unit_file(path, scope="systemd-user")
        agents_dir = self.user_home / "Library" / "LaunchAgents"
        for path in self.list_dir(agents_dir):
            self.scan_plist(path)
        for directory in system_dirs:
            for path in self.list_dir(directory):
                if path.suffix == ".plist":
                    self.scan_plist(path)
                elif ".service" in path.name:
                    self.scan_unit_file(path, scope="systemd")

    def scan_unit_file(self, path: Path, *, scope: str) -> None:
        if ".service" not in path.name:
            return
        # ``openclaw-gateway.service.bak`` keeps the previous unit, old token included.
        base_name = path.name.split(".service", 1)[0] + ".service"
        named = _GATEWAY_UNIT_RE.match(base_name) is not None
        text = self.read_text(path, 1024 * 1024)
        if text is None or not (named or any(w in text.lower() for w in PRODUCT_WORDS)):
            return
        if not self.first_visit(path, "unit"):
            return
        unit = _parse_unit(text, self.user_home)
        self.scan_env_mapping(path, unit.environment)
        for env_file in unit.environment_files:
            if self.is_file(env_file):
                self.scan_dotenv(env_file)
        is_backup = not path.name.endswith(".service")
        if is_backup:
            return
        environment = dict(unit.environment)
        for env_file in unit.environment_files:
            environment.update(
                next((s.values for s in self.env_sources if s.path == str(env_file)), {})
            )
        service = Service(
            kind=scope,
            name=path.name,
            path=str(path),
            state_dir=_service_state_dir(environment, self.user_home),
            environment=tuple(sorted(unit.environment)),
            version=environment.get("OPENCLAW_SERVICE_VERSION") or _version_in(unit.description),
        )
        self.services.append(service)
        self.service_envs.append((service, environment))
        self.env_sources.append(EnvSource(str(path), dict(unit.environment)))
        if unit.working_directory is not None:
            self.service_working_dirs.append(unit.working_directory)

    def scan_plist(self, path: Path) -> None:
        if path.suffix != ".plist":
            return
        data = self.read_bytes(path, 1024 * 1024)
        if data is None:
            return
        import plistlib

        try:
            plist = plistlib.loads(data)
        except Exception:  # plistlib raises several unrelated types for bad input
            return
        if not isinstance(plist, dict):
            return
        label = str(plist.get("Label", path.stem))
        ours = _LAUNCHD_LABEL_RE.match(label) is not None or any(
            w in data.decode("utf-8", errors="replace").lower() for w in PRODUCT_WORDS
        )
        if not ours or not self.first_visit(path, "plist"):
            return
        env = plist.get("EnvironmentVariables")
        environment = {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {}
        self.scan_env_mapping(path, environment, key_prefix="EnvironmentVariables.")
        plist_keys = {name: f"EnvironmentVariables.{name}" for name in environment}
        service = Service(
            kind="launchd",
            name=label,
            path=str(path),
            state_dir=_service_state_dir(environment, self.user_home),
            environment=tuple(sorted(environment)),
            version=environment.get("OPENCLAW_SERVICE_VERSION"),
        )
        self.services.append(service)
        self.service_envs.append((service, environment))
        self.env_sources.append(EnvSource(str(path), environment, plist_keys))
        working = plist.get("WorkingDirectory")
        if isinstance(working, str):
            self.service_working_dirs.append(Path(working))

    def scan_gateway_cmd(self, path: Path, state_dir: Path) -> None:
        if not self.first_visit(path, "cmd"):
            return
        text = self.read_text(path, 1024 * 1024)
        if text is None:
            return
        environment: dict[str, str] = {}
        for line in text.splitlines():
            match = _CMD_SET_RE.match(line)
            if match:
                environment[match.group(1)] = match.group(2)
        self.scan_env_mapping(path, environment)
        profile = environment.get("OPENCLAW_PROFILE")
        service = Service(
            kind="schtasks",
            name=f"OpenClaw Gateway ({profile})" if profile else "OpenClaw Gateway",
            path=str(path),
            state_dir=str(state_dir),
            environment=tuple(sorted(environment)),
            version=environment.get("OPENCLAW_SERVICE_VERSION"),
        )
        self.services.append(service)
        self.service_envs.append((service, environment))
        self.env_sources.append(EnvSource(str(path), environment))


@dataclass
class _Unit:
    description: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    environment_files: list[Path] = field(default_factory=list)
    working_directory: Path | None = None


def _parse_unit(text: str, user_home: Path) -> _Unit:
    """The parts of a systemd unit that matter here; specifiers %h and %% are expanded."""
    import shlex

    unit = _Unit()
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        logical.append(pending + raw)
        pending = ""
    for line in logical:
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";", "[")) or "=" not in stripped:
            continue
        key, _, value = stripped.partition("=")
        key, value = key.strip(), value.strip().replace("%h", str(user_home)).replace("%%", "%")
        if key == "Environment":
            try:
                words = shlex.split(value)
            except ValueError:
                words = value.split()
            for word in words:
                name, sep, val = word.partition("=")
                if sep:
                    unit.environment[name] = val
        elif key == "EnvironmentFile":
            unit.environment_files.append(Path(value.lstrip("-")))
        elif key == "WorkingDirectory":
            unit.working_directory = Path(value.lstrip("-"))
        elif key == "Description":
            unit.description = value
    return unit


def _version_in(description: str) -> str | None:
    match = re.search(r"\bv(\d{4}\.\d+\.\d+(?:-[\w.]+)?)", description)
    return match.group(1) if match else None


def _service_state_dir(environment: Mapping[str, str], user_home: Path) -> str:
    explicit = environment.get("OPENCLAW_STATE_DIR") or environment.get("CLAWDBOT_STATE_DIR")
    if explicit:
        return str(expand_user(explicit, user_home))
    profile = environment.get("OPENCLAW_PROFILE")
    return str(user_home / (f".openclaw-{profile}" if profile else ".openclaw"))
