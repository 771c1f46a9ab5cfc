"""``openclaw.lockdown``: the official "Contain" config steps.

The action ``openclaw.lockdown`` follows the official "Contain" steps (research/openclaw.md
§4.3) in every config file (``$include``d ones too) of every state dir in ``[agent]
state_dirs`` (or, when none is configured, every state dir discovery finds in the agent's
home, as the keys step does): ``gateway.bind`` becomes ``"loopback"``, a Tailscale
``serve``/``funnel`` mode becomes ``"off"``, ``dmPolicy``/``groupPolicy`` ``"open"`` becomes
``"disabled"``, and ``"*"`` leaves every ``allowFrom``/``groupAllowFrom`` list (config and
``credentials/*-allowFrom.json``). It also makes re-pairing need the owner's approval: clearing
device tokens alone is undone on loopback, where 2026.2.26 approves any new device silently
(the local CLI came back with ``operator.admin`` where it had ``operator.read``); see
``LOOPBACK_PROXIES`` for the mechanism and the setting (``gateway.trustedProxies``), which is
added to ``openclaw.json`` only (Clawdbot-era configs are left as they are).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from responders.interface import Action, Done, Failed, Outcome, Planned, ResponderError, Skipped
from responders.openclaw.settings import agent_files_for, config_file, not_usable, state_dirs

# The responder's class names this action, and the registry loads that class on the panic path
# to validate the playbook's options: the editing machinery loads when a lockdown plans or runs.
if TYPE_CHECKING:
    from responders.agent_files import AgentFiles
    from responders.openclaw.json5_edit import KeyPath

_KNOWN_VALUES = {
    "bind": {"auto", "loopback", "lan", "tailnet", "custom"},
    "mode": {"off", "serve", "funnel"},
    "dmPolicy": {"open", "pairing", "allowlist", "disabled"},
    "groupPolicy": {"open", "allowlist", "disabled"},
}
_ALLOW_LISTS = ("allowFrom", "groupAllowFrom")
ALLOW_ALL = "*"


# OpenClaw 2026.2.26 approves a new device silently when it connects "locally": directly from
# loopback, with a local Host header and no forwarding headers (shouldAllowSilentLocalPairing,
# for the reasons not-paired and scope-upgrade). No setting turns that off, but the locality
# test does: a loopback peer listed in gateway.trustedProxies is a proxy, not a client, and a
# proxied request without X-Forwarded-For has no client address, so it is not local. With
# every loopback address trusted that way, each device (the gateway's own tool client and the
# local CLI too) waits in devices/pending.json until `openclaw devices approve <requestId>`.
LOOPBACK_PROXIES = ("127.0.0.0/8", "::1/128")


class LockdownParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bind_loopback: bool = True
    tailscale_off: bool = True
    freeze_channels: bool = True
    devices_need_approval: bool = True


@dataclass(frozen=True)
class ConfigEdit:
    """One change to one file: set a string at ``key``, drop ``"*"`` from the list there
    (``new`` None), or make sure the list there holds the ``add`` items (created if missing)."""

    file: Path
    key: KeyPath
    new: str | None  # None: remove "*" items (unless ``add``)
    old: Any = None
    add: tuple[str, ...] = ()

    def describe(self) -> str:
        from responders.openclaw.json5_edit import describe_path

        where = f"{self.file}: {describe_path(self.key)}"
        if self.add:
            return (f"{where}: add {', '.join(json.dumps(v) for v in self.add)} (new devices, "
                    "the local CLI and the gateway's own tools too, then wait for `openclaw "
                    "devices approve`)")
        if self.new is None:
            return f'{where}: remove "{ALLOW_ALL}"'
        leaf = self.key[-1] if self.key else ""
        shown = (
            json.dumps(self.old)
            if isinstance(self.old, str) and self.old in _KNOWN_VALUES.get(str(leaf), set())
            else "(an unrecognised value)"
        )
        return f"{where}: {shown} → {json.dumps(self.new)}"


def _walk(data: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            if key != "$include":
                yield from _walk(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _walk(value, (*path, index))


def lockdown_edits(
    state_dir: Path, params: LockdownParams, files: AgentFiles
) -> tuple[list[ConfigEdit], list[str]]:
    """Every change the official containment steps ask for in one state dir (reads only), and
    the problems that keep clawback from knowing them all: a config it could not read whole
    or parse is not a safe config."""
    from responders.openclaw.discovery import load_config
    from responders.openclaw.json5_edit import Unparseable, parse_json5
    from responders.openclaw.secret_edits import as_text, describe_os_error, read_whole

    edits: list[ConfigEdit] = []
    problems: list[str] = []
    kind = files.kind(state_dir)
    if kind != "directory":
        problems.append(not_usable(files, state_dir, kind, "state dir"))
        return edits, problems
    config, config_problem = config_file(files, state_dir)
    if config_problem:
        problems.append(config_problem)
    if config is not None:
        loaded = load_config(config, files=files)
        problems += list(loaded.problems)
        for part in loaded.parts:
            for inner, value in _walk(part.data):
                full = (*part.mount, *inner)
                edit = _risky(full, value, params)
                if edit is not None:
                    edits.append(ConfigEdit(part.path, inner, *edit))
        # Only where OpenClaw itself reads the config: the schema is strict (an unknown key
        # invalidates the whole file), and the Clawdbot/Moltbot eras are not checked here.
        if params.devices_need_approval and config.name == "openclaw.json":
            edits += _approval_edits(config, loaded)
    if params.freeze_channels:
        credentials = state_dir / "credentials"
        try:
            stores = [Path(e.path) for e in files.scandir(credentials)
                      if e.name.endswith("-allowFrom.json")]
        except FileNotFoundError:
            stores = []
        except OSError as exc:
            problems.append(f"{credentials}: {describe_os_error(exc)}")
            stores = []
        for store in stores:
            try:
                data = parse_json5(as_text(read_whole(files, store).data))
            except FileNotFoundError:
                continue
            except (OSError, Unparseable, ResponderError, RecursionError) as exc:
                why = (describe_os_error(exc) if isinstance(exc, OSError)
                       else str(exc) or "unreadable")
                problems.append(f"{store}: {why}")
                continue
            for key in _ALLOW_LISTS:
                values = data.get(key) if isinstance(data, dict) else None
                if isinstance(values, list) and ALLOW_ALL in values:
                    edits.append(ConfigEdit(store, (key,), None))
    return edits, problems


def _approval_edits(config: Path, loaded: Any) -> list[ConfigEdit]:
    """``gateway.trustedProxies`` must list every loopback address (see LOOPBACK_PROXIES)."""
    from responders.openclaw.json5_edit import value_at

    key: KeyPath = ("gateway", "trustedProxies")
    gateway = loaded.merged.get("gateway")
    current = gateway.get("trustedProxies") if isinstance(gateway, dict) else None
    listed = current if isinstance(current, list) else []
    missing = tuple(v for v in LOOPBACK_PROXIES if v not in listed)
    if not missing:
        return []
    # Edit the file that sets the list, if one does; else the top config file.
    for part in reversed(loaded.parts):
        inner = key[len(part.mount):] if key[: len(part.mount)] == part.mount else None
        if inner and value_at(part.data, inner) is not None:
            return [ConfigEdit(part.path, inner, None, current, add=missing)]
    return [ConfigEdit(config, key, None, current, add=missing)]


def _risky(full: KeyPath, value: Any, params: LockdownParams) -> tuple[str | None, Any] | None:
    """``(new, old)`` if the setting at ``full`` must change, else None."""
    if params.bind_loopback and full == ("gateway", "bind") and value != "loopback":
        return "loopback", value
    if (
        params.tailscale_off
        and full == ("gateway", "tailscale", "mode")
        and value in ("serve", "funnel")
    ):
        return "off", value
    if not params.freeze_channels or len(full) < 3 or full[0] != "channels":
        return None
    if full[-1] in ("dmPolicy", "groupPolicy") and value == "open":
        return "disabled", value
    if full[-1] in _ALLOW_LISTS and isinstance(value, list) and ALLOW_ALL in value:
        return None, value
    return None


def apply_edits(path: Path, data: bytes, edits: Sequence[ConfigEdit]) -> bytes:
    from responders.openclaw.json5_edit import Json5Document
    from responders.openclaw.secret_edits import as_bytes, as_text, check_parses

    document = Json5Document(as_text(data))
    for edit in edits:
        if edit.add:
            changed = document.ensure_items(edit.key, edit.add)
        elif edit.new is None:
            changed = document.remove_items(edit.key, ALLOW_ALL) > 0
        else:
            changed = document.set_string(edit.key, edit.new)
        if not changed:
            raise ResponderError(f"{edit.describe()}: the setting is not a plain string or list")
    result = as_bytes(document.dump())
    check_parses(path, result)
    return result


class LockdownAction(Action):
    """Close exposure and freeze access in the agent's config (official IR "Contain" 2 and 3).

    One target per state dir. ``plan`` lists the exact edits and reads only; ``execute`` backs
    each file up into the incident, edits it keeping comments, and proves nothing is left to
    change. The gateway applies the result when it starts again.
    """

    name: ClassVar[str] = "openclaw.lockdown"
    state_changing: ClassVar[bool] = True
    Params: ClassVar[type[LockdownParams]] = LockdownParams
    params: LockdownParams

    def targets(self) -> Sequence[str]:
        return [str(p) for p in state_dirs(self.context.settings)]

    def plan(self, target: str) -> Planned:
        edits, problems = lockdown_edits(Path(target), self.params,
                                         agent_files_for(self.context.settings))
        detail = f"{len(edits)} edit(s) in {target}" if edits else (
            f"nothing to change in {target}" if not problems else f"no edit known in {target}")
        return Planned(
            action=self.name,
            detail=detail,
            commands=tuple(e.describe() for e in edits)
            + tuple(f"cannot check: {problem}" for problem in problems),
        )

    def execute(self, target: str) -> Outcome:
        from responders.backups import BackupStore
        from responders.openclaw.json5_edit import Unparseable
        from responders.openclaw.secret_edits import FILE_LOCK, describe_os_error, read_whole

        state_dir = Path(target)
        files = agent_files_for(self.context.settings)
        edits, problems = lockdown_edits(state_dir, self.params, files)
        if not edits and not problems:
            return Skipped(
                reason=f"{target} is locked down already: loopback bind, no Tailscale "
                'serve/funnel, no open DM/group policy, no "*" allow-all entries'
            )
        backups = BackupStore(self.context.incident_dir)
        by_file: dict[Path, list[ConfigEdit]] = {}
        for edit in edits:
            by_file.setdefault(edit.file, []).append(edit)
        kept: list[dict[str, Any]] = []
        with FILE_LOCK:
            for path, file_edits in by_file.items():
                try:
                    read = read_whole(files, path)
                    result = apply_edits(path, read.data, file_edits)
                    kept.append(backups.keep(path, read.data).fact())
                    files.replace(path, result, expect=read.stat, secret=True)
                except Unparseable as exc:
                    return Failed(error=f"{path}: the edited file would not parse ({exc}); "
                                  "left unchanged", facts={"backups": kept})
                except ResponderError as exc:
                    return Failed(error=str(exc), facts={"backups": kept})
                except OSError as exc:
                    return Failed(error=f"{path}: {describe_os_error(exc)}",
                                  facts={"backups": kept})
        left, problems_after = lockdown_edits(state_dir, self.params, files)
        facts: dict[str, Any] = {"edits": [e.describe() for e in edits], "backups": kept}
        if left:
            return Failed(
                error="still to change after the edit: " + "; ".join(e.describe() for e in left),
                facts=facts,
            )
        approval = (
            "; once it runs, approve each device it asks for (`openclaw devices list`, then "
            "`openclaw devices approve <requestId>`), the gateway's own tool client first"
            if any(e.add for e in edits) else ""
        )
        if problems_after:
            facts["not_checked"] = problems_after
            return Failed(
                error=f"{len(edits)} edit(s) made, but clawback could not check everything in "
                f"{target}, so it is not known to be locked down: " + "; ".join(problems_after)
                + ". Check those files by hand (gateway.bind loopback, no open policies, no "
                '"*" in allow lists)',
                facts=facts,
            )
        return Done(
            detail=f"{len(edits)} edit(s) in {len(by_file)} file(s); the gateway applies them "
            f"when it starts again{approval}",
            facts=facts,
        )
