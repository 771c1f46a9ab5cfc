"""Every check the audit runs, in the order it runs them: one explicit list.

A check is a function decorated with ``clawback.audit.model.check`` in one of the modules of
``clawback.audit.checks`` (or OpenClaw's own audit, ``openclaw_cli``). Importing a module
registers nothing; a check runs because it is listed here, and the order below is the order of
the report before it is sorted by severity.
"""

from __future__ import annotations

from clawback.audit import openclaw_cli
from clawback.audit.checks import (
    code,
    exposure,
    files,
    host,
    isolation,
    operations,
    readiness,
    secrets,
    version,
)
from clawback.audit.model import CheckSpec, RegisteredCheck

CHECKS: tuple[RegisteredCheck, ...] = (
    code.pipe_to_shell,
    code.encoded_exec,
    code.reverse_shell,
    code.credential_exfil,
    code.suspicious_cron_job,
    exposure.bind_exposed,
    exposure.auth_none,
    exposure.auth_weak_secret,
    exposure.tailscale_funnel,
    exposure.tailscale_serve,
    exposure.control_ui_insecure_auth,
    exposure.control_ui_device_auth_disabled,
    exposure.control_ui_host_header_fallback,
    exposure.control_ui_origins,
    exposure.trusted_proxies,
    exposure.auth_no_rate_limit,
    exposure.http_tools_dangerous,
    exposure.mdns_full,
    exposure.hooks_token_reuse,
    exposure.hooks_unsafe_external_content,
    files.state_dir_perms,
    files.config_perms,
    files.credentials_perms,
    files.auth_profiles_perms,
    files.sessions_perms,
    files.dotenv_readable,
    files.secret_file_readable,
    files.synced_dir,
    host.listener_exposed,
    host.gateway_root,
    host.sshd_password_auth,
    host.sshd_root_login,
    host.firewall_default_allow,
    host.firewall_unknown,
    host.apparmor_missing,
    isolation.docker_privileged,
    isolation.docker_socket_mount,
    isolation.docker_sensitive_mount,
    isolation.docker_host_namespaces,
    isolation.docker_user_root,
    isolation.docker_cap_drop_missing,
    isolation.docker_cap_add_dangerous,
    isolation.docker_read_only_missing,
    isolation.docker_no_new_privileges_missing,
    isolation.docker_unconfined_security,
    isolation.docker_port_all_interfaces,
    isolation.sandbox_mode_off,
    isolation.sandbox_dangerous_docker,
    isolation.exec_ask_off,
    isolation.exec_security_full,
    isolation.elevated_enabled,
    isolation.dm_open,
    isolation.group_open,
    isolation.allowlist_wildcard,
    isolation.plugins_no_allowlist,
    operations.redaction_off,
    operations.command_logger_off,
    operations.approval_shell,
    operations.approval_file_delete,
    operations.approval_payments,
    operations.approval_email,
    operations.approval_external_messages,
    operations.spend_limits,
    readiness.unmapped_secret,
    readiness.manual_only,
    readiness.admin_credentials_missing,
    readiness.evidence_unreadable,
    readiness.no_stop_path,
    secrets.plaintext_in_config,
    secrets.in_config_backups,
    secrets.in_service_definitions,
    secrets.in_shell_history,
    secrets.in_logs,
    secrets.legacy_state_dir,
    secrets.in_git_worktree,
    version.version_advisories,
    version.version_unknown,
    openclaw_cli.audit_failed,
)


def _by_id(checks: tuple[RegisteredCheck, ...]) -> dict[str, CheckSpec]:
    specs: dict[str, CheckSpec] = {}
    for registered in checks:
        if registered.spec.id in specs:
            raise RuntimeError(f"audit check id {registered.spec.id!r} is listed twice")
        specs[registered.spec.id] = registered.spec
    return specs


_SPECS = _by_id(CHECKS)


def catalogue() -> tuple[RegisteredCheck, ...]:
    """Every check, in the order the audit runs them."""
    return CHECKS


def spec_for(check_id: str) -> CheckSpec | None:
    return _SPECS.get(check_id)
