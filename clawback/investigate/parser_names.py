"""The evidence parsers by name: the names the rules' ``sources`` route members to.

Data only, so the rules can check a name while loading (a typo is bad input naming its line)
without importing the parsers, which read the rules back while they parse.
"""

from __future__ import annotations

# parser name -> "module:function" in clawback/investigate/sources/ (imported when a member
# needs it)
PARSERS: dict[str, str] = {
    "openclaw-transcript": "transcript:parse",
    "openclaw-command-log": "openclaw_logs:parse_command_log",
    "openclaw-config-audit": "openclaw_logs:parse_config_audit",
    "openclaw-gateway-log": "openclaw_logs:parse_gateway_log",
    "openclaw-cron-jobs": "openclaw_state:parse_cron_jobs",
    "openclaw-cron-runs": "openclaw_state:parse_cron_runs",
    "openclaw-exec-approvals": "openclaw_state:parse_exec_approvals",
    "openclaw-listing": "openclaw_state:parse_listing",
    "auth-log": "system_logs:parse_auth_log",
    "syslog": "system_logs:parse_syslog",
    "crontab": "system_logs:parse_crontab",
    "authorized-keys": "system_logs:parse_authorized_keys",
    "journal-export": "journal:parse",
    "sockets": "sockets:parse",
}


def known_parsers() -> frozenset[str]:
    return frozenset(PARSERS)
