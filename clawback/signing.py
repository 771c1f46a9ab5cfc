"""The installation's timeline signing key: one Ed25519 key, kept in the OS keyring.

The private key never leaves this module in any printable form: ``Signer`` shows only its key
name and public fingerprint, and no error message quotes the stored value. The public half is
exported next to every incident (``signing-key.pub``) so ``clawback verify --pubkey`` can pin it.

Key names and key IDs follow C2SP signed-note, so checkpoints can be checked by any
signed-note verifier: key ID = SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4].
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import socket
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clawback.errors import BadInput

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

KEYRING_SERVICE = "clawback"
KEYRING_USERNAME = "timeline-signing-key"
# DER of SEQUENCE { SEQUENCE { OID 1.3.101.112 (id-Ed25519) }, BIT STRING (33 bytes) }.
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")

# signed-note signature type for Ed25519.
_ED25519_NOTE_TYPE = b"\x01"

_KEYRING_ADVICE = (
    "install keyrings.alt (pip install keyrings.alt), "
    "or set PYTHON_KEYRING_BACKEND=keyrings.alt.file.PlaintextKeyring, "
    "or unlock your Secret Service (for example: gnome-keyring-daemon --unlock)"
)


def default_key_name() -> str:
    """``clawback/<hostname>``: signed-note key names may not contain spaces or '+'."""
    host = re.sub(r"[\s+]+", "-", socket.gethostname()) or "localhost"
    return f"clawback/{host}"


def note_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte C2SP signed-note key ID of an Ed25519 key under ``name``."""
    return hashlib.sha256(name.encode() + b"\n" + _ED25519_NOTE_TYPE + public_key).digest()[:4]


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key a verifier trusts (pinned from a file, or read from entry 0)."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise ValueError(f"an Ed25519 public key is 32 bytes, not {len(self.raw)}")

    @property
    def fingerprint(self) -> str:
        """Hex SHA-256 of the raw key: the form written into every timeline entry."""
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def short_fingerprint(self) -> str:
        return f"SHA256:{self.fingerprint[:16]}"

    def note_key_id(self, name: str) -> bytes:
        return note_key_id(name, self.raw)

    @cached_property
    def _key(self) -> Ed25519PublicKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        return Ed25519PublicKey.from_public_bytes(self.raw)

    def verify(self, signature: bytes, data: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            self._key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def pem(self) -> str:
        # An Ed25519 SubjectPublicKeyInfo is a fixed 12-byte DER prefix and the raw key
        # (RFC 8410 section 4). Written here because cryptography's serialization package costs
        # the panic button ~15 ms before its first action; a test compares with cryptography.
        body = base64.encodebytes(_ED25519_SPKI_PREFIX + self.raw).decode()
        return f"-----BEGIN PUBLIC KEY-----\n{body}-----END PUBLIC KEY-----\n"

    @classmethod
    def from_base64(cls, text: str) -> PublicKey:
        return cls(base64.b64decode(text, validate=True))

    def base64(self) -> str:
        return base64.b64encode(self.raw).decode()


class Signer:
    """Holds the private key; signs timeline entries and checkpoints."""

    __slots__ = ("_private", "key_name", "public_key")

    def __init__(self, private_key: Ed25519PrivateKey, key_name: str) -> None:
        if not key_name or re.search(r"[\s+]", key_name):
            raise ValueError("a signed-note key name is non-empty, without spaces or '+'")
        self._private = private_key
        self.key_name = key_name
        # The *_raw methods spare the panic button the serialization package (its SSH
        # support pulls in bcrypt and every cipher: ~15 ms before the first action).
        self.public_key = PublicKey(private_key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls, name: str | None = None) -> Signer:
        """A fresh key (tests, and first use of ``load_signing_key``)."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.generate(), name or default_key_name())

    @classmethod
    def from_private_bytes(cls, raw: bytes, name: str | None = None) -> Signer:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.from_private_bytes(raw), name or default_key_name())

    @property
    def public_key_bytes(self) -> bytes:
        return self.public_key.raw

    def public_key_pem(self) -> str:
        return self.public_key.pem()

    @property
    def key_id(self) -> bytes:
        return self.public_key.note_key_id(self.key_name)

    @property
    def fingerprint(self) -> str:
        return self.public_key.fingerprint

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def _private_bytes(self) -> bytes:
        return self._private.private_bytes_raw()

    def __repr__(self) -> str:
        return f"Signer({self.key_name}, {self.public_key.short_fingerprint})"

    def __reduce__(self) -> Any:
        raise TypeError("the signing key is never serialized")


class KeyringUnusable(BadInput):
    """The keyring cannot keep the signing key: no backend, an error, a damaged entry."""


def _keyring_failure(action: str, exc: BaseException | None = None) -> KeyringUnusable:
    reason = f" ({type(exc).__name__})" if exc is not None else ""
    return KeyringUnusable(
        f"cannot {action} the timeline signing key in the OS keyring{reason}: {_KEYRING_ADVICE}"
    )


def _usable_backend() -> Any:
    import keyring
    from keyring.backends import fail, null

    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring | null.Keyring):
        raise KeyringUnusable(
            f"no usable keyring backend ({type(backend).__module__}) to keep the timeline "
            f"signing key: {_KEYRING_ADVICE}"
        )
    from clawback.keyring_files import check_backend

    # A keyring file someone else could read or swap would hand them the signing key (and
    # every rotated secret): not used, as if there were no keyring.
    try:
        check_backend(backend)
    except BadInput as exc:
        raise KeyringUnusable(exc.message) from None
    return keyring


def keyring_problem() -> str | None:
    """Why the real run could not keep its signing key in the keyring, read-only (a dry run
    and the preflight ask this); None when it could."""
    from keyring.errors import KeyringError

    try:
        keyring = _usable_backend()
        stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USERNAME)
    except KeyringUnusable as exc:
        return exc.message
    except (KeyringError, OSError) as exc:
        return _keyring_failure("read", exc).message
    if stored is not None and _decode_private(stored) is None:
        return _damaged_entry().message
    return None


def _decode_private(stored: str) -> bytes | None:
    try:
        raw = base64.b64decode(stored, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def _damaged_entry() -> KeyringUnusable:
    return KeyringUnusable(
        f"the keyring entry {KEYRING_SERVICE}/{KEYRING_USERNAME} is not a base64 32-byte "
        "Ed25519 private key; delete it (keyring del clawback timeline-signing-key) to have "
        "a new key created, or restore it from your backup"
    )


def load_signing_key(key_name: str | None = None) -> Signer:
    """The installation's signing key from keyring, created and stored on first use.

    Raises KeyringUnusable (a BadInput), with advice naming the fix, when no keyring backend
    works or the entry is damaged.
    """
    from keyring.errors import KeyringError

    keyring = _usable_backend()
    # File-based backends (keyrings.alt) fail with OSError rather than KeyringError.
    try:
        stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USERNAME)
    except (KeyringError, OSError) as exc:
        raise _keyring_failure("read", exc) from None
    if stored is None:
        fresh = Signer.generate(key_name)
        try:
            keyring.set_password(
                KEYRING_SERVICE,
                KEYRING_USERNAME,
                base64.b64encode(fresh._private_bytes()).decode(),
            )
            # Read back rather than trust set_password: a backend that drops writes would make
            # every run sign with a new, unrecorded key. Also settles a race between two first
            # runs on whichever key was stored last.
            stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USERNAME)
        except (KeyringError, OSError) as exc:
            raise _keyring_failure("store", exc) from None
        if stored is None:
            raise _keyring_failure("keep")
    raw = _decode_private(stored)
    if raw is None:
        raise _damaged_entry()
    return Signer.from_private_bytes(raw, key_name)


# Degraded mode: when the keyring cannot keep the installation's key, an incident is signed by
# a key of its own, kept beside it. Its signatures then prove only what a copy kept off the host
# (its public key, or a checkpoint) anchors: whoever can read the incident directory can sign.
INCIDENT_KEY_FILE = "signing-key.private"


def incident_key(incident_dir: Path, key_name: str | None = None) -> Signer:
    """A new signing key for one incident, written 0600 into its directory."""
    from responders.kit.private_files import write_private

    signer = Signer.generate(key_name)
    write_private(Path(incident_dir) / INCIDENT_KEY_FILE,
                  base64.b64encode(signer._private_bytes()).decode() + "\n")
    return signer


def signer_for_incident(incident_dir: Path, key_name: str | None = None) -> Signer:
    """The key that signs an existing incident: its own key file when it has one (degraded
    mode), else the installation's key from the keyring."""
    from clawback.trusted_files import read_trusted_file

    path = Path(incident_dir) / INCIDENT_KEY_FILE
    if not path.exists():
        return load_signing_key(key_name)
    raw = _decode_private(read_trusted_file(path, what="incident signing key").decode(
        "ascii", errors="replace").strip())
    if raw is None:
        raise BadInput("not a base64 32-byte Ed25519 private key", path=path)
    return Signer.from_private_bytes(raw, key_name)


def load_public_key(path: Path) -> PublicKey:
    """An Ed25519 public key from a PEM file (``signing-key.pub``), for ``verify --pubkey``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read the public key: {exc.strerror}", path=path) from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise BadInput(
            "not a PEM public key (expected the signing-key.pub written next to the incident)",
            path=path,
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise BadInput("the public key is not an Ed25519 key", path=path)
    return PublicKey(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
