"""``clawback verify``: prove an incident's timeline is intact, or say exactly what is wrong.

Each finding is its own Verdict naming the entry seq (or the file) it is about:

failures (exit 1)
  MALFORMED_ENTRY       a line is not a v1 entry (bad UTF-8/JSON, fields, types, floats, torn)
  DUPLICATE_KEY_JSON    a line repeats a JSON key (parsers would disagree on its meaning)
  NON_CANONICAL_JSON    a line's bytes are not the RFC 8785 encoding of what it says
  EMPTY_TIMELINE        timeline.jsonl has no entries
  ENTRY_MODIFIED        an entry's content does not match its ``hash``
  BAD_SIGNATURE         ``sig`` is not the trusted key's signature of the entry's hash
  WRONG_KEY             entries (or a checkpoint) signed by a key other than the trusted one:
                        the pinned --pubkey, else the key entry 0 records
  NO_TRUSTED_KEY        no --pubkey and no readable entry 0: signatures can't be checked
  SEQ_GAP               seqs missing (entries deleted)
  SEQ_REORDER           an entry appears after one with a higher seq
  DUPLICATE_ENTRY       a seq appears twice (an exact copy, or a forked entry)
  CHAIN_BROKEN          ``prev`` is not the hash of the entry before (insertion, replacement)
  RESULT_MISMATCH       a result's ``intent_seq`` names no matching earlier intent
  NOT_CLOSED            no ``close`` entry at the end: interrupted run or cut-off tail
  CLOSE_COUNT_MISMATCH  the close entry's count disagrees with the entries present
  CHECKPOINT_MALFORMED  a checkpoint file in the incident directory can't be parsed
  CHECKPOINT_BAD_SIGNATURE  a checkpoint's signature by the trusted key does not verify
  CHECKPOINT_OTHER_LOG  a checkpoint's origin names another incident
  TRUNCATED             the log is shorter than a checkpoint says it was
  REWRITTEN             the log's first N entries differ from what a checkpoint committed to
warnings (exit 0)
  CRASHED_ACTION        an intent no result points to: the run stopped during that action
  KEY_IN_INCIDENT       signed by a key kept in the incident directory (the keyring could not
                        keep one: degraded mode); only copies kept off the host prove it
  UNANCHORED            no --checkpoint: a cut-off tail, or a rewrite by someone holding the
                        signing key, can't be ruled out
  PARTLY_ANCHORED       the --checkpoint is older than the log: the entries after it are not
                        anchored (a later checkpoint printed during the run anchors them)
ok
  INTACT                nothing failed and an external checkpoint anchors the log

Checkpoints found in the incident directory are checked too, but they live beside the log, so
only a ``--checkpoint`` kept elsewhere anchors it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clawback.checkpoint import Checkpoint, CheckpointFormatError, origin_for, parse_checkpoints
from clawback.errors import EXIT_OK, EXIT_TAMPERED, BadInput
from clawback.merkle import root_hash
from clawback.signing import PublicKey, load_public_key
from clawback.timeline import (
    CHECKPOINT_FILE,
    CHECKPOINT_HISTORY_FILE,
    GENESIS_PREV,
    TIMELINE_FILE,
    Entry,
    EntryFormatError,
    parse_entry_line,
    public_key_of,
    signed_message,
)
from clawback.trusted_files import open_regular, read_regular
from clawback.verdict import Verdict

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

EvidenceChecker = Callable[[Path, str | None], list[Verdict]]

# Signatures handed to a worker thread at a time: big enough to amortize the hand-off, small
# enough that a short log never starts a pool.
_SIGNATURE_BATCH = 256
_GENESIS = bytes.fromhex(GENESIS_PREV)


@dataclass
class VerifyReport:
    incident_dir: Path
    verdicts: list[Verdict]
    entry_count: int = 0
    incident_id: str | None = None
    key_fingerprint: str | None = None
    anchored: bool = False
    checkpoint_sizes: list[int] = field(default_factory=list)
    timeline_sha256: str | None = None  # of the bytes verified

    @property
    def intact(self) -> bool:
        return not any(v.severity == "failure" for v in self.verdicts)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.intact else EXIT_TAMPERED

    def codes(self) -> list[str]:
        return [v.code for v in self.verdicts]

    def as_dict(self) -> dict[str, Any]:
        return {
            "incident_dir": str(self.incident_dir),
            "incident_id": self.incident_id,
            "entry_count": self.entry_count,
            "key_fingerprint": self.key_fingerprint,
            "anchored": self.anchored,
            "checkpoint_sizes": self.checkpoint_sizes,
            "intact": self.intact,
            "exit_code": self.exit_code,
            "verdicts": [v.as_dict() for v in self.verdicts],
        }


def _span(first: int, last: int) -> str:
    return f"entry {first}" if first == last else f"entries {first}–{last}"


def _runs(seqs: Sequence[int]) -> list[tuple[int, int]]:
    """Contiguous runs of sorted ints: [1,2,3,7] -> [(1,3),(7,7)]."""
    runs: list[tuple[int, int]] = []
    for s in seqs:
        if runs and s == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], s)
        else:
            runs.append((s, s))
    return runs


@dataclass(slots=True)
class _Seen:
    """What verify keeps of a parsed entry: enough for every check, not the entry itself.

    A 100,000-entry log must verify in bounded memory, so the fields, target and detail of an
    entry are dropped once parsed; the few messages that quote them re-read that one line
    (``offset``).
    """

    seq: int
    offset: int  # where the line starts in the file
    digest: bytes  # the entry's ``hash``, as bytes
    prev: bytes
    key: str  # interned: one object per signing key
    phase: str
    action: str
    intent_seq: int | None
    # sha256 over (step, action, target) of intents and results: a result must name an
    # intent for the same ones.
    match: bytes | None
    extra: dict[str, Any] | None  # close entries only: their count and manifest hash

    @property
    def hash(self) -> str:
        return self.digest.hex()


def _match_digest(fields: Mapping[str, Any]) -> bytes:
    # Sorted keys: equal targets hash equal whatever their order, as dicts compare.
    text = json.dumps([fields["step"], fields["action"], fields["target"]], sort_keys=True)
    return hashlib.sha256(text.encode()).digest()


def _lines(path: Path, whole: Any = None) -> Iterator[tuple[int, bytes, bool]]:
    """(offset, line without its newline, whether it was cut off) for each line, streamed;
    ``whole`` (a hashlib object) is fed every byte of the file."""
    offset = 0
    # Never through a link, never blocking: a FIFO in its place must not hang verify.
    with os.fdopen(open_regular(path), "rb") as fh:
        for raw in fh:
            if whole is not None:
                whole.update(raw)
            torn = not raw.endswith(b"\n")
            yield offset, (raw if torn else raw[:-1]), torn
            offset += len(raw)


def _signature_ok(key: PublicKey, item: tuple[str, str]) -> bool:
    entry_hash, sig_text = item
    try:
        sig = base64.b64decode(sig_text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return key.verify(sig, signed_message(entry_hash))


def _failing_signatures(key: PublicKey, items: Sequence[tuple[int, str, str]]) -> list[int]:
    """Seqs whose signature does not verify; items are (seq, hash, sig)."""
    return [seq for seq, entry_hash, sig in items if not _signature_ok(key, (entry_hash, sig))]


class _BackgroundSignatureCheck:
    """Verifies entry signatures on worker threads while the main thread goes on parsing.

    Ed25519 verification dominates verify's cost and OpenSSL releases the GIL during it, so
    batches handed to a pool overlap with parsing and use every core. At most a few batches
    wait at a time, so memory does not grow with the log.
    """

    def __init__(self, key: PublicKey) -> None:
        self.key = key
        self._batch: list[tuple[int, str, str]] = []
        self._futures: list[Future[list[int]]] = []
        self._failed: list[int] = []
        self._pool: ThreadPoolExecutor | None = None

    def add(self, seq: int, entry_hash: str, sig: str) -> None:
        self._batch.append((seq, entry_hash, sig))
        if len(self._batch) >= _SIGNATURE_BATCH:
            self._submit()

    def _submit(self) -> None:
        if not self._batch:
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
        batch, self._batch = self._batch, []
        self._futures.append(self._pool.submit(_failing_signatures, self.key, batch))
        # Collect what is done, and wait when too much is queued: parsing outruns checking.
        while self._futures and (
            self._futures[0].done() or len(self._futures) > 4 * (os.cpu_count() or 1)
        ):
            self._failed.extend(self._futures.pop(0).result())

    def failures(self) -> list[int]:
        if self._pool is None:  # a short log: not worth a pool
            return _failing_signatures(self.key, self._batch)
        self._submit()
        for future in self._futures:
            self._failed.extend(future.result())
        self._futures = []
        return sorted(self._failed)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


class _Check:
    """One verification run over one incident directory."""

    def __init__(
        self,
        incident_dir: Path,
        pinned: PublicKey | None,
        on_entry: Callable[[Entry], None] | None = None,
        on_unreadable: Callable[[int, str], None] | None = None,
    ) -> None:
        self.incident_dir = incident_dir
        # A report is built from the same single parse of each line.
        self.on_entry = on_entry
        self.on_unreadable = on_unreadable
        self.file_sha256 = hashlib.sha256()
        self.timeline_path = incident_dir / TIMELINE_FILE
        self.pinned = pinned
        self.verdicts: list[Verdict] = []
        self.read: list[_Seen] = []  # parsed entries, in file order
        self.leaves: list[bytes | None] = []  # per line, in file order; None if unreadable
        self.by_seq: dict[int, _Seen] = {}  # first entry found with each seq
        self.trusted: PublicKey | None = None
        self.incident_id: str | None = None
        self._first_incident: str | None = None
        self._modified: list[int] = []  # seqs whose content does not match their hash
        # Started as soon as the key is known (pinned, or entry 0 on the first line), so
        # signatures are checked while parsing goes on.
        self.early_signatures: _BackgroundSignatureCheck | None = None

    def fail(
        self, code: str, message: str, seq: int | None = None, path: str | None = None
    ) -> None:
        self.verdicts.append(Verdict(code, "failure", message, seq, path))

    def warn(self, code: str, message: str, seq: int | None = None) -> None:
        self.verdicts.append(Verdict(code, "warning", message, seq))

    def entry_at(self, offset: int) -> Entry:
        """Re-read the one line at ``offset`` (it parsed once, so it parses again)."""
        with open(self.timeline_path, "rb") as fh:
            fh.seek(offset)
            raw = fh.readline()
        return parse_entry_line(raw.rstrip(b"\n")).entry

    # -- the log itself ----------------------------------------------------------------------

    def parse(self) -> None:
        lineno = 0
        for offset, raw, torn in _lines(self.timeline_path, self.file_sha256):
            lineno += 1
            if torn:
                self.fail(
                    "MALFORMED_ENTRY",
                    f"line {lineno} is incomplete: a write was cut off or the file truncated",
                )
                self.leaves.append(None)
                if self.on_unreadable is not None:
                    self.on_unreadable(lineno, "cut off: the line has no end")
                continue
            try:
                item = parse_entry_line(raw)
            except EntryFormatError as exc:
                self.fail(exc.code, f"line {lineno}: {exc}", exc.seq)
                self.leaves.append(None)
                if self.on_unreadable is not None:
                    self.on_unreadable(lineno, f"{exc.code}: {exc}")
                continue
            entry = item.entry
            if self.on_entry is not None:
                self.on_entry(entry)
            fields = entry.fields
            digest = bytes.fromhex(entry.hash)
            phase = fields["phase"]
            prev = bytes.fromhex(fields["prev"])
            if self.read and prev == self.read[-1].digest:
                prev = self.read[-1].digest  # the same value, held once (100k entries: 6 MB)
            seen = _Seen(
                seq=entry.seq,
                offset=offset,
                digest=digest,
                prev=prev,
                key=sys.intern(fields["key"]),
                phase=sys.intern(phase),
                action=sys.intern(fields["action"])
                if len(fields["action"]) < 64
                else fields["action"],
                intent_seq=fields["intent_seq"],
                match=_match_digest(fields) if phase in ("intent", "result") else None,
                extra=dict(fields["extra"]) if fields["action"] == "close" else None,
            )
            if not item.hash_matches:
                self._modified.append(entry.seq)
            self.read.append(seen)
            self.leaves.append(digest)
            if len(self.read) == 1:
                self._first_incident = str(fields["incident"])
                self._start_signature_check(entry)
            early = self.early_signatures
            if early is not None and seen.key == early.key.fingerprint:
                early.add(entry.seq, entry.hash, fields["sig"])
        if lineno == 0:
            self.fail("EMPTY_TIMELINE", "timeline.jsonl holds no entries")

    def _start_signature_check(self, first: Entry) -> None:
        key = self.pinned
        if key is None and first.seq == 0 and first.action == "open":
            key = public_key_of(first)
        if key is not None:
            self.early_signatures = _BackgroundSignatureCheck(key)

    def check_hashes(self) -> None:
        for seq in self._modified:
            self.fail(
                "ENTRY_MODIFIED",
                f"entry {seq} was edited: its content no longer matches its hash",
                seq,
            )

    def choose_key(self) -> None:
        first0 = next((i for i in self.read if i.seq == 0), None)
        entry0 = self.entry_at(first0.offset) if first0 is not None else None
        if entry0 is not None:
            self.incident_id = str(entry0.fields["incident"])
        elif self.read:
            self.incident_id = self._first_incident
        recorded = public_key_of(entry0) if entry0 is not None and entry0.action == "open" else None
        self.trusted = self.pinned or recorded
        store = (entry0.extra.get("signing_key_store") or {}) if entry0 is not None else {}
        if isinstance(store, dict) and store.get("kind") == "incident-file":
            self.warn(
                "KEY_IN_INCIDENT",
                "the keyring could not keep the signing key, so this incident was signed by a "
                "key kept in its own directory: whoever can read that directory can sign in its "
                "name. Only a --checkpoint or --pubkey copied off the host during the incident "
                "proves the timeline.",
                0,
            )
        if self.trusted is None and self.read:
            self.fail(
                "NO_TRUSTED_KEY",
                "entry 0 is missing or records no signing key, and no --pubkey was given: "
                "no signature can be checked (pass --pubkey signing-key.pub from a safe copy)",
                0,
            )

    def check_signatures(self) -> None:
        key = self.trusted
        if key is None:
            return
        ours: list[_Seen] = []
        foreign_run: list[_Seen] = []
        for item in self.read:
            if item.key == key.fingerprint:
                self._report_foreign(foreign_run, key)
                foreign_run = []
                ours.append(item)
            elif foreign_run and foreign_run[-1].key != item.key:
                self._report_foreign(foreign_run, key)
                foreign_run = [item]
            else:
                foreign_run.append(item)
        self._report_foreign(foreign_run, key)
        early = self.early_signatures
        if early is not None and early.key == key:
            failing = early.failures()
        else:
            # The key was not known while parsing (entry 0 was not the first line): read the
            # signatures again, one line at a time.
            check = _BackgroundSignatureCheck(key)
            try:
                for item in ours:
                    entry = self.entry_at(item.offset)
                    check.add(entry.seq, entry.hash, entry.fields["sig"])
                failing = check.failures()
            finally:
                check.close()
        for seq in failing:
            self.fail(
                "BAD_SIGNATURE",
                f"entry {seq}: the signature does not verify with the trusted key "
                "(forged or edited together with its hash)",
                seq,
            )

    def _report_foreign(self, run: list[_Seen], key: PublicKey) -> None:
        if not run:
            return
        first, last = run[0].seq, run[-1].seq
        trust = "the pinned --pubkey" if self.pinned else "the key entry 0 records"
        self.fail(
            "WRONG_KEY",
            f"{_span(first, last)} signed by key "
            f"{run[0].key[:16]}…, not {trust} ({key.fingerprint[:16]}…)",
            first,
        )

    def check_sequence(self) -> None:
        highest = -1
        for item in self.read:
            seq = item.seq
            earlier = self.by_seq.get(seq)
            if earlier is not None:
                same = earlier.digest == item.digest
                self.fail(
                    "DUPLICATE_ENTRY",
                    f"entry {seq} appears twice"
                    + ("" if same else ", with different content (a forked history)"),
                    seq,
                )
                continue
            if seq < highest:
                self.fail("SEQ_REORDER", f"entry {seq} appears after entry {highest}", seq)
            self.by_seq[seq] = item
            highest = max(highest, seq)
        missing = [s for s in range(highest + 1) if s not in self.by_seq]
        for first, last in _runs(missing):
            self.fail("SEQ_GAP", f"{_span(first, last)} missing or unreadable", first)

    def check_chain(self) -> None:
        for seq, item in sorted(self.by_seq.items()):
            before = self.by_seq.get(seq - 1)
            if seq and before is None:
                continue  # already a SEQ_GAP
            expected = before.digest if before is not None else _GENESIS
            if item.prev != expected:
                self.fail(
                    "CHAIN_BROKEN",
                    f"entry {seq}'s prev is not the hash of entry {seq - 1}"
                    if seq
                    else "entry 0's prev is not the genesis value (64 zeros)",
                    seq,
                )

    def check_intents(self) -> None:
        entries = [self.by_seq[s] for s in sorted(self.by_seq)]
        intents = {e.seq: e for e in entries if e.phase == "intent"}
        answered: set[int] = set()
        for result in (e for e in entries if e.phase == "result"):
            pointer = result.intent_seq
            if pointer is None:
                continue
            intent = intents.get(pointer)
            same_action = intent is not None and intent.match == result.match
            if intent is None or not same_action or pointer >= result.seq:
                self.fail(
                    "RESULT_MISMATCH",
                    f"result {result.seq} points to entry {pointer}, which is not an earlier "
                    "intent for the same step, action and target",
                    result.seq,
                )
                continue
            answered.add(pointer)
        for seq, intent in intents.items():
            if seq not in answered:
                f = self.entry_at(intent.offset).fields
                self.warn(
                    "CRASHED_ACTION",
                    f"entry {seq}: intent to {f['action']} (step {f['step']}, target "
                    f"{f['target']}) has no result; the run stopped during it, so check by "
                    "hand whether it happened",
                    seq,
                )

    def check_close(self, line_count: int) -> str | None:
        """Check the close entry; return the evidence manifest hash it records."""
        if not self.by_seq:
            return None
        last = self.by_seq[max(self.by_seq)]
        for seq in sorted(self.by_seq):
            entry = self.by_seq[seq]
            if entry.action != "close" or entry is last:
                continue
            # An incident reopened with --resume: the close must be followed by a resume entry
            # and count exactly the entries before it.
            following = self.by_seq.get(seq + 1)
            reopened = following is not None and following.action == "resume"
            if not reopened or (entry.extra or {}).get("entry_count") != seq + 1:
                self.fail(
                    "CLOSE_COUNT_MISMATCH",
                    f"entry {seq} closes the incident, but entries up to {last.seq} follow it "
                    "without a resume entry",
                    seq,
                )
        if last.action != "close":
            self.fail(
                "NOT_CLOSED",
                f"the timeline ends at entry {last.seq} without a close entry: the run was "
                "interrupted (finish it with `clawback contain --resume "
                f"{self.incident_id}`), or its tail was cut off",
                last.seq,
            )
            return None
        extra = last.extra or {}
        count = extra.get("entry_count")
        if count != last.seq + 1 or count != line_count:
            self.fail(
                "CLOSE_COUNT_MISMATCH",
                f"the close entry counts {count} entries; it is entry {last.seq} and the file "
                f"has {line_count} lines",
                last.seq,
            )
        manifest = extra.get("evidence_manifest_sha256")
        return manifest if isinstance(manifest, str) else None

    # -- checkpoints -------------------------------------------------------------------------

    def check_checkpoints(self, checkpoints: Sequence[Checkpoint], source: str) -> list[int]:
        """Compare each checkpoint with the log; return the sizes that matched."""
        matched: list[int] = []
        expected_origin = origin_for(self.incident_id or self.incident_dir.name)
        for cp in checkpoints:
            where = f"{source}:{cp.first_line}"
            if cp.origin != expected_origin:
                self.fail(
                    "CHECKPOINT_OTHER_LOG",
                    f"checkpoint at {where} is for {cp.origin!r}, not {expected_origin!r}",
                    path=source,
                )
                continue
            status = cp.signature_by(self.trusted) if self.trusted else "absent"
            if status == "invalid":
                self.fail(
                    "CHECKPOINT_BAD_SIGNATURE",
                    f"checkpoint at {where}: the trusted key's signature does not verify",
                    path=source,
                )
                continue
            if status == "absent":
                signers = ", ".join(sorted({s.key_name for s in cp.signatures}))
                self.fail(
                    "WRONG_KEY",
                    f"checkpoint at {where} is signed by {signers} with a key other than the "
                    "timeline's trusted key: the log or the checkpoint was re-signed",
                    path=source,
                )
                continue
            size = len(self.leaves)
            if cp.size > size:
                self.fail(
                    "TRUNCATED",
                    f"checkpoint at {where} commits to {cp.size} entries; the log has {size}",
                    seq=size,
                    path=source,
                )
                continue
            prefix = self.leaves[: cp.size]
            if any(leaf is None for leaf in prefix) or root_hash(prefix) != cp.root:  # type: ignore[arg-type]
                self.fail(
                    "REWRITTEN",
                    f"the first {cp.size} entries are not those the checkpoint at {where} "
                    "committed to: the log was rewritten",
                    path=source,
                )
                continue
            matched.append(cp.size)
        return matched

    def check_local_checkpoints(self) -> None:
        seen: set[str] = set()
        for name in (CHECKPOINT_HISTORY_FILE, CHECKPOINT_FILE):
            path = self.incident_dir / name
            if not os.path.lexists(path):
                continue
            try:
                # Never through a link, never blocking: a FIFO here must not hang verify.
                found = parse_checkpoints(read_regular(path).decode("utf-8"))
            except (OSError, UnicodeDecodeError, CheckpointFormatError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else str(exc)
                self.fail("CHECKPOINT_MALFORMED", f"{name}: {reason}", path=str(path))
                continue
            fresh = [cp for cp in found if cp.text() not in seen]
            seen.update(cp.text() for cp in found)
            self.check_checkpoints(fresh, str(path))


def _shipped_verdicts(check: Any, unanchored: bool) -> None:
    """What ``shipped.jsonl`` says was sent off this host ([notify]). Not an anchor (whoever
    holds the host can edit the record); it says where the copy that is one can be found."""
    from clawback.shipping import latest_shipment, normalized_sha256, read_shipments

    shipments = read_shipments(check.incident_dir)
    if not shipments:
        return
    shipped = latest_shipment(check.incident_dir)
    if shipped is None:
        check.warn("CHECKPOINT_NOT_SHIPPED",
                   f"{len(shipments)} checkpoint(s) were to be sent off this host and none "
                   "was delivered (see notify.log): keep a copy of checkpoint.txt yourself")
        return
    known: set[str] = set()
    for name in (CHECKPOINT_HISTORY_FILE, CHECKPOINT_FILE):
        try:
            known.update(normalized_sha256(cp.text()) for cp in parse_checkpoints(
                (check.incident_dir / name).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, CheckpointFormatError):
            continue
    if shipped.checkpoint_sha256 not in known:
        check.warn("SHIPPED_CHECKPOINT_UNKNOWN",
                   f"the checkpoint recorded as shipped (tree size {shipped.tree_size}) is none "
                   "of this incident's own checkpoints: compare the copy you received")
        return
    at = shipped.at.strftime("%Y-%m-%d %H:%M:%S UTC") if shipped.at else "an unknown time"
    advice = ("; pass that copy with --checkpoint to anchor this log" if unanchored else "")
    check.verdicts.append(Verdict(
        "CHECKPOINT_SHIPPED", "ok",
        f"the {'final ' if shipped.final else ''}checkpoint at tree size {shipped.tree_size} "
        f"was sent off this host to {', '.join(shipped.destinations)} at {at}{advice}"))


def _load_external_checkpoints(path: Path) -> list[Checkpoint]:
    try:
        # The operator's own copy: a link is fine, a FIFO must not hang verify.
        text = read_regular(Path(path), follow_links=True).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise BadInput(f"cannot read the checkpoint: {reason}", path=path) from None
    try:
        return parse_checkpoints(text)
    except CheckpointFormatError as exc:
        raise BadInput(
            f"not a checkpoint (paste the block clawback printed): {exc}",
            path=path,
            line=exc.line,
        ) from None


def verify_incident(
    incident_dir: Path,
    *,
    checkpoint: Path | None = None,
    pubkey: Path | None = None,
    evidence_checker: EvidenceChecker | None = None,
    on_entry: Callable[[Entry], None] | None = None,
    on_unreadable: Callable[[int, str], None] | None = None,
) -> VerifyReport:
    """Check an incident directory; BadInput (exit 2) if it or a given file can't be read.

    The timeline is read one line at a time and each line parsed once; ``on_entry`` gets every
    entry that parses and ``on_unreadable`` (line number, reason) every line that does not, in
    file order, so a caller (the report) needs no second parse.
    """
    incident_dir = Path(incident_dir)
    if not incident_dir.is_dir():
        raise BadInput("no such incident directory", path=incident_dir)
    timeline_path = incident_dir / TIMELINE_FILE
    if not os.path.lexists(timeline_path):
        raise BadInput(f"not an incident directory: no {TIMELINE_FILE}", path=incident_dir)
    pinned = load_public_key(pubkey) if pubkey is not None else None
    anchors = _load_external_checkpoints(checkpoint) if checkpoint is not None else None
    check = _Check(incident_dir, pinned, on_entry, on_unreadable)
    try:
        try:
            check.parse()
        except OSError as exc:
            raise BadInput(
                f"cannot read the timeline: {exc.strerror}", path=timeline_path
            ) from None
        check.check_hashes()
        check.choose_key()
        check.check_signatures()
    finally:
        if check.early_signatures is not None:
            check.early_signatures.close()
    check.check_sequence()
    check.check_chain()
    check.check_intents()
    manifest_sha256 = check.check_close(len(check.leaves))
    check.check_local_checkpoints()
    anchored_sizes = check.check_checkpoints(anchors, str(checkpoint)) if anchors else []
    if evidence_checker is not None:
        check.verdicts.extend(evidence_checker(incident_dir, manifest_sha256))

    report = VerifyReport(
        incident_dir=incident_dir,
        verdicts=check.verdicts,
        entry_count=len(check.read),
        incident_id=check.incident_id,
        key_fingerprint=check.trusted.fingerprint if check.trusted else None,
        anchored=bool(anchored_sizes),
        checkpoint_sizes=anchored_sizes,
        timeline_sha256=check.file_sha256.hexdigest(),
    )
    if checkpoint is None:
        check.warn(
            "UNANCHORED",
            f"{report.entry_count} entries checked, but no external checkpoint was given: a "
            "cut-off tail, or a rewrite by someone holding the signing key, can't be ruled out "
            "(pass --checkpoint with the checkpoint printed during the run)",
        )
    elif report.intact:
        anchored = max(anchored_sizes)
        if anchored < len(check.leaves):
            after = len(check.leaves) - anchored
            check.warn(
                "PARTLY_ANCHORED",
                f"the checkpoint anchors the first {anchored} entries; the {after} entries "
                f"after it ({_span(anchored, len(check.leaves) - 1)}) are not anchored: a "
                "rewrite of those by someone holding the signing key can't be ruled out (pass "
                "the last checkpoint printed during the run)",
            )
        check.verdicts.append(
            Verdict(
                "INTACT",
                "ok",
                f"{report.entry_count} entries: hashes, signatures and chain intact, and "
                f"consistent with the checkpoint at size {anchored}",
            )
        )
    _shipped_verdicts(check, checkpoint is None)
    return report
