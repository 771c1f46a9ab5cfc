"""Where an incident stands, in the order an incident commander asks: is the agent stopped,
which keys are dead and which still live, what is left to do (most urgent first), and can the
log be trusted.

The report's first screen, ``clawback status`` and the notifications all say it from this one
place, so they cannot disagree. Every credential is counted exactly once, in the worst bucket
its latest results put it in, so the counts add up to the credentials acted on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from clawback.report.parts import (
    CredentialActions,
    HumanAction,
    Impact,
    Integrity,
    ProviderActions,
    TimelineRow,
)

# A credential's standing, worst first. "not_revoked": no revoke succeeded (a manual step, a
# failure, a skip); "accepted": revoked, but the provider still takes it; "unproven": revoked,
# the provider's answer proves nothing; "unchecked": revoked, never asked again; "dead": the
# provider's unambiguous answer says so.
KeyStanding = Literal["accepted", "not_revoked", "unproven", "unchecked", "dead"]
KEY_STANDINGS: tuple[KeyStanding, ...] = ("accepted", "not_revoked", "unproven", "unchecked",
                                          "dead")
LIVE: frozenset[KeyStanding] = frozenset({"accepted", "not_revoked", "unproven"})
STANDING_WORDS: dict[KeyStanding, str] = {
    "accepted": "still accepted by the provider",
    "not_revoked": "not revoked",
    "unproven": "revoked, NOT proven dead",
    "unchecked": "revoked, not re-checked",
    "dead": "proven dead",
}

# The to-do list's order: what lets the attacker act now comes first, a replacement key last.
URGENCY: dict[str, int] = {
    "integrity": 0,  # nothing else here can be relied on until this is explained
    "agent": 1,  # the agent is not (proven) stopped
    "accepted": 2,  # a key the provider still takes
    "not_revoked": 3,  # a key nobody revoked yet
    "unproven": 4,  # a key revoked but not proven dead
    "isolated": 5,  # the network is cut, maybe with a rollback timer running
    "unfinished": 6,  # the run never closed
    "step": 7,  # another step failed or was refused (evidence, lockdown, ...)
    "replacement": 8,  # create a replacement key
}
# What each kind of to-do item asks, as the checklist's headline.
RANK_WORDS: dict[str, str] = {
    "integrity": "verify failed: find out why first",
    "agent": "stop the agent",
    "accepted": "the provider still accepts this key: revoke it",
    "not_revoked": "revoke this key",
    "unproven": "check that this key is dead",
    "isolated": "the network is still cut",
    "unfinished": "the run never finished",
    "step": "a step was not done",
    "replacement": "create a replacement key",
}
# Live keys named on the first screen; the rest are in the checklist.
LIVE_SHOWN = 8
_STOP = "stop_service"


def key_standing(cred: CredentialActions) -> KeyStanding:
    """The one bucket a credential counts in."""
    if cred.verify is not None and cred.verify.status == "failed":
        return "accepted"
    if cred.unproven is not None:
        return "unproven"
    if not cred.dead:
        return "not_revoked"
    return "dead" if cred.verified_dead else "unchecked"


def why_live(cred: CredentialActions) -> str:
    """A few words on why a live key is still live."""
    standing = key_standing(cred)
    if standing != "not_revoked" or cred.revoke is None:
        return STANDING_WORDS[standing] if cred.revoke is not None else "never revoked"
    return {
        "manual": "not revoked, only a human can",
        "failed": "not revoked, the revoke failed",
        "refused": "not revoked, refused",
        "skipped": "not revoked, skipped",
        "crashed": "not revoked, the run died while revoking it",
        "planned": "not revoked, dry run",
    }.get(cred.revoke.status, "not revoked")


def urgency(action: HumanAction) -> int:
    return URGENCY.get(action.rank, URGENCY["step"])


@dataclass(frozen=True)
class AgentStanding:
    """Whether the agent is stopped, as far as the timeline proves it."""

    state: Literal["stopped", "not_stopped", "no_stop_step"]
    services: tuple[str, ...]
    detail: str

    @property
    def stopped(self) -> bool:
        return self.state == "stopped"


@dataclass(frozen=True)
class Standing:
    agent: AgentStanding
    counts: dict[KeyStanding, int]
    live: tuple[tuple[CredentialActions, str], ...]  # (credential, why it is live), worst first
    todo: tuple[HumanAction, ...]  # most urgent first
    integrity: Integrity
    total: int

    @property
    def live_count(self) -> int:
        return sum(self.counts[s] for s in LIVE)

    def count_text(self) -> str:
        """``14 keys: 6 proven dead, 2 revoked, not re-checked, 6 still live or unproven``."""
        parts = [f"{self.counts['dead']} proven dead"]
        if self.counts["unchecked"]:
            parts.append(f"{self.counts['unchecked']} revoked, not re-checked")
        parts.append(f"{self.live_count} still live or unproven")
        return f"{self.total} key{'s' if self.total != 1 else ''}: " + ", ".join(parts)

    def live_groups(self) -> list[tuple[str, list[CredentialActions]]]:
        """The live keys grouped by why they are live, worst group first."""
        groups: dict[str, list[CredentialActions]] = {}
        for cred, why in self.live:
            groups.setdefault(why, []).append(cred)
        return list(groups.items())

    def live_breakdown(self) -> str:
        """``1 still accepted by the provider, 4 not revoked, 1 revoked, not proven dead``."""
        return ", ".join(f"{self.counts[s]} {STANDING_WORDS[s]}" for s in KEY_STANDINGS
                         if s in LIVE and self.counts[s])


def agent_standing(rows: Sequence[TimelineRow], impact: Impact) -> AgentStanding:
    """Stopped only when every stop succeeded and no re-check saw it come back."""
    latest: dict[bytes, TimelineRow] = {}
    for row in rows:
        if row.phase == "result" and _STOP in row.action:
            latest[row.target_key] = row
    stops = [r for r in latest.values() if r.action.endswith(_STOP)]
    rechecks = [r for r in latest.values() if not r.action.endswith(_STOP)]
    if not stops:
        crashed = any(r.status == "crashed" and r.action.endswith(_STOP) for r in rows)
        if crashed:
            return AgentStanding("not_stopped", (), "the run died while stopping it")
        return AgentStanding("no_stop_step", (), "this playbook has no step that stops it")
    services = tuple(dict.fromkeys(r.target for r in stops))
    bad = [r for r in stops if r.status != "ok"] + [r for r in rechecks if r.status != "ok"]
    if bad:
        first = bad[0]
        said = first.extra.get("error") or first.extra.get("instructions") or first.detail
        return AgentStanding("not_stopped", services,
                             f"{first.target}: {said or first.outcome or first.status}")
    still = "; still stopped when the timeline closed" if rechecks else ""
    when = impact.services_stopped[-1].at if impact.services_stopped else None
    at = f" at {when:%H:%M:%S} UTC" if when is not None else ""
    return AgentStanding("stopped", services, f"stopped{at}{still}")


def build_standing(
    providers: Sequence[ProviderActions],
    human_actions: Sequence[HumanAction],
    rows: Sequence[TimelineRow],
    impact: Impact,
    integrity: Integrity,
) -> Standing:
    """Where a report's incident stands (``IncidentReport.standing`` asks with its parts)."""
    creds = [c for p in providers for c in p.credentials]
    counts: dict[KeyStanding, int] = dict.fromkeys(KEY_STANDINGS, 0)
    for cred in creds:
        counts[key_standing(cred)] += 1
    live = sorted(
        ((c, why_live(c)) for c in creds if key_standing(c) in LIVE),
        key=lambda pair: (KEY_STANDINGS.index(key_standing(pair[0])), pair[0].provider,
                          pair[0].kind, pair[0].fingerprint),
    )
    todo = tuple(sorted(human_actions, key=lambda h: (urgency(h), h.seq or 0)))
    return Standing(
        agent=agent_standing(rows, impact),
        counts=counts,
        live=tuple(live),
        todo=todo,
        integrity=integrity,
        total=len(creds),
    )


def provider_counts(provider: ProviderActions) -> dict[KeyStanding, int]:
    """Per provider, one bucket per credential: they add up to its credential count."""
    counts: dict[KeyStanding, int] = dict.fromkeys(KEY_STANDINGS, 0)
    for cred in provider.credentials:
        counts[key_standing(cred)] += 1
    return counts
