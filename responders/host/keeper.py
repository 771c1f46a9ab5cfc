"""This machine as the engine asks about it outside a run (``HostKeeper``, entry point
``clawback.host``): the network cut ``host.cut_network`` made, and which supervisor would
respawn a process."""

from __future__ import annotations

from pathlib import Path

from responders.interface import AgentFootprint, CutState, Outcome


class LocalHost:
    def cut_state(self, incident_dir: Path) -> CutState | None:
        from responders.host.network import cut_status

        record = cut_status(incident_dir)
        if record is None:
            return None
        return CutState(
            table=str(record["table"]), status=str(record.get("status") or ""),
            rollback_armed=bool(record["rollback_armed"]),
            rollback_deadline=(float(record["rollback_deadline"])
                               if record.get("rollback_deadline") is not None else None),
            confirmed_at=record.get("confirmed_at"), restored_at=record.get("restored_at"),
            restored_by=record.get("restored_by"), timer_running=record.get("timer_running"),
            in_place=record.get("in_place"),
        )

    def confirm_cut(self, incident_dir: Path) -> Outcome:
        from responders.host.network import confirm_network_cut

        return confirm_network_cut(incident_dir)

    def restore(self, incident_dir: Path) -> Outcome:
        from responders.host.network import restore_network

        return restore_network(incident_dir)

    def supervisor_of(self, pid: int, footprint: AgentFootprint) -> str | None:
        import psutil

        from responders.host.service import manager_of

        try:
            spec = manager_of(psutil.Process(pid), footprint)
        except psutil.Error:
            return None
        return spec.target_id if spec is not None else None
