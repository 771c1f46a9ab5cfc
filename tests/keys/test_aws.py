"""The AWS responder against moto's server over HTTP (and loopback fault servers)."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from clawback.runner import concurrent_fan_out
from clawback.secret_store import KeyringSecretStore
from responders.aws import (
    KIND_ACCESS_KEY,
    KIND_ROLE_SESSIONS,
    KIND_USER,
    SESSION_POLICY_NAME,
    AWSResponder,
)
from responders.interface import (
    AlreadyRevoked,
    Credential,
    Disabled,
    Failed,
    Location,
    Outcome,
    Planned,
    Refused,
    ResponderContext,
    Revoked,
    Rotated,
    Unproven,
    VerifiedDead,
)
from tests.keys.standins import MotoAccount, refused_url

ADMIN_ID_REF = "env:TEST_AWS_ADMIN_ID"
ADMIN_SECRET_REF = "env:TEST_AWS_ADMIN_SECRET"


def make_responder(
    endpoint: str,
    *,
    admin: tuple[str, str] = ("AKIAADMINSETUP000000", "setup-secret-not-checked"),
    incident: str = "2026-11-21T0203Z-7f3a",
    **config: Any,
) -> tuple[AWSResponder, KeyringSecretStore]:
    store = KeyringSecretStore(
        environ={"TEST_AWS_ADMIN_ID": admin[0], "TEST_AWS_ADMIN_SECRET": admin[1]}
    )
    settings = {
        "endpoint_url": endpoint,
        "admin_access_key_id": ADMIN_ID_REF,
        "admin_secret_access_key": ADMIN_SECRET_REF,
        "connect_timeout": 1,
        "read_timeout": 2,
        **config,
    }
    context = ResponderContext(
        config=settings, secrets=store, incident_id=incident, fan_out=concurrent_fan_out
    )
    return AWSResponder(context), store


def agent_key(key: dict[str, str]) -> Credential:
    return Credential.from_secret(
        "aws",
        KIND_ACCESS_KEY,
        key["SecretAccessKey"],
        [Location("/home/agent/.aws/credentials", "default")],
        key_id=key["AccessKeyId"],
    )


def everything_said(outcomes: list[Outcome]) -> str:
    return "\n".join(repr(o) + json.dumps(dict(o.facts), default=str) for o in outcomes)


# -- revoke ---------------------------------------------------------------------------------------


def test_keys_are_deactivated_then_deleted_and_sessions_denied(moto: MotoAccount) -> None:
    key = moto.user_with_key("agent")
    moto.iam.create_role(RoleName="agent-role", AssumeRolePolicyDocument="{}")
    responder, _ = make_responder(moto.url, delete_grace_seconds=0.6, roles=["agent-role"])
    targets = [agent_key(key), *responder.configured_targets()]
    assert [t.kind for t in targets] == [KIND_ACCESS_KEY, KIND_ROLE_SESSIONS]

    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.extend(responder.revoke_all(targets)))
    started = datetime.now(UTC)
    worker.start()
    seen: set[str] = set()
    while worker.is_alive():
        seen.update(moto.keys("agent").values())
        time.sleep(0.02)
    worker.join()

    # Inactive during the grace period, then gone.
    assert "Inactive" in seen
    assert moto.keys("agent") == {}
    (_, key_outcome), (_, role_outcome) = result
    assert isinstance(key_outcome, Revoked), key_outcome
    state = key_outcome.facts["keys"][key["AccessKeyId"]]
    assert state["state"] == "deleted"
    assert state["deactivated_at"] <= state["deleted_at"]
    assert key_outcome.facts["user"] == "agent"
    assert isinstance(role_outcome, Revoked), role_outcome

    for document in (
        moto.iam.get_user_policy(UserName="agent", PolicyName=SESSION_POLICY_NAME),
        moto.iam.get_role_policy(RoleName="agent-role", PolicyName=SESSION_POLICY_NAME),
    ):
        policy = document["PolicyDocument"]
        if isinstance(policy, str):
            policy = json.loads(policy)
        (statement,) = policy["Statement"]
        assert statement["Effect"] == "Deny"
        assert statement["Action"] == ["*"] and statement["Resource"] == ["*"]
        cutoff = datetime.fromisoformat(
            statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"].replace("Z", "+00:00")
        )
        assert started <= cutoff <= datetime.now(UTC).replace(microsecond=0) + _SECOND


_SECOND = datetime.fromtimestamp(1, UTC) - datetime.fromtimestamp(0, UTC)


def test_second_run_reports_already_revoked_and_changes_nothing(moto: MotoAccount) -> None:
    key = moto.user_with_key("agent")
    moto.iam.create_role(RoleName="agent-role", AssumeRolePolicyDocument="{}")
    first, _ = make_responder(moto.url, roles=["agent-role"])
    targets = [agent_key(key), *first.configured_targets()]
    assert all(isinstance(o, Revoked) for _, o in first.revoke_all(targets))
    policy_before = moto.iam.get_role_policy(RoleName="agent-role", PolicyName=SESSION_POLICY_NAME)[
        "PolicyDocument"
    ]

    again, _ = make_responder(moto.url, roles=["agent-role"])  # a resumed run: same incident
    outcomes = [o for _, o in again.revoke_all(targets)]
    assert [type(o) for o in outcomes] == [AlreadyRevoked, AlreadyRevoked]
    assert (
        moto.iam.get_role_policy(RoleName="agent-role", PolicyName=SESSION_POLICY_NAME)[
            "PolicyDocument"
        ]
        == policy_before
    )


def test_delete_false_leaves_the_key_inactive_and_a_rerun_keeps_it(moto: MotoAccount) -> None:
    key = moto.user_with_key("agent")
    responder, _ = make_responder(moto.url, delete=False)
    ((_, outcome),) = responder.revoke_all([agent_key(key)])
    assert isinstance(outcome, Disabled), outcome
    assert moto.keys("agent") == {key["AccessKeyId"]: "Inactive"}

    ((_, again),) = make_responder(moto.url, delete=False)[0].revoke_all([agent_key(key)])
    assert isinstance(again, AlreadyRevoked)
    assert moto.keys("agent") == {key["AccessKeyId"]: "Inactive"}


def test_a_configured_user_loses_every_key_even_undiscovered_ones(moto: MotoAccount) -> None:
    found = moto.user_with_key("agent")
    hidden = moto.iam.create_access_key(UserName="agent")["AccessKey"]
    moto.user_with_key("bystander")
    responder, _ = make_responder(moto.url, users=["agent"])
    targets = [agent_key(found), *responder.configured_targets()]
    assert [t.kind for t in targets] == [KIND_ACCESS_KEY, KIND_USER]

    outcomes = dict((c.kind, o) for c, o in responder.revoke_all(targets))
    assert moto.keys("agent") == {}
    assert len(moto.keys("bystander")) == 1
    assert isinstance(outcomes[KIND_USER], Revoked | AlreadyRevoked)
    assert hidden["AccessKeyId"] in outcomes[KIND_USER].facts["keys"]


def test_temporary_keys_and_unknown_keys(moto: MotoAccount) -> None:
    responder, _ = make_responder(moto.url)
    temporary = Credential.from_secret(
        "aws", KIND_ACCESS_KEY, "t" * 40, key_id="ASIAQWERTYUIOPASDFGH"
    )
    deleted = Credential.from_secret(
        "aws", KIND_ACCESS_KEY, "u" * 40, key_id="AKIAQWERTYUIOPASDFGH"
    )
    outcomes = [o for _, o in responder.revoke_all([temporary, deleted])]
    assert outcomes[0].status == "manual" and "roles" in outcomes[0].instructions  # type: ignore[attr-defined]
    assert isinstance(outcomes[1], AlreadyRevoked)


def test_a_configured_users_service_credentials_die_by_default(moto: MotoAccount) -> None:
    """Bedrock API keys, CodeCommit passwords…: every service-specific credential of a
    configured user is revoked without naming the services (the old default touched none)."""
    moto.user_with_key("agent")
    moto.front.create("agent", "bedrock.amazonaws.com")
    moto.front.create("agent", "codecommit.amazonaws.com")
    moto.iam.create_user(UserName="bystander")
    spared, _ = moto.front.create("bystander", "bedrock.amazonaws.com")
    responder, _ = make_responder(moto.url, users=["agent"])

    ((_, outcome),) = responder.revoke_all(responder.configured_targets())

    assert isinstance(outcome, Revoked), outcome
    assert moto.keys("agent") == {} and moto.front.statuses("agent") == {}
    assert moto.front.statuses("bystander") == {spared: "Active"}
    services = {k.split(" ")[0] for k in outcome.facts["keys"] if " credential " in k}
    assert services == {"bedrock.amazonaws.com", "codecommit.amazonaws.com"}
    assert isinstance(responder.verify_revoked(responder.configured_targets()[0]), VerifiedDead)


def test_a_leaked_bedrock_key_is_decoded_to_its_user_and_deleted(moto: MotoAccount) -> None:
    from responders.aws import KIND_BEDROCK, decode_bedrock_key

    moto.iam.create_user(UserName="BedrockAPIKey-ab12")
    credential_id, value = moto.front.create("BedrockAPIKey-ab12")
    other, _ = moto.front.create("BedrockAPIKey-ab12")  # the same user's second key
    decoded = decode_bedrock_key(value)
    assert decoded is not None and (decoded.user, decoded.account) == (
        "BedrockAPIKey-ab12", "123456789012")
    leaked = Credential.from_secret(
        "aws", KIND_BEDROCK, value, [Location("/home/agent/.openclaw/.env",
                                              "AWS_BEARER_TOKEN_BEDROCK")])
    responder, _ = make_responder(moto.url)

    outcome = responder.revoke(leaked)

    # The alias does not tell the user's two keys apart: both go, and the outcome says so.
    assert isinstance(outcome, Revoked), outcome
    assert outcome.facts["matched"] == "every Bedrock key of the user"
    assert moto.front.statuses("BedrockAPIKey-ab12") == {}
    assert {credential_id, other} <= {k.split(" ")[-1] for k in outcome.facts["keys"]}
    dead = responder.verify_revoked(leaked)
    assert isinstance(dead, VerifiedDead) and dead.facts["method"] == "iam"
    assert value not in everything_said([outcome, dead])


def test_a_bedrock_key_of_another_account_is_left_to_a_human(moto: MotoAccount) -> None:
    import base64

    from responders.aws import KIND_BEDROCK

    foreign = "ABSK" + base64.b64encode(b"someone-at-999999999999:" + b"z" * 40).decode()
    responder, _ = make_responder(moto.url)
    outcome = responder.revoke(Credential.from_secret("aws", KIND_BEDROCK, foreign))
    assert outcome.status == "manual" and "999999999999" in outcome.instructions  # type: ignore[attr-defined]


def test_a_session_key_gets_a_deny_on_the_role_it_came_from(moto: MotoAccount) -> None:
    from responders.aws import KIND_SESSION

    moto.iam.create_role(RoleName="openclaw-runner", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }))
    moto.iam.put_role_policy(RoleName="openclaw-runner", PolicyName="work",
                             PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                 {"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}]}))
    admin = _enforced_admin(moto, allow=["iam:*", "sts:*"])
    moto.enforce_iam()
    session = moto.client("sts", *admin).assume_role(
        RoleArn="arn:aws:iam::123456789012:role/openclaw-runner", RoleSessionName="agent",
    )["Credentials"]
    leaked = Credential.from_secret(
        "aws", KIND_SESSION, session["SecretAccessKey"], key_id=session["AccessKeyId"],
        companions={"session_token": session["SessionToken"]},
    )
    responder, _ = make_responder(moto.url, admin=admin)

    outcome = responder.revoke(leaked)

    assert isinstance(outcome, Revoked), outcome
    assert outcome.facts["session_of"] == "role/openclaw-runner"
    policy = moto.client("iam", *admin).get_role_policy(
        RoleName="openclaw-runner", PolicyName=SESSION_POLICY_NAME)["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    assert "aws:TokenIssueTime" in policy["Statement"][0]["Condition"]["DateLessThan"]
    # moto refuses the session now, but without AWS's "explicit deny" wording: not proof.
    check = responder.verify_revoked(leaked)
    assert isinstance(check, Unproven), check
    assert SESSION_POLICY_NAME in check.check


def test_a_session_refused_with_an_explicit_deny_is_proven_dead(httpserver: HTTPServer) -> None:
    """AWS's documented wording for a call refused by the deny: the only refusal that proves it."""
    from responders.aws import KIND_SESSION

    arn = "arn:aws:sts::123456789012:assumed-role/openclaw-runner/agent"
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "ClawbackIncident", "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-11-21T02:03:00Z"}}}]})

    def answer(request: Request) -> Response:
        action = request.form.get("Action")
        if action == "GetCallerIdentity":
            body = (f"<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>{arn}</Arn>"
                    "<UserId>AROA:agent</UserId><Account>123456789012</Account>"
                    "</GetCallerIdentityResult></GetCallerIdentityResponse>")
            return Response(body, 200, content_type="text/xml")
        if action == "GetRolePolicy":
            from urllib.parse import quote

            body = ("<GetRolePolicyResponse><GetRolePolicyResult><RoleName>openclaw-runner"
                    f"</RoleName><PolicyName>{SESSION_POLICY_NAME}</PolicyName><PolicyDocument>"
                    f"{quote(policy)}</PolicyDocument></GetRolePolicyResult>"
                    "</GetRolePolicyResponse>")
            return Response(body, 200, content_type="text/xml")
        body = ("<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>"
                f"User: {arn} is not authorized to perform: iam:GetRole on resource: role "
                "openclaw-runner with an explicit deny in an identity-based policy</Message>"
                "</Error></ErrorResponse>")
        return Response(body, 403, content_type="text/xml")

    httpserver.expect_request("/").respond_with_handler(answer)
    responder, _ = make_responder(httpserver.url_for("/"))
    leaked = Credential.from_secret("aws", KIND_SESSION, "s" * 40, key_id="ASIAQWERTYUIOPASDFGH",
                                    companions={"session_token": "t" * 120})
    outcome = responder.verify_revoked(leaked)
    assert isinstance(outcome, VerifiedDead), outcome
    assert outcome.facts["principal"] == "role/openclaw-runner"


def test_clawbacks_own_admin_key_is_never_revoked(moto: MotoAccount) -> None:
    agent = moto.user_with_key("agent")
    mine = moto.iam.create_access_key(UserName="agent")["AccessKey"]  # the admin is the agent
    admin = (mine["AccessKeyId"], mine["SecretAccessKey"])
    responder, _ = make_responder(moto.url, admin=admin, users=["agent"])
    own = Credential.from_secret("aws", KIND_ACCESS_KEY, mine["SecretAccessKey"],
                                 key_id=mine["AccessKeyId"])

    outcomes = dict(
        (c.kind, o) for c, o in responder.revoke_all([own, *responder.configured_targets()])
    )

    assert isinstance(outcomes[KIND_ACCESS_KEY], Refused)
    assert "separate admin identity" in outcomes[KIND_ACCESS_KEY].reason
    assert isinstance(outcomes[KIND_USER], Refused), outcomes[KIND_USER]
    assert outcomes[KIND_USER].facts["kept"] == mine["AccessKeyId"]
    assert moto.keys("agent") == {mine["AccessKeyId"]: "Active"}  # the agent's other key died
    assert agent["AccessKeyId"] not in moto.keys("agent")


# -- rotate ---------------------------------------------------------------------------------------


def test_rotation_makes_room_stores_first_and_retires_the_old_key(
    moto: MotoAccount, memory_keyring: Any
) -> None:
    old = moto.user_with_key("agent")
    spare = moto.iam.create_access_key(UserName="agent")["AccessKey"]
    moto.iam.update_access_key(
        UserName="agent", AccessKeyId=spare["AccessKeyId"], Status="Inactive"
    )
    responder, store = make_responder(moto.url)

    outcome = responder.rotate(agent_key(old), store)

    assert isinstance(outcome, Rotated), outcome
    facts = outcome.facts
    assert facts["stage"] == "finish" and facts["new_key_label"] == "AWSCURRENT"
    assert facts["made_room_by_deleting"] == spare["AccessKeyId"]
    new_id = facts["new_key_id"]
    assert moto.keys("agent") == {new_id: "Active"}
    stored = json.loads(store.resolve(outcome.new_reference).reveal())
    assert stored["AccessKeyId"] == new_id
    assert outcome.new_fingerprint.endswith(
        f"sha256:{__import__('hashlib').sha256(stored['SecretAccessKey'].encode()).hexdigest()[:8]}"
    )
    assert memory_keyring.store  # really went through keyring
    identity = moto.client("sts", new_id, stored["SecretAccessKey"]).get_caller_identity()
    assert identity["Arn"].endswith(":user/agent")


def test_rotation_honours_the_grace_and_the_delete_switch(
    moto: MotoAccount, memory_keyring: Any
) -> None:
    old = moto.user_with_key("agent")
    keeper, store = make_responder(moto.url, delete=False)
    kept = keeper.rotate(agent_key(old), store)
    assert isinstance(kept, Rotated) and kept.facts["old_key"] == "Inactive"
    assert moto.keys("agent")[old["AccessKeyId"]] == "Inactive"  # AWSPREVIOUS, for forensics

    newer = {"AccessKeyId": kept.facts["new_key_id"], "SecretAccessKey": "unused-here"}
    patient, store = make_responder(moto.url, delete_grace_seconds=0.4)
    started = time.monotonic()
    rotated = patient.rotate(agent_key(newer), store)
    assert time.monotonic() - started >= 0.4
    assert isinstance(rotated, Rotated) and rotated.facts["old_key"] == "deleted"
    # The inactive AWSPREVIOUS key made room; the rotated-away key waited out the grace.
    assert rotated.facts["made_room_by_deleting"] == old["AccessKeyId"]
    assert moto.keys("agent") == {rotated.facts["new_key_id"]: "Active"}


def test_rotation_refuses_a_third_key(moto: MotoAccount, memory_keyring: Any) -> None:
    old = moto.user_with_key("agent")
    other = moto.iam.create_access_key(UserName="agent")["AccessKey"]
    responder, store = make_responder(moto.url)

    outcome = responder.rotate(agent_key(old), store)

    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "two active access keys" in outcome.error and other["AccessKeyId"] not in outcome.error
    assert moto.keys("agent") == {old["AccessKeyId"]: "Active", other["AccessKeyId"]: "Active"}
    assert memory_keyring.store == {}


def test_rotation_deletes_the_new_key_when_storing_fails(
    moto: MotoAccount, refusing_keyring: Any
) -> None:
    old = moto.user_with_key("agent")
    responder, store = make_responder(moto.url)

    outcome = responder.rotate(agent_key(old), store)

    assert isinstance(outcome, Failed), outcome
    assert outcome.facts["stage"] == "create" and outcome.facts["new_key_deleted"] is True
    assert "keyring" in outcome.error
    assert moto.keys("agent") == {old["AccessKeyId"]: "Active"}  # old untouched, no orphan


def test_rotation_after_containment_replaces_a_deleted_key(
    moto: MotoAccount, memory_keyring: Any
) -> None:
    old = moto.user_with_key("agent")
    responder, store = make_responder(moto.url)
    cred = agent_key(old)
    assert isinstance(responder.revoke(cred), Revoked)

    outcome = responder.rotate(cred, store)  # the runner's order: revoke, then replace

    assert isinstance(outcome, Rotated), outcome
    assert outcome.facts["old_key"] == "deleted"
    assert list(moto.keys("agent").values()) == ["Active"]


# -- verify and preflight (moto's IAM enforcement on) ---------------------------------------------


def _enforced_admin(moto: MotoAccount, *, allow: list[str]) -> tuple[str, str]:
    moto.iam.create_user(UserName="responder")
    moto.iam.put_user_policy(
        UserName="responder",
        PolicyName="incident-response",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": allow, "Resource": "*"}],
            }
        ),
    )
    admin = moto.iam.create_access_key(UserName="responder")["AccessKey"]
    return admin["AccessKeyId"], admin["SecretAccessKey"]


def test_old_key_is_rejected_after_revoke(moto: MotoAccount) -> None:
    key = moto.user_with_key("agent")
    admin = _enforced_admin(moto, allow=["iam:*"])
    moto.enforce_iam()
    responder, _ = make_responder(moto.url, admin=admin)
    cred = agent_key(key)

    alive = responder.verify_revoked(cred)
    assert isinstance(alive, Failed) and "still Active" in alive.error

    assert isinstance(responder.revoke(cred), Revoked)
    dead = responder.verify_revoked(cred)
    assert isinstance(dead, VerifiedDead), dead
    assert dead.facts["rejected_with"] == "InvalidClientTokenId"
    assert dead.facts["iam"] == "deleted"


def test_sessions_share_botocores_data_files_but_sign_with_their_own_keys(
    moto: MotoAccount,
) -> None:
    # Each session parsing botocore's descriptions again cost ~70 ms of CPU on the panic path;
    # a shared loader must not let one session's credentials leak into another's clients.
    from responders.interface import SecretValue

    key = moto.user_with_key("agent")
    admin = _enforced_admin(moto, allow=["iam:*", "sts:GetCallerIdentity"])
    moto.enforce_iam()
    first, _ = make_responder(moto.url, admin=admin)
    second, _ = make_responder(moto.url, admin=admin)
    iam_first, sts_first = first._clients()
    iam_second, _ = second._clients()
    as_agent = first._sts_signed_with(key["AccessKeyId"], SecretValue(key["SecretAccessKey"]))

    assert (iam_first.meta.service_model._service_description
            is iam_second.meta.service_model._service_description)
    assert as_agent.get_caller_identity()["Arn"].endswith(":user/agent")
    assert sts_first.get_caller_identity()["Arn"].endswith(":user/responder")


def test_verify_without_the_secret_relies_on_iam(moto: MotoAccount) -> None:
    key = moto.user_with_key("agent")
    responder, _ = make_responder(moto.url, delete=False)
    responder.revoke_all([agent_key(key)])
    idless = Credential(
        provider="aws", kind=KIND_ACCESS_KEY, fingerprint="…", key_id=key["AccessKeyId"]
    )
    outcome = responder.verify_revoked(idless)
    assert isinstance(outcome, VerifiedDead) and outcome.facts["method"] == "iam"
    assert outcome.facts["iam"] == "Inactive"


def test_preflight_proves_and_disproves_permissions(moto: MotoAccount) -> None:
    moto.user_with_key("agent")
    strong = _enforced_admin(moto, allow=["iam:*", "sts:GetCallerIdentity"])
    moto.iam.create_user(UserName="weak")
    moto.iam.put_user_policy(
        UserName="weak",
        PolicyName="read-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["iam:ListAccessKeys", "iam:GetAccessKeyLastUsed"],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    weak_key = moto.iam.create_access_key(UserName="weak")["AccessKey"]
    moto.enforce_iam()

    good = make_responder(moto.url, admin=strong, users=["agent"])[0].preflight()
    assert {c.capability for c in good} >= {
        "sts:GetCallerIdentity",
        "iam:UpdateAccessKey",
        "iam:DeleteAccessKey",
        "iam:CreateAccessKey",
        "iam:PutUserPolicy",
        "iam:PutRolePolicy",
        "iam:ListAccessKeys",
    }
    assert all(c.ok for c in good), [c for c in good if not c.ok]

    weak = make_responder(
        moto.url, admin=(weak_key["AccessKeyId"], weak_key["SecretAccessKey"]), users=["agent"]
    )[0].preflight()
    verdict = {c.capability: c for c in weak}
    assert verdict["iam:ListAccessKeys"].ok
    assert not verdict["iam:UpdateAccessKey"].ok
    assert verdict["iam:UpdateAccessKey"].missing_permission == "iam:UpdateAccessKey"
    assert not verdict["iam:PutUserPolicy"].ok


# -- plan -----------------------------------------------------------------------------------------


def test_plan_sends_no_request(httpserver: HTTPServer) -> None:
    responder, _ = make_responder(httpserver.url_for("/"), users=["agent"], roles=["r"])
    key = Credential.from_secret("aws", KIND_ACCESS_KEY, "s" * 40, key_id="AKIAPLANNED000000000")
    planned = responder.plan([key, *responder.configured_targets()])
    assert [type(o) for _, o in planned] == [Planned, Planned, Planned]
    assert any("UpdateAccessKey" in c for c in planned[0][1].commands)
    assert any("PutRolePolicy" in c for c in planned[2][1].commands)
    assert httpserver.log == []


# -- faults ---------------------------------------------------------------------------------------

_ERROR = (
    '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>{kind}</Type>'
    "<Code>{code}</Code><Message>{message}</Message></Error><RequestId>r1</RequestId>"
    "</ErrorResponse>"
)


def _key_cred() -> Credential:
    return Credential.from_secret("aws", KIND_ACCESS_KEY, "f" * 40, key_id="AKIAFAULTFAULTFAULT0")


def _answer(
    httpserver: HTTPServer,
    status: int,
    code: str,
    headers: dict[str, str] | None = None,
) -> None:
    body = _ERROR.format(
        kind="Receiver" if status >= 500 else "Sender", code=code, message=f"stand-in says {code}"
    )
    httpserver.expect_request("/").respond_with_data(
        body, status=status, headers=headers or {}, content_type="text/xml"
    )


@pytest.mark.parametrize(
    ("status", "code", "headers", "retry_after"),
    [
        (500, "InternalFailure", None, None),
        (503, "ServiceUnavailable", None, None),
        (429, "Throttling", {"Retry-After": "7"}, 7.0),
        (400, "Throttling", None, None),
    ],
)
def test_provider_errors_are_retryable_failures(
    httpserver: HTTPServer,
    status: int,
    code: str,
    headers: dict[str, str] | None,
    retry_after: float | None,
) -> None:
    _answer(httpserver, status, code, headers)
    responder, _ = make_responder(httpserver.url_for("/"))
    ((_, outcome),) = responder.revoke_all([_key_cred()])
    assert isinstance(outcome, Failed) and outcome.retryable, outcome
    assert outcome.retry_after == retry_after


def test_access_denied_names_the_missing_permission(httpserver: HTTPServer) -> None:
    _answer(httpserver, 403, "AccessDenied")
    ((_, outcome),) = make_responder(httpserver.url_for("/"))[0].revoke_all([_key_cred()])
    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "iam:GetAccessKeyLastUsed" in outcome.error and "grant" in outcome.error


def test_a_hanging_endpoint_times_out_as_retryable(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(5)
        return Response("late", status=500)

    httpserver.expect_request("/").respond_with_handler(hang)
    responder, _ = make_responder(httpserver.url_for("/"), read_timeout=0.3)
    started = time.monotonic()
    try:
        ((_, outcome),) = responder.revoke_all([_key_cred()])
    finally:
        release.set()
    assert time.monotonic() - started < 3
    assert isinstance(outcome, Failed) and outcome.retryable and "ReadTimeout" in outcome.error


def test_a_refused_connection_is_retryable() -> None:
    ((_, outcome),) = make_responder(refused_url())[0].revoke_all([_key_cred()])
    assert isinstance(outcome, Failed) and outcome.retryable
    assert "EndpointConnectionError" in outcome.error


def test_bad_config_is_reported_not_raised() -> None:
    responder = AWSResponder(
        ResponderContext(
            config={
                "admin_access_key_id": "AKIALITERALVALUE1234",
                "admin_secret_access_key": "env:X",
            }
        )
    )
    ((_, outcome),) = responder.revoke_all([_key_cred()])
    assert isinstance(outcome, Failed) and "must be a reference" in outcome.error
    assert "AKIALITERALVALUE1234" not in outcome.error


# -- secrets never leak ---------------------------------------------------------------------------


def test_no_secret_value_in_outcomes_or_logs(
    moto: MotoAccount,
    memory_keyring: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = moto.user_with_key("agent")
    admin_secret = "admin-secret-value-planted-0123456789"
    caplog.set_level(logging.DEBUG)
    responder, store = make_responder(
        moto.url, admin=("AKIAADMINPLANTED0000", admin_secret), users=["agent"]
    )
    cred = agent_key(key)
    outcomes = [o for _, o in responder.revoke_all([cred, *responder.configured_targets()])]
    outcomes.append(responder.verify_revoked(cred))
    rotated = responder.rotate(cred, store)
    outcomes.append(rotated)
    outcomes += [responder.verify_revoked(c) for c in responder.configured_targets()]
    assert isinstance(rotated, Rotated)
    new_secret = json.loads(store.resolve(rotated.new_reference).reveal())["SecretAccessKey"]

    said = everything_said(outcomes) + caplog.text + "".join(capsys.readouterr())
    for planted in (key["SecretAccessKey"], admin_secret, new_secret):
        assert planted not in said
    assert cred.fingerprint in said or key["AccessKeyId"] in said


def test_a_signature_mismatch_is_not_proof_of_death(moto: MotoAccount) -> None:
    """The secret found next to a key id is not that key's secret (two pairs in one file,
    paired wrongly): AWS answers SignatureDoesNotMatch, which says nothing about the key the
    secret belongs to. Only InvalidClientTokenId with IAM's own record is proof."""
    mine = moto.user_with_key("agent")
    other = moto.iam.create_access_key(UserName="agent")["AccessKey"]
    admin = _enforced_admin(moto, allow=["iam:*"])
    moto.enforce_iam()
    responder, _ = make_responder(moto.url, admin=admin, delete=False)
    # The id of one key with the secret of the other: what a wrong pairing produces.
    crossed = Credential.from_secret(
        "aws", KIND_ACCESS_KEY, other["SecretAccessKey"],
        [Location("/home/agent/.openclaw/.env", "AWS_SECRET_ACCESS_KEY")],
        key_id=mine["AccessKeyId"],
    )
    assert isinstance(responder.revoke(crossed), Disabled)

    outcome = responder.verify_revoked(crossed)

    assert isinstance(outcome, Unproven), outcome
    assert outcome.facts["rejected_with"] == "SignatureDoesNotMatch"
    assert outcome.status == "unproven" and "AWS key id" in outcome.check
    listed = moto.client("iam", *admin).list_access_keys(UserName="agent")["AccessKeyMetadata"]
    assert {k["AccessKeyId"]: k["Status"] for k in listed}[other["AccessKeyId"]] == "Active"


def test_two_pairs_in_one_dotenv_are_both_revoked(moto: MotoAccount, tmp_path: Any) -> None:
    """Discovery pairs each id with its own secret, so both keys die; before, the second id
    overwrote the first, one key was revoked twice over and the other stayed live."""
    from responders.openclaw.discovery import discover

    first = moto.user_with_key("agent")
    moto.iam.create_user(UserName="backup")
    second = moto.iam.create_access_key(UserName="backup")["AccessKey"]
    state = tmp_path / ".openclaw"
    state.mkdir()
    (state / ".env").write_text(
        f"AWS_ACCESS_KEY_ID={first['AccessKeyId']}\n"
        f"AWS_SECRET_ACCESS_KEY={first['SecretAccessKey']}\n"
        f"BACKUP_AWS_ACCESS_KEY_ID={second['AccessKeyId']}\n"
        f"BACKUP_AWS_SECRET_ACCESS_KEY={second['SecretAccessKey']}\n"
    )
    creds = [c for c in discover(user_home=tmp_path, system_service_dirs=()).credentials
             if c.provider == "aws"]
    responder, _ = make_responder(moto.url)

    outcomes = [o for _, o in responder.revoke_all(creds)]

    assert [type(o) for o in outcomes] == [Revoked, Revoked], outcomes
    assert moto.keys("agent") == {} and moto.keys("backup") == {}


def test_rotation_keeps_the_old_key_until_the_agent_is_proven_on_the_new(
    moto: MotoAccount, memory_keyring: Any
) -> None:
    """The drill's store says the agent still uses the old key: the new key is stored and
    works, and the old one stays Active (it used to be retired right after clawback's test)."""
    from responders.interface import AgentProof

    class AgentNotYetSwitched(KeyringSecretStore):
        asked: ClassVar[list[Any]] = []

        def await_agent(self, *, last_used: Any = None) -> AgentProof:
            self.asked.append(last_used() if last_used else "no last-used")
            return AgentProof(False, "the old key was used after the switch")

    old = moto.user_with_key("agent")
    responder, _ = make_responder(moto.url)
    store = AgentNotYetSwitched()

    outcome = responder.rotate(agent_key(old), store)

    assert isinstance(outcome, Failed), outcome
    assert "stays Active" in outcome.error and outcome.facts["agent"].startswith("the old key")
    assert moto.keys("agent")[old["AccessKeyId"]] == "Active"
    assert moto.keys("agent")[outcome.facts["new_key_id"]] == "Active"
    assert store.asked  # IAM's last-used time of the old key was offered to the store
