"""Who can reach the gateway: bind mode, auth, Tailscale, Control UI flags, proxies, listeners.

Thresholds follow ``openclaw security audit`` (research/openclaw.md §4): a gateway token shorter
than 24 characters is weak, the dangerous Control UI switches are the three ``controlUi`` flags.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from clawback.audit.context import AuditContext, InstallConfig, as_list, dig
from clawback.audit.model import Hit, Severity, check
from responders.interface import fingerprint
from responders.kit import secret_patterns as sp

MIN_TOKEN_LENGTH = 24
MIN_PASSWORD_LENGTH = 16
EXPOSED_BIND_MODES = {"lan", "tailnet", "custom", "auto"}
# Default-denied HTTP tools that gateway.tools.allow can re-enable (research §4.1).
DANGEROUS_HTTP_TOOLS = {
    "exec", "spawn", "shell", "fs_write", "fs_delete", "fs_move", "apply_patch",
    "sessions_spawn", "sessions_send", "cron", "gateway", "nodes",
}  # fmt: skip


def _configs(ctx: AuditContext) -> list[InstallConfig]:
    return ctx.configs


def is_exposed(config: InstallConfig) -> bool:
    bind = dig(config.merged, "gateway.bind")
    if isinstance(bind, str) and bind in EXPOSED_BIND_MODES:
        return True
    host = dig(config.merged, "gateway.customBindHost") or dig(config.merged, "gateway.host")
    return isinstance(host, str) and not _is_loopback(host)


def _is_loopback(host: str) -> bool:
    if host in {"localhost", "loopback"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_mode(config: InstallConfig) -> str | None:
    mode = dig(config.merged, "gateway.auth.mode")
    return mode if isinstance(mode, str) else None


@check(
    "gateway.bind_exposed",
    Severity.HIGH,
    "Gateway listens beyond loopback",
    fix='Set gateway.bind to "loopback" and reach the gateway through an SSH tunnel or '
    "Tailscale Serve; if it must face a network, keep token auth and a firewall in front.",
    area="gateway",
    openclaw_ids=("gateway.bind_no_auth", "gateway.bind_network_accessible"),
)
def bind_exposed(ctx: AuditContext) -> Iterator[Hit]:
    live_loopback = _live_loopback_only(ctx)
    for config in _configs(ctx):
        if not is_exposed(config):
            continue
        bind = dig(config.merged, "gateway.bind")
        mode = auth_mode(config)
        unauthenticated = mode == "none"
        evidence = [
            f"{config.where('gateway.bind')} = {bind!r}"
            + ("" if bind == "lan" else " (may bind a non-loopback address)"),
            f"{config.where('gateway.auth.mode')} = {mode!r}",
        ]
        if live_loopback and not unauthenticated:
            # `--bind loopback` on the command line overrides the config: nothing listens
            # beyond loopback now, but the next start without that flag will.
            yield Hit(
                evidence=(*evidence, f"the running gateway listens on loopback only "
                          f"({', '.join(live_loopback)}): its command line overrides the "
                          "config, which a start without --bind loopback would apply"),
                locations=(config.location("gateway.bind"),),
                severity=Severity.MEDIUM,
                title="Gateway config binds beyond loopback (the running gateway does not)",
            )
            continue
        yield Hit(
            evidence=tuple(evidence),
            locations=(config.location("gateway.bind"),),
            severity=Severity.CRITICAL if unauthenticated else None,
        )


def _live_loopback_only(ctx: AuditContext) -> list[str]:
    """Where this install's running gateway listens, when every address is loopback; empty
    when nothing of it runs, the host is not looked at, or it listens anywhere else."""
    from clawback.audit.checks.host import gateway_processes

    addresses = [a for p in gateway_processes(ctx) for a in p.listening]
    if not addresses:
        return []
    hosts = [a.rsplit(":", 1)[0] for a in addresses]
    return sorted(set(addresses)) if all(_is_loopback(h) for h in hosts) else []


@check(
    "gateway.auth_none",
    Severity.CRITICAL,
    "Gateway accepts connections without authentication",
    fix='Set gateway.auth.mode to "token" with a long random token '
    "(openclaw doctor --generate-gateway-token) kept in the environment, not in the config.",
    area="gateway",
    openclaw_ids=("gateway.bind_no_auth", "gateway.loopback_no_auth", "gateway.http.no_auth"),
)
def auth_none(ctx: AuditContext) -> Iterator[Hit]:
    for config in _configs(ctx):
        if auth_mode(config) == "none":
            yield Hit(
                evidence=(f"{config.where('gateway.auth.mode')} = 'none'",),
                locations=(config.location("gateway.auth.mode"),),
            )


def _weakness(value: str, minimum: int) -> str | None:
    if len(value) < minimum:
        return f"{len(value)} characters (fewer than {minimum})"
    if not sp.plausible_secret_value(value, min_length=minimum):
        return "looks like a placeholder or a guessable value"
    return None


@check(
    "gateway.auth_weak_secret",
    Severity.HIGH,
    "Gateway token or password is short or a placeholder",
    fix="Generate a new token with `openclaw doctor --generate-gateway-token` (or 32+ random "
    "characters), put it in OPENCLAW_GATEWAY_TOKEN, restart the gateway and update clients.",
    area="gateway",
    openclaw_ids=("gateway.token_too_short", "gateway.*_too_short", "gateway.*_placeholder_value"),
)
def auth_weak_secret(ctx: AuditContext) -> Iterator[Hit]:
    for config in _configs(ctx):
        mode = auth_mode(config)
        fields = [("gateway.auth.token", MIN_TOKEN_LENGTH, "OPENCLAW_GATEWAY_TOKEN")]
        fields.append(("gateway.auth.password", MIN_PASSWORD_LENGTH, "OPENCLAW_GATEWAY_PASSWORD"))
        for key, minimum, env_name in fields:
            raw = dig(config.merged, key)
            value = ctx.resolve_secret(raw) if raw is not None else None
            where = config.where(key)
            if value is None and mode == key.rsplit(".", 1)[1] and raw is None:
                value = ctx.dotenv_values.get(env_name)
                where = f"{env_name} (environment / .env)"
            if not value:
                continue
            problem = _weakness(value, minimum)
            if problem:
                yield Hit(
                    evidence=(f"{where}: {fingerprint(value)}, {problem}",),
                    locations=(config.location(key),),
                )


@check(
    "gateway.tailscale_funnel",
    Severity.CRITICAL,
    "Gateway is published to the internet with Tailscale Funnel",
    fix='Set gateway.tailscale.mode to "serve" (tailnet only) or "off", then run '
    "`tailscale funnel reset`.",
    area="gateway",
    openclaw_ids=("gateway.tailscale_funnel",),
)
def tailscale_funnel(ctx: AuditContext) -> Iterator[Hit]:
    for config in _configs(ctx):
        if dig(config.merged, "gateway.tailscale.mode") == "funnel":
            yield Hit(
                evidence=(f"{config.where('gateway.tailscale.mode')} = 'funnel'",),
                locations=(config.location("gateway.tailscale.mode"),),
            )


@check(
    "gateway.tailscale_serve",
    Severity.LOW,
    "Gateway is shared on the tailnet with Tailscale Serve",
    fix="Keep Serve only if every tailnet device is trusted; restrict it with Tailscale ACLs "
    '(or set gateway.tailscale.mode to "off").',
    area="gateway",
    openclaw_ids=("gateway.tailscale_serve",),
)
def tailscale_serve(ctx: AuditContext) -> Iterator[Hit]:
    for config in _configs(ctx):
        if dig(config.merged, "gateway.tailscale.mode") == "serve":
            yield Hit(
                evidence=(f"{config.where('gateway.tailscale.mode')} = 'serve'",),
                locations=(config.location("gateway.tailscale.mode"),),
            )


def _flag_check(key: str) -> Any:
    def run(ctx: AuditContext) -> Iterator[Hit]:
        for config in _configs(ctx):
            if dig(config.merged, key) is True:
                yield Hit(
                    evidence=(f"{config.where(key)} = true",),
                    locations=(config.location(key),),
                )

    return run


control_ui_insecure_auth = check(
    "gateway.control_ui_insecure_auth",
    Severity.HIGH,
    "Control UI accepts token auth over plain HTTP",
    fix="Set gateway.controlUi.allowInsecureAuth to false and open the Control UI over "
    "https (Tailscale Serve) or http://127.0.0.1.",
    area="gateway",
    openclaw_ids=("gateway.control_ui.insecure_auth", "config.insecure_or_dangerous_flags"),
)(_flag_check("gateway.controlUi.allowInsecureAuth"))

control_ui_device_auth_disabled = check(
    "gateway.control_ui_device_auth_disabled",
    Severity.CRITICAL,
    "Control UI device identity checks are disabled",
    fix="Set gateway.controlUi.dangerouslyDisableDeviceAuth to false; pair browsers as devices.",
    area="gateway",
    openclaw_ids=("gateway.control_ui.device_auth_disabled", "config.insecure_or_dangerous_flags"),
)(_flag_check("gateway.controlUi.dangerouslyDisableDeviceAuth"))

control_ui_host_header_fallback = check(
    "gateway.control_ui_host_header_fallback",
    Severity.HIGH,
    "Control UI trusts the Host header as an origin",
    fix="Set gateway.controlUi.dangerouslyAllowHostHeaderOriginFallback to false and list "
    "the real origins in gateway.controlUi.allowedOrigins.",
    area="gateway",
    openclaw_ids=(
        "gateway.control_ui.host_header_origin_fallback",
        "config.insecure_or_dangerous_flags",
    ),
)(_flag_check("gateway.controlUi.dangerouslyAllowHostHeaderOriginFallback"))


@check(
    "gateway.control_ui_origins",
    Severity.HIGH,
    "Control UI origins are not restricted",
    fix="List the exact https origins that may open the Control UI in "
    'gateway.controlUi.allowedOrigins (never "*").',
    area="gateway",
    openclaw_ids=(
        "gateway.control_ui.allowed_origins_required",
        "gateway.control_ui.allowed_origins_wildcard",
    ),
)
def control_ui_origins(ctx: AuditContext) -> Iterator[Hit]:
    for config in _configs(ctx):
        if dig(config.merged, "gateway.controlUi.enabled") is False:
            continue
        origins = as_list(dig(config.merged, "gateway.controlUi.allowedOrigins"))
        key = "gateway.controlUi.allowedOrigins"
        if "*" in origins:
            yield Hit(evidence=(f"{config.where(key)} contains '*'",))
        elif is_exposed(config) and not origins:
            yield Hit(
                evidence=(
                    f"{config.where('gateway.bind')} = {dig(config.merged, 'gateway.bind')!r}",
                    f"{config.path}:{key} is empty",
                ),
            )


def _wide_network(entry: str) -> bool:
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return entry.strip() == "*"
    return network.prefixlen < (8 if network.version == 4 else 32) or not network.is_private


@check(
    "gateway.trusted_proxies",
    Severity.HIGH,
    "Proxy trust lets clients choose their own identity or address",
    fix="List only your reverse proxy's address in gateway.trustedProxies, set "
    "gateway.auth.trustedProxy.allowUsers, and keep gateway.allowRealIpFallback false.",
    area="gateway",
    openclaw_ids=(
        "gateway.trusted_proxy_*",
        "gateway.real_ip_fallback_enabled",
    ),
)
def trusted_proxies(ctx: AuditContext) -> Iterator[Hit]:
    for config in _configs(ctx):
        proxies = [str(p) for p in as_list(dig(config.merged, "gateway.trustedProxies"))]
        evidence = []
        wide = [p for p in proxies if _wide_network(p)]
        if wide:
            evidence.append(f"{config.where('gateway.trustedProxies')} trusts {', '.join(wide)}")
        if auth_mode(config) == "trusted-proxy":
            if not proxies:
                evidence.append(
                    f"{config.where('gateway.auth.mode')} = 'trusted-proxy' with no "
                    "gateway.trustedProxies: any client can claim a user"
                )
            if not as_list(dig(config.merged, "gateway.auth.trustedProxy.allowUsers")):
                evidence.append(f"{config.path}:gateway.auth.trustedProxy.allowUsers is empty")
        if dig(config.merged, "gateway.allowRealIpFallback") is True:
            evidence.append(f"{config.where('gateway.allowRealIpFallback')} = true")
        if evidence:
            yield Hit(evidence=tuple(evidence))


@check(
    "gateway.auth_no_rate_limit",
    Severity.MEDIUM,
    "Network-facing gateway has no auth rate limit",
    fix="Set gateway.auth.rateLimit, e.g. { maxAttempts: 10, windowMs: 60000, lockoutMs: 300000 }.",
    area="gateway",
    openclaw_ids=("gateway.auth_no_rate_limit",),
)
def auth_no_rate_limit(ctx: AuditContext) -> Iterator[Hit]:
    for config in _configs(ctx):
        if is_exposed(config) and not isinstance(
            dig(config.merged, "gateway.auth.rateLimit"), Mapping
        ):
            yield Hit(evidence=(f"{config.path}:gateway.auth.rateLimit is not set",))


@check(
    "gateway.http_tools_dangerous",
    Severity.HIGH,
    "HTTP /tools/invoke re-enables dangerous tools",
    fix="Remove exec/shell/fs/session/cron/gateway tools from gateway.tools.allow.",
    area="gateway",
    openclaw_ids=("gateway.tools_invoke_http.dangerous_allow",),
)
def http_tools_dangerous(ctx: AuditContext) -> Iterator[Hit]:
    for config in _configs(ctx):
        allowed = {str(t) for t in as_list(dig(config.merged, "gateway.tools.allow"))}
        dangerous = sorted(allowed & DANGEROUS_HTTP_TOOLS)
        if dangerous:
            yield Hit(
                evidence=(
                    f"{config.where('gateway.tools.allow')} includes {', '.join(dangerous)}",
                ),
                severity=Severity.CRITICAL if is_exposed(config) else None,
            )


@check(
    "discovery.mdns_full",
    Severity.MEDIUM,
    "mDNS announces the gateway with full host details",
    fix='Set discovery.mdns.mode to "minimal" or "off" (or OPENCLAW_DISABLE_BONJOUR=1).',
    area="gateway",
    openclaw_ids=("discovery.mdns_full_mode",),
)
def mdns_full(ctx: AuditContext) -> Iterator[Hit]:
    for config in _configs(ctx):
        if dig(config.merged, "discovery.mdns.mode") == "full":
            yield Hit(evidence=(f"{config.where('discovery.mdns.mode')} = 'full'",))


@check(
    "hooks.token_reuse",
    Severity.HIGH,
    "Webhook token is the gateway token",
    fix="Give hooks.token its own random value (24+ characters) so a leaked webhook URL does "
    "not open the gateway.",
    area="gateway",
    openclaw_ids=("hooks.token_reuse_gateway_token",),
)
def hooks_token_reuse(ctx: AuditContext) -> Iterator[Hit]:
    for config in _configs(ctx):
        hooks = ctx.resolve_secret(dig(config.merged, "hooks.token"))
        gateway = ctx.resolve_secret(dig(config.merged, "gateway.auth.token"))
        if hooks and gateway and hooks == gateway:
            yield Hit(
                evidence=(
                    f"{config.where('hooks.token')} and {config.where('gateway.auth.token')} "
                    f"are both {fingerprint(hooks)}",
                )
            )


@check(
    "hooks.unsafe_external_content",
    Severity.HIGH,
    "Webhook content reaches the agent without the untrusted-content wrapper",
    fix="Set hooks.gmail.allowUnsafeExternalContent and every "
    "hooks.mappings[].allowUnsafeExternalContent to false.",
    area="gateway",
    openclaw_ids=("config.insecure_or_dangerous_flags",),
)
def hooks_unsafe_external_content(ctx: AuditContext) -> Iterator[Hit]:
    for config in _configs(ctx):
        evidence = []
        if dig(config.merged, "hooks.gmail.allowUnsafeExternalContent") is True:
            evidence.append(f"{config.where('hooks.gmail.allowUnsafeExternalContent')} = true")
        for index, mapping in enumerate(as_list(dig(config.merged, "hooks.mappings"))):
            if isinstance(mapping, Mapping) and mapping.get("allowUnsafeExternalContent") is True:
                evidence.append(
                    f"{config.path}:hooks.mappings[{index}].allowUnsafeExternalContent = true"
                )
        if evidence:
            yield Hit(evidence=tuple(evidence))
