"""Calling a deployed, armed workflow's webhook as a sender outside Weft
does: plain HTTP with the body signed by HMAC-SHA256 over
``<unix seconds>.<body>`` (``X-Weft-Signature: sha256=<hex>`` and
``X-Weft-Timestamp``). Standard library only, so senders need nothing more."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Optional

from weftflow._json import JSON


class WebhookRefused(Exception):
    """The server refused the call: ``status`` is the HTTP status (401 bad
    secret or signature, 404 unknown or undeployed, 409 not armed or
    already fired, 410 window over) and ``body`` its JSON error body."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"webhook refused ({status}): {body}")
        self.status = status
        self.body = body


def fire_webhook(webhook_url: str, secret: str, body: JSON = None, *, timestamp: Optional[int] = None) -> str:
    """Calls ``webhook_url`` with ``body`` as JSON, signed with ``secret``;
    returns the id of the run it started."""
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        webhook_url,
        data=raw,
        method="POST",
        headers={"content-type": "application/json", "x-weft-timestamp": stamp, "x-weft-signature": f"sha256={mac}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        raise WebhookRefused(error.code, error.read().decode(errors="replace")) from None
    return str(answer.get("runId") or answer.get("run_id") or "")
