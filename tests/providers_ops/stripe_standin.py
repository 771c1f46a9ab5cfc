"""Stripe's webhook-endpoint, events and balance API as a stateful answer set for
``ContractServer``.

Every request is still checked against Stripe's description (with the documented openapi-core
workaround); this only decides what to answer, the way Stripe documents it: keys are checked on
every call, lists page with ``starting_after``/``has_more``, an endpoint's ``secret`` is returned
only at creation.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from werkzeug import Request, Response

from tests.contract_server import ContractServer

STRIPE_API_VERSION = "2023-08-16"  # the newest version the stale description knows


def stripe_error(
    status: int, kind: str, message: str, code: str | None = None, **headers: str
) -> Response:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    return Response(
        json.dumps({"error": error}), status=status, headers=headers, mimetype="application/json"
    )


def stripe_json(body: Any) -> Response:
    return Response(json.dumps(body), status=200, mimetype="application/json")


class StripeAccount:
    """One Stripe account: its keys, webhook endpoints and event history."""

    def __init__(self, contract: ContractServer, *, page_size: int = 2) -> None:
        self.contract = contract
        self.page_size = page_size  # smaller than the SDK's limit, so paging is exercised
        self.keys: dict[str, set[str]] = {}  # live key → forbidden areas ("webhooks", "events")
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.created_secrets: dict[str, str] = {}
        # Called with each request before it is answered; may return an answer of its own.
        self.intercept: Callable[[Request], Response | None] = lambda request: None
        endpoint = "/v1/webhook_endpoints/we_[A-Za-z0-9]+"
        for method, path, handler in (
            ("GET", "/v1/balance", self._balance),
            ("GET", "/v1/webhook_endpoints", self._list_endpoints),
            ("POST", "/v1/webhook_endpoints", self._create_endpoint),
            ("GET", endpoint, self._get_endpoint),
            ("POST", endpoint, self._update_endpoint),
            ("DELETE", endpoint, self._delete_endpoint),
            ("GET", "/v1/events", self._list_events),
        ):
            contract.answer(method, path, self._guarded(handler))

    # -- arranging ----------------------------------------------------------------------------

    def key(self, prefix: str = "sk_live_", *, forbidden: set[str] | None = None) -> str:
        value = prefix + secrets.token_hex(24)
        self.keys[value] = forbidden or set()
        return value

    def endpoint(
        self, url: str = "https://hooks.example.com/stripe", status: str = "enabled", **more: Any
    ) -> str:
        endpoint_id = "we_" + secrets.token_hex(12)
        self.endpoints[endpoint_id] = {
            "id": endpoint_id,
            "object": "webhook_endpoint",
            "api_version": STRIPE_API_VERSION,
            "application": None,
            "created": int(time.time()) - 86_400,
            "description": None,
            "enabled_events": ["charge.succeeded", "customer.created"],
            "livemode": True,
            "metadata": {},
            "status": status,
            "url": url,
            **more,
        }
        return endpoint_id

    def event(self, age_days: float, **data: Any) -> str:
        event_id = "evt_" + secrets.token_hex(12)
        self.events.insert(  # newest first, as Stripe lists them
            0,
            {
                "id": event_id,
                "object": "event",
                "api_version": STRIPE_API_VERSION,
                "created": int(time.time() - age_days * 86_400),
                "data": {
                    "object": {"id": "cus_" + secrets.token_hex(6), "object": "customer", **data}
                },
                "livemode": True,
                "pending_webhooks": 0,
                "request": {"id": "req_" + secrets.token_hex(6), "idempotency_key": None},
                "type": "customer.created",
            },
        )
        self.events.sort(key=lambda e: -e["created"])
        return event_id

    # -- answering ----------------------------------------------------------------------------

    def _guarded(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def answer(request: Request) -> Response:
            intercepted = self.intercept(request)
            if intercepted is not None:
                return intercepted
            key = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if key not in self.keys:
                return stripe_error(
                    401,
                    "invalid_request_error",
                    f"Invalid API Key provided: {key[:8]}****{key[-4:]}",
                )
            area = "events" if request.path.startswith("/v1/events") else "webhooks"
            if area in self.keys[key] and request.path != "/v1/balance":
                return stripe_error(
                    403,
                    "invalid_request_error",
                    "The provided key does not have the required permissions.",
                    "secret_key_required",
                )
            return handler(request)

        return answer

    def _page(self, items: list[dict[str, Any]], request: Request, url: str) -> Response:
        after = request.args.get("starting_after")
        if after:
            ids = [i["id"] for i in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        limit = min(int(request.args.get("limit", 10)), self.page_size)
        return stripe_json(
            {"object": "list", "url": url, "has_more": len(items) > limit, "data": items[:limit]}
        )

    def _balance(self, request: Request) -> Response:
        return stripe_json(
            {
                "object": "balance",
                "livemode": True,
                "available": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
                "pending": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
            }
        )

    def _list_endpoints(self, request: Request) -> Response:
        return self._page(list(self.endpoints.values()), request, "/v1/webhook_endpoints")

    def _target(self, request: Request) -> dict[str, Any] | None:
        return self.endpoints.get(request.path.rsplit("/", 1)[1])

    def _missing(self, request: Request) -> Response:
        return stripe_error(
            404,
            "invalid_request_error",
            f"No such webhook endpoint: '{request.path.rsplit('/', 1)[1]}'",
            "resource_missing",
        )

    def _get_endpoint(self, request: Request) -> Response:
        endpoint = self._target(request)
        return stripe_json(endpoint) if endpoint else self._missing(request)

    def _update_endpoint(self, request: Request) -> Response:
        endpoint = self._target(request)
        if endpoint is None:
            return self._missing(request)
        if "disabled" in request.form:
            endpoint["status"] = "disabled" if request.form["disabled"] == "true" else "enabled"
        return stripe_json(endpoint)

    def _delete_endpoint(self, request: Request) -> Response:
        endpoint = self.endpoints.pop(request.path.rsplit("/", 1)[1], None)
        if endpoint is None:
            return self._missing(request)
        return stripe_json({"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True})

    def _create_endpoint(self, request: Request) -> Response:
        form = request.form
        events = [v for k, v in form.items(multi=True) if re.fullmatch(r"enabled_events\[\d*\]", k)]
        metadata = {
            k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")
        }
        endpoint_id = self.endpoint(
            url=form["url"],
            enabled_events=events,
            api_version=form.get("api_version"),
            description=form.get("description"),
            metadata=metadata,
        )
        secret = "whsec_" + secrets.token_urlsafe(24)
        self.created_secrets[endpoint_id] = secret
        return stripe_json({**self.endpoints[endpoint_id], "secret": secret})

    def _list_events(self, request: Request) -> Response:
        since = int(request.args.get("created[gte]", 0))
        recent = [e for e in self.events if e["created"] >= since]
        return self._page(recent, request, "/v1/events")
