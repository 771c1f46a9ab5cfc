"""The state of one discovery pass, shared by every scanner: its time budget, what it has
visited, its reads of the agent's tree (no link followed, nothing blocks), and the
judgement of each value found (``consider``), including the walk over parsed JSON."""

from __future__ import annotations

import os
import re
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from responders.agent_files import AgentFiles, UnsafeFile
from responders.interface import Location
from responders.kit import secret_patterns as sp
from responders.kit.secret_patterns import Confidence, Recognition
from responders.openclaw.config_load import MAX_CONFIG_BYTES, KeyPath, LoadedConfig, format_key_path
from responders.openclaw.hinters import Hinter, no_hint
from responders.openclaw.inventory import GatewayFacts, GatewayLock, Service
from responders.openclaw.layout import Json5Error as _ParseError
from responders.openclaw.layout import decode_json5 as _decode_json5

_ENV_REF_RE = re.compile(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)\}")
_WHOLE_ENV_REF_RE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")

_UNKNOWN = Recognition(sp.UNKNOWN, "unknown:secret", Confidence.NONE)
# Compose files and exec SecretRef scripts are small; more than this is not one of them.
MAX_SCRIPT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Sighting:
    value: str = field(repr=False)
    location: Location
    recognition: Recognition
    group: tuple[str, ...]
    account: str | None = None
    name: str = ""  # the variable or key it was found under, for pairing ids with secrets


@dataclass
class PendingReference:
    path: str
    key: str
    source: str
    target: str
    hint: Recognition | None


@dataclass
class EnvSource:
    path: str
    values: Mapping[str, str]
    keys: Mapping[str, str] = field(default_factory=dict)  # name -> Location.key, if not the name

    def key_of(self, name: str) -> str:
        return self.keys.get(name, name)


class ScanBase:
    """One pass's state and the steps every scanner takes: the budget (``spent``,
    ``first_visit``), reads that never follow a link, and ``consider``, which decides what a
    value is and records it. The scanners are its subclasses, one per kind of source."""

    def __init__(
        self,
        user_home: Path,
        env: Mapping[str, str],
        files: AgentFiles,
        *,
        free_text: bool = True,
        deadline: float | None = None,
    ) -> None:
        self.user_home = user_home
        self.env = dict(env)
        self.files = files
        # Logs, transcripts, histories and database cells: the slow part, which the panic
        # button does after its first revocations (see ``discover``).
        self.free_text = free_text
        self.deadline = deadline
        self.deferred: list[Path] = []  # free text left for later (free_text=False)
        self.out_of_time: list[Path] = []  # not (fully) read: the budget was spent
        self.sightings: list[Sighting] = []
        # Key ids by place (AWS key ids, Twilio SIDs): (name found under, id); paired with
        # secrets by name.
        self.aws_ids: dict[tuple[str, ...], list[tuple[str, str]]] = defaultdict(list)
        self.references: list[PendingReference] = []
        self.env_sources: list[EnvSource] = []
        self.file_secret_sources: dict[str, Any] = {}  # secrets.providers.<name> from configs
        self.notes: list[str] = []
        self.scanned: set[tuple[str, str]] = set()
        self.services: list[Service] = []
        self.service_envs: list[tuple[Service, dict[str, str]]] = []
        self.gateways: list[GatewayFacts] = []
        self.locks: list[GatewayLock] = []
        self.config_paths: list[Path] = []
        self.loaded_configs: dict[str, LoadedConfig] = {}
        self.service_working_dirs: list[Path] = []
        self.workspaces: list[Path] = []
        # exec SecretRef providers: (config that defines it, its name, its spec).
        self.exec_providers: list[tuple[Path, str, Mapping[str, Any]]] = []
        # Logs and audit trails: searched again for every value found anywhere (see
        # locate_known_values), because a token with no pattern is only found where its
        # place says what it is, and a log line does not.
        self.log_files: list[Path] = []

    # ---- bookkeeping -----------------------------------------------------------------------

    def first_visit(self, path: Path, what: str = "") -> bool:
        # Lexical: no link is followed, so two names are two files.
        key = (os.path.abspath(path), what)
        if key in self.scanned:
            return False
        self.scanned.add(key)
        if self.spent():
            self.out_of_time.append(path)
            return False
        return True

    def spent(self) -> bool:
        """Whether the time budget is gone: nothing more is read."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def defers(self, path: Path) -> bool:
        """Free text waits when only structured sources are wanted now."""
        if not self.free_text:
            self.deferred.append(path)
            return True
        return False

    def read_bytes(
        self, path: Path, limit: int = MAX_CONFIG_BYTES, *, tail: bool = False
    ) -> bytes | None:
        """A regular file's bytes (at most ``limit``); a refusal or a partial read is noted."""
        try:
            read = self.files.read(path, limit, tail=tail)
        except UnsafeFile as exc:
            self.notes.append(f"{path}: {exc.strerror}; not read")
            return None
        except OSError:
            return None
        if not read.complete:
            self.notes.append(
                f"{path}: {read.size} bytes, only the {'last' if tail else 'first'} {limit} "
                "scanned"
            )
        return read.data

    def read_text(
        self, path: Path, limit: int = MAX_CONFIG_BYTES, *, tail: bool = False
    ) -> str | None:
        data = self.read_bytes(path, limit, tail=tail)
        return None if data is None else data.decode("utf-8", errors="replace")

    def is_dir(self, path: Path) -> bool:
        return self.files.is_dir(path)

    def is_file(self, path: Path) -> bool:
        """A regular file (a link is not; discovery reports it when it tries to read it)."""
        kind = self.files.kind(path)
        if kind not in (None, "regular file"):
            self.note_refused(path, kind)
        return kind == "regular file"

    def note_refused(self, path: Path, kind: str) -> None:
        if kind == "symbolic link":
            try:
                target = self.files.readlink(path)
            except OSError:
                target = "(unreadable)"
            self.notes.append(f"{path}: a symbolic link to {target}; not followed")
        else:
            self.notes.append(f"{path}: a {kind}; not read")

    def list_dir(self, path: Path) -> list[Path]:
        """The entries of a directory, sorted; a link in its place is noted, not followed."""
        try:
            return [Path(entry.path) for entry in self.files.scandir(path)]
        except UnsafeFile as exc:
            self.notes.append(f"{path}: {exc.strerror}; not listed")
            return []
        except OSError:
            return []

    def consider(
        self,
        value: str,
        location: Location,
        *,
        name: str,
        group: tuple[str, ...],
        hints: Sequence[Recognition | None] = (),
        account: str | None = None,
        force: bool = False,
        substitutes_env: bool = False,
    ) -> None:
        """Decide whether ``value`` found at ``location`` under ``name`` is a secret; record it.

        ``substitutes_env``: the value comes from an OpenClaw config, where ``${VAR}`` is
        replaced at load time, so it is a reference rather than a value.
        """
        candidate = value.strip()
        if not candidate:
            return
        if substitutes_env and _ENV_REF_RE.search(candidate):
            self.record_env_references(candidate, location, hints)
            return
        recognition = sp.recognize(candidate, *hints)
        if recognition is not None and sp.is_identifier(recognition):
            if (name, candidate) not in self.aws_ids[group]:
                self.aws_ids[group].append((name, candidate))
            return
        recognition = _judge(
            candidate, recognition, secret_name=sp.looks_like_secret_name(name), force=force
        )
        if recognition is None:
            return
        self.sightings.append(
            Sighting(candidate, location, recognition, group, account, name=name)
        )

    def record_env_references(
        self, value: str, location: Location, hints: Sequence[Recognition | None]
    ) -> None:
        whole = _WHOLE_ENV_REF_RE.fullmatch(value)
        for name in _ENV_REF_RE.findall(value):
            self.references.append(
                PendingReference(
                    location.path,
                    location.key,
                    "env-substitution",
                    name,
                    # Only a value that is exactly ${VAR} takes the place's meaning.
                    next((h for h in hints if h is not None), None) if whole else None,
                )
            )

    # ---- structured sources ------------------------------------------------------------------

    def scan_json_data(
        self,
        path: Path,
        data: Any,
        hinter: Hinter,
        *,
        key_prefix: str = "",
        group_prefix: tuple[str, ...] = (),
        file_refs: list[tuple[str, KeyPath]] | None = None,
        text_in_strings: bool = False,
    ) -> None:
        """Walk parsed JSON; ``file_refs`` (configs only) collects ``tokenFile``-style paths;
        with ``text_in_strings`` every string is also searched for tokens inside it."""
        is_config = file_refs is not None

        def where(segments: KeyPath) -> str:
            inner = format_key_path(segments)
            return f"{key_prefix}.{inner}" if key_prefix and inner else key_prefix or inner

        def walk(node: Any, segments: KeyPath) -> None:
            if isinstance(node, dict):
                if _is_secret_ref(node):
                    self.record_secret_ref(
                        node, Location(str(path), where(segments)), hinter(segments)[0]
                    )
                    return
                for key, child in node.items():
                    if key == "$include":
                        continue
                    walk(child, (*segments, str(key)))
            elif isinstance(node, list):
                for index, child in enumerate(node):
                    walk(child, (*segments, index))
            elif isinstance(node, str) and segments:
                name = next((s for s in reversed(segments) if isinstance(s, str)), "")
                if file_refs is not None and _names_secret_file(name):
                    file_refs.append((node, segments))
                    return
                hint, account = hinter(segments)
                self.consider(
                    node,
                    Location(str(path), where(segments)),
                    name=name,
                    group=(str(path), *group_prefix, where(segments[:-1])),
                    hints=(hint,),
                    account=account,
                    substitutes_env=is_config,
                )
                if text_in_strings:
                    self.scan_string(node, Location(str(path), where(segments)),
                                     (str(path), *group_prefix, where(segments[:-1])))

        walk(data, ())

    def scan_string(self, text: str, location: Location, group: tuple[str, ...]) -> None:
        """Distinctive tokens inside one string value (a message, a command line)."""
        whole = text.strip()
        for match in sp.find_in_text(text):
            if match.value != whole:  # the whole string was judged as a value already
                self.consider(match.value, location, name="", group=group,
                              hints=(match.recognition,))

    def record_secret_ref(
        self, ref: Mapping[str, Any], location: Location, hint: Recognition | None
    ) -> None:
        source = str(ref.get("source"))
        target = str(ref.get("id", ""))
        if source != "env":
            target = f"{ref.get('provider', 'default')}:{target}"
        self.references.append(PendingReference(location.path, location.key, source, target, hint))

    def scan_json_file(
        self,
        path: Path,
        hinter: Hinter = no_hint,
        *,
        hinter_for: Callable[[Any], Hinter] | None = None,
        text_in_strings: bool = False,
    ) -> None:
        """A JSON store; ``hinter_for`` builds the hinter from the parsed content instead.
        ``text_in_strings``: its strings are free text, searched for tokens inside them."""
        if not self.first_visit(path, "json"):
            return
        text = self.read_text(path)
        if text is None:
            return
        try:
            data = _decode_json5(text)
        except _ParseError as err:
            self.notes.append(f"{path}:{err.line}:{err.column}: not valid JSON; skipped")
            return
        self.scan_json_data(path, data, hinter_for(data) if hinter_for else hinter,
                            text_in_strings=text_in_strings)


def _judge(
    value: str, recognition: Recognition | None, *, secret_name: bool, force: bool
) -> Recognition | None:
    """What a value is, given what its shape and place say; None if it is not a secret."""
    pem = sp.is_private_key_pem(value)
    if recognition is None or recognition.confidence == Confidence.SHAPE:
        if recognition is not None and (secret_name or force):
            judged: Recognition | None = recognition
        elif force or (secret_name and (pem or sp.plausible_secret_value(value))):
            judged = _UNKNOWN
        else:
            return None
    elif recognition.confidence == Confidence.LOCATION and not force and not pem:
        # A known place can still hold a placeholder, a path, a URL or an unexpanded $VAR.
        usable = (len(value) >= 4 and " " not in value and "://" not in value
                  and value[0] != "$" and not sp.is_documentation_example(value)
                  and not sp.is_placeholder_word(value))
        judged = recognition if usable else None
        if judged is not None and not sp.fits_kind(judged.kind, value):
            # Not the documented shape of what the place holds: a placeholder, or a secret
            # clawback cannot name.
            plausible = secret_name and sp.plausible_secret_value(value)
            judged = _UNKNOWN if plausible else None
    else:
        judged = recognition
    if judged is not None and pem and not judged.kind.endswith("private_key"):
        judged = Recognition(judged.provider, f"{judged.provider}:private_key", judged.confidence)
    return judged


def _names_secret_file(name: str) -> bool:
    """``tokenFile``, ``passwordFile``, ``serviceAccountFile``: the value is a path to a secret."""
    return name.endswith("File") and (
        sp.looks_like_secret_name(name[:-4]) or name == "serviceAccountFile"
    )


def _is_secret_ref(node: Mapping[str, Any]) -> bool:
    return node.get("source") in {"env", "file", "exec"} and isinstance(node.get("id"), str)
