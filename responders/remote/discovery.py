"""Credentials found on fleet hosts: read from the agent's answer, merged across hosts.

The agent runs OpenClaw discovery (``discover``) on each host and sends back every secret with
its value; here each becomes a ``Credential`` whose locations are prefixed with the host's name
(``web-1:/home/agent/.aws/credentials``). The same secret on several hosts is one credential
with all their locations, so the keys step revokes it once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from responders.interface import Credential, Location, SecretValue


def host_credentials(host_name: str, answer: Mapping[str, Any]) -> list[Credential]:
    """The agent's ``discover`` answer as Credentials; the plain values go no further."""
    found = []
    for entry in answer.get("credentials") or []:
        found.append(
            Credential.from_secret(
                str(entry["provider"]),
                str(entry["kind"]),
                str(entry["value"]),
                (Location(f"{host_name}:{path}", key) for path, key in entry["locations"]),
                key_id=entry.get("key_id"),
                account=entry.get("account"),
                companions={str(k): str(v) for k, v in (entry.get("companions") or {}).items()},
            )
        )
    return found


def merge(per_host: Iterable[Sequence[Credential]]) -> tuple[list[Credential], list[str]]:
    """One credential per distinct secret, with every host's locations; notes on conflicts."""
    by_secret: dict[SecretValue, list[Credential]] = {}
    for creds in per_host:
        for cred in creds:
            if cred.secret is not None:
                by_secret.setdefault(cred.secret, []).append(cred)
    merged: list[Credential] = []
    notes: list[str] = []
    for secret, sightings in by_secret.items():
        # The most specific reading wins: a key id (AWS pairs the id with its secret) or a
        # known provider over "unknown".
        best = max(sightings, key=lambda c: (c.key_id is not None, c.provider != "unknown"))
        kinds = sorted({c.kind for c in sightings})
        if len(kinds) > 1:
            notes.append(f"the secret {best.fingerprint} is read as {', '.join(kinds)} on "
                         f"different hosts; handled as {best.kind}")
        accounts = {c.account for c in sightings if c.account}
        merged.append(
            Credential.from_secret(
                best.provider,
                best.kind,
                secret.reveal(),
                (loc for c in sightings for loc in c.locations),
                key_id=best.key_id or next((c.key_id for c in sightings if c.key_id), None),
                account=accounts.pop() if len(accounts) == 1 else None,
                companions={k: v.reveal() for c in sightings for k, v in c.companions.items()},
            )
        )
    merged.sort(key=lambda c: (c.provider, c.kind, c.key_id or "", c.fingerprint))
    return merged, notes


def hosts_of(cred: Credential) -> list[str]:
    return sorted({loc.path.split(":", 1)[0] for loc in cred.locations if ":" in loc.path})
