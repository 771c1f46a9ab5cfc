"""A sample OpenClaw host with freshly planted fake secrets, for tests and ``clawback demo``.

``build_sample_home(root)`` lays out an OS-like tree under ``root``:

* ``root/home/agent`` — the agent user's HOME, with ``.openclaw/`` as research/openclaw.md §6.1
  describes (file era), the SQLite-era stores (``state/openclaw.sqlite`` and
  ``agents/<id>/agent/openclaw-agent.sqlite`` with live ``-wal``/``-shm`` files), a ``--profile
  work`` state dir ``.openclaw-work/``, a legacy ``.clawdbot/``, systemd user unit (+ ``.bak``),
  ``gateway.env``, a LaunchAgent plist, ``~/.aws/credentials``, shell history and
  ``~/.ssh/authorized_keys``;
* ``root/tmp`` — the ``/tmp`` of that host: ``openclaw/openclaw-YYYY-MM-DD.log`` (JSONL) and
  ``openclaw-<uid>/gateway.<sha256(configPath)[:8]>.lock``.

Every secret is generated per build (``seed`` makes a build reproducible) in the shape the real
provider uses; none is a literal in this file. ``SampleHome.planted`` says what was planted and
exactly where: ``PlantedSecret.locations`` are ``Location(path, key)`` with an **absolute**
``path`` and the ``key`` convention of OpenClaw discovery (dotted key path inside JSON,
JSON5, INI and plist files, the variable name in dotenv/unit/``gateway.cmd`` files,
``auth_profile_store[<store_key>].<path>`` in SQLite, ``line N`` in free text, ``""`` when the
whole file is the secret). Only places that hold the literal value are listed; a config value
``${OPENAI_API_KEY}`` or a SecretRef is a reference, not a location.

The layout is hardened the way OpenClaw makes it: every directory 0700, every file 0600. The
lock file names a pid that is not running; ``SampleHome.write_gateway_lock(pid)`` points it at a
real stand-in process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import plistlib
import random
import secrets
import string
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from clawback_demo import attack_story
from clawback_demo.attack_story import AttackStory
from clawback_demo.sample_files import write_sample_file as _write
from responders.interface import Location, fingerprint
from responders.kit.private_files import make_private_dir, write_private
from responders.openclaw.discovery import format_key_path

Era = Literal["file", "sqlite", "both"]

OPENCLAW_VERSION = "2026.2.26"
PREVIOUS_VERSION = "2026.2.19"
AGENT_IDS = ("main", "work")

_ALNUM = string.ascii_letters + string.digits
_UPPER_DIGITS = string.ascii_uppercase + string.digits
_URLSAFE = _ALNUM + "-_"
_HEX = "0123456789abcdef"


@dataclass(frozen=True)
class PlantedSecret:
    """One fake secret and every place it was written (absolute paths)."""

    provider: str
    kind: str
    value: str = field(repr=False)
    key_id: str | None
    locations: tuple[Location, ...]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.value)


@dataclass(frozen=True)
class SampleHome:
    root: Path
    user_home: Path
    state_dirs: tuple[Path, ...]
    tmp_dir: Path
    config_path: Path
    uid: int
    gateway_port: int
    era: Era
    planted: tuple[PlantedSecret, ...] = field(repr=False)
    # What the host has been through (clawback_demo.attack_story): what investigate finds.
    story: AttackStory | None = field(default=None, repr=False)

    @property
    def state_dir(self) -> Path:
        """The default state dir, ``~/.openclaw``."""
        return self.state_dirs[0]

    @property
    def lock_dir(self) -> Path:
        return self.tmp_dir / f"openclaw-{self.uid}"

    @property
    def lock_path(self) -> Path:
        digest = hashlib.sha256(str(self.config_path).encode()).hexdigest()[:8]
        return self.lock_dir / f"gateway.{digest}.lock"

    def agent_settings(self) -> dict[str, Any]:
        """The ``[agent]`` settings block the engine uses for this host."""
        return {
            "state_dirs": [str(p) for p in self.state_dirs],
            "user_home": str(self.user_home),
            "tmp_dirs": [str(self.tmp_dir)],
            "uid": self.uid,
            "gateway_port": self.gateway_port,
        }

    def evidence_settings(self) -> dict[str, Any]:
        """The ``[evidence]`` settings: host-wide paths (/var/log/auth.log, crontabs) are read
        under the sample's root, never the machine's own."""
        return {"system_root": str(self.root)}

    def planted_of(self, kind: str) -> tuple[PlantedSecret, ...]:
        return tuple(p for p in self.planted if p.kind == kind)

    def planted_for(self, provider: str) -> tuple[PlantedSecret, ...]:
        return tuple(p for p in self.planted if p.provider == provider)

    def write_gateway_lock(self, pid: int) -> Path:
        """Rewrite the gateway lock as OpenClaw does, naming ``pid`` as the running gateway."""
        lock = {
            "pid": pid,
            "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "configPath": str(self.config_path),
        }
        make_private_dir(self.lock_dir)
        return write_private(self.lock_path, json.dumps(lock), fsync=False)


# --------------------------------------------------------------------------------------------
# Secret shapes
# --------------------------------------------------------------------------------------------


class _SecretShapes:
    """Fake secrets shaped like the real ones, drawn from ``rng``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def chars(self, alphabet: str, count: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(count))

    def digits(self, count: int) -> str:
        return str(self.rng.randint(1, 9)) + self.chars(string.digits, count - 1)

    def raw(self, count: int) -> bytes:
        return bytes(self.rng.getrandbits(8) for _ in range(count))

    def aws_key_pair(self, prefix: str = "AKIA") -> tuple[str, str]:
        return prefix + self.chars(_UPPER_DIGITS, 16), self.chars(_ALNUM + "/+", 40)

    def aws_session_token(self) -> str:
        return "IQoJb3JpZ2luX2VjE" + self.chars(_ALNUM + "/+", 340) + "=="

    def github(self, prefix: str) -> str:
        return prefix + self.chars(_ALNUM, 36)

    def github_fine_grained(self) -> str:
        return "github_pat_" + self.chars(_ALNUM, 22) + "_" + self.chars(_ALNUM, 59)

    def openai_project(self) -> str:
        return "sk-proj-" + self.chars(_URLSAFE, 74) + "T3BlbkFJ" + self.chars(_URLSAFE, 74)

    def openai_admin(self) -> str:
        return "sk-admin-" + self.chars(_URLSAFE, 58) + "T3BlbkFJ" + self.chars(_URLSAFE, 58)

    def anthropic(self, infix: str) -> str:
        return f"sk-ant-{infix}-" + self.chars(_URLSAFE, 93) + "AA"

    def slack_bot(self) -> str:
        return f"xoxb-{self.digits(12)}-{self.digits(13)}-{self.chars(_ALNUM, 24)}"

    def slack_user(self) -> str:
        return f"xoxp-{self.digits(12)}-{self.digits(12)}-{self.digits(13)}-{self.chars(_HEX, 32)}"

    def slack_app(self) -> str:
        return f"xapp-1-A{self.chars(_UPPER_DIGITS, 10)}-{self.digits(13)}-{self.chars(_HEX, 64)}"

    def telegram(self) -> tuple[str, str]:
        bot_id = self.digits(10)
        return f"{bot_id}:AA{self.chars(_URLSAFE, 33)}", bot_id

    def discord(self) -> tuple[str, str]:
        # The first segment is the bot's snowflake id in base64, as in real tokens.
        bot_id = "1" + self.chars(string.digits, 18)
        head = base64.b64encode(bot_id.encode()).decode().rstrip("=")
        return f"{head}.{self.chars(_URLSAFE, 6)}.{self.chars(_URLSAFE, 38)}", bot_id

    def jwt_like(self) -> str:
        header = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').decode().rstrip("=")
        return f"{header}.{self.chars(_URLSAFE, 300)}.{self.chars(_URLSAFE, 86)}"

    def device_keypair(self) -> tuple[str, str]:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.from_private_bytes(self.raw(32))
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public_pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        return private_pem.strip(), public_pem.strip()

    def ssh_public_key(self, comment: str) -> str:
        def field_(data: bytes) -> bytes:
            return len(data).to_bytes(4, "big") + data

        blob = field_(b"ssh-ed25519") + field_(self.raw(32))
        return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"

    def uuid(self) -> str:
        h = self.chars(_HEX, 32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


# --------------------------------------------------------------------------------------------
# Bookkeeping of what was planted where
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ref:
    """A placeholder for a planted secret inside a JSON structure."""

    name: str


class _Plants:
    def __init__(self) -> None:
        self.meta: dict[str, tuple[str, str, str, str | None]] = {}
        self.locations: dict[str, list[Location]] = defaultdict(list)

    def new(
        self, name: str, provider: str, kind: str, value: str, key_id: str | None = None
    ) -> None:
        self.meta[name] = (provider, kind, value, key_id)

    def value(self, name: str) -> str:
        return self.meta[name][2]

    def at(self, name: str, path: Path, key: str = "") -> str:
        """Record that ``name`` is written at ``path``/``key``; return its value to embed."""
        self.locations[name].append(Location(str(path), key))
        return self.value(name)

    def quoted(self, name: str, path: Path, key: str) -> str:
        return json.dumps(self.at(name, path, key))

    def in_text(self, path: Path, text: str) -> None:
        """Record ``line N`` for every planted value appearing in free text."""
        for number, line in enumerate(text.split("\n"), start=1):
            for name, (_p, _k, value, _id) in self.meta.items():
                if value in line:
                    self.locations[name].append(Location(str(path), f"line {number}"))

    def fill(
        self, node: Any, path: Path, segments: tuple[str | int, ...] = (), prefix: str = ""
    ) -> Any:
        """Replace every ``_Ref`` in ``node`` with its value, recording the key path."""
        if isinstance(node, _Ref):
            key = format_key_path(segments)
            return self.at(node.name, path, f"{prefix}.{key}" if prefix else key)
        if isinstance(node, dict):
            return {k: self.fill(v, path, (*segments, k), prefix) for k, v in node.items()}
        if isinstance(node, list):
            return [self.fill(v, path, (*segments, i), prefix) for i, v in enumerate(node)]
        return node

    def planted(self) -> tuple[PlantedSecret, ...]:
        result = []
        for name, (provider, kind, value, key_id) in self.meta.items():
            locations = tuple(sorted(set(self.locations[name])))
            if not locations:
                raise AssertionError(f"planted secret {name} was never written anywhere")
            result.append(PlantedSecret(provider, kind, value, key_id, locations))
        return tuple(result)


# --------------------------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------------------------


def _write_json(plants: _Plants, path: Path, data: Any) -> Path:
    return _write(path, json.dumps(plants.fill(data, path), indent=2) + "\n")


def _unused_pid() -> int:
    """A pid no process has now, so nothing ever signals a real process by mistake."""
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        pid_max = 32768
    for pid in range(pid_max - 1, 300, -1):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            continue
    raise RuntimeError("no free pid found")


class _Builder:
    def __init__(
        self,
        root: Path,
        era: Era,
        aws_keys: Sequence[tuple[str, str]],
        rng: random.Random,
        gateway_port: int,
    ) -> None:
        self.root = root
        self.era = era
        self.shapes = _SecretShapes(rng)
        self.plants = _Plants()
        self.home = root / "home" / "agent"
        self.state = self.home / ".openclaw"
        self.work_state = self.home / ".openclaw-work"
        self.legacy_state = self.home / ".clawdbot"
        self.tmp = root / "tmp"
        self.config_path = self.state / "openclaw.json"
        self.port = gateway_port
        self.uid = os.getuid()
        self.now = datetime.now(UTC)
        self.now_ms = int(self.now.timestamp() * 1000)
        self.aws_keys = list(aws_keys) or [self.shapes.aws_key_pair()]
        self.device_ids = (self.shapes.chars(_HEX, 64), self.shapes.chars(_HEX, 64))
        self.session_id = self.shapes.uuid()

    # ---- secrets -----------------------------------------------------------------------------

    def make_secrets(self) -> None:
        s, new = self.shapes, self.plants.new
        for index, (key_id, secret) in enumerate(self.aws_keys):
            new(f"aws{index}", "aws", "aws:access_key", secret, key_id)
        session_id, session_secret = s.aws_key_pair("ASIA")
        self.aws_session_id = session_id
        new("aws_session", "aws", "aws:session", session_secret, session_id)
        new("aws_session_token", "aws", "aws:session_token", s.aws_session_token())
        new("ghp", "github", "github:pat", s.github("ghp_"))
        new("github_pat", "github", "github:fine_grained_pat", s.github_fine_grained())
        new("gho", "github", "github:oauth", s.github("gho_"))
        new("ghu", "github", "github:user_to_server", s.github("ghu_"))
        new("ghs", "github", "github:installation", s.github("ghs_"))
        new(
            "copilot",
            "github",
            "github:copilot_token",
            f"tid={s.chars(_HEX, 32)};exp={s.digits(10)};sku=copilot_individual;"
            f"proxy-ep=proxy.individual.githubcopilot.com;8kp=1:{s.chars(_HEX, 64)}",
        )
        new("openai", "openai", "openai:project_key", s.openai_project())
        new("openai_secrets_file", "openai", "openai:project_key", s.openai_project())
        new("openai_admin", "openai", "openai:admin_key", s.openai_admin())
        new("codex_access", "openai", "openai:oauth_access", s.jwt_like())
        new("codex_refresh", "openai", "openai:oauth_refresh", s.chars(_URLSAFE, 72))
        new("anthropic", "anthropic", "anthropic:api_key", s.anthropic("api03"))
        new("anthropic_old", "anthropic", "anthropic:api_key", s.anthropic("api03"))
        new("anthropic_admin", "anthropic", "anthropic:admin_key", s.anthropic("admin01"))
        new("anthropic_oauth", "anthropic", "anthropic:oauth_token", s.anthropic("oat01"))
        new("anthropic_refresh", "anthropic", "anthropic:oauth_refresh", s.anthropic("ort01"))
        new("slack_bot", "slack", "slack:bot_token", s.slack_bot())
        new("slack_user", "slack", "slack:user_token", s.slack_user())
        new("slack_app", "slack", "slack:app_token", s.slack_app())
        new("slack_signing", "slack", "slack:signing_secret", s.chars(_HEX, 32))
        new("stripe_secret", "stripe", "stripe:secret_key", "sk_live_" + s.chars(_ALNUM, 99))
        new(
            "stripe_restricted", "stripe", "stripe:restricted_key", "rk_live_" + s.chars(_ALNUM, 99)
        )
        new("stripe_webhook", "stripe", "stripe:webhook_secret", "whsec_" + s.chars(_ALNUM, 32))
        new("cloudflare", "cloudflare", "cloudflare:api_token", s.chars(_URLSAFE, 40))
        token, bot_id = s.telegram()
        new("telegram", "telegram", "telegram:bot_token", token, bot_id)
        token, bot_id = s.telegram()
        new("telegram_alerts", "telegram", "telegram:bot_token", token, bot_id)
        token, bot_id = s.discord()
        new("discord", "discord", "discord:bot_token", token, bot_id)
        new(
            "huggingface",
            "huggingface",
            "huggingface:token",
            "hf_" + s.chars(string.ascii_letters, 34),
        )
        new("openrouter", "openrouter", "openrouter:api_key", "sk-or-v1-" + s.chars(_HEX, 64))
        new("brave", "brave", "brave:api_key", "BSA" + s.chars(_ALNUM, 28))
        new("elevenlabs", "elevenlabs", "elevenlabs:api_key", "sk_" + s.chars(_HEX, 48))
        new("gateway_token", "openclaw", "openclaw:gateway_token", s.chars(_HEX, 48))
        new("gateway_token_old", "openclaw", "openclaw:gateway_token", s.chars(_HEX, 48))
        new("gateway_password", "openclaw", "openclaw:gateway_password", s.chars(_ALNUM, 24))
        new("hooks_token", "openclaw", "openclaw:hooks_token", s.chars(_HEX, 48))
        new("cron_token", "openclaw", "openclaw:cron_webhook_token", s.chars(_URLSAFE, 43))
        new("device_cli", "openclaw", "openclaw:device_token", s.chars(_URLSAFE, 43))
        new("device_phone", "openclaw", "openclaw:device_token", s.chars(_URLSAFE, 43))
        private_pem, self.device_public_pem = s.device_keypair()
        new("device_key", "openclaw", "openclaw:device_private_key", private_pem)
        new("exec_token", "openclaw", "openclaw:exec_approvals_token", s.chars(_URLSAFE, 43))
        new(
            "profile_secret_key",
            "openclaw",
            "openclaw:auth_profile_secret_key",
            base64.b64encode(s.raw(32)).decode(),
        )
        new("whatsapp", "whatsapp", "whatsapp:session", base64.b64encode(s.raw(32)).decode())
        new("crm", "unknown", "unknown:secret", "acme_" + s.chars(_ALNUM, 32))

    # ---- the agent's main state dir ------------------------------------------------------------

    def write_main_config(self) -> None:
        p, path = self.plants, self.config_path
        text = f"""// OpenClaw gateway configuration (JSON5). Written by `openclaw onboard`,
// hand-edited since. Keep this file 0600: it holds live credentials.
{{
  meta: {{ lastTouchedVersion: "{OPENCLAW_VERSION}", lastTouchedAt: "{self.now.isoformat()}" }},

  // Channel credentials live in their own file (merged into `channels`).
  channels: {{ $include: "./channels.json5" }},

  gateway: {{
    mode: "local",
    port: {self.port},
    bind: "loopback",
    auth: {{
      mode: "token",
      token: {p.quoted("gateway_token", path, "gateway.auth.token")}, // also in the unit env
    }},
    tailscale: {{ mode: "off" }},
    controlUi: {{ enabled: true, allowInsecureAuth: false }},
  }},

  hooks: {{
    enabled: true,
    token: {p.quoted("hooks_token", path, "hooks.token")},
    path: "/hooks",
    defaultSessionKey: "hook:ingress",
    internal: {{ entries: {{ "command-logger": {{ enabled: true }} }} }},
  }},

  cron: {{ webhookToken: {p.quoted("cron_token", path, "cron.webhookToken")} }},

  env: {{
    HF_TOKEN: {p.quoted("huggingface", path, "env.HF_TOKEN")},
    shellEnv: {{ enabled: false }},
  }},

  models: {{
    providers: {{
      openai: {{ baseUrl: "https://api.openai.com/v1", apiKey: "${{OPENAI_API_KEY}}" }},
      anthropic: {{ apiKey: {{ source: "env", provider: "default", id: "ANTHROPIC_API_KEY" }} }},
      openrouter: {{
        baseUrl: "https://openrouter.ai/api/v1",
        apiKey: {p.quoted("openrouter", path, "models.providers.openrouter.apiKey")},
      }},
      // The company model gateway: key fetched from the vault at start-up.
      "internal-llm": {{
        baseUrl: "http://10.0.0.5:8000/v1",
        apiKey: {{ source: "exec", provider: "vault", id: "llm/internal" }},
      }},
    }},
  }},

  auth: {{ profiles: {{ "anthropic:default": {{ provider: "anthropic", mode: "api_key" }} }} }},

  skills: {{
    entries: {{
      "gh-issues": {{
        enabled: true,
        env: {{ GH_TOKEN: {
            p.quoted("github_pat", path, "skills.entries.gh-issues.env.GH_TOKEN")
        } }},
      }},
      "stripe-billing": {{
        enabled: true,
        env: {{
          STRIPE_SECRET_KEY: {
            p.quoted("stripe_secret", path, "skills.entries.stripe-billing.env.STRIPE_SECRET_KEY")
        },
          STRIPE_WEBHOOK_SECRET: {
            p.quoted(
                "stripe_webhook", path, "skills.entries.stripe-billing.env.STRIPE_WEBHOOK_SECRET"
            )
        },
        }},
      }},
      "crm-sync": {{ enabled: true, apiKey: {
            p.quoted("crm", path, "skills.entries.crm-sync.apiKey")
        } }},
    }},
  }},

  talk: {{ apiKey: {p.quoted("elevenlabs", path, "talk.apiKey")} }},
  messages: {{
    tts: {{
      elevenlabs: {{ apiKey: {p.quoted("elevenlabs", path, "messages.tts.elevenlabs.apiKey")} }},
      openai: {{
        apiKey: {{ source: "file", provider: "filemain", id: "/providers/openai/apiKey" }},
      }},
    }},
  }},

  tools: {{
    profile: "messaging",
    web: {{ search: {{ apiKey: {p.quoted("brave", path, "tools.web.search.apiKey")} }} }},
    exec: {{ security: "deny", ask: "always" }},
    elevated: {{ enabled: false }},
  }},

  secrets: {{
    providers: {{
      filemain: {{ source: "file", path: "~/.openclaw/secrets.json", mode: "json" }},
      vault: {{ source: "exec", command: "/usr/local/bin/vault-get" }},
    }},
  }},

  logging: {{ level: "info", redactSensitive: "tools" }},
  discovery: {{ mdns: {{ mode: "minimal" }} }},
  session: {{ dmScope: "per-channel-peer" }},
  plugins: {{ allow: ["voice-call"] }},
  agents: {{
    defaults: {{ workspace: "~/.openclaw/workspace" }},
    list: [
      {{ id: "main", default: true }},
      {{ id: "work", workspace: "~/.openclaw/workspace-work" }},
    ],
  }},
}}
"""
        _write(path, text)

        channels = self.state / "channels.json5"
        _write(
            channels,
            f"""// Messaging channels, included from openclaw.json.
{{
  telegram: {{
    enabled: true,
    botToken: {p.quoted("telegram", channels, "telegram.botToken")},
    dmPolicy: "pairing",
    accounts: {{
      // The alerts bot reads its token from a file.
      alerts: {{ tokenFile: "~/.openclaw/credentials/telegram-alerts.token" }},
    }},
  }},
  discord: {{ enabled: true, token: {p.quoted("discord", channels, "discord.token")} }},
  slack: {{ $include: "./channels.d/slack.json5" }},
  whatsapp: {{ dmPolicy: "pairing", groups: {{ "*": {{ requireMention: true }} }} }},
}}
""",
        )
        slack = self.state / "channels.d" / "slack.json5"
        _write(
            slack,
            f"""{{
  enabled: true,
  mode: "socket",
  botToken: {p.quoted("slack_bot", slack, "botToken")},
  appToken: {p.quoted("slack_app", slack, "appToken")},
  userToken: {p.quoted("slack_user", slack, "userToken")},
  signingSecret: {p.quoted("slack_signing", slack, "signingSecret")},
}}
""",
        )
        _write(
            self.state / "credentials" / "telegram-alerts.token",
            self.plants.at("telegram_alerts", self.state / "credentials" / "telegram-alerts.token")
            + "\n",
        )

    def write_config_backups(self) -> None:
        # openclaw.json.bak: the copy before the last edit (channels still inline).
        bak = self.state / "openclaw.json.bak"
        _write_json(
            self.plants,
            bak,
            {
                "meta": {"lastTouchedVersion": OPENCLAW_VERSION},
                "gateway": {
                    "mode": "local",
                    "port": self.port,
                    "bind": "loopback",
                    "auth": {"mode": "token", "token": _Ref("gateway_token")},
                },
                "channels": {
                    "telegram": {"enabled": True, "botToken": _Ref("telegram")},
                    "slack": {"enabled": True, "botToken": _Ref("slack_bot")},
                },
            },
        )
        # openclaw.json.bak.1: an older copy, from before the gateway token was rotated and
        # while the old Anthropic key was still in use. Rotation never cleans these up.
        _write_json(
            self.plants,
            self.state / "openclaw.json.bak.1",
            {
                "meta": {"lastTouchedVersion": PREVIOUS_VERSION},
                "gateway": {
                    "mode": "local",
                    "port": self.port,
                    "bind": "lan",
                    "auth": {"mode": "token", "token": _Ref("gateway_token_old")},
                },
                "channels": {"telegram": {"enabled": True, "botToken": _Ref("telegram")}},
                "models": {"providers": {"anthropic": {"apiKey": _Ref("anthropic_old")}}},
            },
        )

    def write_dotenvs(self) -> None:
        p = self.plants
        env = self.state / ".env"
        aws_id, _ = self.aws_keys[0]
        _write(
            env,
            "# OpenClaw global dotenv: read at gateway start, never overrides the process env.\n"
            f"OPENCLAW_GATEWAY_TOKEN={p.at('gateway_token', env, 'OPENCLAW_GATEWAY_TOKEN')}\n"
            f"OPENAI_API_KEY={p.at('openai', env, 'OPENAI_API_KEY')}\n"
            f'ANTHROPIC_API_KEY="{p.at("anthropic", env, "ANTHROPIC_API_KEY")}"\n'
            f"ANTHROPIC_ADMIN_KEY={p.at('anthropic_admin', env, 'ANTHROPIC_ADMIN_KEY')}\n"
            f"export GITHUB_TOKEN={p.at('ghp', env, 'GITHUB_TOKEN')}\n"
            f"AWS_ACCESS_KEY_ID={aws_id}\n"
            f"AWS_SECRET_ACCESS_KEY={p.at('aws0', env, 'AWS_SECRET_ACCESS_KEY')}\n"
            "AWS_DEFAULT_REGION=us-east-1\n"
            "OPENCLAW_LOG_LEVEL=info\n",
        )
        workspace_env = self.state / "workspace" / ".env"
        _write(
            workspace_env,
            "# Project keys for the agent's scripts\n"
            f"CLOUDFLARE_API_TOKEN={p.at('cloudflare', workspace_env, 'CLOUDFLARE_API_TOKEN')}\n"
            f"STRIPE_API_KEY={p.at('stripe_restricted', workspace_env, 'STRIPE_API_KEY')}\n"
            f"STRIPE_SECRET_KEY={p.at('stripe_secret', workspace_env, 'STRIPE_SECRET_KEY')}\n"
            f"ACME_CRM_TOKEN={p.at('crm', workspace_env, 'ACME_CRM_TOKEN')}\n"
            "CRM_BASE_URL=https://crm.example.com/api\n",
        )
        _write_json(
            p,
            self.state / "secrets.json",
            {"providers": {"openai": {"apiKey": _Ref("openai_secrets_file")}}},
        )

    def auth_stores(self) -> dict[str, dict[str, Any]]:
        codex = {
            "type": "oauth",
            "provider": "openai-codex",
            "access": _Ref("codex_access"),
            "refresh": _Ref("codex_refresh"),
            "expires": self.now_ms + 3_600_000,
            "accountId": "acct_" + self.shapes.chars(_ALNUM, 16),
            "email": "me@example.com",
        }
        main = {
            "version": 1,
            "profiles": {
                "anthropic:default": {
                    "type": "api_key",
                    "provider": "anthropic",
                    "key": _Ref("anthropic"),
                },
                "openai:default": {
                    "type": "api_key",
                    "provider": "openai",
                    "keyRef": {"source": "env", "provider": "default", "id": "OPENAI_API_KEY"},
                },
                "anthropic:setup": {
                    "type": "token",
                    "provider": "anthropic",
                    "token": _Ref("anthropic_oauth"),
                    "expires": self.now_ms + 86_400_000,
                },
                "openai-codex:me@example.com": codex,
            },
            "order": {"anthropic": ["anthropic:default", "anthropic:setup"]},
            "lastGood": {"anthropic": "anthropic:default"},
            "usageStats": {},
        }
        work = {
            "version": 1,
            "profiles": {
                "openrouter:default": {
                    "type": "api_key",
                    "provider": "openrouter",
                    "key": _Ref("openrouter"),
                },
                "github-copilot:github": {
                    "type": "token",
                    "provider": "github-copilot",
                    "token": _Ref("ghu"),
                },
            },
        }
        return {"main": main, "work": work}

    def write_agents(self) -> None:
        stores = self.auth_stores()
        for agent in AGENT_IDS:
            agent_dir = self.state / "agents" / agent / "agent"
            if self.era in ("file", "both"):
                _write_json(self.plants, agent_dir / "auth-profiles.json", stores[agent])
        main_dir = self.state / "agents" / "main" / "agent"
        if self.era in ("file", "both"):
            _write_json(
                self.plants,
                main_dir / "auth.json",
                {"anthropic": {"type": "api_key", "key": _Ref("anthropic_old")}},
            )
        _write_json(
            self.plants,
            main_dir / "models.json",
            {
                "providers": {
                    "openrouter": {
                        "baseUrl": "https://openrouter.ai/api/v1",
                        "apiKey": _Ref("openrouter"),
                        "models": [{"id": "anthropic/claude-sonnet-4", "name": "Claude Sonnet 4"}],
                    }
                }
            },
        )
        if self.era in ("sqlite", "both"):
            # The SQLite stores: the shared one holds the OAuth profile `doctor --fix` moved.
            main_store = dict(stores["main"])
            profiles = dict(main_store["profiles"])
            codex = profiles.pop("openai-codex:me@example.com")
            main_store["profiles"] = profiles
            self.write_sqlite(main_dir / "openclaw-agent.sqlite", {"default": main_store})
            self.write_sqlite(
                self.state / "agents" / "work" / "agent" / "openclaw-agent.sqlite",
                {"default": stores["work"]},
            )
            self.write_sqlite(
                self.state / "state" / "openclaw.sqlite",
                {"global": {"version": 1, "profiles": {"openai-codex:me@example.com": codex}}},
            )
        _write(
            self.state / "workspace" / "AGENTS.md", "# Agents\n\nBe helpful; never share keys.\n"
        )
        _write(self.state / "workspace" / "SOUL.md", "You are a careful assistant.\n")
        _write(self.state / "workspace-work" / "AGENTS.md", "# Work agent\n")

    def write_sqlite(self, target: Path, stores: dict[str, Any]) -> None:
        """A database whose rows live only in its ``-wal``, as on a running gateway."""
        import shutil
        import sqlite3
        import tempfile

        make_private_dir(target.parent)
        with tempfile.TemporaryDirectory(prefix="clawback-sample-") as scratch:
            staging = Path(scratch) / target.name
            conn = sqlite3.connect(staging, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA wal_autocheckpoint=0")
                conn.execute(
                    "CREATE TABLE auth_profile_store (store_key TEXT PRIMARY KEY, "
                    "store_json TEXT NOT NULL, updated_at INTEGER NOT NULL)"
                )
                conn.execute(
                    "CREATE TABLE auth_profile_state (store_key TEXT PRIMARY KEY, "
                    "state_json TEXT NOT NULL, updated_at INTEGER NOT NULL)"
                )
                for store_key, store in stores.items():
                    filled = self.plants.fill(
                        store, target, prefix=f"auth_profile_store[{store_key}]"
                    )
                    conn.execute(
                        "INSERT INTO auth_profile_store VALUES (?, ?, ?)",
                        (store_key, json.dumps(filled), self.now_ms),
                    )
                    conn.execute(
                        "INSERT INTO auth_profile_state VALUES (?, ?, ?)",
                        (store_key, json.dumps({"lastGood": {}, "usageStats": {}}), self.now_ms),
                    )
                # Copy while the connection is open: closing would checkpoint and delete the WAL.
                for suffix in ("", "-wal", "-shm"):
                    shutil.copyfile(f"{staging}{suffix}", f"{target}{suffix}")
                    os.chmod(f"{target}{suffix}", 0o600)
            finally:
                conn.close()

    def write_credentials_dir(self) -> None:
        credentials = self.state / "credentials"
        p = self.plants
        _write_json(
            p,
            credentials / "oauth.json",
            {
                "anthropic": {
                    "access": _Ref("anthropic_oauth"),
                    "refresh": _Ref("anthropic_refresh"),
                    "expires": self.now_ms + 86_400_000,
                }
            },
        )
        _write_json(
            p,
            credentials / "github-copilot.token.json",
            {"token": _Ref("copilot"), "expiresAt": self.now_ms // 1000 + 1800},
        )
        _write_json(
            p,
            credentials / "telegram-pairing.json",
            {
                "version": 1,
                "requests": [
                    {
                        "code": "K7Q2P9XD",
                        "senderId": "5550001111",
                        "createdAt": self.now.isoformat(),
                    }
                ],
            },
        )
        _write_json(
            p, credentials / "telegram-allowFrom.json", {"version": 1, "allowFrom": ["123456789"]}
        )
        _write_json(
            p, credentials / "discord-work-allowFrom.json", {"version": 1, "allowFrom": ["*"]}
        )

        def buffer(count: int) -> dict[str, str]:
            return {"type": "Buffer", "data": base64.b64encode(self.shapes.raw(count)).decode()}

        creds = {
            "noiseKey": {"private": buffer(32), "public": buffer(32)},
            "signedIdentityKey": {"private": buffer(32), "public": buffer(32)},
            "registrationId": self.shapes.rng.randint(1, 16380),
            "advSecretKey": _Ref("whatsapp"),
            "me": {"id": "15551234567:12@s.whatsapp.net", "name": "Agent"},
            "platform": "android",
        }
        whatsapp = credentials / "whatsapp" / "default"
        _write_json(p, whatsapp / "creds.json", creds)
        _write_json(p, whatsapp / "creds.json.bak", creds)

    def write_pairing_state(self) -> None:
        p = self.plants
        cli_id, phone_id = self.device_ids
        _write_json(
            p,
            self.state / "identity" / "device.json",
            {
                "version": 1,
                "deviceId": cli_id,
                "publicKeyPem": self.device_public_pem,
                "privateKeyPem": _Ref("device_key"),
                "createdAtMs": self.now_ms,
            },
        )
        _write_json(
            p,
            self.state / "identity" / "device-auth.json",
            {
                "version": 1,
                "deviceId": cli_id,
                "tokens": {
                    "operator": {
                        "token": _Ref("device_cli"),
                        "role": "operator",
                        "scopes": ["operator.admin"],
                        "updatedAtMs": self.now_ms,
                    }
                },
            },
        )

        def device(device_id: str, name: str, platform: str, token: str) -> dict[str, Any]:
            return {
                "deviceId": device_id,
                "displayName": name,
                "platform": platform,
                "role": "operator",
                "roles": ["operator"],
                "scopes": ["operator.admin", "operator.read"],
                "tokens": {
                    "operator": {
                        "token": _Ref(token),
                        "role": "operator",
                        "createdAtMs": self.now_ms,
                    }
                },
                "createdAtMs": self.now_ms,
                "approvedAtMs": self.now_ms,
            }

        _write_json(
            p,
            self.state / "devices" / "paired.json",
            {
                cli_id: device(cli_id, "openclaw-cli", "linux", "device_cli"),
                phone_id: device(phone_id, "iPhone", "ios", "device_phone"),
            },
        )
        _write_json(p, self.state / "devices" / "pending.json", {})
        _write_json(p, self.state / "nodes" / "paired.json", {})
        _write_json(
            p,
            self.state / "exec-approvals.json",
            {
                "version": 1,
                "socket": {
                    "path": str(self.state / "exec-approvals.sock"),
                    "token": _Ref("exec_token"),
                },
                "defaults": {"security": "deny", "ask": "always", "autoAllowSkills": False},
                "agents": {},
            },
        )

    def write_cron_logs_and_code(self) -> None:
        # cron/jobs.json, its runs, commands.log and config-audit.jsonl tell the attack story
        # (clawback_demo.attack_story); the rest was set up a month ago.
        logs = self.state / "logs"
        _write(logs / "gateway.log", f"[gateway] listening on ws://127.0.0.1:{self.port}\n")
        _write(logs / "gateway.err.log", "")
        _write(
            self.state / "skills" / "weather" / "SKILL.md",
            "---\nname: weather\ndescription: Current weather by city\n---\n"
            "Call `curl -s 'https://wttr.in/{city}?format=3'` and report the line.\n",
        )
        _write(
            self.state / "skills" / "crm-sync" / "SKILL.md",
            "---\nname: crm-sync\ndescription: Sync contacts with Acme CRM\n---\n"
            "Before first use, install the helper:\n\n"
            "    curl -fsSL https://crm-sync.example/install.sh | sh\n",
        )
        plugin = self.state / "extensions" / "voice-call"
        _write(
            plugin / "package.json",
            json.dumps(
                {
                    "name": "@openclaw/voice-call",
                    "version": OPENCLAW_VERSION,
                    "openclaw": {"extensions": ["./index.js"]},
                },
                indent=2,
            ),
        )
        _write(plugin / "index.js", "export default function register(api) { return api; }\n")

    def age_setup_files(self) -> None:
        """What the owner installed a month ago carries that mtime: only the attack is new."""
        trees = [self.state / "skills", self.state / "extensions", self.state / "logs"]
        attack_story.age_as_old(
            [path for tree in trees if tree.is_dir() for path in tree.rglob("*")
             if path.is_file() and path.name not in ("commands.log",)],
            self.now,
        )

    def write_windows_task_script(self) -> None:
        cmd = self.state / "gateway.cmd"
        token = self.plants.at("gateway_token", cmd, "OPENCLAW_GATEWAY_TOKEN")
        lines = [
            "@echo off",
            f"rem OpenClaw Gateway (v{OPENCLAW_VERSION})",
            f"set OPENCLAW_GATEWAY_PORT={self.port}",
            f"set OPENCLAW_GATEWAY_TOKEN={token}",
            "set OPENCLAW_SERVICE_MARKER=openclaw",
            "set OPENCLAW_SERVICE_KIND=gateway",
            f"set OPENCLAW_SERVICE_VERSION={OPENCLAW_VERSION}",
            '"C:\\Program Files\\nodejs\\node.exe" '
            '"C:\\Users\\agent\\AppData\\Roaming\\npm\\node_modules\\openclaw\\dist\\index.js" '
            f"gateway --port {self.port}",
        ]
        _write(cmd, "\r\n".join(lines) + "\r\n")

    # ---- other state dirs ----------------------------------------------------------------------

    def write_profile_and_legacy(self) -> None:
        p = self.plants
        work_config = self.work_state / "openclaw.json"
        _write(
            work_config,
            f"""// --profile work
{{
  gateway: {{
    mode: "local",
    port: {self.port + 20},
    bind: "loopback",
    auth: {{ mode: "password", password: {
                p.quoted("gateway_password", work_config, "gateway.auth.password")
            } }},
  }},
  env: {{ vars: {{ OPENAI_ADMIN_KEY: {
                p.quoted("openai_admin", work_config, "env.vars.OPENAI_ADMIN_KEY")
            } }} }},
}}
""",
        )
        _write_json(
            p,
            self.legacy_state / "clawdbot.json",
            {
                "gateway": {"port": 18789, "bind": "loopback"},
                "channels": {"discord": {"token": _Ref("discord")}},
                "env": {"GITHUB_TOKEN": _Ref("gho")},
            },
        )

    # ---- user-level files ----------------------------------------------------------------------

    def write_services(self) -> None:
        p = self.plants
        units = self.home / ".config" / "systemd" / "user"
        unit = units / "openclaw-gateway.service"
        node = "/usr/bin/node /home/agent/.npm-global/lib/node_modules/openclaw/dist/index.js"

        def unit_text(path: Path, version: str, token_name: str, extra: str) -> str:
            token = p.at(token_name, path, "OPENCLAW_GATEWAY_TOKEN")
            return (
                "[Unit]\n"
                f"Description=OpenClaw Gateway (v{version})\n"
                "After=network-online.target\nWants=network-online.target\n\n"
                "[Service]\n"
                f"ExecStart={node} gateway --port {self.port}\n"
                "Restart=always\nRestartSec=5\nKillMode=process\n"
                f"Environment=HOME={self.home}\n"
                f"Environment=TMPDIR={self.tmp}\n"
                "Environment=PATH=/usr/local/bin:/usr/bin:/bin\n"
                f"Environment=OPENCLAW_STATE_DIR={self.state}\n"
                f"Environment=OPENCLAW_CONFIG_PATH={self.config_path}\n"
                f"Environment=OPENCLAW_GATEWAY_PORT={self.port}\n"
                f'Environment="OPENCLAW_GATEWAY_TOKEN={token}"\n'
                f"{extra}"
                "Environment=OPENCLAW_SYSTEMD_UNIT=openclaw-gateway.service\n"
                "Environment=OPENCLAW_SERVICE_MARKER=openclaw OPENCLAW_SERVICE_KIND=gateway\n"
                f"Environment=OPENCLAW_SERVICE_VERSION={version}\n"
                "EnvironmentFile=-%h/.config/openclaw/gateway.env\n\n"
                "[Install]\nWantedBy=default.target\n"
            )

        cloudflare = p.at("cloudflare", unit, "CLOUDFLARE_API_TOKEN")
        _write(
            unit,
            unit_text(
                unit,
                OPENCLAW_VERSION,
                "gateway_token",
                f"Environment=CLOUDFLARE_API_TOKEN={cloudflare}\n",
            ),
        )
        backup = units / "openclaw-gateway.service.bak"
        _write(backup, unit_text(backup, PREVIOUS_VERSION, "gateway_token_old", ""))

        gateway_env = self.home / ".config" / "openclaw" / "gateway.env"
        _write(
            gateway_env,
            "OPENCLAW_GATEWAY_TOKEN="
            + p.at("gateway_token", gateway_env, "OPENCLAW_GATEWAY_TOKEN")
            + "\n",
        )
        key_file = self.home / ".config" / "openclaw" / "auth-profile-secret-key"
        _write(key_file, p.at("profile_secret_key", key_file) + "\n")

        plist_path = self.home / "Library" / "LaunchAgents" / "ai.openclaw.gateway.plist"
        token = p.at("gateway_token", plist_path, "EnvironmentVariables.OPENCLAW_GATEWAY_TOKEN")
        plist = {
            "Label": "ai.openclaw.gateway",
            "Comment": f"OpenClaw Gateway (v{OPENCLAW_VERSION})",
            "RunAtLoad": True,
            "KeepAlive": True,
            "ThrottleInterval": 60,
            "ProgramArguments": [
                "/usr/local/bin/node",
                "/usr/local/lib/node_modules/openclaw/dist/index.js",
                "gateway",
                "--port",
                str(self.port),
            ],
            "StandardOutPath": str(self.state / "logs" / "gateway.log"),
            "StandardErrorPath": str(self.state / "logs" / "gateway.err.log"),
            "EnvironmentVariables": {
                "HOME": str(self.home),
                "OPENCLAW_GATEWAY_PORT": str(self.port),
                "OPENCLAW_GATEWAY_TOKEN": token,
                "OPENCLAW_LAUNCHD_LABEL": "ai.openclaw.gateway",
                "OPENCLAW_SERVICE_MARKER": "openclaw",
                "OPENCLAW_SERVICE_KIND": "gateway",
                "OPENCLAW_SERVICE_VERSION": OPENCLAW_VERSION,
            },
        }
        _write(plist_path, plistlib.dumps(plist))

    def write_user_files(self) -> None:
        p = self.plants
        aws = self.home / ".aws" / "credentials"
        sections = []
        for index, (key_id, _secret) in enumerate(self.aws_keys):
            profile = "default" if index == 0 else f"extra-{index}"
            secret = p.at(f"aws{index}", aws, f"{profile}.aws_secret_access_key")
            sections.append(
                f"[{profile}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
            )
        session_secret = p.at("aws_session", aws, "agent-session.aws_secret_access_key")
        session_token = p.at("aws_session_token", aws, "agent-session.aws_session_token")
        sections.append(
            "[agent-session]\n"
            f"aws_access_key_id = {self.aws_session_id}\n"
            f"aws_secret_access_key = {session_secret}\n"
            f"aws_session_token = {session_token}\n"
        )
        _write(aws, "\n".join(sections))
        _write(self.home / ".aws" / "config", "[default]\nregion = us-east-1\noutput = json\n")

        history = self.home / ".bash_history"
        text = (
            "curl -fsSL https://openclaw.ai/install.sh | bash\n"
            "openclaw onboard --install-daemon\n"
            f"export GITHUB_TOKEN={p.value('ghp')}\n"
            f"export OPENAI_API_KEY={p.value('openai')}\n"
            "openclaw gateway status\n"
            "vim ~/.openclaw/openclaw.json\n"
        )
        _write(history, text)
        p.in_text(history, text)


    def write_tmp(self) -> None:
        log_dir = self.tmp / "openclaw"
        day = self.now.astimezone().strftime("%Y-%m-%d")
        log = log_dir / f"openclaw-{day}.log"

        def entry(moment: datetime, level: str, subsystem: str, message: str) -> str:
            return (
                json.dumps(
                    {
                        "0": json.dumps({"subsystem": subsystem}),
                        "1": message,
                        "_meta": {"logLevelName": level, "date": moment.isoformat()},
                        "time": moment.isoformat(),
                    }
                )
                + "\n"
            )

        lines = attack_story.gateway_log_lines(self, self.story.started)
        text = "".join(entry(*line) for line in lines)
        _write(log, text)
        self.plants.in_text(log, text)
        lock = {
            "pid": _unused_pid(),
            "createdAt": self.now.isoformat(timespec="milliseconds"),
            "configPath": str(self.config_path),
        }
        digest = hashlib.sha256(str(self.config_path).encode()).hexdigest()[:8]
        _write(self.tmp / f"openclaw-{self.uid}" / f"gateway.{digest}.lock", json.dumps(lock))

    def build(self) -> SampleHome:
        make_private_dir(self.root)
        self.make_secrets()
        self.write_main_config()
        self.write_config_backups()
        self.write_dotenvs()
        self.write_agents()
        self.write_credentials_dir()
        self.write_pairing_state()
        self.write_cron_logs_and_code()
        self.write_windows_task_script()
        self.write_profile_and_legacy()
        self.write_services()
        self.write_user_files()
        self.story = attack_story.write(self)
        self.write_tmp()
        self.age_setup_files()
        return SampleHome(
            root=self.root,
            user_home=self.home,
            state_dirs=(self.state, self.work_state, self.legacy_state),
            tmp_dir=self.tmp,
            config_path=self.config_path,
            uid=self.uid,
            gateway_port=self.port,
            era=self.era,
            planted=self.plants.planted(),
            story=self.story,
        )


def build_sample_home(
    root: Path,
    *,
    era: Era = "both",
    aws_keys: Sequence[tuple[str, str]] = (),
    seed: int | None = None,
    gateway_port: int | None = None,
) -> SampleHome:
    """Lay out a sample OpenClaw host under ``root`` and return what was planted where.

    ``era`` picks the credential store: ``file`` (JSON auth stores), ``sqlite`` (SQLite stores
    only) or ``both`` (an upgraded host with the legacy JSON still next to the databases).
    ``aws_keys`` are ``(access_key_id, secret_access_key)`` pairs to plant instead of random ones
    (the demo creates real keys in moto first); the first is the ``default`` profile. ``seed``
    makes every secret reproducible; without it they come from ``secrets.SystemRandom``.
    ``gateway_port`` defaults to a port drawn from 20000–29999.
    """
    rng: random.Random = random.Random(seed) if seed is not None else secrets.SystemRandom()
    port = gateway_port if gateway_port is not None else rng.randint(20000, 29999)
    return _Builder(Path(root).absolute(), era, aws_keys, rng, port).build()
