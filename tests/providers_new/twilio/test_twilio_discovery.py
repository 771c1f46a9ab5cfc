"""Twilio credentials are found by their places, paired with their SIDs, and documentation
examples are not reported."""

from __future__ import annotations

from pathlib import Path

from responders.interface import fingerprint
from responders.kit import secret_patterns as sp
from responders.openclaw.discovery import discover

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
KEY_SID = "SKfedcba9876543210fedcba9876543210"
KEY_SECRET = "Zq8vN3xLp0Rt6Yw2Ks9Bd4Hf7Jm1Cg5E"
PLUGIN_ACCOUNT = "AC11111111111111111111111111111111"
PLUGIN_TOKEN = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def _state(home: Path) -> Path:
    state = home / ".openclaw"
    state.mkdir(parents=True)
    return state


def test_planted_twilio_credentials_are_found_with_their_sids(tmp_path: Path) -> None:
    state = _state(tmp_path)
    (state / ".env").write_text(
        f"TWILIO_ACCOUNT_SID={ACCOUNT}\nTWILIO_AUTH_TOKEN={TOKEN}\n"
        f"TWILIO_API_KEY={KEY_SID}\nTWILIO_API_SECRET={KEY_SECRET}\n"
    )
    # The voice-call plugin's own settings (extensions/voice-call/src/config.ts).
    (state / "openclaw.json").write_text(
        '{plugins: {entries: {"voice-call": {config: {provider: "twilio", twilio: '
        f'{{accountSid: "{PLUGIN_ACCOUNT}", authToken: "{PLUGIN_TOKEN}"}}}}}}}}}}}}'
    )
    found = {c.fingerprint: c for c in discover(user_home=tmp_path,
                                                system_service_dirs=()).credentials}

    token = found[fingerprint(TOKEN)]
    assert (token.provider, token.kind, token.account) == ("twilio", "twilio:auth_token", ACCOUNT)
    key = found[fingerprint(KEY_SECRET)]
    assert (key.kind, key.key_id, key.account) == ("twilio:api_key_secret", KEY_SID, ACCOUNT)
    plugin = found[fingerprint(PLUGIN_TOKEN)]
    assert (plugin.kind, plugin.account) == ("twilio:auth_token", PLUGIN_ACCOUNT)
    # SIDs name credentials; they are not secrets of their own.
    assert fingerprint(ACCOUNT) not in found and fingerprint(KEY_SID) not in found


def test_two_key_pairs_in_one_file_pair_by_name(tmp_path: Path) -> None:
    other_sid, other_secret = "SK" + "0123456789abcdef" * 2, "Pm4kW8nQ2vB6xZ1rT5yH9jL3fD7gS0cA"
    (_state(tmp_path) / ".env").write_text(
        f"TWILIO_API_KEY={KEY_SID}\nBACKUP_TWILIO_API_KEY={other_sid}\n"
        f"BACKUP_TWILIO_API_SECRET={other_secret}\nTWILIO_API_SECRET={KEY_SECRET}\n"
    )
    found = {c.secret.reveal(): c.key_id  # type: ignore[union-attr]
             for c in discover(user_home=tmp_path, system_service_dirs=()).credentials
             if c.provider == "twilio"}
    assert found == {KEY_SECRET: KEY_SID, other_secret: other_sid}


def test_documentation_examples_are_not_reported(tmp_path: Path) -> None:
    """Twilio's quickstart placeholders and the examples in its OpenAPI description."""
    (_state(tmp_path) / ".env").write_text(
        "TWILIO_ACCOUNT_SID=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\n"
        "TWILIO_AUTH_TOKEN=your_auth_token\n"
        "TWILIO_API_KEY=SKaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
        "TWILIO_API_SECRET=foobar\n"
        "TWILIO_AUTH_TOKEN_EXAMPLE=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
    )
    inventory = discover(user_home=tmp_path, system_service_dirs=())
    assert [c for c in inventory.credentials if c.provider == "twilio"] == []


def test_sids_are_not_refused_in_text_but_secrets_are() -> None:
    """clawback.toml may name an account or a key by its SID; a pasted key is still caught."""
    assert list(sp.find_in_text(f'account_sid = "{ACCOUNT}"\nadmin_key_id = "{KEY_SID}"')) == []
    recognized = sp.recognize_value(KEY_SID)
    assert recognized is not None and sp.is_identifier(recognized)
    aws = sp.recognize_value("AKIA" + "Z9" * 8)
    assert aws is not None and sp.is_identifier(aws)
    assert sp.recognize_env_name("TWILIO_AUTH_TOKEN") == sp.Recognition(
        "twilio", "twilio:auth_token", sp.Confidence.LOCATION)
