"""The Matrix responder against loopback homeservers whose every request is checked against the
Matrix spec's own OpenAPI description (tests/contracts/matrix.json)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clawback.registry import load_registry
from clawback.runner import concurrent_fan_out
from clawback.secret_store import KeyringSecretStore
from responders.interface import (
    AlreadyRevoked,
    Credential,
    Failed,
    Location,
    ManualRequired,
    Planned,
    ResponderContext,
    Revoked,
    Rotated,
    Skipped,
    Unproven,
    VerifiedDead,
    fingerprint,
)
from responders.kit import secret_patterns as sp
from responders.matrix import MatrixResponder
from responders.openclaw.discovery import discover
from tests.keys.standins import RefusingKeyring, refused_url
from tests.providers_new.matrix.matrix_standin import API, Homeserver, token_value

BOT = "@openclaw:example.org"
PASSWORD = "correct horse battery staple 42"


def cred(value: str, key: str = "accessToken") -> Credential:
    return Credential.from_secret(
        "matrix", "matrix:access_token", value,
        [Location("/home/agent/.openclaw/credentials/matrix/credentials.json", key)],
    )


def make(homeserver: Homeserver | str, **config: Any) -> tuple[MatrixResponder,
                                                               KeyringSecretStore]:
    url = homeserver if isinstance(homeserver, str) else homeserver.url
    store = KeyringSecretStore(environ={"MATRIX_BOT_PASSWORD": PASSWORD})
    settings = {"homeserver": url, "timeout_seconds": 2, "connect_timeout_seconds": 1, **config}
    context = ResponderContext(config=settings, secrets=store, fan_out=concurrent_fan_out)
    return MatrixResponder(context), store


def sent(homeserver: Homeserver) -> list[str]:
    return [f"{r.method} {r.path.removeprefix(API)}" for r in homeserver.contract.requests]


def test_the_contract_refuses_what_the_spec_does_not_allow(homeserver: Homeserver) -> None:
    import httpx

    with httpx.Client(base_url=homeserver.url, timeout=5) as client:
        wrong = client.post(f"{API}/login", json={"identifier": {"user": "x"}})  # no type
    assert wrong.status_code == 422 and len(homeserver.contract.violations) == 1
    homeserver.contract.violations.clear()


def test_the_entry_point_names_the_responder() -> None:
    assert load_registry().responder_for_provider("matrix") is MatrixResponder


# -- revoke and verify ----------------------------------------------------------------------------


def test_a_token_logs_itself_out_and_is_proven_dead(homeserver: Homeserver) -> None:
    session = homeserver.add()
    responder, _ = make(homeserver)
    target = cred(session.token)

    revoked = responder.revoke(target)
    dead = responder.verify_revoked(target)

    assert isinstance(revoked, Revoked), revoked
    assert revoked.facts["device_id"] == session.device_id
    assert homeserver.logged_out_devices == [session.device_id]
    assert isinstance(dead, VerifiedDead), dead
    assert sent(homeserver) == ["GET /account/whoami", "POST /logout", "GET /account/whoami"]
    for request in homeserver.contract.requests:
        assert request.headers["Authorization"] == f"Bearer {session.token}"
        assert session.token not in request.full_path


def test_an_unknown_token_is_unproven_never_dead(
    homeservers: Callable[[], Homeserver]
) -> None:
    ours, theirs = homeservers(), homeservers()
    session = theirs.add()  # live, on a homeserver clawback was not told about
    responder, _ = make(ours)
    for outcome in (responder.revoke(cred(session.token)),
                    responder.verify_revoked(cred(session.token))):
        assert isinstance(outcome, Unproven), outcome
        assert "never valid" in outcome.reason
        assert "homeserver" in outcome.check
    responder, _ = make(ours, other_homeservers=[theirs.url])
    assert isinstance(responder.revoke(cred(session.token)), Revoked)
    assert isinstance(responder.verify_revoked(cred(session.token)), VerifiedDead)


def test_soft_logout_is_unproven(homeserver: Homeserver) -> None:
    session = homeserver.add(state="soft")
    responder, _ = make(homeserver)
    for outcome in (responder.revoke(cred(session.token)),
                    responder.verify_revoked(cred(session.token))):
        assert isinstance(outcome, Unproven), outcome
        assert "soft_logout" in outcome.reason and "Sessions" in outcome.check
    assert session.token in homeserver.sessions


def test_a_locked_account_still_logs_out(homeserver: Homeserver) -> None:
    session = homeserver.add(state="locked")
    responder, _ = make(homeserver)
    assert isinstance(responder.revoke(cred(session.token)), Revoked)
    assert isinstance(responder.verify_revoked(cred(session.token)), VerifiedDead)


def test_a_locked_account_not_logged_out_is_unproven(homeserver: Homeserver) -> None:
    session = homeserver.add(state="locked")
    responder, _ = make(homeserver)
    outcome = responder.verify_revoked(cred(session.token))
    assert isinstance(outcome, Unproven) and "M_USER_LOCKED" in outcome.reason


def test_a_token_gone_between_whoami_and_logout_is_already_revoked(
    homeserver: Homeserver,
) -> None:
    session = homeserver.add()
    homeserver.faults.append(("POST", 401, {"errcode": "M_UNKNOWN_TOKEN", "error": "gone"}, {}))
    responder, _ = make(homeserver)
    assert isinstance(responder.revoke(cred(session.token)), AlreadyRevoked)


def test_an_application_service_token_is_a_manual_step(homeserver: Homeserver) -> None:
    session = homeserver.add("@bridge:example.org", device_id="")
    responder, _ = make(homeserver)
    outcome = responder.revoke(cred(session.token))
    assert isinstance(outcome, ManualRequired) and "as_token" in outcome.instructions
    assert sent(homeserver) == ["GET /account/whoami"]


def test_a_rate_limit_waits_what_the_homeserver_asks(homeserver: Homeserver) -> None:
    session = homeserver.add()
    homeserver.faults.append(("POST", 429, {"errcode": "M_LIMIT_EXCEEDED", "error": "Too many",
                                            "retry_after_ms": 2500}, {}))
    responder, _ = make(homeserver)
    outcome = responder.revoke(cred(session.token))
    assert isinstance(outcome, Failed) and outcome.retryable and outcome.retry_after == 2.5
    assert session.token in homeserver.sessions


@pytest.mark.parametrize("status", [500, 502])
def test_server_trouble_is_retryable(homeserver: Homeserver, status: int) -> None:
    session = homeserver.add()
    homeserver.faults.append(("GET", status, {"errcode": "M_UNKNOWN", "error": "boom"}, {}))
    responder, _ = make(homeserver)
    outcome = responder.revoke(cred(session.token))
    assert isinstance(outcome, Failed) and outcome.retryable


def test_an_unreachable_homeserver_is_retryable() -> None:
    responder, _ = make(refused_url())
    outcome = responder.revoke(cred(token_value()))
    assert isinstance(outcome, Failed) and outcome.retryable and "cannot reach" in outcome.error


def test_a_live_token_is_never_verified_dead(homeserver: Homeserver) -> None:
    session = homeserver.add()
    responder, _ = make(homeserver)
    outcome = responder.verify_revoked(cred(session.token))
    assert isinstance(outcome, Failed) and outcome.retryable


@pytest.mark.parametrize(
    ("value", "key", "words"),
    [(token_value("syr_"), "refreshToken", "refresh token"),
     ("hunter2-but-longer-0123", "password", "Change the bot account's password")],
)
def test_refresh_tokens_and_passwords_are_manual_steps(
    homeserver: Homeserver, value: str, key: str, words: str
) -> None:
    responder, store = make(homeserver)
    target = cred(value, key)
    for outcome in (responder.revoke(target), responder.rotate(target, store)):
        assert isinstance(outcome, ManualRequired) and words in outcome.instructions
        assert value not in outcome.instructions
    assert isinstance(responder.verify_revoked(target), Skipped)
    assert homeserver.contract.requests == []


# -- rotation -------------------------------------------------------------------------------------


def test_rotation_logs_in_anew_and_logs_the_old_token_out_last(
    homeserver: Homeserver, memory_keyring: Any
) -> None:
    homeserver.passwords[BOT] = PASSWORD
    old = homeserver.add(BOT)
    responder, store = make(homeserver, user=BOT, password="env:MATRIX_BOT_PASSWORD")
    stored_at_logout: list[bool] = []
    homeserver.observe = lambda r: stored_at_logout.append(bool(memory_keyring.store)) if (
        r.path.endswith("/logout")) else None

    outcome = responder.rotate(cred(old.token), store)

    assert isinstance(outcome, Rotated), outcome
    new = homeserver.sessions[store.resolve(outcome.new_reference).reveal()]
    assert new.user_id == BOT and new.device_id == outcome.facts["device_id"]
    assert old.token not in homeserver.sessions and stored_at_logout == [True]
    assert sent(homeserver) == ["POST /login", "GET /account/whoami", "POST /logout"]
    assert isinstance(responder.verify_revoked(cred(old.token)), VerifiedDead)


def test_after_revoke_the_replacement_is_a_new_login(
    homeserver: Homeserver, memory_keyring: Any
) -> None:
    homeserver.passwords[BOT] = PASSWORD
    old = homeserver.add(BOT)
    responder, store = make(homeserver, user=BOT, password="env:MATRIX_BOT_PASSWORD")
    assert isinstance(responder.revoke(cred(old.token)), Revoked)
    outcome = responder.rotate(cred(old.token), store)
    assert isinstance(outcome, Rotated)
    assert outcome.facts["old_token"] == "logged out earlier in this run"


def test_without_a_password_the_replacement_is_by_hand(homeserver: Homeserver) -> None:
    old = homeserver.add(BOT)
    responder, store = make(homeserver)
    outcome = responder.rotate(cred(old.token), store)
    assert isinstance(outcome, ManualRequired) and "user and password" in outcome.instructions
    assert homeserver.contract.requests == []


def test_a_store_that_fails_logs_the_new_session_out(
    homeserver: Homeserver, refusing_keyring: RefusingKeyring
) -> None:
    homeserver.passwords[BOT] = PASSWORD
    old = homeserver.add(BOT)
    responder, store = make(homeserver, user=BOT, password="env:MATRIX_BOT_PASSWORD")
    outcome = responder.rotate(cred(old.token), store)
    assert isinstance(outcome, Failed) and outcome.facts["new_session_logged_out"] is True
    assert list(homeserver.sessions) == [old.token]


# -- plan, preflight, config, recognition, secrets ------------------------------------------------


def test_plan_sends_no_request(homeserver: Homeserver) -> None:
    responder, _ = make(homeserver)
    (planned,) = [o for _, o in responder.plan([cred(token_value())])]
    assert isinstance(planned, Planned) and planned.commands[0].startswith(f"GET {homeserver.url}")
    assert homeserver.contract.requests == []


def test_preflight_lists_what_contain_needs(homeserver: Homeserver) -> None:
    responder, _ = make(homeserver)
    (check,) = responder.preflight()
    assert check.ok and "logs itself out" in check.detail and "user and password" in check.detail
    assert [r.headers.get("Authorization") for r in homeserver.contract.requests] == [None]
    (check,) = make(refused_url())[0].preflight()
    assert not check.ok


@pytest.mark.parametrize(
    ("config", "problem"),
    [({"homeserver": "matrix.example.org"}, "http(s) URLs"),
     ({"user": BOT, "password": PASSWORD}, "must be a reference"),
     ({"user": BOT}, "go together"),
     ({"user": "openclaw", "password": "env:X"}, "full Matrix ID")],
)
def test_bad_config_is_reported_not_raised(config: dict[str, Any], problem: str) -> None:
    outcome = MatrixResponder(ResponderContext(config=config)).revoke(cred(token_value()))
    assert isinstance(outcome, Failed) and problem in outcome.error
    assert PASSWORD not in outcome.error


def test_tokens_are_recognised_and_found_by_fingerprint(tmp_path: Path) -> None:
    for value, kind in ((token_value(), "matrix:access_token"),
                        (token_value("syr_"), "matrix:refresh_token"),
                        ("mct_" + "A1b2C3d4" * 4 + "_0aB9zZ", "matrix:access_token"),
                        ("mar_" + "Z9y8X7w6" * 4 + "_1cD2eE", "matrix:refresh_token")):
        found = sp.recognize_value(value)
        assert found is not None and (found.provider, found.kind) == ("matrix", kind), value
    state = tmp_path / "home" / ".openclaw"
    state.mkdir(parents=True)
    planted, by_place = token_value(), "x7Hq2LmPz9Rt4Vb8Kc1Nd6Wf"  # a homeserver without prefixes
    (state / "openclaw.json").write_text(json.dumps({"channels": {"matrix": {
        "homeserver": "https://matrix.example.org", "accessToken": by_place}}}))
    (state / ".env").write_text(f"MATRIX_ACCESS_TOKEN={planted}\n"
                                "MATRIX_EXAMPLE=syt_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n")
    inventory = discover(user_home=tmp_path / "home", state_dirs=[state], system_service_dirs=())
    found = {c.fingerprint: c for c in inventory.credentials}
    assert set(found) == {fingerprint(planted), fingerprint(by_place)}
    assert {c.provider for c in found.values()} == {"matrix"}


def test_no_secret_value_in_outcomes_or_logs(
    homeserver: Homeserver, memory_keyring: Any, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    homeserver.passwords[BOT] = PASSWORD
    planted = [homeserver.add(BOT), homeserver.add(), homeserver.add(state="soft")]
    responder, store = make(homeserver, user=BOT, password="env:MATRIX_BOT_PASSWORD")
    outcomes: list[Any] = [responder.rotate(cred(planted[0].token), store)]
    outcomes += [o for _, o in responder.revoke_all([cred(s.token) for s in planted[1:]])]
    outcomes += [responder.verify_revoked(cred(s.token)) for s in planted]
    text = repr(outcomes) + caplog.text + "".join(capsys.readouterr())
    for value in [*(s.token for s in planted), *homeserver.sessions, PASSWORD]:
        assert value not in text
