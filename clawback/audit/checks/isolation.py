"""What the agent can do and who can talk to it: containers, sandbox, exec, channels, plugins.

Docker Compose files are parsed, never run: those in the agent's home (and its first level of
subdirectories), in state dirs, under ``/opt`` and ``/srv``, and any named in the services
settings. Only services that are OpenClaw's (by service name, container name or image; failing
that, every service of a compose file in a directory named after it) are judged, so an
unrelated stack on the same host does not produce findings here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clawback.audit.context import (
    AuditContext,
    InstallConfig,
    as_list,
    dig,
    is_dir,
    list_dir,
    lstat,
    read_text,
)
from clawback.audit.model import Hit, Severity, check

COMPOSE_NAMES = (
    "docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml",
    "docker-compose.override.yml", "docker-compose.extra.yml",
)  # fmt: skip
AGENT_WORDS = ("openclaw", "clawdbot", "moltbot", "moldbot")
SOCKET_MARKERS = ("docker.sock", "podman.sock", "containerd.sock", "/run/docker", "/var/run/docker")
SENSITIVE_HOST_PATHS = ("/", "/etc", "/root", "/home", "/var/run", "/run", "/proc", "/sys", "/boot")
DANGEROUS_CAPS = {
    "ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "DAC_READ_SEARCH", "DAC_OVERRIDE",
    "SYS_RAWIO", "BPF",
}  # fmt: skip
MAX_ELEVATED_ALLOW = 25


# --------------------------------------------------------------------------------------------
# Docker Compose
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComposeService:
    file: Path
    name: str
    spec: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{self.file}:services.{self.name}"


def _mentions_agent(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in AGENT_WORDS)


def compose_files(ctx: AuditContext) -> list[Path]:
    def find() -> list[Path]:
        dirs = [ctx.user_home, *(d for d in list_dir(ctx.user_home) if is_dir(d))]
        dirs += ctx.state_dir_paths
        for root in ("/opt", "/srv"):
            dirs += [d for d in list_dir(ctx.host.path(root)) if _mentions_agent(d.name)]
        files = [d / name for d in dirs for name in COMPOSE_NAMES]
        for service in as_list(ctx.agent_settings.get("services")):
            if isinstance(service, Mapping) and service.get("compose_file"):
                files.append(Path(str(service["compose_file"])))
        return [f for f in dict.fromkeys(files) if lstat(f) is not None]

    return ctx.memo("compose_files", find)


def compose_services(ctx: AuditContext) -> list[ComposeService]:
    def load() -> list[ComposeService]:
        import yaml

        services = []
        for path in compose_files(ctx):
            text = read_text(path, 1024 * 1024)
            if text is None:
                continue
            try:
                document = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f":{mark.line + 1}" if mark is not None else ""
                ctx.notes.append(f"{path}{where}: not valid YAML; its services were not checked")
                continue
            entries = document.get("services") if isinstance(document, Mapping) else None
            if not isinstance(entries, Mapping):
                continue
            candidates = [
                (str(name), spec) for name, spec in entries.items() if isinstance(spec, Mapping)
            ]
            named = [
                (name, spec)
                for name, spec in candidates
                if _mentions_agent(
                    " ".join(str(spec.get(k, "")) for k in ("image", "container_name")) + name
                )
            ]
            # A file in an "openclaw" directory whose services hide their image behind a
            # variable is still OpenClaw's.
            if not named and _mentions_agent(path.parent.name):
                named = candidates
            services += [ComposeService(path, name, spec) for name, spec in named]
        return services

    return ctx.memo("compose_services", load)


def split_compose_colons(text: str) -> list[str]:
    """Split ``[ip:]host:container`` on colons outside ``${…}`` and ``[…]`` (IPv6)."""
    parts, current, depth = [], "", 0
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith("${", i):
            depth += 1
            current += "${"
            i += 2
            continue
        if ch == "[":
            depth += 1
        elif ch in "]}" and depth:
            depth -= 1
        if ch == ":" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
        i += 1
    parts.append(current)
    return parts


def _interpolated_default(value: str) -> str:
    """``${BIND:-127.0.0.1}`` → ``127.0.0.1`` (what Compose uses when the variable is unset)."""
    match = re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}", value.strip())
    if match:
        return match.group(1) or ""
    return value.strip()


def _is_loopback_ip(value: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(value.strip("[]")).is_loopback
    except ValueError:
        return value == "localhost"


def exposed_ports(spec: Mapping[str, Any]) -> list[str]:
    """Port mappings published on every interface (or a non-loopback one)."""
    exposed = []
    for port in as_list(spec.get("ports")):
        if isinstance(port, Mapping):
            host_ip = _interpolated_default(str(port.get("host_ip", "")))
            if port.get("published") is not None and not _is_loopback_ip(host_ip):
                exposed.append(json.dumps(dict(port), sort_keys=True, default=str))
            continue
        text = str(port).split("/", 1)[0]
        parts = split_compose_colons(text)
        if len(parts) >= 3:
            host_ip = _interpolated_default(":".join(parts[:-2]))
            if _is_loopback_ip(host_ip):
                continue
        exposed.append(str(port))
    return exposed


def _volume_source(volume: Any) -> str:
    if isinstance(volume, Mapping):
        return str(volume.get("source", ""))
    return split_compose_colons(str(volume))[0]


def _service_hits(ctx: AuditContext, judge: Any) -> Iterator[Hit]:
    for service in compose_services(ctx):
        problem = judge(service.spec)
        if problem:
            yield Hit(evidence=(f"{service.label}: {problem}",))


@check(
    "docker.privileged",
    Severity.CRITICAL,
    "OpenClaw container runs privileged",
    fix="Remove `privileged: true`; grant only the capabilities the gateway needs (none).",
    area="isolation",
)
def docker_privileged(ctx: AuditContext) -> Iterator[Hit]:
    yield from _service_hits(
        ctx, lambda s: "privileged: true" if s.get("privileged") is True else None
    )


@check(
    "docker.socket_mount",
    Severity.CRITICAL,
    "OpenClaw container can reach the Docker socket (root on the host)",
    fix="Remove the docker.sock volume; use the sandbox's own container runtime settings instead.",
    area="isolation",
)
def docker_socket_mount(ctx: AuditContext) -> Iterator[Hit]:
    def judge(spec: Mapping[str, Any]) -> str | None:
        sockets = [
            _volume_source(v)
            for v in as_list(spec.get("volumes"))
            if any(m in _volume_source(v) for m in SOCKET_MARKERS)
        ]
        return f"mounts {', '.join(sockets)}" if sockets else None

    yield from _service_hits(ctx, judge)


@check(
    "docker.sensitive_mount",
    Severity.HIGH,
    "OpenClaw container mounts a sensitive host path",
    fix="Mount only the OpenClaw config and workspace directories, never /, /etc, /root, "
    "/home, /proc, /sys or /run.",
    area="isolation",
)
def docker_sensitive_mount(ctx: AuditContext) -> Iterator[Hit]:
    def judge(spec: Mapping[str, Any]) -> str | None:
        mounts = [
            _volume_source(v)
            for v in as_list(spec.get("volumes"))
            if _volume_source(v).rstrip("/") in {p.rstrip("/") for p in SENSITIVE_HOST_PATHS}
            or _volume_source(v) == "/"
        ]
        return f"mounts {', '.join(mounts)}" if mounts else None

    yield from _service_hits(ctx, judge)


@check(
    "docker.host_namespaces",
    Severity.HIGH,
    "OpenClaw container shares the host's network, PID or IPC namespace",
    fix="Remove `network_mode: host` (publish 127.0.0.1:18789 instead), `pid: host` and "
    "`ipc: host`.",
    area="isolation",
)
def docker_host_namespaces(ctx: AuditContext) -> Iterator[Hit]:
    def judge(spec: Mapping[str, Any]) -> str | None:
        shared = [f"{key}: host" for key in ("network_mode", "pid", "ipc", "uts")]
        found = [s for s in shared if str(spec.get(s.split(":")[0], "")) == "host"]
        return ", ".join(found) or None

    yield from _service_hits(ctx, judge)


@check(
    "docker.user_root",
    Severity.HIGH,
    "OpenClaw container runs as root",
    fix='Run as the image\'s unprivileged user: `user: "1000:1000"` (node), or drop the '
    "`user: root` override.",
    area="isolation",
)
def docker_user_root(ctx: AuditContext) -> Iterator[Hit]:
    def judge(spec: Mapping[str, Any]) -> str | None:
        user = str(spec.get("user", "")).strip()
        name = user.split(":", 1)[0]
        return f"user: {user}" if name in {"root", "0"} else None

    yield from _service_hits(ctx, judge)


@check(
    "docker.cap_drop_missing",
    Severity.MEDIUM,
    "OpenClaw container keeps Docker's default capabilities",
    fix="Add `cap_drop: [ALL]`.",
    area="isolation",
)
def docker_cap_drop_missing(ctx: AuditContext) -> Iterator[Hit]:
    def judge(spec: Mapping[str, Any]) -> str | None:
        dropped = {str(c).upper() for c in as_list(spec.get("cap_drop"))}
        return None if "ALL" in dropped else "cap_drop does not include ALL"

    yield from _service_hits(ctx, judge)


@check(
    "docker.cap_add_dangerous",
    Severity.HIGH,
    "OpenClaw container is granted powerful capabilities",
    fix="Remove the capabilities from cap_add; the gateway needs none of them.",
    area="isolation",
)
def docker_cap_add_dangerous(ctx: AuditContext) -> Iterator[Hit]:
    def judge(spec: Mapping[str, Any]) -> str | None:
        added = {str(c).upper().removeprefix("CAP_") for c in as_list(spec.get("cap_add"))}
        bad = sorted(added & DANGEROUS_CAPS)
        return f"cap_add: {', '.join(bad)}" if bad else None

    yield from _service_hits(ctx, judge)


@check(
    "docker.read_only_missing",
    Severity.LOW,
    "OpenClaw container's root filesystem is writable",
    fix="Add `read_only: true` and a tmpfs for /tmp; keep state on the mounted volumes.",
    area="isolation",
)
def docker_read_only_missing(ctx: AuditContext) -> Iterator[Hit]:
    yield from _service_hits(
        ctx, lambda s: None if s.get("read_only") is True else "read_only is not true"
    )


def _security_opts(spec: Mapping[str, Any]) -> list[str]:
    return [str(o).replace(" ", "").lower() for o in as_list(spec.get("security_opt"))]


@check(
    "docker.no_new_privileges_missing",
    Severity.MEDIUM,
    "OpenClaw container processes may gain privileges (setuid binaries)",
    fix='Add `security_opt: ["no-new-privileges:true"]`.',
    area="isolation",
)
def docker_no_new_privileges_missing(ctx: AuditContext) -> Iterator[Hit]:
    def judge(spec: Mapping[str, Any]) -> str | None:
        opts = _security_opts(spec)
        ok = any(o in {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}
                 for o in opts)  # fmt: skip
        return None if ok else "security_opt lacks no-new-privileges:true"

    yield from _service_hits(ctx, judge)


@check(
    "docker.unconfined_security",
    Severity.HIGH,
    "OpenClaw container runs without seccomp/AppArmor/SELinux confinement",
    fix="Remove seccomp=unconfined, apparmor=unconfined and label=disable from security_opt.",
    area="isolation",
    openclaw_ids=("sandbox.dangerous_seccomp_profile", "sandbox.dangerous_apparmor_profile"),
)
def docker_unconfined_security(ctx: AuditContext) -> Iterator[Hit]:
    def judge(spec: Mapping[str, Any]) -> str | None:
        bad = [
            o for o in _security_opts(spec)
            if o.replace("=", ":") in {"seccomp:unconfined", "apparmor:unconfined", "label:disable"}
        ]  # fmt: skip
        return f"security_opt: {', '.join(bad)}" if bad else None

    yield from _service_hits(ctx, judge)


@check(
    "docker.port_all_interfaces",
    Severity.HIGH,
    "OpenClaw container port is published on all interfaces",
    fix='Publish on loopback only: "127.0.0.1:18789:18789" (Docker bypasses ufw for '
    "published ports; firewall the DOCKER-USER chain if it must be reachable).",
    area="isolation",
)
def docker_port_all_interfaces(ctx: AuditContext) -> Iterator[Hit]:
    def judge(spec: Mapping[str, Any]) -> str | None:
        exposed = exposed_ports(spec)
        return f"ports {', '.join(exposed)}" if exposed else None

    yield from _service_hits(ctx, judge)


# --------------------------------------------------------------------------------------------
# Sandbox, exec, elevated tools
# --------------------------------------------------------------------------------------------


def agent_scopes(config: InstallConfig) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """("agents.defaults", defaults) then ("agents.list[i] (id)", entry) for each agent."""
    defaults = dig(config.merged, "agents.defaults")
    yield "agents.defaults", defaults if isinstance(defaults, Mapping) else {}
    for index, entry in enumerate(as_list(dig(config.merged, "agents.list"))):
        if isinstance(entry, Mapping):
            yield f"agents.list[{index}] ({entry.get('id', '?')})", entry


@check(
    "sandbox.mode_off",
    Severity.HIGH,
    "Agent tools run on the host, not in the sandbox",
    fix='Set agents.defaults.sandbox.mode to "all" (or at least "non-main") with '
    'sandbox.docker.network "none", so exec and file tools run in a container.',
    area="isolation",
    openclaw_ids=("sandbox.docker_config_mode_off", "tools.exec.host_sandbox_no_sandbox_*"),
)
def sandbox_mode_off(ctx: AuditContext) -> Iterator[Hit]:
    for config in ctx.configs:
        evidence = []
        for scope, node in agent_scopes(config):
            mode = dig(node, "sandbox.mode")
            if scope == "agents.defaults" and mode in (None, "off"):
                shown = "'off'" if mode == "off" else "not set (default off)"
                evidence.append(f"{config.path}:{scope}.sandbox.mode {shown}")
            elif scope != "agents.defaults" and mode == "off":
                evidence.append(f"{config.path}:{scope} sandbox.mode = 'off'")
        if evidence:
            yield Hit(evidence=tuple(evidence))


@check(
    "sandbox.dangerous_docker",
    Severity.CRITICAL,
    "Sandbox container settings undo the sandbox",
    fix='Use sandbox.docker.network "none" (or a dedicated bridge), bind only workspace '
    "paths, never the Docker socket or system/credential dirs, and keep seccomp/AppArmor on.",
    area="isolation",
    openclaw_ids=(
        "sandbox.dangerous_bind_mount",
        "sandbox.dangerous_network_mode",
        "sandbox.bind_mount_non_absolute",
    ),
)
def sandbox_dangerous_docker(ctx: AuditContext) -> Iterator[Hit]:
    sensitive = set(SENSITIVE_HOST_PATHS) | {
        str(ctx.user_home / ".ssh"), str(ctx.user_home / ".aws"), str(ctx.user_home),
    } | {str(s) for s in ctx.state_dir_paths}  # fmt: skip
    for config in ctx.configs:
        evidence = []
        for scope, node in agent_scopes(config):
            docker = dig(node, "sandbox.docker")
            if not isinstance(docker, Mapping):
                continue
            network = str(docker.get("network", ""))
            if network == "host" or network.startswith("container:"):
                evidence.append(f"{config.path}:{scope}.sandbox.docker.network = {network!r}")
            for bind in as_list(docker.get("binds")):
                source = str(ctx.expand(split_compose_colons(str(bind))[0]))
                if any(m in source for m in SOCKET_MARKERS) or source.rstrip("/") in {
                    s.rstrip("/") for s in sensitive
                } | {""}:
                    evidence.append(f"{config.path}:{scope}.sandbox.docker.binds has {bind!r}")
            for opt in as_list(docker.get("securityOpt")):
                if "unconfined" in str(opt):
                    evidence.append(f"{config.path}:{scope}.sandbox.docker.securityOpt {opt!r}")
        if evidence:
            yield Hit(evidence=tuple(evidence))


def exec_settings(config: InstallConfig) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(where, tools table) for the global tools and each agent's own tools override."""
    tools = dig(config.merged, "tools")
    yield f"{config.path}:tools", tools if isinstance(tools, Mapping) else {}
    for scope, node in agent_scopes(config):
        own = node.get("tools")
        if scope != "agents.defaults" and isinstance(own, Mapping):
            yield f"{config.path}:{scope}.tools", own


def exec_denied(tools: Mapping[str, Any]) -> bool:
    denied = {str(t) for t in as_list(tools.get("deny"))}
    return (
        dig(tools, "exec.security") == "deny"
        or bool(denied & {"exec", "group:runtime", "*"})
        or tools.get("profile") == "minimal"
    )


@check(
    "tools.exec_ask_off",
    Severity.HIGH,
    "Shell commands run without asking a human",
    fix='Set tools.exec.ask to "always" (and tools.exec.security to "allowlist" or "deny").',
    area="isolation",
)
def exec_ask_off(ctx: AuditContext) -> Iterator[Hit]:
    for config in ctx.configs:
        for where, tools in exec_settings(config):
            if dig(tools, "exec.ask") in ("off", "never", False) and not exec_denied(tools):
                yield Hit(evidence=(f"{where}.exec.ask = {dig(tools, 'exec.ask')!r}",))


@check(
    "tools.exec_security_full",
    Severity.CRITICAL,
    "Exec allows every command (security = full)",
    fix='Set tools.exec.security to "allowlist" (or "deny") and keep tools.exec.ask "always".',
    area="isolation",
    openclaw_ids=("tools.exec.security_full_configured",),
)
def exec_security_full(ctx: AuditContext) -> Iterator[Hit]:
    for config in ctx.configs:
        for where, tools in exec_settings(config):
            if dig(tools, "exec.security") == "full":
                yield Hit(evidence=(f"{where}.exec.security = 'full'",))


@check(
    "tools.elevated_enabled",
    Severity.HIGH,
    "Elevated (host, unsandboxed) tools are enabled",
    fix="Set tools.elevated.enabled to false; if needed, allow it only from named senders, "
    'never "*".',
    area="isolation",
    openclaw_ids=("tools.elevated.*",),
)
def elevated_enabled(ctx: AuditContext) -> Iterator[Hit]:
    for config in ctx.configs:
        for where, tools in exec_settings(config):
            elevated = tools.get("elevated")
            if not isinstance(elevated, Mapping) or elevated.get("enabled") is not True:
                continue
            evidence = [f"{where}.elevated.enabled = true"]
            severity = None
            allow = elevated.get("allowFrom")
            for channel, senders in allow.items() if isinstance(allow, Mapping) else []:
                listed = as_list(senders)
                if "*" in listed:
                    evidence.append(f"{where}.elevated.allowFrom.{channel} contains '*'")
                    severity = Severity.CRITICAL
                elif len(listed) > MAX_ELEVATED_ALLOW:
                    evidence.append(f"{where}.elevated.allowFrom.{channel}: {len(listed)} senders")
            yield Hit(evidence=tuple(evidence), severity=severity)


# --------------------------------------------------------------------------------------------
# Channels and plugins
# --------------------------------------------------------------------------------------------


def channel_scopes(config: InstallConfig) -> Iterator[tuple[str, Mapping[str, Any]]]:
    channels = dig(config.merged, "channels")
    if not isinstance(channels, Mapping):
        return
    for name, channel in channels.items():
        if not isinstance(channel, Mapping):
            continue
        yield f"channels.{name}", channel
        accounts = channel.get("accounts")
        for account, entry in accounts.items() if isinstance(accounts, Mapping) else []:
            if isinstance(entry, Mapping):
                yield f"channels.{name}.accounts.{account}", entry


@check(
    "channels.dm_open",
    Severity.CRITICAL,
    "Anyone can direct-message the agent",
    fix='Set dmPolicy to "pairing" (or "allowlist" with named senders) on every channel and '
    "account.",
    area="isolation",
    openclaw_ids=("channels.*.dm.open", "channels.*.dm.open_invalid"),
)
def dm_open(ctx: AuditContext) -> Iterator[Hit]:
    for config in ctx.configs:
        for scope, channel in channel_scopes(config):
            policy = channel.get("dmPolicy", dig(channel, "dm.policy"))
            if policy == "open":
                yield Hit(evidence=(f"{config.path}:{scope}.dmPolicy = 'open'",))


@check(
    "channels.group_open",
    Severity.HIGH,
    "Any group the bot is in can command the agent",
    fix='Set groupPolicy to "allowlist" and keep requireMention true for "*" groups.',
    area="isolation",
    openclaw_ids=(
        "security.exposure.open_groups_with_*",
        "security.exposure.open_channels_with_exec",
        "channels.*.groups.open",
    ),
)
def group_open(ctx: AuditContext) -> Iterator[Hit]:
    for config in ctx.configs:
        for scope, channel in channel_scopes(config):
            evidence = []
            if channel.get("groupPolicy") == "open":
                evidence.append(f"{config.path}:{scope}.groupPolicy = 'open'")
            wildcard = dig(channel, "groups.*")
            if isinstance(wildcard, Mapping) and wildcard.get("requireMention") is False:
                evidence.append(f'{config.path}:{scope}.groups["*"].requireMention = false')
            if evidence:
                yield Hit(evidence=tuple(evidence))


@check(
    "channels.allowlist_wildcard",
    Severity.HIGH,
    'A sender allowlist contains "*" (everyone)',
    fix='Replace "*" with the exact sender ids; re-pair devices you still trust.',
    area="isolation",
)
def allowlist_wildcard(ctx: AuditContext) -> Iterator[Hit]:
    for config in ctx.configs:
        for scope, channel in channel_scopes(config):
            for key in ("allowFrom", "groupAllowFrom"):
                if "*" in as_list(channel.get(key)):
                    yield Hit(evidence=(f"{config.path}:{scope}.{key} contains '*'",))
            if "*" in as_list(dig(channel, "dm.allowFrom")):
                yield Hit(evidence=(f"{config.path}:{scope}.dm.allowFrom contains '*'",))
    for state in ctx.state_dir_paths:
        for store in list_dir(state / "credentials"):
            if not store.name.endswith("-allowFrom.json"):
                continue
            text = read_text(store, 1024 * 1024)
            try:
                data = json.loads(text) if text else None
            except ValueError:
                continue
            entries = data.get("allowFrom") if isinstance(data, Mapping) else data
            if "*" in as_list(entries):
                yield Hit(evidence=(f"{store} contains '*'",))


@check(
    "plugins.no_allowlist",
    Severity.MEDIUM,
    "Plugins are installed but plugins.allow is empty",
    fix="List the plugin ids you trust in plugins.allow; remove the rest from extensions/.",
    area="isolation",
    openclaw_ids=("plugins.extensions_no_allowlist",),
)
def plugins_no_allowlist(ctx: AuditContext) -> Iterator[Hit]:
    for config in ctx.configs:
        installed = [d.name for d in list_dir(config.state_dir / "extensions") if is_dir(d)]
        if installed and not as_list(dig(config.merged, "plugins.allow")):
            yield Hit(
                evidence=(
                    f"{config.state_dir / 'extensions'} has {', '.join(installed)}",
                    f"{config.path}:plugins.allow is empty",
                )
            )
