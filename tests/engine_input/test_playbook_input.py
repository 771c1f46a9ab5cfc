"""Playbooks: valid ones load; each malformed one names file:line:column and what was expected."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel, ConfigDict, Field

from clawback.errors import EXIT_BAD_INPUT, BadInput
from clawback.playbook import LoadedPlaybook, Playbook, load_playbook


class SnapshotParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    volatile: bool = False


class RevokeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    rotate: bool = False
    verify: bool = True
    concurrency: int = Field(default=16, ge=1)


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CollectParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    directory: str  # required: a step using it without `with:` is an error


InputWriter = Callable[..., Path]  # the write_input fixture

ACTIONS: dict[str, type[BaseModel]] = {
    "host.snapshot": SnapshotParams,
    "host.stop_service": NoParams,
    "host.cut_network": NoParams,
    "host.collect": CollectParams,
    "keys.revoke_all": RevokeParams,
}
VARIABLES = ("cut_network", "dry_run", "yes")

CONTAIN = """\
name: contain
description: stop the agent and kill its keys
steps:
  - id: volatile
    uses: host.snapshot
    with: {volatile: true}
  - id: stop
    uses: host.stop_service
    timeout: 30
    retries: 2
  - id: revoke
    uses: keys.revoke_all
    with:
      rotate: true
      verify: true
  - id: evidence
    uses: host.snapshot
    with:
  - id: isolate
    uses: host.cut_network
    when: "{{ cut_network and steps.revoke.ok and not dry_run }}"
    approve: true
    description: cut every connection but ssh
"""


def position(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, column) of the n-th ``needle`` in ``text``."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def load(path: Path) -> LoadedPlaybook:
    return load_playbook(path, actions=ACTIONS, variables=VARIABLES)


def refused(path: Path) -> BadInput:
    with pytest.raises(BadInput) as caught:
        load(path)
    error = caught.value
    assert error.exit_code == EXIT_BAD_INPUT
    assert error.path == str(path)
    assert str(error).startswith(f"{path}:")
    return error


# --------------------------------------------------------------------------------------------
# Valid playbooks
# --------------------------------------------------------------------------------------------


def test_valid_playbook_loads_with_params_conditions_and_hash(write_input: InputWriter) -> None:
    path = write_input("contain.yaml", CONTAIN)
    loaded = load(path)

    assert loaded.path == path
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert isinstance(loaded.playbook, Playbook)
    assert [s.id for s in loaded.playbook.steps] == [
        "volatile", "stop", "revoke", "evidence", "isolate",
    ]  # fmt: skip
    stop = loaded.playbook.steps[1]
    assert (stop.timeout, stop.retries, stop.approve) == (30.0, 2, False)
    isolate = loaded.playbook.steps[4]
    assert isolate.approve is True
    assert isolate.description == "cut every connection but ssh"

    assert loaded.params["volatile"] == SnapshotParams(volatile=True)
    assert loaded.params["revoke"] == RevokeParams(rotate=True, verify=True)
    assert loaded.params["evidence"] == SnapshotParams()  # a bare `with:` means no parameters
    assert loaded.params["stop"] == NoParams()
    assert set(loaded.when) == {"isolate"}
    condition = loaded.when["isolate"]
    assert condition.steps_used == {"revoke"}
    assert condition.evaluate({"cut_network": True, "dry_run": False}, {"revoke": "ok"})
    assert not condition.evaluate({"cut_network": True, "dry_run": False}, {"revoke": "failed"})


def test_loaded_playbook_is_read_only(write_input: InputWriter) -> None:
    loaded = load(write_input("contain.yaml", CONTAIN))
    with pytest.raises(AttributeError):
        loaded.sha256 = "0" * 64  # type: ignore[misc]
    with pytest.raises(TypeError):
        loaded.params["stop"] = NoParams()  # type: ignore[index]
    with pytest.raises(ValueError, match="frozen"):
        loaded.playbook.steps[0].uses = "host.cut_network"  # type: ignore[misc]


def test_hash_is_of_the_exact_bytes(write_input: InputWriter) -> None:
    a = load(write_input("a.yaml", CONTAIN))
    b = load(write_input("b.yaml", CONTAIN + "# trailing comment\n"))
    assert a.playbook == b.playbook
    assert a.sha256 != b.sha256


def test_loading_has_no_side_effects(write_input: InputWriter, tmp_path: Path) -> None:
    path = write_input("contain.yaml", CONTAIN)
    before = sorted(p for p in tmp_path.rglob("*"))
    mtime = path.stat().st_mtime_ns
    load(path)
    with pytest.raises(BadInput):
        load(write_input("bad.yaml", "name: x\nsteps: []\n"))
    after = sorted(p for p in tmp_path.rglob("*"))
    assert after == sorted([*before, tmp_path / "bad.yaml"])
    assert path.stat().st_mtime_ns == mtime


def test_anchors_and_merge_keys(write_input: InputWriter) -> None:
    text = (
        "name: contain\nsteps:\n"
        "  - &careful {id: stop, uses: host.stop_service, timeout: 5, retries: 3}\n"
        "  - <<: *careful\n    id: stop-again\n    retries: 1\n"
        "  - <<: *careful\n    id: stop-late\n    retries: 12\n"
    )
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == position(text, "12")
    assert "less than or equal to 10" in error.message

    loaded = load(write_input("ok.yaml", text.replace("retries: 12", "retries: 2")))
    second = loaded.playbook.steps[1]
    assert (second.id, second.uses, second.timeout, second.retries) == (
        "stop-again", "host.stop_service", 5.0, 1,
    )  # fmt: skip


def test_yes_is_a_boolean_key_in_yaml_11(write_input: InputWriter) -> None:
    # `yes:` as a key is the boolean True to PyYAML; the error must still find its line.
    text = "name: contain\nsteps:\n  - id: a\n    uses: host.snapshot\n    yes: 1\n"
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == (5, 5)
    assert "'yes' is read by YAML as a boolean" in error.message
    assert "quote it" in error.message


# --------------------------------------------------------------------------------------------
# YAML-level errors
# --------------------------------------------------------------------------------------------


def test_yaml_syntax_error(write_input: InputWriter) -> None:
    text = "name: contain\nsteps:\n  - id: stop\n    uses: [host.stop_service\n"
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == (5, 1)
    assert "invalid YAML" in error.message
    assert "expected ',' or ']'" in error.message
    assert "line 4" in error.message  # where the unclosed list started


def test_tab_indentation(write_input: InputWriter) -> None:
    text = "name: contain\nsteps:\n  - id: stop\n\tuses: host.stop_service\n"
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == (4, 1)
    assert "spaces, not tabs" in error.message


def test_duplicate_mapping_key_points_at_the_second(write_input: InputWriter) -> None:
    text = (
        "name: contain\nsteps:\n  - id: stop\n    uses: host.stop_service\n"
        "    approve: false\n    approve: true\n"
    )
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == (6, 5)
    assert "duplicate key 'approve'" in error.message
    assert "first at line 5" in error.message


def test_duplicate_top_level_key(write_input: InputWriter) -> None:
    text = "name: contain\nsteps:\n  - id: a\n    uses: host.snapshot\nname: other\n"
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == (5, 1)
    assert "duplicate key 'name'" in error.message


def test_empty_file(write_input: InputWriter) -> None:
    error = refused(write_input("p.yaml", "# nothing here\n"))
    assert (error.line, error.column) == (1, 1)
    assert "empty" in error.message
    assert "name:" in error.message and "steps:" in error.message


def test_top_level_must_be_a_mapping(write_input: InputWriter) -> None:
    error = refused(write_input("p.yaml", "- id: stop\n  uses: host.stop_service\n"))
    assert (error.line, error.column) == (1, 1)
    assert "expected a mapping" in error.message
    assert "got a list" in error.message


def test_two_documents(write_input: InputWriter) -> None:
    text = "name: a\nsteps:\n  - {id: a, uses: host.snapshot}\n---\nname: b\n"
    error = refused(write_input("p.yaml", text))
    assert error.line == 4
    assert "single document" in error.message


def test_not_utf8(write_input: InputWriter) -> None:
    error = refused(write_input("p.yaml", b"name: contain\nsteps:\n  - id: \xff\n"))
    assert error.line == 3
    assert "UTF-8" in error.message


# --------------------------------------------------------------------------------------------
# Schema errors
# --------------------------------------------------------------------------------------------


def test_wrong_type_for_approve(write_input: InputWriter) -> None:
    text = CONTAIN.replace("approve: true", 'approve: "yes"')
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == position(text, '"yes"')
    assert "approve" in error.message
    assert "expected true or false" in error.message
    assert "got a string" in error.message
    assert "step 'isolate'" in error.message


def test_unknown_key_in_step(write_input: InputWriter) -> None:
    text = CONTAIN.replace("    retries: 2\n", "    retry: 2\n")
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == position(text, "retry:")
    assert "unknown key 'retry'" in error.message
    assert "Did you mean 'retries'?" in error.message
    assert "allowed keys: approve, description, id, retries, timeout, uses, when, with" in (
        error.message
    )


def test_unknown_top_level_key(write_input: InputWriter) -> None:
    text = "name: contain\nversoin: 2\nsteps:\n  - {id: a, uses: host.snapshot}\n"
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == (2, 1)
    assert "unknown key 'versoin'" in error.message
    assert "allowed keys: description, name, steps" in error.message


def test_missing_uses(write_input: InputWriter) -> None:
    text = CONTAIN.replace("    uses: host.stop_service\n", "")
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == position(text, "id: stop")
    assert "missing required key 'uses'" in error.message
    assert "step 'stop'" in error.message
    assert "uses: host.snapshot" in error.message  # an example of what to write


def test_missing_name(write_input: InputWriter) -> None:
    text = "steps:\n  - {id: a, uses: host.snapshot}\n"
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == (1, 1)
    assert "missing required key 'name'" in error.message


def test_empty_steps(write_input: InputWriter) -> None:
    text = "name: contain\nsteps: []\n"
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == (2, 8)
    assert "at least one step" in error.message


def test_bad_step_id(write_input: InputWriter) -> None:
    text = CONTAIN.replace("id: revoke", "id: Revoke Keys")
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == position(text, "Revoke Keys")
    assert "lowercase letters" in error.message


@pytest.mark.parametrize(
    ("replacement", "expected"),
    [
        ("timeout: 0", "greater than 0"),
        ("timeout: fast", "expected a valid number"),
        ("retries: 11", "less than or equal to 10"),
        ("retries: true", "expected a valid integer"),
    ],
)
def test_timeout_and_retries_bounds(
    write_input: InputWriter, replacement: str, expected: str
) -> None:
    field = replacement.split(":")[0]
    text = CONTAIN.replace("timeout: 30" if field == "timeout" else "retries: 2", replacement)
    error = refused(write_input("p.yaml", text))
    line, key_column = position(text, replacement)
    assert (error.line, error.column) == (line, key_column + len(f"{field}: "))
    assert expected in error.message


def test_unquoted_when_is_explained(write_input: InputWriter) -> None:
    # Unquoted, YAML reads {{ ... }} as a flow mapping.
    text = CONTAIN.replace(
        'when: "{{ cut_network and steps.revoke.ok and not dry_run }}"', "when: {{ cut_network }}"
    )
    error = refused(write_input("p.yaml", text))
    line, column = position(text, "{{ cut_network }}")
    # YAML itself fails on the inner mapping, used as a key.
    assert (error.line, error.column) == (line, column + 1)
    assert 'quote it: when: "{{ ... }}"' in error.message


def test_all_schema_errors_are_listed(write_input: InputWriter) -> None:
    text = CONTAIN.replace("approve: true", "approve: 1").replace("retries: 2", "retries: -1")
    error = refused(write_input("p.yaml", text))
    # The first in file order leads; the other follows with its own position.
    assert (error.line, error.column) == position(text, "-1")
    approve_line, approve_column = position(text, "approve: 1")
    assert f"also {error.path}:{approve_line}:{approve_column + 9}: approve" in error.message


# --------------------------------------------------------------------------------------------
# Semantic errors: ids, actions, parameters
# --------------------------------------------------------------------------------------------


def test_duplicate_step_id_points_at_the_second(write_input: InputWriter) -> None:
    text = CONTAIN.replace("id: evidence", "id: volatile")
    error = refused(write_input("p.yaml", text))
    line, column = position(text, "id: volatile", 2)
    assert (error.line, error.column) == (line, column + len("id: "))
    first_line, _ = position(text, "id: volatile", 1)
    assert "duplicate step id 'volatile'" in error.message
    assert f"first used at line {first_line}" in error.message


def test_unknown_uses_lists_the_known_ones(write_input: InputWriter) -> None:
    text = CONTAIN.replace("uses: keys.revoke_all", "uses: keys.revok_all")
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == position(text, "keys.revok_all")
    assert "unknown action 'keys.revok_all'" in error.message
    assert "Did you mean 'keys.revoke_all'?" in error.message
    assert (
        "Known actions: host.collect, host.cut_network, host.snapshot, host.stop_service, "
        "keys.revoke_all" in error.message
    )


def test_bad_with_param_type(write_input: InputWriter) -> None:
    text = CONTAIN.replace("      rotate: true\n", "      rotate: sometimes\n")
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == position(text, "sometimes")
    assert "rotate" in error.message
    assert "with: of step 'revoke' (keys.revoke_all)" in error.message
    assert "expected true or false" in error.message


def test_unknown_with_param(write_input: InputWriter) -> None:
    text = CONTAIN.replace("{volatile: true}", "{volatil: true}")
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == position(text, "volatil:")
    assert "unknown key 'volatil'" in error.message
    assert "allowed keys: volatile" in error.message
    assert "Did you mean 'volatile'?" in error.message


def test_with_param_out_of_range(write_input: InputWriter) -> None:
    text = CONTAIN.replace("      verify: true\n", "      verify: true\n      concurrency: 0\n")
    error = refused(write_input("p.yaml", text))
    line, key_column = position(text, "concurrency: 0")
    assert (error.line, error.column) == (line, key_column + len("concurrency: "))
    assert "concurrency" in error.message
    assert "greater than or equal to 1" in error.message


def test_missing_required_with_param(write_input: InputWriter) -> None:
    text = CONTAIN.replace("    uses: host.stop_service\n", "    uses: host.collect\n")
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == position(text, "id: stop")
    assert "missing required key 'directory'" in error.message
    assert "step 'stop' (host.collect)" in error.message


# --------------------------------------------------------------------------------------------
# when: errors, located inside the string
# --------------------------------------------------------------------------------------------

WHEN = '"{{ cut_network and steps.revoke.ok and not dry_run }}"'


def with_when(condition: str) -> str:
    return CONTAIN.replace(WHEN, condition)


def test_when_syntax_error(write_input: InputWriter) -> None:
    text = with_when('"{{ cut_network && steps.revoke.ok }}"')
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == position(text, "&&")
    assert "unexpected '&'" in error.message
    assert "write 'and'" in error.message
    assert "step 'isolate'" in error.message


def test_when_without_braces(write_input: InputWriter) -> None:
    text = with_when("cut_network")
    error = refused(write_input("p.yaml", text))
    line, column = position(text, "when: cut_network")
    assert (error.line, error.column) == (line, column + len("when: "))
    assert "double braces" in error.message


def test_when_unknown_variable(write_input: InputWriter) -> None:
    text = with_when("'{{ cut_netwrok }}'")
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == position(text, "cut_netwrok")
    assert "unknown name 'cut_netwrok'" in error.message
    assert "known variables: cut_network, dry_run, yes" in error.message
    assert "Did you mean 'cut_network'?" in error.message


def test_when_forward_reference(write_input: InputWriter) -> None:
    text = CONTAIN.replace(
        "    timeout: 30\n", '    timeout: 30\n    when: "{{ steps.evidence.ok }}"\n'
    )
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == position(text, "steps.evidence.ok")
    assert "forward reference" in error.message
    assert "step 'stop'" in error.message
    assert "Earlier steps: volatile" in error.message


def test_when_cycle_on_itself(write_input: InputWriter) -> None:
    text = with_when('"{{ not steps.isolate.failed }}"')
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == position(text, "steps.isolate.failed")
    assert "cycle" in error.message


def test_when_unknown_status(write_input: InputWriter) -> None:
    text = with_when('"{{ steps.revoke.done }}"')
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == position(text, "steps.revoke.done")
    assert "ok, failed, skipped, manual, refused" in error.message


def test_when_in_block_scalar_points_at_the_scalar(write_input: InputWriter) -> None:
    # Inside a multi-line scalar an exact column is not knowable; the scalar's start is.
    text = with_when("|\n      {{ bogus }}")
    error = refused(write_input("p.yaml", text))
    assert (error.line, error.column) == position(text, "|\n      {{ bogus")
    assert "unknown name 'bogus'" in error.message


# --------------------------------------------------------------------------------------------
# Who may edit the playbook
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "who"), [(0o602, "world"), (0o620, "group"), (0o666, "both")])
def test_writable_by_others_is_refused(write_input: InputWriter, mode: int, who: str) -> None:
    path = write_input("p.yaml", CONTAIN, mode=mode)
    error = refused(path)
    assert "writable by group or others" in error.message
    assert f"chmod 600 {path}" in error.message
    assert f"{mode:04o}" in error.message


def test_readable_by_others_is_allowed(write_input: InputWriter) -> None:
    # Like ssh: only write access by others is a risk to what runs.
    assert load(write_input("p.yaml", CONTAIN, mode=0o644)).playbook.name == "contain"


def test_owned_by_another_user_is_refused(
    write_input: InputWriter, shared_conftest: ModuleType
) -> None:
    shared_conftest.require_root()
    path = write_input("p.yaml", CONTAIN)
    os.chown(path, 65534, 65534)
    error = refused(path)
    assert "uid 65534" in error.message
    assert "not by you or root" in error.message
    assert f"chmod 600 {path}" in error.message


def test_owned_by_root_is_allowed(write_input: InputWriter, shared_conftest: ModuleType) -> None:
    shared_conftest.require_root()
    path = write_input("p.yaml", CONTAIN)
    os.chown(path, 0, 0)
    assert load(path).playbook.name == "contain"


def test_missing_file(tmp_path: Path) -> None:
    error = refused(tmp_path / "nope.yaml")
    assert "not found" in error.message


def test_directory_is_not_a_playbook(tmp_path: Path) -> None:
    directory = tmp_path / "dir.yaml"
    directory.mkdir(mode=0o700)
    assert "not a regular file" in refused(directory).message
