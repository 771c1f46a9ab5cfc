"""A config and playbook contain validated before, remembered so the panic button need not
validate them again before it stops the agent.

Validating clawback.toml and the playbook takes pydantic, PyYAML, the config and playbook models
and every configured responder's module: more than a third of what the panic button spent before
its stop signal. The same bytes, checked by the same code in the same environment, always get
the same answer; so once a config and a playbook have passed every check (and the provider
tables their responders), this record keeps, under the digest of all of that, what contain reads
of them before the stop: the settings handed to the responders, the providers' tables, the
notification URLs' references and the playbook's steps as written (with the validated values of
a step whose parameters are a plain dataclass, ``responders.kit.plain_params``). Any other
step's ``with:`` is validated by its action's model when the step runs (it passed before); the
whole pydantic ``Config`` is built from the same bytes when something after the stop asks.

What a digest covers: the exact bytes and paths of the config and the playbook; clawback's
version; the code (each ``.py`` file's size, mtime and inode) of clawback and of every package
an installed responder comes from; the installed pydantic and PyYAML; the Python version; the
responders' entry points; the home and the effective uid. What each ``~user`` of the config
meant is kept in the entry and compared at every lookup. Any change is a full validation, with
its message naming file and line. Checked on every run all the same: the files' owner and mode
(they are read the same way), and every credential reference (a variable unset, a keyring
entry gone).

The record is clawback's own file (0600 in its 0700 state directory, read only if it is this
user's or root's and not writable by others); anything unexpected about it (missing, damaged,
too big, an entry that does not check out) means a full validation, never a refusal. Only what
passed is remembered, and a dry run writes nothing. Nothing here is a secret: references only.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from clawback import __version__
from clawback.checked_tables import code_signature
from clawback.errors import BadInput

if TYPE_CHECKING:
    from clawback.config import Config
    from clawback.when import WhenExpr

RECORD_NAME = "checked-inputs"
MAX_ENTRIES = 32
MAX_RECORD_BYTES = 4 * 1024**2


def record_path() -> Path:
    """Beside the incidents, in clawback's state directory (``$XDG_STATE_HOME/clawback``)."""
    from clawback.incident import state_dir

    return state_dir() / RECORD_NAME


# --------------------------------------------------------------------------------------------
# A loaded playbook, whichever way it was checked
# --------------------------------------------------------------------------------------------


class StepShape(Protocol):
    """A playbook step as the runner reads it: the pydantic ``Step`` of a playbook validated
    now, or a :class:`CheckedStep` of one validated before."""

    @property
    def id(self) -> str: ...
    @property
    def uses(self) -> str: ...
    @property
    def with_(self) -> Mapping[str, Any]: ...
    @property
    def when(self) -> str | None: ...
    @property
    def approve(self) -> bool: ...
    @property
    def timeout(self) -> float | None: ...
    @property
    def retries(self) -> int | None: ...
    @property
    def description(self) -> str: ...


class PlaybookShape(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def steps(self) -> Sequence[StepShape]: ...


@dataclass(frozen=True)
class LoadedPlaybook:
    """A playbook that passed every check, with each step's parameters and condition."""

    path: Path
    sha256: str  # of the exact file bytes, recorded in the timeline's first entry
    playbook: PlaybookShape
    params: Mapping[str, Any]  # validated `with:` per step id
    when: Mapping[str, WhenExpr]  # compiled `when:` per step id that has one


@dataclass(frozen=True)
class CheckedStep:
    id: str
    uses: str
    with_: Mapping[str, Any]
    when: str | None = None
    approve: bool = False
    timeout: float | None = None
    retries: int | None = None
    description: str = ""
    # The validated parameters, when the action's model is a plain dataclass of flat values.
    params: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class CheckedOutline:
    name: str
    description: str
    steps: tuple[CheckedStep, ...]


def validate_params(model: type[Any], data: Mapping[str, Any]) -> Any:
    """A step's ``with:`` validated by its action's ``Params``: a pydantic model, or a plain
    dataclass (the panic path's actions, ``responders.kit.plain_params``) that pydantic
    validates through a TypeAdapter, honouring its ``__pydantic_config__``."""
    if dataclasses.is_dataclass(model):
        return _adapter(model).validate_python(dict(data))
    return model.model_validate(data)


@functools.cache
def _adapter(model: type[Any]) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(model)


def _is_dataclass_type(model: Any) -> bool:
    return isinstance(model, type) and dataclasses.is_dataclass(model)


class StepParams(Mapping[str, Any]):
    """Each step's ``with:`` validated by its action's model on first use (it passed before):
    the model of a step after the stop is not loaded before it."""

    def __init__(self, steps: Sequence[CheckedStep], model_of: Callable[[str], Any]) -> None:
        self._steps = {step.id: step for step in steps}
        self._model_of = model_of
        self._params: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __getitem__(self, step_id: str) -> Any:
        with self._lock:
            if step_id not in self._params:
                step = self._steps[step_id]
                model = self._model_of(step.uses)
                if step.params is not None and _is_dataclass_type(model):
                    # A plain dataclass (the panic path's actions), rebuilt from the values
                    # pydantic validated: no pydantic before the stop.
                    self._params[step_id] = model(**step.params)
                else:
                    self._params[step_id] = validate_params(model, step.with_)
            return self._params[step_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._steps)

    def __len__(self) -> int:
        return len(self._steps)


class StepConditions(Mapping[str, "WhenExpr"]):
    """Each ``when:`` compiled on first use (it passed before): the steps before the stop have
    none, so the condition language is not loaded before it."""

    def __init__(self, steps: Sequence[CheckedStep], variables: Sequence[str]) -> None:
        self._steps = list(steps)
        self._index = {step.id: index for index, step in enumerate(self._steps)}
        self._variables = variables
        self._compiled: dict[str, WhenExpr] = {}
        self._lock = threading.Lock()

    def __getitem__(self, step_id: str) -> WhenExpr:
        with self._lock:
            if step_id not in self._compiled:
                index = self._index[step_id]  # KeyError: not a step
                text = self._steps[index].when
                if text is None:
                    raise KeyError(step_id)
                from clawback.when import compile_when

                ids = list(self._index)
                self._compiled[step_id] = compile_when(
                    text, variables=self._variables, earlier_steps=ids[:index], all_steps=ids,
                    this_step=step_id)
            return self._compiled[step_id]

    def __iter__(self) -> Iterator[str]:
        return iter([step.id for step in self._steps if step.when is not None])

    def __len__(self) -> int:
        return sum(1 for step in self._steps if step.when is not None)


# --------------------------------------------------------------------------------------------
# What contain reads of the config before the stop
# --------------------------------------------------------------------------------------------


@dataclass
class CheckedConfig:
    """The validated config as the panic path reads it; ``model()`` is the whole pydantic
    ``Config``, built on first use (after the stop) when the config was checked before."""

    path: Path | None
    sha256: str | None
    providers: Mapping[str, Mapping[str, Any]]
    settings: Mapping[str, Any]
    notify_urls: tuple[str, ...]
    _build: Callable[[], Config] | None = None
    _model: Config | None = field(default=None, repr=False)

    @classmethod
    def of(cls, config: Config) -> CheckedConfig:
        return cls(path=config.source, sha256=config.sha256, providers=config.providers,
                   settings=config.settings(), notify_urls=tuple(config.notify.urls),
                   _model=config)

    def model(self) -> Config:
        if self._model is None:
            assert self._build is not None
            self._model = self._build()
        return self._model

    def provider(self, name: str) -> dict[str, Any]:
        """A copy of ``[providers.NAME]``; empty when the file has no such table."""
        return copy.deepcopy(dict(self.providers.get(name, {})))

    def line_of(self, *loc: str | int) -> int | None:
        # Only an error asks: building the model for it costs nothing that matters then.
        return self.model().line_of(*loc)


# --------------------------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------------------------


def _home_words(value: object) -> Iterator[str]:
    """Every string in a TOML document that starts with ``~`` (``~`` is expanded by the model)."""
    if isinstance(value, str):
        if value.startswith("~"):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _home_words(item)
    elif isinstance(value, list):
        for item in value:
            yield from _home_words(item)


def _library_files(package: str) -> str | None:
    """What identifies an installed library without importing or walking it: its
    ``__init__.py`` and ``version.py`` (an upgrade writes both anew)."""
    from importlib.util import find_spec

    try:
        spec = find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    seen = []
    for name in ("__init__.py", "version.py"):
        try:
            info = os.stat(os.path.join(os.path.dirname(spec.origin), name))
        except FileNotFoundError:
            continue
        except OSError:
            return None
        seen.append([name, info.st_size, info.st_mtime_ns, info.st_ino])
    return json.dumps(seen) if seen else None


def inputs_digest(*, config_path: Path | None, config_raw: bytes | None,
                  playbook_path: Path, playbook_raw: bytes,
                  entry_points: Mapping[str, str]) -> str | None:
    """The digest of everything validation depends on; None when some code cannot be
    identified (then nothing is remembered or looked up)."""
    packages = sorted({"clawback", *(value.split(":", 1)[0].split(".", 1)[0]
                                     for value in entry_points.values())})
    code = {name: code_signature(name) for name in packages}
    code.update({name: _library_files(name) for name in ("pydantic", "pydantic_core", "yaml")})
    if any(signature is None for signature in code.values()):
        return None
    document_of_inputs = {
        "clawback": __version__,
        "python": sys.version,
        "code": code,
        "entry_points": dict(sorted(entry_points.items())),
        "config": [str(config_path) if config_path else None,
                   hashlib.sha256(config_raw).hexdigest() if config_raw is not None else None],
        "playbook": [str(playbook_path), hashlib.sha256(playbook_raw).hexdigest()],
        "home": os.path.expanduser("~"),
        "euid": os.geteuid(),
    }
    encoded = json.dumps(document_of_inputs, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _entry_check(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(entry, sort_keys=True, ensure_ascii=True)
                          .encode()).hexdigest()


class CheckedInputs:
    """The record, read once: ``get`` what passed before, ``add`` and ``save`` what passed now."""

    def __init__(self, path: Path, entries: dict[str, dict[str, Any]]) -> None:
        self.path = path
        self._entries = entries
        self.changed = False

    @classmethod
    def load(cls, path: Path | None = None) -> CheckedInputs:
        from clawback.trusted_files import read_trusted_file

        path = path or record_path()
        entries: dict[str, dict[str, Any]] = {}
        try:
            text = read_trusted_file(path, what="record of checked inputs",
                                     limit=MAX_RECORD_BYTES).decode("utf-8")
        except (BadInput, UnicodeDecodeError):
            return cls(path, entries)
        for line in text.splitlines():
            try:
                item = json.loads(line)
                digest, entry, check = item["digest"], item["entry"], item["check"]
            except (ValueError, KeyError, TypeError):
                continue
            if (isinstance(digest, str) and isinstance(entry, dict)
                    and check == _entry_check(entry)):
                entries[digest] = entry
        return cls(path, entries)

    def get(self, digest: str | None) -> dict[str, Any] | None:
        """The entry of ``digest``, if every ``~`` of its config still means what it meant."""
        entry = self._entries.get(digest) if digest is not None else None
        if entry is None:
            return None
        try:
            same = all(os.path.expanduser(word) == expanded
                       for word, expanded in entry["home_words"])
        except (KeyError, TypeError, ValueError):
            return None
        return entry if same else None

    def add(self, digest: str, entry: dict[str, Any]) -> None:
        """Remember ``entry`` if it survives JSON unchanged (a YAML date or binary in a
        ``with:`` would not: that playbook is then always validated in full)."""
        try:
            if json.loads(json.dumps(entry)) != entry:
                return
        except (TypeError, ValueError):
            return
        self._entries.pop(digest, None)
        self._entries[digest] = entry
        self.changed = True

    def save(self) -> None:
        """Write the record if it changed; a failure to write only costs the next run time."""
        if not self.changed:
            return
        from responders.kit.private_files import make_private_dir, write_private

        kept = list(self._entries.items())[-MAX_ENTRIES:]
        lines = [json.dumps({"digest": d, "entry": e, "check": _entry_check(e)},
                            sort_keys=True, ensure_ascii=True) + "\n" for d, e in kept]
        try:
            make_private_dir(self.path.parent)
            write_private(self.path, "".join(lines), fsync=False)
        except OSError:
            return
        self.changed = False


def _flat_values(params: object) -> dict[str, Any] | None:
    """A plain dataclass's fields when each is a scalar or a list of scalars (rebuilt as is);
    None otherwise (then the step's ``with:`` is validated again when it runs)."""
    if not dataclasses.is_dataclass(params) or isinstance(params, type):
        return None
    if not all(spec.init for spec in dataclasses.fields(params)):
        return None  # rebuilt by its constructor: every field must be one of its arguments
    scalars = (str, int, float, bool, type(None))
    values = {spec.name: getattr(params, spec.name) for spec in dataclasses.fields(params)}
    for value in values.values():
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, scalars) for item in items):
            return None
    return values


def entry_for(config: CheckedConfig, loaded: LoadedPlaybook,
              document: Mapping[str, Any]) -> dict[str, Any]:
    """What the record keeps of a config (``document``, its TOML) and playbook that passed
    every check now."""
    outline = loaded.playbook
    return {
        # What each ``~`` meant (the home, a ~user's): checked again at every lookup.
        "home_words": sorted([word, os.path.expanduser(word)]
                             for word in set(_home_words(dict(document)))),
        "providers": {name: dict(table) for name, table in config.providers.items()},
        "settings": dict(config.settings),
        "notify_urls": list(config.notify_urls),
        "playbook": {
            "name": outline.name,
            "description": outline.description,
            "steps": [{"id": s.id, "uses": s.uses, "with": dict(s.with_), "when": s.when,
                       "approve": s.approve, "timeout": s.timeout, "retries": s.retries,
                       "description": s.description,
                       "params": _flat_values(loaded.params.get(s.id))}
                      for s in outline.steps],
        },
    }


def config_from_entry(entry: Mapping[str, Any], *, path: Path | None, raw: bytes | None,
                      build: Callable[[], Config]) -> CheckedConfig:
    return CheckedConfig(
        path=path, sha256=hashlib.sha256(raw).hexdigest() if raw is not None else None,
        providers=entry["providers"], settings=entry["settings"],
        notify_urls=tuple(entry["notify_urls"]), _build=build,
    )


def playbook_from_entry(entry: Mapping[str, Any], *, path: Path, raw: bytes,
                        model_of: Callable[[str], Any],
                        variables: Sequence[str]) -> LoadedPlaybook:
    from types import MappingProxyType

    written = entry["playbook"]
    steps = tuple(
        CheckedStep(id=s["id"], uses=s["uses"], with_=MappingProxyType(dict(s["with"])),
                    when=s["when"], approve=s["approve"], timeout=s["timeout"],
                    retries=s["retries"], description=s["description"],
                    params=s["params"])
        for s in written["steps"]
    )
    return LoadedPlaybook(
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        playbook=CheckedOutline(written["name"], written["description"], steps),
        params=StepParams(steps, model_of),
        when=StepConditions(steps, variables),
    )
