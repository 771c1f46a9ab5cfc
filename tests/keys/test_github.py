"""The GitHub responder against Prism serving GitHub's own description, and loopback servers
that check requests against the same description for the answers Prism cannot give."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from clawback.runner import concurrent_fan_out
from clawback.secret_store import KeyringSecretStore
from responders.github import (
    KIND_ACTIONS_SECRET,
    KIND_DEPLOY_KEY,
    KIND_SSH_KEY,
    KIND_SSH_PUBLIC_KEY,
    KIND_WEBHOOK_SECRET,
    MAX_BATCH,
    GitHubResponder,
)
from responders.interface import (
    AlreadyRevoked,
    Credential,
    Failed,
    Location,
    ManualRequired,
    Outcome,
    Planned,
    ResponderContext,
    Revoked,
    Rotated,
    Skipped,
    Unproven,
    VerifiedDead,
)
from tests.keys.standins import ContractServer, PrismServer, refused_url

ADMIN_TOKEN = "ghp_" + "A" * 36  # planted: must never be printed
APP_SECRET = "app-client-secret-planted-0123456789abcdef"
ENVIRON = {
    "GH_ADMIN": ADMIN_TOKEN,
    "GH_APP_SECRET": APP_SECRET,
    "DEPLOY_VALUE": "value-" + "v" * 30,
}


def token(prefix: str) -> str:
    return prefix + secrets.token_hex(18)


def cred(kind: str, value: str) -> Credential:
    return Credential.from_secret(
        "github", kind, value, [Location("/home/agent/.openclaw/openclaw.json", "github.token")]
    )


def make(base_url: str, **config: Any) -> tuple[GitHubResponder, KeyringSecretStore]:
    store = KeyringSecretStore(environ=ENVIRON)
    settings = {
        "base_url": base_url,
        "token": "env:GH_ADMIN",
        "accept": "application/json",  # Prism answers 406 to application/vnd.github+json
        "timeout_seconds": 2,
        "connect_timeout_seconds": 1,
        **config,
    }
    context = ResponderContext(config=settings, secrets=store, fan_out=concurrent_fan_out)
    return GitHubResponder(context), store


def requests_seen(prism: PrismServer, mark: int, line: str) -> int:
    """How many requests Prism received since ``mark`` whose log line starts like ``line``."""
    prism.settle()
    with prism.log.open("rb") as handle:
        handle.seek(mark)
        text = handle.read().decode(errors="replace")
    return sum(1 for row in text.splitlines() if f"{line} ℹ  info      Request received" in row)


USER_TOKENS = [
    ("github:pat", "ghp_"),
    ("github:fine_grained_pat", "github_pat_"),
    ("github:oauth", "gho_"),
    ("github:user_to_server", "ghu_"),
    ("github:refresh", "ghr_"),
]


# -- tokens ---------------------------------------------------------------------------------------


def test_every_token_kind_is_revoked_with_one_batch(prism_checked: PrismServer) -> None:
    mark = prism_checked.mark()
    creds = [cred(kind, token(prefix)) for kind, prefix in USER_TOKENS]
    creds.append(cred("github:installation", token("ghs_")))
    responder, _ = make(prism_checked.url)

    outcomes = [o for _, o in responder.revoke_all(creds)]

    assert all(isinstance(o, Revoked) for o in outcomes), outcomes
    assert outcomes[0].facts["endpoint"] == "POST /credentials/revoke"
    assert outcomes[0].facts["batch_size"] == 5
    assert outcomes[-1].facts["endpoint"] == "DELETE /installation/token"
    assert requests_seen(prism_checked, mark, "post /credentials/revoke") == 1
    assert requests_seen(prism_checked, mark, "get /user") == 4  # not for the refresh token


def test_batches_hold_at_most_1000_tokens(prism_checked: PrismServer) -> None:
    mark = prism_checked.mark()
    creds = [cred("github:pat", token("ghp_")) for _ in range(MAX_BATCH + 1)]
    responder, _ = make(prism_checked.url, check_before_revoke=False)

    outcomes = [o for _, o in responder.revoke_all(creds)]

    assert all(isinstance(o, Revoked) for o in outcomes)
    assert {o.facts["batch_size"] for o in outcomes} == {MAX_BATCH, 1}
    assert requests_seen(prism_checked, mark, "post /credentials/revoke") == 2


def test_tokens_github_already_rejects_are_not_sent_again(prism_checked: PrismServer) -> None:
    mark = prism_checked.mark()
    responder, _ = make(prism_checked.url, extra_headers={"Prefer": "code=401"})
    outcomes = [o for _, o in responder.revoke_all([cred("github:pat", token("ghp_"))])]
    assert isinstance(outcomes[0], AlreadyRevoked), outcomes
    assert requests_seen(prism_checked, mark, "post /credentials/revoke") == 0


def test_oauth_app_tokens_are_revoked_through_their_app(prism_checked: PrismServer) -> None:
    mark = prism_checked.mark()
    responder, _ = make(
        prism_checked.url,
        oauth_apps=[{"client_id": "Iv1.8a61f9b3a7aba766", "client_secret": "env:GH_APP_SECRET"}],
    )
    ((_, outcome),) = responder.revoke_all([cred("github:oauth", token("gho_"))])
    assert isinstance(outcome, Revoked) and outcome.facts["client_id"] == "Iv1.8a61f9b3a7aba766"
    assert (
        requests_seen(prism_checked, mark, "delete /applications/Iv1.8a61f9b3a7aba766/token") == 1
    )
    assert requests_seen(prism_checked, mark, "post /credentials/revoke") == 0


def test_the_batch_call_is_unauthenticated(httpserver: HTTPServer) -> None:
    contract = ContractServer(httpserver, "github.json")
    contract.answer("POST", "/credentials/revoke", lambda r: Response("{}", status=202))
    responder, _ = make(contract.url, check_before_revoke=False)
    values = [token("ghp_"), token("github_pat_")]

    outcomes = [o for _, o in responder.revoke_all([cred("github:pat", v) for v in values])]

    assert all(isinstance(o, Revoked) for o in outcomes)
    (request,) = contract.requests
    assert "Authorization" not in request.headers
    assert request.get_json() == {"credentials": values}
    assert contract.violations == []


def test_a_failing_precheck_or_app_endpoint_still_ends_in_the_batch(
    httpserver: HTTPServer,
) -> None:
    contract = ContractServer(httpserver, "github.json")
    contract.answer("GET", "/user", lambda r: Response("", status=502))
    contract.answer("DELETE", "/applications/Iv1.x/token", lambda r: Response("", status=500))
    contract.answer("POST", "/credentials/revoke", lambda r: Response("{}", status=202))
    responder, _ = make(
        contract.url, oauth_apps=[{"client_id": "Iv1.x", "client_secret": "env:GH_APP_SECRET"}]
    )
    ((_, outcome),) = responder.revoke_all([cred("github:oauth", token("gho_"))])
    assert isinstance(outcome, Revoked) and outcome.facts["endpoint"] == "POST /credentials/revoke"
    assert [f"{r.method} {r.path}" for r in contract.requests] == [
        "GET /user",
        "DELETE /applications/Iv1.x/token",
        "POST /credentials/revoke",
    ]
    assert contract.violations == []


# -- keys, hooks, secrets -------------------------------------------------------------------------

DEPLOY = [{"repo": "octocat/Hello-World", "id": 1}]


def test_configured_keys_are_deleted(prism_checked: PrismServer) -> None:
    responder, _ = make(prism_checked.url, deploy_keys=DEPLOY, user_ssh_keys=[2])
    targets = responder.configured_targets()
    assert [t.kind for t in targets] == [KIND_DEPLOY_KEY, KIND_SSH_KEY]
    outcomes = [o for _, o in responder.revoke_all(targets)]
    assert all(isinstance(o, Revoked) for o in outcomes), outcomes
    assert outcomes[0].facts["endpoint"] == "DELETE /repos/octocat/Hello-World/keys/1"


def test_keys_carrying_the_agents_public_key_are_found_and_deleted(
    prism_checked: PrismServer,
) -> None:
    mark = prism_checked.mark()
    # Prism's example deploy key is "ssh-rsa AAA..."; the user keys in its examples differ.
    responder, _ = make(
        prism_checked.url, repos=["octocat/Hello-World"], ssh_public_keys=["ssh-rsa AAA... agent"]
    )
    (target,) = responder.configured_targets()
    assert target.kind == KIND_SSH_PUBLIC_KEY
    ((_, outcome),) = responder.revoke_all([target])
    assert isinstance(outcome, Revoked), outcome
    assert outcome.facts["keys"] == {"deploy key 1 of octocat/Hello-World": "Revoked"}
    assert requests_seen(prism_checked, mark, "delete /repos/octocat/Hello-World/keys/1") == 1
    assert requests_seen(prism_checked, mark, "delete /user/keys/2") == 0


def test_a_webhook_secret_is_stored_then_replaced(
    prism_checked: PrismServer, memory_keyring: Any
) -> None:
    responder, store = make(prism_checked.url, webhooks=[{"repo": "octocat/Hello-World", "id": 1}])
    (target,) = responder.configured_targets()
    assert target.kind == KIND_WEBHOOK_SECRET

    ((_, outcome),) = responder.revoke_all([target])

    assert isinstance(outcome, Rotated), outcome
    assert outcome.facts["stage"] == "finish"
    new_secret = store.resolve(outcome.new_reference)
    assert len(new_secret.reveal()) >= 32 and new_secret.fingerprint == outcome.new_fingerprint


def test_an_invalid_actions_public_key_is_refused_before_writing(
    prism_checked: PrismServer,
) -> None:
    mark = prism_checked.mark()
    responder, _ = make(
        prism_checked.url,
        actions_secrets=[
            {"repo": "octocat/Hello-World", "name": "DEPLOY", "value": "env:DEPLOY_VALUE"}
        ],
    )
    (target,) = responder.configured_targets()
    ((_, outcome),) = responder.revoke_all([target])
    # Prism's example key is 33 bytes, not a Curve25519 key: nothing may be sent encrypted to it.
    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "Curve25519" in outcome.error
    assert (
        requests_seen(prism_checked, mark, "put /repos/octocat/Hello-World/actions/secrets/DEPLOY")
        == 0
    )


def test_an_actions_secret_is_rewritten_sealed_to_the_repository_key(
    httpserver: HTTPServer,
) -> None:
    from nacl.public import PrivateKey, SealedBox

    repo_key = PrivateKey.generate()
    contract = ContractServer(httpserver, "github.json")
    public = base64.b64encode(bytes(repo_key.public_key)).decode()
    contract.answer(
        "GET",
        "/repos/o/r/actions/secrets/public-key",
        lambda r: Response(
            json.dumps({"key_id": "568250167242549743", "key": public}),
            content_type="application/json",
        ),
    )
    contract.answer("PUT", "/repos/o/r/actions/secrets/DEPLOY", lambda r: Response(status=201))
    responder, _ = make(
        contract.url,
        actions_secrets=[{"repo": "o/r", "name": "DEPLOY", "value": "env:DEPLOY_VALUE"}],
    )
    (target,) = responder.configured_targets()
    assert target.kind == KIND_ACTIONS_SECRET

    ((_, outcome),) = responder.revoke_all([target])

    assert isinstance(outcome, Rotated), outcome
    assert contract.violations == []
    put = contract.requests[-1]
    sealed = base64.b64decode(put.get_json()["encrypted_value"])
    assert SealedBox(repo_key).decrypt(sealed).decode() == ENVIRON["DEPLOY_VALUE"]
    assert put.get_json()["key_id"] == "568250167242549743"


# -- rotate ---------------------------------------------------------------------------------------


def test_deploy_key_rotation_adds_the_new_key_before_deleting_the_old(
    prism_checked: PrismServer, memory_keyring: Any
) -> None:
    mark = prism_checked.mark()
    # Prism's example answer for the new key carries id 1, so the old key here is another one.
    responder, store = make(
        prism_checked.url, deploy_keys=[{"repo": "octocat/Hello-World", "id": 7}]
    )
    (target,) = responder.configured_targets()

    outcome = responder.rotate(target, store)

    assert isinstance(outcome, Rotated), outcome
    assert outcome.facts["stage"] == "finish" and outcome.new_fingerprint.startswith("SHA256:")
    assert (
        store.resolve(outcome.new_reference)
        .reveal()
        .startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    )
    assert requests_seen(prism_checked, mark, "post /repos/octocat/Hello-World/keys") == 1
    assert requests_seen(prism_checked, mark, "get /repos/octocat/Hello-World/keys/1") == 1
    assert requests_seen(prism_checked, mark, "delete /repos/octocat/Hello-World/keys/7") == 1
    assert requests_seen(prism_checked, mark, "delete /repos/octocat/Hello-World/keys/1") == 0


def test_user_key_rotation_removes_the_stored_key_when_upload_fails(
    prism: PrismServer, memory_keyring: Any
) -> None:
    # The trimmed description has no POST /user/keys, so Prism refuses the upload: the new
    # private key must not stay behind in the keyring, and the old key must stay.
    mark = prism.mark()
    responder, store = make(prism.url, user_ssh_keys=[2])
    (target,) = responder.configured_targets()

    outcome = responder.rotate(target, store)

    assert isinstance(outcome, Failed), outcome
    assert outcome.facts["stored_copy"] == "removed" and memory_keyring.store == {}
    assert requests_seen(prism, mark, "delete /user/keys/2") == 0
    problems = prism.problems_since(mark)
    assert len(problems) == 1 and "post /user/keys" in problems[0]


def test_oauth_token_reset_stores_the_new_token(
    prism_checked: PrismServer, memory_keyring: Any
) -> None:
    responder, store = make(
        prism_checked.url,
        oauth_apps=[{"client_id": "Iv1.8a61f9b3a7aba766", "client_secret": "env:GH_APP_SECRET"}],
    )
    outcome = responder.rotate(cred("github:oauth", token("gho_")), store)
    assert isinstance(outcome, Rotated), outcome
    assert outcome.facts["stage"] == "finish"
    assert store.resolve(outcome.new_reference).fingerprint == outcome.new_fingerprint


def test_oauth_token_reset_revokes_the_new_token_when_storing_fails(
    prism_checked: PrismServer, refusing_keyring: Any
) -> None:
    mark = prism_checked.mark()
    responder, store = make(
        prism_checked.url,
        oauth_apps=[{"client_id": "Iv1.8a61f9b3a7aba766", "client_secret": "env:GH_APP_SECRET"}],
    )
    outcome = responder.rotate(cred("github:oauth", token("gho_")), store)
    assert isinstance(outcome, Failed) and outcome.facts["new_token_revoked"] is True
    assert (
        requests_seen(prism_checked, mark, "delete /applications/Iv1.8a61f9b3a7aba766/token") == 1
    )


def test_personal_access_tokens_need_a_human_to_replace_them(prism_checked: PrismServer) -> None:
    responder, store = make(prism_checked.url)
    outcome = responder.rotate(cred("github:pat", token("ghp_")), store)
    assert outcome.status == "manual" and "no API" in outcome.instructions  # type: ignore[attr-defined]


# -- verify ---------------------------------------------------------------------------------------


def test_verify_reports_what_github_answers(prism_checked: PrismServer) -> None:
    pat = cred("github:pat", token("ghp_"))
    (deploy,) = make(prism_checked.url, deploy_keys=DEPLOY)[0].configured_targets()

    alive = make(prism_checked.url)[0]
    still = alive.verify_revoked(pat)
    assert isinstance(still, Failed) and still.retryable and "still accepts" in still.error
    assert isinstance(alive.verify_revoked(deploy), Failed)

    dead = make(prism_checked.url, extra_headers={"Prefer": "code=401"})[0].verify_revoked(pat)
    assert isinstance(dead, VerifiedDead) and dead.facts["http_status"] == 401
    assert isinstance(alive.verify_revoked(cred("github:refresh", token("ghr_"))), Skipped)


# -- preflight and plan ---------------------------------------------------------------------------


def test_preflight_proves_the_admin_token_and_app_secrets(prism_checked: PrismServer) -> None:
    responder, _ = make(
        prism_checked.url,
        deploy_keys=DEPLOY,
        user_ssh_keys=[2],
        webhooks=[{"repo": "octocat/Hello-World", "id": 1}],
        oauth_apps=[{"client_id": "Iv1.x", "client_secret": "env:GH_APP_SECRET"}],
    )
    checks = responder.preflight()
    assert {c.capability for c in checks} == {
        "OAuth app Iv1.x",
        "admin token",
        "deploy keys",
        "user SSH keys",
        "webhook secrets",
    }
    assert all(c.ok for c in checks), checks


def test_preflight_names_what_is_missing(httpserver: HTTPServer) -> None:
    contract = ContractServer(httpserver, "github.json")
    contract.answer("GET", "/user", lambda r: Response('{"message": "Bad credentials"}', 401))
    responder, _ = make(
        contract.url, oauth_apps=[{"client_id": "Iv1.x", "client_secret": "env:NOT_SET"}]
    )
    checks = {c.capability: c for c in responder.preflight()}
    assert not checks["admin token"].ok and checks["admin token"].missing_permission
    assert not checks["OAuth app Iv1.x"].ok and "NOT_SET" in checks["OAuth app Iv1.x"].detail
    assert contract.violations == []


def test_plan_sends_no_request(httpserver: HTTPServer) -> None:
    responder, _ = make(httpserver.url_for("/"), deploy_keys=DEPLOY, user_ssh_keys=[2])
    creds = [cred("github:pat", token("ghp_")), *responder.configured_targets()]
    planned = responder.plan(creds)
    assert all(isinstance(p, Planned) for _, p in planned)
    assert "POST /credentials/revoke (unauthenticated, batched)" in planned[0][1].commands
    assert httpserver.log == []


# -- faults ---------------------------------------------------------------------------------------


def _batch_answering(httpserver: HTTPServer, response: Response) -> GitHubResponder:
    contract = ContractServer(httpserver, "github.json")
    contract.answer("POST", "/credentials/revoke", lambda r: response)
    return make(contract.url, check_before_revoke=False)[0]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable(httpserver: HTTPServer, status: int) -> None:
    responder = _batch_answering(httpserver, Response("", status=status))
    ((_, outcome),) = responder.revoke_all([cred("github:pat", token("ghp_"))])
    assert isinstance(outcome, Failed) and outcome.retryable and outcome.retry_after is None


def test_429_carries_retry_after_and_stops_further_batches(httpserver: HTTPServer) -> None:
    responder = _batch_answering(
        httpserver, Response("", status=429, headers={"Retry-After": "120"})
    )
    creds = [cred("github:pat", token("ghp_")) for _ in range(MAX_BATCH + 1)]
    outcomes = [o for _, o in responder.revoke_all(creds)]
    assert all(isinstance(o, Failed) and o.retryable and o.retry_after == 120 for o in outcomes)
    assert len(httpserver.log) == 1  # the second batch was not sent into the limit


def test_an_exhausted_hourly_limit_gives_the_reset_time(httpserver: HTTPServer) -> None:
    reset = int(time.time()) + 600
    responder = _batch_answering(
        httpserver,
        Response(
            "", status=403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
        ),
    )
    ((_, outcome),) = responder.revoke_all([cred("github:pat", token("ghp_"))])
    assert isinstance(outcome, Failed) and outcome.retryable
    assert outcome.retry_after is not None and 590 <= outcome.retry_after <= 600


def test_422_and_403_are_not_retried(httpserver: HTTPServer) -> None:
    responder = _batch_answering(httpserver, Response("", status=422))
    ((_, outcome),) = responder.revoke_all([cred("github:pat", token("ghp_"))])
    assert isinstance(outcome, Failed) and not outcome.retryable and "422" in outcome.error
    httpserver.clear()
    responder = _batch_answering(httpserver, Response("", status=403))
    ((_, outcome),) = responder.revoke_all([cred("github:pat", token("ghp_"))])
    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "without authentication" in outcome.error


def test_a_deploy_key_is_gone_only_when_the_repositorys_key_list_says_so(
    httpserver: HTTPServer,
) -> None:
    contract = ContractServer(httpserver, "github.json")
    contract.answer("DELETE", "/repos/o/r/keys/7", lambda r: Response("", status=404))
    contract.answer("GET", "/repos/o/r/keys/7", lambda r: Response("", status=404))
    other = {"id": 8, "key": "ssh-ed25519 AAAAother", "url": "https://api.github.com/x",
             "title": "ci", "verified": True, "created_at": "2026-01-01T00:00:00Z",
             "read_only": True}
    contract.answer("GET", "/repos/o/r/keys",
                    lambda r: Response(json.dumps([other]), 200, content_type="application/json"))
    responder, _ = make(contract.url, deploy_keys=[{"repo": "o/r", "id": 7}])
    (target,) = responder.configured_targets()

    ((_, outcome),) = responder.revoke_all([target])
    check = responder.verify_revoked(target)

    assert isinstance(outcome, AlreadyRevoked), outcome
    assert isinstance(check, VerifiedDead), check
    assert "not it" in check.facts["listing"]


def test_a_404_for_a_repository_the_token_cannot_see_is_not_proof(
    httpserver: HTTPServer,
) -> None:
    """GitHub answers 404 for a private repository the token cannot see: the deploy key may be
    alive. It used to be AlreadyRevoked at revoke and VerifiedDead at verify."""
    contract = ContractServer(httpserver, "github.json")
    for method, path in (("DELETE", "/repos/o/r/keys/7"), ("GET", "/repos/o/r/keys/7"),
                         ("GET", "/repos/o/r/keys")):
        contract.answer(method, path, lambda r: Response(
            json.dumps({"message": "Not Found"}), 404, content_type="application/json"))
    responder, _ = make(contract.url, deploy_keys=[{"repo": "o/r", "id": 7}])
    (target,) = responder.configured_targets()

    for result in (responder.revoke_all([target])[0][1], responder.verify_revoked(target)):
        assert isinstance(result, Unproven), result
        assert "o/r" in result.check and result.url == "https://github.com/o/r/settings/keys"


def test_a_revoked_oauth_token_is_not_reset_afterwards(
    prism_checked: PrismServer, memory_keyring: Any
) -> None:
    mark = prism_checked.mark()
    responder, store = make(
        prism_checked.url,
        oauth_apps=[{"client_id": "Iv1.8a61f9b3a7aba766", "client_secret": "env:GH_APP_SECRET"}],
    )
    oauth = cred("github:oauth", token("gho_"))
    assert isinstance(responder.revoke_all([oauth])[0][1], Revoked)

    outcome = responder.rotate(oauth, store)

    assert isinstance(outcome, ManualRequired), outcome
    assert "authorize the OAuth app again" in outcome.instructions
    assert requests_seen(prism_checked, mark, "patch /applications/Iv1.8a61f9b3a7aba766/token") == 0
    assert memory_keyring.store == {}


def test_a_forbidden_delete_names_the_missing_right(httpserver: HTTPServer) -> None:
    contract = ContractServer(httpserver, "github.json")
    contract.answer(
        "DELETE",
        "/repos/o/r/keys/7",
        lambda r: Response('{"message": "Must have admin rights"}', status=403),
    )
    responder, _ = make(contract.url, deploy_keys=[{"repo": "o/r", "id": 7}])
    ((_, outcome),) = responder.revoke_all(responder.configured_targets())
    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "admin rights on the repository" in outcome.error


def test_a_rejected_admin_token_is_named(httpserver: HTTPServer) -> None:
    contract = ContractServer(httpserver, "github.json")
    contract.answer(
        "DELETE", "/repos/o/r/keys/7", lambda r: Response('{"message": "Bad credentials"}', 401)
    )
    responder, _ = make(contract.url, deploy_keys=[{"repo": "o/r", "id": 7}])
    ((_, outcome),) = responder.revoke_all(responder.configured_targets())
    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "rejected the admin token (401)" in outcome.error


def test_hangs_and_refusals_are_retryable(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(5)
        return Response("", status=204)

    httpserver.expect_request("/repos/o/r/keys/7").respond_with_handler(hang)
    httpserver.expect_request("/credentials/revoke").respond_with_handler(hang)
    creds = [cred("github:pat", token("ghp_"))]
    started = time.monotonic()
    try:
        hung, _ = make(
            httpserver.url_for("/").rstrip("/"),
            check_before_revoke=False,
            timeout_seconds=0.3,
            deploy_keys=[{"repo": "o/r", "id": 7}],
        )
        outcomes = [o for _, o in hung.revoke_all([*creds, *hung.configured_targets()])]
    finally:
        release.set()
    assert time.monotonic() - started < 3
    assert all(isinstance(o, Failed) and o.retryable for o in outcomes), outcomes

    refused, _ = make(
        refused_url(), check_before_revoke=False, deploy_keys=[{"repo": "o/r", "id": 7}]
    )
    outcomes = [o for _, o in refused.revoke_all([*creds, *refused.configured_targets()])]
    assert all(isinstance(o, Failed) and o.retryable for o in outcomes), outcomes


def test_bad_config_is_reported_not_raised() -> None:
    responder = GitHubResponder(ResponderContext(config={"token": ADMIN_TOKEN}))
    ((_, outcome),) = responder.revoke_all([cred("github:pat", token("ghp_"))])
    assert isinstance(outcome, Failed) and "must be a reference" in outcome.error
    assert ADMIN_TOKEN not in outcome.error


# -- secrets never leak ---------------------------------------------------------------------------


def test_no_secret_value_in_outcomes_or_logs(
    prism_checked: PrismServer,
    memory_keyring: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    planted = [cred(kind, token(prefix)) for kind, prefix in USER_TOKENS]
    planted.append(cred("github:installation", token("ghs_")))
    responder, store = make(
        prism_checked.url,
        deploy_keys=DEPLOY,
        webhooks=[{"repo": "octocat/Hello-World", "id": 1}],
        oauth_apps=[{"client_id": "Iv1.8a61f9b3a7aba766", "client_secret": "env:GH_APP_SECRET"}],
    )
    targets = [*planted, *responder.configured_targets()]
    outcomes: list[Outcome] = [o for _, o in responder.revoke_all(targets)]
    outcomes += [responder.verify_revoked(c) for c in targets]
    outcomes += [responder.rotate(c, store) for c in planted[2:4]]
    outcomes += [responder.rotate(c, store) for c in responder.configured_targets()]
    outcomes += [responder.preflight()]  # type: ignore[list-item]
    stored = [memory_keyring.store[k] for k in memory_keyring.store]
    assert len(stored) >= 2  # webhook secret, deploy key (a revoked OAuth token is not reset)

    said = "\n".join(repr(o) for o in outcomes) + caplog.text + "".join(capsys.readouterr())
    for value in [
        *(c.secret.reveal() for c in planted if c.secret),
        ADMIN_TOKEN,
        APP_SECRET,
        *stored,
    ]:
        assert value not in said


def test_key_listings_are_read_to_the_end_not_ten_pages(httpserver: HTTPServer) -> None:
    """A user key on the 11th page of /user/keys is still there: reading only ten pages made
    a live key look deleted (VerifiedDead)."""
    contract = ContractServer(httpserver, "github.json")

    def page(request: Request) -> Response:
        number = int(request.args.get("page", "1"))
        keys = [
            {"id": number * 100 + i, "key": f"ssh-ed25519 AAAA{number}x{i}",
             "url": "https://api.github.com/user/keys/1", "title": "agent",
             "created_at": "2026-01-01T00:00:00Z", "verified": True, "read_only": False}
            for i in range(100)
        ] if number <= 11 else []
        return Response(json.dumps(keys), 200, content_type="application/json")

    contract.answer("GET", "/user/keys", page)
    responder, _ = make(contract.url, user_ssh_keys=[1150])
    (target,) = responder.configured_targets()

    outcome = responder.verify_revoked(target)

    assert isinstance(outcome, Failed) and "still exists" in outcome.error, outcome
    assert len([r for r in contract.requests if r.path == "/user/keys"]) == 12
