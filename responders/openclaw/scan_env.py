"""Scanners of environment-style files: dotenv files, ``NAME=value`` mappings, AWS's INI
files, files that are one secret whole, and docker compose files (their ``environment``,
``build.args`` and ``env_file``s)."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from responders.interface import Location
from responders.kit import secret_patterns as sp
from responders.kit.secret_patterns import Recognition
from responders.openclaw.agent_paths import expand_user
from responders.openclaw.config_load import format_key_path
from responders.openclaw.scan_base import MAX_SCRIPT_BYTES, EnvSource, ScanBase

# Directories under the home searched for compose files (the home, its subdirectories and
# theirs, hidden ones left out): a home with thousands of projects must not hold discovery up.
MAX_COMPOSE_DIRS = 400
# The names ``docker compose`` looks for, and the override/extra files beside them.
_COMPOSE_RE = re.compile(r"^(?:docker-)?compose(?:\.[\w-]+)?\.ya?ml$")
_COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


class EnvScans(ScanBase):
    """``NAME=value`` sources: dotenv and compose files, mappings, AWS INI, one-secret files."""

    def scan_dotenv(self, path: Path) -> None:
        if not self.first_visit(path, "dotenv"):
            return
        text = self.read_text(path, 1024 * 1024)
        if text is None:
            return
        from dotenv import dotenv_values

        values = {
            k: v
            for k, v in dotenv_values(stream=io.StringIO(text), interpolate=False).items()
            if v is not None
        }
        self.scan_env_mapping(path, values)
        self.env_sources.append(EnvSource(str(path), values))

    def scan_env_mapping(
        self, path: Path, values: Mapping[str, str], *, key_prefix: str = ""
    ) -> None:
        for name, value in values.items():
            self.consider(
                value,
                Location(str(path), f"{key_prefix}{name}"),
                name=name,
                group=(str(path), key_prefix),
                hints=(sp.recognize_env_name(name),),
            )

    def scan_whole_file_secret(self, path: Path, recognition: Recognition) -> None:
        if not self.first_visit(path, "whole"):
            return
        text = self.read_text(path, 64 * 1024)
        if text is not None and text.strip():
            self.consider(
                text.strip(),
                Location(str(path), ""),
                name="secret",
                group=(str(path),),
                hints=(recognition,),
                force=True,
            )

    def scan_aws_credentials(self, path: Path) -> None:
        if not self.first_visit(path, "ini"):
            return
        text = self.read_text(path, 1024 * 1024)
        if text is None:
            return
        import configparser

        parser = configparser.RawConfigParser(strict=False)
        try:
            parser.read_string(text)
        except configparser.Error:
            self.notes.append(f"{path}: not a valid INI file; skipped")
            return
        for section in parser.sections():
            for option, value in parser.items(section):
                if option not in {
                    "aws_access_key_id",
                    "aws_secret_access_key",
                    "aws_session_token",
                }:
                    continue
                self.consider(
                    value,
                    Location(str(path), format_key_path((section, option))),
                    name=option,
                    group=(str(path), section),
                    hints=(sp.recognize_env_name(option.upper()),),
                )

    def scan_compose_files(self, state_dirs: Sequence[Path]) -> None:
        """Compose files where one may run the gateway: the state dirs, workspaces and service
        working directories; the home, its subdirectories (``~/openclaw`` of the Docker
        install) and theirs (``~/apps/openclaw``), hidden ones left out."""
        places = [*state_dirs, *self.workspaces,
                  *(expand_user(str(d), self.user_home) for d in self.service_working_dirs)]
        level, listed = [self.user_home], 0
        for depth in range(3):
            below: list[Path] = []
            for directory in level:
                if depth < 2:
                    if listed >= MAX_COMPOSE_DIRS:
                        self.notes.append(
                            f"{self.user_home}: more than {MAX_COMPOSE_DIRS} directories; "
                            "compose files were looked for in the first ones only")
                        level = []
                        break
                    listed += 1
                    places.append(directory)
                    try:
                        entries = self.files.scandir(directory)
                    except OSError:
                        continue
                    below += [Path(e.path) for e in entries if e.is_dir
                              and not e.name.startswith(".") and e.name != "node_modules"]
                elif any(self.files.kind(directory / name) is not None
                         for name in _COMPOSE_NAMES):
                    places.append(directory)  # only then listed, for the override files
            level = below
        for directory in dict.fromkeys(places):
            if self.spent():
                self.out_of_time.append(directory)
                return
            try:
                entries = self.files.scandir(directory)
            except OSError:
                continue
            composes = [Path(e.path) for e in entries if _COMPOSE_RE.match(e.name)]
            for compose in composes:
                if self.is_file(compose):
                    self.scan_compose(compose)
            if composes:
                # ``docker compose`` reads the .env beside the file for ${VAR} substitution.
                self.scan_dotenv(directory / ".env")

    def scan_compose(self, path: Path) -> None:
        """A compose file: each service's ``environment`` (a list of ``NAME=value`` or a map),
        ``build.args`` and the ``env_file`` files it names."""
        if not self.first_visit(path, "compose"):
            return
        try:
            import yaml
        except ImportError:  # a fleet host's bare Python: said, not skipped in silence
            self.notes.append(f"{path}: a compose file, not read (PyYAML is not installed on "
                              "this host); look at its environment: entries by hand")
            return
        text = self.read_text(path, MAX_SCRIPT_BYTES)
        if text is None:
            return

        try:
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.MarkedYAMLError as exc:
            # The message may quote the file: only the position is kept.
            mark = exc.problem_mark or exc.context_mark
            where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
            self.notes.append(f"{path}{where}: not valid YAML; skipped")
            return
        except (yaml.YAMLError, RecursionError, ValueError):
            self.notes.append(f"{path}: not valid YAML; skipped")
            return
        services = data.get("services") if isinstance(data, dict) else None
        if not isinstance(services, dict):
            return
        for service_name, service in services.items():
            if not isinstance(service, dict):
                continue
            build = service.get("build")
            for mount, block in (("environment", service.get("environment")),
                                 ("build.args",
                                  build.get("args") if isinstance(build, dict) else None)):
                values = _compose_mapping(block)
                if not values:
                    continue
                keys = {name: format_key_path(("services", str(service_name),
                                               *mount.split("."), name)) for name in values}
                prefix = format_key_path(("services", str(service_name), *mount.split(".")))
                for name, value in values.items():
                    self.consider(value, Location(str(path), keys[name]), name=name,
                                  group=(str(path), prefix),
                                  hints=(sp.recognize_env_name(name),))
                self.env_sources.append(EnvSource(str(path), values, keys))
            for env_file in _compose_env_files(service.get("env_file")):
                target = expand_user(env_file, self.user_home)
                target = target if target.is_absolute() else path.parent / target
                if self.is_file(target):
                    self.scan_dotenv(target)


def _compose_mapping(block: Any) -> dict[str, str]:
    """A compose ``environment``/``args`` block as name -> value: a map, or a list of
    ``NAME=value`` items (a bare ``NAME`` passes the host's value through: no value here)."""
    items: list[tuple[Any, Any]] = []
    if isinstance(block, dict):
        items = list(block.items())
    elif isinstance(block, list):
        items = [(name, value) for name, _, value in
                 (item.partition("=") for item in block if isinstance(item, str) and "=" in item)]
    return {
        str(name).strip(): str(value)
        for name, value in items
        if isinstance(name, str) and isinstance(value, str | int | float)
        and not isinstance(value, bool) and name.strip()
    }


def _compose_env_files(value: Any) -> list[str]:
    """``env_file``: a path, a list of paths, or of ``{path: …, required: …}``."""
    entries = value if isinstance(value, list) else [value]
    paths = [e.get("path") if isinstance(e, dict) else e for e in entries]
    return [p for p in paths if isinstance(p, str) and p.strip()]
