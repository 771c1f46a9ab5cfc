"""clawback.toml: valid files load; each malformed one names file:line:column and never a secret."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from clawback.config import (
    Config,
    find_config,
    load_config,
    looks_like_credential_key,
    reference_problem,
)
from clawback.errors import EXIT_BAD_INPUT, BadInput
from responders.interface import fingerprint

InputWriter = Callable[..., Path]  # the write_input fixture
PROVIDERS = ("aws", "github", "openai", "slack")

VALID = """\
# clawback configuration
[agent]
state_dirs = ["~/.openclaw", "/srv/agent/.openclaw"]
user_home = "~"
tmp_dirs = ["/tmp", "~/tmp"]
uid = 1000
gateway_port = 18789

[[agent.services]]
kind = "supervisord"
name = "openclaw-gateway"
socket = "unix:///run/supervisor.sock"
supervisor_config = "~/supervisord.conf"

[[agent.services]]
kind = "pidfile"
name = "worker"
pidfile = "/run/worker.pid"

[evidence]
max_file_bytes = 536870912
max_total_bytes = 4294967296

[network]
ssh_port = 2222
admin_sources = [
  "203.0.113.7/32",   # office
  "2001:db8::1",
]
rollback_minutes = 5

[providers.aws]
admin_secret_access_key = "keyring:clawback/aws-admin"
admin_access_key_id = "env:AWS_ADMIN_KEY_ID"
endpoint_url = "http://127.0.0.1:5000"
region = "eu-west-1"

[providers.github]
token = "env:GITHUB_ADMIN_TOKEN"
org = "example"
"""


def position(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, column) of the n-th ``needle`` in ``text``."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def value_position(text: str, assignment: str) -> tuple[int, int]:
    """Where the value of ``key = value`` (given verbatim) starts."""
    line, column = position(text, assignment)
    return line, column + assignment.index("=") + 2


def load(path: Path) -> Config:
    return load_config(path, known_providers=PROVIDERS)


def refused(path: Path) -> BadInput:
    with pytest.raises(BadInput) as caught:
        load(path)
    error = caught.value
    assert error.exit_code == EXIT_BAD_INPUT
    assert error.path == str(path)
    return error


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


# --------------------------------------------------------------------------------------------
# Valid configs
# --------------------------------------------------------------------------------------------


def test_valid_config_loads_and_expands_home(write_input: InputWriter, home: Path) -> None:
    config = load(write_input("clawback.toml", VALID))
    assert config.agent.state_dirs == [home / ".openclaw", Path("/srv/agent/.openclaw")]
    assert config.agent.user_home == home
    assert config.agent.tmp_dirs == [Path("/tmp"), home / "tmp"]
    assert config.agent.services[0].supervisor_config == home / "supervisord.conf"
    assert config.agent.services[1].pidfile == Path("/run/worker.pid")
    assert config.network.admin_sources == ["203.0.113.7/32", "2001:db8::1/128"]

    settings = config.settings()
    assert set(settings) == {"agent", "evidence", "network", "drill"}
    assert settings["drill"] == {"reload_command": [], "health_url": None, "grace_seconds": 60.0}
    assert settings["agent"]["state_dirs"] == [str(home / ".openclaw"), "/srv/agent/.openclaw"]
    assert settings["agent"]["uid"] == 1000
    assert settings["agent"]["services"][0]["kind"] == "supervisord"
    assert settings["evidence"] == {"max_file_bytes": 536870912, "max_total_bytes": 4294967296,
                                    "system_root": "/"}
    assert settings["network"]["ssh_port"] == 2222

    aws = config.provider("aws")
    assert aws["admin_secret_access_key"] == "keyring:clawback/aws-admin"
    aws["region"] = "changed"
    assert config.provider("aws")["region"] == "eu-west-1"  # a copy, not the config itself
    assert config.provider("openai") == {}


def test_locations_of_loaded_config(write_input: InputWriter) -> None:
    config = load(write_input("clawback.toml", VALID))
    assert (
        config.line_of("providers", "aws", "admin_secret_access_key")
        == (position(VALID, "admin_secret_access_key")[0])
    )
    assert config.location_of("agent", "services", 1, "name") == value_position(
        VALID, 'name = "worker"'
    )
    assert config.location_of("network", "admin_sources", 1) == position(VALID, '"2001:db8::1"')
    assert config.location_of("nowhere") is None


def test_defaults_without_a_file(home: Path) -> None:
    config = load_config(None, known_providers=PROVIDERS)
    assert config.source is None
    settings = config.settings()
    assert settings["agent"]["state_dirs"] == []  # empty: discovered
    assert settings["agent"]["user_home"] == str(home)
    assert settings["agent"]["tmp_dirs"] == ["/tmp"]
    assert settings["agent"]["gateway_port"] == 18789
    assert settings["evidence"] == {"max_file_bytes": 512 * 1024**2, "max_total_bytes": 4 * 1024**3,
                                    "system_root": "/"}
    assert settings["network"] == {"ssh_port": 22, "admin_sources": [], "rollback_minutes": 5}
    assert config.providers == {}


def test_find_config_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_input: InputWriter
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    xdg = Path(os.environ["XDG_CONFIG_HOME"])
    assert find_config(None) is None

    in_xdg = xdg / "clawback" / "clawback.toml"
    in_xdg.parent.mkdir(parents=True)
    in_xdg.write_text("")
    assert find_config(None) == in_xdg

    local = work / "clawback.toml"
    local.write_text("")
    assert find_config(None) == local

    explicit = tmp_path / "elsewhere.toml"
    assert find_config(explicit) == explicit  # even missing: load_config then says so
    assert "not found" in refused(explicit).message


def test_find_config_ignores_relative_xdg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    default = home / ".config" / "clawback" / "clawback.toml"
    default.parent.mkdir(parents=True)
    default.write_text("")
    assert find_config(None) == default


# --------------------------------------------------------------------------------------------
# TOML syntax
# --------------------------------------------------------------------------------------------


def test_toml_syntax_error(write_input: InputWriter) -> None:
    text = VALID.replace("uid = 1000", "uid = = 1000")
    error = refused(write_input("c.toml", text))
    line, column = position(text, "uid = = 1000")
    assert (error.line, error.column) == (line, column + len("uid = "))
    assert error.message == "invalid TOML: Invalid value"
    assert str(error) == f"{error.path}:{line}:{column + 6}: invalid TOML: Invalid value"


def test_toml_error_at_end_of_document(write_input: InputWriter) -> None:
    text = '[agent]\nuser_home = "/home/x\n'
    error = refused(write_input("c.toml", text))
    assert error.line == 2
    assert "Unterminated string" in error.message or "Illegal character" in error.message


def test_toml_duplicate_key(write_input: InputWriter) -> None:
    text = "[network]\nssh_port = 22\nssh_port = 2222\n"
    error = refused(write_input("c.toml", text))
    assert error.line == 3
    assert "defined twice" in error.message


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


def test_wrong_type_in_agent(write_input: InputWriter) -> None:
    text = VALID.replace("uid = 1000", 'uid = "1000"')
    error = refused(write_input("c.toml", text))
    assert (error.line, error.column) == value_position(text, 'uid = "1000"')
    assert error.message == "agent.uid: expected a valid integer, got a string"


def test_unknown_table(write_input: InputWriter) -> None:
    text = VALID.replace("[evidence]", "[evidense]")
    error = refused(write_input("c.toml", text))
    line, column = position(text, "[evidense]")
    assert (error.line, error.column) == (line, column + 1)
    assert "unknown table or key 'evidense'" in error.message
    assert "Did you mean 'evidence'?" in error.message
    allowed = ("allowed: agent, audit, drill, evidence, fleet, hosts, investigate, network, "
               "notify, providers")
    assert allowed in error.message


def test_a_drill_health_url_must_stay_on_this_machine(write_input: InputWriter) -> None:
    text = VALID + '\n[drill]\nhealth_url = "http://203.0.113.9/health"\n'
    error = refused(write_input("c.toml", text))
    assert error.line == text.splitlines().index('health_url = "http://203.0.113.9/health"') + 1
    assert "drill.health_url" in error.message and "127.0.0.1" in error.message


def test_unknown_key_in_second_service(write_input: InputWriter) -> None:
    text = VALID.replace('pidfile = "/run/worker.pid"', 'pid_file = "/run/worker.pid"')
    error = refused(write_input("c.toml", text))
    assert (error.line, error.column) == position(text, "pid_file")
    assert "unknown key 'pid_file' in [[agent.services]] #2" in error.message
    assert "Did you mean 'pidfile'?" in error.message


def test_bad_service_kind(write_input: InputWriter) -> None:
    text = VALID.replace('kind = "supervisord"', 'kind = "supervisor"')
    error = refused(write_input("c.toml", text))
    assert (error.line, error.column) == value_position(text, 'kind = "supervisor"')
    assert "agent.services[0].kind" in error.message
    assert "'systemd', 'systemd-user', 'launchd', 'docker', 'compose'" in error.message


def test_pidfile_service_needs_a_pidfile(write_input: InputWriter) -> None:
    text = VALID.replace('pidfile = "/run/worker.pid"\n', "")
    error = refused(write_input("c.toml", text))
    assert error.line == position(text, "[[agent.services]]", 2)[0]
    assert 'needs pidfile = "/path/to/agent.pid"' in error.message


def test_bad_address_in_multiline_array(write_input: InputWriter) -> None:
    text = VALID.replace('"2001:db8::1"', '"2001:db8::zz"')
    error = refused(write_input("c.toml", text))
    assert (error.line, error.column) == position(text, '"2001:db8::zz"')
    assert "network.admin_sources[1]" in error.message
    assert "not an IP address or network" in error.message


def test_port_out_of_range(write_input: InputWriter) -> None:
    text = VALID.replace("gateway_port = 18789", "gateway_port = 70000")
    error = refused(write_input("c.toml", text))
    assert (error.line, error.column) == value_position(text, "gateway_port = 70000")
    assert "less than or equal to 65535" in error.message


def test_inline_and_dotted_keys_are_located(write_input: InputWriter) -> None:
    text = 'agent.uid = 5\nnetwork = { ssh_port = 22, rollback_minutes = "soon" }\n'
    error = refused(write_input("c.toml", text))
    assert (error.line, error.column) == position(text, '"soon"')
    assert "network.rollback_minutes" in error.message


def test_every_schema_error_is_listed(write_input: InputWriter) -> None:
    text = VALID.replace("ssh_port = 2222", "ssh_port = true").replace("uid = 1000", "uid = -1")
    error = refused(write_input("c.toml", text))
    assert (error.line, error.column) == value_position(text, "uid = -1")
    ssh_line, ssh_column = value_position(text, "ssh_port = true")
    assert f"also {error.path}:{ssh_line}:{ssh_column}: network.ssh_port" in error.message


# --------------------------------------------------------------------------------------------
# Providers and credentials
# --------------------------------------------------------------------------------------------


def test_unknown_provider_table(write_input: InputWriter) -> None:
    text = VALID.replace("[providers.github]", "[providers.gihtub]")
    error = refused(write_input("c.toml", text))
    line, column = position(text, "gihtub")
    assert (error.line, error.column) == (line, column)
    assert "unknown provider 'gihtub'" in error.message
    assert "Did you mean 'github'?" in error.message
    assert "Known providers: aws, github, openai, slack" in error.message


def test_literal_secret_under_providers(write_input: InputWriter) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq9Ab3cD4e"  # no recognisable shape: name says it
    text = VALID.replace('"keyring:clawback/aws-admin"', f'"{secret}"')
    error = refused(write_input("c.toml", text))
    assert (error.line, error.column) == value_position(
        text, f'admin_secret_access_key = "{secret}"'
    )
    assert secret not in str(error)
    assert secret[:8] not in str(error)
    assert fingerprint(secret) in error.message
    assert "[providers.aws] admin_secret_access_key" in error.message
    assert "keyring:SERVICE/USER" in error.message and "env:NAME" in error.message


def test_literal_secret_nested_under_providers(write_input: InputWriter) -> None:
    secret = "d1ff3rent-s3cr3t-value-0123456789"
    text = VALID + f'\n[providers.slack.workspaces.main]\nadmin_token = "{secret}"\n'
    error = refused(write_input("c.toml", text))
    assert (error.line, error.column) == value_position(text, f'admin_token = "{secret}"')
    assert "[providers.slack] workspaces.main.admin_token" in error.message
    assert secret not in str(error)


def test_literal_secret_in_a_list_under_providers(write_input: InputWriter) -> None:
    secret = "an0ther-l1teral-t0ken-value-xyz"
    text = VALID + f'\n[providers.openai]\nadmin_keys = ["env:OPENAI_ADMIN", "{secret}"]\n'
    error = refused(write_input("c.toml", text))
    assert (error.line, error.column) == position(text, f'"{secret}"')
    assert "admin_keys[1]" in error.message
    assert secret not in str(error)


@pytest.mark.parametrize(
    ("secret", "original", "replacement"),
    [
        ("AKIAZ3MPLEKEYID12345", 'region = "eu-west-1"', 'region = "{}"'),
        ("ghp_" + "a1B2c3D4" * 5, 'org = "example"', 'org = "{}"'),
        ("sk-proj-" + "Zx9" * 12, "# office", "# {}"),  # in a comment
        ("xoxb-1234567890-0987654321-" + "abcD" * 6, 'name = "worker"', 'name = "{}"'),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", 'name = "worker"', 'name = "w"\nlabel = "{}"'),
        ("sk-ant-api03-" + "Q" * 40, "# clawback configuration", "# {}"),
    ],
)
def test_secret_shaped_literal_anywhere(
    write_input: InputWriter, secret: str, original: str, replacement: str
) -> None:
    text = VALID.replace(original, replacement.format(secret), 1)
    error = refused(write_input("c.toml", text))
    assert (error.line, error.column) == position(text, secret)
    assert secret not in str(error)
    assert fingerprint(secret) in error.message
    assert "holds only references" in error.message


def test_private_key_anywhere(write_input: InputWriter) -> None:
    text = VALID + '\n[providers.openai]\nnote = """\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3B"""\n'
    error = refused(write_input("c.toml", text))
    assert (error.line, error.column) == position(text, "-----BEGIN")
    assert "private key" in error.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("vault:secret/aws", "unsupported reference scheme 'vault'"),
        ("file:/etc/aws", "unsupported reference scheme 'file'"),
        ("keyring:clawback", "must look like keyring:SERVICE/USER"),
        ("keyring:/user", "must look like keyring:SERVICE/USER"),
        ("env:MY-VAR", "must look like env:NAME"),
        ("", "empty credential"),
    ],
)
def test_bad_references(write_input: InputWriter, value: str, expected: str) -> None:
    assignment = f'admin_secret_access_key = "{value}"'
    text = VALID.replace('admin_secret_access_key = "keyring:clawback/aws-admin"', assignment)
    error = refused(write_input("c.toml", text))
    assert (error.line, error.column) == value_position(text, assignment)
    assert expected in error.message


def test_number_under_a_credential_key_is_a_literal(write_input: InputWriter) -> None:
    text = VALID.replace('token = "env:GITHUB_ADMIN_TOKEN"', "token = 12345678901234")
    error = refused(write_input("c.toml", text))
    assert (error.line, error.column) == value_position(text, "token = 12345678901234")
    assert "12345678901234" not in str(error)
    assert "literal credential" in error.message


@pytest.mark.parametrize(
    ("name", "credential"),
    [
        ("token", True),
        ("admin_secret_access_key", True),
        ("api_key", True),
        ("apiKey", True),
        ("password", True),
        ("admin", True),
        ("private_key_pem", True),
        ("client_credentials", True),
        ("admin_access_key_id", False),
        ("endpoint_url", False),
        ("region", False),
        ("org", False),
        ("token_file", False),
        ("admin_user", False),
        ("keyring_service", False),
        ("monkey", False),
    ],
)
def test_credential_key_names(name: str, credential: bool) -> None:
    assert looks_like_credential_key(name) is credential


def test_reference_problem_never_echoes_a_literal() -> None:
    secret = "plainly-a-secret:with-a-colon-123"
    problem = reference_problem(secret)
    assert problem is not None
    assert secret not in problem and "plainly" not in problem
    assert reference_problem("keyring:clawback/aws-admin") is None
    assert reference_problem("env:AWS_ADMIN") is None
    assert reference_problem(True) is None


# --------------------------------------------------------------------------------------------
# Who may edit the config
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o602, 0o620, 0o666])
def test_writable_by_others_is_refused(write_input: InputWriter, mode: int) -> None:
    path = write_input("clawback.toml", VALID, mode=mode)
    error = refused(path)
    assert "writable by group or others" in error.message
    assert f"chmod 600 {path}" in error.message


def test_owned_by_another_user_is_refused(
    write_input: InputWriter, shared_conftest: ModuleType
) -> None:
    shared_conftest.require_root()
    path = write_input("clawback.toml", VALID)
    os.chown(path, 65534, 65534)
    error = refused(path)
    assert "uid 65534" in error.message
    assert f"chmod 600 {path}" in error.message


def test_file_checks_come_before_parsing(write_input: InputWriter) -> None:
    # Even a broken file is refused for its mode first: its content is untrusted.
    error = refused(write_input("clawback.toml", "[[[ broken", mode=0o666))
    assert "writable by group or others" in error.message
    assert error.line is None


# --------------------------------------------------------------------------------------------
# The position scanner on TOML's harder corners
# --------------------------------------------------------------------------------------------

TRICKY = '''\
[agent]  # a [comment] with brackets
"user_home" = "/home/a"   # quoted key

[providers.aws]
note = """
[agent]
fake = "a header and a key inside a multi-line string"
"""
literal = 'C:\\path\\ with "quotes"'
escaped = "a \\" quote and a # hash"
multi_literal = \'\'\'
line = 1\'\'\'
when.dotted.key = 1979-05-27 07:32:00
list_of_tables = [ { name = "x", port = 1 },
  { name = "y", port = 2 } ]  # trailing
nested = [[1, 2], ["a", "b"]]
"quoted.key" = true
after = -3

[[providers.aws.accounts]]
name = "first"

[[providers.aws.accounts]]
name = "second"
[providers.aws.accounts.extra]
deep = 1.5e3
'''


def test_scanner_locates_every_value(write_input: InputWriter) -> None:
    import tomllib

    config = load(write_input("c.toml", TRICKY))
    document = tomllib.loads(TRICKY)
    starts = {bool: "tf", int: "-0123456789", float: "-0123456789", str: "\"'", list: "["}
    lines = TRICKY.splitlines()

    def check(loc: tuple[str | int, ...], value: object) -> None:
        where = config.location_of(*loc)
        assert where is not None, loc
        at = lines[where[0] - 1][where[1] - 1 :]
        if isinstance(value, dict):
            # A table is located at its header or, inline, at its '{'.
            assert at[:1] in "[{" or at.startswith(str(loc[-1])), (loc, at)
            for key, item in value.items():
                check((*loc, key), item)
            return
        if isinstance(value, list):
            for index, item in enumerate(value):
                check((*loc, index), item)
        first = next((chars for t, chars in starts.items() if isinstance(value, t)), "0123456789")
        assert at[:1] in first, (loc, at)

    check(("providers",), document["providers"])
    assert config.agent.user_home == Path("/home/a")
    assert config.location_of("providers", "aws", "list_of_tables", 1, "port") == position(
        TRICKY, "2 }"
    )
    assert config.location_of("providers", "aws", "accounts", 1, "name") == position(
        TRICKY, '"second"'
    )
    assert config.location_of("providers", "aws", "accounts", 1, "extra", "deep") == position(
        TRICKY, "1.5e3"
    )
    assert config.location_of("providers", "aws", "quoted.key") == position(TRICKY, "true")
    assert config.location_of("providers", "aws", "when", "dotted", "key") == position(
        TRICKY, "1979"
    )
    # The fake header inside the string did not move `[agent]`'s position.
    assert config.location_of("agent") == (1, 1)
    assert config.location_of("agent", "user_home") == position(TRICKY, '"/home/a"')


def test_error_after_tricky_constructs_is_located(write_input: InputWriter) -> None:
    text = TRICKY.replace('"user_home" = "/home/a"', '"user_home" = "/home/a"\nuid = "x"')
    text = text + "\n[network]\nssh_port = 'twenty-two'\n"
    error = refused(write_input("c.toml", text))
    assert (error.line, error.column) == value_position(text, 'uid = "x"')
    assert f"also {error.path}:{value_position(text, 'ssh_port = ')[0]}:" in error.message


def test_audit_spend_limits_table_is_accepted_and_typed(tmp_path: Path) -> None:
    from clawback.config import load_config

    path = tmp_path / "clawback.toml"
    path.write_text('[audit]\nspend_limits = { openai = "USD 50/month" }\n')
    os.chmod(path, 0o600)
    config = load_config(path, known_providers=())
    assert config.audit.spend_limits == {"openai": "USD 50/month"}
    path.write_text("[audit]\nspend_limits = { openai = 50 }\n")
    with pytest.raises(BadInput) as caught:
        load_config(path, known_providers=())
    assert caught.value.line == 2
