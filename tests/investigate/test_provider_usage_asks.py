"""How the investigation asks providers about the incident's keys: providers side by side, each
provider's keys one at a time, the answers in the timeline's order whatever the timing."""

from __future__ import annotations

import threading
from typing import Any

from clawback.investigate.provider_usage import ask
from responders.interface import Credential, Skipped

WAIT = 60  # generous: a wait that runs out is the failure, never the pace of the test


class Provider:
    """Answers ``usage`` as a responder does; counts how many of its calls overlap."""

    def __init__(self, name: str, *, hold_until: threading.Event | None = None,
                 arrived: threading.Event | None = None, broken: bool = False) -> None:
        self.name = name
        self.hold_until = hold_until
        self.arrived = arrived
        self.broken = broken
        self.inside = 0
        self.most_inside = 0
        self.asked: list[str] = []
        self._lock = threading.Lock()

    def usage(self, key: Credential) -> Any:
        with self._lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            self.asked.append(key.fingerprint)
        try:
            if self.arrived is not None:
                self.arrived.set()
            if self.hold_until is not None:
                assert self.hold_until.wait(WAIT), "the other provider was never asked"
            if self.broken:
                raise RuntimeError("a bug in this responder")
            return Skipped(reason=f"{self.name} keeps no record of {key.fingerprint}")
        finally:
            with self._lock:
                self.inside -= 1


def cred(provider: str, n: int) -> dict[str, Any]:
    return {"provider": provider, "kind": f"{provider}:api_key", "fingerprint": f"…{n:04d}",
            "key_id": f"key_{n}"}


def test_providers_are_asked_side_by_side_and_each_providers_keys_in_turn() -> None:
    second_asked = threading.Event()
    slow = Provider("slow", hold_until=second_asked)  # answers only once the other is asked
    other = Provider("other", arrived=second_asked)
    broken = Provider("broken", broken=True)
    credentials = [cred("slow", 1), cred("other", 2), cred("slow", 3), cred("nobody", 4),
                   cred("broken", 5), cred("other", 6), cred("slow", 7)]

    entries = ask(credentials, {"slow": slow, "other": other, "broken": broken})  # type: ignore[dict-item]

    assert [e["target"]["fingerprint"] for e in entries] == \
        ["…0001", "…0002", "…0003", "…0005", "…0006", "…0007"]
    assert slow.asked == ["…0001", "…0003", "…0007"] and other.asked == ["…0002", "…0006"]
    assert slow.most_inside == 1 and other.most_inside == 1
    assert [e["extra"]["outcome"] for e in entries] == \
        ["Skipped", "Skipped", "Skipped", "Failed", "Skipped", "Skipped"]
    assert "RuntimeError: a bug in this responder" in entries[3]["detail"]


def test_a_single_provider_is_asked_in_this_thread() -> None:
    here = threading.get_ident()
    seen: list[int] = []

    class Here(Provider):
        def usage(self, key: Credential) -> Any:
            seen.append(threading.get_ident())
            return super().usage(key)

    entries = ask([cred("p", 1), cred("p", 2)], {"p": Here("p")})  # type: ignore[dict-item]

    assert seen == [here, here]
    assert [e["target"]["target"] for e in entries] == ["p:key_1", "p:key_2"]
