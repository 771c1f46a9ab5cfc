"""Discovery over the sample home: every planted secret, merged, classified, never leaked."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

from sample_discovery import discover_sample, snapshot_tree

from clawback_demo.home import PlantedSecret, SampleHome
from responders.interface import Location
from responders.openclaw import kinds
from responders.openclaw.discovery import ENVIRONMENT_LOCATION, Inventory, discover


def _leaks(text: str, planted: tuple[PlantedSecret, ...]) -> list[str]:
    """Fingerprints of planted secrets whose value (or a long head of it) appears in ``text``."""
    found = []
    for secret in planted:
        head = secret.value[:16]
        if secret.value in text or head in text:
            found.append(f"{secret.kind} {secret.fingerprint}")
    return found


def test_every_planted_secret_is_found_with_provider_kind_and_locations(
    era_home: SampleHome, era_inventory: Inventory
) -> None:
    by_fingerprint = {c.fingerprint: c for c in era_inventory.credentials}
    problems = []
    for secret in era_home.planted:
        cred = by_fingerprint.get(secret.fingerprint)
        if cred is None:
            problems.append(f"missing {secret.kind} {secret.fingerprint} at {secret.locations}")
            continue
        if (cred.provider, cred.kind) != (secret.provider, secret.kind):
            problems.append(f"{secret.kind} {secret.fingerprint} classified as {cred.kind}")
        if cred.key_id != secret.key_id:
            problems.append(f"{secret.kind} {secret.fingerprint} key_id {cred.key_id}")
        missing = set(secret.locations) - set(cred.locations)
        if missing:
            problems.append(f"{secret.kind} {secret.fingerprint} not seen at {sorted(missing)}")
    assert not problems, "\n".join(problems)
    # Nothing that was not planted: no false positives in configs, logs or unit files.
    planted = {s.fingerprint for s in era_home.planted}
    extras = [c.describe() for c in era_inventory.credentials if c.fingerprint not in planted]
    assert extras == []


def test_the_sample_covers_every_provider_the_responders_name(era_home: SampleHome) -> None:
    providers = {s.provider for s in era_home.planted}
    assert providers >= {
        "aws", "github", "openai", "anthropic", "slack", "cloudflare", "stripe", "telegram",
        "discord", "huggingface", "openrouter", "openclaw", "whatsapp", "unknown", "brave",
        "elevenlabs",
    }  # fmt: skip


def test_duplicates_are_merged_into_one_credential_with_all_locations(
    era_home: SampleHome, era_inventory: Inventory
) -> None:
    counts = Counter(c.fingerprint for c in era_inventory.credentials)
    assert [fp for fp, n in counts.items() if n > 1] == []
    # The current gateway token sits in the config, its .bak, the dotenv, the unit, gateway.env,
    # the LaunchAgent and gateway.cmd: one credential, seven locations.
    (current,) = [
        s
        for s in era_home.planted_of("openclaw:gateway_token")
        if Location(str(era_home.config_path), "gateway.auth.token") in s.locations
    ]
    cred = era_inventory.find(current.fingerprint)
    assert cred is not None
    files = {Path(loc.path).name for loc in cred.locations}
    assert files >= {
        "openclaw.json",
        "openclaw.json.bak",
        ".env",
        "openclaw-gateway.service",
        "gateway.env",
        "ai.openclaw.gateway.plist",
        "gateway.cmd",
    }
    # The rotated-away token survives in .bak.1 and the unit's .bak: a separate credential.
    (old,) = [s for s in era_home.planted_of("openclaw:gateway_token") if s is not current]
    old_cred = era_inventory.find(old.fingerprint)
    assert old_cred is not None
    assert {Path(loc.path).name for loc in old_cred.locations} == {
        "openclaw.json.bak.1",
        "openclaw-gateway.service.bak",
    }


def test_sqlite_and_json_stores_merge_in_the_upgraded_era(
    era_home: SampleHome, era_inventory: Inventory
) -> None:
    (anthropic,) = [
        s
        for s in era_home.planted_of("anthropic:api_key")
        if len(s.locations) > 1 and any(loc.key == "ANTHROPIC_API_KEY" for loc in s.locations)
    ]
    cred = era_inventory.find(anthropic.fingerprint)
    assert cred is not None
    names = {Path(loc.path).name for loc in cred.locations}
    assert ("auth-profiles.json" in names) == (era_home.era in ("file", "both"))
    assert ("openclaw-agent.sqlite" in names) == (era_home.era in ("sqlite", "both"))


def test_unknown_provider_is_kept_not_dropped(
    era_home: SampleHome, era_inventory: Inventory
) -> None:
    (unknown,) = era_home.planted_for("unknown")
    cred = era_inventory.find(unknown.fingerprint)
    assert cred is not None
    assert (cred.provider, cred.kind) == ("unknown", "unknown:secret")
    assert {Path(loc.path).name for loc in cred.locations} == {"openclaw.json", ".env"}


def test_no_planted_value_in_json_repr_or_notes(
    era_home: SampleHome, era_inventory: Inventory
) -> None:
    rendered = json.dumps(era_inventory.as_dict(), ensure_ascii=False)
    assert _leaks(rendered, era_home.planted) == []
    assert _leaks(repr(era_inventory), era_home.planted) == []
    assert _leaks(str(era_inventory), era_home.planted) == []
    assert _leaks("\n".join(era_inventory.notes), era_home.planted) == []
    for cred in era_inventory.credentials:
        assert _leaks(repr(cred) + str(cred.secret), era_home.planted) == []
    # ...while the values are still there for the responders that need them.
    values = {c.secret.reveal() for c in era_inventory.credentials if c.secret is not None}
    assert all(s.value in values for s in era_home.planted)


def test_discovery_changes_nothing_on_disk(era_home: SampleHome) -> None:
    before = snapshot_tree(era_home.root)
    inventory = discover_sample(era_home, explicit_state_dirs=False)
    after = snapshot_tree(era_home.root)
    assert inventory.credentials
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    assert (added, removed, changed) == ([], [], [])


def test_discovery_is_fast(era_home: SampleHome) -> None:
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        discover_sample(era_home)
        timings.append(time.perf_counter() - start)
    print(f"discover ({era_home.era}): best {min(timings) * 1000:.1f} ms")
    assert min(timings) < 0.5


def test_state_dirs_are_found_without_being_told(era_home: SampleHome) -> None:
    inventory = discover_sample(era_home, explicit_state_dirs=False)
    assert set(inventory.state_dirs) == set(era_home.state_dirs)
    found = {c.fingerprint for c in inventory.credentials}
    assert all(s.fingerprint in found for s in era_home.planted)


def test_gateway_facts_services_and_lock(era_home: SampleHome, era_inventory: Inventory) -> None:
    gateway = era_inventory.gateway
    assert gateway is not None
    assert (gateway.state_dir, gateway.port, gateway.bind, gateway.auth_mode) == (
        str(era_home.state_dir),
        era_home.gateway_port,
        "loopback",
        "token",
    )
    assert gateway.agent_ids == ("main", "work")
    assert {(s.kind, s.name) for s in era_inventory.services} == {
        ("systemd-user", "openclaw-gateway.service"),
        ("launchd", "ai.openclaw.gateway"),
        ("schtasks", "OpenClaw Gateway"),
    }
    unit = next(s for s in era_inventory.services if s.kind == "systemd-user")
    assert unit.state_dir == str(era_home.state_dir)
    assert unit.version == "2026.2.26"
    assert unit.as_setting() == {
        "kind": "systemd-user",
        "name": "openclaw-gateway.service",
        "unit": "openclaw-gateway.service",
    }
    (lock,) = era_inventory.gateway_locks
    assert (lock.config_path, lock.alive) == (str(era_home.config_path), False)


def test_references_resolve_to_fingerprints_and_externals_are_noted(
    era_home: SampleHome, era_inventory: Inventory
) -> None:
    refs = {(r.key, r.source): r for r in era_inventory.references}
    (openai,) = [
        s
        for s in era_home.planted_of("openai:project_key")
        if any(loc.key == "OPENAI_API_KEY" for loc in s.locations)
    ]
    substituted = refs[("models.providers.openai.apiKey", "env-substitution")]
    assert (substituted.target, substituted.resolved) == ("OPENAI_API_KEY", openai.fingerprint)
    from_file = refs[("messages.tts.openai.apiKey", "file")]
    (secrets_file_key,) = [s for s in era_home.planted_of("openai:project_key") if s is not openai]
    assert from_file.resolved == secrets_file_key.fingerprint
    external = refs[("models.providers.internal-llm.apiKey", "exec")]
    assert external.resolved is None
    assert any(
        "stored externally" in note and "internal-llm" in note for note in era_inventory.notes
    )


def test_state_dir_and_env_substitution_from_the_agent_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    state = tmp_path / "srv" / "openclaw-state"
    state.mkdir(parents=True)
    home.mkdir()
    token = "f3" * 24
    (state / "openclaw.json").write_text('{ gateway: { auth: { token: "${GW_TOKEN}" } } }')
    inventory = discover(
        user_home=home,
        env={"OPENCLAW_STATE_DIR": str(state), "GW_TOKEN": token},
        system_service_dirs=(),
    )
    assert inventory.state_dirs == (state,)
    (cred,) = inventory.credentials
    assert (cred.provider, cred.kind) == ("openclaw", "openclaw:gateway_token")
    assert cred.locations == (Location(ENVIRONMENT_LOCATION, "GW_TOKEN"),)
    assert token not in json.dumps(inventory.as_dict())


def test_unset_env_reference_is_a_note_not_a_credential(tmp_path: Path) -> None:
    state = tmp_path / ".openclaw"
    state.mkdir()
    (state / "openclaw.json").write_text('{ hooks: { token: "${HOOKS_TOKEN}" } }')
    inventory = discover(user_home=tmp_path, system_service_dirs=())
    assert inventory.credentials == ()
    assert any("${HOOKS_TOKEN}" in note for note in inventory.notes)


def test_unexpanded_variables_outside_configs_are_not_secrets(tmp_path: Path) -> None:
    state = tmp_path / ".openclaw"
    state.mkdir()
    (state / ".env").write_text("OPENCLAW_GATEWAY_TOKEN=${GW_TOKEN}\nGITHUB_TOKEN=$GH_TOKEN\n")
    inventory = discover(user_home=tmp_path, system_service_dirs=())
    assert (inventory.credentials, inventory.references) == ((), ())


def test_broken_config_is_reported_by_position_without_its_content(tmp_path: Path) -> None:
    state = tmp_path / ".openclaw"
    state.mkdir()
    secret = "0a" * 24
    (state / "openclaw.json").write_text(
        '{\n  gateway: { auth: { token: "' + secret + '" } }\n  hooks: oops\n}\n'
    )
    (state / ".env").write_text(f"OPENCLAW_GATEWAY_PASSWORD={'9z' * 12}\n")
    inventory = discover(user_home=tmp_path, system_service_dirs=())
    (note,) = [n for n in inventory.notes if "not valid JSON5" in n]
    assert note.startswith(f"{state / 'openclaw.json'}:3:")
    assert secret not in "\n".join(inventory.notes) + repr(inventory)
    # The rest of the state dir is still scanned.
    assert [c.kind for c in inventory.credentials] == ["openclaw:gateway_password"]


def test_fifo_and_symlinked_junk_do_not_hang_or_break_discovery(tmp_path: Path) -> None:
    state = tmp_path / ".openclaw"
    (state / "logs").mkdir(parents=True)
    # FIFOs where discovery opens files by name: opening one for reading would block forever.
    for fifo in (state / "logs" / "gateway.log", state / ".env", state / "secrets.json"):
        os.mkfifo(fifo)
    os.symlink("/dev/zero", state / "logs" / "zero.log")
    os.symlink(state / "missing.json", state / "exec-approvals.json")
    (state / "openclaw.json").write_text('{ gateway: { auth: { token: "' + "ab" * 24 + '" } } }')
    result: list[Inventory] = []
    worker = threading.Thread(
        target=lambda: result.append(discover(user_home=tmp_path, system_service_dirs=())),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "discovery blocked on a FIFO or device file"
    assert [c.kind for c in result[0].credentials] == ["openclaw:gateway_token"]


def test_a_closed_wal_database_gets_no_sidecar_files(tmp_path: Path) -> None:
    """Even a read-only SQLite open creates -wal/-shm next to a WAL-mode database."""
    state = tmp_path / ".openclaw"
    (state / "memory").mkdir(parents=True)
    db = state / "memory" / "main.sqlite"
    token = "ghp_" + "Zq" * 18
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE chunks (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO chunks (text) VALUES (?)", (f"user pasted {token} by mistake",))
    conn.close()
    assert sorted(p.name for p in db.parent.iterdir()) == ["main.sqlite"]
    before = snapshot_tree(tmp_path)
    inventory = discover(user_home=tmp_path, system_service_dirs=())
    assert snapshot_tree(tmp_path) == before
    (cred,) = inventory.credentials
    assert cred.kind == "github:pat"
    assert cred.locations == (Location(str(db), "chunks[row 0].text"),)


def test_explicit_state_dirs_note_a_service_pointing_elsewhere(fresh_home: object) -> None:
    home: SampleHome = fresh_home()  # type: ignore[operator]
    inventory = discover(
        user_home=home.user_home,
        state_dirs=[home.state_dirs[1]],
        tmp_dirs=[home.tmp_dir],
        system_service_dirs=(),
    )
    assert any(
        "openclaw-gateway.service" in note and str(home.state_dir) in note
        for note in inventory.notes
    )


def test_known_values_are_found_in_every_log_and_audit_file(tmp_path: Path) -> None:
    """Hex tokens have no pattern: in a log they are found because they are known elsewhere.
    OpenClaw's config audit log keeps the argv of `openclaw config set hooks.token <token>`."""
    import secrets

    home = tmp_path / "home"
    state = home / ".openclaw"
    (state / "logs").mkdir(parents=True)
    gateway, hooks = secrets.token_hex(24), secrets.token_hex(24)
    (state / "openclaw.json").write_text(json.dumps(
        {"gateway": {"auth": {"mode": "token", "token": gateway}},
         "hooks": {"enabled": True, "token": hooks}}))
    argv = ["/usr/bin/node", "/usr/lib/node_modules/openclaw/openclaw.mjs", "config", "set",
            "hooks.token", hooks]
    audit = state / "logs" / "config-audit.jsonl"
    audit.write_text(json.dumps({"event": "config.write", "argv": argv[:2]}) + "\n"
                     + json.dumps({"event": "config.write", "argv": argv}) + "\n")
    tmp = tmp_path / "tmp"
    (tmp / "openclaw").mkdir(parents=True)
    log = tmp / "openclaw" / "openclaw-2026-12-06.log"
    # The gateway token once, and once as the start of a longer token (not the secret).
    log.write_text(f'{{"msg":"probe ok"}}\n{{"auth":"{gateway}"}}\n{{"id":"{gateway}ff00"}}\n')

    inventory = discover(user_home=home, tmp_dirs=[tmp])

    by_key = {c.kind: c for c in inventory.credentials}
    assert Location(str(audit), "line 2") in by_key["openclaw:hooks_token"].locations
    gateway_places = by_key["openclaw:gateway_token"].locations
    assert Location(str(log), "line 2") in gateway_places
    assert Location(str(log), "line 3") not in gateway_places
    assert len(inventory.credentials) == 2


def test_the_agent_s_own_kinds_are_the_ones_the_responder_names(era_inventory: Inventory) -> None:
    """Discovery names OpenClaw's and WhatsApp's secrets with responders.openclaw.kinds, which
    the responder's rotate/clear/logout tables are keyed by: a kind spelled differently in one
    place would leave that secret unhandled."""
    named = {value for name, value in vars(kinds).items() if name.startswith("KIND_")}
    reported = {c.kind for c in era_inventory.credentials if c.provider in {"openclaw", "whatsapp"}}
    assert reported - named == set()
    # The sample home plants the pairing and sidecar stores the constants now name.
    assert {kinds.KIND_DEVICE_TOKEN, kinds.KIND_DEVICE_KEY, kinds.KIND_EXEC_APPROVALS_TOKEN,
            kinds.KIND_SIDECAR_KEY, kinds.KIND_WHATSAPP, kinds.KIND_GATEWAY_TOKEN} <= reported
