"""The config scanner: every part of a config (its ``$include``s, its ``.bak`` copies), the
files its ``tokenFile``-style keys name, its ``env`` block and its secrets providers."""

from __future__ import annotations

import os
from pathlib import Path

from responders.interface import Location
from responders.kit import secret_patterns as sp
from responders.openclaw.agent_paths import expand_user
from responders.openclaw.config_load import KeyPath, LoadedConfig, format_key_path, load_config
from responders.openclaw.hinters import config_hinter
from responders.openclaw.layout import Json5Error as _ParseError
from responders.openclaw.layout import decode_json5 as _decode_json5
from responders.openclaw.scan_base import EnvSource, ScanBase


class ConfigScans(ScanBase):
    """OpenClaw's configs, read once each, with what they point at."""

    def scan_config(self, path: Path) -> LoadedConfig:
        real = os.path.abspath(path)
        if real in self.loaded_configs:
            return self.loaded_configs[real]
        loaded = load_config(path, files=self.files)
        self.loaded_configs[real] = loaded
        self.notes.extend(loaded.problems)
        for part in loaded.parts:
            if not self.first_visit(part.path, f"config-part:{format_key_path(part.mount)}"):
                continue
            file_refs: list[tuple[str, KeyPath]] = []
            self.scan_json_data(
                part.path, part.data, config_hinter(part.mount), file_refs=file_refs
            )
            for target, segments in file_refs:
                self.scan_referenced_file(target, (*part.mount, *segments))
        env_block = loaded.merged.get("env")
        if isinstance(env_block, dict):
            values = {k: v for k, v in env_block.items() if isinstance(v, str)}
            keys = {k: format_key_path(("env", k)) for k in values}
            nested = env_block.get("vars")
            if isinstance(nested, dict):
                for name, value in nested.items():
                    if isinstance(value, str) and name not in values:
                        values[name] = value
                        keys[name] = format_key_path(("env", "vars", name))
            # The block may come from an $include; the top file is the best place to name.
            self.env_sources.append(EnvSource(str(path), values, keys))
        secrets_block = loaded.merged.get("secrets")
        if isinstance(secrets_block, dict) and isinstance(secrets_block.get("providers"), dict):
            for name, spec in secrets_block["providers"].items():
                self.file_secret_sources.setdefault(str(name), spec)
                if isinstance(spec, dict) and spec.get("source") == "exec":
                    self.exec_providers.append((path, str(name), spec))
        return loaded

    def scan_referenced_file(self, target: str, config_path: KeyPath) -> None:
        """``channels.telegram.tokenFile`` and friends: the file named holds the secret."""
        leaf = str(config_path[-1])
        if not leaf.endswith("File") or not target.strip():
            return
        path = expand_user(target.strip(), self.user_home)
        if not path.is_absolute() or not self.first_visit(path, "referenced"):
            return
        text = self.read_text(path, 1024 * 1024)
        if text is None:
            self.notes.append(f"{format_key_path(config_path)} names {path}, which cannot be read")
            return
        meaning_path = (*config_path[:-1], "botToken" if leaf == "tokenFile" else leaf[:-4])
        hint = sp.recognize_config_path(meaning_path)
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                data = _decode_json5(stripped)
            except _ParseError:
                data = None
            if isinstance(data, dict):
                self.scan_json_data(path, data, lambda _p: (hint, None))
                return
        self.consider(
            stripped,
            Location(str(path), ""),
            name=leaf[:-4],
            group=(str(path),),
            hints=(hint,),
            force=True,
        )
