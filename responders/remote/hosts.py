"""What the remote responder offers the engine for fleet hosts (``RemoteHosts``, entry point
``clawback.remote``): the engine reaches SSH, the agent zip and the per-host actions only
through this."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from responders.interface import Action, Credential, RemoteSession, Responder


class SshHosts:
    def target_label(self, ssh: str) -> str:
        from responders.remote.session import SshTarget

        return str(SshTarget.parse(ssh))

    def connect(self, name: str, ssh: str, *, known_hosts: Path, private_key: Any = None,
                sudo: bool = False, python: str = "python3", connect_timeout: float = 10.0,
                if_unreachable: str | None = None) -> RemoteSession:
        from responders.remote.session import CONTAIN_CONSEQUENCE, RemoteHost, SshTarget

        return RemoteHost(
            name, SshTarget.parse(ssh), known_hosts=known_hosts, private_key=private_key,
            sudo=sudo, python=python, connect_timeout=connect_timeout,
            if_unreachable=CONTAIN_CONSEQUENCE if if_unreachable is None else if_unreachable,
        )

    def over_ssh(self, uses: str) -> type[Action]:
        from responders.remote import over_ssh

        return over_ssh(uses)

    def on_host_responder(self, providers: frozenset[str],
                          replaced: Sequence[str]) -> type[Responder]:
        from responders.remote.guidance import on_host_responder

        return on_host_responder(providers, replaced)

    def host_credentials(self, host: str, answer: Mapping[str, Any]) -> list[Credential]:
        from responders.remote.discovery import host_credentials

        return host_credentials(host, answer)

    def merge(self, per_host: Iterable[Sequence[Credential]]
              ) -> tuple[list[Credential], list[str]]:
        from responders.remote.discovery import merge

        return merge(per_host)

    def state_dir(self, incident_id: str) -> str:
        from responders.remote.network import remote_state_dir

        return remote_state_dir(incident_id)

    def agent_sha256(self) -> str:
        from responders.fleet_agent import agent_sha256

        return agent_sha256()
