"""``clawback runbook``: the page to print before the incident, for this host.

It is made from the preflight (``clawback.preflight``: the keyring, each admin credential, and
the playbook's dry run, which discovers the agent's keys and plans each step): what ``contain``
will do by itself here, each step it will leave to a human with its instructions and link, what
to fix now so fewer are left, and what to have at hand. Fingerprints only, like everything
clawback writes; text from the agent's home is escaped by the renderers.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# The dry run's outcomes that a human will have to finish.
_BY_HAND = ("manual", "failed", "refused", "unproven")


@dataclass(frozen=True)
class AutomaticStep:
    step: str
    uses: str
    items: tuple[str, ...]  # what the step will do, one line per target


@dataclass(frozen=True)
class ManualItem:
    step: str
    target: str
    instructions: str
    url: str  # a web link, or "" (anything but http(s) is not a link)


@dataclass(frozen=True)
class Runbook:
    host: str
    generated_at: datetime
    agent_home: str
    install_found: bool
    config_path: str
    command: str
    automatic: tuple[AutomaticStep, ...]
    manual: tuple[ManualItem, ...]
    fix_first: tuple[str, ...]  # failed preflight checks: fix them and contain does more
    at_hand: tuple[str, ...]
    keys_by_api: int
    keys_by_hand: int


def _link(url: str) -> str:
    parts = urlsplit(url or "")
    return url if parts.scheme in ("http", "https") and parts.netloc else ""


def _instructions(outcome: Any) -> str:
    for name in ("instructions", "error", "reason"):
        text = getattr(outcome, name, "")
        if text:
            check = getattr(outcome, "check", None)
            if name == "reason" and check:
                text = f"{text}; check: {check}"
            return str(text)
    return str(outcome.detail or type(outcome).__name__)


def _needs(setup: Any) -> str:
    """What a responder's admin credential must be allowed to do, and where it is made."""
    if setup is None:
        return ""
    text = "; ".join(setup.permissions)
    if setup.console:
        text += f"{'; ' if text else ''}make it at {setup.console}"
    return f" (its admin credential needs: {text})" if text else ""


def _fixes(prepared: Any, report: Any) -> list[str]:
    """The failed preflight checks, then each provider whose keys are left to you only because
    its ``[providers.X]`` table is missing, with what the table's admin credential needs: each
    responder says so through ``Responder.setup``, as for ``clawback init``."""
    registry = prepared.registry
    setups: dict[str, Any] = {}

    def setup_of(name: str, found: Sequence[Any] = ()) -> Any:
        if name not in setups:
            try:
                setups[name] = registry.responder(name).setup(list(found))
            except Exception:  # a third party's responder: the runbook is still printed
                setups[name] = None
        return setups[name]

    fixes, explained = [], set()
    for c in report.failed_checks:
        line = f"{c.provider}: {c.capability}: " + (
            f"missing {c.missing_permission}. " if c.missing_permission else "") + (c.detail or "")
        if c.capability == "admin credential" and c.provider not in explained:
            explained.add(c.provider)
            line += _needs(setup_of(c.provider))
        fixes.append(line)
    unconfigured: dict[str, list[Any]] = {}
    for key in report.coverage:
        if key.mode == "unconfigured" and key.handled_by:
            unconfigured.setdefault(key.handled_by, []).append(key.fingerprint)
    if unconfigured:
        found = {c.fingerprint: c for c in prepared.full_inventory().credentials}
    for name, fingerprints in sorted(unconfigured.items()):
        setup = setup_of(name, [found[f] for f in fingerprints if f in found])
        how = ("`clawback init` writes it" if setup is not None else
               "its responder's documentation says what goes in it")
        # "act on", not "revoke": a responder may still leave some of them to a person (Stripe
        # rolls no secret key by API), which its note then says.
        note = f"; {setup.note}" if setup is not None and setup.note else ""
        fixes.append(f"{name}: add [providers.{name}] to clawback.toml ({how}), and contain "
                     f"can act on {len(fingerprints)} more key(s) itself{_needs(setup)}{note}")
    return fixes


def build_runbook(prepared: Any, report: Any, *, notify_labels: Sequence[str] = ()
                  ) -> Runbook:
    """``prepared``: ``clawback.contain.prepare``'s result; ``report``: its preflight."""
    uses = {s.id: s.uses for s in prepared.loaded.playbook.steps}
    automatic: dict[str, list[str]] = {}
    manual: list[ManualItem] = []
    for result in report.plan:
        outcome = result.outcome
        if outcome.status in _BY_HAND:
            manual.append(ManualItem(result.step, result.target, _instructions(outcome),
                                     _link(getattr(outcome, "url", ""))))
        elif outcome.status in ("planned", "ok"):
            line = outcome.detail or f"{result.action} {result.target}"
            automatic.setdefault(result.step, []).append(line)
        elif outcome.status == "skipped":
            reason = getattr(outcome, "reason", "") or outcome.detail or "nothing to do here"
            automatic.setdefault(result.step, []).append(
                f"skipped here: {reason} ({result.target})")
    fix_first = tuple(_fixes(prepared, report))
    settings = prepared.settings
    network = settings.get("network") or {}
    home = report.agent_home
    config = str(prepared.config_path or "")
    command = "sudo clawback contain" + (f" --home {home}" if home else "") + (
        f" --config {config}" if config else "")
    at_hand = [
        f"this page, printed, and the command: {command} (add --cut-network to isolate the "
        "host)",
        "a place off this host for the checkpoint contain prints (a phone, another machine)"
        + (f"; it is also sent to {', '.join(notify_labels)}" if notify_labels else
           ": no [notify] is configured, so only you can copy it"),
    ]
    if network.get("admin_sources"):
        at_hand.append("SSH from one of " + ", ".join(network["admin_sources"])
                       + f" (port {network.get('ssh_port', 22)}): the only way in once the "
                       "network is cut")
    else:
        at_hand.append("a console on this host (or [network] admin_sources): a network cut "
                       "keeps SSH only for the admin_sources")
    consoles = sorted({item.url for item in manual if item.url})
    for url in consoles:
        at_hand.append(f"a logged-in session at {url}")
    references = [c for c in report.checks if c.capability == "admin credential"]
    if references:
        at_hand.append("the admin credentials clawback.toml names, stored in the keyring "
                       "(see what to fix below)")
    modes = [k.mode for k in report.coverage]
    return Runbook(
        host=socket.gethostname(), generated_at=datetime.now(UTC), agent_home=home,
        install_found=report.install_found, config_path=config, command=command,
        automatic=tuple(AutomaticStep(step, uses.get(step, ""), tuple(lines))
                        for step, lines in automatic.items()),
        manual=tuple(manual), fix_first=fix_first, at_hand=tuple(at_hand),
        keys_by_api=modes.count("api"), keys_by_hand=len(modes) - modes.count("api"),
    )


def render_runbook(runbook: Runbook, fmt: str) -> str:
    from clawback.report.markdown import cell, code
    from clawback.report.templating import environment

    env = environment(html=fmt == "html")
    env.filters.update(cell=cell, code=code)
    return env.get_template(f"runbook.{fmt}.j2").render(book=runbook)


def write_runbook(path: Path, text: str) -> Path:
    """The page, 0600, in its directory (made 0700 if missing, as init makes its own)."""
    from responders.kit.private_files import make_private_dir, write_private

    make_private_dir(path.parent)
    return write_private(path, text)
