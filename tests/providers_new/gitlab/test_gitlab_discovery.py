"""GitLab tokens are found by value and by name, each documented prefix by its kind; the
placeholders GitLab's and tools' documentation print are not secrets."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from responders.interface import fingerprint
from responders.kit import secret_patterns as sp
from responders.openclaw.discovery import discover

EXAMPLES = ("glpat-xxxxxxxxxxxxxxxxxxxx", "glpat-XXXXXXXXXXXXXXXXXXXX", "gldt-xxxxxxxxxxxxxxxxxxxx")


def _body(n: int = 20) -> str:
    return secrets.token_urlsafe(n)[:n]


@pytest.mark.parametrize(
    ("prefix", "kind"),
    [("glpat-", "gitlab:pat"), ("gldt-", "gitlab:token"), ("glrt-", "gitlab:token"),
     ("glrtr-", "gitlab:token"), ("glptt-", "gitlab:token"), ("glft-", "gitlab:token"),
     ("gloas-", "gitlab:token"), ("glcbt-", "gitlab:token"), ("glagent-", "gitlab:token"),
     ("glimt-", "gitlab:token"), ("glsoat-", "gitlab:token"), ("glffct-", "gitlab:token"),
     ("glwt-", "gitlab:token")],
)
def test_every_documented_prefix_is_gitlabs(prefix: str, kind: str) -> None:
    value = prefix + _body()
    found = sp.recognize_value(value)
    assert found is not None and (found.provider, found.kind) == ("gitlab", kind)
    (match,) = sp.find_in_text(f"token: {value}\n")
    assert match.value == value


def test_a_routable_token_is_one_token() -> None:
    value = f"glpat-{_body(27)}.01.{_body(9).lower()}"
    (match,) = sp.find_in_text(f"GITLAB_TOKEN={value} # ci")
    assert match.value == value and match.recognition.kind == "gitlab:pat"


@pytest.mark.parametrize("example", EXAMPLES)
def test_documentation_placeholders_are_not_secrets(example: str) -> None:
    assert sp.recognize_value(example) is None
    assert list(sp.find_in_text(f"curl -H 'PRIVATE-TOKEN: {example}'")) == []
    assert not sp.plausible_secret_value(example)


def test_a_planted_token_is_found_by_fingerprint_and_the_examples_are_not(tmp_path: Path) -> None:
    home = tmp_path / "home"
    state = home / ".openclaw"
    state.mkdir(parents=True)
    planted = "glpat-" + _body()
    deploy = "gldt-" + _body()
    (state / "openclaw.json").write_text(json.dumps(
        {"env": {"vars": {"GITLAB_DEPLOY_TOKEN": deploy}}}))
    (state / ".env").write_text(
        f"GITLAB_TOKEN={planted}\n"
        + "".join(f"GITLAB_EXAMPLE_{i}={e}\n" for i, e in enumerate(EXAMPLES))
    )
    inventory = discover(user_home=home, state_dirs=[state], system_service_dirs=())
    by_fingerprint = {c.fingerprint: c for c in inventory.credentials}

    assert by_fingerprint[fingerprint(planted)].kind == "gitlab:pat"
    assert by_fingerprint[fingerprint(deploy)].provider == "gitlab"
    assert not {fingerprint(e) for e in EXAMPLES} & set(by_fingerprint)
    assert len(inventory.credentials) == 2, [c.describe() for c in inventory.credentials]
