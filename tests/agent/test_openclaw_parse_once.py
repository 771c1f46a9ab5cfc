"""json-five parses each of the agent's JSON files once per chain of edits, and the edits are the
same as when every edit parses afresh (issue 20: 13 round-trip parses in the demo's contain).

Counted, not timed: ``Json5Document.parses`` counts the texts json-five actually parsed.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawback_demo.home import build_sample_home
from responders.interface import Rotated
from responders.kit.private_files import make_private_dir
from responders.openclaw import ROTATED_KINDS, OpenClawResponder, json5_edit, own_secrets
from responders.openclaw.discovery import discover
from responders.openclaw.json5_edit import Json5Document, forget_kept_models
from responders.openclaw.lockdown import ConfigEdit, apply_edits
from responders.openclaw.secret_edits import swap_secret

from .conftest import AgentHost

CONFIG = b"""// the agent's config, as a person wrote it
{
  gateway: {
    bind: 'lan',  // reachable from the LAN
    auth: { mode: "token", token: 'old-gateway-token-0123456789abcdef' },
  },
  hooks: {
    token: "old-hooks-token-0123456789abcdef\\u0021",
    url: "https://hooks.example.com/x?token=old-hooks-token-0123456789abcdef!",
  },
  channels: { telegram: { botToken: "old-bot-token-0123456789abcdef", dmPolicy: "open",
                          allowFrom: ["*", "12345"] } },
  /* kept */ cron: { webhookToken: "old-cron-token-0123456789abcdef", },
}
"""
SWAPS = [
    (["gateway.auth.token"], "old-gateway-token-0123456789abcdef", "new-gateway-token-AAAA"),
    (["hooks.token"], "old-hooks-token-0123456789abcdef!", "new-hooks-token-BBBB"),
    (["channels.telegram.botToken"], "old-bot-token-0123456789abcdef", "new-bot-token-CCCC"),
    (["cron.webhookToken"], "old-cron-token-0123456789abcdef", "new-cron-token-DDDD"),
]
LOCKDOWN = [
    ConfigEdit(Path("openclaw.json"), ("gateway", "bind"), "loopback", "lan"),
    ConfigEdit(Path("openclaw.json"), ("channels", "telegram", "dmPolicy"), "disabled", "open"),
    ConfigEdit(Path("openclaw.json"), ("channels", "telegram", "allowFrom"), None),
]
BUILT_AT = re.compile(rb'lastTouchedAt: "[^"]*"')


@pytest.fixture(autouse=True)
def nothing_kept() -> Iterator[None]:
    forget_kept_models()
    yield
    forget_kept_models()


def edit_chain(*, afresh: bool) -> tuple[list[bytes], int]:
    """Each rotation on what the previous one wrote, then the lockdown: every text written,
    and how many texts json-five parsed."""
    path = Path("/nonexistent/openclaw.json")
    before = Json5Document.parses
    data, written = CONFIG, []
    for keys, old, new in SWAPS:
        if afresh:
            forget_kept_models()
        data = swap_secret(path, data, keys, old, new)
        written.append(data)
    if afresh:
        forget_kept_models()
    written.append(apply_edits(path, data, LOCKDOWN))
    return written, Json5Document.parses - before


def test_a_chain_of_edits_parses_once_and_writes_what_fresh_parses_write() -> None:
    afresh, fresh_parses = edit_chain(afresh=True)
    kept, parses = edit_chain(afresh=False)
    assert fresh_parses == len(SWAPS) + 1
    # Once, and once more after the hooks token: its URL carries the token inside a longer
    # string, replaced as text, so what that edit wrote is not its model's dump.
    assert parses == 2
    assert kept == afresh
    final = afresh[-1].decode()
    assert "// reachable from the LAN" in final and "/* kept */" in final
    assert "new-hooks-token-BBBB" in final and "old-" not in final
    assert "'loopback'" in final or '"loopback"' in final


def test_a_text_that_differs_by_one_byte_is_parsed_afresh() -> None:
    path = Path("/nonexistent/openclaw.json")
    keys, old, new = SWAPS[0]
    written = swap_secret(path, CONFIG, keys, old, new)
    before = Json5Document.parses
    # What the agent wrote in between: the same file, one byte longer.
    changed = written.replace(b"{", b"{ ", 1)
    keys, old, new = SWAPS[1]
    result = swap_secret(path, changed, keys, old, new)
    assert Json5Document.parses - before == 1
    assert result.startswith(b"// the agent's config")
    assert b"{ \n" in result and b"new-gateway-token-AAAA" in result


def test_a_kept_model_is_handed_out_once() -> None:
    path = Path("/nonexistent/openclaw.json")
    keys, old, new = SWAPS[0]
    written = swap_secret(path, CONFIG, keys, old, new)
    before = Json5Document.parses
    first, second = Json5Document(written.decode()), Json5Document(written.decode())
    assert Json5Document.parses - before == 1
    first.set_string(("gateway", "bind"), "first")
    assert "first" not in second.dump() and "'lan'" in second.dump()


def test_after_a_structural_edit_the_model_is_not_kept() -> None:
    document = Json5Document('{"a": {"token": "x", "other": "y"}, "b": "z"}')
    assert document.remove_member(("a", "token"))
    text = document.dump()
    before = Json5Document.parses
    Json5Document(text)
    assert Json5Document.parses - before == 1
    with pytest.raises(RuntimeError):
        document.set_string(("gateway", "bind"), "loopback")


def rotate_each(root: Path, memory_keyring: object, monkeypatch: pytest.MonkeyPatch,
                *, afresh: bool) -> tuple[dict[str, bytes], int, int]:
    """Every rotated kind of a seeded sample home, one credential after another with
    predictable new values: (each config file's bytes by relative path, parses, rotations)."""
    home = build_sample_home(root / "sample", era="file", seed=7)
    inventory = discover(user_home=home.user_home, state_dirs=home.state_dirs,
                         tmp_dirs=[home.tmp_dir])
    host = AgentHost(home=home, inventory=inventory,
                     incident_dir=make_private_dir(root / "incident"),
                     keyring=memory_keyring)  # type: ignore[arg-type]
    counter = itertools.count()
    monkeypatch.setattr(own_secrets.token_source, "token_urlsafe",
                        lambda _n=32: f"predictable-new-value-{next(counter):04d}-xxxxxxxx")
    if afresh:
        monkeypatch.setattr(json5_edit._KEPT, "keep", lambda text, model: None)
    responder = OpenClawResponder(host.context({"use_openclaw_cli": False}))
    creds = sorted(host.creds("openclaw", kinds=tuple(ROTATED_KINDS)), key=lambda c: c.target_id)
    on_disk = {path: path.read_bytes() for path in (root / "sample").rglob("*") if path.is_file()}
    before, rotations = Json5Document.parses, 0
    for cred in creds:
        (_, outcome), = responder.revoke_all([cred])
        rotations += isinstance(outcome, Rotated)
    parses = Json5Document.parses - before
    monkeypatch.undo()
    # The JSON files the rotations changed, with what differs between two sample homes
    # named alike: their directory and the time the config says it was written.
    files = {
        str(path.relative_to(root)): BUILT_AT.sub(
            b"BUILT_AT", path.read_bytes().replace(bytes(root), b"ROOT"))
        for path, data in sorted(on_disk.items())
        if path.read_bytes() != data and json5_edit_name(path.name)
    }
    return files, parses, rotations


def test_rotating_every_own_secret_parses_each_config_once(
    tmp_path: Path, memory_keyring: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    afresh, fresh_parses, rotations = rotate_each(tmp_path / "one", memory_keyring, monkeypatch,
                                                  afresh=True)
    forget_kept_models()
    kept, parses, kept_rotations = rotate_each(tmp_path / "two", memory_keyring, monkeypatch,
                                               afresh=False)
    assert rotations == kept_rotations >= 4
    # Every rotation is an edit of each JSON file holding the secret: at least one parse each.
    assert fresh_parses >= rotations
    assert kept == afresh
    assert kept
    # Once per JSON file that was edited, however many rotations edited it.
    print(f"json-five parses: {fresh_parses} afresh, {parses} kept, {len(kept)} JSON files")
    assert parses <= len(kept) < fresh_parses


def json5_edit_name(name: str) -> bool:
    from responders.openclaw.secret_edits import format_of

    return format_of(Path(name), b"") == "json"
