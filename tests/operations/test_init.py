"""`clawback init` on the sample home: a commented config with every provider found, references
instead of values, what each admin credential needs; it loads as contain loads it, passes the
preflight (which then names what to store), and is never written over an existing file."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path

import pytest

from clawback import cli
from clawback.config import load_config
from clawback.contain import ContainRequest, prepare
from clawback.preflight import run_preflight
from clawback.registry import load_registry
from clawback_demo.home import build_sample_home
from responders.interface import admin_reference
from tests.conftest import MemoryKeyring


@pytest.fixture
def sample(tmp_path: Path):  # type: ignore[no-untyped-def]
    return build_sample_home(tmp_path / "sample", era="both")


def test_init_writes_a_config_that_validates_and_passes_the_preflight(
    sample, tmp_path: Path, memory_keyring: MemoryKeyring,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = tmp_path / "etc" / "clawback.toml"
    code = cli.init(home=str(sample.user_home), output=str(output), json=True)
    document = json.loads(capsys.readouterr().out)
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    text = output.read_text()
    # no value of any secret found, in any form that matters: fingerprints are not even needed
    for planted in sample.planted:
        assert planted.value not in text
    config = tomllib.loads(text)
    registry = load_registry()
    providers = {p.provider for p in sample.planted}
    assert set(document["providers"]) == providers
    # every provider found is named; each one with a responder that needs a table has one
    for provider in providers:
        assert f"# {provider}: " in text
        cls = registry.responder_for_provider(provider)
        if cls is not None and cls.needs_config and not cls.fallback:
            assert cls.name in config["providers"], provider
            setup = cls.setup([])
            assert setup is not None
            for permission in setup.permissions:
                assert " ".join(permission.split()) in " ".join(text.replace("#", " ").split())
    # references, never values, in the shape init proposes
    assert config["providers"]["openai"]["admin_key"] == admin_reference("openai")
    assert all(ref.startswith("keyring:clawback/") for ref in document["references"])
    assert config["agent"]["user_home"] == str(sample.user_home.absolute())

    # it loads exactly as contain loads it (file:line errors, literal secrets refused) ...
    known = {n for n, c in registry.responders.items() if c.providers}
    loaded = load_config(output, known_providers=known)
    assert set(loaded.providers) == set(config["providers"])
    # ... and the preflight runs on it: the install is found, and what is missing is exactly
    # the credentials to store, each with the command to store it
    report = run_preflight(prepare(ContainRequest(config=output, home=sample.user_home)))
    assert report.install_found
    failed = {c.provider for c in report.failed_checks}
    assert failed == {name for name, setup in
                      ((n, registry.responder(n).setup([])) for n in config["providers"])
                      if setup is not None and setup.references()}
    assert all("keyring set clawback" in c.detail for c in report.failed_checks)
    assert code == report.exit_code == document["exit_code"] == 3


def test_once_the_credentials_are_stored_they_resolve(
    sample, tmp_path: Path, memory_keyring: MemoryKeyring,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = tmp_path / "clawback.toml"
    cli.init(home=str(sample.user_home), output=str(output), json=True)
    references = json.loads(capsys.readouterr().out)["references"]
    for ref in references:
        service, _, user = ref.removeprefix("keyring:").partition("/")
        memory_keyring.set_password(service, user, f"stored-{user}")
    prepared = prepare(ContainRequest(config=output, home=sample.user_home))
    assert prepared.unusable == {}


def test_init_never_overwrites(sample, tmp_path: Path,  # type: ignore[no-untyped-def]
                               capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "clawback.toml"
    output.write_text("# mine\n")
    assert cli.init(home=str(sample.user_home), output=str(output)) == 2
    assert output.read_text() == "# mine\n"
    assert "never overwrites" in capsys.readouterr().err
    link = tmp_path / "link.toml"
    link.symlink_to(tmp_path / "elsewhere.toml")
    assert cli.init(home=str(sample.user_home), output=str(link)) == 2
    assert not (tmp_path / "elsewhere.toml").exists()


def test_init_writes_nothing_where_no_install_is_found(tmp_path: Path) -> None:
    empty = tmp_path / "home"
    empty.mkdir()
    output = tmp_path / "clawback.toml"
    assert cli.init(home=str(empty), output=str(output)) == 3
    assert not output.exists()


def test_a_responder_that_says_nothing_gets_a_pointer_not_a_guess(tmp_path: Path) -> None:
    """A third party's responder without ``setup``: init names its docs and writes no table
    it would have to guess (a wrong key would make the config fail to load)."""
    from typing import ClassVar

    from clawback.init_config import plan_init, render_config
    from responders.interface import Credential, Responder
    from responders.openclaw.discovery import Inventory

    class Acme(Responder):
        name: ClassVar[str] = "acme"
        providers: ClassVar[frozenset[str]] = frozenset({"acme"})

    class Registry:
        def responder_for_provider(self, provider: str) -> type[Responder] | None:
            return Acme if provider == "acme" else None

    home = tmp_path / "home"
    home.mkdir()
    cred = Credential.from_secret("acme", "acme:api_key", "acme_live_0123456789abcdef")
    plan = plan_init(home, Inventory(credentials=(cred,), state_dirs=()), Registry())
    text = render_config(plan)
    assert "its responder does not say what its table needs" in text
    assert f"python -m pydoc {Acme.__module__}" in text
    assert "[providers.acme]" not in [line.strip() for line in text.splitlines()]
    assert "acme_live_0123456789abcdef" not in text
    assert tomllib.loads(text)["agent"]["user_home"] == str(home)


def _key_responders() -> list[type]:
    registry = load_registry()
    return [registry.responder(n) for n in sorted(registry.responders)
            if registry.responder(n).providers and registry.responder(n).needs_config
            and not registry.responder(n).fallback]


@pytest.mark.parametrize("cls", _key_responders(), ids=lambda c: c.name)
def test_every_provider_responder_says_what_its_table_needs(cls: type) -> None:
    """init and the runbook ask each responder (Responder.setup): one that says nothing leaves
    the operator a pointer to its docs instead of a table, which no shipped responder may."""
    setup = cls.setup([])
    assert setup is not None, cls.name
    assert setup.permissions and all(p.strip() for p in setup.permissions)
    if setup.references():  # a credential to make: where it is made
        assert setup.console.startswith("https://"), cls.name
    for setting in setup.settings:
        if isinstance(setting.value, str) and setting.value.startswith(("keyring:", "env:")):
            assert setting.value.startswith(("keyring:clawback/", "env:")), setting


def test_init_with_every_provider_writes_tables_that_load_and_preflight(
    sample, tmp_path: Path, memory_keyring: MemoryKeyring,  # type: ignore[no-untyped-def]
) -> None:
    """A home holding a key of every provider clawback can act on: every table init writes
    loads as contain loads it, each responder's own validation included; the preflight then
    names exactly the credentials still to store or export, and once they are stored nothing
    is unusable."""
    from dataclasses import replace

    from clawback.init_config import plan_init, render_config, write_new
    from responders.interface import Credential
    from responders.openclaw.discovery import discover_agent

    registry = load_registry()
    inventory = discover_agent({}, user_home=sample.user_home)
    extra = tuple(Credential.from_secret(provider, f"{provider}:api_key",
                                         f"planted-{provider}-0123456789abcdef")
                  for cls in _key_responders() for provider in sorted(cls.providers))
    inventory = replace(inventory, credentials=inventory.credentials + extra)
    plan = plan_init(sample.user_home.absolute(), inventory, registry)
    output = write_new(tmp_path / "clawback.toml", render_config(plan))
    config = tomllib.loads(output.read_text())
    assert set(config["providers"]) == {cls.name for cls in _key_responders()}
    known = {n for n, c in registry.responders.items() if c.providers}
    loaded = load_config(output, known_providers=known)
    for name in config["providers"]:  # each responder's own validation of its table
        registry.responder(name).check_config(loaded.provider(name))
    text = output.read_text()
    for cred in extra:
        assert cred.secret is not None and cred.secret.reveal() not in text
    for _, ref in plan.references:  # each reference comes with how to fill it in
        if ref.startswith("keyring:"):
            service, _, user = ref.removeprefix("keyring:").partition("/")
            assert f"keyring set {service} {user}" in text
        else:
            assert f"export {ref.removeprefix('env:')}=" in text

    prepared = prepare(ContainRequest(config=output, home=sample.user_home))
    to_store = {name for name, ref in plan.references}
    assert set(prepared.unusable) == to_store
    report = run_preflight(prepared)
    failed = {c.provider for c in report.failed_checks}
    assert to_store <= failed
    # the others need no credential of the operator's: their probe could not reach the real
    # provider from the test machine, which the preflight says as such
    for check in report.failed_checks:
        if check.provider not in to_store and check.provider in config["providers"]:
            assert "cannot reach" in check.detail, check
    for name, ref in plan.references:  # each says what to do with its reference
        if ref.startswith("env:"):
            assert any(ref.removeprefix("env:") in c.detail for c in report.failed_checks
                       if c.provider == name)

    for _, ref in plan.references:
        if ref.startswith("keyring:"):
            service, _, user = ref.removeprefix("keyring:").partition("/")
            memory_keyring.set_password(service, user, f"stored-{user}")
    env = {ref.removeprefix("env:"): "stored" for _, ref in plan.references
           if ref.startswith("env:")}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert prepare(ContainRequest(config=output, home=sample.user_home)).unusable == {}


def test_twilio_says_its_api_keys_wait_for_a_main_key() -> None:
    """Twilio's Auth Token needs no credential of the operator's; its API keys need a Main
    key whose SID init cannot know, so the pair is an example, never a placeholder that
    would load and then fail mid-incident."""
    from responders.interface import Credential
    from responders.twilio import KIND_API_KEY, KIND_AUTH_TOKEN, TwilioResponder

    token = Credential.from_secret("twilio", KIND_AUTH_TOKEN, "0123456789abcdef" * 2)
    key = Credential.from_secret("twilio", KIND_API_KEY, "secret" * 6,
                                 key_id="SK" + "1" * 32)
    assert "promoting a secondary token" in TwilioResponder.setup([token]).note
    with_keys = TwilioResponder.setup([token, key])
    assert "contain leaves them to you" in with_keys.note
    assert with_keys.references() == []
    assert {s.key for s in with_keys.settings if s.optional} >= {"admin_key_id", "admin_secret"}


def test_hostile_names_in_the_home_cannot_break_or_extend_the_config(
    sample, tmp_path: Path, memory_keyring: MemoryKeyring,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Profile dirs named with DEL, an escape sequence, a line break and bytes that are not
    UTF-8: init still writes a config that loads (it used to crash half-way, leaving an empty
    file that it then refused to replace), nothing raw reaches it, and the state dirs are not
    pinned (a pinned list is all contain scans: a dir made later would go unseen)."""
    home = sample.user_home
    names = [b".openclaw-a\x7fb", b".openclaw-\xff\x1b[2J", b".openclaw-x\ny = 1"]
    for name in names:
        directory = os.path.join(os.fsencode(home), name)
        os.mkdir(directory)
        with open(os.path.join(directory, b"openclaw.json"), "w") as fh:
            fh.write('{"gateway": {"auth": {"token": "tok_0123456789abcdefghijklmnopqrstuv"}}}')
    output = tmp_path / "clawback.toml"
    code = cli.init(home=str(home), output=str(output), json=True)
    assert code == 3, capsys.readouterr().err
    raw = output.read_bytes()
    text = raw.decode("utf-8")
    assert not [c for c in text if not c.isprintable() and c != "\n"]
    config = tomllib.loads(text)
    assert "state_dirs" not in config["agent"] and "y" not in config["agent"]
    assert "# state dir found now: " + str(home / ".openclaw-a") + "\\x7fb" in text
    assert "\\xff\\x1b[2J" in text and ".openclaw-x\\x0ay = 1" in text
    load_config(output, known_providers={n for n, c in load_registry().responders.items()
                                         if c.providers})

    # a home whose own path a TOML file cannot hold: a clear refusal, and no file left behind
    odd = Path(os.fsdecode(os.fsencode(tmp_path) + b"/odd-\xfe"))
    (odd / ".openclaw").mkdir(parents=True)
    (odd / ".openclaw" / "openclaw.json").write_text('{"gateway": {"port": 18789}}')
    elsewhere = tmp_path / "other.toml"
    assert cli.init(home=str(odd), output=str(elsewhere)) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert not elsewhere.exists()
