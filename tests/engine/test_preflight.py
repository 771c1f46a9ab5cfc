"""`clawback drill --preflight` against moto with IAM enforced: a missing permission is named,
a complete admin passes, and nothing changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from clawback_demo.standins import MotoStandIn, start_moto

from .conftest import Workspace, write_config


@pytest.fixture
def moto() -> Iterator[MotoStandIn]:
    stand_in = start_moto()
    try:
        yield stand_in
    finally:
        # moto's in-process servers share one backend: leave it as found for the next one.
        from tests.keys.standins import post

        post(f"{stand_in.url}/moto-api/reset-auth", b"inf")
        post(f"{stand_in.url}/moto-api/reset")
        stand_in.stop()


def _weak_admin(moto: MotoStandIn) -> tuple[str, str]:
    iam = moto.iam()
    iam.create_user(UserName="weak-responder")
    iam.put_user_policy(
        UserName="weak-responder", PolicyName="almost",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Resource": "*", "Action": [
                "iam:ListAccessKeys", "iam:UpdateAccessKey", "iam:CreateAccessKey",
                "iam:PutUserPolicy", "iam:PutRolePolicy", "iam:GetAccessKeyLastUsed",
                "sts:GetCallerIdentity"]},
        ]}),
    )
    key = iam.create_access_key(UserName="weak-responder")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def _preflight(ws: Workspace, moto: MotoStandIn, admin: tuple[str, str]) -> dict[str, object]:
    write_config(ws.config, ws.home, extra=(
        "[providers.aws]\n"
        f"endpoint_url = {json.dumps(moto.url)}\n"
        'admin_access_key_id = "env:PREFLIGHT_ADMIN_ID"\n'
        'admin_secret_access_key = "env:PREFLIGHT_ADMIN_SECRET"\n'
        'users = ["openclaw-agent"]\n'
    ))
    env = {**os.environ, "PREFLIGHT_ADMIN_ID": admin[0], "PREFLIGHT_ADMIN_SECRET": admin[1],
           "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
    run = subprocess.run(
        [sys.executable, "-m", "clawback", "drill", "--preflight", "--json", "--config",
         str(ws.config)], capture_output=True, text=True, env=env, timeout=120,
    )
    assert run.returncode in (0, 3), run.stderr
    document: dict[str, object] = json.loads(run.stdout)
    document["exit"] = run.returncode
    return document


def test_preflight_names_the_missing_permission_and_changes_nothing(
    workspace: Workspace, moto: MotoStandIn
) -> None:
    moto.create_agent_key("openclaw-agent")
    full = moto.create_admin()
    weak = _weak_admin(moto)
    moto.enforce_iam()
    try:
        before = moto.key_statuses("openclaw-agent")
        weak_report = _preflight(workspace, moto, weak)
        full_report = _preflight(workspace, moto, full)
        after = moto.key_statuses("openclaw-agent")
    finally:
        from tests.keys.standins import post

        post(f"{moto.url}/moto-api/reset-auth", b"inf")

    weak_checks = {c["capability"]: c for c in weak_report["checks"]}  # type: ignore[union-attr]
    assert weak_checks["iam:DeleteAccessKey"]["ok"] is False
    assert weak_checks["iam:DeleteAccessKey"]["missing_permission"] == "iam:DeleteAccessKey"
    assert weak_report["ok"] is False and weak_report["exit"] == 3

    full_checks = {c["capability"]: c for c in full_report["checks"]}  # type: ignore[union-attr]
    assert all(c["ok"] for c in full_checks.values()), full_checks
    coverage = {c["provider"]: c["mode"] for c in full_report["coverage"]}  # type: ignore[union-attr]
    assert coverage["aws"] == "api"
    assert before == after, "preflight changed the agent's keys"
    secrets = [p.value for p in workspace.home.planted]
    text = json.dumps(full_report) + json.dumps(weak_report)
    assert not any(s in text for s in secrets)
