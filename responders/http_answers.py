"""How a provider's HTTP answer becomes an outcome the runner understands.

The runner retries, a responder does not: so every answer is turned into a ``Failed`` that says
whether trying again can help (``retryable``) and when (``retry_after``), or into advice a human
can act on. The rules every provider shares:

- 429 (and, for GitHub, a 403 with the rate limit exhausted) → retryable, with ``retry_after``
  from ``retry-after-ms`` (OpenAI, Anthropic), ``Retry-After`` (seconds or an HTTP date), or
  GitHub's ``x-ratelimit-reset``;
- 5xx → retryable; a timeout or refused connection → retryable;
- 401 → the credential that was rejected is named, with where to fix it; 403 → what is missing;
- anything else → not retryable. A 404 is left to the caller: on a delete it means "already
  gone".

Provider error text is never repeated unless the caller passes it (``said``): some providers quote
part of a rejected key in it. httpx is imported inside the functions that use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

from responders.interface import Failed, Outcome, ResponderError

if TYPE_CHECKING:
    import httpx


class CallFailed(Exception):
    """A call whose answer already is the outcome; raised through helpers, caught at the top."""

    def __init__(self, status: int, failed: Failed) -> None:
        super().__init__(failed.error)
        self.status = status  # 0 when no answer came
        self.failed = failed


def as_outcome(call: Callable[[], Outcome]) -> Outcome:
    """``call()``, with a failed call or an unusable configuration turned into ``Failed``."""
    try:
        return call()
    except CallFailed as err:
        return err.failed
    except ResponderError as exc:
        return Failed(error=str(exc))


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: Any = None  # the decoded JSON; None when empty or not JSON


@dataclass(frozen=True)
class JsonObjectAnswer(HttpAnswer):
    """An answer from an API that always wraps its answer in a JSON object (Slack, Cloudflare):
    a body that is not one (empty, not JSON, a list) reads as ``{}``."""

    body: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, answer: HttpAnswer) -> Self:
        body = answer.body if isinstance(answer.body, Mapping) else {}
        return cls(answer.status, answer.headers, body)


def json_object(value: object) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else ``{}``: a provider's answer is read by shape, and
    a field of another shape reads as absent."""
    return value if isinstance(value, Mapping) else {}


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header's value whatever its case (SDKs hand headers over as plain dicts)."""
    wanted = name.lower()
    for key, value in (headers or {}).items():
        if key.lower() == wanted:
            return str(value)
    return None


def retry_after_seconds(
    headers: Mapping[str, str] | None, *, millis_first: bool = False
) -> float | None:
    """Seconds the provider asks us to wait: ``Retry-After`` (seconds or an HTTP date), read
    after ``retry-after-ms`` when ``millis_first``; None when it does not say."""
    if millis_first:
        millis = header(headers, "retry-after-ms")
        if millis:
            try:
                return max(float(millis) / 1000, 0.0)
            except ValueError:
                pass
    value = header(headers, "retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
        return max((when - datetime.now(UTC)).total_seconds(), 0.0)
    except (TypeError, ValueError):  # TypeError: a date without a zone
        return None


@dataclass(frozen=True)
class ProviderAnswers:
    """One provider's answers → outcomes, worded the way its runbooks and tests quote them.

    ``rate_limit`` follows "{provider}'s " and may use ``{status}``; ``wait`` introduces the
    seconds to wait; ``rejected`` follows "it is " after a 401; ``refused`` follows the provider's
    name for any other error status; ``invalid``, when set, words a 422 apart.
    """

    provider: str
    rate_limit: str = "rate limit is exhausted"
    wait: str = "retry in"
    rejected: str = "expired, revoked or wrong"
    refused: str = "answered HTTP {status}"
    invalid: str | None = None
    credential: str = "the admin token"  # what a 401 rejected, unless the caller says otherwise
    server_errors_wait: bool = False  # 5xx answers carry retry_after too
    retry_after_ms: bool = False  # the provider sends retry-after-ms
    github_rate_limit: bool = False  # x-ratelimit-remaining/-reset, and 403 as the rate limit

    def wait_seconds(self, headers: Mapping[str, str] | None) -> float | None:
        wait = retry_after_seconds(headers, millis_first=self.retry_after_ms)
        if wait is not None or not self.github_rate_limit:
            return wait
        reset = header(headers, "x-ratelimit-reset")
        if reset and header(headers, "x-ratelimit-remaining") == "0":
            try:
                return max(float(reset) - time.time(), 0.0)
            except ValueError:
                return None
        return None

    def is_rate_limited(self, status: int, headers: Mapping[str, str]) -> bool:
        if status == 429:
            return True
        # GitHub answers 403 for an exhausted primary or secondary rate limit.
        return (
            self.github_rate_limit
            and status == 403
            and (
                header(headers, "x-ratelimit-remaining") == "0"
                or header(headers, "retry-after") is not None
            )
        )

    def rate_limit_failure(
        self,
        action: str,
        status: int,
        headers: Mapping[str, str],
        facts: Mapping[str, Any] | None = None,
    ) -> Failed:
        wait = self.wait_seconds(headers)
        return Failed(
            error=f"{action}: {self.provider}'s {self.rate_limit.format(status=status)}"
            + (f"; {self.wait} {wait:.0f} s" if wait is not None else ""),
            retryable=True,
            retry_after=wait,
            facts=dict(facts or {}),
        )

    def failure_for_status(
        self,
        status: int,
        headers: Mapping[str, str],
        action: str,
        forbidden_advice: str,
        credential: str | None = None,
        *,
        said: str = "",
        facts: Mapping[str, Any] | None = None,
    ) -> Failed:
        """The outcome for an error answer (a 404 is the caller's business).

        ``forbidden_advice`` says what a 403 lacks; ``credential`` names what a 401 rejected;
        ``said`` is the provider's own (safe) error text, ready to append.
        """
        if self.is_rate_limited(status, headers):
            return self.rate_limit_failure(action, status, headers, facts)
        name, kept = self.provider, dict(facts or {})
        if status >= 500:
            return Failed(
                error=f"{action}: {name} answered HTTP {status}{said}",
                retryable=True,
                retry_after=self.wait_seconds(headers) if self.server_errors_wait else None,
                facts=kept,
            )
        if status == 401:
            return Failed(
                error=f"{action}: {name} rejected {credential or self.credential} (401){said}: "
                f"it is {self.rejected}",
                facts=kept,
            )
        if status == 403:
            return Failed(error=f"{action}: forbidden (403){said}: {forbidden_advice}", facts=kept)
        if status == 422 and self.invalid is not None:
            return Failed(error=f"{action}: {name} {self.invalid}", facts=kept)
        return Failed(
            error=f"{action}: {name} {self.refused.format(status=status)}{said}", facts=kept
        )

    def still_accepted(
        self, answer: HttpAnswer, action: str, what: str, facts: Mapping[str, Any]
    ) -> Failed:
        """The outcome of a call made with a revoked ``what`` that did not get 401.

        A success, or a 403 that is not the rate limit, means the provider still knows the
        credential: retryable, since a revocation can take a moment to spread. Anything else is
        an error answer like any other.
        """
        failed = self.failure_for_status(answer.status, answer.headers, action, "")
        if answer.status < 300 or (answer.status == 403 and not failed.retryable):
            return Failed(
                error=f"{self.provider} still accepts the {what} (HTTP {answer.status})",
                retryable=True,
                facts=dict(facts),
            )
        return replace(failed, facts=dict(facts))

    def failure_for_transport(self, exc: Exception, action: str) -> Failed | None:
        """A timeout or connection problem from httpx, else None."""
        import httpx

        if isinstance(exc, httpx.TimeoutException):
            return Failed(error=f"{action}: {self.provider} did not answer in time", retryable=True)
        if isinstance(exc, httpx.TransportError):
            return Failed(
                error=f"{action}: cannot reach {self.provider} ({type(exc).__name__})",
                retryable=True,
            )
        return None

    def send(
        self, client: httpx.Client, method: str, path: str, action: str, **request: Any
    ) -> HttpAnswer:
        """One request through an httpx client; an error answer is returned, a transport
        failure raised as CallFailed."""
        try:
            response = client.request(method, path, **request)
        except Exception as exc:
            failed = self.failure_for_transport(exc, action)
            if failed is None:
                raise
            raise CallFailed(0, failed) from None
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return HttpAnswer(response.status_code, dict(response.headers), body)


def listing_page(answer: HttpAnswer, action: str, provider: str) -> Mapping[str, Any]:
    """The body of a successful listing answer, which must be an object with a ``data`` list.

    Anything else (a truncated or garbled body) is an unreadable answer, retried: reading it
    as an empty listing would make live keys look like someone else's.
    """
    body = answer.body
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
        raise CallFailed(
            answer.status,
            Failed(error=f"{action}: {provider} answered {answer.status} with a body that is "
                   "not the documented listing; nothing was concluded from it", retryable=True),
        )
    return body
