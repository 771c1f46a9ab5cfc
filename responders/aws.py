"""AWS responder: IAM access keys, Bedrock API keys (service-specific credentials), STS sessions.

What ``revoke`` does to an access key, in this order:

1. find its owner (``iam:GetAccessKeyLastUsed``, which also records when and where it was last
   used) and its status (``iam:ListAccessKeys``);
2. set it ``Inactive``: instant and reversible, and the key id stays searchable in CloudTrail;
3. attach the inline ``AWSRevokeOlderSessions`` deny (``aws:TokenIssueTime`` before now) to its
   owner, because STS sessions already minted from the key outlive the key;
4. after ``delete_grace_seconds``, delete it.

A second run finds the key gone (or already inactive) and answers ``AlreadyRevoked``.

Config, the ``[providers.aws]`` table of clawback.toml (every key optional)::

    endpoint_url = "http://127.0.0.1:5000"   # IAM and STS calls go here (moto, a VPC endpoint)
    region = "us-east-1"
    profile = "incident-admin"               # a named AWS profile for the admin identity, or:
    admin_access_key_id = "keyring:clawback/aws-admin-id"       # references only, never values
    admin_secret_access_key = "keyring:clawback/aws-admin-secret"
    admin_session_token = "env:AWS_ADMIN_SESSION_TOKEN"          # when the admin is temporary
    users = ["openclaw-agent"]     # IAM users the agent used: every key of theirs is revoked
    roles = ["openclaw-runner"]    # roles the agent assumed: their older sessions are denied
    revoke_sessions = true         # attach AWSRevokeOlderSessions to those users and roles
    delete = true                  # false leaves revoked keys Inactive (deleted by a later run)
    delete_grace_seconds = 0       # wait between deactivating and deleting (at most 300)
    service_specific_services = ["bedrock.amazonaws.com"]  # only these of `users`' service-
                                   # specific credentials; unset: every service's (the default)
    new_key_ready_seconds = 10     # a new key may take this long to work (eventual consistency)
    store_name = "aws/{user}"      # where rotate() stores a new key pair through the SecretStore
    connect_timeout = 3
    read_timeout = 10

What ``usage`` asks (read-only, for ``clawback investigate``), for a key with an id:
``iam:GetAccessKeyLastUsed`` (when, which service, which region: IAM records a use up to a few
hours late and keeps no address) and ``cloudtrail:LookupEvents`` by ``AccessKeyId`` (the
management events of the last 90 days in the configured region: the call, the source address,
the user agent; newest first, at most ``usage_max_events``, default 200). CloudTrail's event
history covers one region and management events only: data events (S3 objects, Lambda
invocations) need a trail and are not in it.

Credential kinds handled:

- ``aws:access_key`` (discovery pairs each secret with its key id by name). clawback refuses
  to revoke the access key it acts with itself (``Refused``, with advice), as aws_ir does.
- ``aws:session`` (an ``ASIA…`` key): with the session token found beside it, a call signed with
  the session (``sts:GetCallerIdentity``, which needs no permission) names the role (or user)
  it belongs to, and ``AWSRevokeOlderSessions`` goes on that role. Without the token: a guided
  step. https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html
- ``aws:bedrock_api_key`` (``ABSK…``): decoded offline (``ABSK`` + base64 of
  ``<user>-at-<account>:<secret>``, the format BeyondTrust's bedrock-keys-security decodes) to
  the IAM user and account; that user's Bedrock service-specific credential (the one whose
  ``ServiceCredentialAlias`` matches, else all of the user's Bedrock credentials) is set
  Inactive and deleted. https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys.html
- ``aws:bedrock_short_term_key`` (``bedrock-api-key-…``): a SigV4 presigned URL; the access key
  that signed it is revoked when it is a long-term ``AKIA…`` key, else it is a guided step (it
  expires within 12 hours and cannot be revoked).
- the targets ``configured_targets()`` builds from the config without any request: ``aws:user``
  (every access key and every service-specific credential of a configured user, of every
  service unless ``service_specific_services`` narrows it, plus its sessions) and
  ``aws:role_sessions`` (a configured role's sessions).

What proves a key dead (``verify_revoked``): IAM's own record (deleted or Inactive) and, with
the secret, ``InvalidClientTokenId`` from a call signed with it
(https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html). For a session: the deny
policy in IAM's record and a call with the session refused "with an explicit deny in an
identity-based policy" (the documented wording,
https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html). Any other
answer is ``Unproven`` with what to check.

Errors become outcomes: throttling and 5xx → ``Failed(retryable=True)`` (with ``retry_after`` when
AWS sends ``Retry-After``), timeouts and refused connections → retryable, access denied → advice
naming the missing permission, ``NoSuchEntity`` on a key → ``AlreadyRevoked``. botocore's own
retries are switched off: the engine's runner retries with backoff.

Limits of the test stand-in (moto 5.2): it implements neither ``SimulatePrincipalPolicy`` (so
``preflight`` proves permissions with harmless probes, which also work against real IAM because
authorization is checked before existence) nor service-specific credentials (the tests and the
demo put ``clawback_demo.providers.iam_credentials`` in front of it, which answers those five
operations checked against botocore's IAM model). moto checks signatures only once its IAM
authentication is switched on, and even then it still accepts ``Inactive`` keys, and it refuses
a denied session without saying "explicit deny" (so a session's verify is ``Unproven`` there);
real AWS does all three.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from responders.interface import (
    AgentValue,
    AlreadyRevoked,
    Capability,
    ConfigSetting,
    Credential,
    Disabled,
    Failed,
    InterruptedRotation,
    KeyUse,
    ManualRequired,
    Outcome,
    Planned,
    PreflightCheck,
    ProviderSetup,
    RateLimit,
    Refused,
    Responder,
    ResponderContext,
    ResponderError,
    Revoked,
    Rotated,
    RotationLedger,
    SecretStore,
    SecretValue,
    Skipped,
    Unproven,
    UsageReport,
    VerifiedDead,
    handed_over,
)

KIND_ACCESS_KEY = "aws:access_key"
KIND_SESSION = "aws:session"
KIND_SESSION_TOKEN = "aws:session_token"
KIND_BEDROCK = "aws:bedrock_api_key"
KIND_BEDROCK_SHORT = "aws:bedrock_short_term_key"
KIND_USER = "aws:user"
KIND_ROLE_SESSIONS = "aws:role_sessions"
BEDROCK_SERVICE = "bedrock.amazonaws.com"
IAM_USERS_PAGE = "https://console.aws.amazon.com/iam/home#/users"

SESSION_POLICY_NAME = "AWSRevokeOlderSessions"
MAX_GRACE_SECONDS = 300.0
# Syntactically valid names that exist nowhere: preflight probes write calls against them, and
# IAM answers NoSuchEntity only when the caller was allowed to make the call.
PROBE_KEY_ID = "AKIACLAWBACKPROBE000"
PROBE_PRINCIPAL = "clawback-preflight-probe-does-not-exist"
# A resumed rotation deletes unstored keys created after the crashed attempt began; this much
# earlier counts too, for the difference between this host's clock and AWS's.
CLOCK_SKEW = timedelta(minutes=5)

_REFERENCE = re.compile(r"^(env|keyring):\S+$")
_AUTH_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "IncompleteSignature",
        "ExpiredToken",
        "ExpiredTokenException",
        "AuthFailure",
    }
)
_THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
    }
)
_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
# A session AWS has no record of, or one past its expiry: the documented answers for a dead one.
_DEAD_SESSION_CODES = frozenset({"InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException"})


@dataclass(frozen=True)
class AwsSettings:
    """The validated ``[providers.aws]`` table (see the module docstring)."""

    endpoint_url: str | None = None
    region: str = "us-east-1"
    profile: str | None = None
    admin_access_key_id: str | None = None
    admin_secret_access_key: str | None = None
    admin_session_token: str | None = None
    users: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    revoke_sessions: bool = True
    delete: bool = True
    delete_grace_seconds: float = 0.0
    # None: every service's credentials (Bedrock, CodeCommit, Keyspaces, CloudWatch Logs…).
    service_specific_services: tuple[str, ...] | None = None
    new_key_ready_seconds: float = 10.0
    store_name: str = "aws/{user}"
    connect_timeout: float = 3.0
    read_timeout: float = 10.0

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


def parse_settings(raw: Mapping[str, Any]) -> AwsSettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    from pydantic import TypeAdapter, ValidationError

    try:
        settings = TypeAdapter(AwsSettings).validate_python(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise ResponderError(f"[providers.aws] is invalid: {problems}") from None
    for name in ("admin_access_key_id", "admin_secret_access_key", "admin_session_token"):
        value = getattr(settings, name)
        if value is not None and not _REFERENCE.match(value):
            raise ResponderError(
                f"[providers.aws] {name} must be a reference (env:NAME or keyring:SERVICE/USER), "
                f"never the value itself"
            )
    if bool(settings.admin_access_key_id) != bool(settings.admin_secret_access_key):
        raise ResponderError(
            "[providers.aws] set both admin_access_key_id and admin_secret_access_key, or neither "
            "(then the profile or the default AWS credential chain is used)"
        )
    if not 0 <= settings.delete_grace_seconds <= MAX_GRACE_SECONDS:
        raise ResponderError(
            f"[providers.aws] delete_grace_seconds must be between 0 and {MAX_GRACE_SECONDS:g}; "
            f"for a longer forensic window set delete = false and delete on a later run"
        )
    if min(settings.connect_timeout, settings.read_timeout) <= 0:
        raise ResponderError("[providers.aws] timeouts must be positive")
    return settings


class _CallFailed(Exception):
    """An AWS call failed. ``failed`` is the outcome to report; ``code`` the AWS error code."""

    def __init__(self, code: str, failed: Failed) -> None:
        super().__init__(code)
        self.code = code
        self.failed = failed

    @property
    def missing(self) -> bool:
        return self.code == "NoSuchEntity"


class _DropResponseBodies(logging.Filter):
    """botocore logs whole response bodies at DEBUG, and CreateAccessKey's holds the new secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Response body")


def _silence_response_bodies() -> None:
    parsers = logging.getLogger("botocore.parsers")
    if not any(isinstance(f, _DropResponseBodies) for f in parsers.filters):
        parsers.addFilter(_DropResponseBodies())


# botocore's parsed data files (endpoints, partitions, IAM's and STS's descriptions), one
# loader per data path for every session of the process: each new session otherwise parses
# them again (~70 ms of CPU a session; the admin's, the keys', CloudTrail's and each
# investigation's), on the interpreter lock the revoking threads share.
_LOADERS: dict[str, Any] = {}
_LOADERS_LOCK = threading.Lock()


def _boto_session(**kwargs: Any) -> Any:
    """A boto3 session whose botocore data loader is shared with every other one here."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    if kwargs.get("profile_name"):
        core.set_config_variable("profile", kwargs["profile_name"])  # its data_path counts
    data_path = str(core.get_config_variable("data_path") or "")
    with _LOADERS_LOCK:
        loader = _LOADERS.get(data_path)
        if loader is None:
            loader = _LOADERS[data_path] = core.get_component("data_loader")
        core.register_component("data_loader", loader)
        session = boto3.session.Session(botocore_session=core, **kwargs)
        # boto3 adds its own data directory to the loader's search path for every session.
        paths = loader.search_paths
        paths[:] = list(dict.fromkeys(paths))
    return session


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _failure_from_exception(exc: Exception, permission: str) -> _CallFailed:
    """Turn a botocore exception into the outcome the runner understands."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )
    from botocore.parsers import ResponseParserError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = str(error.get("Code") or "Unknown")
        status = int(meta.get("HTTPStatusCode") or 0)
        message = str(error.get("Message") or "")[:300]
        said = f"AWS answered {code} (HTTP {status})" + (f": {message}" if message else "")
        if status == 429 or code in _THROTTLE_CODES:
            return _CallFailed(
                code,
                Failed(
                    error=f"{permission} was throttled; {said}",
                    retryable=True,
                    retry_after=_retry_after(meta.get("HTTPHeaders") or {}),
                ),
            )
        if status >= 500 or code in {"ServiceUnavailable", "InternalFailure", "InternalError"}:
            return _CallFailed(code, Failed(error=f"{permission} failed: {said}", retryable=True))
        if code in _AUTH_CODES:
            return _CallFailed(
                code,
                Failed(
                    error=(
                        f"AWS rejected the admin credential ({code}): check "
                        f"admin_access_key_id / admin_secret_access_key or the profile in "
                        f"[providers.aws]; {said}"
                    ),
                ),
            )
        if status == 403 or code in _DENIED_CODES:
            return _CallFailed(
                code,
                Failed(
                    error=(
                        f"the admin identity may not call {permission}: grant {permission} "
                        f"on the agent's users and roles; {said}"
                    ),
                ),
            )
        if code in {"LimitExceeded", "LimitExceededException"}:
            return _CallFailed(code, Failed(error=f"{permission} hit an IAM quota; {said}"))
        return _CallFailed(code, Failed(error=f"{permission} failed; {said}"))
    if isinstance(exc, ConnectionError | HTTPClientError):
        return _CallFailed(
            type(exc).__name__,
            Failed(
                error=f"{permission}: no answer from AWS ({type(exc).__name__}); will retry",
                retryable=True,
            ),
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return _CallFailed(
            type(exc).__name__,
            Failed(
                error=(
                    "no AWS admin credential: set admin_access_key_id and "
                    "admin_secret_access_key (references) or profile in [providers.aws]"
                ),
            ),
        )
    if isinstance(exc, ResponseParserError):
        return _CallFailed(
            "Unparseable",
            Failed(
                error=(
                    f"{permission}: the endpoint's answer could not be parsed; an AWS stand-in "
                    f"that lacks this API answers like this"
                ),
            ),
        )
    if isinstance(exc, BotoCoreError):
        return _CallFailed(type(exc).__name__, Failed(error=f"{permission}: {exc}"))
    raise exc


@dataclass(frozen=True)
class BedrockKey:
    """What a long-term Bedrock API key says about itself, decoded offline."""

    user: str
    account: str
    alias: str  # the credential's ServiceCredentialAlias: "<user>-at-<account>"


def decode_bedrock_key(value: str) -> BedrockKey | None:
    """``ABSK`` + base64(``<user>-at-<account>:<secret>``) → user and account; None if not."""
    import base64
    import binascii

    if not value.startswith("ABSK"):
        return None
    body = value[4:]
    try:
        text = base64.b64decode(body + "=" * (-len(body) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    alias, colon, secret = text.partition(":")
    match = re.fullmatch(r"(?P<user>[\w+=,.@-]+)-at-(?P<account>\d{12})", alias)
    if not colon or not secret or match is None:
        return None
    return BedrockKey(match["user"], match["account"], alias)


@dataclass(frozen=True)
class ShortTermBedrockKey:
    """A short-term Bedrock API key: a SigV4 presigned URL, signed by ``access_key_id``."""

    access_key_id: str
    region: str
    expires_at: str  # ISO 8601, or "" when the URL does not say


def decode_short_term_bedrock_key(value: str) -> ShortTermBedrockKey | None:
    import base64
    import binascii
    from urllib.parse import parse_qs, urlsplit

    prefix = "bedrock-api-key-"
    if not value.startswith(prefix):
        return None
    body = value[len(prefix):]
    try:
        url = base64.b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    query = parse_qs(urlsplit(url if "://" in url else f"https://{url}").query)
    credential = (query.get("X-Amz-Credential") or [""])[0].split("/")
    if not re.fullmatch(r"A[SK]IA[A-Z0-9]{16}", credential[0]):
        return None
    expires_at = ""
    try:
        issued = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires_at = (issued + timedelta(seconds=int(query["X-Amz-Expires"][0]))).isoformat()
    except (KeyError, ValueError):
        pass
    return ShortTermBedrockKey(
        credential[0], credential[2] if len(credential) > 2 else "", expires_at
    )


def _principal_of_arn(arn: str) -> str | None:
    """``role/NAME`` for an assumed-role session, ``user/NAME`` for an IAM user's; else None."""
    match = re.fullmatch(r"arn:aws[\w-]*:sts::\d{12}:assumed-role/([^/]+)/.+", arn)
    if match:
        return f"role/{match[1]}"
    match = re.fullmatch(r"arn:aws[\w-]*:iam::\d{12}:user/(?:.*/)?([^/]+)", arn)
    return f"user/{match[1]}" if match else None


@dataclass
class _Key:
    """One access key or service-specific credential and what happened to it in this run."""

    kind: str  # "access_key" | "service_credential"
    key_id: str
    user: str
    status: str | None  # "Active", "Inactive", or None when it no longer exists
    service: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    failure: Failed | None = None
    deactivated: bool = False
    deleted: bool = False

    @property
    def label(self) -> str:
        return f"{self.service} credential {self.key_id}" if self.service else self.key_id


@dataclass
class _Target:
    """What revoke_all works on for one input credential."""

    cred: Credential
    keys: list[_Key] = field(default_factory=list)
    principals: list[str] = field(default_factory=list)  # "user/NAME" or "role/NAME"
    outcome: Outcome | None = None  # decided early (not found, bad kind, lookup failed)
    facts: dict[str, Any] = field(default_factory=dict)
    problems: list[Failed] = field(default_factory=list)
    refusal: Refused | None = None  # something it would not touch (clawback's own admin key)


class AWSResponder(Responder):
    """Revokes, rotates and verifies AWS IAM credentials; see the module docstring."""

    name: ClassVar[str] = "aws"
    providers: ClassVar[frozenset[str]] = frozenset({"aws"})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.REVOKE,
            Capability.DISABLE,
            Capability.ROTATE,
            Capability.VERIFY_REVOKED,
            Capability.PREFLIGHT,
            Capability.USAGE,
        }
    )
    # AWS publishes no request rate for IAM: it throttles with "Throttling" errors, which the
    # runner retries with backoff. Ten at once is botocore's connection pool per client
    # (max_pool_connections), so more would only queue inside botocore.
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=10, source="IAM documents no rate; botocore's pool of 10 connections"
    )

    @classmethod
    def agent_value(cls, stored: SecretValue) -> AgentValue:
        """``rotate`` stores the new key id and secret as one JSON pair: the agent's files get
        the new id beside the new secret."""
        pair = parse_key_pair(stored)
        if pair is None:
            return AgentValue(stored)
        return AgentValue(pair[1], pair[0])

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            settings=(
                ConfigSetting("admin_access_key_id", "keyring:clawback/aws-admin-id",
                              "an IAM user or role kept for incidents, not the agent's"),
                ConfigSetting("admin_secret_access_key", "keyring:clawback/aws-admin-secret"),
                ConfigSetting("region", "us-east-1"),
                ConfigSetting("users", ["openclaw-agent"],
                              "IAM users the agent used: every key of theirs is revoked",
                              optional=True),
                ConfigSetting("roles", ["openclaw-runner"],
                              "roles the agent assumed: their older sessions are denied",
                              optional=True),
            ),
            permissions=(
                "iam:GetAccessKeyLastUsed", "iam:ListAccessKeys", "iam:UpdateAccessKey",
                "iam:DeleteAccessKey", "iam:CreateAccessKey", "iam:PutUserPolicy",
                "iam:PutRolePolicy", "iam:ListServiceSpecificCredentials",
                "iam:UpdateServiceSpecificCredential", "sts:GetCallerIdentity",
            ),
            console="https://console.aws.amazon.com/iam/home#/users",
            note="a profile works instead of the two keys: profile = \"incident-admin\"",
        )

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        parse_settings(config)
    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._lock = threading.RLock()
        self._parsed: AwsSettings | None = None
        self._admin: tuple[Any, Any] | None = None
        self._admin_session: Any = None  # the boto3 session of the admin identity
        self._service_clients: dict[str, Any] = {}  # the admin's clients of other services
        self._key_session: Any = None  # boto3 session for clients signed with a found key
        # Key id → owner, so a retried or later rotate still finds the owner of a deleted key.
        self._owners: dict[str, str] = {}
        self._admin_id: str | None = None  # the access key id clawback itself acts with
        self._identity: dict[str, str] | None = None  # the admin's own Arn and Account
        # What revoke found, for verify: a Bedrock key's credential ids, a session's principal.
        self._bedrock: dict[str, list[str]] = {}
        self._sessions: dict[str, str] = {}

    # -- configuration and clients ----------------------------------------------------------------

    @property
    def settings(self) -> AwsSettings:
        with self._lock:
            if self._parsed is None:
                self._parsed = parse_settings(self.context.config)
            return self._parsed

    def configured_targets(self) -> list[Credential]:
        """The configured users and roles as targets for ``revoke_all``; sends no request."""
        settings = self.settings
        return [_principal_credential(KIND_USER, "user", name) for name in settings.users] + [
            _principal_credential(KIND_ROLE_SESSIONS, "role", name) for name in settings.roles
        ]

    def _resolve(self, reference: str) -> SecretValue:
        if self.context.secrets is None:
            raise ResponderError(
                "no secret store is available to resolve the AWS admin credential references"
            )
        return self.context.secrets.resolve(reference)

    def _boto_config(self) -> Any:
        from botocore.config import Config

        settings = self.settings
        return Config(
            region_name=settings.region,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            # The engine's runner retries with backoff and records each attempt; botocore
            # retrying underneath would hide attempts and blow the step's time budget.
            retries={"total_max_attempts": 1, "mode": "standard"},
        )

    def _clients(self) -> tuple[Any, Any]:
        """(iam, sts) clients of the admin identity, built once; boto3 clients are thread-safe.

        Built under the lock so a fan-out of many keys builds one session, not one per thread.
        """
        with self._lock:
            if self._admin is None:
                self._admin = self._build_clients()
            return self._admin

    def _build_clients(self) -> tuple[Any, Any]:
        from botocore.exceptions import ProfileNotFound

        _silence_response_bodies()
        settings = self.settings
        kwargs: dict[str, Any] = {"region_name": settings.region}
        if settings.admin_access_key_id and settings.admin_secret_access_key:
            kwargs["aws_access_key_id"] = self._resolve(settings.admin_access_key_id).reveal()
            kwargs["aws_secret_access_key"] = self._resolve(
                settings.admin_secret_access_key
            ).reveal()
            if settings.admin_session_token:
                kwargs["aws_session_token"] = self._resolve(settings.admin_session_token).reveal()
        elif settings.profile:
            kwargs["profile_name"] = settings.profile
        try:
            session = _boto_session(**kwargs)
        except ProfileNotFound:
            raise ResponderError(
                f"the AWS profile {settings.profile!r} named in [providers.aws] does not exist "
                f"in ~/.aws/config"
            ) from None
        credentials = session.get_credentials()
        self._admin_id = credentials.access_key if credentials is not None else None
        self._admin_session = session
        config = self._boto_config()
        return (
            session.client("iam", endpoint_url=settings.endpoint_url, config=config),
            session.client("sts", endpoint_url=settings.endpoint_url, config=config),
        )

    def _sts_signed_with(
        self, key_id: str, secret: SecretValue, token: SecretValue | None = None,
        service: str = "sts",
    ) -> Any:

        _silence_response_bodies()

        with self._lock:
            # One session for every client signed with a key other than the admin's: a session
            # of its own per key parsed botocore's endpoint and service descriptions again for
            # each one (~10% of the demo's contain). Credentials are the client's own; clients
            # are made under the lock because a session is not thread-safe.
            if self._key_session is None:
                self._key_session = _boto_session(region_name=self.settings.region)
            return self._key_session.client(
                service,
                endpoint_url=self.settings.endpoint_url,
                config=self._boto_config(),
                aws_access_key_id=key_id,
                aws_secret_access_key=secret.reveal(),
                aws_session_token=token.reveal() if token is not None else None,
            )

    def _admin_key_id(self) -> str | None:
        self._clients()
        with self._lock:
            return self._admin_id

    def _admin_identity(self) -> dict[str, str]:
        """The admin's own Arn and Account (``sts:GetCallerIdentity``, once)."""
        with self._lock:
            if self._identity is None:
                _, sts = self._clients()
                answer = self._call("sts:GetCallerIdentity", sts.get_caller_identity)
                self._identity = {
                    "arn": str(answer.get("Arn", "")), "account": str(answer.get("Account", ""))
                }
            return self._identity

    def _refuse_own_key(self, key_id: str) -> Refused:
        return Refused(
            reason=(
                f"{key_id} is the access key clawback itself acts with ([providers.aws]): "
                "revoking it would stop clawback halfway. Make a separate admin identity for "
                "incident response (an IAM user or role with the permissions `clawback drill "
                "--preflight` lists), point [providers.aws] at it and run `clawback contain "
                "--resume`; or deactivate this key yourself, last, in the IAM console"
            ),
            facts={"key_id": key_id, "state": "left active: it is clawback's admin key"},
        )

    def _denies_myself(self, principal: str) -> bool:
        """Whether an AWSRevokeOlderSessions deny on ``principal`` would cut clawback's own
        session: only an admin acting with temporary credentials has one."""
        admin = self._admin_key_id()
        if not admin or not admin.startswith("ASIA"):
            return False
        return _principal_of_arn(self._admin_identity()["arn"]) == principal

    @staticmethod
    def _call(permission: str, operation: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return operation(**kwargs)
        except Exception as exc:
            raise _failure_from_exception(exc, permission) from None

    def _fan(self, func: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        def guarded(item: Any) -> Any:
            try:
                return func(item)
            except ResponderError as exc:
                return Failed(error=str(exc))

        return self.context.fan_out(guarded, list(items))

    # -- plan -------------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke_all would do, from the config alone: no request is sent."""
        settings = self.settings
        out: list[tuple[Credential, Outcome]] = []
        finish = (
            (f"wait {settings.delete_grace_seconds:g} s, then iam:DeleteAccessKey",)
            if settings.delete
            else ()
        )
        for cred in creds:
            special = self._plan_special(cred, finish)
            if special is not None:
                out.append((cred, special))
            elif cred.kind == KIND_ACCESS_KEY and cred.key_id and not _is_session(cred):
                commands = (
                    f"iam:GetAccessKeyLastUsed AccessKeyId={cred.key_id} (find the owner)",
                    f"iam:UpdateAccessKey AccessKeyId={cred.key_id} Status=Inactive",
                    *(
                        (f"iam:PutUserPolicy <owner> {SESSION_POLICY_NAME} (deny older sessions)",)
                        if settings.revoke_sessions
                        else ()
                    ),
                    *finish,
                )
                out.append(
                    (
                        cred,
                        Planned(
                            action="revoke",
                            commands=commands,
                            detail=f"revoke access key {cred.key_id}",
                        ),
                    )
                )
            elif cred.kind == KIND_USER:
                user = _principal_name(cred)
                commands = (
                    f"iam:ListAccessKeys UserName={user}",
                    *(
                        (f"iam:ListServiceSpecificCredentials UserName={user} (every service)",)
                        if settings.service_specific_services is None else
                        (f"iam:ListServiceSpecificCredentials UserName={user} ServiceName={svc}"
                         for svc in settings.service_specific_services)
                    ),
                    "set every key and credential found Inactive",
                    *(
                        (f"iam:PutUserPolicy UserName={user} {SESSION_POLICY_NAME}",)
                        if settings.revoke_sessions
                        else ()
                    ),
                    *finish,
                )
                out.append(
                    (
                        cred,
                        Planned(
                            action="revoke",
                            commands=commands,
                            detail=f"revoke every credential of IAM user {user}",
                        ),
                    )
                )
            elif cred.kind == KIND_ROLE_SESSIONS:
                role = _principal_name(cred)
                commands = (
                    (f"iam:PutRolePolicy RoleName={role} {SESSION_POLICY_NAME}",)
                    if settings.revoke_sessions
                    else ()
                )
                out.append(
                    (
                        cred,
                        Planned(
                            action="revoke",
                            commands=commands,
                            detail=f"deny older sessions of role {role}",
                        ),
                    )
                )
            else:
                out.append(
                    (
                        cred,
                        Planned(action="manual", detail=f"{cred.kind} {cred.fingerprint}: by hand"),
                    )
                )
        return out

    def _plan_special(self, cred: Credential, finish: tuple[str, ...]) -> Planned | None:
        """The plan for a session, a Bedrock key or a session token; None for other kinds."""
        if _is_session(cred):
            commands: tuple[str, ...] = (
                "sts:GetCallerIdentity signed with the session (which role or user it is)",
                f"iam:PutRolePolicy / iam:PutUserPolicy {SESSION_POLICY_NAME} on it",
            )
            return Planned(action="revoke", commands=commands,
                           detail=f"deny the sessions of {cred.key_id}'s role")
        if cred.kind == KIND_BEDROCK:
            decoded = decode_bedrock_key(cred.secret.reveal()) if cred.secret else None
            user = decoded.user if decoded else "<undecodable>"
            commands = (
                f"decode the key offline: IAM user {user}",
                f"iam:ListServiceSpecificCredentials UserName={user} "
                f"ServiceName={BEDROCK_SERVICE}",
                "iam:UpdateServiceSpecificCredential Status=Inactive",
                *(c.replace("iam:DeleteAccessKey", "iam:DeleteServiceSpecificCredential")
                  for c in finish),
            )
            return Planned(action="revoke", commands=commands,
                           detail=f"revoke the Bedrock API key of IAM user {user}")
        if cred.kind == KIND_BEDROCK_SHORT:
            return Planned(action="revoke", detail="revoke the access key that signed the "
                           "short-term Bedrock key (an AKIA… key), else a guided step")
        if cred.kind == KIND_SESSION_TOKEN:
            return Planned(action="revoke", detail="denied with its session key")
        return None

    # -- revoke -----------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        return self.revoke_all([cred])[0][1]

    def revoke_all(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """Deactivate every key at once, deny older sessions, wait the grace once, delete."""
        try:
            settings = self.settings
        except ResponderError as exc:
            return [(cred, Failed(error=str(exc))) for cred in creds]
        # A session token found on its own is denied through its session key, when that key
        # (which carries it) is in this batch; alone it is useless to clawback and to anyone.
        carried = {
            token.reveal(): cred.key_id for cred in creds
            for token in cred.companions.values()
        }
        targets = [
            result if isinstance(result, _Target) else _Target(cred, outcome=result)
            for cred, result in zip(
                creds,
                self._fan(lambda c: self._prepare_or_token(c, carried), creds),
                strict=True,
            )
        ]
        keys = [key for target in targets for key in target.keys]
        self._run_on_keys(self._deactivate, keys)
        principals: list[str] = []
        if settings.revoke_sessions:
            principals = sorted({p for t in targets if t.outcome is None for p in t.principals})
        denials = dict(zip(principals, self._fan(self._deny_sessions, principals), strict=True))
        if settings.delete:
            if settings.delete_grace_seconds and any(key.deactivated for key in keys):
                time.sleep(settings.delete_grace_seconds)
            self._run_on_keys(self._delete, keys)
        return [(t.cred, self._settle(t, denials)) for t in targets]

    def _run_on_keys(self, step: Callable[[_Key], None], keys: list[_Key]) -> None:
        """Run a step on every key at once; a step that blew up marks its key as failed."""
        for key, result in zip(keys, self._fan(step, keys), strict=True):
            if isinstance(result, Failed) and key.failure is None:
                key.failure = result

    def _prepare_or_token(self, cred: Credential, carried: Mapping[str, str | None]
                          ) -> _Target | Outcome:
        if cred.kind == KIND_SESSION_TOKEN and cred.secret is not None:
            key_id = carried.get(cred.secret.reveal())
            if key_id:
                return Skipped(
                    reason=f"a session token is denied with its session key {key_id}: see "
                    "that key's result"
                )
        return self._prepare(cred)

    def _prepare(self, cred: Credential) -> _Target | Outcome:
        target = _Target(cred)
        try:
            if cred.kind in (KIND_ACCESS_KEY, KIND_SESSION):
                if not cred.key_id:
                    return ManualRequired(
                        instructions=(
                            f"The access key id of AWS secret {cred.fingerprint} is unknown: find "
                            f"the key in the IAM console and deactivate it."
                        ),
                        url=IAM_USERS_PAGE,
                    )
                if cred.kind == KIND_SESSION or cred.key_id.startswith("ASIA"):
                    return self._prepare_session(cred, target)
                return self._prepare_access_key(cred.key_id, target)
            if cred.kind == KIND_BEDROCK:
                return self._prepare_bedrock(cred, target)
            if cred.kind == KIND_BEDROCK_SHORT:
                return self._prepare_short_term(cred, target)
            if cred.kind == KIND_USER:
                user = _principal_name(cred)
                target.principals.append(f"user/{user}")
                found = self._user_keys(user, target)
                if isinstance(found, Outcome):
                    return found
            elif cred.kind == KIND_ROLE_SESSIONS:
                principal = f"role/{_principal_name(cred)}"
                if self._denies_myself(principal):
                    return self._refuse_own_session(principal)
                target.principals.append(principal)
            else:
                return ManualRequired(
                    instructions=(
                        f"clawback cannot revoke {cred.kind} {cred.fingerprint}: revoke it in the "
                        f"AWS console."
                    ),
                    url="https://console.aws.amazon.com/iam/home",
                )
        except _CallFailed as err:
            return err.failed
        return target

    def _prepare_access_key(self, key_id: str, target: _Target) -> _Target | Outcome:
        if key_id == self._admin_key_id():
            return self._refuse_own_key(key_id)
        located = self._locate_key(key_id)
        if isinstance(located, Outcome):
            return located
        target.keys.append(located)
        target.principals.append(f"user/{located.user}")
        return target

    def _prepare_session(self, cred: Credential, target: _Target) -> _Target | Outcome:
        """An ``ASIA…`` key: the session itself says whose it is; its sessions are denied."""
        assert cred.key_id is not None
        token = cred.companions.get("session_token")
        if cred.secret is None or token is None or not self.settings.revoke_sessions:
            why = (
                "its session token was not found beside it" if self.settings.revoke_sessions
                else "revoke_sessions is off in [providers.aws]"
            )
            return ManualRequired(
                instructions=(
                    f"{cred.key_id} is a temporary (STS) key: it cannot be revoked, only denied, "
                    f"and clawback cannot do that here ({why}). Add the role or user it came "
                    f"from to `roles`/`users` in [providers.aws] so clawback attaches "
                    f"{SESSION_POLICY_NAME}, or use 'Revoke active sessions' on the role in the "
                    "IAM console."
                ),
                url="https://console.aws.amazon.com/iam/home#/roles",
            )
        sts = self._sts_signed_with(cred.key_id, cred.secret, token)
        try:
            identity = sts.get_caller_identity()
        except Exception as exc:
            err = _failure_from_exception(exc, "sts:GetCallerIdentity")
            if err.code in _DEAD_SESSION_CODES:
                return AlreadyRevoked(
                    detail=f"AWS no longer accepts this session ({err.code})",
                    facts={"key_id": cred.key_id, "rejected_with": err.code},
                )
            return err.failed
        arn = str(identity.get("Arn", ""))
        principal = _principal_of_arn(arn)
        if principal is None:
            return ManualRequired(
                instructions=(
                    f"{cred.key_id} is a session of {arn}, which has no IAM role or user to "
                    "attach a deny to (a federated or root session): revoke the permissions of "
                    "whoever issued it, or wait for it to expire."
                ),
                url="https://console.aws.amazon.com/iam/home",
                facts={"key_id": cred.key_id, "session_of": arn},
            )
        if self._denies_myself(principal):
            return self._refuse_own_session(principal)
        with self._lock:
            self._sessions[cred.fingerprint] = principal
        target.principals.append(principal)
        target.facts.update(key_id=cred.key_id, session_of=principal)
        return target

    def _refuse_own_session(self, principal: str) -> Refused:
        return Refused(
            reason=(
                f"clawback itself acts with a session of {principal}: denying that principal's "
                "older sessions would stop clawback halfway. Act from another admin identity, "
                f"or use 'Revoke active sessions' on {principal} in the IAM console, last"
            ),
            facts={"principal": principal},
        )

    def _prepare_bedrock(self, cred: Credential, target: _Target) -> _Target | Outcome:
        """Decode the key offline to its IAM user, then find its service-specific credential."""
        decoded = decode_bedrock_key(cred.secret.reveal()) if cred.secret is not None else None
        if decoded is None:
            return ManualRequired(
                instructions=(
                    f"The Bedrock API key {cred.fingerprint} does not decode to an IAM user: "
                    "find it under IAM → Users → (user) → Security credentials → API keys for "
                    "Amazon Bedrock, and delete it."
                ),
                url=IAM_USERS_PAGE,
            )
        account = self._admin_identity()["account"]
        facts = {"user": decoded.user, "account": decoded.account}
        if account and decoded.account != account:
            return ManualRequired(
                instructions=(
                    f"The Bedrock API key {cred.fingerprint} belongs to IAM user {decoded.user} "
                    f"of account {decoded.account}, but [providers.aws] acts in account "
                    f"{account}: delete it there (IAM → Users → {decoded.user} → Security "
                    "credentials → API keys for Amazon Bedrock)."
                ),
                url=IAM_USERS_PAGE,
                facts=facts,
            )
        try:
            listed = self._service_credentials(decoded.user, BEDROCK_SERVICE)
        except _CallFailed as err:
            if err.missing:
                return AlreadyRevoked(
                    detail=f"IAM has no user {decoded.user}: its Bedrock keys are gone",
                    facts={**facts, "state": "user deleted"},
                )
            raise
        matching = [m for m in listed if decoded.alias in (
            m.get("ServiceCredentialAlias"), m.get("ServiceUserName"))]
        chosen = matching if len(matching) == 1 else listed
        facts["matched"] = "by alias" if len(matching) == 1 else "every Bedrock key of the user"
        if not chosen:
            return AlreadyRevoked(
                detail=f"IAM lists no Bedrock API key for user {decoded.user}",
                facts={**facts, "state": "deleted"},
            )
        for meta in chosen:
            target.keys.append(_Key("service_credential", meta["ServiceSpecificCredentialId"],
                                    decoded.user, str(meta["Status"]), service=BEDROCK_SERVICE))
        with self._lock:
            self._bedrock[cred.fingerprint] = [k.key_id for k in target.keys]
        target.facts.update(facts)
        return target

    def _prepare_short_term(self, cred: Credential, target: _Target) -> _Target | Outcome:
        decoded = (
            decode_short_term_bedrock_key(cred.secret.reveal()) if cred.secret is not None
            else None
        )
        if decoded is None:
            return ManualRequired(
                instructions=(
                    f"The short-term Bedrock API key {cred.fingerprint} does not decode: it "
                    "expires within 12 hours of issue; revoke the credentials that made it."
                ),
                url=IAM_USERS_PAGE,
            )
        target.facts.update(signed_by=decoded.access_key_id, expires_at=decoded.expires_at)
        if decoded.access_key_id.startswith("ASIA"):
            return ManualRequired(
                instructions=(
                    f"The short-term Bedrock API key {cred.fingerprint} was signed by the "
                    f"session {decoded.access_key_id} and works until "
                    f"{decoded.expires_at or 'it expires (12 hours at most)'}; it cannot be "
                    "revoked, only denied: add the role that session came from to `roles` in "
                    f"[providers.aws] so clawback attaches {SESSION_POLICY_NAME}."
                ),
                url="https://console.aws.amazon.com/iam/home#/roles",
                facts=dict(target.facts),
            )
        # A presigned URL is only as alive as the long-term key that signed it.
        return self._prepare_access_key(decoded.access_key_id, target)

    def _service_credentials(self, user: str, service: str | None) -> list[Mapping[str, Any]]:
        """Every service-specific credential of ``user`` (of ``service``, or of every service),
        paged to the end."""
        iam, _ = self._clients()
        query: dict[str, Any] = {"UserName": user}
        if service is not None:
            query["ServiceName"] = service
        return self._paged("iam:ListServiceSpecificCredentials",
                           iam.list_service_specific_credentials, "ServiceSpecificCredentials",
                           query)

    def _access_keys(self, user: str) -> list[Mapping[str, Any]]:
        """Every access key of ``user``, paged to the end."""
        iam, _ = self._clients()
        return self._paged("iam:ListAccessKeys", iam.list_access_keys, "AccessKeyMetadata",
                           {"UserName": user})

    def _paged(self, permission: str, operation: Callable[..., Any], items: str,
               query: dict[str, Any]) -> list[Mapping[str, Any]]:
        """An IAM listing read to its end (``IsTruncated``/``Marker``), or an incomplete-listing
        failure: never a silent cap."""
        found: list[Mapping[str, Any]] = []
        while True:
            page = self._call(permission, operation, **query)
            found += page.get(items, [])
            if not page.get("IsTruncated"):
                return found
            if not page.get("Marker") or page["Marker"] == query.get("Marker"):
                raise _CallFailed("IncompleteListing", Failed(
                    error=f"{permission}: incomplete listing (truncated without a new marker "
                    f"after {len(found)} items); nothing was concluded from it",
                    retryable=True))
            query = {**query, "Marker": page["Marker"]}

    def _locate_key(self, key_id: str) -> _Key | Outcome:
        iam, _ = self._clients()
        try:
            answer = self._call(
                "iam:GetAccessKeyLastUsed", iam.get_access_key_last_used, AccessKeyId=key_id
            )
        except _CallFailed as err:
            if not err.missing:
                return err.failed
            with self._lock:
                owner = self._owners.get(key_id)
            if owner is None:
                return AlreadyRevoked(
                    detail=f"IAM has no access key {key_id}: it was already deleted",
                    facts={"key_id": key_id, "state": "deleted"},
                )
            # Deleted earlier in this run (a retry): still make sure its sessions are denied.
            return _Key("access_key", key_id, owner, None)
        owner = answer.get("UserName")
        if not owner or owner == "root":
            return ManualRequired(
                instructions=(
                    f"{key_id} belongs to the account's root user: sign in as root and delete it "
                    f"under Security credentials, then enable MFA on root."
                ),
                url="https://console.aws.amazon.com/iam/home#/security_credentials",
            )
        with self._lock:
            self._owners[key_id] = owner
        used: Mapping[str, Any] = answer.get("AccessKeyLastUsed") or {}
        last_date: object = used.get("LastUsedDate")
        facts = {
            "last_used": {
                "date": last_date.isoformat() if hasattr(last_date, "isoformat") else None,
                "service": used.get("ServiceName"),
                "region": used.get("Region"),
            }
        }
        status = self._key_status(owner, key_id)
        return _Key("access_key", key_id, owner, status, facts=facts)

    def _key_status(self, user: str, key_id: str) -> str | None:
        for meta in self._access_keys(user):
            if meta["AccessKeyId"] == key_id:
                return str(meta["Status"])
        return None

    def _user_keys(self, user: str, target: _Target) -> Outcome | None:
        try:
            listed = self._access_keys(user)
        except _CallFailed as err:
            if err.missing:
                return AlreadyRevoked(detail=f"IAM has no user {user}", facts={"user": user})
            raise
        admin = self._admin_key_id()
        for meta in listed:
            key_id = meta["AccessKeyId"]
            if key_id == admin:
                target.refusal = self._refuse_own_key(key_id)
                target.facts["kept"] = key_id
                continue
            with self._lock:
                self._owners[key_id] = user
            target.keys.append(_Key("access_key", key_id, user, str(meta["Status"])))
        services = self.settings.service_specific_services
        for service in (None,) if services is None else services:
            try:
                found = self._service_credentials(user, service)
            except _CallFailed as err:
                where = service or "every service"
                target.facts.setdefault("service_specific_errors", {})[where] = err.failed.error
                target.problems.append(err.failed)
                continue
            for meta in found:
                target.keys.append(
                    _Key(
                        "service_credential",
                        meta["ServiceSpecificCredentialId"],
                        user,
                        str(meta["Status"]),
                        service=str(meta.get("ServiceName") or service),
                    )
                )
        return None

    def _deactivate(self, key: _Key) -> None:
        if key.status != "Active" or key.failure is not None:
            return
        iam, _ = self._clients()
        try:
            if key.kind == "access_key":
                self._call(
                    "iam:UpdateAccessKey",
                    iam.update_access_key,
                    UserName=key.user,
                    AccessKeyId=key.key_id,
                    Status="Inactive",
                )
            else:
                self._call(
                    "iam:UpdateServiceSpecificCredential",
                    iam.update_service_specific_credential,
                    UserName=key.user,
                    ServiceSpecificCredentialId=key.key_id,
                    Status="Inactive",
                )
        except _CallFailed as err:
            if err.missing:
                key.status = None
            else:
                key.failure = err.failed
            return
        key.status = "Inactive"
        key.deactivated = True
        key.facts["deactivated_at"] = _now()

    def _delete(self, key: _Key) -> None:
        if key.status is None or key.failure is not None:
            return
        iam, _ = self._clients()
        try:
            if key.kind == "access_key":
                self._call(
                    "iam:DeleteAccessKey",
                    iam.delete_access_key,
                    UserName=key.user,
                    AccessKeyId=key.key_id,
                )
            else:
                self._call(
                    "iam:DeleteServiceSpecificCredential",
                    iam.delete_service_specific_credential,
                    UserName=key.user,
                    ServiceSpecificCredentialId=key.key_id,
                )
        except _CallFailed as err:
            if err.missing:
                key.status = None
            else:
                key.failure = err.failed
            return
        key.status = None
        key.deleted = True
        key.facts["deleted_at"] = _now()

    def _session_sid(self) -> str:
        incident = re.sub(r"[^A-Za-z0-9]", "", self.context.incident_id)
        return f"ClawbackIncident{incident}" if incident else "ClawbackRevokeOlderSessions"

    def _deny_sessions(self, principal: str) -> dict[str, Any] | Failed:
        """Attach AWSRevokeOlderSessions; a re-run within the same incident leaves it alone."""
        kind, name = principal.split("/", 1)
        iam, _ = self._clients()
        if kind == "user":
            permission, get, put, who = (
                "iam:PutUserPolicy",
                iam.get_user_policy,
                iam.put_user_policy,
                {"UserName": name},
            )
        else:
            permission, get, put, who = (
                "iam:PutRolePolicy",
                iam.get_role_policy,
                iam.put_role_policy,
                {"RoleName": name},
            )
        sid = self._session_sid()
        if self.context.incident_id:
            try:
                current = self._call("iam:Get*Policy", get, PolicyName=SESSION_POLICY_NAME, **who)
                if sid in _statement_sids(current.get("PolicyDocument")):
                    return {"policy": SESSION_POLICY_NAME, "state": "already attached"}
            except _CallFailed:
                pass  # absent or unreadable: attaching it again is harmless
        # Rounded up, so sessions issued earlier within the current second are denied too.
        cutoff = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": sid,
                    "Effect": "Deny",
                    "Action": ["*"],
                    "Resource": ["*"],
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}},
                }
            ],
        }
        try:
            self._call(
                permission,
                put,
                PolicyName=SESSION_POLICY_NAME,
                PolicyDocument=json.dumps(document),
                **who,
            )
        except _CallFailed as err:
            if err.missing:
                return {"policy": SESSION_POLICY_NAME, "state": f"no such {kind}"}
            return err.failed
        return {
            "policy": SESSION_POLICY_NAME,
            "state": "attached",
            "token_issue_time_before": cutoff,
        }

    def _settle(self, target: _Target, denials: Mapping[str, dict[str, Any] | Failed]) -> Outcome:
        if target.outcome is not None:
            return target.outcome
        facts: dict[str, Any] = dict(target.facts)
        failures = list(target.problems)
        for key in target.keys:
            state = (
                "deleted"
                if key.deleted
                else "deactivated"
                if key.deactivated
                else "Inactive"
                if key.status == "Inactive"
                else "gone"
                if key.status is None
                else str(key.status)
            )
            facts.setdefault("keys", {})[key.label] = {
                "user": key.user,
                "state": state,
                **key.facts,
            }
            if key.failure is not None:
                failures.append(key.failure)
        sessions: dict[str, Any] = {}
        for principal in target.principals:
            denial = denials.get(principal)
            if isinstance(denial, Failed):
                sessions[principal] = {"state": "failed"}
                failures.append(denial)
            elif denial is not None:
                sessions[principal] = denial
        if sessions:
            facts["sessions"] = sessions
        if target.cred.kind == KIND_ACCESS_KEY and target.keys:
            facts["key_id"] = target.keys[0].key_id
            facts["user"] = target.keys[0].user
        if failures:
            return Failed(
                error="; ".join(dict.fromkeys(f.error for f in failures)),
                retryable=any(f.retryable for f in failures),
                retry_after=max((f.retry_after for f in failures if f.retry_after), default=None),
                facts=facts,
            )
        still_active = [key.label for key in target.keys if key.status == "Active"]
        if still_active:
            return Failed(error=f"still Active: {', '.join(still_active)}", facts=facts)
        if target.refusal is not None:
            # Everything else of the user is done; the admin key was left, on purpose.
            return replace(target.refusal, facts={**facts, **target.refusal.facts})
        changed = [key for key in target.keys if key.deactivated]
        if target.cred.kind == KIND_ROLE_SESSIONS or _is_session(target.cred):
            attached = any(s.get("state") == "attached" for s in sessions.values())
            whose = ", ".join(sessions)
            if attached:
                return Revoked(
                    detail=f"sessions of {whose} issued before now are denied", facts=facts
                )
            return AlreadyRevoked(
                detail=f"the session deny of this incident is in place on {whose}", facts=facts
            )
        if not changed:
            return AlreadyRevoked(
                detail="no active key was left: already deactivated or deleted", facts=facts
            )
        if self.settings.delete:
            return Revoked(
                detail=f"deactivated, then deleted: {', '.join(k.label for k in changed)}",
                facts=facts,
            )
        return Disabled(
            detail=f"left Inactive (delete = false): {', '.join(k.label for k in changed)}",
            facts=facts,
        )

    # -- rotate -----------------------------------------------------------------------------------

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """create → store → test → finish, like Secrets Manager's AWSPENDING → AWSCURRENT.

        ``facts["stage"]`` records the last step reached and ``facts["rotation_stage"]`` the
        Secrets Manager stage: ``pending`` (new key stored), ``current`` (it works),
        ``previous`` (the old key is disabled), ``retired`` (the old key is deleted). A new key is
        stored before anything else happens to it; if storing or testing fails it is deleted
        again, so no live key is ever left without a home. Works whether the old key is still
        live (drill) or already revoked (contain revokes first, then asks for a replacement).

        Resumable when the store keeps a rotation ledger (``clawback drill``): a key of the user
        that an interrupted attempt created and stored is reused instead of creating another,
        and one it created but never stored (nothing can be using it) is deleted.
        """
        if cred.kind != KIND_ACCESS_KEY or not cred.key_id or cred.key_id.startswith("ASIA"):
            return Skipped(reason=f"{cred.kind} has no replacement of its own to create")
        earlier = store.interrupted() if isinstance(store, RotationLedger) else None
        reused = False
        try:
            settings = self.settings
            iam, _ = self._clients()
            located = self._locate_key(cred.key_id)
            if (isinstance(located, AlreadyRevoked) and earlier is not None
                    and earlier.pending is None and earlier.account):
                # A crashed run revoked the old key and was making its replacement for this
                # user: carry on from there (an unstored key it made is deleted below).
                located = _Key("access_key", cred.key_id, earlier.account, None)
            if isinstance(located, AlreadyRevoked):
                if earlier is not None and earlier.pending is not None:
                    return self._finish_interrupted(cred, store, earlier)
                return ManualRequired(
                    instructions=(
                        f"{cred.key_id} is deleted and its owner is unknown: create a new access "
                        f"key for the agent's IAM user by hand, or list that user in `users`."
                    ),
                    url="https://console.aws.amazon.com/iam/home#/users",
                )
            if isinstance(located, Outcome):
                return located
            old = located
            facts: dict[str, Any] = {"user": old.user, "old_key_id": old.key_id, "stage": "start"}
            pending = self._recover(old, earlier, facts) if earlier is not None else None
            if pending is not None:
                new_id, new_secret = pending
                reused = True
            else:
                room = self._make_room(old)
                if isinstance(room, Outcome):
                    return room
                facts.update(room)
                _reached(store, "creating", account=old.user)
                created = self._call(
                    "iam:CreateAccessKey", iam.create_access_key, UserName=old.user
                )
                new_id = created["AccessKey"]["AccessKeyId"]
                new_secret = SecretValue(created["AccessKey"]["SecretAccessKey"])
        except _CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))
        facts.update(stage="create", new_key_id=new_id, new_key_label="AWSPENDING")
        with self._lock:
            self._owners[new_id] = old.user

        name = settings.store_name.format(user=old.user, access_key_id=new_id)
        try:
            reference = store.store(name, key_pair(new_id, new_secret))
        except Exception as exc:  # whatever the keyring raised, the new key must not stay live
            facts["new_key_deleted"] = self._discard(old.user, new_id)
            fate = "deleted again" if facts["new_key_deleted"] else "NOT deleted: delete it by hand"
            return Failed(
                error=f"storing the new key failed ({_describe(exc)}); the new key {new_id} was "
                f"{fate}",
                facts=facts,
            )
        facts.update(stage="store", reference=reference, rotation_stage="pending")

        tested = self._await_usable(new_id, new_secret, old.user)
        if tested is not None:
            try:
                store.delete(name)
            except Exception as exc:
                facts["stored_copy"] = f"not removed: {_describe(exc)}"
            facts["new_key_deleted"] = self._discard(old.user, new_id)
            return Failed(error=f"the new key did not work: {tested}", retryable=True, facts=facts)
        facts.update(stage="test", rotation_stage="current")
        _reached(store, "current")

        # The old key is retired only once the agent is proven to use the new one.
        kept = handed_over(store, facts, f"the old key {old.key_id} stays Active",
                           lambda: self._last_used(old.key_id))
        if kept is not None:
            return kept

        # finish: the new key becomes current; the old one is retired.
        self._deactivate(old)
        if old.failure is None and old.status != "Active":
            facts["rotation_stage"] = "previous"
            _reached(store, "previous")
        if old.failure is None and settings.delete:
            if old.deactivated and settings.delete_grace_seconds:
                time.sleep(settings.delete_grace_seconds)
            self._delete(old)
        if old.failure is not None:
            facts["old_key"] = "still active" if old.status == "Active" else str(old.status)
            return Failed(
                error=f"the new key works and is stored, but retiring the old one failed: "
                f"{old.failure.error}",
                retryable=old.failure.retryable,
                retry_after=old.failure.retry_after,
                facts=facts,
            )
        if old.status is None:
            facts["rotation_stage"] = "retired"
            _reached(store, "retired")
        facts.update(
            stage="finish",
            new_key_label="AWSCURRENT",
            old_key="deleted" if old.status is None else str(old.status),
        )
        if reused:
            facts["resumed"] = True
        return Rotated(
            detail=f"{new_id} replaces {old.key_id} for IAM user {old.user}",
            facts=facts,
            new_fingerprint=new_secret.fingerprint,
            new_reference=reference,
        )

    def _recover(self, old: _Key, earlier: InterruptedRotation, facts: dict[str, Any]
                 ) -> tuple[str, SecretValue] | None:
        """After a crash: the key the interrupted attempt created and stored, if it still
        exists. Keys it created but never stored are deleted: nothing can be using them."""
        iam, _ = self._clients()
        stored = parse_key_pair(earlier.pending)
        listed = self._call("iam:ListAccessKeys", iam.list_access_keys, UserName=old.user)
        reuse: tuple[str, SecretValue] | None = None
        orphans: list[str] = []
        for meta in listed.get("AccessKeyMetadata", []):
            key_id = meta["AccessKeyId"]
            if key_id == old.key_id:
                continue
            if stored is not None and key_id == stored[0]:
                reuse = stored
            elif _created_since(meta.get("CreateDate"), earlier.started_at):
                orphans.append(key_id)
        for key_id in orphans:
            self._call(
                "iam:DeleteAccessKey", iam.delete_access_key, UserName=old.user, AccessKeyId=key_id
            )
        if orphans:
            facts["orphans_deleted"] = orphans
        if reuse is not None:
            facts["reused_pending_key"] = reuse[0]
        return reuse

    def _finish_interrupted(
        self, cred: Credential, store: SecretStore, earlier: InterruptedRotation
    ) -> Outcome:
        """The old key is gone: the interrupted attempt got past deleting it. Its new key is
        the only one left, so it is stored (and the agent switched) again but never deleted."""
        stored = parse_key_pair(earlier.pending)
        if stored is None:
            return Failed(error="the interrupted rotation's stored key pair is unreadable")
        new_id, new_secret = stored
        located = self._locate_key(new_id)
        if not isinstance(located, _Key):
            return ManualRequired(
                instructions=(
                    f"{cred.key_id} and the key {new_id} that replaced it are both gone: create "
                    f"a new access key for the agent's IAM user by hand."
                ),
                url="https://console.aws.amazon.com/iam/home#/users",
            )
        facts: dict[str, Any] = {
            "user": located.user, "old_key_id": cred.key_id, "new_key_id": new_id,
            "old_key": "deleted", "resumed": True, "stage": "finish",
            "new_key_label": "AWSCURRENT", "rotation_stage": "retired",
        }
        name = self.settings.store_name.format(user=located.user, access_key_id=new_id)
        try:
            reference = store.store(name, key_pair(new_id, new_secret))
        except Exception as exc:
            return Failed(
                error=f"the old key is deleted and {new_id} replaces it, but storing it again "
                f"failed ({_describe(exc)}); it was kept: it is the agent's only key",
                retryable=True,
                facts=facts,
            )
        tested = self._await_usable(new_id, new_secret, located.user)
        if tested is not None:
            return Failed(error=f"{new_id} replaces the deleted {cred.key_id} but does not work: "
                          f"{tested}", retryable=True, facts=facts)
        facts["reference"] = reference
        return Rotated(
            detail=f"{new_id} replaces {cred.key_id} for IAM user {located.user} (finished "
            f"after the interrupted run had deleted the old key)",
            facts=facts,
            new_fingerprint=new_secret.fingerprint,
            new_reference=reference,
        )

    def _last_used(self, key_id: str) -> datetime | None:
        """IAM's last-used time of a key (IAM may take hours to record a use)."""
        iam, _ = self._clients()
        answer = self._call(
            "iam:GetAccessKeyLastUsed", iam.get_access_key_last_used, AccessKeyId=key_id
        )
        used = (answer.get("AccessKeyLastUsed") or {}).get("LastUsedDate")
        return used if isinstance(used, datetime) else None

    # -- usage (clawback investigate) -----------------------------------------------------------

    USAGE_MAX_EVENTS: ClassVar[int] = 200
    USAGE_DAYS: ClassVar[int] = 90  # what CloudTrail's event history keeps

    def usage(self, cred: Credential) -> Outcome:
        """What IAM and CloudTrail say of an access key's use; changes nothing."""
        if cred.kind not in (KIND_ACCESS_KEY, KIND_SESSION) or not cred.key_id:
            return Skipped(reason=f"{cred.kind} has no access key id to look up")
        iam, _ = self._clients()
        sources = ["iam:GetAccessKeyLastUsed"]
        try:
            answer = self._call("iam:GetAccessKeyLastUsed", iam.get_access_key_last_used,
                                AccessKeyId=cred.key_id)
        except _CallFailed as failed:
            return failed.failed
        last = answer.get("AccessKeyLastUsed") or {}
        used = last.get("LastUsedDate")
        service = str(last.get("ServiceName") or "")
        region = str(last.get("Region") or "")
        uses, complete, trail = self._cloudtrail_uses(cred.key_id)
        sources.append("cloudtrail:LookupEvents")
        caveats = ["IAM records a use up to a few hours late"]
        if trail:
            caveats.append(trail)
        when = used.astimezone(UTC).isoformat() if isinstance(used, datetime) else ""
        shown = f"last used {when} ({service or '?'} in {region or '?'})" if when else (
            "never used, IAM says")
        return UsageReport(
            detail=f"{cred.key_id}: {shown}; {len(uses)} CloudTrail event(s)"
            + (" (more exist)" if not complete else ""),
            last_used=when, last_service="" if service == "N/A" else service,
            last_region="" if region == "N/A" else region, uses=tuple(uses), complete=complete,
            sources=tuple(sources), caveat="; ".join(caveats),
        )

    def _cloudtrail_uses(self, key_id: str) -> tuple[list[KeyUse], bool, str]:
        """(events newest first, whether that is all of them, what could not be read)."""
        client = self._client_for("cloudtrail")
        start = datetime.now(UTC) - timedelta(days=self.USAGE_DAYS)
        uses: list[KeyUse] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "LookupAttributes": [{"AttributeKey": "AccessKeyId", "AttributeValue": key_id}],
                "StartTime": start, "MaxResults": 50,
            }
            if token:
                kwargs["NextToken"] = token
            try:
                page = self._call("cloudtrail:LookupEvents", client.lookup_events, **kwargs)
            except _CallFailed as failed:
                error = failed.failed.error or failed.code
                return uses, False, f"CloudTrail's event history could not be read ({error})"
            for event in page.get("Events") or ():
                record: dict[str, Any] = {}
                raw = event.get("CloudTrailEvent")
                if isinstance(raw, str):
                    try:
                        record = json.loads(raw)
                    except ValueError:
                        record = {}
                at = event.get("EventTime")
                uses.append(KeyUse(
                    at=at.astimezone(UTC).isoformat() if isinstance(at, datetime) else "",
                    action=f"{event.get('EventSource') or record.get('eventSource') or '?'} "
                           f"{event.get('EventName') or record.get('eventName') or '?'}",
                    source_address=str(record.get("sourceIPAddress") or ""),
                    region=str(record.get("awsRegion") or ""),
                    user_agent=str(record.get("userAgent") or "")[:200],
                ))
                if len(uses) >= self.USAGE_MAX_EVENTS:
                    return uses, False, ""
            token = page.get("NextToken")
            if not token:
                return uses, True, ""

    def _client_for(self, service: str) -> Any:
        """A client of the admin identity for another service (CloudTrail), made once from
        the admin's own session: a session per call cost every key's usage a new botocore
        session (~30 ms of CPU each). boto3 clients are thread-safe; sessions are not, so the
        client is made under the lock."""
        with self._lock:
            client = self._service_clients.get(service)
            if client is None:
                self._clients()
                client = self._admin_session.client(
                    service, endpoint_url=self.settings.endpoint_url, config=self._boto_config())
                self._service_clients[service] = client
            return client

    def _make_room(self, old: _Key) -> dict[str, Any] | Outcome:
        """IAM allows two keys per user: delete an inactive one (the old key first) if needed."""
        iam, _ = self._clients()
        listed = self._call("iam:ListAccessKeys", iam.list_access_keys, UserName=old.user)
        keys = listed.get("AccessKeyMetadata", [])
        if len(keys) < 2:
            return {}
        inactive = [k["AccessKeyId"] for k in keys if k["Status"] == "Inactive"]
        victim = old.key_id if old.key_id in inactive else (inactive[0] if inactive else None)
        if victim is None:
            return Failed(
                error=(
                    f"IAM user {old.user} already has two active access keys (the limit): "
                    f"deactivate the one that is not {old.key_id}, then run again"
                ),
                facts={"user": old.user, "stage": "start"},
            )
        self._call(
            "iam:DeleteAccessKey", iam.delete_access_key, UserName=old.user, AccessKeyId=victim
        )
        if victim == old.key_id:
            old.status = None
            old.deleted = True
        return {"made_room_by_deleting": victim}

    def _discard(self, user: str, key_id: str) -> bool:
        iam, _ = self._clients()
        try:
            self._call(
                "iam:DeleteAccessKey", iam.delete_access_key, UserName=user, AccessKeyId=key_id
            )
        except _CallFailed as err:
            return err.missing
        return True

    def _await_usable(self, key_id: str, secret: SecretValue, user: str) -> str | None:
        """None once the new key signs a call as ``user``; else why not."""
        deadline = time.monotonic() + self.settings.new_key_ready_seconds
        sts = self._sts_signed_with(key_id, secret)
        while True:
            try:
                identity = sts.get_caller_identity()
            except Exception as exc:
                err = _failure_from_exception(exc, "sts:GetCallerIdentity")
                # New keys take a moment to propagate; only that case is worth waiting out.
                if err.code not in _AUTH_CODES or time.monotonic() >= deadline:
                    return err.failed.error
                time.sleep(0.5)
                continue
            arn = str(identity.get("Arn", ""))
            if arn.endswith(f":user/{user}") or arn.endswith(f"/{user}"):
                return None
            return f"it signs as {arn}, not as IAM user {user}"

    # -- verify -----------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """Prove the old key is dead: IAM's view of it, and a call signed with it when we hold it.

        A call signed with the old key (``sts:GetCallerIdentity``) is the real proof. AWS
        rejects deleted and inactive keys; moto rejects only deleted ones, and only with its IAM
        authentication switched on. Without the secret, IAM's record (deleted / Inactive) is
        all there is, and the outcome says so.
        """
        try:
            if _is_session(cred):
                return self._verify_session(cred)
            if cred.kind == KIND_ACCESS_KEY and cred.key_id:
                return self._verify_key(cred)
            if cred.kind == KIND_BEDROCK:
                return self._verify_bedrock(cred)
            if cred.kind == KIND_BEDROCK_SHORT and cred.secret is not None:
                decoded = decode_short_term_bedrock_key(cred.secret.reveal())
                if decoded is not None and not decoded.access_key_id.startswith("ASIA"):
                    signer = Credential(provider="aws", kind=KIND_ACCESS_KEY,
                                        fingerprint=cred.fingerprint,
                                        key_id=decoded.access_key_id)
                    return self._verify_key(signer)
            if cred.kind in (KIND_USER, KIND_ROLE_SESSIONS):
                return self._verify_principal(cred)
        except _CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))
        return Skipped(reason=f"clawback cannot check whether {cred.kind} is dead")

    def _verify_key(self, cred: Credential) -> Outcome:
        """Dead only when IAM's own record says deleted or Inactive *and*, when the secret is
        held, a call signed with it gets ``InvalidClientTokenId`` ("The X.509 certificate or AWS
        access key ID provided does not exist in our records", the documented common error,
        https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html).

        ``SignatureDoesNotMatch`` is no proof: AWS found the key id and the secret held is not
        its secret, so the answer says nothing about the key that secret belongs to (a wrong
        pairing of ids and secrets gives exactly this). Any other rejection (``ExpiredToken``,
        ``IncompleteSignature``…) is no proof either.
        """
        assert cred.key_id is not None
        located = self._locate_key(cred.key_id)
        if isinstance(located, _Key):
            iam_state = located.status or "deleted"
        elif isinstance(located, AlreadyRevoked):
            iam_state = "deleted"
        else:
            return located
        facts: dict[str, Any] = {"key_id": cred.key_id, "iam": iam_state}
        if iam_state == "Active":
            return Failed(error=f"IAM reports {cred.key_id} still Active", facts=facts)
        if cred.secret is None:
            return VerifiedDead(
                detail=f"IAM reports the key {iam_state}; it was not tried (secret not held)",
                facts={**facts, "method": "iam"},
            )
        sts = self._sts_signed_with(cred.key_id, cred.secret)
        try:
            identity = sts.get_caller_identity()
        except Exception as exc:
            err = _failure_from_exception(exc, "sts:GetCallerIdentity")
            if err.code == "InvalidClientTokenId":
                return VerifiedDead(
                    detail=f"IAM reports the key {iam_state} and AWS rejects a call signed "
                    f"with it (InvalidClientTokenId)",
                    facts={**facts, "method": "sts:GetCallerIdentity", "rejected_with": err.code},
                )
            if err.code == "SignatureDoesNotMatch":
                return Unproven(
                    reason=f"AWS knows {cred.key_id} but the secret found with it is not its "
                    "secret (SignatureDoesNotMatch): that says nothing about the key this "
                    "secret really belongs to",
                    check=f"which AWS key id sits next to the secret in {_where(cred)}; "
                    "every access key of the agent's IAM users must be Inactive or deleted "
                    "(IAM → Users → Security credentials)",
                    url="https://console.aws.amazon.com/iam/home#/users",
                    facts={**facts, "rejected_with": err.code},
                )
            if err.code in _AUTH_CODES:
                return Unproven(
                    reason=f"AWS rejected the call with {err.code}, which is not its answer "
                    "for a key that no longer exists (InvalidClientTokenId)",
                    check=f"that IAM lists {cred.key_id} Inactive or not at all, and that "
                    "CloudTrail shows no use of it since the revoke",
                    url="https://console.aws.amazon.com/iam/home#/users",
                    facts={**facts, "rejected_with": err.code},
                )
            return err.failed
        facts["signed_call"] = "accepted"
        facts["identity"] = str(identity.get("Arn", ""))
        return Failed(
            error=(
                f"IAM reports {cred.key_id} {iam_state}, yet a call signed with it was accepted: "
                f"IAM changes take a few seconds to propagate"
            ),
            retryable=True,
            facts=facts,
        )

    def _verify_bedrock(self, cred: Credential) -> Outcome:
        """IAM's own record: no credential of the key's alias is left Active. (Bedrock itself
        is not asked: that would need its endpoint in every region the key could use.)"""
        decoded = decode_bedrock_key(cred.secret.reveal()) if cred.secret is not None else None
        if decoded is None:
            return Skipped(reason="the Bedrock key does not decode to an IAM user")
        facts: dict[str, Any] = {"user": decoded.user, "method": "iam"}
        try:
            listed = self._service_credentials(decoded.user, BEDROCK_SERVICE)
        except _CallFailed as err:
            if err.missing:
                return VerifiedDead(detail=f"IAM has no user {decoded.user}", facts=facts)
            raise
        with self._lock:
            revoked = set(self._bedrock.get(cred.fingerprint, ()))
        alive = [
            m["ServiceSpecificCredentialId"] for m in listed
            if m.get("Status") == "Active" and (
                m["ServiceSpecificCredentialId"] in revoked
                or decoded.alias in (m.get("ServiceCredentialAlias"), m.get("ServiceUserName"))
            )
        ]
        if alive:
            return Failed(error=f"IAM still lists {', '.join(alive)} of {decoded.user} Active",
                          facts=facts)
        facts["left"] = {m["ServiceSpecificCredentialId"]: m.get("Status") for m in listed
                         if m["ServiceSpecificCredentialId"] in revoked}
        return VerifiedDead(
            detail=f"IAM lists no active Bedrock credential of this key for {decoded.user}",
            facts=facts,
        )

    def _verify_session(self, cred: Credential) -> Outcome:
        """IAM's record of the deny, and a call with the session refused by an explicit deny."""
        from botocore.exceptions import ClientError

        token = cred.companions.get("session_token")
        if cred.secret is None or token is None or not cred.key_id:
            return Skipped(reason="the session token is not known, so the session cannot be tried")
        with self._lock:
            principal = self._sessions.get(cred.fingerprint)
        sts = self._sts_signed_with(cred.key_id, cred.secret, token)
        if principal is None:
            try:
                principal = _principal_of_arn(str(sts.get_caller_identity().get("Arn", "")))
            except Exception as exc:
                err = _failure_from_exception(exc, "sts:GetCallerIdentity")
                if err.code in _DEAD_SESSION_CODES:
                    return VerifiedDead(detail=f"AWS no longer accepts the session ({err.code})",
                                        facts={"rejected_with": err.code})
                return err.failed
        if principal is None:
            return Skipped(reason="the session has no IAM role or user to check")
        kind, name = principal.split("/", 1)
        iam, _ = self._clients()
        get, who = ((iam.get_role_policy, {"RoleName": name}) if kind == "role"
                    else (iam.get_user_policy, {"UserName": name}))
        facts: dict[str, Any] = {"principal": principal}
        try:
            policy = self._call("iam:Get*Policy", get, PolicyName=SESSION_POLICY_NAME, **who)
        except _CallFailed as err:
            if err.missing:
                return Failed(error=f"{principal} has no {SESSION_POLICY_NAME} policy",
                              facts=facts)
            raise
        facts["sids"] = _statement_sids(policy.get("PolicyDocument"))
        probe = self._sts_signed_with(cred.key_id, cred.secret, token, service="iam")
        call = probe.get_role if kind == "role" else probe.get_user
        try:
            call(**who)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = str(error.get("Code", "")), str(error.get("Message", ""))
            facts["rejected_with"] = code
            if code in _DEAD_SESSION_CODES:
                return VerifiedDead(detail=f"AWS no longer accepts the session ({code})",
                                    facts=facts)
            if code in _DENIED_CODES and "explicit deny" in message:
                return VerifiedDead(
                    detail=f"AWS refuses the session with an explicit deny; IAM shows "
                    f"{SESSION_POLICY_NAME} on {principal}",
                    facts=facts,
                )
            if code in _DENIED_CODES:
                return Unproven(
                    reason=f"AWS refused a call with the session ({code}) without saying it was "
                    "an explicit deny: the session may simply lack that permission, and the "
                    "deny may not have reached every region yet (it takes a few minutes)",
                    check=f"that {SESSION_POLICY_NAME} is on {principal} (IAM → "
                    f"{'Roles' if kind == 'role' else 'Users'} → {name} → Permissions) and "
                    "that CloudTrail shows no call by this session after its time",
                    url="https://console.aws.amazon.com/iam/home#/roles",
                    facts=facts,
                )
            return _failure_from_exception(exc, "iam:Get*").failed
        except Exception as exc:
            return _failure_from_exception(exc, "iam:Get*").failed
        return Failed(
            error=f"AWS still accepts the session of {principal}: the deny takes a few minutes "
            "to reach every region",
            retryable=True,
            facts=facts,
        )

    def _verify_principal(self, cred: Credential) -> Outcome:
        iam, _ = self._clients()
        name = _principal_name(cred)
        facts: dict[str, Any] = {"principal": cred.key_id}
        if cred.kind == KIND_USER:
            try:
                listed = self._access_keys(name)
            except _CallFailed as err:
                if err.missing:
                    return VerifiedDead(detail=f"IAM has no user {name}", facts=facts)
                raise
            active = [k["AccessKeyId"] for k in listed if k["Status"] == "Active"]
            services = self.settings.service_specific_services
            for service in (None,) if services is None else services:
                active += [
                    m["ServiceSpecificCredentialId"]
                    for m in self._service_credentials(name, service)
                    if m.get("Status") == "Active"
                ]
            if active:
                return Failed(
                    error=f"user {name} still has active keys: {', '.join(active)}", facts=facts
                )
            get, who = iam.get_user_policy, {"UserName": name}
        else:
            get, who = iam.get_role_policy, {"RoleName": name}
        if self.settings.revoke_sessions:
            try:
                policy = self._call("iam:Get*Policy", get, PolicyName=SESSION_POLICY_NAME, **who)
            except _CallFailed as err:
                if err.missing:
                    return Failed(
                        error=f"{cred.key_id} has no {SESSION_POLICY_NAME} policy", facts=facts
                    )
                raise
            facts["sids"] = _statement_sids(policy.get("PolicyDocument"))
        return VerifiedDead(
            detail=f"no active key and older sessions denied for {cred.key_id}", facts=facts
        )

    # -- preflight --------------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """Prove the admin identity may make every call contain and drill need, changing nothing.

        Write calls are probed against a key id or principal that does not exist: IAM checks
        authorization before existence, so ``NoSuchEntity`` proves the permission and
        ``AccessDenied`` disproves it.
        """
        try:
            settings = self.settings
            iam, sts = self._clients()
        except ResponderError as exc:
            return [PreflightCheck("aws", "admin credential", False, detail=str(exc))]
        checks: list[PreflightCheck] = []
        try:
            identity = sts.get_caller_identity()
            checks.append(
                PreflightCheck(
                    "aws",
                    "sts:GetCallerIdentity",
                    True,
                    detail=f"admin identity {identity.get('Arn')}",
                )
            )
        except Exception as exc:
            err = _failure_from_exception(exc, "sts:GetCallerIdentity")
            return [
                PreflightCheck(
                    "aws",
                    "sts:GetCallerIdentity",
                    False,
                    detail=err.failed.error,
                    missing_permission="a working admin credential",
                )
            ]
        users = settings.users or (PROBE_PRINCIPAL,)
        probes: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
            (
                "iam:GetAccessKeyLastUsed",
                iam.get_access_key_last_used,
                {"AccessKeyId": PROBE_KEY_ID},
            ),
            ("iam:CreateAccessKey", iam.create_access_key, {"UserName": PROBE_PRINCIPAL}),
            (
                "iam:PutUserPolicy",
                iam.put_user_policy,
                {
                    "UserName": PROBE_PRINCIPAL,
                    "PolicyName": SESSION_POLICY_NAME,
                    "PolicyDocument": "{}",
                },
            ),
            (
                "iam:PutRolePolicy",
                iam.put_role_policy,
                {
                    "RoleName": PROBE_PRINCIPAL,
                    "PolicyName": SESSION_POLICY_NAME,
                    "PolicyDocument": "{}",
                },
            ),
        ]
        for user in users:
            probes += [
                ("iam:ListAccessKeys", iam.list_access_keys, {"UserName": user}),
                (
                    "iam:UpdateAccessKey",
                    iam.update_access_key,
                    {"UserName": user, "AccessKeyId": PROBE_KEY_ID, "Status": "Inactive"},
                ),
                (
                    "iam:DeleteAccessKey",
                    iam.delete_access_key,
                    {"UserName": user, "AccessKeyId": PROBE_KEY_ID},
                ),
            ]
            services = settings.service_specific_services
            for service in (None,) if services is None else services:
                scope = {"ServiceName": service} if service else {}
                probes += [
                    (
                        "iam:ListServiceSpecificCredentials",
                        iam.list_service_specific_credentials,
                        {"UserName": user, **scope},
                    ),
                    (
                        "iam:UpdateServiceSpecificCredential",
                        iam.update_service_specific_credential,
                        {
                            "UserName": user,
                            "ServiceSpecificCredentialId": "ACCACLAWBACKPROBE000000",
                            "Status": "Inactive",
                        },
                    ),
                ]
        checks += self._fan(lambda probe: self._probe(*probe), probes)
        return checks

    def _probe(
        self, permission: str, operation: Callable[..., Any], kwargs: dict[str, Any]
    ) -> PreflightCheck:
        target = kwargs.get("UserName") or kwargs.get("RoleName") or kwargs.get("AccessKeyId")
        try:
            self._call(permission, operation, **kwargs)
        except _CallFailed as err:
            if err.missing:
                return PreflightCheck(
                    "aws", permission, True, detail=f"allowed (probed on {target}: NoSuchEntity)"
                )
            if err.code in _DENIED_CODES:
                return PreflightCheck(
                    "aws", permission, False, detail=err.failed.error, missing_permission=permission
                )
            return PreflightCheck("aws", permission, False, detail=err.failed.error)
        return PreflightCheck("aws", permission, True, detail=f"allowed on {target}")


def _is_session(cred: Credential) -> bool:
    return cred.kind == KIND_SESSION or (
        cred.kind == KIND_ACCESS_KEY and (cred.key_id or "").startswith("ASIA")
    )


def _principal_credential(kind: str, prefix: str, name: str) -> Credential:
    target = f"{prefix}/{name}"
    return Credential(provider="aws", kind=kind, fingerprint=target, key_id=target)


def _principal_name(cred: Credential) -> str:
    return (cred.key_id or "").split("/", 1)[-1]


def _statement_sids(document: Any) -> list[str]:
    if isinstance(document, str):
        from urllib.parse import unquote

        try:
            document = json.loads(unquote(document))
        except ValueError:
            return []
    if not isinstance(document, Mapping):
        return []
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    return [str(s.get("Sid")) for s in statements if isinstance(s, Mapping) and s.get("Sid")]


def _where(cred: Credential) -> str:
    return ", ".join(str(loc) for loc in cred.locations) or "the agent's files"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _describe(exc: Exception) -> str:
    # Keyring and store errors carry advice, never the value being stored.
    return str(exc) if isinstance(exc, ResponderError) else type(exc).__name__


def key_pair(key_id: str, secret: SecretValue) -> SecretValue:
    """What rotate stores: the id travels with the secret, so the agent gets both."""
    return SecretValue(json.dumps({"AccessKeyId": key_id, "SecretAccessKey": secret.reveal()}))


def parse_key_pair(stored: SecretValue | None) -> tuple[str, SecretValue] | None:
    """(access key id, secret) from what ``rotate`` stored; None if it is not such a pair."""
    if stored is None:
        return None
    try:
        pair = json.loads(stored.reveal())
        return str(pair["AccessKeyId"]), SecretValue(str(pair["SecretAccessKey"]))
    except (ValueError, KeyError, TypeError):
        return None


def _created_since(created: Any, started: datetime) -> bool:
    """Whether IAM's CreateDate falls after the interrupted attempt began (give or take the
    clock difference between this host and AWS)."""
    if not isinstance(created, datetime):
        return False
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created >= started - CLOCK_SKEW


def _reached(store: SecretStore, stage: str, *, account: str = "") -> None:
    if isinstance(store, RotationLedger):
        store.reached(stage, account=account)
