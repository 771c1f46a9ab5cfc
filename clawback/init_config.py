"""``clawback init``: a commented clawback.toml for this host, from discovery.

Discovery says which providers the agent holds keys for; each provider's responder says,
through the contract (``Responder.setup``), what its ``[providers.X]`` table needs and what its
admin credential must be allowed to do. The file holds references (``keyring:clawback/...``),
never a value: the operator stores each credential with ``keyring set`` afterwards. It is
written 0600 and never over an existing file. Then the preflight runs on it.

Everything taken from the agent's home (paths, service names) is written as a TOML basic
string with every control character escaped, or, in a comment, through ``printable``: a file
name can't add a line to the config, nor make it fail to load. The state dirs found are shown,
not pinned: a ``state_dirs`` list is all ``contain`` scans, and the attacker can make a new one.
"""

from __future__ import annotations

import os
import socket
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clawback.errors import BadInput
from clawback.shown import printable
from responders.interface import ConfigSetting, Credential, ProviderSetup

HEADER = """\
# clawback.toml: written by `clawback init` on {host} at {when}
# for the agent whose home is {home}.
#
# Admin credentials are REFERENCES, never values: keyring:SERVICE/USER (store one with
# `keyring set SERVICE USER`) or env:NAME. A literal secret here is refused.
# A provider gets requests only when its [providers.X] table exists.
# Check that contain would work here: clawback drill --preflight --config THIS_FILE
"""


@dataclass(frozen=True)
class ProviderPlan:
    """One provider found on the host and what its table needs."""

    provider: str
    responder: str  # "" when no responder handles it
    credentials: tuple[Credential, ...]
    setup: ProviderSetup | None
    needs_table: bool = False  # it acts only with a [providers.X] table of its own
    module: str = ""


@dataclass(frozen=True)
class InitPlan:
    home: Path
    state_dirs: tuple[Path, ...]
    services: tuple[str, ...]  # "kind name" of what discovery found running the gateway
    uid: int | None
    providers: tuple[ProviderPlan, ...]
    notes: tuple[str, ...] = ()
    tables: dict[str, ProviderSetup] = field(default_factory=dict)  # responder -> its setup

    @property
    def references(self) -> list[tuple[str, str]]:
        """(responder, reference) of every credential the operator must store."""
        return [(name, ref) for name, setup in self.tables.items()
                for ref in setup.references()]


def plan_init(home: Path, inventory: Any, registry: Any) -> InitPlan:
    """What init would write for ``home``, from discovery and the responders' setups."""
    by_provider: dict[str, list[Credential]] = {}
    for cred in inventory.credentials:
        by_provider.setdefault(cred.provider, []).append(cred)
    plans: list[ProviderPlan] = []
    tables: dict[str, ProviderSetup] = {}
    for provider, creds in sorted(by_provider.items()):
        cls = registry.responder_for_provider(provider)
        setup = None
        if cls is not None:
            handled = [c for c in creds if cls.providers and c.provider in cls.providers]
            setup = cls.setup(handled or creds)
            if setup is not None and not cls.fallback and cls.needs_config:
                tables.setdefault(cls.name, setup)
        plans.append(ProviderPlan(
            provider, cls.name if cls else "", tuple(creds), setup,
            needs_table=bool(cls and cls.needs_config and not cls.fallback),
            module=cls.__module__ if cls else ""))
    try:
        owner = os.stat(home).st_uid
    except OSError:
        owner = None
    return InitPlan(
        home=home,
        state_dirs=tuple(Path(p) for p in inventory.state_dirs if Path(p).is_dir()),
        services=tuple(f"{s.kind} {s.name}" for s in inventory.services),
        uid=owner if owner else None,
        providers=tuple(plans),
        notes=tuple(inventory.notes),
        tables=tables,
    )


def _comment(text: str) -> str:
    return " ".join(printable(text).split())


# TOML's basic strings take no raw control character (DEL included) and only Unicode scalar
# values: every control character is written as its escape.
_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
                 "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:  # a byte that was not UTF-8, as os.fsdecode keeps it
            raise BadInput(f"{printable(text)} is not UTF-8: a TOML file cannot hold it. "
                           "Rename it, or write the config by hand")
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table; keys are the responder's own names
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _setting_lines(settings: Iterable[ConfigSetting]) -> list[str]:
    lines = []
    for s in settings:
        line = f"{s.key} = {_toml(s.value)}"
        if s.optional:
            line = "# " + line
        if s.comment:
            line += f"  # {_comment(s.comment)}"
        lines.append(line)
    return lines


def _kinds(creds: Sequence[Credential]) -> str:
    counts: dict[str, int] = {}
    for c in creds:
        kind = c.kind.split(":", 1)[-1]
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))


def render_config(plan: InitPlan, *, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    out = [HEADER.format(host=_comment(socket.gethostname()),
                         when=now.strftime("%Y-%m-%d %H:%M UTC"),
                         home=_comment(str(plan.home))).rstrip("\n"), ""]
    out += ["[agent]", f"user_home = {_toml(plan.home)}"]
    # Not pinned: a state_dirs list is all contain scans, and a profile dir made later (by
    # the agent's owner, or by whoever holds the agent) would go unseen. Shown, escaped.
    for state in plan.state_dirs:
        out.append(f"# state dir found now: {_comment(str(state))}")
    if plan.state_dirs:
        out.append("# state_dirs is left out, so contain finds them (and any new one) at each "
                   "run; a list is all it would scan")
    if plan.uid is not None:
        out.append(f"uid = {plan.uid}  # the owner of user_home: the agent's user")
    else:
        out.append("# uid = 1001  # the agent's user, for an agent-only network cut")
    out.append("gateway_port = 18789")
    for service in plan.services:
        out.append(f"# found: {_comment(service)} (contain finds and stops it itself; "
                   "name it in [[agent.services]] to pin it)")
    if not plan.services:
        out.append("# no gateway service found: name how the agent runs in [[agent.services]]"
                   " (kind = \"systemd-user\", name = \"openclaw-gateway\"), or contain will"
                   " stop it by its process")
    out += ["", "[network]  # contain --cut-network",
            "# admin_sources = [\"203.0.113.7/32\"]  # who keeps SSH while the host is cut:"
            " fill in your own address",
            "ssh_port = 22",
            "rollback_minutes = 5  # the cut undoes itself unless `clawback restore-network"
            " --confirm`",
            "", "# [notify]  # told at start, at each phase and at the end; each checkpoint is "
            "shipped there",
            "# urls = [\"env:CLAWBACK_NOTIFY_URL\"]  # Apprise URLs (ntfy://, json://, "
            "mailto://, ...), by reference: a URL holds its own secret",
            ""]
    written: set[str] = set()
    for p in plan.providers:
        summary = f"# {p.provider}: {len(p.credentials)} secret(s) found ({_kinds(p.credentials)})"
        if not p.responder:
            out += [summary, "#   no responder handles it: contain lists it as a manual step",
                    ""]
            continue
        setup = plan.tables.get(p.responder)
        if setup is None and p.needs_table:
            # A responder that says nothing through Responder.setup (a third party's): its
            # table is left for the operator, from the responder's own documentation.
            out += [summary,
                    f"#   its responder does not say what its table needs: see `python -m pydoc "
                    f"{_comment(p.module)}`, then write [providers.{p.responder}] here. Until "
                    "then contain leaves these keys to you", ""]
            continue
        if setup is None:
            note = p.setup.note if p.setup is not None and p.setup.note else (
                "handled without a table of its own")
            out += [summary, f"#   {_comment(note)}", ""]
            continue
        if p.responder in written:
            out += [summary + f" (handled by [providers.{p.responder}] above)", ""]
            continue
        written.add(p.responder)
        out.append(summary)
        if setup.permissions:
            out += textwrap.wrap(_comment("the admin credential needs: "
                                          + "; ".join(setup.permissions)),
                                 width=96, initial_indent="#   ", subsequent_indent="#     ",
                                 break_long_words=False, break_on_hyphens=False)
        if setup.console:
            out.append(f"#   create it at {_comment(setup.console)}")
        for ref in setup.references():
            if ref.startswith("keyring:"):
                service, _, user = ref.removeprefix("keyring:").partition("/")
                out.append(f"#   then store it: keyring set {service} {user}")
            else:  # short-lived (an hour's token): set where contain runs, when it runs
                out.append(f"#   then, before contain: export {ref.removeprefix('env:')}=...")
        if setup.note:
            out.append(f"#   note: {_comment(setup.note)}")
        out.append(f"[providers.{p.responder}]")
        out += _setting_lines(setup.settings)
        out.append("")
    for note in plan.notes:
        out.append(f"# discovery: {_comment(note)}")
    return "\n".join(out).rstrip("\n") + "\n"


def default_path() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "clawback" / "clawback.toml"


def write_new(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (0600), refusing to replace anything there: a file, a
    link, a directory."""
    from responders.kit.private_files import make_private_dir

    data = text.encode("utf-8")  # before the file exists: an error leaves nothing behind
    make_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
    except FileExistsError:
        raise BadInput(f"{path} exists already; init never overwrites a config. Move it "
                       "away, or write the new one elsewhere with --output FILE") from None
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(data)
    return path
