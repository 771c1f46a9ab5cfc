"""The process that sends clawback's notifications: ``python -m clawback.notify_worker``.

It reads JSON lines on stdin: first ``{"urls", "timeout", "incident_dir"}``, then one message
per line (``title``, ``body``, and the ``checkpoint`` it ships, if any). Each message goes to
each destination through Apprise, one after the other, each bounded by Apprise's connect and
read timeouts; every message that carries a checkpoint is recorded in the incident's
``shipped.jsonl``. A process of its own: Apprise's imports and a hanging receiver cost the
containing process nothing, not even the interpreter's lock.

The URLs arrive on stdin (never argv or the environment, which others can read) and are never
written or logged: Apprise's own log is silenced, since its messages can quote a URL.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def destination_label(url: str) -> str:
    """What may be shown of a destination: its scheme, and its host when that is an address
    or a DNS name (``ntfy://TOPIC`` and ``slack://T/B/X`` keep their secret parts to
    themselves)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "notification"
    scheme = parts.scheme or "notification"
    shown = ""
    try:
        ipaddress.ip_address(host)
        shown = host if ":" not in host else f"[{host}]"
    except ValueError:
        if "." in host or host == "localhost":
            shown = host
    if not shown:
        return scheme
    return f"{scheme}://{shown}" + (f":{port}" if port else "")


def _with_timeouts(url: str, timeout: float) -> str:
    """Apprise's per-URL connect (``cto``) and read (``rto``) timeouts."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}cto={timeout:g}&rto={timeout:g}"


def main() -> int:
    logging.getLogger("apprise").addHandler(logging.NullHandler())
    logging.getLogger("apprise").propagate = False
    first = sys.stdin.readline()
    if not first:
        return 0
    header: dict[str, Any] = json.loads(first)
    incident_dir = Path(header["incident_dir"])
    timeout = float(header.get("timeout") or 10)
    import apprise

    senders = []
    for url in header.get("urls") or []:
        app = apprise.Apprise()
        if app.add(_with_timeouts(url, timeout)):
            senders.append((destination_label(url), app))
        else:
            print(f"not an Apprise URL we can use: {destination_label(url)}", flush=True)
    del header
    from clawback.shipping import record_shipment

    for line in sys.stdin:
        message: dict[str, Any] = json.loads(line)
        delivered = []
        for label, app in senders:
            ok: object
            try:
                ok = app.notify(title=message["title"], body=message["body"])
            except Exception as exc:  # a plugin bug must not stop the next message
                print(f"{label}: {type(exc).__name__}", flush=True)
                ok = False
            if ok:
                delivered.append(label)
            else:
                print(f"{label}: not delivered: {message['title']}", flush=True)
        checkpoint = message.get("checkpoint")
        if checkpoint:
            record_shipment(incident_dir, checkpoint, destinations=tuple(delivered),
                            delivered=bool(delivered), final=bool(message.get("final")),
                            error="" if delivered else "no destination took it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
