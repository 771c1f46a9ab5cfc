"""``host.cut_network``: isolate the host (or only the agent) with nftables, and undo it exactly.

The cut is one nftables table of our own (``table inet clawback_isolate``), applied with
``nft -f`` in a single transaction after ``nft -c -f`` has checked it: either all of it is in
place or none of it is. We never ``flush ruleset`` and never touch another table, so restoring is
deleting that one table (by the handle recorded when it was made), which leaves every rule the
owner had exactly as it was.

Host scope drops everything in, out and forwarded except loopback and SSH (new and established)
to and from the allowlisted admin sources. Agent scope drops only what the agent's uid sends
(``meta skuid``) and disconnects its docker containers from their networks.

Lockout guard. A cut run over SSH (``SSH_CONNECTION``/``SSH_CLIENT`` set) or on a host declared
``remote_only`` (no console: a VPS) can lock the owner out, so in host scope it is refused unless
all of these hold:

- the step says ``confirmed_remote: true`` (in the playbook's ``with:`` or ``[network]`` in
  clawback.toml). The playbook marks the step ``approve: true`` as well, so the engine asks the
  operator first; ``confirmed_remote`` states that the playbook author meant a remote cut;
- ``rollback_minutes`` > 0: a detached process deletes our table after that many minutes
  unless ``clawback restore-network --confirm`` was run (like ``iptables-apply``);
- the SSH client this runs from is inside ``admin_sources``, so the session survives.

The auto-rollback is armed whenever ``rollback_minutes`` > 0 (default 5), local or remote;
``rollback_minutes = 0`` keeps the cut without a timer and is refused in the remote case.

Files, in the incident directory, all 0600: ``network-cut.nft`` (the exact ruleset applied),
``network-cut.json`` (what was added: table, handle, docker disconnects, rollback state),
``network-rollback.log``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from responders.host.commands import CommandResult, MissingBinary, resolve_binary, run_command
from responders.interface import (
    Action,
    Done,
    Failed,
    Outcome,
    Planned,
    Refused,
    ResponderContext,
    ResponderError,
    Skipped,
)
from responders.kit.private_files import make_private_dir, open_private, write_private

STATE_FILE = "network-cut.json"
RULESET_FILE = "network-cut.nft"
LOCK_FILE = "network-cut.lock"
ROLLBACK_LOG = "network-rollback.log"
FAMILY = "inet"
_STATE_VERSION = 1
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
_NFT_TIMEOUT_S = 15.0
_DOCKER_TIMEOUT_S = 20.0

ROOT_ADVICE = (
    "cutting the network needs root (CAP_NET_ADMIN): re-run as root, e.g. "
    "`sudo clawback contain --cut-network`, or cut by hand with the ruleset `--dry-run` prints"
)


def _validate_sources(values: Sequence[str]) -> list[str]:
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(str(value).strip(), strict=True)))
        except ValueError as exc:
            raise ValueError(
                f"admin source {value!r} is not an IP address or CIDR ({exc}); "
                "write e.g. 203.0.113.7 or 203.0.113.0/24"
            ) from exc
    return out


class CutNetworkParams(BaseModel):
    """``with:`` of a ``host.cut_network`` step; unset fields fall back to ``[network]``."""

    model_config = ConfigDict(extra="forbid")

    scope: Literal["host", "agent"] = "host"
    ssh_port: int = Field(default=22, ge=1, le=65535)
    admin_sources: list[str] = Field(default_factory=list)
    rollback_minutes: float = Field(default=5.0, ge=0, le=24 * 60)
    table: str = "clawback_isolate"
    confirmed_remote: bool = False
    remote_only: bool = False
    agent_uid: int | None = Field(default=None, ge=0)

    @field_validator("admin_sources")
    @classmethod
    def _sources_are_networks(cls, values: list[str]) -> list[str]:
        return _validate_sources(values)

    @field_validator("table")
    @classmethod
    def _table_is_a_name(cls, value: str) -> str:
        if not _TABLE_NAME.match(value):
            raise ValueError(f"table {value!r} must be a letter then up to 31 letters, digits or _")
        return value


def effective_params(params: CutNetworkParams, settings: Mapping[str, Any]) -> CutNetworkParams:
    """Step ``with:`` wins, then ``[network]`` in clawback.toml, then the defaults.

    ``agent_uid`` also falls back to ``agent.uid``. Errors name the config key to fix.
    """
    network = settings.get("network") or {}
    merged: dict[str, Any] = {
        k: v for k, v in network.items() if k in CutNetworkParams.model_fields
    }
    agent_uid = (settings.get("agent") or {}).get("uid")
    if "agent_uid" not in merged and agent_uid is not None:
        merged["agent_uid"] = agent_uid
    merged.update(params.model_dump(exclude_unset=True))
    try:
        return CutNetworkParams.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ResponderError(f"invalid [network] settings or step parameters: {problems}") from exc


# --------------------------------------------------------------------------------------------
# The ruleset
# --------------------------------------------------------------------------------------------


def _nft_comment(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9 ._:/@-]", "_", text)[:120]


def render_ruleset(params: CutNetworkParams, *, incident_id: str = "") -> str:
    """The exact nftables ruleset of the cut: one table, nothing outside it."""
    nets = [ipaddress.ip_network(s) for s in params.admin_sources]
    v4 = sorted(str(n) for n in nets if n.version == 4)
    v6 = sorted(str(n) for n in nets if n.version == 6)
    comment = _nft_comment(f"clawback network cut {incident_id}".strip())
    lines = [f"table {FAMILY} {params.table} {{", f'\tcomment "{comment}"']
    if params.scope == "agent":
        if params.agent_uid is not None:
            lines += [
                "\tchain output {",
                "\t\ttype filter hook output priority filter; policy accept;",
                f'\t\tmeta skuid {params.agent_uid} counter drop comment "agent uid"',
                "\t}",
            ]
        lines.append("}")
        return "\n".join(lines) + "\n"
    for name, kind, elements in (("admin_v4", "ipv4_addr", v4), ("admin_v6", "ipv6_addr", v6)):
        if elements:
            lines += [
                f"\tset {name} {{",
                f"\t\ttype {kind}",
                "\t\tflags interval",
                f"\t\telements = {{ {', '.join(elements)} }}",
                "\t}",
            ]
    port = params.ssh_port
    admin_in = []
    admin_out = []
    for proto, name, elements in (("ip", "admin_v4", v4), ("ip6", "admin_v6", v6)):
        if elements:
            admin_in.append(
                f"\t\t{proto} saddr @{name} tcp dport {port} ct state {{ new, established }} "
                'accept comment "admin ssh"'
            )
            # "new" too: on a host where nothing tracked connections before the cut, the
            # admin's session is first seen mid-stream, and if the host speaks first (output of
            # a running command) that packet is "new"; only "established" stalled the session
            # until the admin typed. Source port 22 to an admin address: only sshd (root) can.
            admin_out.append(
                f"\t\t{proto} daddr @{name} tcp sport {port} ct state {{ new, established }} "
                'accept comment "admin ssh replies"'
            )
    # The trailing counter rules count what the policy then drops: how hard something tried to
    # get out after the cut is evidence, read back by restore before the table goes.
    lines += [
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy drop;",
        '\t\tiif "lo" accept',
        *admin_in,
        '\t\tcounter comment "dropped in"',
        "\t}",
        "\tchain output {",
        "\t\ttype filter hook output priority filter; policy drop;",
        '\t\toif "lo" accept',
        *admin_out,
        '\t\tcounter comment "dropped out"',
        "\t}",
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter; policy drop;",
        '\t\tcounter comment "dropped forward"',
        "\t}",
        "}",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# docker (agent scope)
# --------------------------------------------------------------------------------------------


def docker_containers(settings: Mapping[str, Any]) -> list[str]:
    """Containers named in ``[[agent.services]]`` (kind docker) for the agent-only cut."""
    services = (settings.get("agent") or {}).get("services") or []
    return [
        str(s.get("container") or s["name"])
        for s in services
        if isinstance(s, Mapping)
        and s.get("kind") == "docker"
        and (s.get("container") or s.get("name"))
    ]


def docker_inspect_networks_command(container: str) -> tuple[str, ...]:
    return ("docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", container)


def docker_disconnect_commands(container: str, networks: Sequence[str]) -> list[tuple[str, ...]]:
    return [("docker", "network", "disconnect", "--force", net, container) for net in networks]


def docker_reconnect_commands(pairs: Sequence[Mapping[str, str]]) -> list[tuple[str, ...]]:
    return [("docker", "network", "connect", p["network"], p["container"]) for p in pairs]


# --------------------------------------------------------------------------------------------
# State file and lock
# --------------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _netns_inode() -> int | None:
    try:
        return os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return None


@contextlib.contextmanager
def _locked(incident_dir: Path) -> Iterator[None]:
    """Serialises cut, confirm, restore and the rollback timer on one incident."""
    with open_private(incident_dir / LOCK_FILE, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def read_state(incident_dir: Path) -> dict[str, Any] | None:
    path = Path(incident_dir) / STATE_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ResponderError(f"cannot read {path}: {exc}") from exc
    return data


def _write_state(incident_dir: Path, state: Mapping[str, Any]) -> None:
    write_private(Path(incident_dir) / STATE_FILE, json.dumps(state, indent=2, sort_keys=True))


# --------------------------------------------------------------------------------------------
# nft helpers
# --------------------------------------------------------------------------------------------


def _nft(args: Sequence[str], sent: list[dict[str, Any]]) -> CommandResult:
    result = run_command(("nft", *args), timeout=_NFT_TIMEOUT_S)
    sent.append(result.record())
    return result


def _table_handle(table: str, sent: list[dict[str, Any]]) -> int | None:
    """Handle of ``inet <table>``, or None if it does not exist."""
    result = _nft(("-j", "list", "tables", FAMILY), sent)
    if not result.ok:
        return None
    for item in json.loads(result.stdout or "{}").get("nftables", []):
        entry = item.get("table")
        if entry and entry.get("family") == FAMILY and entry.get("name") == table:
            return int(entry["handle"])
    return None


def _table_counters(table: str, sent: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Packets/bytes each counter rule saw, by its comment: what the cut blocked."""
    result = _nft(("-j", "list", "table", FAMILY, table), sent)
    counters: dict[str, dict[str, int]] = {}
    if not result.ok:
        return counters
    for item in json.loads(result.stdout or "{}").get("nftables", []):
        rule = item.get("rule")
        if not rule:
            continue
        for expr in rule.get("expr", []):
            if "counter" in expr and isinstance(expr["counter"], Mapping):
                label = rule.get("comment") or f"{rule.get('chain')}#{rule.get('handle')}"
                counters[label] = {
                    "packets": int(expr["counter"].get("packets", 0)),
                    "bytes": int(expr["counter"].get("bytes", 0)),
                }
    return counters


# --------------------------------------------------------------------------------------------
# The action
# --------------------------------------------------------------------------------------------


def ssh_client_address() -> str | None:
    """The address this session's SSH client connects from, if this runs over SSH."""
    for var in ("SSH_CONNECTION", "SSH_CLIENT"):
        value = os.environ.get(var, "").split()
        if value:
            return value[0]
    return None


class CutNetworkAction(Action):
    """Apply the isolation table atomically, record it, and arm the auto-rollback."""

    name: ClassVar[str] = "host.cut_network"
    checkpoint_before: ClassVar[bool] = True
    Params: ClassVar[type[CutNetworkParams]] = CutNetworkParams

    def __init__(self, context: ResponderContext, params: CutNetworkParams | None = None) -> None:
        super().__init__(context, params if params is not None else CutNetworkParams())
        # The engine builds actions outside its error handling, so a bad [network] table is
        # raised from plan()/execute(), where it becomes a Failed with this advice.
        self._config_error: ResponderError | None = None
        try:
            self.params: CutNetworkParams = effective_params(self.params, context.settings)
        except ResponderError as exc:
            self._config_error = exc

    def targets(self) -> list[str]:
        return [f"{self.params.scope}:{FAMILY}/{self.params.table}"]

    def _ruleset(self) -> str:
        return render_ruleset(self.params, incident_id=self.context.incident_id)

    def _guard(self) -> str | None:
        """Why a cut would lock the owner out (advice), or None when it is safe to go."""
        if self.params.scope != "host":
            return None
        client = ssh_client_address()
        if client is None and not self.params.remote_only:
            return None
        why = f"running over SSH from {client}" if client else "this host is remote_only"
        if not self.params.confirmed_remote:
            return (
                f"refusing to cut the network: {why}, so the cut can lock you out. Set "
                "confirmed_remote: true on the step (keep approve: true) with admin_sources "
                "listing where you connect from, and a rollback_minutes timer"
            )
        if self.params.rollback_minutes <= 0:
            return (
                f"refusing a remote cut without auto-rollback ({why}): set rollback_minutes > 0; "
                "once you have checked you still get in, keep the cut with "
                "`clawback restore-network --confirm`"
            )
        if client is not None:
            try:
                address = ipaddress.ip_address(client)
            except ValueError:
                return f"refusing: cannot parse the SSH client address {client!r}"
            if not any(address in ipaddress.ip_network(s) for s in self.params.admin_sources):
                return (
                    f"refusing: this SSH session comes from {client}, which is not in "
                    f"admin_sources {self.params.admin_sources}; add {client} to admin_sources "
                    "([network] in clawback.toml or the step's with:) or the cut drops this session"
                )
        return None

    def plan(self, target: str) -> Planned:
        if self._config_error is not None:
            raise self._config_error
        ruleset = self._ruleset()
        incident_dir = self.context.incident_dir
        path = str((incident_dir / RULESET_FILE) if incident_dir else RULESET_FILE)
        commands = [
            f"nft list tables {FAMILY}  # refuse if {self.params.table} already exists",
            f"nft -c -f {shlex.quote(path)}",
            f"nft -f {shlex.quote(path)}",
        ]
        containers = (
            docker_containers(self.context.settings) if self.params.scope == "agent" else []
        )
        for container in containers:
            commands.append(shlex.join(docker_inspect_networks_command(container)))
            commands.append(
                shlex.join(docker_disconnect_commands(container, ["<each network>"])[0])
            )
        if self.params.rollback_minutes > 0:
            commands.append(
                f"arm auto-rollback: `nft delete table {FAMILY} handle <handle>` in "
                f"{self.params.rollback_minutes:g} min unless `clawback restore-network --confirm`"
            )
        guard = self._guard()
        detail = f"would apply this ruleset ({self.params.scope} scope):\n{ruleset}"
        if guard:
            detail = f"{guard}\n{detail}"
        return Planned(
            action=self.name,
            detail=detail,
            commands=tuple(commands),
            facts={
                "ruleset": ruleset,
                "ruleset_sha256": hashlib.sha256(ruleset.encode()).hexdigest(),
                "scope": self.params.scope,
                "refused": guard,
            },
        )

    def execute(self, target: str) -> Outcome:
        if self._config_error is not None:
            raise self._config_error
        guard = self._guard()
        if guard is not None:
            return Refused(reason=guard, detail="network left as it was")
        if os.geteuid() != 0:
            return Failed(error=ROOT_ADVICE, detail="network left as it was")
        incident_dir = self.context.incident_dir
        if incident_dir is None:
            raise ResponderError("host.cut_network needs an incident directory to record the cut")
        try:
            resolve_binary("nft")
        except MissingBinary as exc:
            return Failed(error=str(exc), detail="network left as it was")
        containers = (
            docker_containers(self.context.settings) if self.params.scope == "agent" else []
        )
        if self.params.scope == "agent" and self.params.agent_uid is None and not containers:
            return Failed(
                error="agent-only cut needs the agent's uid (agent.uid in clawback.toml or "
                "agent_uid on the step) or a docker container in [[agent.services]]",
                detail="network left as it was",
            )
        make_private_dir(Path(incident_dir))
        with _locked(incident_dir):
            return self._apply(Path(incident_dir), containers)

    def _apply(self, incident_dir: Path, containers: Sequence[str]) -> Outcome:
        sent: list[dict[str, Any]] = []
        table = self.params.table
        previous = read_state(incident_dir)
        existing = _table_handle(table, sent)
        if previous and not previous.get("restored_at") and existing == previous.get("handle"):
            return Done(
                detail=f"already cut: table {FAMILY} {table} (handle {existing}) is in place",
                facts={"state_file": str(incident_dir / STATE_FILE), "handle": existing},
            )
        if existing is not None:
            return Failed(
                error=f"table {FAMILY} {table} already exists and this incident did not make it "
                f"(see `nft list table {FAMILY} {table}`); pick another table name (table: on the "
                "step or [network] table) or delete it if it is a leftover",
                facts={"commands": sent},
            )
        ruleset = self._ruleset()
        ruleset_path = write_private(incident_dir / RULESET_FILE, ruleset)
        state: dict[str, Any] = {
            "version": _STATE_VERSION,
            "incident_id": self.context.incident_id,
            "family": FAMILY,
            "table": table,
            "handle": None,
            "scope": self.params.scope,
            "ruleset_file": str(ruleset_path),
            "ruleset_sha256": hashlib.sha256(ruleset.encode()).hexdigest(),
            "netns_inode": _netns_inode(),
            "status": "applying",
            "created_at": _now(),
            "docker_disconnected": [],
            "rollback": {"armed": False, "minutes": self.params.rollback_minutes},
            "confirmed_at": None,
            "restored_at": None,
        }
        # Written before nft runs: a crash right after the apply still leaves restore a record.
        _write_state(incident_dir, state)
        check = _nft(("-c", "-f", str(ruleset_path)), sent)
        if not check.ok:
            state["status"] = "rejected"
            _write_state(incident_dir, state)
            return Failed(
                error=f"nft rejected the ruleset, nothing applied: {check.stderr_tail()}",
                facts={"commands": sent, "ruleset": ruleset},
            )
        applied = _nft(("-f", str(ruleset_path)), sent)
        if not applied.ok:
            state["status"] = "failed"
            _write_state(incident_dir, state)
            return Failed(
                error=f"`nft -f` failed; the transaction is atomic, nothing applied: "
                f"{applied.stderr_tail()}",
                facts={"commands": sent},
            )
        state["handle"] = _table_handle(table, sent)
        state["status"] = "applied"
        state["applied_at"] = _now()
        _write_state(incident_dir, state)
        docker_errors = self._disconnect_containers(containers, state, sent)
        _write_state(incident_dir, state)
        if self.params.rollback_minutes > 0:
            state["rollback"] = _arm_rollback(incident_dir, self.params.rollback_minutes)
            _write_state(incident_dir, state)
        facts = {
            "scope": self.params.scope,
            "table": f"{FAMILY} {table}",
            "handle": state["handle"],
            "ruleset_sha256": state["ruleset_sha256"],
            "ruleset_file": state["ruleset_file"],
            "state_file": str(incident_dir / STATE_FILE),
            "admin_sources": self.params.admin_sources,
            "ssh_port": self.params.ssh_port,
            "ssh_client": ssh_client_address(),
            "docker_disconnected": state["docker_disconnected"],
            "rollback": state["rollback"],
            "commands": sent,
        }
        if docker_errors:
            return Failed(
                error="the nft table is in place but docker disconnect failed: "
                + "; ".join(docker_errors),
                facts=facts,
            )
        rollback = state["rollback"]
        when = (
            f"; auto-rollback at {rollback['deadline_utc']} unless "
            "`clawback restore-network --confirm`"
            if rollback.get("armed")
            else ""
        )
        return Done(
            detail=f"network cut ({self.params.scope} scope, table {FAMILY} {table}){when}",
            facts=facts,
        )

    def _disconnect_containers(
        self, containers: Sequence[str], state: dict[str, Any], sent: list[dict[str, Any]]
    ) -> list[str]:
        errors = []
        for container in containers:
            inspect = run_command(
                docker_inspect_networks_command(container), timeout=_DOCKER_TIMEOUT_S
            )
            sent.append(inspect.record())
            if not inspect.ok:
                errors.append(f"{container}: {inspect.stderr_tail()}")
                continue
            networks = sorted(json.loads(inspect.stdout or "{}") or {})
            for argv in docker_disconnect_commands(container, networks):
                result = run_command(argv, timeout=_DOCKER_TIMEOUT_S)
                sent.append(result.record())
                if result.ok:
                    state["docker_disconnected"].append(
                        {"container": container, "network": argv[4]}
                    )
                else:
                    errors.append(f"{container} from {argv[4]}: {result.stderr_tail()}")
        return errors


# --------------------------------------------------------------------------------------------
# Auto-rollback, confirm, restore
# --------------------------------------------------------------------------------------------


def _arm_rollback(incident_dir: Path, minutes: float) -> dict[str, Any]:
    import psutil

    deadline = time.time() + minutes * 60
    log = open_private(incident_dir / ROLLBACK_LOG, "ab")
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "responders.host.rollback", str(incident_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd="/",
            # Its own session: it must outlive this process and the SSH session's hangup.
            start_new_session=True,
            close_fds=True,
        )
    finally:
        log.close()
    try:
        created = psutil.Process(process.pid).create_time()
    except psutil.Error:
        created = None
    return {
        "armed": True,
        "minutes": minutes,
        "deadline": deadline,
        "deadline_utc": datetime.fromtimestamp(deadline, UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
        "pid": process.pid,
        "pid_create_time": created,
    }


def _stop_rollback_process(rollback: Mapping[str, Any]) -> str:
    """Kill the timer process if it is still the one we started; never any other pid."""
    import psutil

    pid = rollback.get("pid")
    if not pid or pid == os.getpid():
        return "not running"
    try:
        proc = psutil.Process(int(pid))
        if (
            rollback.get("pid_create_time")
            and abs(proc.create_time() - rollback["pid_create_time"]) > 0.01
        ):
            return "pid reused by another process; left alone"
        proc.terminate()
    except psutil.NoSuchProcess:
        return "already exited"
    # Polled rather than proc.wait(): the timer is nobody's child once clawback exits, and a
    # zombie that no init reaps would make wait() time out although it is dead.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                time.sleep(0.02)
                continue
        return "terminated"
    with contextlib.suppress(psutil.Error):
        proc.kill()
    return "killed"


def _load(incident_dir: Path) -> dict[str, Any] | None:
    state = read_state(incident_dir)
    if state is None:
        return None
    inode = _netns_inode()
    if state.get("netns_inode") and inode and state["netns_inode"] != inode:
        raise ResponderError(
            "this process is in another network namespace than the cut was made in; run "
            "restore-network where the cut ran (same host, same `ip netns exec`)"
        )
    return state


def confirm_network_cut(incident_dir: Path) -> Outcome:
    """Keep the cut: disarm the auto-rollback (``clawback restore-network --confirm``)."""
    incident_dir = Path(incident_dir)
    if read_state(incident_dir) is None:
        return Skipped(reason=f"no network cut is recorded in {incident_dir}")
    with _locked(incident_dir):
        state = _load(incident_dir)
        assert state is not None
        if state.get("restored_at"):
            return Failed(
                error=f"too late: the cut was already undone at {state['restored_at']} by "
                f"{state.get('restored_by')}; the network is open. Cut again with "
                "`clawback contain --cut-network`",
                facts={"restored_at": state["restored_at"]},
            )
        rollback = dict(state.get("rollback") or {})
        if not rollback.get("armed"):
            return Skipped(reason="no auto-rollback is armed; the cut stays as it is")
        rollback["armed"] = False
        state["rollback"] = rollback
        state["confirmed_at"] = _now()
        _write_state(incident_dir, state)
        stopped = _stop_rollback_process(rollback)
    return Done(
        detail=f"auto-rollback disarmed; table {FAMILY} {state['table']} stays. Undo it later "
        "with `clawback restore-network`",
        facts={"confirmed_at": state["confirmed_at"], "rollback_process": stopped},
    )


def restore_network(incident_dir: Path, *, restored_by: str = "restore-network") -> Outcome:
    """Remove exactly what the cut added: our table (by handle) and docker disconnects."""
    incident_dir = Path(incident_dir)
    if read_state(incident_dir) is None:
        return Skipped(reason=f"no network cut is recorded in {incident_dir}")
    try:
        resolve_binary("nft")
    except MissingBinary as exc:
        return Failed(error=str(exc))
    if os.geteuid() != 0:
        return Failed(
            error="restoring the network needs root (CAP_NET_ADMIN): run "
            f"`sudo clawback restore-network` (incident {incident_dir.name}), or by hand: "
            f"`nft delete table {FAMILY} {(read_state(incident_dir) or {}).get('table', '')}`"
        )
    with _locked(incident_dir):
        state = _load(incident_dir)
        assert state is not None
        if state.get("restored_at"):
            return Skipped(
                reason=f"already restored at {state['restored_at']} by {state.get('restored_by')}"
            )
        return _restore_locked(incident_dir, state, restored_by)


def _restore_locked(incident_dir: Path, state: dict[str, Any], restored_by: str) -> Outcome:
    sent: list[dict[str, Any]] = []
    rollback = dict(state.get("rollback") or {})
    timer = _stop_rollback_process(rollback) if rollback.get("armed") else "not armed"
    table, handle = state["table"], state.get("handle")
    current = _table_handle(table, sent)
    counters: dict[str, dict[str, int]] = {}
    removed = None
    if current is None:
        note = f"table {FAMILY} {table} was already gone"
    elif handle is not None and current != handle:
        return Failed(
            error=f"table {FAMILY} {table} now has handle {current}, not the {handle} this "
            "incident created: someone replaced it, so it is left alone. Inspect it with "
            f"`nft list table {FAMILY} {table}` and delete it by hand if it is ours",
            facts={"commands": sent},
        )
    else:
        counters = _table_counters(table, sent)
        by_handle = ("delete", "table", FAMILY, "handle", str(current))
        result = _nft(by_handle, sent)
        if not result.ok:
            return Failed(
                error="`nft delete table` failed, the cut is still in place: "
                + result.stderr_tail(),
                facts={"commands": sent},
            )
        removed = {"family": FAMILY, "table": table, "handle": current}
        note = f"deleted table {FAMILY} {table} (handle {current})"
    errors = []
    for argv in docker_reconnect_commands(state.get("docker_disconnected") or []):
        result = run_command(argv, timeout=_DOCKER_TIMEOUT_S)
        sent.append(result.record())
        if not result.ok:
            errors.append(f"{shlex.join(argv)}: {result.stderr_tail()}")
    rollback["armed"] = False
    state["rollback"] = rollback
    state["restored_at"] = _now()
    state["restored_by"] = restored_by
    _write_state(incident_dir, state)
    facts = {
        "removed": removed,
        "blocked_counters": counters,
        "docker_reconnected": state.get("docker_disconnected") or [],
        "rollback_process": timer,
        "restored_by": restored_by,
        "commands": sent,
    }
    if errors:
        return Failed(
            error="network table removed but docker reconnect failed: " + "; ".join(errors),
            facts=facts,
        )
    return Done(detail=f"network restored: {note}; other tables untouched", facts=facts)


def run_rollback_timer(incident_dir: Path, *, poll_s: float = 1.0) -> Outcome:
    """Body of the detached timer: wait for the deadline, then restore unless confirmed."""
    incident_dir = Path(incident_dir)
    while True:
        state = read_state(incident_dir)
        if state is None:
            return Skipped(reason="state file gone")
        rollback = state.get("rollback") or {}
        if not rollback.get("armed") or state.get("restored_at"):
            return Skipped(reason="disarmed (confirmed or already restored)")
        remaining = float(rollback.get("deadline", 0)) - time.time()
        if remaining <= 0:
            break
        time.sleep(min(poll_s, remaining))
    with _locked(incident_dir):
        state = _load(incident_dir)
        if (
            state is None
            or state.get("restored_at")
            or not (state.get("rollback") or {}).get("armed")
        ):
            return Skipped(reason="disarmed while waiting for the lock")
        return _restore_locked(incident_dir, state, "auto-rollback")


# --------------------------------------------------------------------------------------------
# Where a cut stands now (clawback status), read-only
# --------------------------------------------------------------------------------------------


def _timer_running(rollback: Mapping[str, Any]) -> bool:
    """Whether the timer process the cut started is still alive: the same pid *and* start
    time, so a reused pid is never taken for it."""
    import psutil

    pid = rollback.get("pid")
    if not pid:
        return False
    try:
        proc = psutil.Process(int(pid))
        created = rollback.get("pid_create_time")
        if created and abs(proc.create_time() - float(created)) > 0.01:
            return False
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, ValueError, TypeError):
        return False


def cut_status(incident_dir: Path, *, here: bool = True) -> dict[str, Any] | None:
    """The cut recorded in ``incident_dir`` as it stands now, or None when none is recorded.

    Changes nothing. ``here``: the record is this machine's (a fleet host's copy is not), so
    the timer's process and the table can be looked at: ``timer_running`` and ``in_place`` are
    None when they cannot be (another machine, another network namespace, no root, no nft).
    """
    state = read_state(incident_dir)
    if state is None:
        return None
    rollback = dict(state.get("rollback") or {})
    armed = bool(rollback.get("armed")) and not state.get("restored_at")
    timer: bool | None = None
    in_place: bool | None = None
    inode = _netns_inode()
    same_place = here and not (state.get("netns_inode") and inode
                               and state["netns_inode"] != inode)
    if same_place:
        timer = _timer_running(rollback) if armed else False
        if os.geteuid() == 0 and state.get("status") == "applied":
            with contextlib.suppress(MissingBinary, OSError):
                in_place = _table_handle(str(state.get("table")), []) == state.get("handle")
    return {
        "table": f"{state.get('family', FAMILY)} {state.get('table', '')}",
        "status": state.get("status"),
        "scope": state.get("scope"),
        "applied_at": state.get("applied_at"),
        "confirmed_at": state.get("confirmed_at"),
        "restored_at": state.get("restored_at"),
        "restored_by": state.get("restored_by"),
        "rollback_armed": armed,
        "rollback_deadline": rollback.get("deadline") if armed else None,
        "rollback_deadline_utc": rollback.get("deadline_utc") if armed else None,
        "timer_running": timer,
        "in_place": in_place,
    }
