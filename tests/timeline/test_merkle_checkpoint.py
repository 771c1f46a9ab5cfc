"""RFC 6962 roots against pymerkle, and checkpoints against the Go signed-note reference."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from clawback.checkpoint import (
    CheckpointFormatError,
    checkpoint_body,
    origin_for,
    parse_checkpoint,
    parse_checkpoints,
    sign_checkpoint,
    sign_note,
)
from clawback.merkle import root_hash
from clawback.signing import Signer

# Known answer from golang.org/x/mod/sumdb/note's documentation (the reference implementation
# of signed notes), used as data: Ed25519 is deterministic, so our signer must reproduce it.
GO_SIGNER_KEY = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"  # 0x01 || seed
GO_VERIFIER_KEY = "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"  # 0x01 || public key
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNATURE_LINE = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpR"
    "Zb6KE6RyyBwJnAM=\n"
)


def go_signer() -> Signer:
    raw = base64.b64decode(GO_SIGNER_KEY)
    assert raw[0] == 1
    return Signer.from_private_bytes(raw[1:], "PeterNeumann")


def pymerkle_root(leaves: list[bytes]) -> bytes:
    tree = InmemoryTree(algorithm="sha256")
    for leaf in leaves:
        tree.append_entry(leaf)
    if not leaves:
        return hashlib.sha256(b"").digest()
    root: bytes = tree.get_root()
    return root


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=70))
def test_root_matches_pymerkle(leaves: list[bytes]) -> None:
    assert root_hash(leaves) == pymerkle_root(leaves)


def test_root_of_every_prefix_up_to_33_matches_pymerkle() -> None:
    # Every split shape up to two full levels past a power of two, including n = 2^k and 2^k+1.
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(33)]
    tree = InmemoryTree(algorithm="sha256")
    for n, leaf in enumerate(leaves, start=1):
        tree.append_entry(leaf)
        assert root_hash(leaves[:n]) == tree.get_root(n)


def test_empty_tree_is_the_hash_of_nothing() -> None:
    assert root_hash([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_note_signature_reproduces_the_go_reference() -> None:
    signer = go_signer()
    assert base64.b64encode(b"\x01" + signer.public_key_bytes).decode() == GO_VERIFIER_KEY
    assert signer.key_id.hex() == "c74f20a3"
    assert sign_note(GO_TEXT, signer).line() == GO_SIGNATURE_LINE


def test_checkpoint_round_trip_and_layout(signer: Signer) -> None:
    root = hashlib.sha256(b"root").digest()
    text = sign_checkpoint(origin_for("inc-1"), 7, root, signer)
    body, blank, signature = text.partition("\n\n")
    assert body + "\n" == checkpoint_body("clawback/inc-1", 7, root)
    assert body.split("\n") == ["clawback/inc-1", "7", base64.b64encode(root).decode()]
    assert blank == "\n\n"
    assert signature.startswith(f"\u2014 {signer.key_name} ")
    cp = parse_checkpoint(text)
    assert (cp.origin, cp.size, cp.root) == ("clawback/inc-1", 7, root)
    assert cp.signature_by(signer.public_key) == "valid"
    assert cp.text() == text


def test_checkpoint_signature_status(signer: Signer) -> None:
    text = sign_checkpoint("clawback/inc-1", 7, bytes(32), signer)
    other = Signer.generate("clawback/elsewhere")
    assert parse_checkpoint(text).signature_by(other.public_key) == "absent"
    # Same key name and key, different claimed size: the signature no longer covers the body.
    forged = text.replace("\n7\n", "\n8\n", 1)
    assert parse_checkpoint(forged).signature_by(signer.public_key) == "invalid"


def test_unknown_signatures_are_ignored_beside_a_known_one(signer: Signer) -> None:
    text = sign_checkpoint("clawback/inc-1", 3, bytes(32), signer)
    witness = Signer.generate("witness.example/w1")
    body = text.split("\n\n")[0] + "\n"
    cosigned = text + sign_note(body, witness).line()
    cp = parse_checkpoint(cosigned)
    assert len(cp.signatures) == 2
    assert cp.signature_by(signer.public_key) == "valid"
    assert cp.signature_by(witness.public_key) == "valid"


def test_history_file_holds_many_checkpoints(signer: Signer) -> None:
    notes = [sign_checkpoint("clawback/inc-1", n, bytes([n]) * 32, signer) for n in (1, 4, 9)]
    history = "".join(note + "\n" for note in notes)
    found = parse_checkpoints(history)
    assert [cp.size for cp in found] == [1, 4, 9]
    assert [cp.first_line for cp in found] == [1, 7, 13]
    assert all(cp.signature_by(signer.public_key) == "valid" for cp in found)


def test_crlf_paste_still_verifies(signer: Signer) -> None:
    text = sign_checkpoint("clawback/inc-1", 2, bytes(32), signer)
    cp = parse_checkpoint(text.replace("\n", "\r\n"))
    assert cp.signature_by(signer.public_key) == "valid"


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda t: t.split("\n\n")[0] + "\n", "no signature block"),
        (lambda t: t.rstrip("\n"), "ends with a newline"),
        (lambda t: t.replace("\n\n", "\n\x07\n", 1), "control character"),
        (lambda t: t.replace("\n2\n", "\n02\n", 1), "not a decimal"),
        (
            lambda t: t.replace("\u2014 clawback/test-host ", "\u2014 clawback/test-host !"),
            "base64",
        ),
        (lambda t: "\n".join(t.split("\n")[:1] + t.split("\n")[3:]), "origin, a tree size"),
    ],
)
def test_malformed_checkpoints_are_refused(signer: Signer, mangle: object, message: str) -> None:
    text = sign_checkpoint("clawback/inc-1", 2, bytes(32), signer)
    assert callable(mangle)
    with pytest.raises(CheckpointFormatError, match=message):
        parse_checkpoint(mangle(text))
