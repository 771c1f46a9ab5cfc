"""openclaw.lockdown on the sample home, made risky the way an attacker (or a hurried owner)
leaves it: the official containment edits exactly, comments kept, nothing done by plan()."""

from __future__ import annotations

import json
from pathlib import Path

import pyjson5
import pytest

from responders.interface import Done, Skipped
from responders.openclaw import (
    LOOPBACK_PROXIES,
    LockdownAction,
    LockdownParams,
    OpenClawResponder,
)
from responders.openclaw.discovery import load_config

from .conftest import AgentHost, mode_of, sha256_of, tree_digest


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new))


@pytest.fixture
def exposed(agent_host: AgentHost) -> AgentHost:
    """The sample home with its gateway on the LAN, a Tailscale funnel and open DMs."""
    state = agent_host.home.state_dir
    config = state / "openclaw.json"
    edit(config, 'bind: "loopback",', 'bind: "lan", // opened for the phone')
    edit(config, 'tailscale: { mode: "off" },', 'tailscale: { mode: "funnel" },')
    channels = state / "channels.json5"
    edit(channels, 'dmPolicy: "pairing",\n',
         'dmPolicy: "open",\n    allowFrom: ["*", "123456789"], // anyone\n')
    edit(channels, 'whatsapp: { dmPolicy: "pairing",', 'whatsapp: { dmPolicy: "open",')
    return agent_host


def action(host: AgentHost, **params: bool) -> LockdownAction:
    context = host.context()
    return LockdownAction(context, LockdownParams(**params))


def approval_edit(config: Path) -> str:
    return (f'{config}: gateway.trustedProxies: add "127.0.0.0/8", "::1/128" (new devices, the '
            "local CLI and the gateway's own tools too, then wait for `openclaw devices "
            "approve`)")


def expected_edits(host: AgentHost) -> set[str]:
    state = host.home.state_dir
    config, channels = state / "openclaw.json", state / "channels.json5"
    store = state / "credentials" / "discord-work-allowFrom.json"
    return {
        approval_edit(config),
        f'{config}: gateway.bind: "lan" → "loopback"',
        f'{config}: gateway.tailscale.mode: "funnel" → "off"',
        f'{channels}: telegram.dmPolicy: "open" → "disabled"',
        f'{channels}: telegram.allowFrom: remove "*"',
        f'{channels}: whatsapp.dmPolicy: "open" → "disabled"',
        f'{store}: allowFrom: remove "*"',
    }


def test_the_action_is_offered_by_the_responder() -> None:
    assert OpenClawResponder.actions == {"openclaw.lockdown": LockdownAction}


def test_plan_lists_the_exact_edits_and_changes_nothing(exposed: AgentHost) -> None:
    digest = tree_digest(exposed.home.root, exposed.incident_dir)
    lockdown = action(exposed)

    assert lockdown.targets() == [str(p) for p in exposed.home.state_dirs]
    plans = {target: lockdown.plan(target) for target in lockdown.targets()}

    main = plans[str(exposed.home.state_dir)]
    assert set(main.commands) == expected_edits(exposed)
    assert len(main.commands) == len(expected_edits(exposed))
    # The profile's config only lacks the approval; the Clawdbot-era one is left as it is.
    profile = exposed.home.root / "home" / "agent" / ".openclaw-work"
    assert plans[str(profile)].commands == (approval_edit(profile / "openclaw.json"),)
    legacy = exposed.home.root / "home" / "agent" / ".clawdbot"
    assert plans[str(legacy)].commands == ()
    assert tree_digest(exposed.home.root, exposed.incident_dir) == digest


def test_execute_makes_exactly_those_edits_keeping_comments(exposed: AgentHost) -> None:
    state = exposed.home.state_dir
    files = [state / "openclaw.json", state / "channels.json5",
             state / "credentials" / "discord-work-allowFrom.json"]
    before = {p: p.read_bytes() for p in files}
    merged_before = load_config(state / "openclaw.json").merged

    outcome = action(exposed).execute(str(state))

    assert isinstance(outcome, Done), outcome
    assert set(outcome.facts["edits"]) == expected_edits(exposed)
    merged = load_config(state / "openclaw.json").merged
    want = json.loads(json.dumps(merged_before))
    want["gateway"]["bind"] = "loopback"
    want["gateway"]["tailscale"]["mode"] = "off"
    want["channels"]["telegram"]["dmPolicy"] = "disabled"
    want["channels"]["telegram"]["allowFrom"] = ["123456789"]
    want["channels"]["whatsapp"]["dmPolicy"] = "disabled"
    want["gateway"]["trustedProxies"] = list(LOOPBACK_PROXIES)
    assert merged == want  # nothing else moved: groups."*".requireMention is still there
    assert merged["channels"]["whatsapp"]["groups"] == {"*": {"requireMention": True}}
    store = json.loads(files[2].read_text())
    assert store["allowFrom"] == []

    for path in files[:2]:
        comments = [line.strip() for line in before[path].decode().splitlines()
                    if line.strip().startswith("//")]
        assert comments and all(c in path.read_text() for c in comments)
        pyjson5.decode(path.read_text())
    assert "// opened for the phone" in files[0].read_text()
    assert "// anyone" in files[1].read_text()
    # The config file changed in those two values and the one new member only.
    assert files[0].read_text() == before[files[0]].decode().replace(
        'bind: "lan"', 'bind: "loopback"').replace('mode: "funnel"', 'mode: "off"').replace(
        "controlUi: { enabled: true, allowInsecureAuth: false },\n",
        "controlUi: { enabled: true, allowInsecureAuth: false },\n"
        '    trustedProxies: ["127.0.0.0/8","::1/128"],\n')

    backups = {b["file"]: b for b in outcome.facts["backups"]}
    assert set(backups) == {str(p) for p in files}
    for path in files:
        copy = Path(backups[str(path)]["backup"])
        assert copy.read_bytes() == before[path]
        assert backups[str(path)]["sha256"] == sha256_of(before[path])
        assert mode_of(copy) == 0o600 and mode_of(path) == 0o600


def test_a_second_lockdown_has_nothing_to_do(exposed: AgentHost) -> None:
    state = str(exposed.home.state_dir)
    assert isinstance(action(exposed).execute(state), Done)
    digest = tree_digest(exposed.home.root)
    again = action(exposed)
    assert again.plan(state).commands == ()
    assert isinstance(again.execute(state), Skipped)
    assert tree_digest(exposed.home.root) == digest


def test_switches_limit_the_edits(exposed: AgentHost) -> None:
    plan = action(exposed, freeze_channels=False, tailscale_off=False,
                  devices_need_approval=False).plan(str(exposed.home.state_dir))
    assert plan.commands == (f'{exposed.home.state_dir / "openclaw.json"}: '
                             'gateway.bind: "lan" → "loopback"',)


def test_an_unknown_bind_value_is_not_echoed(exposed: AgentHost) -> None:
    config = exposed.home.state_dir / "openclaw.json"
    edit(config, 'bind: "lan"', 'bind: "s3cr3t-looking-host"')
    plan = action(exposed, freeze_channels=False, tailscale_off=False,
                  devices_need_approval=False).plan(str(exposed.home.state_dir))
    assert plan.commands == (f'{config}: gateway.bind: (an unrecognised value) → "loopback"',)


def test_loopback_proxies_are_added_to_a_list_the_owner_keeps(exposed: AgentHost) -> None:
    config = exposed.home.state_dir / "openclaw.json"
    edit(config, "tailscale: {", 'trustedProxies: ["10.0.0.5", "::1/128"], // the LB\n'
         "    tailscale: {")
    lockdown = action(exposed, freeze_channels=False, tailscale_off=False, bind_loopback=False)
    plan = lockdown.plan(str(exposed.home.state_dir))
    assert plan.commands == (approval_edit(config).replace(', "::1/128"', ""),)

    outcome = lockdown.execute(str(exposed.home.state_dir))

    assert isinstance(outcome, Done), outcome
    merged = load_config(config).merged
    assert merged["gateway"]["trustedProxies"] == ["10.0.0.5", "::1/128", "127.0.0.0/8"]
    assert "// the LB" in config.read_text()


def test_lockdown_without_configured_state_dirs_uses_the_discovered_ones(
    exposed: AgentHost,
) -> None:
    context = exposed.context()
    agent = {k: v for k, v in context.settings["agent"].items() if k != "state_dirs"}
    import dataclasses

    bare = dataclasses.replace(context, settings={**context.settings, "agent": agent})
    lockdown = LockdownAction(bare, LockdownParams())

    assert lockdown.targets() == [str(p) for p in exposed.home.state_dirs]
    outcome = lockdown.execute(str(exposed.home.state_dir))
    assert isinstance(outcome, Done), outcome
    assert load_config(exposed.home.state_dir / "openclaw.json").merged["gateway"]["bind"] == (
        "loopback")
