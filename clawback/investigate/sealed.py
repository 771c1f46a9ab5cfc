"""Reading an incident's sealed evidence, and nothing else.

``verify_sealed`` runs ``clawback verify`` over the incident (timeline, manifest, every archive
and member) and refuses to go on when anything fails: an investigation over tampered evidence
would lend its authority to whatever the tamperer wrote. ``members`` then streams the archives
once more, member by member, hashing each as it is read and comparing with the manifest, so
what is analysed is exactly what was verified even if a file changed in between; a mismatch
aborts the investigation. Nothing is ever read from the live host.

Memory stays bounded: archives are read as streams (ISA-L gunzip, tar in stream mode) and
members line by line with a cap on a line's length.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from clawback.errors import EXIT_TAMPERED, ClawbackError
from clawback.evidence import Manifest, _HashingSource, evidence_dir, load_manifest
from clawback.investigate.records import MemberRef
from clawback.timeline import Entry
from clawback.verdict import Verdict
from responders.interface import EvidenceItem

CHUNK_BYTES = 1024 * 1024
# A transcript line holds one message; a tool result of many megabytes is possible, a line of
# hundreds is an attack on the reader. Longer lines are skipped (and counted), not buffered.
MAX_LINE_BYTES = 32 * 1024 * 1024


class EvidenceRefused(ClawbackError):
    """The incident does not verify: nothing is investigated (exit 1, the verdicts say why)."""

    exit_code = EXIT_TAMPERED

    def __init__(self, message: str, verdicts: tuple[Verdict, ...] = ()) -> None:
        self.verdicts = verdicts
        super().__init__(message)


@dataclass
class Verified:
    """What ``verify_sealed`` learned from the signed timeline while checking it."""

    incident_dir: Path
    incident_id: str
    manifest: Manifest
    entries_checked: int
    # every credential the timeline names (fingerprints only), in first-seen order
    credentials: dict[str, dict[str, Any]] = field(default_factory=dict)
    opened: str = ""  # ts of the open entry: when contain started
    contained: str = ""  # ts of the last successful stop, revoke or cut
    timeline_sha256: str = ""
    manifest_sha256: str = ""
    anchored: bool = False
    host: Mapping[str, Any] = field(default_factory=dict)


_CONTAINING = ("stop_service", "cut_network")


def _take(verified: Verified) -> Callable[[Entry], None]:
    def take(entry: Entry) -> None:
        fields = entry.fields
        if entry.action == "open" and not verified.opened:
            verified.opened = str(fields.get("ts") or "")
            host = entry.extra.get("host")
            if isinstance(host, Mapping):
                verified.host = dict(host)
        target = fields.get("target")
        if isinstance(target, Mapping) and target.get("fingerprint") and target.get("provider"):
            fp = str(target["fingerprint"])
            known = verified.credentials.setdefault(fp, {
                "fingerprint": fp, "provider": str(target.get("provider") or ""),
                "kind": str(target.get("kind") or ""), "key_id": target.get("key_id"),
                "locations": [],
            })  # fmt: skip
            for loc in target.get("locations") or ():
                if isinstance(loc, str) and loc not in known["locations"]:
                    known["locations"].append(loc)
        extra = entry.extra
        status = extra.get("status") if isinstance(extra, Mapping) else None
        action = entry.action
        if entry.phase == "result" and isinstance(target, Mapping) and isinstance(extra, Mapping):
            _provider_facts(verified, target, extra.get("facts"))
        if entry.phase == "result" and status == "ok" and (
            action.endswith(_CONTAINING) or action == "revoke"
        ):
            ts = str(fields.get("ts") or "")
            verified.contained = max(verified.contained, ts)

    return take


def _provider_facts(verified: Verified, target: Mapping[str, Any], facts: Any) -> None:
    """What a key step learnt from the provider, by the contract's fact names: the key's id
    and ``account`` (where the provider keeps it) for asking again later, and the provider's
    own ``last_used_at`` read before the key was deleted, with ``last_used_source``."""
    known = verified.credentials.get(str(target.get("fingerprint") or ""))
    if known is None or not isinstance(facts, Mapping):
        return
    for name in ("key_id", "account"):
        if not known.get(name) and isinstance(facts.get(name), str) and facts[name]:
            known[name] = facts[name]
    used = facts.get("last_used_at")
    if isinstance(used, str) and used:
        known["last_used"] = {"at": used, "source": str(facts.get("last_used_source") or ""),
                              "recorded_by": "timeline entry " + str(target.get("target") or "")}


def verify_sealed(
    incident_dir: Path, *, checkpoint: Path | None = None, pubkey: Path | None = None
) -> Verified:
    """Verify the incident whole; EvidenceRefused (exit 1) with the verdicts if it fails."""
    from clawback.evidence import check_evidence, manifest_path
    from clawback.verify import verify_incident

    incident_dir = Path(incident_dir)
    holder = Verified(incident_dir, incident_dir.name, Manifest.__new__(Manifest), 0)
    report = verify_incident(
        incident_dir, checkpoint=checkpoint, pubkey=pubkey, evidence_checker=check_evidence,
        on_entry=_take(holder),
    )
    failures = tuple(v for v in report.verdicts if v.severity == "failure")
    if failures:
        shown = "; ".join(f"{v.code}: {v.message}" for v in failures[:3])
        more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
        raise EvidenceRefused(
            f"incident {incident_dir.name} does not verify, so its evidence is not "
            f"investigated: {shown}{more}. Run `clawback verify {incident_dir.name}` for every "
            "verdict; investigate a copy you can trust (an off-host copy of the incident "
            "directory).",
            failures,
        )
    if not manifest_path(incident_dir).is_file():
        raise EvidenceRefused(
            f"incident {incident_dir.name} sealed no evidence (no evidence/manifest.json): "
            "there is nothing to investigate. Its playbook had no host.snapshot step, or the "
            "snapshot failed (see `clawback report`)."
        )
    holder.manifest = load_manifest(incident_dir)
    holder.incident_id = report.incident_id or incident_dir.name
    holder.entries_checked = report.entry_count
    holder.timeline_sha256 = report.timeline_sha256 or ""
    holder.manifest_sha256 = hashlib.sha256(manifest_path(incident_dir).read_bytes()).hexdigest()
    holder.anchored = report.anchored
    if not holder.host:
        holder.host = dict(holder.manifest.host)
    return holder


class EvidenceChanged(EvidenceRefused):
    """A member read for analysis differs from what the manifest (and verify) vouched for."""


def choose_items(manifest: Manifest) -> tuple[dict[str, EvidenceItem], list[tuple[str, str]]]:
    """The items to analyse, by stored path, and the ones left out as duplicates.

    The volatile pass keeps the tail of a log and the full pass the whole file: the same
    source is analysed once, from its most complete copy (untruncated, then largest, then
    latest), so no event is counted twice.
    """
    best: dict[str, EvidenceItem] = {}
    for item in manifest.items:
        key = _key(item)
        current = best.get(key)
        if current is None or _rank(item) > _rank(current):
            best[key] = item
    chosen = {i.stored_path: i for i in best.values()}
    left = [
        (i.stored_path, f"duplicate of {best[_key(i)].stored_path}")
        for i in manifest.items if i.stored_path not in chosen
    ]
    return chosen, left


def _key(item: EvidenceItem) -> str:
    return item.source if item.kind == "file" else item.stored_path


def _rank(item: EvidenceItem) -> tuple[int, int, str]:
    return (0 if item.truncated else 1, item.size, item.collected_at)


def route_key(item: EvidenceItem) -> str:
    """What the rules' ``sources`` globs match: the collected path for a file, else the
    member's name below the snapshot prefix (``generated/sockets.json``)."""
    if item.kind == "file":
        return item.source
    name = item.stored_path
    for marker in ("/generated/", "/commands/"):
        at = name.find(marker)
        if at >= 0:
            return name[at + 1:]
    return name


class _HashingReader(io.RawIOBase):
    """Hands out a member's bytes and hashes every one of them on the way."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.sha256.update(data)
        self.size += n
        return n


Consumer = Callable[[MemberRef, EvidenceItem, IO[bytes]], None]


def read_members(
    incident_dir: Path, manifest: Manifest, wanted: Mapping[str, EvidenceItem], consume: Consumer
) -> int:
    """Stream every archive; hand each wanted member to ``consume`` as a buffered binary
    stream, then check its hash. Returns the bytes analysed. EvidenceChanged on a mismatch."""
    import tarfile
    import zlib

    analysed = 0
    for record in manifest.archives:
        try:
            analysed += _read_archive(incident_dir, record, wanted, consume)
        except (OSError, EOFError, tarfile.TarError, zlib.error, _isal_error()) as exc:
            # A byte changed in the compressed stream after verify shows first as a broken
            # gzip (a CRC, a bad block) or tar, before any hash is compared: the same refusal.
            raise EvidenceChanged(
                f"evidence/{record.file} can no longer be read as it was verified ({exc}); the "
                "investigation stopped and wrote nothing. Run `clawback verify`."
            ) from exc
    return analysed


def _isal_error() -> type[Exception]:
    from typing import cast

    from isal import isal_zlib

    # isal's stubs name its error an instance; at run time it is the class igzip raises.
    return cast("type[Exception]", isal_zlib.error)


def _read_archive(incident_dir: Path, record: Any, wanted: Mapping[str, EvidenceItem],
                  consume: Consumer) -> int:
    import tarfile

    from isal import igzip

    analysed = 0
    path = evidence_dir(incident_dir) / record.file
    with open(path, "rb") as raw:
        counted = _HashingSource(raw)
        with (
            igzip.IGzipFile(fileobj=counted, mode="rb") as gz,
            tarfile.open(fileobj=gz, mode="r|") as tar,
        ):
            for member in tar:
                item = wanted.get(member.name)
                if item is None or not member.isreg() or item.archive != record.file:
                    continue
                content = tar.extractfile(member)
                assert content is not None
                hashing = _HashingReader(content)
                ref = MemberRef(record.file, member.name, item.source, item.evidence_id,
                                item.collected_at, item.mtime)
                with io.BufferedReader(hashing, CHUNK_BYTES) as buffered:
                    consume(ref, item, buffered)
                    while buffered.read(CHUNK_BYTES):
                        pass
                if hashing.sha256.hexdigest() != item.sha256 or hashing.size != item.size:
                    raise EvidenceChanged(
                        f"evidence/{record.file}: member {member.name} changed after it was "
                        "verified (its sha256 no longer matches the manifest); the "
                        "investigation stopped and wrote nothing. Run `clawback verify`."
                    )
                analysed += hashing.size
        counted.drain()
    if counted.sha256.hexdigest() != record.sha256:
        raise EvidenceChanged(
            f"evidence/{record.file} changed after it was verified (sha256 differs from the "
            "manifest); the investigation stopped and wrote nothing. Run `clawback verify`."
        )
    return analysed


def lines(
    stream: IO[bytes], max_line: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, int, bytes | None]]:
    """(byte offset, 1-based line number, line without its newline) for each line of
    ``stream``; a line longer than ``max_line`` comes as None (it is skipped, not buffered), a
    line of nothing but NUL bytes as an empty line."""
    offset = 0
    number = 0
    while True:
        data = stream.readline(max_line + 1)
        if not data:
            return
        number += 1
        start = offset
        offset += len(data)
        if len(data) > max_line and not data.endswith(b"\n"):
            while True:
                more = stream.readline(CHUNK_BYTES)
                offset += len(more)
                if not more or more.endswith(b"\n"):
                    break
            yield start, number, None
            continue
        line = data.rstrip(b"\r\n")
        # A sparse log's holes, or a file preallocated with zeros, read as NUL bytes: one
        # C-speed check keeps megabytes of them from every parser's per-line work.
        yield start, number, line if line.strip(b"\x00") else b""
