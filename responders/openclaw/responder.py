"""OpenClaw itself: the gateway's own secrets, paired devices, WhatsApp sessions, and a lockdown.

What each kind of secret gets:

* gateway token and password (``gateway.auth.token`` / ``.password``, ``OPENCLAW_GATEWAY_TOKEN``
  / ``_PASSWORD`` in dotenv files, unit ``Environment=``, the LaunchAgent plist, ``gateway.cmd``),
  hooks token, cron webhook token, Gmail push token, exec-approvals socket token: **rotated**. A
  new value (``secrets.token_urlsafe(32)``) is stored through the SecretStore first, then written
  to every place discovery found the old one, ``.bak*`` copies included. A free-text place (a
  log line, ``config-audit.jsonl``, shell history) gets a marker instead of the new secret. But
  ``contain`` and ``drill`` read free text in a second round, after the first rotations, and
  that round skips a fingerprint already handled: a token found first in a config keeps its old
  value in logs, transcripts and histories, as evidence of what the agent saw (sealed after
  it), and that value no longer works once the gateway restarts on the new one. A place
  clawback cannot edit (SQLite, the process environment) makes the outcome a manual step that
  names it.
* device and node tokens (``devices/paired.json``, ``identity/device-auth.json``,
  ``nodes/paired.json``): **cleared**, and the device or node **unpaired** in the gateway's
  stores, as ``openclaw devices remove`` does (``devices revoke`` only marks a token revoked,
  and 2026.2.26 issues a paired device a new token at its next connect); it must pair again.
* WhatsApp Web sessions (``credentials/whatsapp/<account>/``): logged out through ``openclaw
  channels logout`` when that binary is installed (it also unlinks the device at WhatsApp), then
  the session files are deleted. Without the binary the files are deleted and unlinking the device
  on the phone is a manual step: a stolen copy of ``creds.json`` keeps working until then.
* ``gateway.remote.*`` (this host's credential for *another* gateway), the device identity key and
  the OAuth sidecar key: manual steps. The first is checked on a host clawback does not reach;
  replacing the other two here would only lock the owner out of what they protect.

The responder coordinates; each role is its own module: ``own_secrets`` (rotating and clearing
the gateway's own secrets), ``whatsapp`` (logouts), ``manual_steps``, ``lockdown`` (the action
``openclaw.lockdown``), ``switching`` (a provider key's replacement, for the drill),
``secret_edits``/``json5_edit``/``places`` (editing one secret in one file), ``settings``.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from responders.agent_files import AgentFiles
from responders.backups import BackupStore
from responders.interface import (
    Action,
    AlreadyRevoked,
    Capability,
    Credential,
    Failed,
    Outcome,
    Planned,
    PreflightCheck,
    Responder,
    ResponderContext,
    ResponderError,
    Rotated,
    SecretStore,
    Skipped,
)
from responders.openclaw.kinds import (
    CLEARED_KINDS,
    KIND_WHATSAPP,
    ROTATED_KINDS,
    fingerprint_hex,
    short_kind,
)
from responders.openclaw.lockdown import LockdownAction
from responders.openclaw.settings import (
    OpenClawSettings,
    agent_files_for,
    config_file,
    parse_settings,
    state_dirs,
)

# The registry loads this class on the panic path, before the stop (the playbook's
# openclaw.lockdown options are validated through it): the modules of the other roles load
# when first used.
if TYPE_CHECKING:
    from responders.interface import ManualRequired
    from responders.openclaw.own_secrets import OwnSecrets
    from responders.openclaw.whatsapp import WhatsAppSessions


class OpenClawResponder(Responder):
    """Rotates the gateway's secrets, clears device tokens, logs WhatsApp out; see the module
    docstring. ``revoke`` and ``rotate`` are one act here."""

    name: ClassVar[str] = "openclaw"
    needs_config: ClassVar[bool] = False  # local files only; no provider API
    # Its rotation is the agent's own files (gateway token, device tokens).
    rewrites_agent_files: ClassVar[bool] = True
    providers: ClassVar[frozenset[str]] = frozenset({"openclaw", "whatsapp"})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.REVOKE, Capability.ROTATE, Capability.PREFLIGHT, Capability.MANUAL}
    )
    actions: ClassVar[Mapping[str, type[Action]]] = {LockdownAction.name: LockdownAction}

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        parse_settings(config)

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._lock = threading.RLock()
        self._parsed: OpenClawSettings | None = None
        self._backups = BackupStore(context.incident_dir)
        self._own: OwnSecrets | None = None
        self._whatsapp: WhatsAppSessions | None = None
        self._finished: dict[str, Outcome] = {}
        self._files: AgentFiles | None = None

    @property
    def files(self) -> AgentFiles:
        """The agent's tree, the only way this responder reads or changes its files."""
        with self._lock:
            if self._files is None:
                self._files = agent_files_for(self.context.settings)
            return self._files

    @property
    def settings(self) -> OpenClawSettings:
        with self._lock:
            if self._parsed is None:
                self._parsed = parse_settings(self.context.config)
            return self._parsed

    @property
    def own_secrets(self) -> OwnSecrets:
        with self._lock:
            if self._own is None:
                from responders.openclaw.own_secrets import OwnSecrets

                self._own = OwnSecrets(self.files, self._backups, self._store_name,
                                       lambda: state_dirs(self.context.settings))
            return self._own

    @property
    def whatsapp(self) -> WhatsAppSessions:
        with self._lock:
            if self._whatsapp is None:
                from responders.openclaw.whatsapp import WhatsAppSessions

                self._whatsapp = WhatsAppSessions(self.files, self._backups, self.settings)
            return self._whatsapp

    # -- plan ---------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        return [(cred, self._plan_one(cred)) for cred in creds]

    def _plan_one(self, cred: Credential) -> Planned:
        if cred.kind in ROTATED_KINDS or cred.kind in CLEARED_KINDS:
            return self.own_secrets.plan(cred)
        if cred.kind == KIND_WHATSAPP:
            return self.whatsapp.plan(cred)
        manual = self._manual_step(cred)
        return Planned(action="manual", detail=f"{manual.instructions} ({manual.url})")

    # -- revoke / rotate ----------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        """For these secrets revoking means rotating: see the module docstring."""
        if cred.kind in ROTATED_KINDS:
            return self._once(cred, lambda: self.own_secrets.rotate(cred, self._store()))
        if cred.kind in CLEARED_KINDS:
            return self._once(cred, lambda: self.own_secrets.clear_device_token(cred))
        if cred.kind == KIND_WHATSAPP:
            return self._once(cred, lambda: self.whatsapp.logout(cred))
        return self._manual_step(cred)

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        earlier = self._finished.get(cred.target_id)
        if isinstance(earlier, Rotated):
            return dataclasses.replace(earlier, detail=f"done by the revoke: {earlier.detail}")
        if isinstance(earlier, AlreadyRevoked):
            return Skipped(reason="an earlier run rotated it already")
        if cred.kind in ROTATED_KINDS:
            return self._once(cred, lambda: self.own_secrets.rotate(cred, store))
        if cred.kind in CLEARED_KINDS:
            return Skipped(
                reason="a device gets a new token when it pairs again "
                "(`openclaw devices list`, then `openclaw devices approve <id>`)"
            )
        if cred.kind == KIND_WHATSAPP:
            return Skipped(
                reason="a new WhatsApp session is made by linking again "
                "(`openclaw channels login`, then scan the QR code)"
            )
        return self._manual_step(cred)

    def _once(self, cred: Credential, act: Callable[[], Outcome]) -> Outcome:
        from responders.openclaw.secret_edits import FILE_LOCK

        with FILE_LOCK:
            earlier = self._finished.get(cred.target_id)
            if earlier is not None:
                return earlier
            if self.context.dry_run:
                return self._plan_one(cred)
            try:
                outcome = act()
            except ResponderError as exc:
                outcome = Failed(error=str(exc))
            if outcome.succeeded:
                self._finished[cred.target_id] = outcome
            return outcome

    def _store(self) -> SecretStore:
        if self.context.secrets is None:
            raise ResponderError("no secret store is available to keep the new OpenClaw secrets")
        return self.context.secrets

    def _store_name(self, cred: Credential) -> str:
        return self.settings.store_name.format(
            kind=short_kind(cred.kind), old=fingerprint_hex(cred)
        )

    def _manual_step(self, cred: Credential) -> ManualRequired:
        from responders.openclaw.manual_steps import manual_step

        return manual_step(cred)

    # -- preflight ----------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """Prove clawback can rewrite each state dir's config (read-only checks)."""
        checks: list[PreflightCheck] = []
        for state_dir in state_dirs(self.context.settings):
            config, problem = config_file(self.files, state_dir)
            if config is None:
                checks.append(PreflightCheck(
                    provider="openclaw", capability="rotate", ok=False,
                    detail=problem or f"no OpenClaw config in {state_dir}",
                ))
                continue
            writable = os.access(config, os.W_OK) and os.access(state_dir, os.W_OK)
            checks.append(PreflightCheck(
                provider="openclaw", capability="rotate", ok=writable,
                detail=f"{config} {'can' if writable else 'cannot'} be rewritten in place",
                missing_permission="" if writable else f"write access to {state_dir}",
            ))
        return checks
