"""Hinters: what a place inside a particular file implies (which provider, which kind, which
account), for values whose shape alone says nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from responders.kit import secret_patterns as sp
from responders.kit.secret_patterns import Confidence, Recognition
from responders.openclaw.config_load import KeyPath, Segment

# Maps a key path inside a file to what that place implies: (recognition, account).
Hinter = Callable[[KeyPath], tuple[Recognition | None, str | None]]


def config_hinter(mount: KeyPath) -> Hinter:
    def hint(path: KeyPath) -> tuple[Recognition | None, str | None]:
        return sp.recognize_config_path((*mount, *path)), None

    return hint


def no_hint(path: KeyPath) -> tuple[Recognition | None, str | None]:
    return None, None


_AUTH_FIELDS = {
    "key": "api_key",
    "apiKey": "api_key",
    "token": "token",
    "access": "oauth_access",
    "refresh": "oauth_refresh",
}


def _profile_recognition(provider_id: str, field_name: Segment) -> Recognition | None:
    suffix = _AUTH_FIELDS.get(str(field_name))
    if suffix is None:
        return None
    provider = sp.normalise_provider(provider_id)
    return Recognition(provider, f"{provider}:{suffix}", Confidence.LOCATION)


def auth_store_hinter(store: Any) -> Hinter:
    """``auth-profiles.json`` / SQLite ``store_json``: ``profiles.<provider>:<name>.<field>``."""
    profiles = store.get("profiles") if isinstance(store, dict) else None

    def hint(path: KeyPath) -> tuple[Recognition | None, str | None]:
        if len(path) != 3 or path[0] != "profiles" or not isinstance(profiles, dict):
            return None, None
        profile_id = str(path[1])
        profile = profiles.get(profile_id)
        provider_id = profile_id.split(":", 1)[0]
        if isinstance(profile, dict) and isinstance(profile.get("provider"), str):
            provider_id = profile["provider"]
        return _profile_recognition(provider_id, path[2]), None

    return hint


def flat_auth_hinter(path: KeyPath) -> tuple[Recognition | None, str | None]:
    """Legacy ``auth.json`` and ``credentials/oauth.json``: ``<provider>.<field>``."""
    if len(path) == 2:
        return _profile_recognition(str(path[0]), path[1]), None
    return None, None


def fixed_hinter(
    provider: str, kind: str, leaves: frozenset[str], account: Callable[[KeyPath], str | None]
) -> Hinter:
    recognition = Recognition(provider, kind, Confidence.LOCATION)

    def hint(path: KeyPath) -> tuple[Recognition | None, str | None]:
        if path and path[-1] in leaves:
            return recognition, account(path)
        return None, None

    return hint


def top_key(path: KeyPath) -> str | None:
    return str(path[0]) if path else None


def constant(value: str | None) -> Callable[[KeyPath], str | None]:
    return lambda _path: value
