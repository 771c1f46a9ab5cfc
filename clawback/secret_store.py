"""Admin credentials are read through references, and new secrets are written to keyring.

A reference is ``keyring:SERVICE/USER`` or ``env:NAME``. A plain value is never accepted where a
reference is expected: the config loader refuses it before anything runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from responders.interface import ResponderError, SecretValue
from responders.kit.references import is_reference, parse_reference

__all__ = ["KEYRING_SERVICE", "KeyringSecretStore", "is_reference", "parse_reference"]

KEYRING_SERVICE = "clawback"
class KeyringSecretStore:
    """The engine's SecretStore: keyring for storage, keyring or environment for lookups."""

    def __init__(self, *, service: str = KEYRING_SERVICE, environ: Mapping[str, str] | None = None):
        self.service = service
        self._environ = environ if environ is not None else os.environ

    def resolve(self, reference: str) -> SecretValue:
        scheme, name, user = parse_reference(reference)
        if scheme == "env":
            value = self._environ.get(name)
            if not value:
                raise ResponderError(
                    f"the environment variable {name} named by {reference} is not set: "
                    f"export it before running clawback"
                )
            return SecretValue(value)
        keyring = _keyring()
        try:
            value = keyring.get_password(name, user)
        except Exception as exc:  # keyring backends raise their own types
            raise ResponderError(_keyring_advice(exc)) from None
        if value is None:
            raise ResponderError(
                f"nothing is stored in keyring under service {name!r}, user {user!r} "
                f"(from {reference}): store it with `keyring set {name} {user}`"
            )
        return SecretValue(value)

    def store(self, name: str, value: SecretValue) -> str:
        keyring = _keyring()
        try:
            keyring.set_password(self.service, name, value.reveal())
        except Exception as exc:
            raise ResponderError(_keyring_advice(exc)) from None
        return f"keyring:{self.service}/{name}"

    def delete(self, name: str) -> None:
        keyring = _keyring()
        try:
            keyring.delete_password(self.service, name)
        except Exception as exc:
            raise ResponderError(_keyring_advice(exc)) from None


def _keyring():
    # keyring scans its entry points on import: keep it off the start-up path.
    import keyring

    from clawback.errors import BadInput
    from clawback.keyring_files import check_backend

    try:
        # New secrets go here: a keyring file someone else could read or swap is refused.
        check_backend(keyring.get_keyring())
    except BadInput as exc:
        raise ResponderError(str(exc)) from None
    return keyring


def _keyring_advice(exc: Exception) -> str:
    return (
        f"the keyring is not usable ({type(exc).__name__}): install a backend "
        f"(pip install keyrings.alt), unlock your Secret Service, or set "
        f"PYTHON_KEYRING_BACKEND to a working backend"
    )
