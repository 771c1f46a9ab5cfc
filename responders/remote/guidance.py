"""What a fleet run leaves to the operator on each host, said precisely.

Two kinds of step act on the agent's own files, which clawback edits only on the machine it
runs on: rotating the agent's own secrets (gateway, hooks and cron tokens, device tokens,
WhatsApp sessions: the responders that need no provider table, i.e. ``needs_config = False``)
and actions with no SSH variant (``openclaw.lockdown``). Over SSH they become manual steps
that name the host and the exact places, never an edit of a same-named local file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from responders.interface import (
    Action,
    Credential,
    ManualRequired,
    Outcome,
    Planned,
    Responder,
    ResponderContext,
)
from responders.remote.discovery import hosts_of

ON_HOST_RESPONDER = "fleet-on-host"


def on_host_responder(providers: frozenset[str], replaced: Sequence[str]) -> type[Responder]:
    """A responder for ``providers`` whose secrets can only be rotated on their own host."""
    names = ", ".join(replaced)

    class OnHostOnly(Responder):
        name: ClassVar[str] = ON_HOST_RESPONDER
        needs_config: ClassVar[bool] = False

        def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
            return [
                (c, Planned(action="revoke", detail=f"manual on {', '.join(hosts_of(c))}: "
                            f"{c.kind} {c.fingerprint}"))
                for c in creds
            ]

        def revoke(self, cred: Credential) -> Outcome:
            hosts = ", ".join(hosts_of(cred)) or "its host"
            places = "; ".join(str(loc) for loc in cred.locations)
            return ManualRequired(
                instructions=(
                    f"{cred.kind} {cred.fingerprint} is the agent's own secret on {hosts}; "
                    f"clawback replaces it by editing files ({names}), which it does only on "
                    f"the machine it runs on. On {hosts}, run `clawback contain` (its "
                    f"agent-secrets step rotates it everywhere it is found) or replace it by "
                    f"hand in: {places}"
                ),
            )

    OnHostOnly.providers = providers
    return OnHostOnly


def not_over_ssh(action_name: str) -> type[Action]:
    """Stands in for an action with no SSH variant: a manual step on each host."""

    class NotOverSsh(Action):
        name: ClassVar[str] = action_name
        state_changing: ClassVar[bool] = False

        def __init__(self, context: ResponderContext, params: Any) -> None:
            super().__init__(context, params)

        def targets(self) -> list[str]:
            return [str(self.context.host_name)]

        def _instructions(self) -> str:
            return (
                f"{action_name} changes the agent's files on {self.context.host_name}, which "
                "clawback does not do over SSH: on that host run `clawback contain` (or this "
                f"playbook's {action_name} step there), or apply it by hand"
            )

        def plan(self, target: str) -> Planned:
            return Planned(action=action_name, detail=f"manual: {self._instructions()}")

        def execute(self, target: str) -> Outcome:
            return ManualRequired(instructions=self._instructions())

    return NotOverSsh
