"""The secrets clawback leaves to the owner, and what to tell them: another gateway's
credential, the device identity key, the OAuth sidecar key, kinds it does not know."""

from __future__ import annotations

from responders.interface import Credential, ManualRequired
from responders.openclaw.kinds import (
    DOCS_URL,
    KIND_DEVICE_KEY,
    KIND_REMOTE_PASSWORD,
    KIND_REMOTE_TOKEN,
    KIND_SIDECAR_KEY,
    places,
)


def manual_step(cred: Credential) -> ManualRequired:
    where = places(cred.locations)
    if cred.kind in (KIND_REMOTE_TOKEN, KIND_REMOTE_PASSWORD):
        what = "token" if cred.kind == KIND_REMOTE_TOKEN else "password"
        return ManualRequired(
            instructions=f"This host signs in to another OpenClaw gateway (gateway.remote.url)"
            f" with the {what} {cred.fingerprint}. On that gateway's host rotate "
            f"gateway.auth.{what} (run clawback there, or `openclaw doctor "
            f"--generate-gateway-token`), restart it, then put the new {what} into "
            f"gateway.remote.{what} here. Found in: {where}",
            url=DOCS_URL,
        )
    if cred.kind == KIND_DEVICE_KEY:
        return ManualRequired(
            instructions=f"The agent could read this host's device identity key "
            f"({cred.fingerprint}). Move identity/device.json out of the state dir so "
            "OpenClaw makes a new identity at its next start, pair again, and on every "
            "gateway this host was paired with run `openclaw devices revoke --device <id> "
            f"--role operator`. Found in: {where}",
            url=DOCS_URL,
        )
    if cred.kind == KIND_SIDECAR_KEY:
        return ManualRequired(
            instructions=f"This key ({cred.fingerprint}) decrypts the OAuth tokens in "
            "credentials/auth-profiles/. Revoke those OAuth sessions at their providers "
            "(each is its own step), then delete the key file and "
            "credentials/auth-profiles/*.json and sign in again with `openclaw onboard`. "
            f"Found in: {where}",
            url=DOCS_URL,
        )
    return ManualRequired(
        instructions=f"clawback does not know how to replace the OpenClaw secret "
        f"{cred.kind} {cred.fingerprint}. Replace it with a new random value and restart the "
        f"gateway. Found in: {where}",
        url=DOCS_URL,
    )
