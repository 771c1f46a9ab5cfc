"""IAM's service-specific credentials (Bedrock API keys, CodeCommit passwords…) in front of moto.

moto 5.2 implements none of the five service-specific credential operations, and clawback must
handle them: a configured user's Bedrock API keys die with the user's access keys, and a leaked
``ABSK…`` key names the user whose credential it is. So this front listens on a loopback port,
answers ``Create``/``List``/``Update``/``Delete``/``ResetServiceSpecificCredential`` itself and
passes every other request, untouched (its signature included), to moto's server behind it.

What it holds to: every request to those five is checked against botocore's IAM service model
(AWS's own description of the API: required members, enums, types) before it is answered, and a
request that breaks it is answered 422 and counted as a violation. Answers are IAM's query-protocol
XML, which boto3 parses with the same model. The user must exist in moto (``NoSuchEntity``
otherwise, as IAM answers); at most two credentials per service and user (``LimitExceeded``);
``ListServiceSpecificCredentials`` without ``ServiceName`` lists every service, and pages with
``MaxItems``/``Marker``. A Bedrock credential's secret is ``ABSK`` + base64 of
``<user>-at-<account>:<secret>`` (the format BeyondTrust's bedrock-keys-security decodes), its
``ServiceCredentialAlias`` the part before the colon.

What it does not do: check signatures or permissions on those five operations (moto does, on
everything it serves), expire credentials (``CredentialAgeDays`` is recorded, not enforced), or
answer Bedrock's own API with the key.
"""

from __future__ import annotations

import base64
import http.client
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from werkzeug import Request, Response

from clawback_demo.providers.loopback import LoopbackService

OPERATIONS = frozenset({
    "CreateServiceSpecificCredential",
    "ListServiceSpecificCredentials",
    "UpdateServiceSpecificCredential",
    "DeleteServiceSpecificCredential",
    "ResetServiceSpecificCredential",
})
BEDROCK = "bedrock.amazonaws.com"
ACCOUNT = "123456789012"  # moto's default account
_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
_PER_SERVICE = 2  # "a maximum of two sets of service-specific credentials for each … service"


def bedrock_api_key(alias: str, secret: str) -> str:
    """The value a Bedrock long-term API key has: ABSK + base64(alias:secret)."""
    return "ABSK" + base64.b64encode(f"{alias}:{secret}".encode()).decode()


@dataclass
class _Credential:
    credential_id: str
    user: str
    service: str
    status: str
    created: datetime
    secret: str = field(repr=False)
    age_days: int | None = None

    @property
    def alias(self) -> str:
        return f"{self.user}-at-{ACCOUNT}"

    @property
    def service_user_name(self) -> str:
        return self.alias

    def metadata_xml(self, *, with_secret: bool = False) -> str:
        parts = [
            ("UserName", self.user), ("Status", self.status),
            ("ServiceUserName", self.service_user_name),
            ("CreateDate", self.created.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("ServiceSpecificCredentialId", self.credential_id), ("ServiceName", self.service),
        ]
        if self.service == BEDROCK:
            parts.append(("ServiceCredentialAlias", self.alias))
            if with_secret:
                parts.append(("ServiceCredentialSecret", bedrock_api_key(self.alias, self.secret)))
        elif with_secret:
            parts.append(("ServicePassword", self.secret))
        return "".join(f"<{k}>{escape(v)}</{k}>" for k, v in parts)


class _Model:
    """The five operations' input shapes from botocore's IAM model."""

    def __init__(self) -> None:
        import botocore.session

        self.iam = botocore.session.get_session().get_service_model("iam")

    def violation(self, action: str, params: dict[str, str]) -> str | None:
        from botocore.exceptions import ParamValidationError
        from botocore.validate import validate_parameters

        shape = self.iam.operation_model(action).input_shape
        typed: dict[str, Any] = {}
        for name, value in params.items():
            member = shape.members.get(name)
            if member is None:
                return f"{action}: {name} is not a parameter of this operation"
            if member.type_name == "integer":
                try:
                    typed[name] = int(value)
                except ValueError:
                    return f"{action}: {name} must be an integer"
            elif member.type_name == "boolean":
                if value not in ("true", "false"):
                    return f"{action}: {name} must be true or false"
                typed[name] = value == "true"
            else:
                typed[name] = value
        try:
            validate_parameters(typed, shape)
        except ParamValidationError as exc:
            return f"{action}: {exc}".replace("\n", " ")
        enum_problems = [
            f"{action}: {name}={typed[name]!r} is not one of {list(member.enum)}"
            for name, member in shape.members.items()
            if name in typed and getattr(member, "enum", None) and typed[name] not in member.enum
        ]
        return enum_problems[0] if enum_problems else None


class ServiceCredentialsFront:
    """The front: ``url`` is what clawback's ``endpoint_url`` points at."""

    def __init__(self, moto_url: str) -> None:
        self.moto = urlsplit(moto_url)
        self.model = _Model()
        self.credentials: dict[str, _Credential] = {}
        self._lock = threading.Lock()
        self.service = LoopbackService("aws-iam", self._answer, self, "botocore's IAM model")
        self.url = self.service.url

    # -- the service --------------------------------------------------------------------------

    def violation(self, request: Request) -> str | None:
        action, params = _action_of(request)
        if action not in OPERATIONS:
            return None  # moto's business
        return self.model.violation(action, params)

    def _answer(self, request: Request) -> Response:
        action, params = _action_of(request)
        if action not in OPERATIONS:
            return self._forward(request)
        with self._lock:
            return getattr(self, f"_{action}")(params)

    def _forward(self, request: Request) -> Response:
        connection = http.client.HTTPConnection(self.moto.hostname, self.moto.port, timeout=30)
        try:
            connection.putrequest(request.method, request.full_path.rstrip("?"), skip_host=True,
                                  skip_accept_encoding=True)
            for name, value in request.headers.items():
                if name.lower() != "content-length":
                    connection.putheader(name, value)
            body = request.get_data()
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            answer = connection.getresponse()
            data = answer.read()
            headers = [(k, v) for k, v in answer.getheaders()
                       if k.lower() not in ("content-length", "transfer-encoding", "connection")]
            return Response(data, answer.status, headers)
        finally:
            connection.close()

    def stop(self) -> None:
        self.service.stop()

    # -- state helpers for tests and the demo -------------------------------------------------

    def create(self, user: str, service: str = BEDROCK) -> tuple[str, str]:
        """A credential for ``user``, as the console would make it: (id, value the agent holds)."""
        with self._lock:
            made = self._make(user, service, None)
        return made.credential_id, (
            bedrock_api_key(made.alias, made.secret) if service == BEDROCK else made.secret
        )

    def statuses(self, user: str) -> dict[str, str]:
        with self._lock:
            return {c.credential_id: c.status for c in self.credentials.values() if c.user == user}

    # -- the five operations ------------------------------------------------------------------

    def _make(self, user: str, service: str, age: int | None) -> _Credential:
        made = _Credential(
            credential_id="ACCA" + secrets.token_hex(8).upper()[:17],
            user=user, service=service, status="Active", created=datetime.now(UTC),
            secret=secrets.token_urlsafe(30), age_days=age,
        )
        self.credentials[made.credential_id] = made
        return made

    def _CreateServiceSpecificCredential(self, p: dict[str, str]) -> Response:
        if not _user_exists(p["UserName"]):
            return _error("NoSuchEntity", f"The user with name {p['UserName']} cannot be found.",
                          404)
        held = [c for c in self.credentials.values()
                if c.user == p["UserName"] and c.service == p["ServiceName"]]
        if len(held) >= _PER_SERVICE:
            return _error("LimitExceeded", "Cannot exceed quota for "
                          "ServiceSpecificCredentialsPerUserPerService: 2", 409)
        age = int(p["CredentialAgeDays"]) if "CredentialAgeDays" in p else None
        made = self._make(p["UserName"], p["ServiceName"], age)
        inner = f"<ServiceSpecificCredential>{made.metadata_xml(with_secret=True)}" \
                "</ServiceSpecificCredential>"
        return _result("CreateServiceSpecificCredential", inner)

    def _ListServiceSpecificCredentials(self, p: dict[str, str]) -> Response:
        if p.get("AllUsers") == "true" and "UserName" in p:
            return _error("InvalidInput", "AllUsers cannot be specified together with UserName",
                          400)
        user = p.get("UserName")
        if user is not None and not _user_exists(user):
            return _error("NoSuchEntity", f"The user with name {user} cannot be found.", 404)
        found = sorted(
            (c for c in self.credentials.values()
             if (user is None or c.user == user)
             and ("ServiceName" not in p or c.service == p["ServiceName"])),
            key=lambda c: c.credential_id,
        )
        start = next((i for i, c in enumerate(found) if c.credential_id == p.get("Marker")), 0)
        limit = int(p.get("MaxItems", "100"))
        page, rest = found[start:start + limit], found[start + limit:]
        members = "".join(f"<member>{c.metadata_xml()}</member>" for c in page)
        inner = f"<ServiceSpecificCredentials>{members}</ServiceSpecificCredentials>" + (
            f"<IsTruncated>true</IsTruncated><Marker>{rest[0].credential_id}</Marker>"
            if rest else "<IsTruncated>false</IsTruncated>"
        )
        return _result("ListServiceSpecificCredentials", inner)

    def _owned(self, p: dict[str, str]) -> _Credential | Response:
        found = self.credentials.get(p["ServiceSpecificCredentialId"])
        if found is None or ("UserName" in p and found.user != p["UserName"]):
            return _error("NoSuchEntity", "The Service Specific Credential with id "
                          f"{p['ServiceSpecificCredentialId']} cannot be found.", 404)
        return found

    def _UpdateServiceSpecificCredential(self, p: dict[str, str]) -> Response:
        found = self._owned(p)
        if isinstance(found, Response):
            return found
        found.status = p["Status"]
        return _result("UpdateServiceSpecificCredential", "")

    def _DeleteServiceSpecificCredential(self, p: dict[str, str]) -> Response:
        found = self._owned(p)
        if isinstance(found, Response):
            return found
        del self.credentials[found.credential_id]
        return _result("DeleteServiceSpecificCredential", "")

    def _ResetServiceSpecificCredential(self, p: dict[str, str]) -> Response:
        found = self._owned(p)
        if isinstance(found, Response):
            return found
        found.secret = secrets.token_urlsafe(30)
        inner = f"<ServiceSpecificCredential>{found.metadata_xml(with_secret=True)}" \
                "</ServiceSpecificCredential>"
        return _result("ResetServiceSpecificCredential", inner)


def _action_of(request: Request) -> tuple[str, dict[str, str]]:
    fields = parse_qs(request.get_data(as_text=True), keep_blank_values=True)
    fields.update(parse_qs(request.query_string.decode(), keep_blank_values=True))
    params = {k: v[-1] for k, v in fields.items() if k not in ("Action", "Version")}
    return (fields.get("Action") or [""])[-1], params


def _user_exists(user: str) -> bool:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    try:
        iam_backends[DEFAULT_ACCOUNT_ID]["global"].get_user(user)
    except Exception:
        return False
    return True


def _result(action: str, inner: str) -> Response:
    body = (
        f'<{action}Response xmlns="{_NS}">'
        + (f"<{action}Result>{inner}</{action}Result>" if inner else "")
        + f"<ResponseMetadata><RequestId>{secrets.token_hex(8)}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )
    return Response(body, 200, content_type="text/xml")


def _error(code: str, message: str, status: int) -> Response:
    body = (
        f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error>"
        f"<RequestId>{secrets.token_hex(8)}</RequestId></ErrorResponse>"
    )
    return Response(body, status, content_type="text/xml")
