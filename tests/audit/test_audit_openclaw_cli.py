"""The real OpenClaw CLI (2026.2.26): its ``security audit --json`` merged into ours, run in a
read-only, offline sandbox so it cannot prune /tmp/openclaw or phone home."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from clawback.audit import Severity
from clawback.audit.checklist import spec_for
from clawback.audit.openclaw_cli import OpenClawRun, merge
from tests.audit.conftest import OPENCLAW_COMMAND, AuditedHome, assert_no_secret
from tests.conftest import REQUIRE_ALL, require, require_root

INSTALLER = Path(__file__).with_name("install_openclaw.sh")


@pytest.fixture(scope="session")
def openclaw() -> Sequence[str]:
    installed = all(Path(part).exists() for part in OPENCLAW_COMMAND)
    if not installed and REQUIRE_ALL:
        # CI machines start empty; the installer only talks to the npm registry.
        subprocess.run(["bash", str(INSTALLER)], check=True, timeout=900)
        installed = all(Path(part).exists() for part in OPENCLAW_COMMAND)
    require(installed, f"needs the OpenClaw CLI: bash {INSTALLER.relative_to(Path.cwd())}")
    require_root()  # the read-only sandbox needs a private mount namespace
    return OPENCLAW_COMMAND


def test_openclaw_findings_are_merged_once_and_nothing_changes(
    weak: AuditedHome,
    openclaw: Sequence[str],
    snapshot_unchanged,  # type: ignore[no-untyped-def]
) -> None:
    snapshot_unchanged(weak.user_home.parents[1])
    log_dir_existed = os.path.lexists("/tmp/openclaw")
    report = weak.audit(openclaw=openclaw)
    # Unsandboxed, the CLI creates (or chmods, and prunes) /tmp/openclaw as it starts.
    assert os.path.lexists("/tmp/openclaw") == log_dir_existed
    assert report.openclaw_audit_ran, report.by_id("openclaw.audit_failed")
    assert report.version == "2026.2.26"
    assert report.version_source == f"openclaw binary ({Path(openclaw[-1]).parent}/package.json)"
    ours = {f.check_id: f for f in report if f.source == "clawback"}
    assert "gateway.tailscale_funnel" in ours["gateway.tailscale_funnel"].openclaw_ids
    assert "logging.redact_off" in ours["logging.redaction_off"].openclaw_ids
    assert "gateway.token_too_short" in ours["gateway.auth_weak_secret"].openclaw_ids
    assert "fs.config.perms_world_readable" in ours["fs.config_perms"].openclaw_ids
    theirs = [f for f in report if f.source == "openclaw"]
    assert theirs, "OpenClaw reported nothing of its own"
    for finding in theirs:
        # Kept under OpenClaw's own id, and only when no clawback finding already says it.
        assert finding.openclaw_ids == (finding.check_id,)
        assert not any(spec_for(f.check_id).covers(finding.check_id) for f in ours.values())  # type: ignore[union-attr]
    assert len({(f.check_id, f.evidence) for f in report}) == len(report.findings)
    from clawback.audit import render_json, render_text

    assert_no_secret(render_text(report) + str(render_json(report)), weak.planted_values)


def test_hardened_home_passes_openclaws_own_audit(
    hardened: AuditedHome, openclaw: Sequence[str]
) -> None:
    report = hardened.audit(openclaw=openclaw)
    assert report.openclaw_audit_ran, report.by_id("openclaw.audit_failed")
    theirs = [f for f in report if f.source == "openclaw"]
    assert all(f.severity.rank < Severity.HIGH.rank for f in theirs), theirs
    # The CLI here is 2026.2.26, older than the trusted-proxy fix: that is reported, nothing else.
    assert {f.check_id for f in report if f.source == "clawback"} == {
        "contain.manual_only",
        "version.advisories",
    }


def test_an_invalid_config_is_reported_not_hidden(
    weak: AuditedHome, openclaw: Sequence[str]
) -> None:
    config = weak.state_dir / "openclaw.json"
    config.write_text(config.read_text().replace('mode: "local"', 'mode: "everywhere"'))
    report = weak.audit(openclaw=openclaw)
    assert not report.openclaw_audit_ran
    (failed,) = report.by_id("openclaw.audit_failed")
    assert "gateway.mode" in failed.evidence[0]
    assert "gateway.bind_exposed" in report.ids()  # our own checks still ran


def test_merge_folds_covered_ids_and_keeps_the_rest(hardened: AuditedHome) -> None:
    # The shape `openclaw security audit --json` prints (2026.2.26), without running it.
    report = hardened.audit()
    from clawback.audit.context import AuditContext, HostSystem

    ctx = AuditContext(hardened.user_home, None, hardened.settings, {}, HostSystem(live=False))
    outcome = OpenClawRun(
        command=("openclaw",),
        findings=[
            {"checkId": "contain.manual_only", "severity": "info", "title": "x", "detail": "y"},
            {
                "checkId": "models.weak_tier",
                "severity": "warn",
                "title": "Weak model",
                "detail": "a\nb",
            },
            {
                "checkId": "models.weak_tier",
                "severity": "warn",
                "title": "Weak model",
                "detail": "a\nb",
            },
            {
                "checkId": "gateway.probe_failed",
                "severity": "critical",
                "title": "Probe",
                "detail": "",
            },
        ],
    )
    merged = merge(ctx, list(report.findings), outcome, spec_for)
    by_id = {f.check_id: f for f in merged}
    assert len(merged) == len(report.findings) + 3  # the duplicate weak_tier is dropped
    assert by_id["models.weak_tier"].severity is Severity.MEDIUM
    assert by_id["models.weak_tier"].evidence == ("a", "b")
    assert by_id["gateway.probe_failed"].severity is Severity.CRITICAL
    assert by_id["gateway.probe_failed"].source == "openclaw"


def test_a_folded_critical_keeps_its_severity(weak: AuditedHome) -> None:
    """OpenClaw's critical, folded into a clawback finding of lower severity, raises it."""
    report = weak.audit()
    from clawback.audit.context import AuditContext, HostSystem

    ours = {f.check_id: f for f in report if f.source == "clawback"}
    assert ours["gateway.bind_exposed"].severity is Severity.HIGH
    ctx = AuditContext(weak.user_home, None, weak.settings, {}, HostSystem(live=False))
    outcome = OpenClawRun(command=("openclaw",), findings=[
        {"checkId": "gateway.bind_no_auth", "severity": "critical", "title": "Exposed",
         "detail": "bind lan, no usable auth"},
    ])

    merged = {f.check_id: f for f in merge(ctx, list(report.findings), outcome, spec_for)}

    assert "gateway.bind_no_auth" not in merged  # folded, not listed twice
    bind = merged["gateway.bind_exposed"]
    assert bind.severity is Severity.CRITICAL
    assert "gateway.bind_no_auth" in bind.openclaw_ids
