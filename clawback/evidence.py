"""The evidence manifest and its chain of custody, and the check ``verify`` runs against them.

Collection itself is a responder (``host.snapshot``); this module only accumulates what the
snapshots returned, writes ``evidence/manifest.json`` (canonical JSON, RFC 8785, whose sha256
the timeline's close entry records) and re-hashes archives and members to detect tampering.
Nothing here holds a secret: items carry paths, sizes and hashes only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

from clawback.trusted_files import NotRegular, open_regular, read_regular
from clawback.verdict import Verdict
from responders.interface import Collected, EvidenceItem
from responders.kit.private_files import make_private_dir, write_private

MANIFEST_VERSION = 1
MANIFEST_NAME = "manifest.json"
CHUNK_BYTES = 1024 * 1024
_ITEM_FIELDS = {f.name for f in dataclasses.fields(EvidenceItem)}


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def evidence_dir(incident_dir: Path) -> Path:
    return Path(incident_dir) / "evidence"


def manifest_path(incident_dir: Path) -> Path:
    return evidence_dir(incident_dir) / MANIFEST_NAME


# --------------------------------------------------------------------------------------------
# Who and where (NIST SP 800-61r2 §3.3.2 "identifying information")
# --------------------------------------------------------------------------------------------


def _machine_id() -> str | None:
    for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            value = Path(candidate).read_text().strip()
        except OSError:
            continue
        if value:
            return value
    return None


def _addresses() -> list[str]:
    import psutil

    found: set[str] = set()
    for name, addrs in psutil.net_if_addrs().items():
        if name == "lo":
            continue
        for addr in addrs:
            if addr.address and not addr.address.startswith(("127.", "::1", "00:00:00:00:00:00")):
                found.add(f"{name} {addr.address}")
    return sorted(found)


def host_identity() -> dict[str, Any]:
    uname = platform.uname()
    try:
        os_release = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        os_release = ""
    local_offset = datetime.now().astimezone().utcoffset()
    return {
        "hostname": socket.gethostname(),
        "machine_id": _machine_id(),
        "os": uname.system,
        "os_release": os_release,
        "kernel": f"{uname.release} {uname.version}",
        "arch": uname.machine,
        "addresses": _addresses(),
        "local_utc_offset_seconds": int(local_offset.total_seconds()) if local_offset else 0,
    }


def examiner_identity() -> str:
    try:
        import getpass

        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


# --------------------------------------------------------------------------------------------
# The manifest
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveRecord:
    """One sealed archive: ``file`` is its name inside ``<incident>/evidence/``."""

    file: str
    label: str
    size: int
    sha256: str
    started_at: str = ""
    finished_at: str = ""


@dataclass(frozen=True)
class EvidenceFile:
    """A file a responder wrote into ``<incident>/evidence/`` (e.g. Stripe's event export)."""

    file: str
    sha256: str
    size: int
    source: str
    collected_at: str
    step: str = ""


@dataclass(frozen=True)
class CustodyEvent:
    """One step in the chain of custody (RFC 3227 §4.1: who, when, what, hash checked)."""

    event_id: str
    action: str  # "collected" | "transferred" | "received" (clawback.fleet) | "sealed"
    ts: str
    from_party: str
    to_party: str
    evidence_ids: tuple[str, ...] = ()
    sha256: str = ""
    hash_verified: bool = False
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "action": self.action,
            "ts": self.ts,
            "from": self.from_party,
            "to": self.to_party,
            "evidence_ids": list(self.evidence_ids),
            "sha256": self.sha256,
            "hash_verified": self.hash_verified,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CustodyEvent:
        return cls(
            event_id=data["event_id"],
            action=data["action"],
            ts=data["ts"],
            from_party=data["from"],
            to_party=data["to"],
            evidence_ids=tuple(data.get("evidence_ids", ())),
            sha256=data.get("sha256", ""),
            hash_verified=bool(data.get("hash_verified", False)),
            note=data.get("note", ""),
        )


def _item_dict(item: EvidenceItem) -> dict[str, Any]:
    out = dataclasses.asdict(item)
    out["argv"] = list(item.argv)
    return out


def _item_from_dict(data: Mapping[str, Any]) -> EvidenceItem:
    known = {k: v for k, v in data.items() if k in _ITEM_FIELDS}
    known["argv"] = tuple(known.get("argv", ()))
    return EvidenceItem(**known)


def _tool() -> dict[str, str]:
    from clawback import __version__

    return {"name": "clawback", "version": __version__}


@dataclass
class Manifest:
    """Everything the incident's snapshots collected, plus who held it and when.

    ``Manifest(incident_id)`` fills in this host's identity, the examiner (user@host) and the
    tool version; ``add(step, collected)`` after each snapshot; ``write_manifest`` at close.
    """

    incident_id: str
    host: dict[str, Any] = field(default_factory=host_identity)
    examiner: str = field(default_factory=examiner_identity)
    tool: dict[str, str] = field(default_factory=_tool)
    acquisition_started: str = ""
    acquisition_finished: str = ""
    archives: list[ArchiveRecord] = field(default_factory=list)
    items: list[EvidenceItem] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    custody: list[CustodyEvent] = field(default_factory=list)
    files: list[EvidenceFile] = field(default_factory=list)

    def has_items(self) -> bool:
        return bool(self.archives or self.files)

    def add_file(self, step: str, path: Path, *, source: str) -> EvidenceFile:
        """Record a file a responder wrote into the evidence directory, hashed now."""
        if self.sealed:
            raise ValueError("the evidence manifest is sealed; start a new incident to add more")
        path = Path(path)
        if not _is_plain_name(path.name) or path.parent.name != "evidence":
            raise ValueError(f"{path} is not a file of the incident's evidence directory")
        record = EvidenceFile(
            file=path.name, sha256=_sha256_file(path), size=path.stat().st_size,
            source=source, collected_at=utc_now(), step=step,
        )
        self.files = [f for f in self.files if f.file != record.file] + [record]
        self.custody.append(
            CustodyEvent(
                event_id=self._event_id(), action="collected", ts=record.collected_at,
                from_party=source, to_party=self.examiner, evidence_ids=(record.file,),
                sha256=record.sha256, hash_verified=False, note=f"step {step}" if step else "",
            )
        )
        return record

    @property
    def sealed(self) -> bool:
        return any(e.action == "sealed" for e in self.custody)

    def _event_id(self) -> str:
        return f"{self.incident_id}-custody-{len(self.custody) + 1:03d}"

    def add(self, step: str, collected: Collected) -> ArchiveRecord:
        """Record one snapshot's archive, items and skips, and a ``collected`` custody event."""
        if self.sealed:
            raise ValueError("the evidence manifest is sealed; start a new incident to add more")
        facts = collected.facts
        archive = Path(collected.archive)
        size = facts.get("archive_size")
        if not isinstance(size, int):
            size = archive.stat().st_size
        # A collection replayed from the resume journal has no facts; its items' own
        # timestamps bound the acquisition better than "now" would.
        stamps = sorted(i.collected_at for i in collected.items if i.collected_at)
        started = str(facts.get("started_at") or (stamps[0] if stamps else ""))
        finished = str(facts.get("finished_at") or (stamps[-1] if stamps else utc_now()))
        label = facts.get("label") or next(
            (lbl for lbl in ("volatile", "full") if f"-{lbl}" in archive.name), ""
        )
        record = ArchiveRecord(
            file=archive.name,
            label=str(label),
            size=size,
            sha256=collected.archive_sha256,
            started_at=started,
            finished_at=finished,
        )
        if any(a.file == record.file for a in self.archives):
            raise ValueError(f"archive {record.file} is already in the manifest")
        self.archives.append(record)
        self.items.extend(collected.items)
        self.skipped.extend(
            {"archive": record.file, "source": source, "reason": reason}
            for source, reason in collected.skipped
        )
        if record.started_at and (
            not self.acquisition_started or record.started_at < self.acquisition_started
        ):
            self.acquisition_started = record.started_at
        self.acquisition_finished = max(self.acquisition_finished, finished)
        transfer = facts.get("transfer")
        if isinstance(transfer, Mapping):
            self._add_transfer(step, record, collected, transfer, finished)
            return record
        self.custody.append(
            CustodyEvent(
                event_id=self._event_id(),
                action="collected",
                ts=finished,
                from_party=f"host:{self.host.get('hostname', '')}",
                to_party=self.examiner,
                evidence_ids=(record.file, *(i.evidence_id for i in collected.items)),
                sha256=record.sha256,
                # The hash was computed while writing; it is first re-checked at sealing.
                hash_verified=False,
                note=f"step {step}" if step else "",
            )
        )
        return record

    def _add_transfer(
        self,
        step: str,
        record: ArchiveRecord,
        collected: Collected,
        transfer: Mapping[str, Any],
        finished: str,
    ) -> None:
        """Evidence sealed on another host and copied here (clawback.fleet): collected there by
        clawback's agent, transferred with the hash it was sealed with, received with the hash
        of what arrived; ``hash_verified`` on receipt says the two match."""
        origin = str(transfer.get("from") or "host:?")
        agent = f"clawback-agent@{origin.removeprefix('host:')}"
        ids = (record.file, *(i.evidence_id for i in collected.items))
        sent = str(transfer.get("sent_sha256") or "")
        received = str(transfer.get("received_sha256") or record.sha256)
        note = f"step {step}" if step else ""
        for action, ts, source, target, digest, verified, text in (
            ("collected", finished, origin, agent, sent, False, note),
            ("transferred", str(transfer.get("sent_at") or finished), agent, self.examiner,
             sent, False, str(transfer.get("via") or "")),
            ("received", str(transfer.get("received_at") or finished), agent, self.examiner,
             received, bool(sent) and sent == received,
             f"{transfer.get('received_size')} bytes; sha256 compared with the one sealed on "
             "the host"),
        ):
            self.custody.append(
                CustodyEvent(
                    event_id=self._event_id(), action=action, ts=ts, from_party=source,
                    to_party=target, evidence_ids=ids, sha256=digest, hash_verified=verified,
                    note=text,
                )
            )

    def seal(self, incident_dir: Path) -> list[str]:
        """Re-hash every archive and record a ``sealed`` event; returns archives that differ."""
        if self.sealed:
            raise ValueError("the evidence manifest is already sealed")
        differing = []
        for record in self.archives:
            try:
                digest = _sha256_file(evidence_dir(incident_dir) / record.file)
            except OSError:
                digest = ""
            if digest != record.sha256:
                differing.append(record.file)
        self.custody.append(
            CustodyEvent(
                event_id=self._event_id(),
                action="sealed",
                ts=utc_now(),
                from_party=self.examiner,
                to_party=self.examiner,
                evidence_ids=tuple(a.file for a in self.archives),
                sha256=_combined_sha256(self.archives),
                hash_verified=not differing,
                note=f"archives changed since collection: {', '.join(differing)}"
                if differing
                else "",
            )
        )
        return differing

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "incident_id": self.incident_id,
            "host": self.host,
            "examiner": self.examiner,
            "tool": self.tool,
            "acquisition_started": self.acquisition_started,
            "acquisition_finished": self.acquisition_finished,
            "archives": [dataclasses.asdict(a) for a in self.archives],
            "items": [_item_dict(i) for i in self.items],
            "skipped": self.skipped,
            "custody": [e.as_dict() for e in self.custody],
            "files": [dataclasses.asdict(f) for f in self.files],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        from clawback.stored_text import original_value

        data = original_value(data)
        if data.get("version") != MANIFEST_VERSION:
            raise ValueError(f"unknown manifest version {data.get('version')!r}")
        return cls(
            incident_id=data["incident_id"],
            host=dict(data["host"]),
            examiner=data["examiner"],
            tool=dict(data["tool"]),
            acquisition_started=data.get("acquisition_started", ""),
            acquisition_finished=data.get("acquisition_finished", ""),
            archives=[ArchiveRecord(**a) for a in data["archives"]],
            items=[_item_from_dict(i) for i in data["items"]],
            skipped=[dict(s) for s in data.get("skipped", [])],
            custody=[CustodyEvent.from_dict(e) for e in data.get("custody", [])],
            files=[EvidenceFile(**f) for f in data.get("files", [])],
        )


def _combined_sha256(archives: Iterable[ArchiveRecord]) -> str:
    """One hash naming the whole sealed set: sha256 over "<sha256>  <file>\\n" lines."""
    lines = "".join(f"{a.sha256}  {a.file}\n" for a in sorted(archives, key=lambda a: a.file))
    return hashlib.sha256(lines.encode()).hexdigest()


def canonical_bytes(manifest: Manifest) -> bytes:
    import rfc8785

    from clawback.stored_text import storable_value

    # Sources are the agent's file names: one that is not UTF-8 is kept, escaped.
    return rfc8785.dumps(storable_value(manifest.as_dict()))


def write_manifest(incident_dir: Path, manifest: Manifest) -> str:
    """Write ``evidence/manifest.json`` (0600, canonical JSON); return its sha256.

    The manifest is written once, at close, so an unsealed one is sealed first: the archives
    are re-hashed and the ``sealed`` custody event records whether they still match.
    """
    if not manifest.sealed:
        manifest.seal(incident_dir)
    data = canonical_bytes(manifest)
    make_private_dir(evidence_dir(incident_dir))
    write_private(manifest_path(incident_dir), data)
    return hashlib.sha256(data).hexdigest()


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def load_manifest(incident_dir: Path) -> Manifest:
    """Read the manifest back (resume, report). Raises ValueError if it is malformed."""
    raw = manifest_path(incident_dir).read_bytes()
    return Manifest.from_dict(json.loads(raw, object_pairs_hook=_refuse_duplicate_keys))


# --------------------------------------------------------------------------------------------
# Checking (clawback verify)
# --------------------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    with os.fdopen(open_regular(path), "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


class _HashingSource:
    """A forward-only reader that hashes every byte it hands out (one pass over the archive)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        with memoryview(buffer) as view:
            self.sha256.update(view[:n])
        self.size += n
        return n

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while self.read(CHUNK_BYTES):
            pass


@dataclass
class _ArchiveScan:
    sha256: str
    size: int
    members: list[tuple[str, str | None, int]]  # (name, sha256 or None if not a file, size)
    error: str | None


def _scan_archive(path: Path) -> _ArchiveScan:
    """Hash the archive and each member's content in one streaming pass."""
    import tarfile

    from isal import igzip, igzip_lib

    # isal's stub declares IsalError as an instance; it is the exception class.
    isal_error = cast("type[Exception]", igzip_lib.IsalError)
    members: list[tuple[str, str | None, int]] = []
    error = None
    with os.fdopen(open_regular(path), "rb") as raw:
        source = _HashingSource(raw)
        try:
            with (
                igzip.IGzipFile(fileobj=source, mode="rb") as gz,
                tarfile.open(fileobj=gz, mode="r|") as tar,
            ):
                for member in tar:
                    if not member.isreg():
                        members.append((member.name, None, member.size))
                        continue
                    content = tar.extractfile(member)
                    assert content is not None
                    digest = hashlib.sha256()
                    while chunk := content.read(CHUNK_BYTES):
                        digest.update(chunk)
                    members.append((member.name, digest.hexdigest(), member.size))
        # ISA-L reports a broken deflate stream with its own IsalError (not an OSError): a
        # corrupted archive is a verdict, never a crash of verify or report.
        except (tarfile.TarError, OSError, EOFError, ValueError, isal_error) as err:
            error = f"{type(err).__name__}: {err}"
        # The archive hash covers every byte, including any after the end of the tar stream.
        source.drain()
    return _ArchiveScan(source.sha256.hexdigest(), source.size, members, error)


def _is_plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


def check_evidence(incident_dir: Path, expected_manifest_sha256: str | None) -> list[Verdict]:
    """Verdicts on the manifest, each archive and each member, streamed (bounded memory)."""
    incident_dir = Path(incident_dir)
    path = manifest_path(incident_dir)
    shown = f"evidence/{MANIFEST_NAME}"
    try:
        raw = read_regular(path)
    except FileNotFoundError:
        archives = sorted(evidence_dir(incident_dir).glob("*.tar.gz"))
        if expected_manifest_sha256 is None and not archives:
            return [Verdict("EVIDENCE_NONE", "ok", "this incident collected no evidence")]
        recorded = (
            f"the close entry recorded {expected_manifest_sha256}"
            if expected_manifest_sha256
            else f"{len(archives)} archives are present"
        )
        return [
            Verdict(
                "MANIFEST_MISSING", "failure", f"{shown} does not exist, but {recorded}",
                path=shown,
            )
        ]
    except OSError as err:
        return [Verdict("MANIFEST_MISSING", "failure", f"{shown}: {err.strerror}", path=shown)]

    verdicts: list[Verdict] = []
    actual = hashlib.sha256(raw).hexdigest()
    if expected_manifest_sha256 is not None and actual != expected_manifest_sha256:
        verdicts.append(
            Verdict(
                "MANIFEST_MISMATCH",
                "failure",
                f"{shown} has sha256 {actual}, but the timeline's close entry recorded "
                f"{expected_manifest_sha256}",
                path=shown,
            )
        )
    try:
        manifest = Manifest.from_dict(json.loads(raw, object_pairs_hook=_refuse_duplicate_keys))
        bad_names = [a.file for a in manifest.archives if not _is_plain_name(a.file)]
        bad_names += [f.file for f in manifest.files if not _is_plain_name(f.file)]
        if bad_names:
            raise ValueError(f"archive names must be plain file names: {bad_names}")
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        verdicts.append(
            Verdict("MANIFEST_INVALID", "failure", f"{shown} cannot be read: {err}", path=shown)
        )
        return verdicts

    ev_dir = evidence_dir(incident_dir)
    listed = {a.file for a in manifest.archives}
    for item in manifest.items:
        if item.archive not in listed:
            verdicts.append(
                Verdict(
                    "EVIDENCE_MISSING",
                    "failure",
                    f"{item.evidence_id} ({item.stored_path}) names archive {item.archive!r}, "
                    "which the manifest does not list",
                    path=item.stored_path,
                )
            )
    checked = 0
    for record in manifest.archives:
        checked += _check_archive(ev_dir, record, manifest.items, verdicts)
    for loose in manifest.files:
        checked += _check_loose_file(ev_dir, loose, verdicts)
    for stray in sorted(ev_dir.glob("*.tar.gz")):
        if stray.name not in listed:
            verdicts.append(
                Verdict(
                    "EVIDENCE_EXTRA",
                    "warning",
                    f"evidence/{stray.name} is not in the manifest",
                    path=f"evidence/{stray.name}",
                )
            )
    if not any(v.severity == "failure" for v in verdicts):
        verdicts.append(
            Verdict(
                "EVIDENCE_OK",
                "ok",
                f"{checked} items in {len(manifest.archives)} archives match {shown} "
                f"(sha256 {actual})",
                path=shown,
            )
        )
    return verdicts


def _check_loose_file(ev_dir: Path, record: EvidenceFile, verdicts: list[Verdict]) -> int:
    shown = f"evidence/{record.file}"
    try:
        digest = _sha256_file(ev_dir / record.file)
    except NotRegular as exc:
        verdicts.append(Verdict("EVIDENCE_NOT_REGULAR", "failure",
                                f"{shown} is {exc.strerror}: evidence is never read through "
                                "a link or from a special file", path=shown))
        return 0
    except OSError:
        verdicts.append(Verdict("EVIDENCE_MISSING", "failure",
                                f"{shown} is listed in the manifest but cannot be read",
                                path=shown))
        return 0
    if digest != record.sha256:
        verdicts.append(Verdict("EVIDENCE_MISMATCH", "failure",
                                f"{shown} has sha256 {digest}, the manifest says {record.sha256}",
                                path=shown))
        return 0
    return 1


def _check_archive(
    ev_dir: Path, record: ArchiveRecord, items: list[EvidenceItem], verdicts: list[Verdict]
) -> int:
    """Append verdicts for one archive; return how many of its items matched."""
    shown = f"evidence/{record.file}"
    archive_path = ev_dir / record.file
    expected = {i.stored_path: i for i in items if i.archive == record.file}
    if not os.path.lexists(archive_path):
        verdicts.append(
            Verdict(
                "EVIDENCE_MISSING",
                "failure",
                f"{shown} is missing ({len(expected)} items)",
                path=shown,
            )
        )
        return 0
    try:
        scan = _scan_archive(archive_path)
    except NotRegular as exc:
        verdicts.append(Verdict("EVIDENCE_NOT_REGULAR", "failure",
                                f"{shown} is {exc.strerror}: an archive is never read through "
                                "a link or from a special file", path=shown))
        return 0
    except OSError as exc:
        verdicts.append(Verdict("EVIDENCE_MISSING", "failure",
                                f"{shown} cannot be read: {exc.strerror}", path=shown))
        return 0
    if scan.sha256 != record.sha256 or scan.size != record.size:
        verdicts.append(
            Verdict(
                "ARCHIVE_MISMATCH",
                "failure",
                f"{shown} has sha256 {scan.sha256} ({scan.size} bytes); the manifest recorded "
                f"{record.sha256} ({record.size} bytes)",
                path=shown,
            )
        )
    if scan.error:
        verdicts.append(
            Verdict(
                "ARCHIVE_CORRUPT",
                "failure",
                f"{shown} cannot be read past {len(scan.members)} members: {scan.error}",
                path=shown,
            )
        )
    matched = 0
    seen: set[str] = set()
    for name, digest, size in scan.members:
        item = expected.get(name)
        if name in seen or item is None or digest is None:
            why = "appears twice" if name in seen else "is not in the manifest"
            verdicts.append(
                Verdict("EVIDENCE_EXTRA", "failure", f"{shown}: member {name} {why}", path=name)
            )
            seen.add(name)
            continue
        seen.add(name)
        if digest != item.sha256 or size != item.size:
            verdicts.append(
                Verdict(
                    "EVIDENCE_MISMATCH",
                    "failure",
                    f"{shown}: member {name} ({item.evidence_id}, from {item.source}) has "
                    f"sha256 {digest} ({size} bytes); the manifest recorded {item.sha256} "
                    f"({item.size} bytes)",
                    path=name,
                )
            )
        else:
            matched += 1
    for name in expected.keys() - seen:
        item = expected[name]
        verdicts.append(
            Verdict(
                "EVIDENCE_MISSING",
                "failure",
                f"{shown}: member {name} ({item.evidence_id}, from {item.source}) is missing",
                path=name,
            )
        )
    return matched
