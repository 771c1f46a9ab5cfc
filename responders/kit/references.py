"""What a credential reference looks like: ``keyring:SERVICE/USER`` or ``env:NAME``.

The config loader (engine) and the provider settings (responders) both refuse a plain value
where a reference is expected; they share this one definition.
"""

from __future__ import annotations

import re

from responders.interface import ResponderError

_REFERENCE = re.compile(r"^(?P<scheme>keyring|env):(?P<body>.+)$")


def is_reference(text: str) -> bool:
    return bool(_REFERENCE.match(text))


def parse_reference(reference: str) -> tuple[str, str, str]:
    """Split a reference into (scheme, service-or-env-name, user)."""
    match = _REFERENCE.match(reference)
    if not match:
        raise ResponderError(
            f"{reference!r} is not a credential reference: write keyring:SERVICE/USER or env:NAME"
        )
    scheme, body = match["scheme"], match["body"]
    if scheme == "env":
        return scheme, body, ""
    service, sep, user = body.partition("/")
    if not sep or not service or not user:
        raise ResponderError(f"keyring reference {reference!r} must look like keyring:SERVICE/USER")
    return scheme, service, user
