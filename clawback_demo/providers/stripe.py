"""A loopback Stripe account: balance, webhook endpoints and events.

As Stripe documents it: every call is authorized by a key (401 for an unknown or rolled one; 403
``secret_key_required`` for a restricted key without the webhooks or events permission, which
still reads the balance), lists page with ``starting_after``/``has_more``, and an endpoint's
signing ``secret`` is returned once, at creation. The tests serve this same stand-in
(``tests/providers_ops``). A key cannot be rolled through the API, so none can be here; a
disabled or deleted endpoint no longer delivers, which is what "dead" means for its secret.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from clawback_demo.providers.loopback import json_response

API_VERSION = "2023-08-16"  # the newest version the trimmed description knows


def stripe_error(
    status: int, message: str, code: str | None = None, *, kind: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
) -> Response:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    return json_response({"error": error}, status, headers)


@dataclass
class StripeAccount:
    keys: dict[str, set[str]] = field(default_factory=dict)  # key → forbidden areas
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    endpoint_secrets: dict[str, str] = field(default_factory=dict)  # endpoint id → whsec_
    events: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 10
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- seeding ------------------------------------------------------------------------------

    def add_key(
        self, value: str | None = None, prefix: str = "sk_live_", *,
        forbidden: set[str] | None = None,
    ) -> str:
        """A key that authorizes calls; a restricted one is refused the ``forbidden`` areas
        ("webhooks", "events")."""
        value = value or prefix + secrets.token_hex(24)
        self.keys[value] = set(forbidden or ())
        return value

    def add_endpoint(
        self, url: str = "https://hooks.example.com/stripe", secret: str | None = None, **more: Any
    ) -> str:
        endpoint_id = "we_" + secrets.token_hex(12)
        self.endpoints[endpoint_id] = {
            "id": endpoint_id,
            "object": "webhook_endpoint",
            "api_version": API_VERSION,
            "application": None,
            "created": int(time.time()) - 86_400 * 40,
            "description": None,
            "enabled_events": ["charge.succeeded", "customer.created"],
            "livemode": True,
            "metadata": {},
            "status": "enabled",
            "url": url,
            **more,
        }
        self.endpoint_secrets[endpoint_id] = secret or "whsec_" + secrets.token_urlsafe(24)
        return endpoint_id

    def add_event(
        self, age_days: float, event_type: str = "customer.created", **data: Any
    ) -> str:
        """An event ``age_days`` old about a customer (``data``: more of the customer's fields,
        such as a description the agent wrote)."""
        event_id = "evt_" + secrets.token_hex(12)
        customer = {"id": "cus_" + secrets.token_hex(6), "object": "customer", **data}
        self.events.append(
            {
                "id": event_id,
                "object": "event",
                "api_version": API_VERSION,
                "created": int(time.time() - age_days * 86_400),
                "data": {"object": customer},
                "livemode": True,
                "pending_webhooks": 0,
                "request": {"id": "req_" + secrets.token_hex(6), "idempotency_key": None},
                "type": event_type,
            }
        )
        self.events.sort(key=lambda e: -e["created"])  # newest first, as Stripe lists them
        return event_id

    def is_live(self, value: str) -> bool:
        """A key still authorizes calls, or a signing secret still signs live deliveries."""
        with self._lock:
            if value in self.keys:
                return True
            return any(
                secret == value and self.endpoints.get(endpoint_id, {}).get("status") == "enabled"
                for endpoint_id, secret in self.endpoint_secrets.items()
            )

    # -- serving ------------------------------------------------------------------------------

    def answer(self, request: Request) -> Response:
        endpoint = "/v1/webhook_endpoints/we_[A-Za-z0-9]+"
        routes: tuple[tuple[str, str, Callable[[Request], Response]], ...] = (
            ("GET", "/v1/balance", self._balance),
            ("GET", "/v1/webhook_endpoints", self._list_endpoints),
            ("POST", "/v1/webhook_endpoints", self._create_endpoint),
            ("GET", endpoint, self._get_endpoint),
            ("POST", endpoint, self._update_endpoint),
            ("DELETE", endpoint, self._delete_endpoint),
            ("GET", "/v1/events", self._list_events),
        )
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self._lock:
            if key not in self.keys:
                # Stripe echoes part of the key here; the stand-in does not, so no log can hold it.
                return stripe_error(401, "Invalid API Key provided")
            area = "events" if request.path.startswith("/v1/events") else "webhooks"
            if area in self.keys[key] and request.path != "/v1/balance":
                return stripe_error(
                    403, "The provided key does not have the required permissions.",
                    "secret_key_required",
                )
            for method, pattern, handler in routes:
                if request.method == method and re.fullmatch(pattern, request.path):
                    return handler(request)
        return stripe_error(404, f"Unrecognized request URL ({request.method}: {request.path})")

    def _page(self, items: list[dict[str, Any]], request: Request, url: str) -> Response:
        after = request.args.get("starting_after")
        if after:
            ids = [i["id"] for i in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        limit = min(int(request.args.get("limit", 10)), self.page_size)
        return json_response(
            {"object": "list", "url": url, "has_more": len(items) > limit, "data": items[:limit]}
        )

    def _balance(self, request: Request) -> Response:
        funds = [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}]
        return json_response(
            {"object": "balance", "livemode": True, "available": funds, "pending": funds}
        )

    def _list_endpoints(self, request: Request) -> Response:
        return self._page(list(self.endpoints.values()), request, "/v1/webhook_endpoints")

    def _endpoint_id(self, request: Request) -> str:
        return request.path.rsplit("/", 1)[1]

    def _missing(self, request: Request) -> Response:
        return stripe_error(
            404, f"No such webhook endpoint: '{self._endpoint_id(request)}'", "resource_missing"
        )

    def _get_endpoint(self, request: Request) -> Response:
        endpoint = self.endpoints.get(self._endpoint_id(request))
        return json_response(endpoint) if endpoint else self._missing(request)

    def _update_endpoint(self, request: Request) -> Response:
        endpoint = self.endpoints.get(self._endpoint_id(request))
        if endpoint is None:
            return self._missing(request)
        if "disabled" in request.form:
            endpoint["status"] = "disabled" if request.form["disabled"] == "true" else "enabled"
        return json_response(endpoint)

    def _delete_endpoint(self, request: Request) -> Response:
        endpoint_id = self._endpoint_id(request)
        endpoint = self.endpoints.pop(endpoint_id, None)
        if endpoint is None:
            return self._missing(request)
        self.endpoint_secrets.pop(endpoint_id, None)
        return json_response({"id": endpoint_id, "object": "webhook_endpoint", "deleted": True})

    def _create_endpoint(self, request: Request) -> Response:
        form = request.form
        events = [
            v for k, v in form.items(multi=True) if re.fullmatch(r"enabled_events\[\d*\]", k)
        ]
        metadata = {
            k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")
        }
        endpoint_id = self.add_endpoint(
            form["url"],
            enabled_events=events,
            api_version=form.get("api_version", API_VERSION),
            description=form.get("description"),
            metadata=metadata,
            created=int(time.time()),
        )
        return json_response(
            {**self.endpoints[endpoint_id], "secret": self.endpoint_secrets[endpoint_id]}
        )

    def _list_events(self, request: Request) -> Response:
        since = int(request.args.get("created[gte]", 0))
        recent = [e for e in self.events if e["created"] >= since]
        return self._page(recent, request, "/v1/events")

