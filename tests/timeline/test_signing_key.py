"""The installation signing key in keyring: created once, reused, never printed."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail, null
from timeline_builders import INCIDENT_ID, write_run

from clawback.errors import BadInput
from clawback.signing import (
    KEYRING_SERVICE,
    KEYRING_USERNAME,
    Signer,
    load_public_key,
    load_signing_key,
    note_key_id,
)


@pytest.fixture
def restore_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def test_key_is_created_on_first_use_then_reused(memory_keyring: object, tmp_path: Path) -> None:
    first = load_signing_key()
    stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USERNAME)
    assert stored is not None
    assert len(base64.b64decode(stored, validate=True)) == 32
    second = load_signing_key()
    assert second.public_key_bytes == first.public_key_bytes
    assert second.sign(b"x") == first.sign(b"x")  # Ed25519 is deterministic: same private key


def test_key_identity_follows_c2sp(memory_keyring: object) -> None:
    signer = load_signing_key("clawback/host-a")
    pub = signer.public_key_bytes
    assert signer.key_name == "clawback/host-a"
    assert signer.key_id == hashlib.sha256(b"clawback/host-a\n\x01" + pub).digest()[:4]
    assert signer.key_id == note_key_id("clawback/host-a", pub)
    assert signer.fingerprint == hashlib.sha256(pub).hexdigest()
    assert signer.public_key_pem().startswith("-----BEGIN PUBLIC KEY-----")


def test_default_key_name_is_the_host(memory_keyring: object) -> None:
    import socket

    assert load_signing_key().key_name == f"clawback/{socket.gethostname()}"


@pytest.mark.parametrize("backend", [fail.Keyring, null.Keyring])
def test_no_working_keyring_is_bad_input_with_advice(restore_keyring: None, backend: type) -> None:
    keyring.set_keyring(backend())
    with pytest.raises(BadInput) as caught:
        load_signing_key()
    advice = str(caught.value)
    assert "keyrings.alt" in advice
    assert "PYTHON_KEYRING_BACKEND=" in advice
    assert "Secret Service" in advice
    assert caught.value.exit_code == 2


def test_damaged_stored_key_is_refused_without_quoting_it(memory_keyring: object) -> None:
    damaged = "c2VjcmV0LWJ1dC1ub3QtYS1rZXk-not-base64"
    keyring.set_password(KEYRING_SERVICE, KEYRING_USERNAME, damaged)
    with pytest.raises(BadInput) as caught:
        load_signing_key()
    assert damaged not in str(caught.value)
    assert "keyring del clawback timeline-signing-key" in str(caught.value)


def test_private_key_never_leaves_in_any_output(memory_keyring: object, tmp_path: Path) -> None:
    signer = load_signing_key()
    stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USERNAME)
    assert stored is not None
    raw_hex = base64.b64decode(stored).hex()
    incident = write_run(tmp_path / INCIDENT_ID, signer)
    written = b"".join(p.read_bytes() for p in incident.directory.iterdir())
    for form in (stored.encode(), raw_hex.encode(), stored.rstrip("=").encode()):
        assert form not in written
    assert stored not in repr(signer) and raw_hex not in repr(signer)
    with pytest.raises(TypeError):
        __import__("pickle").dumps(signer)


def test_public_key_file_round_trips(tmp_path: Path, signer: Signer) -> None:
    path = tmp_path / "signing-key.pub"
    path.write_text(signer.public_key_pem())
    assert load_public_key(path) == signer.public_key


@pytest.mark.parametrize(
    "content",
    [b"not a key", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"],
)
def test_bad_public_key_file_is_bad_input(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "key.pub"
    path.write_bytes(content)
    with pytest.raises(BadInput, match="PEM public key"):
        load_public_key(path)


def test_non_ed25519_public_key_is_bad_input(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    path = tmp_path / "ec.pub"
    path.write_bytes(pem)
    with pytest.raises(BadInput, match="not an Ed25519 key"):
        load_public_key(path)


def test_missing_public_key_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as caught:
        load_public_key(tmp_path / "absent.pub")
    assert caught.value.path == str(tmp_path / "absent.pub")


def test_keyring_that_cannot_write_is_bad_input(
    restore_keyring: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keyrings.alt.file import PlaintextKeyring

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker / "data"))
    keyring.set_keyring(PlaintextKeyring())
    with pytest.raises(BadInput, match="cannot store the timeline signing key") as caught:
        load_signing_key()
    assert "keyrings.alt" in str(caught.value)


def test_file_keyring_keeps_the_key_between_processes(
    restore_keyring: None, tmp_path: Path
) -> None:
    from keyrings.alt.file import PlaintextKeyring

    keyring.set_keyring(PlaintextKeyring())
    first = load_signing_key()
    keyring.set_keyring(PlaintextKeyring())  # a fresh backend object reads the file again
    assert load_signing_key().public_key == first.public_key


@pytest.mark.parametrize("seed", [bytes(32), bytes(range(32)), b"\xff" * 32])
def test_public_key_pem_is_what_cryptography_writes(seed: bytes, tmp_path: Path) -> None:
    """signing-key.pub is written without cryptography's serialization package (start-up
    cost on the panic path); it must be byte for byte what that package writes, and load."""
    from cryptography.hazmat.primitives import serialization

    signer = Signer.from_private_bytes(seed, "clawback/test")
    expected = signer._private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    assert signer.public_key_pem() == expected
    path = tmp_path / "signing-key.pub"
    path.write_text(signer.public_key_pem())
    assert load_public_key(path).raw == signer.public_key_bytes
    assert signer._private_bytes() == seed
