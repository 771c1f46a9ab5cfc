"""The one writer of intent, event and result records in an incident's timeline.

The runner, the rotation ledger (and, for issue 16b, restore and fleet) record through a
``Recorder``: an intent before each state-changing action, its result after (linked by the
intent's sequence number), and events in between. Everything it writes passes the redactor
first (no secret value reaches the timeline, whatever a responder put in its outcome) and, on a
fleet member, names the host. Responders never record: they return outcomes, and the engine
records them here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from responders.interface import (
    Collected,
    Failed,
    ManualRequired,
    Outcome,
    Planned,
    Refused,
    Skipped,
    Unproven,
)
from responders.kit.redaction import Redactor

if TYPE_CHECKING:
    from clawback.timeline import Timeline


class Recorder:
    """Intent, event and result records for one incident (``timeline`` None: a dry run, which
    records nothing)."""

    def __init__(self, timeline: Timeline | None, redactor: Redactor | None = None, *,
                 host_name: str | None = None) -> None:
        self.timeline = timeline
        self.redactor = redactor if redactor is not None else Redactor()
        self.host_name = host_name

    @property
    def active(self) -> bool:
        return self.timeline is not None

    def with_host(self, target: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(target)
        if self.host_name is not None:
            out["host"] = self.host_name
        return out

    def intent(self, step: str, action: str, target: Mapping[str, Any]) -> int | None:
        """Written before the action; its sequence number links the result to it."""
        if self.timeline is None:
            return None
        entry = self.timeline.append(
            step=step, action=action, phase="intent",
            target=self.redactor.value(self.with_host(target)),
        )
        return int(entry.seq)

    def event(self, step: str, action: str, *, detail: str = "",
              target: Mapping[str, Any] | None = None, outcome: str | None = None,
              extra: Mapping[str, Any] | None = None, evidence_refs: Sequence[str] = ()) -> None:
        if self.timeline is None:
            return
        if target is not None:
            target = self.redactor.value(self.with_host(target))
        elif self.host_name is not None:
            target = self.with_host({})
        self.timeline.append(
            step=step, action=action, phase="event", detail=self.redactor.text(detail),
            target=target, outcome=outcome, evidence_refs=evidence_refs,
            extra=self.redactor.value(dict(extra)) if extra else None,
        )

    def result(self, step: str, action: str, outcome: Outcome, *, target: Mapping[str, Any],
               evidence_refs: Sequence[str] = (), intent_seq: int | None = None) -> None:
        """The outcome of an action (already scrubbed by the caller when it keeps it too)."""
        if self.timeline is None:
            return
        self.timeline.append(
            step=step, action=action, phase="result",
            target=self.redactor.value(self.with_host(target)),
            outcome=outcome.name,
            detail=outcome_summary(outcome),
            evidence_refs=evidence_refs,
            extra=outcome_fields(outcome),
            intent_seq=intent_seq,
        )

    def act(self, step: str, action: str, target: Mapping[str, Any],
            do: Callable[[], Outcome]) -> Outcome:
        """Intent, the action, its result: the whole record of one state-changing action."""
        seq = self.intent(step, action, target)
        outcome = do()
        self.result(step, action, outcome, target=target, intent_seq=seq)
        return outcome


def outcome_summary(outcome: Outcome) -> str:
    """One line a person can read: the detail plus what the outcome type carries."""
    parts = [outcome.detail] if outcome.detail else []
    if isinstance(outcome, Failed) and outcome.error:
        parts.append(outcome.error)
    elif isinstance(outcome, Skipped | Refused) and outcome.reason:
        parts.append(outcome.reason)
    elif isinstance(outcome, ManualRequired) and outcome.instructions:
        parts.append(outcome.instructions)
    elif isinstance(outcome, Unproven):
        parts += [p for p in (outcome.reason, outcome.check and f"check: {outcome.check}") if p]
    elif isinstance(outcome, Collected) and not parts:
        parts.append(f"{len(outcome.items)} item(s) sealed in {Path(outcome.archive).name}")
    elif isinstance(outcome, Planned) and outcome.commands:
        parts.append("; ".join(outcome.commands))
    return " — ".join(parts)


def outcome_fields(outcome: Outcome) -> dict[str, Any]:
    """The outcome's own fields as JSON-safe data for the timeline (floats become strings)."""
    out: dict[str, Any] = {"status": outcome.status}
    for f in dataclasses.fields(outcome):
        if f.name in ("detail", "items"):
            continue
        value = getattr(outcome, f.name)
        if f.name == "facts":
            if value:
                out["facts"] = _json_safe(value)
            continue
        if value in ("", None, (), False):
            continue
        out[f.name] = _json_safe(value)
    return out


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return format(value, "g")  # canonical JSON forbids floats; keep the value readable
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)
