"""``host.snapshot`` on a fleet host: collected there, streamed back, hashed again on arrival.

The agent writes the archive on the host, hashing every member as it reads it and the archive
over its compressed bytes (what ``responders.host.snapshot`` does here). The controller then
copies it over SFTP into ``<incident>/evidence/``, hashing what arrives, and compares: a match
is recorded as the custody chain collected → transferred → received (``Collected.facts
["transfer"]``, which ``clawback.evidence.Manifest`` turns into custody events). A mismatch is
a failure and the received copy is kept aside, never listed as evidence.

Every item's ``source`` is prefixed with the host's name (``web-1:/home/agent/...``), so each
evidence entry in the timeline names its host.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from responders.host.snapshot import (
    EvidenceSettings,
    SnapshotParams,
    snapshot_caps_for,
    utc_now,
)
from responders.interface import (
    Action,
    Collected,
    EvidenceItem,
    Failed,
    Planned,
    ResponderError,
)
from responders.kit.private_files import make_private_dir
from responders.remote.session import remote_host

_ITEM_FIELDS = set(EvidenceItem.__dataclass_fields__)


def host_layout(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings["agent"]`` for a fleet host: its own paths; unset means the host's default."""
    agent = dict(settings.get("agent") or {})
    return {k: agent.get(k) for k in ("state_dirs", "user_home", "tmp_dirs", "uid",
                                      "gateway_port")}


class RemoteSnapshotAction(Action):
    """Snapshot the agent's evidence on a fleet host and pull the sealed archive back."""

    name: ClassVar[str] = "host.snapshot"
    state_changing: ClassVar[bool] = False
    Params: ClassVar[type[SnapshotParams]] = SnapshotParams

    params: SnapshotParams

    @property
    def label(self) -> str:
        return "volatile" if self.params.volatile else "full"

    def targets(self) -> list[str]:
        return [self.context.host_name or "?"]

    def _caps(self) -> tuple[int | None, int | None]:
        """As the local snapshot's: a volatile pass always has a total budget."""
        evidence = EvidenceSettings.from_settings(self.context.settings.get("evidence"))
        return snapshot_caps_for(self.params, evidence)

    def _request(self) -> dict[str, Any]:
        return {
            "layout": host_layout(self.context.settings),
            # How the agent shows on a host: the host's agent knows only what the plan says.
            "footprint": self.context.agent_footprint().as_plan(),
            "volatile": self.params.volatile,
            "system_artifacts": self.params.system_artifacts,
            "extra_paths": self.params.extra_paths,
            "log_tail_bytes": self.params.log_tail_bytes,
            "command_timeout": self.params.command_timeout,
        }

    def _archive_path(self) -> Path:
        if self.context.incident_dir is None or not self.context.incident_id:
            raise ResponderError("host.snapshot needs an incident id and incident directory")
        base = f"{self.context.incident_id}-{self.context.host_name}-{self.label}"
        evidence_dir = Path(self.context.incident_dir) / "evidence"
        path, n = evidence_dir / f"{base}.tar.gz", 2
        while path.exists():
            path, n = evidence_dir / f"{base}-{n}.tar.gz", n + 1
        return path

    def plan(self, target: str) -> Planned:
        host = remote_host(self)
        listed = host.call("snapshot", {**self._request(), "plan_only": True}, timeout=120)
        max_file, max_total = self._caps()
        return Planned(
            action=self.name,
            commands=tuple(f"{target}: {c}" for c in listed["commands"]),
            detail=(
                f"would snapshot {len(listed['files'])} files, {len(listed['listings'])} "
                f"listings, {len(listed['commands'])} commands on {target} and copy the archive "
                "back over SFTP, hashing it on both ends"
            ),
            facts={**{k: listed[k] for k in ("files", "tails", "listings", "generated",
                                              "commands", "missing", "estimated_bytes")},
                   "label": self.label, "max_file_bytes": max_file,
                   "max_total_bytes": max_total},
        )

    def execute(self, target: str) -> Collected | Failed:
        host = remote_host(self)
        name = self.context.host_name or host.name
        local = self._archive_path()
        make_private_dir(local.parent)
        max_file, max_total = self._caps()
        prefix = local.name.removesuffix(".tar.gz")
        made = host.call("snapshot", {
            **self._request(),
            "out_dir": host.workdir,
            "file_name": local.name,
            "member_prefix": prefix,
            "id_prefix": prefix,
            "max_file_bytes": max_file,
            "max_total_bytes": max_total,
        })
        sent_at = utc_now()
        try:
            received_sha, received_size = host.fetch(made["archive"], local)
        except OSError as err:
            with contextlib.suppress(OSError):
                local.unlink()
            return Failed(
                error=f"the archive sealed on {name} could not be copied back "
                f"({type(err).__name__}: {err.strerror or err}); it is still on the host at "
                f"{made['archive']} until the run ends",
                retryable=False,
            )
        received_at = utc_now()
        host.remove(made["archive"])
        transfer = {
            "from": f"host:{name}",
            "via": f"sftp {host.target}",
            "host": host.describe(),
            "sent_sha256": made["sha256"],
            "sent_size": made["size"],
            "sent_at": sent_at,
            "received_sha256": received_sha,
            "received_size": received_size,
            "received_at": received_at,
        }
        if received_sha != made["sha256"] or received_size != made["size"]:
            aside = local.with_name(local.name + ".transfer-mismatch")
            os.replace(local, aside)
            return Failed(
                error=f"the archive from {name} changed in transit: sealed there as sha256 "
                f"{made['sha256']} ({made['size']} bytes), received as {received_sha} "
                f"({received_size} bytes). The received copy is kept as {aside.name}, not as "
                "evidence; snapshot this host again",
                facts={"transfer": transfer},
            )
        items = tuple(
            EvidenceItem(**{
                **{k: v for k, v in item.items() if k in _ITEM_FIELDS},
                "source": f"{name}:{item['source']}",
                "archive": local.name,
                "argv": tuple(item.get("argv") or ()),
            })
            for item in made["items"]
        )
        skipped = tuple((f"{name}:{source}", reason) for source, reason in made["skipped"])
        truncated = [i.evidence_id for i in items if i.truncated]
        return Collected(
            archive=str(local),
            archive_sha256=received_sha,
            items=items,
            skipped=skipped,
            detail=(
                f"{len(items)} items ({made['stored_bytes']} bytes) sealed on {name} and "
                f"received intact as {local.name}; {len(truncated)} truncated, "
                f"{len(skipped)} skipped"
            ),
            facts={
                "archive": str(local),
                "archive_sha256": received_sha,
                "archive_size": received_size,
                "label": self.label,
                "items": len(items),
                "stored_bytes": made["stored_bytes"],
                "truncated": truncated,
                "skipped": len(skipped),
                "started_at": made["started_at"],
                "finished_at": made["finished_at"],
                "collected_on": name,
                "transfer": transfer,
            },
        )
