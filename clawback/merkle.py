"""RFC 6962 §2.1 Merkle Tree Hash, the root that checkpoints commit to.

MTH({}) = SHA-256(), a leaf is SHA-256(0x00 || d), a node SHA-256(0x01 || left || right), and a
tree of n > 1 leaves splits at k, the largest power of two smaller than n. The 0x00/0x01 prefixes
are the domain separation RFC 6962 requires for second-preimage resistance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split_point(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_root(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
    size = end - start
    if size == 1:
        return leaf_hashes[start]
    k = _split_point(size)
    return node_hash(
        _subtree_root(leaf_hashes, start, start + k),
        _subtree_root(leaf_hashes, start + k, end),
    )


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """The RFC 6962 Merkle Tree Hash over the leaf data ``leaves`` (not yet leaf-hashed)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    # Recursion depth is log2(n); indices avoid copying slices at every level.
    return _subtree_root([leaf_hash(d) for d in leaves], 0, len(leaves))
