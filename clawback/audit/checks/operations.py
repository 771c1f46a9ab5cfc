"""Day-to-day safety nets: log redaction, the command log, spend limits, human approvals.

OpenClaw has no per-action approval switch for e-mail, payments or deletions; what gates them
is the tool policy (research/openclaw.md §4.2): ``tools.exec.ask``, ``tools.deny``,
``tools.fs.workspaceOnly`` and the tool profile. These checks report where that policy lets an
action that moves money, mail, messages or files happen without a human in the loop.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Set
from typing import Any

from clawback.audit.checks.isolation import exec_settings
from clawback.audit.context import AuditContext, InstallConfig, as_list, dig
from clawback.audit.model import Hit, Severity, check
from responders.kit.provider_facts import MOVES_MONEY, SENDS_MAIL, SPEND_LIMIT_PAGES

_EMAIL_SKILL_RE = re.compile(r"(?i)gmail|e-?mail|himalaya|smtp|sendgrid|mailgun|resend|postmark")
FS_TOOL_NAMES = {"group:fs", "fs_delete", "fs_write", "write", "edit", "apply_patch", "*"}
NO_FS_PROFILES = {"minimal", "messaging"}


@check(
    "logging.redaction_off",
    Severity.HIGH,
    "Log redaction is switched off",
    fix='Set logging.redactSensitive to "tools" (openclaw security audit --fix does this).',
    area="operations",
    openclaw_ids=("logging.redact_off",),
)
def redaction_off(ctx: AuditContext) -> Iterator[Hit]:
    for config in ctx.configs:
        if dig(config.merged, "logging.redactSensitive") == "off":
            yield Hit(evidence=(f"{config.where('logging.redactSensitive')} = 'off'",))


@check(
    "logging.command_logger_off",
    Severity.LOW,
    "The command-logger hook is not enabled",
    fix="Run `openclaw hooks enable command-logger` (writes <state>/logs/commands.log, the "
    "record of /new, /reset, /stop … an investigation starts from).",
    area="operations",
)
def command_logger_off(ctx: AuditContext) -> Iterator[Hit]:
    for config in ctx.configs:
        if not config.merged:
            continue
        entry = dig(config.merged, "hooks.internal.entries")
        enabled = isinstance(entry, Mapping) and dig(entry.get("command-logger"), "enabled")
        if enabled is not True:
            yield Hit(
                evidence=(f'{config.path}:hooks.internal.entries["command-logger"] is not enabled',)
            )


def exec_gated(tools: Mapping[str, Any]) -> bool:
    """Whether shell commands need a human (or cannot run at all)."""
    from clawback.audit.checks.isolation import exec_denied

    return exec_denied(tools) or dig(tools, "exec.ask") == "always"


def global_tools(config: InstallConfig) -> Mapping[str, Any]:
    tools = dig(config.merged, "tools")
    return tools if isinstance(tools, Mapping) else {}


def _exec_description(where: str, tools: Mapping[str, Any]) -> str:
    return f"{where}.exec: security={dig(tools, 'exec.security')!r}, ask={dig(tools, 'exec.ask')!r}"


@check(
    "approvals.shell",
    Severity.MEDIUM,
    "Some shell commands run without asking a human",
    fix='Set tools.exec.ask to "always" so every command waits for approval.',
    area="operations",
)
def approval_shell(ctx: AuditContext) -> Iterator[Hit]:
    for config in ctx.configs:
        for where, tools in exec_settings(config):
            ask = dig(tools, "exec.ask")
            # "off" is reported by tools.exec_ask_off; an agent override without exec settings
            # inherits the global ones.
            if ask in ("off", "never", False) or exec_gated(tools):
                continue
            if where.endswith(":tools") or isinstance(tools.get("exec"), Mapping):
                yield Hit(evidence=(_exec_description(where, tools),))


@check(
    "approvals.file_delete",
    Severity.MEDIUM,
    "File tools can write and delete outside the workspace without approval",
    fix='Set tools.fs.workspaceOnly to true, or deny "group:fs" for agents that read '
    "untrusted content.",
    area="operations",
)
def approval_file_delete(ctx: AuditContext) -> Iterator[Hit]:
    for config in ctx.configs:
        tools = global_tools(config)
        if not config.merged or tools.get("profile") in NO_FS_PROFILES:
            continue
        denied = {str(t) for t in as_list(tools.get("deny"))}
        if dig(tools, "fs.workspaceOnly") is True or denied & FS_TOOL_NAMES:
            continue
        yield Hit(
            evidence=(
                f"{config.path}:tools.profile = {tools.get('profile')!r}, "
                f"tools.fs.workspaceOnly = {dig(tools, 'fs.workspaceOnly')!r}, "
                "no fs tools denied",
            )
        )


def _credentials_of(ctx: AuditContext, providers: Set[str]) -> list[str]:
    return [
        f"{cred.kind} {cred.fingerprint} ({cred.locations[0] if cred.locations else '?'})"
        for cred in ctx.credentials
        if cred.provider in providers
    ]


@check(
    "approvals.payments",
    Severity.HIGH,
    "The agent holds payment credentials and can use them without approval",
    fix="Give the agent a restricted key with read-only permissions (Stripe: rk_ with no "
    'write access), or set tools.exec.ask to "always" so every charge waits for a human.',
    area="operations",
)
def approval_payments(ctx: AuditContext) -> Iterator[Hit]:
    held = _credentials_of(ctx, MOVES_MONEY)
    if not held:
        return
    for config in ctx.configs:
        tools = global_tools(config)
        if config.merged and not exec_gated(tools):
            yield Hit(evidence=(*held, _exec_description(f"{config.path}:tools", tools)))


@check(
    "approvals.email_send",
    Severity.MEDIUM,
    "The agent can send e-mail without approval",
    fix='Set tools.exec.ask to "always", or disable the e-mail skill for agents that read '
    "untrusted content.",
    area="operations",
)
def approval_email(ctx: AuditContext) -> Iterator[Hit]:
    held = _credentials_of(ctx, SENDS_MAIL)
    for config in ctx.configs:
        tools = global_tools(config)
        if not config.merged or exec_gated(tools):
            continue
        skills = dig(config.merged, "skills.entries")
        mail_skills = [
            name
            for name, entry in (skills.items() if isinstance(skills, Mapping) else [])
            if _EMAIL_SKILL_RE.search(str(name))
            and not (isinstance(entry, Mapping) and entry.get("enabled") is False)
        ]
        if mail_skills or held:
            evidence = [f"{config.path}:skills.entries.{name} is enabled" for name in mail_skills]
            yield Hit(evidence=(*evidence, *held, _exec_description(f"{config.path}:tools", tools)))


@check(
    "approvals.external_messages",
    Severity.MEDIUM,
    "The agent can message other sessions and chats on its own",
    fix='Add "sessions_send" and "sessions_spawn" to tools.deny (the hardened baseline).',
    area="operations",
)
def approval_external_messages(ctx: AuditContext) -> Iterator[Hit]:
    for config in ctx.configs:
        tools = global_tools(config)
        if not config.merged or tools.get("profile") == "minimal":
            continue
        denied = {str(t) for t in as_list(tools.get("deny"))}
        if not denied & {"sessions_send", "group:sessions", "*"}:
            yield Hit(evidence=(f"{config.path}:tools.deny does not include sessions_send",))


@check(
    "operations.spend_limits",
    Severity.MEDIUM,
    "No spend limit is recorded for a metered API the agent can use",
    fix="Set a monthly budget or hard limit in the provider's console, then record it in "
    'clawback.toml: [audit] spend_limits = { openai = "USD 50/month" }.',
    area="operations",
)
def spend_limits(ctx: AuditContext) -> Iterator[Hit]:
    recorded = ctx.audit_settings.get("spend_limits")
    recorded = recorded if isinstance(recorded, Mapping) else {}
    evidence = []
    for provider, url in SPEND_LIMIT_PAGES.items():
        keys = [c for c in ctx.credentials if c.provider == provider]
        if keys and not recorded.get(provider):
            evidence.append(f"{provider}: {len(keys)} key(s) reachable, no limit recorded ({url})")
    if evidence:
        yield Hit(evidence=tuple(evidence))
