"""The machine around the agent: gateway processes and listeners, sshd, firewall, AppArmor.

Live facts (processes, sockets, the firewall) come from the network namespace the audit runs in
and only when ``HostSystem.live`` is set; files (``/etc/ssh``, ``/etc/ufw``, ``/etc/apparmor.d``,
``/sys/module/apparmor``) are read under ``HostSystem.root``. A process counts as this install's
gateway when it holds one of the install's live lock files, or looks like a gateway (title or
argv) *and* runs with this home/state dir or listens on this install's gateway port.
"""

from __future__ import annotations

import contextlib
import glob
import ipaddress
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawback.audit.context import AuditContext, list_dir, read_text
from clawback.audit.model import Hit, Severity, check

MAX_SSHD_INCLUDE_DEPTH = 8
AGENT_WORDS = ("openclaw", "clawdbot", "moltbot")


# --------------------------------------------------------------------------------------------
# Gateway processes and listeners
# --------------------------------------------------------------------------------------------


@dataclass
class GatewayProcessFacts:
    pid: int
    name: str
    euid: int | None
    reasons: list[str] = field(default_factory=list)
    listening: list[str] = field(default_factory=list)  # "ip:port" it listens on


@dataclass(frozen=True)
class Listener:
    ip: str
    port: int
    pid: int | None


def gateway_ports(ctx: AuditContext) -> set[int]:
    ports = set(ctx.survey.ports)
    ports |= {p + 2 for p in set(ports)}  # browser control listens on port+2
    configured = ctx.agent_settings.get("gateway_port")
    if isinstance(configured, int):
        ports.add(configured)
    return ports


def listeners(ctx: AuditContext) -> list[Listener]:
    def collect() -> list[Listener]:
        import psutil

        found = []
        try:
            connections = psutil.net_connections(kind="inet")
        except (psutil.Error, OSError):
            ctx.notes.append("listening sockets could not be read (needs root to see all pids)")
            return []
        for conn in connections:
            if conn.status == psutil.CONN_LISTEN and conn.laddr:
                found.append(Listener(conn.laddr.ip, conn.laddr.port, conn.pid))
        return found

    if not ctx.host.live:
        return []
    return ctx.memo("listeners", collect)


def _own_lineage() -> set[int]:
    import psutil

    pids = {os.getpid()}
    with contextlib.suppress(psutil.Error):
        pids.update(p.pid for p in psutil.Process().parents())
    return pids


def gateway_processes(ctx: AuditContext) -> list[GatewayProcessFacts]:
    def collect() -> list[GatewayProcessFacts]:
        import psutil

        from clawback.registry import load_agent

        agent = load_agent()
        ports = gateway_ports(ctx)
        lock_pids = {lock.pid for lock in ctx.survey.locks if lock.alive and lock.pid}
        homes = {str(ctx.user_home)} | {str(s) for s in ctx.state_dir_paths}
        by_pid: dict[int, list[str]] = {}
        for listener in listeners(ctx):
            if listener.pid is not None:
                by_pid.setdefault(listener.pid, []).append(f"{listener.ip}:{listener.port}")
        exclude = _own_lineage()
        found = []
        for proc in psutil.process_iter(["name", "cmdline", "uids"]):
            if proc.pid in exclude:
                continue
            info = proc.info
            name, cmdline = info["name"] or "", info["cmdline"] or []
            reasons = []
            if proc.pid in lock_pids:
                reasons.append("holds the gateway lock")
            signature = agent.process_signature(name, cmdline)
            if signature:
                listening = by_pid.get(proc.pid, [])
                if any(int(addr.rsplit(":", 1)[1]) in ports for addr in listening):
                    reasons.append(f"{signature}, listens on the gateway port")
                elif _runs_for(proc, homes):
                    reasons.append(f"{signature}, runs for this home")
            if reasons:
                uids = info["uids"]
                found.append(
                    GatewayProcessFacts(
                        proc.pid,
                        name,
                        uids.effective if uids else None,
                        reasons,
                        by_pid.get(proc.pid, []),
                    )
                )
        return found

    if not ctx.host.live:
        return []
    return ctx.memo("gateway_processes", collect)


def _runs_for(proc: Any, homes: set[str]) -> bool:
    import psutil

    try:
        environ = proc.environ()
    except (psutil.Error, OSError):
        environ = {}
    if environ.get("HOME") in homes or environ.get("OPENCLAW_STATE_DIR") in homes:
        return True
    try:
        cmdline = " ".join(proc.cmdline())
    except (psutil.Error, OSError):
        return False
    return any(home in cmdline for home in homes)


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@check(
    "gateway.listener_exposed",
    Severity.CRITICAL,
    "The running gateway listens on a non-loopback address",
    fix='Set gateway.bind to "loopback" and restart it; until then, block the port '
    "(ufw deny 18789, or the DOCKER-USER chain for containers).",
    area="gateway",
    openclaw_ids=("gateway.bind_network_accessible",),
)
def listener_exposed(ctx: AuditContext) -> Iterator[Hit]:
    gateway_pids = {p.pid: p for p in gateway_processes(ctx)}
    ports = gateway_ports(ctx)
    evidence = []
    for listener in listeners(ctx):
        if _is_loopback(listener.ip):
            continue
        process = gateway_pids.get(listener.pid) if listener.pid is not None else None
        if process is not None:
            evidence.append(
                f"pid {process.pid} ({process.name}) listens on {listener.ip}:{listener.port}"
            )
        elif listener.pid is None and listener.port in ports:
            evidence.append(
                f"an unidentified process listens on {listener.ip}:{listener.port}, "
                "the gateway's port"
            )
    if evidence:
        yield Hit(evidence=tuple(evidence))


def _unit_user(text: str) -> str | None:
    user = None
    for line in text.splitlines():
        match = re.match(r"\s*User\s*=\s*(\S+)", line)
        if match:
            user = match.group(1)
    return user


@check(
    "process.gateway_root",
    Severity.CRITICAL,
    "The gateway runs as root",
    fix="Run the gateway as an unprivileged user (openclaw gateway install as that user, or "
    "User= in a system unit); a compromised agent then cannot own the host.",
    area="process",
)
def gateway_root(ctx: AuditContext) -> Iterator[Hit]:
    for process in gateway_processes(ctx):
        if process.euid == 0:
            yield Hit(
                evidence=(
                    f"pid {process.pid} ({process.name}) runs as uid 0 "
                    f"({'; '.join(process.reasons)})",
                )
            )
    for service in ctx.survey.services:
        if service.kind != "systemd":
            continue
        user = _unit_user(read_text(Path(service.path), 256 * 1024) or "")
        if user in (None, "root", "0"):
            yield Hit(
                evidence=(
                    f"{service.path}: system unit "
                    + ("has no User= (runs as root)" if user is None else f"User={user}"),
                ),
                severity=Severity.HIGH,
            )


# --------------------------------------------------------------------------------------------
# sshd
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SshdSetting:
    value: str
    where: str


def sshd_settings(ctx: AuditContext) -> dict[str, SshdSetting] | None:
    """Global sshd options as sshd reads them: first value wins, ``Include`` followed, options
    after the first ``Match`` ignored (they apply to some connections only)."""
    main = ctx.host.path("/etc/ssh/sshd_config")
    if read_text(main) is None:
        return None
    settings: dict[str, SshdSetting] = {}
    in_match = False

    def read(path: Path, depth: int) -> None:
        nonlocal in_match
        text = read_text(path, 1024 * 1024)
        if text is None or depth > MAX_SSHD_INCLUDE_DEPTH:
            return
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = re.split(r"\s*=\s*|\s+", line, maxsplit=1)
            key = parts[0].lower()
            value = parts[1].strip() if len(parts) > 1 else ""
            if key == "match":
                in_match = True
            elif key == "include" and not in_match:
                for pattern in value.split():
                    absolute = pattern if pattern.startswith("/") else f"/etc/ssh/{pattern}"
                    for included in sorted(glob.glob(str(ctx.host.path(absolute)))):
                        read(Path(included), depth + 1)
            elif not in_match and key not in settings:
                settings[key] = SshdSetting(value.lower(), f"{path}:{number}")

    read(main, 0)
    return settings


@check(
    "host.sshd_password_auth",
    Severity.HIGH,
    "sshd accepts passwords",
    fix="Set `PasswordAuthentication no` and `KbdInteractiveAuthentication no` at the top of "
    "/etc/ssh/sshd_config (before any Match), use keys, then `systemctl reload ssh`.",
    area="host",
)
def sshd_password_auth(ctx: AuditContext) -> Iterator[Hit]:
    settings = sshd_settings(ctx)
    if settings is None:
        return
    password = settings.get("passwordauthentication")
    if password is None:
        main = ctx.host.path("/etc/ssh/sshd_config")
        yield Hit(evidence=(f"{main}: PasswordAuthentication not set (OpenSSH default: yes)",))
    elif password.value == "yes":
        yield Hit(evidence=(f"{password.where}: PasswordAuthentication yes",))


@check(
    "host.sshd_root_login",
    Severity.HIGH,
    "sshd lets root log in with a password",
    fix="Set `PermitRootLogin no` (or prohibit-password) and reload sshd.",
    area="host",
)
def sshd_root_login(ctx: AuditContext) -> Iterator[Hit]:
    settings = sshd_settings(ctx)
    if settings is None:
        return
    root = settings.get("permitrootlogin")
    if root is not None and root.value == "yes":
        yield Hit(evidence=(f"{root.where}: PermitRootLogin yes",))


# --------------------------------------------------------------------------------------------
# Firewall
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FirewallView:
    protected_by: str | None  # what drops unsolicited input, if anything does
    observed: tuple[str, ...]  # what was looked at
    readable: bool  # at least one source could be read


def _ufw_view(ctx: AuditContext) -> tuple[bool, str]:
    conf = read_text(ctx.host.path("/etc/ufw/ufw.conf"), 64 * 1024)
    if conf is None:
        return False, "ufw: not installed"
    enabled = re.search(r"^\s*ENABLED\s*=\s*\"?yes\"?\s*$", conf, re.M | re.I) is not None
    defaults = read_text(ctx.host.path("/etc/default/ufw"), 64 * 1024) or ""
    match = re.search(r"^\s*DEFAULT_INPUT_POLICY\s*=\s*\"?(\w+)\"?", defaults, re.M)
    policy = match.group(1).upper() if match else "DROP"
    if enabled and policy in {"DROP", "REJECT"}:
        return True, f"ufw: enabled, default input policy {policy}"
    return False, f"ufw: {'enabled' if enabled else 'disabled'}, default input policy {policy}"


def _nft_chain_drops(chain: Mapping[str, Any], rules: list[Mapping[str, Any]]) -> bool:
    if chain.get("policy") == "drop":
        return True
    if not rules:
        return False
    last = rules[-1].get("expr", [])
    keys = {k for item in last if isinstance(item, Mapping) for k in item}
    return bool(keys & {"drop", "reject"}) and keys <= {"drop", "reject", "counter", "log"}


def _nft_view(ctx: AuditContext) -> tuple[bool | None, str]:
    nft = ctx.commands.which("nft")
    if nft is None:
        return None, "nft: not installed"
    result = ctx.commands.run([nft, "-j", "list", "ruleset"])
    if not result.ok:
        return None, f"nft: could not list the ruleset (exit {result.returncode})"
    try:
        items = json.loads(result.stdout or "{}").get("nftables", [])
    except (ValueError, AttributeError):
        return None, "nft: unreadable JSON output"
    chains = [i["chain"] for i in items if isinstance(i, Mapping) and "chain" in i]
    rules = [i["rule"] for i in items if isinstance(i, Mapping) and "rule" in i]
    inputs = [c for c in chains if c.get("hook") == "input" and c.get("family") != "arp"]
    for chain in inputs:
        own = [
            r for r in rules
            if (r.get("family"), r.get("table"), r.get("chain"))
            == (chain.get("family"), chain.get("table"), chain.get("name"))
        ]  # fmt: skip
        if _nft_chain_drops(chain, own):
            return True, (
                f"nft: {chain.get('family')} {chain.get('table')} {chain.get('name')} "
                f"(hook input, policy {chain.get('policy')}) drops unsolicited input"
            )
    if not inputs:
        return False, "nft: no chain hooks input (everything is accepted)"
    names = ", ".join(f"{c.get('family')} {c.get('table')} {c.get('name')}" for c in inputs)
    return False, f"nft: input chains {names} accept by default"


def _iptables_view(ctx: AuditContext) -> tuple[bool | None, str]:
    iptables = ctx.commands.which("iptables")
    if iptables is None:
        return None, "iptables: not installed"
    result = ctx.commands.run([iptables, "-S", "INPUT"])
    if not result.ok:
        return None, f"iptables: could not list INPUT (exit {result.returncode})"
    match = re.search(r"^-P INPUT (\w+)", result.stdout, re.M)
    policy = match.group(1) if match else "ACCEPT"
    return policy in {"DROP", "REJECT"}, f"iptables: INPUT policy {policy}"


def firewall_view(ctx: AuditContext) -> FirewallView:
    def look() -> FirewallView:
        observed = []
        ufw_ok, ufw_text = _ufw_view(ctx)
        observed.append(ufw_text)
        if ufw_ok:
            return FirewallView("ufw", tuple(observed), True)
        readable = "not installed" not in ufw_text
        for view in (_nft_view, _iptables_view):
            ok, text = view(ctx)
            observed.append(text)
            if ok is not None:
                readable = True
            if ok:
                return FirewallView(text.split(":", 1)[0], tuple(observed), True)
        return FirewallView(None, tuple(observed), readable)

    return ctx.memo("firewall", look)


@check(
    "host.firewall_default_allow",
    Severity.HIGH,
    "No host firewall drops unsolicited inbound traffic",
    fix="Enable a default-deny inbound firewall: `ufw default deny incoming && ufw allow "
    "OpenSSH && ufw enable` (or an nftables input chain with policy drop).",
    area="host",
)
def firewall_default_allow(ctx: AuditContext) -> Iterator[Hit]:
    if not ctx.host.live:
        return
    view = firewall_view(ctx)
    if view.protected_by is None and view.readable:
        yield Hit(evidence=view.observed)


@check(
    "host.firewall_unknown",
    Severity.INFO,
    "The host firewall could not be inspected",
    fix="Run the audit as root (nft needs CAP_NET_ADMIN to list rules) or install ufw/nftables.",
    area="host",
)
def firewall_unknown(ctx: AuditContext) -> Iterator[Hit]:
    if not ctx.host.live:
        return
    view = firewall_view(ctx)
    if view.protected_by is None and not view.readable:
        yield Hit(evidence=view.observed)


# --------------------------------------------------------------------------------------------
# AppArmor
# --------------------------------------------------------------------------------------------


def apparmor_profiles(ctx: AuditContext) -> list[str]:
    profiles = []
    for entry in list_dir(ctx.host.path("/etc/apparmor.d")):
        text = read_text(entry, 64 * 1024) or ""
        if any(w in entry.name.lower() for w in AGENT_WORDS) or any(
            re.search(rf"^\s*profile\s+\S*{w}", text, re.M | re.I) for w in AGENT_WORDS
        ):
            profiles.append(str(entry))
    from clawback.audit.checks.isolation import compose_services

    for service in compose_services(ctx):
        for opt in service.spec.get("security_opt") or []:
            text = str(opt).replace("=", ":")
            if text.startswith("apparmor:") and "unconfined" not in text:
                profiles.append(f"{service.label}: {opt}")
    return profiles


@check(
    "host.apparmor_missing",
    Severity.MEDIUM,
    "No AppArmor profile confines the gateway",
    fix="Enable AppArmor and load a profile for the gateway (node …/openclaw/dist/index.js) "
    "that denies ~/.ssh, ~/.aws and other users' files; or run it in a container with the "
    "docker-default profile.",
    area="host",
)
def apparmor_missing(ctx: AuditContext) -> Iterator[Hit]:
    if not sys.platform.startswith("linux") or not ctx.configs:
        return
    enabled = read_text(ctx.host.path("/sys/module/apparmor/parameters/enabled"), 16)
    if not enabled or not enabled.strip().upper().startswith("Y"):
        yield Hit(evidence=("AppArmor is not enabled on this host (/sys/module/apparmor)",))
        return
    if not apparmor_profiles(ctx):
        yield Hit(evidence=(f"no profile in {ctx.host.path('/etc/apparmor.d')} names the gateway",))
