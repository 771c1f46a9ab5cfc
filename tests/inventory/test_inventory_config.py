"""JSON5 config loading: $include confinement, depth, cycles, merging, and what discovery does."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from responders.interface import Location
from responders.openclaw.discovery import (
    MAX_INCLUDE_DEPTH,
    UnreadableConfig,
    discover,
    format_key_path,
    load_config,
)

TELEGRAM = "123456789:AA" + "b7" * 16 + "c"


def _state(tmp_path: Path) -> Path:
    state = tmp_path / "home" / ".openclaw"
    state.mkdir(parents=True)
    return state


def test_include_escaping_the_config_dir_is_refused_and_not_read(tmp_path: Path) -> None:
    state = _state(tmp_path)
    outside = tmp_path / "home" / "outside.json5"
    outside.write_text(json.dumps({"channels": {"telegram": {"botToken": TELEGRAM}}}))
    gateway_token = "c4" * 24
    (state / "openclaw.json").write_text(
        '{ $include: "../outside.json5", gateway: { auth: { token: "' + gateway_token + '" } } }'
    )
    inventory = discover(user_home=tmp_path / "home", system_service_dirs=())
    assert [c.kind for c in inventory.credentials] == ["openclaw:gateway_token"]
    (note,) = [n for n in inventory.notes if "$include" in n]
    assert "outside the config directory" in note and "refused" in note
    assert TELEGRAM not in json.dumps(inventory.as_dict())

    with pytest.raises(UnreadableConfig) as raised:
        load_config(state / "openclaw.json", strict=True)
    assert raised.value.path == str(state / "openclaw.json")
    assert "outside the config directory" in raised.value.message


def test_include_through_a_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    state = _state(tmp_path)
    secret_elsewhere = tmp_path / "elsewhere.json5"
    secret_elsewhere.write_text(json.dumps({"hooks": {"token": "d5" * 24}}))
    os.symlink(secret_elsewhere, state / "hooks.json5")
    (state / "openclaw.json").write_text('{ $include: "./hooks.json5" }')
    loaded = load_config(state / "openclaw.json")
    assert loaded.merged == {}
    assert [p.path.name for p in loaded.parts] == ["openclaw.json"]
    # No link is followed in the agent's files: the include is refused as a link.
    assert any("hooks.json5" in p and "symbolic link" in p for p in loaded.problems)


def test_include_depth_is_limited(tmp_path: Path) -> None:
    state = _state(tmp_path)

    def chain(length: int, secret: str) -> Path:
        for level in range(length):
            target = f"level{level + 1}.json5"
            content: dict[str, object] = {"$include": f"./{target}"}
            (state / f"level{level}.json5").write_text(json.dumps(content))
        (state / f"level{length}.json5").write_text(json.dumps({"hooks": {"token": secret}}))
        return state / "level0.json5"

    deep_enough = load_config(chain(MAX_INCLUDE_DEPTH, "e6" * 24))
    assert deep_enough.problems == ()
    assert deep_enough.merged == {"hooks": {"token": "e6" * 24}}

    for path in state.iterdir():
        path.unlink()
    too_deep = load_config(chain(MAX_INCLUDE_DEPTH + 1, "f7" * 24))
    assert too_deep.merged == {}
    assert any(f"deeper than {MAX_INCLUDE_DEPTH}" in p for p in too_deep.problems)


def test_circular_include_is_reported_once_and_stops(tmp_path: Path) -> None:
    state = _state(tmp_path)
    (state / "a.json5").write_text('{ $include: "./b.json5", a: 1 }')
    (state / "b.json5").write_text('{ $include: "./a.json5", b: 2 }')
    loaded = load_config(state / "a.json5")
    assert loaded.merged == {"a": 1, "b": 2}
    assert len([p for p in loaded.problems if "circular" in p]) == 1


def test_siblings_override_included_values_and_keys_are_per_file(tmp_path: Path) -> None:
    state = _state(tmp_path)
    (state / "gw.json5").write_text(
        '// included\n{ port: 1111, bind: "lan", auth: { mode: "token", token: "'
        + "a8" * 24
        + '" } }'
    )
    (state / "openclaw.json").write_text(
        '{ gateway: { $include: "./gw.json5", port: 2222, bind: "loopback" } }'
    )
    loaded = load_config(state / "openclaw.json")
    assert loaded.merged["gateway"]["port"] == 2222
    assert loaded.merged["gateway"]["bind"] == "loopback"
    assert loaded.merged["gateway"]["auth"]["mode"] == "token"
    assert [(p.path.name, p.mount) for p in loaded.parts] == [
        ("openclaw.json", ()),
        ("gw.json5", ("gateway",)),
    ]
    inventory = discover(user_home=tmp_path / "home", system_service_dirs=())
    (cred,) = inventory.credentials
    # Classified by its place in the whole config, located by its place inside its own file.
    assert cred.kind == "openclaw:gateway_token"
    assert cred.locations == (Location(str(state / "gw.json5"), "auth.token"),)
    assert inventory.gateway is not None and inventory.gateway.port == 2222


def test_parse_error_names_line_and_column(tmp_path: Path) -> None:
    state = _state(tmp_path)
    (state / "openclaw.json").write_text("{\n  gateway: {\n    port: 18789 18790,\n  },\n}\n")
    loaded = load_config(state / "openclaw.json")
    (problem,) = loaded.problems
    assert problem.startswith(f"{state / 'openclaw.json'}:3:")
    with pytest.raises(UnreadableConfig) as raised:
        load_config(state / "openclaw.json", strict=True)
    assert raised.value.path == str(state / "openclaw.json")
    assert "not valid JSON5" in raised.value.message


def test_key_paths_quote_segments_that_would_be_ambiguous() -> None:
    assert format_key_path(("gateway", "auth", "token")) == "gateway.auth.token"
    assert (
        format_key_path(("profiles", "anthropic:default", "key"))
        == "profiles.anthropic:default.key"
    )
    assert (
        format_key_path(("profiles", "openai-codex:me@example.com", "access"))
        == 'profiles["openai-codex:me@example.com"].access'
    )
    assert format_key_path(("agents", "list", 1, "id")) == "agents.list[1].id"
    assert format_key_path(("a b", "c")) == '["a b"].c'
