"""What clawback is told about OpenClaw, and where the installs it acts on are.

Config, the ``[providers.openclaw]`` table of clawback.toml (every key optional)::

    store_name = "openclaw/{kind}/{old}"   # keyring name of a new secret; {old} = the 8 hex of
                                           # the old value's fingerprint
    use_openclaw_cli = true                # WhatsApp logout through `openclaw channels logout`
    openclaw_binary = "openclaw"           # looked up in the system path only, or absolute
    cli_timeout_seconds = 15
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from responders.agent_files import AgentFiles
from responders.interface import ResponderError
from responders.openclaw.layout import CONFIG_NAMES


def agent_files_for(settings: Mapping[str, Any]) -> AgentFiles:
    """The agent's tree as discovery sees it (``AgentFiles.for_settings``)."""
    return AgentFiles.for_settings(settings)


@dataclass(frozen=True)
class OpenClawSettings:
    """The validated ``[providers.openclaw]`` table (see the module docstring)."""

    store_name: str = "openclaw/{kind}/{old}"
    use_openclaw_cli: bool = True
    openclaw_binary: str = "openclaw"
    cli_timeout_seconds: float = 15.0

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


def parse_settings(raw: Mapping[str, Any]) -> OpenClawSettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    from pydantic import TypeAdapter, ValidationError

    try:
        settings = TypeAdapter(OpenClawSettings).validate_python(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise ResponderError(f"[providers.openclaw] is invalid: {problems}") from None
    try:
        settings.store_name.format(kind="gateway_token", old="0123abcd")
    except (KeyError, IndexError, ValueError):
        raise ResponderError(
            "[providers.openclaw] store_name may only use the fields {kind} and {old}"
        ) from None
    if settings.cli_timeout_seconds <= 0:
        raise ResponderError("[providers.openclaw] cli_timeout_seconds must be positive")
    return settings


def state_dirs(settings: Mapping[str, Any]) -> list[Path]:
    """``[agent] state_dirs``, else the ones discovery finds in the agent's home (as contain's
    keys step does): a lockdown must not silently do nothing because none were configured."""
    agent = settings.get("agent") or {}
    configured = [Path(p) for p in agent.get("state_dirs") or []]
    if configured:
        return configured
    from responders.openclaw.discovery import find_state_dirs

    return find_state_dirs(Path(agent.get("user_home") or Path.home()))


def config_file(files: AgentFiles, state_dir: Path) -> tuple[Path | None, str | None]:
    """The state dir's config, or why there is none clawback can use."""
    for name in CONFIG_NAMES:
        path = state_dir / name
        kind = files.kind(path)
        if kind == "regular file":
            return path, None
        if kind is not None:
            return None, not_usable(files, path, kind, "config")
    return None, None


def not_usable(files: AgentFiles, path: Path, kind: str | None, what: str) -> str:
    if kind is None:
        return f"{what} {path} does not exist"
    if kind == "symbolic link":
        try:
            target = files.readlink(path)
        except OSError:
            target = "(unreadable)"
        return f"{what} {path} is a symbolic link to {target}: not followed"
    return f"{what} {path} is a {kind}, not what clawback can check"
