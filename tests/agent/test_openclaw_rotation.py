"""The OpenClaw responder on the sample home: every old secret is replaced everywhere discovery
found it, the files still parse with their comments, and the originals are kept as backups."""

from __future__ import annotations

import json
import plistlib
from pathlib import Path

import pyjson5
import pytest
from hypothesis import given
from hypothesis import strategies as st

from responders.interface import (
    AlreadyRevoked,
    Credential,
    Failed,
    Location,
    ManualRequired,
    Revoked,
    Rotated,
    Skipped,
)
from responders.openclaw import (
    CLEARED_KINDS,
    FREE_TEXT_MARKER,
    KIND_GATEWAY_TOKEN,
    KIND_WHATSAPP,
    ROTATED_KINDS,
    OpenClawResponder,
    parse_key_path,
    whatsapp_logout_argv,
)
from responders.openclaw.discovery import format_key_path
from responders.openclaw.secret_edits import is_free_text

from .conftest import AgentHost, mode_of, sha256_of, tree_digest

NO_CLI = {"use_openclaw_cli": False}


def rotated_creds(host: AgentHost) -> list[Credential]:
    creds = host.creds("openclaw", kinds=tuple(ROTATED_KINDS))
    assert {c.kind for c in creds} >= {
        "openclaw:gateway_token", "openclaw:gateway_password", "openclaw:hooks_token",
        "openclaw:cron_webhook_token",
    }
    return creds


def files_of(creds: list[Credential]) -> dict[Path, bytes]:
    return {Path(loc.path): Path(loc.path).read_bytes() for c in creds for loc in c.locations}


def test_every_old_value_is_replaced_wherever_discovery_found_it(agent_host: AgentHost) -> None:
    creds = rotated_creds(agent_host)
    responder = OpenClawResponder(agent_host.context(NO_CLI))

    outcomes = dict(responder.revoke_all(creds))

    new_values: dict[str, str] = {}
    for cred in creds:
        outcome = outcomes[cred]
        assert isinstance(outcome, Rotated), (cred.kind, outcome)
        hex8 = cred.fingerprint.rsplit(":", 1)[1]
        short = cred.kind.split(":", 1)[1]
        assert outcome.new_reference == f"keyring:clawback/openclaw/{short}/{hex8}"
        new = agent_host.stored(outcome.new_reference)
        assert outcome.new_fingerprint != cred.fingerprint
        assert len(new) >= 43 and new != cred.secret.reveal()  # type: ignore[union-attr]
        new_values[cred.fingerprint] = new
        for location in cred.locations:
            data = Path(location.path).read_text()
            assert cred.secret.reveal() not in data, location  # type: ignore[union-attr]
            # A transcript or log line (the sample home's attack story prints .env) gets a
            # marker, not the new secret: nothing reads a key there.
            assert (FREE_TEXT_MARKER if is_free_text(location) else new) in data, location
    assert len(set(new_values.values())) == len(creds), "each secret gets its own new value"

    after = agent_host.rediscover()
    found = {c.fingerprint: c for c in after.credentials}
    for cred in creds:
        assert cred.fingerprint not in found, f"{cred.kind} survives somewhere"
        replacement = found[outcomes[cred].new_fingerprint]  # type: ignore[attr-defined]
        # The new value sits exactly where the old one did (.bak copies, unit, plist, cmd ...).
        assert replacement.locations == tuple(
            loc for loc in cred.locations if not is_free_text(loc))
        assert replacement.kind == cred.kind


def test_only_the_secret_changes_so_configs_parse_and_comments_survive(
    agent_host: AgentHost,
) -> None:
    creds = rotated_creds(agent_host)
    before = files_of(creds)
    free_text = {Path(loc.path) for c in creds for loc in c.locations if is_free_text(loc)}
    outcomes = dict(OpenClawResponder(agent_host.context(NO_CLI)).revoke_all(creds))

    replacements = {
        c.secret.reveal(): agent_host.stored(outcomes[c].new_reference)  # type: ignore[union-attr,attr-defined]
        for c in creds
    }
    config = agent_host.home.config_path
    assert "// also in the unit env" in before[config].decode()
    for path, original in before.items():
        expected = original.decode()
        for old, new in replacements.items():
            expected = expected.replace(old, FREE_TEXT_MARKER if path in free_text else new)
        # Byte for byte (CRLF in gateway.cmd included): comments, layout, key order and every
        # other value are untouched.
        assert path.read_bytes().decode() == expected, path
        if ".json" in path.name and path.suffix != ".jsonl":  # transcripts: a JSON per line
            pyjson5.decode(path.read_text())
        if path.suffix == ".plist":
            plistlib.loads(path.read_bytes())


def test_originals_are_backed_up_once_per_file_with_their_sha256(agent_host: AgentHost) -> None:
    creds = rotated_creds(agent_host)
    before = files_of(creds)
    modes = {path: mode_of(path) for path in before}
    outcomes = dict(OpenClawResponder(agent_host.context(NO_CLI)).revoke_all(creds))

    recorded: dict[str, dict[str, object]] = {}
    for cred in creds:
        for backup in outcomes[cred].facts["backups"]:
            recorded.setdefault(backup["file"], backup)
            assert recorded[backup["file"]] == backup, "one backup per file, shared"
    assert set(recorded) == {str(p) for p in before}
    backups_dir = agent_host.incident_dir / "backups"
    assert mode_of(backups_dir) == 0o700
    assert len(list(backups_dir.iterdir())) == len(before)
    for file, backup in recorded.items():
        copy = Path(str(backup["backup"]))
        assert copy.parent == backups_dir
        assert copy.read_bytes() == before[Path(file)]
        assert backup["sha256"] == sha256_of(before[Path(file)]) == sha256_of(copy.read_bytes())
        assert mode_of(copy) == 0o600
    for path, mode in modes.items():
        assert mode_of(path) == mode == 0o600, path


def test_the_owner_is_kept_and_a_wider_mode_narrowed_to_0600(agent_host: AgentHost) -> None:
    # `openclaw gateway install` writes its unit 0644 with the token in clear: the rewritten
    # unit must not hand the new token to every local user as well.
    unit = agent_host.home.user_home / ".config/systemd/user/openclaw-gateway.service"
    unit.chmod(0o644)
    owner = (unit.stat().st_uid, unit.stat().st_gid)
    (cred,) = [c for c in rotated_creds(agent_host) if any(loc.path == str(unit)
                                                           for loc in c.locations)]
    outcome = OpenClawResponder(agent_host.context(NO_CLI)).revoke(cred)
    assert isinstance(outcome, Rotated)
    assert mode_of(unit) == 0o600
    assert (unit.stat().st_uid, unit.stat().st_gid) == owner


def test_a_second_run_finds_nothing_left_and_changes_nothing(agent_host: AgentHost) -> None:
    creds = [*rotated_creds(agent_host), *agent_host.creds("openclaw", kinds=tuple(CLEARED_KINDS)),
             *agent_host.creds("whatsapp")]
    first = dict(OpenClawResponder(agent_host.context(NO_CLI)).revoke_all(creds))
    assert all(o.status in ("ok", "manual") for o in first.values())
    stored = dict(agent_host.keyring.store)
    digest = tree_digest(agent_host.home.root, agent_host.incident_dir)

    second = dict(OpenClawResponder(agent_host.context(NO_CLI)).revoke_all(creds))

    assert all(isinstance(o, AlreadyRevoked) for o in second.values()), second
    assert agent_host.keyring.store == stored
    assert tree_digest(agent_host.home.root, agent_host.incident_dir) == digest


def test_rotate_after_revoke_reports_the_same_rotation(agent_host: AgentHost) -> None:
    cred = max(rotated_creds(agent_host), key=lambda c: len(c.locations))
    assert cred.kind == "openclaw:gateway_token" and len(cred.locations) >= 7
    responder = OpenClawResponder(agent_host.context(NO_CLI))
    revoked = responder.revoke(cred)
    stored = dict(agent_host.keyring.store)
    digest = tree_digest(agent_host.home.root)

    rotated = responder.rotate(cred, responder.context.secrets)  # type: ignore[arg-type]

    assert isinstance(revoked, Rotated) and isinstance(rotated, Rotated)
    assert rotated.new_fingerprint == revoked.new_fingerprint
    assert rotated.new_reference == revoked.new_reference
    assert rotated.detail.startswith("done by the revoke")
    assert agent_host.keyring.store == stored
    assert tree_digest(agent_host.home.root) == digest


def test_rotate_alone_rotates(agent_host: AgentHost) -> None:
    (cred,) = agent_host.creds("openclaw", kinds=("openclaw:hooks_token",))
    responder = OpenClawResponder(agent_host.context(NO_CLI))
    outcome = responder.rotate(cred, responder.context.secrets)  # type: ignore[arg-type]
    assert isinstance(outcome, Rotated)
    assert agent_host.stored(outcome.new_reference) in agent_host.home.config_path.read_text()


def test_a_store_that_fails_means_no_file_is_touched(
    agent_host: AgentHost, refusing_keyring: object
) -> None:
    creds = rotated_creds(agent_host)
    digest = tree_digest(agent_host.home.root)
    outcomes = dict(OpenClawResponder(agent_host.context(NO_CLI)).revoke_all(creds))
    for outcome in outcomes.values():
        assert isinstance(outcome, Failed)
        assert "nothing was changed" in outcome.error
        assert "keyring" in outcome.error
    assert tree_digest(agent_host.home.root) == digest
    assert not (agent_host.incident_dir / "backups").exists()


def test_plan_reads_only_and_names_every_place(agent_host: AgentHost) -> None:
    creds = agent_host.creds("openclaw", "whatsapp")
    digest = tree_digest(agent_host.home.root, agent_host.incident_dir)
    responder = OpenClawResponder(agent_host.context(NO_CLI, dry_run=True))

    planned = dict(responder.plan(creds))
    dry = dict(responder.revoke_all(creds))

    assert tree_digest(agent_host.home.root, agent_host.incident_dir) == digest
    assert agent_host.keyring.store == {}
    for cred in creds:
        text = planned[cred].detail + "\n".join(planned[cred].commands)
        for location in cred.locations:
            assert location.path in text, (cred.kind, location)
        acts = cred.kind in {*ROTATED_KINDS, *CLEARED_KINDS, KIND_WHATSAPP}
        # A dry run only plans what it would change; a manual step changes nothing anyway.
        assert dry[cred].name == ("Planned" if acts else "ManualRequired")
    gateway = max(creds, key=lambda c: len(c.locations))
    assert gateway.kind == "openclaw:gateway_token" and len(gateway.locations) >= 7
    assert planned[gateway].action == "rotate"
    assert len(planned[gateway].commands) == 1 + len(gateway.locations)
    texts = repr(planned) + repr(dry)
    for secret in agent_host.planted_values:
        assert secret not in texts


def test_outcomes_hold_no_secret_old_or_new(agent_host: AgentHost) -> None:
    creds = agent_host.creds("openclaw", "whatsapp")
    outcomes = OpenClawResponder(agent_host.context(NO_CLI)).revoke_all(creds)
    new_values = list(agent_host.keyring.store.values())
    assert len(new_values) == len(rotated_creds(agent_host))
    text = repr(outcomes) + json.dumps([dict(o.facts) for _, o in outcomes])
    text += "".join(getattr(o, "instructions", "") for _, o in outcomes)
    for secret in [*agent_host.planted_values, *new_values]:
        assert secret not in text


def test_device_tokens_are_cleared_and_the_devices_must_pair_again(agent_host: AgentHost) -> None:
    creds = agent_host.creds("openclaw", kinds=("openclaw:device_token",))
    assert len(creds) == 2
    state = agent_host.home.state_dir
    paired_before = json.loads((state / "devices" / "paired.json").read_text())
    responder = OpenClawResponder(agent_host.context(NO_CLI))

    outcomes = dict(responder.revoke_all(creds))

    assert all(isinstance(o, Revoked) for o in outcomes.values()), outcomes
    # Unpaired, not only tokenless: OpenClaw gives a still-paired device a new token at its
    # next connect, so the entries go (`openclaw devices remove`) and each must pair again.
    paired = json.loads((state / "devices" / "paired.json").read_text())
    assert paired == {} and len(paired_before) == 2
    auth = json.loads((state / "identity" / "device-auth.json").read_text())
    assert auth["tokens"] == {} and auth["deviceId"] in paired_before
    assert all("unpaired" in o.detail for o in outcomes.values())
    for cred in creds:
        for location in cred.locations:
            assert cred.secret.reveal() not in Path(location.path).read_text()  # type: ignore[union-attr]
        assert isinstance(responder.rotate(cred, responder.context.secrets), Skipped)  # type: ignore[arg-type]
    assert agent_host.keyring.store == {}


def test_whatsapp_session_is_deleted_and_unlinking_the_device_is_a_manual_step(
    agent_host: AgentHost,
) -> None:
    (cred,) = agent_host.creds("whatsapp")
    assert cred.kind == KIND_WHATSAPP and cred.account == "default"
    account_dir = agent_host.home.state_dir / "credentials" / "whatsapp" / "default"
    originals = {p.name: p.read_bytes() for p in account_dir.iterdir()}
    assert set(originals) == {"creds.json", "creds.json.bak"}

    outcome = OpenClawResponder(agent_host.context(NO_CLI)).revoke(cred)

    assert isinstance(outcome, ManualRequired)
    assert not account_dir.exists()
    assert "Linked devices" in outcome.instructions and "+15551234567" in outcome.instructions
    for location in cred.locations:
        assert str(location) in outcome.instructions
    assert outcome.url.startswith("https://")
    backups = {Path(b["file"]).name: b for b in outcome.facts["backups"]}
    assert set(backups) == set(originals)
    for name, backup in backups.items():
        assert Path(backup["backup"]).read_bytes() == originals[name]
        assert backup["sha256"] == sha256_of(originals[name])
    assert "cli" not in outcome.facts


def test_a_session_copy_elsewhere_is_named_not_deleted(agent_host: AgentHost,
                                                      tmp_path: Path) -> None:
    (cred,) = agent_host.creds("whatsapp")
    stray_dir = tmp_path / "exfil"
    stray_dir.mkdir()
    original = cred.locations[0]
    stray = stray_dir / "creds.json"
    stray.write_bytes(Path(original.path).read_bytes())
    (stray_dir / "notes.txt").write_text("unrelated")
    cred = Credential.from_secret(
        cred.provider, cred.kind, cred.secret.reveal(),  # type: ignore[union-attr]
        [*cred.locations, Location(str(stray), original.key)], account=cred.account,
    )
    outcome = OpenClawResponder(agent_host.context(NO_CLI)).revoke(cred)
    assert isinstance(outcome, ManualRequired)
    assert f"Delete the copies outside the auth dir by hand: {stray}:" in outcome.instructions
    assert stray.exists() and (stray_dir / "notes.txt").exists()
    assert str(stray) not in outcome.facts["deleted"]
    assert len(outcome.facts["deleted"]) == 2


def test_whatsapp_logout_command_targets_the_install_and_account() -> None:
    state = Path("/home/agent/.openclaw")
    assert whatsapp_logout_argv("/usr/local/bin/openclaw", state, "default") == [
        "env", "OPENCLAW_STATE_DIR=/home/agent/.openclaw", "/usr/local/bin/openclaw",
        "channels", "logout", "--channel", "whatsapp",
    ]
    assert whatsapp_logout_argv(
        "/usr/local/bin/openclaw", state, "work", state / "openclaw.json"
    ) == [
        "env", "OPENCLAW_STATE_DIR=/home/agent/.openclaw",
        "OPENCLAW_CONFIG_PATH=/home/agent/.openclaw/openclaw.json", "/usr/local/bin/openclaw",
        "channels", "logout", "--channel", "whatsapp", "--account", "work",
    ]


def test_a_missing_cli_falls_back_to_deleting_the_files(agent_host: AgentHost) -> None:
    (cred,) = agent_host.creds("whatsapp")
    responder = OpenClawResponder(
        agent_host.context({"openclaw_binary": str(agent_host.home.root / "no-such-openclaw")})
    )
    outcome = responder.revoke(cred)
    assert isinstance(outcome, ManualRequired) and "cli" not in outcome.facts


# -- single files in every format ----------------------------------------------------------


def single(host: AgentHost, name: str, content: str | bytes, value: str, key: str,
           kind: str = KIND_GATEWAY_TOKEN) -> tuple[Path, Credential]:
    """One file holding ``value`` inside the agent's home: clawback changes nothing outside
    the agent's tree."""
    path = host.home.user_home / "state" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    path.chmod(0o600)
    return path, Credential.from_secret("openclaw", kind, value, [Location(str(path), key)])


SECRET = "Zr7/q+Lm2-Xw9_Kt4vBn8sYc1dHe6uJa"


def test_escaped_and_embedded_json_values_are_replaced(agent_host: AgentHost,
                                                       tmp_path: Path) -> None:
    escaped = SECRET.replace("/", "\\/")
    text = (
        '{\n  // the gateway\n  "gateway": {"auth": {"token": "' + escaped + '"}},\n'
        '  "hooks": {"url": "https://hooks.example/?t=' + SECRET + '"},\n}\n'
    )
    path, cred = single(agent_host, "openclaw.json", text, SECRET, "gateway.auth.token")
    outcome = OpenClawResponder(agent_host.context(NO_CLI)).revoke(cred)
    assert isinstance(outcome, Rotated), outcome
    new = agent_host.stored(outcome.new_reference)
    data = pyjson5.decode(path.read_text())
    assert data["gateway"]["auth"]["token"] == new
    assert data["hooks"]["url"] == f"https://hooks.example/?t={new}"
    assert "// the gateway" in path.read_text()
    assert SECRET not in path.read_text() and escaped not in path.read_text()


def test_a_value_inside_a_longer_token_is_left_and_reported(agent_host: AgentHost,
                                                           tmp_path: Path) -> None:
    text = f"OPENCLAW_GATEWAY_TOKEN={SECRET}\nNOTE=x{SECRET}y\n"
    path, cred = single(agent_host, ".env", text, SECRET, "OPENCLAW_GATEWAY_TOKEN")
    outcome = OpenClawResponder(agent_host.context(NO_CLI)).revoke(cred)
    assert isinstance(outcome, Failed)
    assert "part of a longer token" in outcome.error and str(path) in outcome.error
    assert path.read_text() == text
    assert outcome.facts["not_updated"] and not outcome.facts["backups"]
    assert SECRET not in repr(outcome)


def test_a_binary_plist_is_rewritten_as_a_binary_plist(agent_host: AgentHost,
                                                      tmp_path: Path) -> None:
    plist = {"Label": "ai.openclaw.gateway",
             "EnvironmentVariables": {"OPENCLAW_GATEWAY_TOKEN": SECRET, "HOME": "/home/agent"}}
    path, cred = single(agent_host, "ai.openclaw.gateway.plist",
                        plistlib.dumps(plist, fmt=plistlib.FMT_BINARY), SECRET,
                        "EnvironmentVariables.OPENCLAW_GATEWAY_TOKEN")
    outcome = OpenClawResponder(agent_host.context(NO_CLI)).revoke(cred)
    assert isinstance(outcome, Rotated), outcome
    assert path.read_bytes().startswith(b"bplist")
    after = plistlib.loads(path.read_bytes())
    assert after["EnvironmentVariables"] == {
        "OPENCLAW_GATEWAY_TOKEN": agent_host.stored(outcome.new_reference), "HOME": "/home/agent",
    }


def test_free_text_gets_a_marker_not_the_new_secret(agent_host: AgentHost,
                                                    tmp_path: Path) -> None:
    text = f"$ openclaw gateway\nexport OPENCLAW_GATEWAY_TOKEN={SECRET}\n$ ls\n"
    path, cred = single(agent_host, ".bash_history", text, SECRET, "line 2")
    outcome = OpenClawResponder(agent_host.context(NO_CLI)).revoke(cred)
    assert isinstance(outcome, Rotated)
    assert path.read_text() == text.replace(SECRET, FREE_TEXT_MARKER)


def test_a_whole_file_secret_is_replaced_keeping_the_newline(agent_host: AgentHost,
                                                            tmp_path: Path) -> None:
    path, cred = single(agent_host, "gateway.token", SECRET + "\n", SECRET, "")
    outcome = OpenClawResponder(agent_host.context(NO_CLI)).revoke(cred)
    assert isinstance(outcome, Rotated)
    assert path.read_text() == agent_host.stored(outcome.new_reference) + "\n"


def test_places_clawback_cannot_edit_become_a_manual_step(agent_host: AgentHost,
                                                         tmp_path: Path) -> None:
    path, cred = single(agent_host, ".env", f"OPENCLAW_GATEWAY_TOKEN={SECRET}\n", SECRET,
                        "OPENCLAW_GATEWAY_TOKEN")
    cred = Credential.from_secret(
        "openclaw", KIND_GATEWAY_TOKEN, SECRET,
        [*cred.locations, Location("(environment)", "OPENCLAW_GATEWAY_TOKEN")],
    )
    outcome = OpenClawResponder(agent_host.context(NO_CLI)).revoke(cred)
    assert isinstance(outcome, ManualRequired)
    assert "(environment):OPENCLAW_GATEWAY_TOKEN" in outcome.instructions
    assert outcome.facts["new_reference"] in outcome.instructions
    assert SECRET not in path.read_text()


def test_a_short_secret_is_not_replaced_by_text(agent_host: AgentHost, tmp_path: Path) -> None:
    path, cred = single(agent_host, ".env", "OPENCLAW_GATEWAY_PASSWORD=hunter2\n", "hunter2",
                        "OPENCLAW_GATEWAY_PASSWORD", kind="openclaw:gateway_password")
    outcome = OpenClawResponder(agent_host.context(NO_CLI)).revoke(cred)
    assert isinstance(outcome, ManualRequired) and "too short" in outcome.instructions
    assert path.read_text() == "OPENCLAW_GATEWAY_PASSWORD=hunter2\n"


def test_without_an_incident_nothing_is_changed(agent_host: AgentHost) -> None:
    (cred,) = agent_host.creds("openclaw", kinds=("openclaw:hooks_token",))
    context = agent_host.context(NO_CLI)
    from dataclasses import replace

    digest = tree_digest(agent_host.home.root)
    outcome = OpenClawResponder(replace(context, incident_dir=None)).revoke(cred)
    assert isinstance(outcome, Failed) and "incident" in outcome.error
    assert tree_digest(agent_host.home.root) == digest


@pytest.mark.parametrize(
    ("kind", "needle"),
    [
        ("openclaw:gateway_remote_token", "gateway.remote.token"),
        ("openclaw:device_private_key", "openclaw devices revoke"),
        ("openclaw:auth_profile_secret_key", "credentials/auth-profiles"),
        ("openclaw:something_new", "does not know"),
    ],
)
def test_secrets_checked_elsewhere_are_manual_steps(agent_host: AgentHost, tmp_path: Path,
                                                   kind: str, needle: str) -> None:
    path, cred = single(agent_host, "openclaw.json", '{"x": "' + SECRET + '"}', SECRET, "x",
                        kind=kind)
    outcome = OpenClawResponder(agent_host.context(NO_CLI)).revoke(cred)
    assert isinstance(outcome, ManualRequired)
    assert needle in outcome.instructions and f"{path}:x" in outcome.instructions
    assert SECRET in path.read_text()


def test_invalid_settings_are_reported_as_advice(agent_host: AgentHost) -> None:
    (cred,) = agent_host.creds("openclaw", kinds=("openclaw:hooks_token",))
    outcome = OpenClawResponder(agent_host.context({"store_name": "x/{nope}"})).revoke(cred)
    assert isinstance(outcome, Failed) and "{kind} and {old}" in outcome.error


segments = st.lists(
    st.one_of(st.integers(min_value=0, max_value=10_000),
              st.text(min_size=0, max_size=12)),
    min_size=1, max_size=6,
)


@given(segments)
def test_key_paths_parse_back_to_what_discovery_formatted(path: list[str | int]) -> None:
    assert parse_key_path(format_key_path(path)) == tuple(path)
