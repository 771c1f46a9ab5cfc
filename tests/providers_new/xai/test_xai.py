"""The xAI responder against a loopback team that checks every request against xAI's documented
shapes and answers as xAI documents: a key names itself, is deleted or disabled, replaced with
its ACLs and limits once the new key has propagated, and proven dead only by xAI's
"Incorrect API key provided" plus its team's listing."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from clawback.registry import load_registry
from clawback.runner import concurrent_fan_out
from clawback.secret_store import KeyringSecretStore
from responders.interface import (
    UNDECLARED_RATE_LIMIT,
    AgentProof,
    AlreadyRevoked,
    Credential,
    Disabled,
    Failed,
    Location,
    ManualRequired,
    Planned,
    ResponderContext,
    ResponderError,
    Revoked,
    Rotated,
    Unproven,
    VerifiedDead,
    fingerprint,
)
from responders.xai import KEYS_PAGE, MANAGEMENT_KEYS_PAGE, XAIResponder
from tests.keys.standins import refused_url
from tests.providers_new.xai.conftest import MANAGEMENT
from tests.providers_new.xai.xai_standin import TEAM, Key, XAITeam, error, new_value

ENVIRON = {"XAI_MANAGEMENT": MANAGEMENT}


def cred(key: Key | str) -> Credential:
    value = key.value if isinstance(key, Key) else key
    return Credential.from_secret("xai", "xai:api_key", value,
                                  [Location("/home/agent/.openclaw/.env", "XAI_API_KEY")])


def make(team: XAITeam, store: Any = None, **config: Any) -> tuple[XAIResponder, Any]:
    store = store or KeyringSecretStore(environ=ENVIRON)
    settings = {"base_url": team.url, "api_url": team.url,
                "management_key": "env:XAI_MANAGEMENT", "timeout_seconds": 2,
                "connect_timeout_seconds": 1, "poll_seconds": 0, **config}
    responder = XAIResponder(ResponderContext(config=settings, secrets=store,
                                              fan_out=concurrent_fan_out))
    responder.sleep = lambda seconds: None
    return responder, store


def calls(team: XAITeam) -> list[str]:
    return [f"{r.method} {r.path}" for r in team.requests]


def test_the_entry_point_names_the_responder() -> None:
    assert load_registry().responder_for_provider("xai") is XAIResponder
    assert XAIResponder.rate_limit is not UNDECLARED_RATE_LIMIT


def test_the_documented_shapes_reject_what_xai_would(httpserver: HTTPServer) -> None:
    import httpx

    team = XAITeam(httpserver, MANAGEMENT)
    auth = {"Authorization": f"Bearer {MANAGEMENT}"}
    with httpx.Client(base_url=team.url) as client:
        client.post(f"/auth/teams/{TEAM}/api-keys", json={"acls": []}, headers=auth)  # no name
        client.post(f"/auth/teams/{TEAM}/api-keys", json={"name": "n", "permissions": ["x"]},
                    headers=auth)  # an undocumented field
        client.put(f"/auth/api-keys/{'0' * 8}-0000-0000-0000-{'0' * 12}",
                   json={"apiKey": {"disabled": True}}, headers=auth)  # no fieldMask
        client.get(f"/auth/teams/{TEAM}/api-keys")  # no credential
        client.delete("/v1/api-keys/abc", headers=auth)  # an invented route
        accepted = client.post(f"/auth/teams/{TEAM}/api-keys",
                               json={"name": "n", "acls": ["api-key:model:*"], "tpm": None},
                               headers=auth)
    assert len(team.violations) == 5 and accepted.status_code == 200


# -- revoke ---------------------------------------------------------------------------------------


def test_a_key_names_itself_and_is_deleted(team: XAITeam) -> None:
    key, other = team.add(), team.add()
    outcome = make(team)[0].revoke(cred(key))
    assert isinstance(outcome, Revoked), outcome
    assert outcome.facts == {"api_key_id": key.key_id, "team_id": TEAM}
    assert key.key_id not in team.keys and other.key_id in team.keys
    assert calls(team) == ["GET /v1/api-key", f"GET /auth/teams/{TEAM}/api-keys",
                           f"DELETE /auth/api-keys/{key.key_id}"]
    own, _, delete = team.requests
    assert own.headers["Authorization"] == f"Bearer {key.value}"
    assert delete.headers["Authorization"] == f"Bearer {MANAGEMENT}"


def test_disable_when_configured_and_reruns_are_idempotent(team: XAITeam) -> None:
    key = team.add()
    outcome = make(team, revoke_action="disable")[0].revoke(cred(key))
    assert isinstance(outcome, Disabled) and key.disabled and key.key_id in team.keys
    assert team.requests[-1].get_json() == {"apiKey": {"disabled": True}, "fieldMask": "disabled"}
    again = make(team, revoke_action="disable")[0].revoke(cred(key))
    assert isinstance(again, AlreadyRevoked)
    gone = make(team)[0].revoke(cred(new_value()))
    assert isinstance(gone, AlreadyRevoked) and "Incorrect API key" in gone.detail


def test_clawbacks_own_management_key_is_never_revoked(team: XAITeam, memory_keyring: Any) -> None:
    responder, store = make(team)
    for outcome in (responder.revoke(cred(MANAGEMENT)), responder.rotate(cred(MANAGEMENT), store)):
        assert isinstance(outcome, ManualRequired) and outcome.url == MANAGEMENT_KEYS_PAGE
    assert team.requests == []


def test_a_forbidden_delete_and_a_rejected_management_key_are_advice(team: XAITeam) -> None:
    key = team.add()
    team.forbid.add("GET /auth/teams")  # a key that cannot list still deletes
    assert isinstance(make(team)[0].revoke(cred(team.add())), Revoked)
    team.forbid.add("DELETE")
    forbidden = make(team)[0].revoke(cred(key))
    assert isinstance(forbidden, Failed) and "Management Keys Read + Write" in forbidden.error
    team.forbid.clear()
    team.management = {"xai-token-other"}
    rejected = make(team)[0].revoke(cred(key))
    assert isinstance(rejected, Failed) and "rejected the management key (401)" in rejected.error
    assert key.key_id in team.keys


@pytest.mark.parametrize(
    ("response", "retry_after"),
    [(Response("", status=429, headers={"Retry-After": "9"}), 9), (Response("", status=503), None),
     (error(429, "Too many requests"), None)],
)
def test_rate_limits_and_server_errors_are_retryable(
    team: XAITeam, response: Response, retry_after: float | None
) -> None:
    team.own_answer = response
    outcome = make(team)[0].revoke(cred(team.add()))
    assert isinstance(outcome, Failed) and outcome.retryable and outcome.retry_after == retry_after


def test_unreachable_xai_is_retryable(team: XAITeam) -> None:
    responder, _ = make(team, api_url=refused_url())
    outcome = responder.revoke(cred(team.add()))
    assert isinstance(outcome, Failed) and outcome.retryable and "cannot reach" in outcome.error


def test_an_unexplained_refusal_is_a_guided_step(team: XAITeam) -> None:
    team.own_answer = error(403, "The team has no credits")
    outcome = make(team)[0].revoke(cred(team.add()))
    assert isinstance(outcome, ManualRequired) and outcome.url == KEYS_PAGE


def test_plan_sends_no_request(httpserver: HTTPServer) -> None:
    responder = XAIResponder(ResponderContext(config={"management_key": "env:X",
                                                      "base_url": httpserver.url_for("/")}))
    (planned,) = [p for _, p in responder.plan([cred(new_value())])]
    assert isinstance(planned, Planned) and planned.action == "delete"
    assert httpserver.log == []


def test_bad_config_is_refused_without_repeating_the_key() -> None:
    with pytest.raises(ResponderError, match="must be a reference") as raised:
        XAIResponder.check_config({"management_key": MANAGEMENT})
    assert MANAGEMENT not in str(raised.value)
    with pytest.raises(ResponderError, match="management_key"):
        XAIResponder.check_config({})


# -- verify ---------------------------------------------------------------------------------------


def test_verify_needs_the_incorrect_key_answer_and_the_teams_record(team: XAITeam) -> None:
    team.page_size_cap = 2
    for _ in range(4):
        team.add()
    live, doomed = team.add(), team.add()
    responder, _ = make(team)
    still = responder.verify_revoked(cred(live))
    assert isinstance(still, Failed) and still.retryable and "still accepts" in still.error

    assert isinstance(responder.revoke(cred(doomed)), Revoked)
    proven = responder.verify_revoked(cred(doomed))
    assert isinstance(proven, VerifiedDead), proven
    assert proven.facts["record"] == "deleted"
    listings = [r for r in team.requests if r.path.endswith("/api-keys") and r.method == "GET"]
    # Read once when revoke located the key (its limits), then fresh for the proof, each time
    # paged to the end.
    assert [r.args["paginationToken"] for r in listings] == ["", "2", "4"] * 2


def test_a_disabled_key_is_dead_only_with_the_record_saying_so(team: XAITeam) -> None:
    key = team.add()
    responder, _ = make(team, revoke_action="disable")
    assert isinstance(responder.revoke(cred(key)), Disabled)
    proven = responder.verify_revoked(cred(key))
    assert isinstance(proven, VerifiedDead) and "reversible" in proven.detail
    key.disabled = False  # switched back on by someone with a management key
    again = responder.verify_revoked(cred(key))
    assert isinstance(again, Failed) and "still accepts" in again.error


def test_a_rejection_without_the_documented_text_or_record_is_unproven(team: XAITeam) -> None:
    key = team.add()
    team.own_answer = error(400, "Bad request. The request is invalid.")
    vague = make(team)[0].verify_revoked(cred(key))
    assert isinstance(vague, Unproven) and "Incorrect API key" in vague.reason

    team.own_answer = None
    unknown_team = make(team)[0].verify_revoked(cred(new_value()))  # no team_id configured
    assert isinstance(unknown_team, Unproven) and "set team_id" in unknown_team.reason

    from tests.providers_new.xai.xai_standin import incorrect

    team.own_answer = incorrect(key.value)  # rejected, yet the team still lists it enabled
    responder, _ = make(team, team_id=TEAM)
    responder._located[cred(key).fingerprint] = __import__("responders.xai").xai._info(key.info())
    listed = responder.verify_revoked(cred(key))
    assert isinstance(listed, Unproven) and "still shows the key enabled" in listed.reason

    team.forbid.add("GET /auth/teams")
    unreadable = responder.verify_revoked(cred(key))
    assert isinstance(unreadable, Unproven) and "could not be read" in unreadable.reason


def test_a_key_blocked_by_xai_is_not_dead(team: XAITeam) -> None:
    key = team.add(blocked=True)
    outcome = make(team)[0].verify_revoked(cred(key))
    assert isinstance(outcome, Failed) and "blocked by xAI but not deleted" in outcome.error


# -- rotate ---------------------------------------------------------------------------------------


def test_contain_deletes_then_replaces_with_acls_and_limits(
    team: XAITeam, memory_keyring: Any
) -> None:
    old = team.add(name="grok (clawback 2026-01-01)", qps=3, qpm=90, tpm="20000")
    responder, store = make(team)
    assert isinstance(responder.revoke(cred(old)), Revoked)
    seen: list[tuple[str, set[str]]] = []
    team.observe = lambda request: seen.append(
        (f"{request.method} {request.path}", set(memory_keyring.store.values())))

    outcome = responder.rotate(cred(old), store)

    assert isinstance(outcome, Rotated), outcome
    (new,) = team.keys.values()
    assert (new.acls, new.qps, new.qpm, new.tpm) == (old.acls, 3, 90, "20000")
    assert new.name.startswith("grok (clawback ") and new.name.count("clawback") == 1
    assert store.resolve(outcome.new_reference).reveal() == new.value
    assert outcome.new_fingerprint == fingerprint(new.value)
    create = next(i for i, (c, _) in enumerate(seen) if c.startswith("POST"))
    assert new.value in seen[create + 1][1]  # stored before the next request went out
    # The new key answered "Incorrect API key" once while it propagated, then worked.
    assert any(c.endswith("/propagation") for c, _ in seen) and new.warmup == 0
    assert outcome.facts["old_key_state"] == "already deleted by this run"


class _Handover(KeyringSecretStore):
    def __init__(self, proven: bool, team: XAITeam, old: Key) -> None:
        super().__init__(environ=ENVIRON)
        self.proven, self.team, self.old = proven, team, old
        self.old_live_when_asked: bool | None = None

    def await_agent(self, *, last_used: Any = None) -> AgentProof:
        self.old_live_when_asked = self.old.key_id in self.team.keys
        return AgentProof(self.proven, "gateway reloaded" if self.proven else "no reload seen")


def test_a_drill_deletes_the_old_key_only_after_the_agent_uses_the_new(
    team: XAITeam, memory_keyring: Any
) -> None:
    old = team.add()
    store = _Handover(True, team, old)
    outcome = make(team, store=store)[0].rotate(cred(old), store)
    assert isinstance(outcome, Rotated), outcome
    assert store.old_live_when_asked is True and old.key_id not in team.keys
    stays = team.add()
    waiting = _Handover(False, team, stays)
    kept = make(team, store=waiting)[0].rotate(cred(stays), waiting)
    assert isinstance(kept, Failed) and "stays live" in kept.error and stays.key_id in team.keys


def test_a_retire_the_provider_refuses_names_the_stored_replacement_and_keeps_the_old_key(
    team: XAITeam, memory_keyring: Any
) -> None:
    old = team.add()
    store = _Handover(True, team, old)
    team.forbid = {"DELETE"}  # the management key may create keys but not delete them
    outcome = make(team, store=store)[0].rotate(cred(old), store)
    assert isinstance(outcome, Failed), outcome
    assert "the new key works and is stored at" in outcome.error
    assert "retiring the old key failed" in outcome.error and not outcome.retryable
    assert old.key_id in team.keys and len(team.keys) == 2
    (new,) = (k for k in team.keys.values() if k.key_id != old.key_id)
    assert store.resolve(outcome.facts["reference"]).reveal() == new.value
    assert outcome.facts["stage"] == "test" and outcome.facts["new_key"] == new.key_id


def test_a_replacement_that_cannot_be_stored_is_deleted_again(
    team: XAITeam, refusing_keyring: Any
) -> None:
    old = team.add()
    responder, store = make(team)
    outcome = responder.rotate(cred(old), store)
    assert isinstance(outcome, Failed) and "the new key was deleted" in outcome.error
    assert list(team.keys) == [old.key_id]


def test_a_replacement_that_never_propagates_leaves_the_old_key(
    team: XAITeam, memory_keyring: Any
) -> None:
    old = team.add()
    responder, store = make(team, activation_wait_seconds=0)
    original = team.add

    def slow(**fields: Any) -> Key:
        return original(**{**fields, "warmup": 1000})

    team.add = slow  # type: ignore[method-assign]
    outcome = responder.rotate(cred(old), store)
    assert isinstance(outcome, Failed) and "the old key was left alone" in outcome.error
    assert old.key_id in team.keys and not old.disabled


# -- preflight ------------------------------------------------------------------------------------


def test_preflight_validates_the_management_key_and_names_what_is_missing(team: XAITeam) -> None:
    checks = {c.capability: c for c in make(team, team_id=TEAM)[0].preflight()}
    assert list(checks) == ["management key", "list keys"] and all(c.ok for c in checks.values())
    team.forbid.add("GET /auth/teams")
    checks = {c.capability: c for c in make(team, team_id=TEAM)[0].preflight()}
    assert not checks["list keys"].ok
    assert checks["list keys"].missing_permission == "Management Keys Read + Write"
    team.management = {"xai-token-other"}
    (check, _) = make(team)[0].preflight()
    assert not check.ok and check.missing_permission == "Management Keys Read + Write"
    assert {r.method for r in team.requests} == {"GET"}


# -- secrets never leak ---------------------------------------------------------------------------


def test_no_secret_value_in_outcomes_or_logs(
    team: XAITeam, memory_keyring: Any, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    planted = [team.add(), team.add(), new_value()]
    old_values = [k.value if isinstance(k, Key) else k for k in planted]
    creds = [cred(k) for k in planted] + [cred(MANAGEMENT)]
    responder, store = make(team, team_id=TEAM)
    outcomes: list[Any] = [responder.revoke(c) for c in creds]
    outcomes += [responder.verify_revoked(c) for c in creds]
    outcomes += [responder.rotate(c, store) for c in creds]
    outcomes += [p for _, p in responder.plan(creds)]
    outcomes += responder.preflight()
    assert sum(isinstance(o, Rotated) for o in outcomes) == 2
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    said = "\n".join(repr(o) for o in outcomes) + ours + "".join(capsys.readouterr())
    said += json.dumps([dict(o.facts) for o in outcomes if hasattr(o, "facts")], default=str)
    for value in [*old_values, *(k.value for k in team.keys.values()), MANAGEMENT]:
        assert value not in said
        assert f"{value[:2]}***{value[-2:]}" not in said  # xAI's own quote of the key
