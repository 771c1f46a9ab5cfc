"""OpenClaw's JSON5 config read whole: ``$include``s followed (confined to the config's
directory), key paths named as discovery reports them, the workspaces a config names."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from responders.agent_files import AgentFiles
from responders.interface import ResponderError
from responders.openclaw.agent_paths import expand_user
from responders.openclaw.layout import (
    CONFIG_NAMES,
)
from responders.openclaw.layout import Json5Error as _ParseError
from responders.openclaw.layout import decode_json5 as _decode_json5

MAX_INCLUDE_DEPTH = 10
MAX_CONFIG_BYTES = 16 * 1024 * 1024

_SIMPLE_SEGMENT_RE = re.compile(r"[^.\[\]\"\s]+")

Segment = str | int
KeyPath = tuple[Segment, ...]


def format_key_path(segments: Sequence[Segment]) -> str:
    """``("profiles", "a:b", "key")`` → ``profiles.a:b.key``; odd segments are bracket-quoted."""
    out = ""
    for segment in segments:
        if isinstance(segment, int):
            out += f"[{segment}]"
        elif _SIMPLE_SEGMENT_RE.fullmatch(segment):
            out += f".{segment}" if out else segment
        else:
            out += f"[{json.dumps(segment)}]"
    return out


@dataclass(frozen=True)
class ConfigPart:
    """One file of a config: its parsed content and where that content lands in the whole."""

    path: Path
    data: Any
    mount: KeyPath


@dataclass(frozen=True)
class LoadedConfig:
    path: Path
    merged: Mapping[str, Any]
    parts: tuple[ConfigPart, ...]
    problems: tuple[str, ...]


def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(merged[key], value) if key in merged else value
        return merged
    return override


class _Unreadable(Exception):
    """A config file that could not be read whole: ``reason`` says why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _ConfigLoader:
    def __init__(self, path: Path, max_depth: int, files: AgentFiles) -> None:
        self.root_path = path
        # Lexical: links are never followed, so the names are the files.
        self.root_dir = Path(os.path.abspath(path.parent))
        self.max_depth = max_depth
        self.files = files
        self.parts: list[ConfigPart] = []
        self.problems: list[tuple[str, Path]] = []

    def parse_file(self, path: Path) -> Any:
        try:
            read = self.files.read(path, MAX_CONFIG_BYTES)
        except FileNotFoundError:
            raise _Unreadable("does not exist") from None
        except OSError as exc:
            raise _Unreadable(exc.strerror or type(exc).__name__) from None
        if not read.complete:
            # Half a config parses as garbage or, worse, as a different config.
            raise _Unreadable(
                f"{read.size} bytes, more than the {MAX_CONFIG_BYTES} clawback reads; not read"
            )
        text = read.data.decode("utf-8", errors="replace")
        try:
            return _decode_json5(text)
        except RecursionError:
            raise _Unreadable("nested too deeply to parse; not read") from None

    def load(self) -> Any:
        try:
            data = self.parse_file(self.root_path)
        except _ParseError as err:
            self.problems.append(
                (
                    f"{self.root_path}:{err.line}:{err.column}: not valid JSON5; skipped",
                    self.root_path,
                )
            )
            return {}
        except _Unreadable as exc:
            self.problems.append(
                (f"{self.root_path}: cannot be read ({exc.reason})", self.root_path)
            )
            return {}
        self.parts.append(ConfigPart(self.root_path, data, ()))
        return self.resolve(data, self.root_path, (), (Path(os.path.abspath(self.root_path)),))

    def resolve(self, node: Any, file: Path, mount: KeyPath, chain: tuple[Path, ...]) -> Any:
        if isinstance(node, list):
            return [self.resolve(v, file, (*mount, i), chain) for i, v in enumerate(node)]
        if not isinstance(node, dict):
            return node
        merged: Any = {}
        include = node.get("$include")
        if include is not None:
            targets = [include] if isinstance(include, str) else include
            if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                self.problems.append((f"{file}: $include must be a path or a list of paths", file))
                targets = []
            for target in targets:
                merged = _deep_merge(merged, self.include(target, file, mount, chain))
        siblings = {
            k: self.resolve(v, file, (*mount, k), chain) for k, v in node.items() if k != "$include"
        }
        return _deep_merge(merged, siblings)

    def include(self, target: str, file: Path, mount: KeyPath, chain: tuple[Path, ...]) -> Any:
        candidate = Path(target) if os.path.isabs(target) else file.parent / target
        real = Path(os.path.abspath(candidate))
        if not real.is_relative_to(self.root_dir):
            self.problems.append(
                (
                    f"{file}: $include {target!r} resolves outside the config directory "
                    f"{self.root_dir}; refused, not read",
                    file,
                )
            )
            return {}
        if real in chain:
            self.problems.append((f"{file}: $include {target!r} is circular; not followed", file))
            return {}
        if len(chain) > self.max_depth:
            self.problems.append(
                (
                    f"{file}: $include {target!r} nests deeper than {self.max_depth} levels; "
                    "not followed",
                    file,
                )
            )
            return {}
        try:
            data = self.parse_file(candidate)
        except _ParseError as err:
            self.problems.append((f"{candidate}:{err.line}:{err.column}: not valid JSON5", file))
            return {}
        except _Unreadable as exc:
            self.problems.append(
                (f"{file}: $include {target!r} cannot be read ({exc.reason})", file)
            )
            return {}
        if not isinstance(data, dict):
            self.problems.append((f"{candidate}: an $include file must hold an object", file))
            return {}
        self.parts.append(ConfigPart(candidate, data, mount))
        return self.resolve(data, candidate, mount, (*chain, real))


class UnreadableConfig(ResponderError):
    """The agent's config (or one of its includes) cannot be used as it is; ``path`` names the
    file, ``message`` says why (the engine shows it as bad input: nothing was done)."""

    def __init__(self, message: str, *, path: str | Path) -> None:
        self.message = message
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


def load_config(
    path: Path,
    *,
    strict: bool = False,
    max_depth: int = MAX_INCLUDE_DEPTH,
    files: AgentFiles | None = None,
) -> LoadedConfig:
    """Parse an OpenClaw JSON5 config and follow its ``$include``s (confined to its directory).

    With ``strict`` the first problem raises ``UnreadableConfig``; otherwise problems (parse errors,
    refused or circular includes, a file not read whole) are returned and the rest of the
    config is still used, so a planted bad include cannot blind discovery. ``${VAR}`` strings
    are left as they are. ``files`` is the agent's tree (default: the config's directory); no
    link is followed in it.
    """
    path = Path(path)
    files = files if files is not None else AgentFiles([os.path.abspath(path.parent)])
    loader = _ConfigLoader(path, max_depth, files)
    merged = loader.load()
    if strict and loader.problems:
        message, where = loader.problems[0]
        raise UnreadableConfig(message.split(": ", 1)[-1], path=where)
    return LoadedConfig(
        path=Path(path),
        merged=merged if isinstance(merged, dict) else {},
        parts=tuple(loader.parts),
        problems=tuple(message for message, _ in loader.problems),
    )


def config_workspaces(state: Path, merged: Mapping[str, Any], user_home: Path) -> list[Path]:
    found = [state / "workspace"]
    agents = merged.get("agents")
    if isinstance(agents, dict):
        defaults = agents.get("defaults")
        if isinstance(defaults, dict) and isinstance(defaults.get("workspace"), str):
            found.append(expand_user(defaults["workspace"], user_home))
        listed = agents.get("list")
        if isinstance(listed, list):
            found += [
                expand_user(a["workspace"], user_home)
                for a in listed
                if isinstance(a, dict) and isinstance(a.get("workspace"), str)
            ]
    return list(dict.fromkeys(p for p in found if p.is_absolute()))


def config_file(state: Path, files: AgentFiles | None = None) -> Path | None:
    """The config OpenClaw reads in this state dir (first of its names that is a regular
    file; a link there is not followed). ``files``: the agent's tree (default: ``state``)."""
    files = files if files is not None else AgentFiles([state])
    return next((state / name for name in CONFIG_NAMES if files.is_file(state / name)), None)


def workspace_dirs(state: Path, user_home: Path, files: AgentFiles | None = None) -> list[Path]:
    """The agent workspaces this state dir's config names (``agents.defaults.workspace``,
    ``agents.list[].workspace``), and ``<state>/workspace``, the default."""
    files = files if files is not None else AgentFiles([user_home, state])
    config = config_file(state, files)
    merged = load_config(config, files=files).merged if config is not None else {}
    return config_workspaces(state, merged, user_home)
