"""A stand-in for the OpenClaw gateway: a real process that looks like one to discovery, and
uses the agent's keys the way the gateway does.

``python -m clawback_demo.gateway --port P --lock-dir DIR --config-path C [--pid-file F]
[--user-home H --endpoints FILE]``

It listens on 127.0.0.1:P (``GET /health``, which the real gateway does not have: there it
is the Control UI's HTML), writes OpenClaw's lock file
``DIR/gateway.<sha256(configPath)[:8]>.lock`` = ``{pid, createdAt, configPath}`` once it is
listening, names its main thread ``openclaw-gateway`` (truncated to the kernel's 15 bytes, which
is what the real gateway's title looks like in ``/proc/<pid>/comm``) and removes the lock on
SIGTERM, as the real gateway does on a clean shutdown.

It checks the agent's own tokens as the real gateway does, read once at start-up (a rotated
token counts only after a restart): ``POST /tools/invoke`` answers 200 with ``Authorization:
Bearer <gateway.auth.token>`` (``${VAR}`` resolved from ``~/.openclaw/.env``; without one in
the config, ``OPENCLAW_GATEWAY_TOKEN`` from there) and 401 otherwise; ``POST <hooks.path>/wake``
(default ``/hooks/wake``) the same with ``hooks.token`` (bearer or ``x-openclaw-token``). So the
demo can prove a rotation: the old tokens refused, the new ones taken.

``GET /keys-ok`` reads the agent's keys from its files *at every request* (a drill rewrites them
while the gateway runs) and makes one harmless authenticated call per key to that provider's
stand-in, whose base URL ``--endpoints`` names (a JSON object ``{provider: url}``, loopback only,
also read per request: the sandbox writes it once the stand-ins listen). It answers
``{provider: "ok" | "rejected" | "error"}``: ``rejected`` when any of the provider's keys is
refused, ``error`` when a call failed otherwise. ``GET /keys-ok/detail`` answers
``{"providers": …, "uses": [{provider, use, fingerprint, status, detail}], "problems": […]}``.
No key value is ever answered, logged or put in an error: only fingerprints.

Where the keys come from, as OpenClaw reads them: ``openclaw.json`` (JSON5, ``$include`` files
merged, ``${VAR}`` and SecretRefs resolved against ``~/.openclaw/.env`` and the configured
``secrets.providers`` files) — model providers, TTS, channels, skills' env; the JSON auth
profiles of every configured agent (the SQLite stores are not read); the variables of
``~/.openclaw/.env`` and of the workspace's ``.env`` that the agent's tools and scripts use; and
``~/.aws/credentials`` (profile ``default``). The stand-in's own environment is ignored: it is
the sandbox's, not the agent's.

Standard library only (the JSON5 and dotenv readers are the fleet agent's stdlib ones, imported
on the first ``/keys-ok``): the demo and the tests start many of these.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import hashlib
import http.server
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

PROCESS_TITLE = "openclaw-gateway"
_PR_SET_NAME = 15
_KERNEL_COMM_BYTES = 15

OK, REJECTED, ERROR = "ok", "rejected", "error"
# Worst first: a provider's status is the worst of its keys'.
_SEVERITY = (REJECTED, ERROR, OK)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CALL_TIMEOUT_SECONDS = 5.0
ANTHROPIC_VERSION = "2023-06-01"
# Environment variables the agent's tools and scripts read a provider key from.
ENV_KEYS: Mapping[str, str] = {
    "OPENAI_API_KEY": "openai",
    "ANTHROPIC_API_KEY": "anthropic",
    "GITHUB_TOKEN": "github",
    "GH_TOKEN": "github",
    "SLACK_BOT_TOKEN": "slack",
    "SLACK_USER_TOKEN": "slack",
    "CLOUDFLARE_API_TOKEN": "cloudflare",
    "STRIPE_SECRET_KEY": "stripe",
    "STRIPE_API_KEY": "stripe",
}
# Auth profiles whose credential a stand-in serves: (profile provider, profile type) → the
# stand-in. An Anthropic or OpenAI "token" profile is an OAuth sign-in, not an API key.
PROFILE_KEYS: Mapping[tuple[str, str], str] = {
    ("openai", "api_key"): "openai",
    ("anthropic", "api_key"): "anthropic",
    ("github-copilot", "token"): "github",
}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def lock_file_name(config_path: str) -> str:
    """OpenClaw's lock name: ``gateway.<first 8 hex of sha256(configPath)>.lock``."""
    return f"gateway.{hashlib.sha256(config_path.encode()).hexdigest()[:8]}.lock"


def set_process_title(title: str = PROCESS_TITLE) -> bool:
    """Set the kernel's name for this process (what ``ps -o comm`` and psutil's name() show)."""
    if not sys.platform.startswith("linux"):
        return False
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    name = title.encode()[:_KERNEL_COMM_BYTES]
    return libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0) == 0


# --------------------------------------------------------------------------------------------
# The agent's keys, read from its files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyUse:
    """One key the agent uses for one thing."""

    provider: str
    use: str  # where the agent reads it, e.g. "openclaw.json messages.tts.openai.apiKey"
    value: str = field(repr=False)
    key_id: str = ""  # AWS: the access key id that goes with the secret


@dataclass
class AgentKeys:
    uses: list[KeyUse] = field(default_factory=list)
    # What could not be read: the file and the kind of failure, never its content.
    problems: list[str] = field(default_factory=list)

    def add(self, provider: str, use: str, value: Any, key_id: str = "") -> None:
        if not isinstance(value, str) or not value:
            return
        # One key read from several places is one key to the provider.
        if any(u.provider == provider and u.value == value for u in self.uses):
            return
        self.uses.append(KeyUse(provider, use, value, key_id))


class AgentFiles:
    """The agent's files, as OpenClaw finds them from its config path and the user's home."""

    def __init__(self, config_path: Path, user_home: Path) -> None:
        self.config_path = config_path
        self.state_dir = config_path.parent
        self.user_home = user_home

    def keys(self) -> AgentKeys:
        found = AgentKeys()
        dotenv = self._dotenv(self.state_dir / ".env", found)
        config = self._config(found)
        resolve = _Resolver(dotenv, config, self)
        self._config_keys(config, resolve, found)
        self._profile_keys(config, resolve, found)
        for name, value in dotenv.items():
            if name in ENV_KEYS:
                found.add(ENV_KEYS[name], f"~/.openclaw/.env {name}", value)
        workspace = self.expand(str(_dig(config, "agents", "defaults", "workspace") or
                                    "~/.openclaw/workspace"))
        for name, value in self._dotenv(workspace / ".env", found).items():
            if name in ENV_KEYS:
                found.add(ENV_KEYS[name], f"workspace .env {name}", value)
        self._aws_keys(found)
        return found

    def expand(self, path: str) -> Path:
        if path == "~" or path.startswith("~/"):
            return self.user_home / path[2:]
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.state_dir / candidate

    # -- readers that never let a file's content into an error ----------------------------------

    def _read(self, path: Path, found: AgentKeys, parse: Callable[[str], Any]) -> Any:
        try:
            return parse(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            found.problems.append(f"{path}: {type(exc).__name__}")
            return None

    def _dotenv(self, path: Path, found: AgentKeys) -> dict[str, str]:
        import io

        from responders.fleet_agent.formats import dotenv_values

        values = self._read(path, found, lambda text: dotenv_values(stream=io.StringIO(text)))
        return {k: v for k, v in (values or {}).items() if v}

    def _json5(self, path: Path, found: AgentKeys) -> Any:
        from responders.fleet_agent.formats import decode_json5

        return self._read(path, found, decode_json5)

    def _config(self, found: AgentKeys) -> dict[str, Any]:
        config = self._with_includes(self._json5(self.config_path, found), self.config_path,
                                     found, depth=0)
        return config if isinstance(config, dict) else {}

    def _with_includes(self, node: Any, source: Path, found: AgentKeys, depth: int) -> Any:
        """OpenClaw's ``$include``: the named file (relative to the including one), merged under
        the object's other keys."""
        if isinstance(node, list):
            return [self._with_includes(v, source, found, depth) for v in node]
        if not isinstance(node, dict):
            return node
        merged: dict[str, Any] = {}
        include = node.get("$include")
        if isinstance(include, str) and depth < 8:
            path = source.parent / include
            included = self._with_includes(self._json5(path, found), path, found, depth + 1)
            if isinstance(included, dict):
                merged.update(included)
        for key, value in node.items():
            if key != "$include":
                merged[key] = self._with_includes(value, source, found, depth)
        return merged

    def read_secret_file(self, provider: Mapping[str, Any], pointer: str,
                         found: AgentKeys) -> Any:
        """A ``source: file`` secrets provider in ``json`` mode, at a JSON pointer."""
        path = self.expand(str(provider.get("path", "")))
        document = self._read(path, found, json.loads)
        for part in [p for p in pointer.split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(document, dict):
                return None
            document = document.get(part)
        return document

    # -- where OpenClaw reads each kind of key ---------------------------------------------------

    def _config_keys(self, config: Mapping[str, Any], resolve: _Resolver,
                     found: AgentKeys) -> None:
        providers = _dig(config, "models", "providers") or {}
        for name in ("openai", "anthropic"):
            value = resolve(_dig(providers, name, "apiKey"), found)
            found.add(name, f"openclaw.json models.providers.{name}.apiKey", value)
        tts = resolve(_dig(config, "messages", "tts", "openai", "apiKey"), found)
        found.add("openai", "openclaw.json messages.tts.openai.apiKey", tts)
        for field_name in ("botToken", "userToken"):
            value = resolve(_dig(config, "channels", "slack", field_name), found)
            found.add("slack", f"openclaw.json channels.slack.{field_name}", value)
        skills = _dig(config, "skills", "entries") or {}
        for skill, entry in (skills.items() if isinstance(skills, dict) else ()):
            env = _dig(entry, "env") or {}
            for name, value in (env.items() if isinstance(env, dict) else ()):
                if name in ENV_KEYS:
                    found.add(ENV_KEYS[name], f"openclaw.json skills.entries.{skill}.env.{name}",
                              resolve(value, found))

    def _profile_keys(self, config: Mapping[str, Any], resolve: _Resolver,
                      found: AgentKeys) -> None:
        agents = _dig(config, "agents", "list") or [{"id": "main"}]
        for agent in agents if isinstance(agents, list) else ():
            agent_id = str(_dig(agent, "id") or "")
            if not agent_id:
                continue
            path = self.state_dir / "agents" / agent_id / "agent" / "auth-profiles.json"
            profiles = _dig(self._read(path, found, json.loads), "profiles") or {}
            for name, profile in (profiles.items() if isinstance(profiles, dict) else ()):
                provider = PROFILE_KEYS.get(
                    (str(_dig(profile, "provider") or ""), str(_dig(profile, "type") or ""))
                )
                if provider is None:
                    continue
                value = (_dig(profile, "key") or _dig(profile, "token")
                         or resolve(_dig(profile, "keyRef") or _dig(profile, "tokenRef"), found))
                found.add(provider, f"agents/{agent_id} auth profile {name}", value)

    def _aws_keys(self, found: AgentKeys) -> None:
        import configparser

        def parse(text: str) -> configparser.RawConfigParser:
            ini = configparser.RawConfigParser()
            ini.read_string(text)
            return ini

        path = self.user_home / ".aws" / "credentials"
        try:
            ini = self._read(path, found, parse)
        except configparser.Error as exc:
            found.problems.append(f"{path}: {type(exc).__name__}")
            return
        if ini is None or not ini.has_section("default"):
            return
        key_id = ini.get("default", "aws_access_key_id", fallback="")
        secret = ini.get("default", "aws_secret_access_key", fallback="")
        if key_id:
            found.add("aws", "~/.aws/credentials [default]", secret, key_id)


class _Resolver:
    """A config value as OpenClaw resolves it: ``${VAR}`` from the dotenv, or a SecretRef
    (``env`` from the dotenv, ``file`` from a configured secrets provider; ``exec`` is not run
    by the stand-in)."""

    def __init__(self, dotenv: Mapping[str, str], config: Mapping[str, Any],
                 files: AgentFiles) -> None:
        self.dotenv = dotenv
        self.secret_providers = _dig(config, "secrets", "providers") or {}
        self.files = files

    def __call__(self, value: Any, found: AgentKeys) -> Any:
        if isinstance(value, str):
            return _VARIABLE.sub(lambda m: self.dotenv.get(m[1], ""), value)
        if not isinstance(value, dict):
            return None
        source, ref_id = value.get("source"), str(value.get("id") or "")
        if source == "env":
            return self.dotenv.get(ref_id)
        if source == "file":
            provider = self.secret_providers.get(str(value.get("provider") or ""))
            if isinstance(provider, dict) and provider.get("source") == "file":
                return self.files.read_secret_file(provider, ref_id, found)
        return None


def _dig(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


# --------------------------------------------------------------------------------------------
# One harmless call per key
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallAnswer:
    status: int
    body: bytes = b""


def _call(url: str, headers: Mapping[str, str], *, method: str = "GET",
          body: bytes | None = None) -> CallAnswer:
    import urllib.error
    import urllib.request

    # The stand-ins are on loopback: no proxy from the environment may sit in between.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
    try:
        with opener.open(request, timeout=CALL_TIMEOUT_SECONDS) as answer:
            return CallAnswer(answer.status, answer.read())
    except urllib.error.HTTPError as exc:
        return CallAnswer(exc.code, exc.read())


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _by_status(answer: CallAnswer) -> tuple[str, str]:
    if 200 <= answer.status < 300:
        return OK, f"HTTP {answer.status}"
    if answer.status in (401, 403):
        return REJECTED, f"HTTP {answer.status}"
    return ERROR, f"HTTP {answer.status}"


def _check_openai(base: str, key: KeyUse) -> tuple[str, str]:
    return _by_status(_call(f"{base}/models", {"Authorization": f"Bearer {key.value}"}))


def _check_anthropic(base: str, key: KeyUse) -> tuple[str, str]:
    headers = {"x-api-key": key.value, "anthropic-version": ANTHROPIC_VERSION}
    return _by_status(_call(f"{base}/v1/models", headers))


def _check_github(base: str, key: KeyUse) -> tuple[str, str]:
    # application/json: the only type GitHub's description declares (Prism insists on it).
    headers = {"Authorization": f"token {key.value}", "Accept": "application/json"}
    return _by_status(_call(f"{base}/user", headers))


def _check_stripe(base: str, key: KeyUse) -> tuple[str, str]:
    return _by_status(_call(f"{base}/v1/balance", {"Authorization": f"Bearer {key.value}"}))


def _check_slack(base: str, key: KeyUse) -> tuple[str, str]:
    answer = _call(f"{base}/auth.test", {"Authorization": f"Bearer {key.value}"})
    body = _json(answer.body)
    if answer.status != 200 or not isinstance(body, dict):
        return ERROR, f"HTTP {answer.status}"
    if body.get("ok") is True:
        return OK, "auth.test ok"
    error = str(body.get("error", ""))
    if error in ("invalid_auth", "token_revoked", "account_inactive", "not_authed"):
        return REJECTED, f"auth.test {error}"
    return ERROR, f"auth.test {error or 'not ok'}"


def _check_cloudflare(base: str, key: KeyUse) -> tuple[str, str]:
    answer = _call(f"{base}/user/tokens/verify", {"Authorization": f"Bearer {key.value}"})
    status, detail = _by_status(answer)
    if status != OK:
        return status, detail
    token_status = _dig(_json(answer.body), "result", "status")
    # A disabled or expired token still verifies, but nothing else takes it.
    return (OK if token_status == "active" else REJECTED), f"token {token_status}"


def _check_aws(base: str, key: KeyUse) -> tuple[str, str]:
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    headers = sigv4_headers(
        f"{base}/", body, key_id=key.key_id, secret=key.value, region="us-east-1",
        service="sts", now=datetime.now(UTC),
    )
    return _by_status(_call(f"{base}/", headers, method="POST", body=body))


def sigv4_headers(url: str, body: bytes, *, key_id: str, secret: str, region: str,
                  service: str, now: datetime) -> dict[str, str]:
    """Headers of an AWS Signature Version 4 POST of a form ``body`` to ``url``.

    Hand-written because the gateway stand-in is stdlib-only; tests/drill_demo checks it against
    botocore's signer and against moto with IAM enforced.
    """
    import hmac
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed = {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        "host": parts.netloc,
        "x-amz-date": amz_date,
    }
    names = ";".join(sorted(signed))
    canonical = "\n".join([
        "POST", parts.path or "/", parts.query,
        *(f"{name}:{signed[name]}" for name in sorted(signed)), "",
        names, hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join([
        "AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest(),
    ])
    signing_key = f"AWS4{secret}".encode()
    for part in (day, region, service, "aws4_request"):
        signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": signed["content-type"],
        "X-Amz-Date": amz_date,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, "
        f"SignedHeaders={names}, Signature={signature}",
    }


CHECKS: Mapping[str, Callable[[str, KeyUse], tuple[str, str]]] = {
    "openai": _check_openai,
    "anthropic": _check_anthropic,
    "github": _check_github,
    "slack": _check_slack,
    "cloudflare": _check_cloudflare,
    "stripe": _check_stripe,
    "aws": _check_aws,
}


def read_endpoints(path: Path) -> dict[str, str]:
    """``{provider: base URL}``, loopback URLs only: the stand-in never calls anything else."""
    from urllib.parse import urlsplit

    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError("the endpoints file must hold a JSON object")
    endpoints = {}
    for provider, url in document.items():
        parts = urlsplit(str(url))
        if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
            raise ValueError(f"endpoint of {provider} is not a loopback http URL")
        endpoints[str(provider)] = str(url).rstrip("/")
    return endpoints


def check_keys(files: AgentFiles, endpoints: Mapping[str, str]) -> dict[str, Any]:
    """Every key the agent reads, tried once against its provider's stand-in, concurrently."""
    from concurrent.futures import ThreadPoolExecutor

    from responders.interface import fingerprint

    found = files.keys()
    uses = [u for u in found.uses if u.provider in endpoints and u.provider in CHECKS]

    def attempt(key: KeyUse) -> tuple[str, str]:
        try:
            return CHECKS[key.provider](endpoints[key.provider], key)
        except OSError as exc:
            # The reason's type only: urllib's messages are safe, but a type cannot leak.
            return ERROR, type(getattr(exc, "reason", exc)).__name__

    with ThreadPoolExecutor(max_workers=max(1, len(uses))) as pool:
        results = list(pool.map(attempt, uses))
    providers: dict[str, str] = {}
    detail = []
    for key, (status, why) in zip(uses, results, strict=True):
        current = providers.get(key.provider, OK)
        providers[key.provider] = min(current, status, key=_SEVERITY.index)
        detail.append({"provider": key.provider, "use": key.use,
                       "fingerprint": fingerprint(key.value), "status": status, "detail": why})
    return {"providers": dict(sorted(providers.items())), "uses": detail,
            "problems": found.problems}


# --------------------------------------------------------------------------------------------
# The process
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyCheckSetup:
    files: AgentFiles
    endpoints: Path


@dataclass(frozen=True)
class GatewaySecrets:
    """The tokens the gateway accepts, read when it starts (as the real one does)."""

    gateway_token: str | None = field(default=None, repr=False)
    hooks_token: str | None = field(default=None, repr=False)
    hooks_path: str = "/hooks"

    @classmethod
    def read(cls, files: AgentFiles) -> GatewaySecrets:
        found = AgentKeys()
        dotenv = files._dotenv(files.state_dir / ".env", found)
        config = files._config(found)
        resolve = _Resolver(dotenv, config, files)
        token = resolve(_dig(config, "gateway", "auth", "token"), found)
        if not token:
            token = dotenv.get("OPENCLAW_GATEWAY_TOKEN")
        hooks = resolve(_dig(config, "hooks", "token"), found)
        path = _dig(config, "hooks", "path")
        return cls(
            gateway_token=token if isinstance(token, str) and token else None,
            hooks_token=hooks if isinstance(hooks, str) and hooks else None,
            hooks_path="/" + str(path).strip("/") if isinstance(path, str) and path else "/hooks",
        )


def _presented(headers: Any, *extra: str) -> str:
    """The token a request presents: ``Authorization: Bearer``, else one of ``extra``."""
    auth = str(headers.get("Authorization") or "")
    if auth.lower().startswith("bearer "):
        return auth[len("bearer "):].strip()
    return next((str(headers[h]).strip() for h in extra if headers.get(h)), "")


def _matches(presented: str, expected: str | None) -> bool:
    import hmac

    return bool(expected) and hmac.compare_digest(presented.encode(), str(expected).encode())


class _GatewayHandler(http.server.BaseHTTPRequestHandler):
    key_check: KeyCheckSetup | None = None  # set per server by serve()
    secrets: GatewaySecrets = GatewaySecrets()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if 0 < length <= 1 << 20:
            self.rfile.read(length)
        if self.path == "/tools/invoke":
            expected = self.secrets.gateway_token
            ok = _matches(_presented(self.headers), expected)
            self._answer(ok, {"ok": True, "result": {"sessions": []}})
        elif self.path == f"{self.secrets.hooks_path}/wake":
            ok = _matches(_presented(self.headers, "x-openclaw-token"), self.secrets.hooks_token)
            self._answer(ok, {"ok": True, "mode": "now"})
        else:
            self.send_error(404)

    def _answer(self, ok: bool, document: Any) -> None:
        if ok:
            self._send(200, document)
            return
        body = b"Unauthorized"
        self.send_response(401)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, {"ok": True, "pid": os.getpid()})
        elif self.path in ("/keys-ok", "/keys-ok/detail"):
            self._keys_ok(detail=self.path.endswith("/detail"))
        else:
            self.send_error(404)

    def _keys_ok(self, *, detail: bool) -> None:
        setup = self.key_check
        if setup is None:
            self._send(404, {"error": "started without --user-home and --endpoints"})
            return
        try:
            endpoints = read_endpoints(setup.endpoints)
        except FileNotFoundError:
            self._send(503, {"error": "the provider stand-ins are not known yet"})
            return
        except (OSError, ValueError) as exc:
            self._send(500, {"error": f"endpoints file: {type(exc).__name__}"})
            return
        try:
            checked = check_keys(setup.files, endpoints)
        except Exception as exc:  # answered by type only: a message could hold a key
            self._send(500, {"error": f"checking the keys failed: {type(exc).__name__}"})
            return
        self._send(200, checked if detail else checked["providers"])

    def _send(self, status: int, document: Any) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # Supervisord captures stderr into a file nobody reads; per-request lines only add noise.
        return


class _Terminated(BaseException):
    """Raised by the SIGTERM handler. A BaseException because socketserver swallows any
    Exception raised while it hands a connection to a thread, which would ignore the TERM."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def _write_owned(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _remove_if_ours(path: Path | None) -> None:
    """Remove a lock or pid file only while it still names this process (a successor may own it)."""
    if path is None:
        return
    try:
        text = path.read_text()
    except OSError:
        return
    try:
        owner = json.loads(text)["pid"] if text.lstrip().startswith("{") else int(text.strip())
    except (ValueError, KeyError, TypeError):
        return
    if owner == os.getpid():
        path.unlink(missing_ok=True)


def serve(port: int, lock_dir: Path, config_path: str, pid_file: Path | None = None,
          key_check: KeyCheckSetup | None = None, user_home: Path | None = None) -> int:
    signal.signal(signal.SIGTERM, _raise_terminated)
    set_process_title()
    config = Path(config_path)
    secrets = GatewaySecrets.read(AgentFiles(config, user_home or config.parent.parent))
    handler = type("GatewayHandler", (_GatewayHandler,),
                   {"key_check": key_check, "secrets": secrets})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    lock_path = lock_dir / lock_file_name(config_path)
    try:
        lock_dir.mkdir(parents=True, exist_ok=True)
        created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        lock = {"pid": os.getpid(), "createdAt": created, "configPath": config_path}
        _write_owned(lock_path, json.dumps(lock))
        if pid_file is not None:
            _write_owned(pid_file, f"{os.getpid()}\n")
        server.serve_forever(poll_interval=0.1)
    except (_Terminated, KeyboardInterrupt):
        pass
    finally:
        server.server_close()
        _remove_if_ours(lock_path)
        _remove_if_ours(pid_file)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clawback_demo.gateway", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lock-dir", type=Path, required=True)
    parser.add_argument("--config-path", required=True)
    parser.add_argument("--pid-file", type=Path)
    parser.add_argument("--user-home", type=Path, help="the agent user's HOME (for ~/.aws)")
    parser.add_argument("--endpoints", type=Path,
                        help="JSON {provider: loopback base URL}, read per /keys-ok request")
    args = parser.parse_args(argv)
    if (args.user_home is None) != (args.endpoints is None):
        parser.error("--user-home and --endpoints go together")
    key_check = None
    if args.endpoints is not None:
        key_check = KeyCheckSetup(AgentFiles(Path(args.config_path), args.user_home),
                                  args.endpoints)
    return serve(args.port, args.lock_dir, args.config_path, args.pid_file, key_check,
                 args.user_home)


if __name__ == "__main__":
    sys.exit(main())
