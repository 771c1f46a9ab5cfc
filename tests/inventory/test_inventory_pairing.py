"""AWS key ids are paired with their secrets by names that belong together, never by file.

Two pairs in one ``.env`` used to leave the second id on both secrets: the wrong key was
revoked and the live one never looked at. These tests plant such files and check each secret
gets its own id, its session token, and that nothing ambiguous is guessed.
"""

from __future__ import annotations

import base64
from pathlib import Path

from responders.openclaw.discovery import discover

# Shapes of real values, none of them real: ids are AKIA/ASIA + 16, secrets 40 characters.
PROD = ("AKIAPRODPAIRFIRST000", "prodSecretValue0000000000000000000000001")
BACKUP = ("AKIABACKUPPAIRSECOND", "backupSecretValue000000000000000000000002")
SESSION = ("ASIASESSIONKEYID0001", "sessionSecretValue0000000000000000000003")
TOKEN = "IQoJb3JpZ2luX2VjE" + "A" * 90


def _home(tmp_path: Path, dotenv: str) -> Path:
    state = tmp_path / ".openclaw"
    state.mkdir(parents=True)
    (state / ".env").write_text(dotenv)
    return tmp_path


def _ids(home: Path) -> dict[str, str | None]:
    inventory = discover(user_home=home, system_service_dirs=())
    return {c.secret.reveal(): c.key_id for c in inventory.credentials  # type: ignore[union-attr]
            if c.provider == "aws"}


def test_two_pairs_in_one_dotenv_each_get_their_own_key_id(tmp_path: Path) -> None:
    home = _home(tmp_path, (
        f"AWS_ACCESS_KEY_ID={PROD[0]}\n"
        f"AWS_SECRET_ACCESS_KEY={PROD[1]}\n"
        f"BACKUP_AWS_ACCESS_KEY_ID={BACKUP[0]}\n"
        f"BACKUP_AWS_SECRET_ACCESS_KEY={BACKUP[1]}\n"
    ))
    assert _ids(home) == {PROD[1]: PROD[0], BACKUP[1]: BACKUP[0]}


def test_suffixed_names_and_config_env_blocks_pair_too(tmp_path: Path) -> None:
    home = _home(tmp_path, (
        f"AWS_SECRET_ACCESS_KEY_PROD={PROD[1]}\n"
        f"AWS_ACCESS_KEY_ID_BACKUP={BACKUP[0]}\n"
        f"AWS_ACCESS_KEY_ID_PROD={PROD[0]}\n"
        f"AWS_SECRET_ACCESS_KEY_BACKUP={BACKUP[1]}\n"
    ))
    assert _ids(home) == {PROD[1]: PROD[0], BACKUP[1]: BACKUP[0]}
    state = tmp_path / "json-home" / ".openclaw"
    state.mkdir(parents=True)
    (state / "openclaw.json").write_text(
        '{ env: {'
        f' PROD_AWS_ACCESS_KEY_ID: "{PROD[0]}", BACKUP_AWS_ACCESS_KEY_ID: "{BACKUP[0]}",'
        f' BACKUP_AWS_SECRET_ACCESS_KEY: "{BACKUP[1]}", PROD_AWS_SECRET_ACCESS_KEY: "{PROD[1]}"'
        ' } }'
    )
    assert _ids(tmp_path / "json-home") == {PROD[1]: PROD[0], BACKUP[1]: BACKUP[0]}


def test_a_secret_whose_id_cannot_be_told_apart_gets_none_and_a_note(tmp_path: Path) -> None:
    home = _home(tmp_path, (
        f"FIRST_ID={PROD[0]}\nSECOND_ID={BACKUP[0]}\nAWS_SECRET_ACCESS_KEY={PROD[1]}\n"
    ))
    inventory = discover(user_home=home, system_service_dirs=())
    (cred,) = [c for c in inventory.credentials if c.provider == "aws"]
    assert cred.key_id is None  # a guess would revoke the wrong key
    assert any("cannot be told apart" in note for note in inventory.notes)


def test_one_pair_under_any_names_still_pairs(tmp_path: Path) -> None:
    home = _home(tmp_path, f"S3_KEY={PROD[0]}\nAWS_SECRET_ACCESS_KEY={PROD[1]}\n")
    assert _ids(home) == {PROD[1]: PROD[0]}


def test_a_session_key_carries_its_token(tmp_path: Path) -> None:
    home = _home(tmp_path, (
        f"AWS_ACCESS_KEY_ID={SESSION[0]}\nAWS_SECRET_ACCESS_KEY={SESSION[1]}\n"
        f"AWS_SESSION_TOKEN={TOKEN}\n"
        f"BACKUP_AWS_ACCESS_KEY_ID={BACKUP[0]}\nBACKUP_AWS_SECRET_ACCESS_KEY={BACKUP[1]}\n"
    ))
    inventory = discover(user_home=home, system_service_dirs=())
    by_id = {c.key_id: c for c in inventory.credentials if c.provider == "aws"}
    assert set(by_id) == {SESSION[0], BACKUP[0], None}  # None: the token, listed as found
    session = by_id[SESSION[0]]
    assert session.kind == "aws:session"
    assert session.companions["session_token"].reveal() == TOKEN
    assert by_id[BACKUP[0]].companions == {}
    assert TOKEN not in repr(session) and TOKEN not in str(inventory.as_dict())


def test_bedrock_api_keys_are_recognised_by_value_and_by_name(tmp_path: Path) -> None:
    long_term = "ABSK" + base64.b64encode(
        b"BedrockAPIKey-ab12-at-123456789012:" + b"s" * 40
    ).decode()
    short_term = "bedrock-api-key-" + base64.b64encode(
        b"bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Credential="
        b"AKIAPRODPAIRFIRST000%2F20261121%2Fus-east-1%2Fbedrock%2Faws4_request&X-Amz-Expires=43200"
    ).decode()
    home = _home(tmp_path, (
        f"AWS_BEARER_TOKEN_BEDROCK={long_term}\nBEDROCK_SHORT={short_term}\n"
    ))
    kinds = {c.secret.reveal(): c.kind  # type: ignore[union-attr]
             for c in discover(user_home=home, system_service_dirs=()).credentials}
    assert kinds == {long_term: "aws:bedrock_api_key", short_term: "aws:bedrock_short_term_key"}


def test_cloudflare_scannable_prefixes_name_the_kind(tmp_path: Path) -> None:
    user, account, key = ("cfut_" + "u" * 40 + "1a2b3c4d", "cfat_" + "a" * 40 + "5e6f7a8b",
                          "cfk_" + "k" * 40 + "9c0d1e2f")
    home = _home(tmp_path, f"CF_ONE={user}\nCF_TWO={account}\nCLOUDFLARE_API_TOKEN={key}\n")
    kinds = {c.secret.reveal(): c.kind  # type: ignore[union-attr]
             for c in discover(user_home=home, system_service_dirs=()).credentials}
    assert kinds == {user: "cloudflare:api_token", account: "cloudflare:account_token",
                     key: "cloudflare:global_api_key"}
