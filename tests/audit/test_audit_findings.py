"""The checklist against real homes: every planted weakness found, nothing on a hardened one."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from clawback.audit import (
    EXIT_FINDINGS_AT_THRESHOLD,
    HostSystem,
    Severity,
    catalogue,
    render_json,
    render_sarif,
    render_text,
    run_audit,
)
from clawback.errors import BadInput
from clawback_demo.home import SampleHome
from tests.audit.conftest import AuditedHome, assert_no_secret, hardened_host_root

# Each planted weakness (conftest.plant_weaknesses) and the finding that must report it.
PLANTED = {
    "gateway.bind_exposed": "bind lan",
    "gateway.auth_weak_secret": "placeholder gateway token",
    "gateway.tailscale_funnel": "tailscale funnel",
    "gateway.control_ui_insecure_auth": "controlUi.allowInsecureAuth",
    "gateway.control_ui_device_auth_disabled": "dangerouslyDisableDeviceAuth",
    "gateway.control_ui_host_header_fallback": "dangerouslyAllowHostHeaderOriginFallback",
    "gateway.control_ui_origins": "exposed Control UI without allowedOrigins",
    "gateway.trusted_proxies": "0.0.0.0/0 trusted, real-IP fallback",
    "gateway.auth_no_rate_limit": "exposed without rate limit",
    "gateway.http_tools_dangerous": "gateway.tools.allow exec",
    "discovery.mdns_full": "mdns full",
    "hooks.token_reuse": "hooks token = gateway token",
    "hooks.unsafe_external_content": "gmail unsafe content",
    "version.advisories": "old version",
    "fs.state_dir_perms": "state dir 0755",
    "fs.config_perms": "config 0644",
    "fs.credentials_perms": "credentials 0755",
    "fs.auth_profiles_perms": "auth-profiles.json 0644",
    "fs.sessions_perms": "sessions 0755",
    "fs.dotenv_readable": ".env 0644",
    "secrets.plaintext_in_config": "telegram token in config",
    "secrets.in_config_backups": ".bak copies",
    "secrets.in_service_definitions": "unit/plist tokens",
    "secrets.in_git_worktree": "committed deploy.sh and .env",
    "docker.privileged": "privileged",
    "docker.socket_mount": "docker.sock",
    "docker.sensitive_mount": "/:/host",
    "docker.host_namespaces": "network_mode host",
    "docker.user_root": "user root",
    "docker.cap_drop_missing": "no cap_drop",
    "docker.cap_add_dangerous": "SYS_ADMIN",
    "docker.read_only_missing": "no read_only",
    "docker.no_new_privileges_missing": "no no-new-privileges",
    "docker.unconfined_security": "seccomp unconfined",
    "docker.port_all_interfaces": "18789 on 0.0.0.0",
    "sandbox.mode_off": "sandbox off",
    "sandbox.dangerous_docker": "sandbox network host + docker.sock",
    "tools.exec_ask_off": "exec ask off",
    "tools.exec_security_full": "exec security full",
    "tools.elevated_enabled": "elevated with *",
    "channels.dm_open": "dmPolicy open",
    "channels.group_open": "groupPolicy open",
    "channels.allowlist_wildcard": "allowFrom *",
    "plugins.no_allowlist": "extension without plugins.allow",
    "host.sshd_password_auth": "PasswordAuthentication yes",
    "host.sshd_root_login": "PermitRootLogin yes",
    "host.apparmor_missing": "AppArmor off",
    "logging.redaction_off": "redactSensitive off",
    "logging.command_logger_off": "command-logger disabled",
    "approvals.file_delete": "coding profile without workspaceOnly",
    "approvals.payments": "Stripe keys with exec ungated",
    "approvals.email_send": "gmail skill with exec ungated",
    "approvals.external_messages": "sessions_send allowed",
    "operations.spend_limits": "metered keys, no limits",
    "skills.pipe_to_shell": "curl | sh skill (sample)",
    "skills.encoded_exec": "base64 -d | sh",
    "skills.reverse_shell": "/dev/tcp",
    "skills.credential_exfil": "aws credentials posted",
    "cron.suspicious_job": "cron curl | sh (sample)",
    "contain.admin_credentials_missing": "no [providers.*]",
}

# What the sample home itself plants (it is hardened in its config, not in its secrets).
SAMPLE_FINDINGS = {
    "approvals.external_messages",
    "approvals.file_delete",
    "approvals.payments",
    "approvals.shell",
    "channels.allowlist_wildcard",
    "contain.admin_credentials_missing",
    "contain.manual_only",
    "cron.suspicious_job",
    "host.apparmor_missing",
    "logging.command_logger_off",
    "operations.spend_limits",
    "sandbox.mode_off",
    "secrets.in_config_backups",
    "secrets.in_logs",
    "secrets.in_service_definitions",
    "secrets.in_shell_history",
    "secrets.legacy_state_dir",
    "secrets.plaintext_in_config",
    "skills.pipe_to_shell",
    "version.advisories",
}


def test_the_catalogue_has_forty_checks_with_stable_ids_titles_and_fixes() -> None:
    specs = [registered.spec for registered in catalogue()]
    ids = [spec.id for spec in specs]
    assert len(specs) >= 40
    assert len(ids) == len(set(ids))
    for spec in specs:
        assert re.fullmatch(r"[a-z]+\.[a-z0-9_]+", spec.id), spec.id
        assert spec.title and spec.fix and spec.area
        assert isinstance(spec.severity, Severity)
    assert set(PLANTED) <= set(ids)


def test_every_planted_weakness_is_reported(weak: AuditedHome) -> None:
    report = weak.audit()
    missing = {check_id: what for check_id, what in PLANTED.items() if check_id not in report.ids()}
    assert not missing, f"planted but not reported: {missing}"
    assert not report.problems


def test_findings_name_the_place_and_the_fix(weak: AuditedHome) -> None:
    report = weak.audit()
    config = str(weak.state_dir / "openclaw.json")
    bind = report.by_id("gateway.bind_exposed")[0]
    assert f"{config}:gateway.bind = 'lan'" in bind.evidence[0]
    assert "loopback" in bind.fix
    token = report.by_id("gateway.auth_weak_secret")[0]
    assert "13 characters (fewer than 24)" in token.evidence[0]
    assert "sha256:" in token.evidence[0]
    perms = report.by_id("fs.config_perms")[0]
    assert any(f"{config} mode 0644 (readable by everyone)" in line for line in perms.evidence)
    git = report.by_id("secrets.in_git_worktree")[0]
    assert git.severity is Severity.CRITICAL
    assert any("deploy.sh:line 2: github:pat" in line for line in git.evidence)
    assert any("workspace/.env:CLOUDFLARE_API_TOKEN" in line for line in git.evidence)
    skills = report.by_id("skills.reverse_shell")[0]
    assert skills.locations[0].key == "line 9"


def test_version_advisories_are_one_finding_listing_each_advisory(weak: AuditedHome) -> None:
    found = weak.audit().by_id("version.advisories")
    assert len(found) == 1
    evidence = found[0].evidence
    assert "version 2026.1.14 from" in evidence[0] and "package.json" in evidence[0]
    listed = [line for line in evidence if " (fixed in " in line]
    assert len(listed) == 6
    assert any(line.startswith("CVE-2026-25253") and "2026.1.29" in line for line in listed)
    assert found[0].severity is Severity.CRITICAL  # GHSA-g55j (fixed 2026.1.20) is critical
    assert any("2026.2.26" in line for line in evidence)  # the service's version, also seen


def test_compose_findings_skip_services_that_are_not_openclaw(weak: AuditedHome) -> None:
    report = weak.audit()
    compose = [f for f in report if f.check_id.startswith("docker.")]
    assert compose
    assert all("openclaw-gateway" in line for f in compose for line in f.evidence)
    ports = report.by_id("docker.port_all_interfaces")[0].evidence[0]
    assert "18789:18789" in ports and "${OPENCLAW_BRIDGE_PORT:-18790}:18790" in ports


def test_hardened_home_has_no_findings_beyond_its_manual_only_channel(
    hardened: AuditedHome,
) -> None:
    report = hardened.audit()
    assert report.ids() == {"contain.manual_only"}, render_text(report)
    (manual,) = report.findings
    assert manual.severity is Severity.LOW and "telegram" in manual.evidence[0]
    assert report.version == "2026.9.6"
    assert not report.problems


def test_sample_home_reports_what_it_plants_and_nothing_of_its_hardened_config(
    sample: SampleHome, tmp_path: Path
) -> None:
    report = run_audit(
        user_home=sample.user_home,
        settings={"agent": sample.agent_settings()},
        host=HostSystem(root=tmp_path / "empty-root", live=False),
        openclaw=(),
    )
    assert report.ids() == SAMPLE_FINDINGS, render_text(report)
    # The planted curl|sh lines are found exactly where the sample put them.
    cron = report.by_id("cron.suspicious_job")[0]
    assert "203.0.113.50/p.sh | sh" in cron.evidence[0]
    skill = report.by_id("skills.pipe_to_shell")[0]
    assert "crm-sync/SKILL.md:line 7" in skill.evidence[0]


def test_no_secret_value_in_any_rendering(weak: AuditedHome, sample: SampleHome) -> None:
    report = weak.audit()
    outputs = [
        render_text(report),
        json.dumps(render_json(report)),
        json.dumps(render_sarif(report)),
    ]
    for output in outputs:
        assert_no_secret(output, weak.planted_values)


def test_exit_code_follows_fail_on(weak: AuditedHome, hardened: AuditedHome) -> None:
    strong = hardened.audit()  # one low finding
    assert strong.exit_code(None) == 0
    assert strong.exit_code("high") == 0
    assert strong.exit_code("critical") == 0
    assert strong.exit_code("low") == EXIT_FINDINGS_AT_THRESHOLD
    assert strong.exit_code("info") == EXIT_FINDINGS_AT_THRESHOLD
    loose = weak.audit()
    assert loose.exit_code("HIGH") == EXIT_FINDINGS_AT_THRESHOLD
    assert loose.exit_code("critical") == EXIT_FINDINGS_AT_THRESHOLD
    with pytest.raises(BadInput, match="unknown severity 'severe'"):
        loose.exit_code("severe")


def test_audit_changes_nothing_it_reads(weak: AuditedHome, snapshot_unchanged) -> None:  # type: ignore[no-untyped-def]
    root = weak.user_home.parents[1]  # the whole sample tree: home, tmp, locks
    snapshot_unchanged(root, weak.host_root)
    report = weak.audit()
    assert "secrets.in_git_worktree" in report.ids()  # git really ran against the work tree


def test_a_crashing_check_is_reported_and_the_rest_still_run(
    hardened: AuditedHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clawback.audit import checklist, model

    def broken(ctx: object) -> list[object]:
        raise RuntimeError("value-that-must-not-be-printed")

    spec = {r.spec.id: r.spec for r in catalogue()}["host.sshd_password_auth"]
    monkeypatch.setattr(checklist, "CHECKS", tuple(
        model.RegisteredCheck(spec, broken) if r.spec.id == spec.id else r
        for r in checklist.CHECKS
    ))
    write_weak_sshd = hardened.host_root / "etc/ssh/sshd_config.d/10-hardening.conf"
    write_weak_sshd.write_text("PermitRootLogin yes\n")
    report = hardened.audit()
    assert report.problems == ("check host.sshd_password_auth failed: RuntimeError",)
    assert "host.sshd_root_login" in report.ids()
    assert "value-that-must-not" not in render_text(report)


def test_sshd_options_after_match_and_in_includes(tmp_path: Path) -> None:
    from clawback.audit.checks.host import sshd_settings
    from clawback.audit.context import AuditContext

    root = hardened_host_root(tmp_path / "root")
    ctx = AuditContext(tmp_path, None, {}, {}, HostSystem(root=root, live=False))
    settings = sshd_settings(ctx)
    assert settings is not None
    # The include comes first and wins; the Match block's "yes" applies to one user only.
    assert settings["passwordauthentication"].value == "no"
    assert settings["passwordauthentication"].where.endswith("10-hardening.conf:1")
    (root / "etc/ssh/sshd_config.d/10-hardening.conf").unlink()
    unset = AuditContext(tmp_path, None, {}, {}, HostSystem(root=root, live=False))
    assert "passwordauthentication" not in (sshd_settings(unset) or {})


@pytest.mark.parametrize(
    ("port", "exposed"),
    [
        ("18789:18789", True),
        ("18789", True),
        ("0.0.0.0:18789:18789", True),
        ("127.0.0.1:18789:18789", False),
        ("[::1]:18789:18789/tcp", False),
        ("[::]:18789:18789", True),
        ("${BIND:-127.0.0.1}:18789:18789", False),
        ("${BIND:-0.0.0.0}:18789:18789", True),
        ("${GATEWAY_PORT:-18789}:18789", True),
        ({"target": 18789, "published": 18789, "host_ip": "127.0.0.1"}, False),
        ({"target": 18789, "published": 18789}, True),
    ],
)
def test_compose_port_publication(port: object, exposed: bool) -> None:
    from clawback.audit.checks.isolation import exposed_ports

    assert bool(exposed_ports({"ports": [port]})) is exposed


def test_versions_compare_as_calver() -> None:
    from clawback.audit.checks.version import affecting, parse_version

    assert parse_version("2026.1.29-beta.2") < parse_version("2026.1.29")  # type: ignore[operator]
    assert parse_version("2026.1.29") < parse_version("2026.1.29-1")  # type: ignore[operator]
    assert parse_version("OpenClaw 2026.2.26 (bc50708)") == (2026, 2, 26, 1, 0)
    assert {a.fixed for a in affecting("2026.1.29-beta.1")} >= {"2026.1.29"}
    assert affecting("2026.3.11") == []
    assert affecting("not a version") == []


def test_only_read_only_commands_can_run() -> None:
    from clawback.audit.context import ReadOnlyCommands, RefusedCommand

    commands = ReadOnlyCommands()
    for argv in (
        ["nft", "flush", "ruleset"],
        ["git", "-c", "safe.directory=*", "--no-optional-locks", "-C", "/x", "gc"],
        ["ufw", "enable"],
        ["rm", "-rf", "/"],
    ):
        with pytest.raises(RefusedCommand):
            commands.run(argv)


def test_evidence_the_auditor_cannot_read_is_reported(sample: SampleHome, tmp_path: Path) -> None:
    """The agent's files belong to its own user (0700); clawback runs without the privilege to
    read them (root with every capability dropped): contain could not snapshot them."""
    import subprocess
    import sys

    from tests.conftest import require_binary, require_root

    require_root()
    setpriv = require_binary("setpriv", "util-linux")
    agent_uid = 23456
    for path in [sample.root, *sample.root.rglob("*")]:
        os.lchown(path, agent_uid, agent_uid)
    code = (
        "import json, sys; from pathlib import Path;"
        "from clawback.audit import HostSystem, render_json, run_audit;"
        "a = json.loads(sys.argv[1]);"
        "r = run_audit(user_home=Path(a['home']), settings=a['settings'],"
        " host=HostSystem(root=Path(a['root']), live=False), openclaw=());"
        "print(json.dumps(render_json(r)))"
    )
    settings = {"agent": {**sample.agent_settings(), "state_dirs": [str(sample.state_dir)]}}
    args = json.dumps({"home": str(sample.user_home), "settings": settings, "root": str(tmp_path)})
    done = subprocess.run(
        [setpriv, "--bounding-set=-all", "--inh-caps=-all", sys.executable, "-c", code, args],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report = json.loads(done.stdout)
    found = [f for f in report["findings"] if f["id"] == "contain.evidence_unreadable"]
    assert found, [f["id"] for f in report["findings"]]
    assert any(line.startswith(f"{sample.user_home}") for line in found[0]["evidence"])
    # Run with the privilege, the same install has no such finding.
    assert (
        "contain.evidence_unreadable"
        not in run_audit(
            user_home=sample.user_home,
            settings=settings,
            host=HostSystem(root=tmp_path, live=False),
            openclaw=(),
        ).ids()
    )


def test_backups_holding_the_secret_in_use_are_not_old_secrets(tmp_path: Path) -> None:
    """After a rotation every .bak copy holds the new token: that is no old secret surviving.
    A value no config, dotenv or unit uses any more is."""
    import secrets as random

    home = tmp_path / "home"
    state = home / ".openclaw"
    state.mkdir(parents=True, mode=0o700)
    current, old = random.token_hex(24), random.token_hex(24)

    def config(token: str) -> str:
        return json.dumps({"gateway": {"mode": "local", "auth": {"mode": "token",
                                                                  "token": token}}})

    (state / "openclaw.json").write_text(config(current))
    (state / "openclaw.json.bak").write_text(config(current))
    (state / "openclaw.json.bak.1").write_text(config(old))
    for path in state.iterdir():
        path.chmod(0o600)
    report = run_audit(user_home=home, settings={"agent": {"user_home": str(home)}},
                       host=HostSystem(root=tmp_path / "root", live=False), openclaw=())

    found = report.by_id("secrets.in_config_backups")
    by_title = {f.title: f for f in found}
    survivors = by_title["Old secrets survive in openclaw.json.bak* copies"]
    assert survivors.severity is Severity.HIGH
    assert [loc.path for loc in survivors.locations] == [str(state / "openclaw.json.bak.1")]
    copies = by_title["openclaw.json.bak* copies hold the secrets in use"]
    assert copies.severity is Severity.LOW
    assert [loc.path for loc in copies.locations] == [str(state / "openclaw.json.bak")]
