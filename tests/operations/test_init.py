"""`clawback init` on the sample home: a commented config with every provider found, references
instead of values, what each admin credential needs; it loads as contain loads it, passes the
preflight (which then names what to store), and is never written over an existing file."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest

from clawback import cli
from clawback.config import load_config
from clawback.contain import ContainRequest, prepare
from clawback.preflight import run_preflight
from clawback.registry import load_registry
from clawback.sandbox.home import build_sample_home
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
    from clawback.inventory import Inventory
    from responders.interface import Credential, Responder

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
