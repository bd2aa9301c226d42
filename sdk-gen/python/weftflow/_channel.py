"""Channels from a base URL: ``http://host:port`` (plaintext HTTP/2),
``https://host:port`` (TLS), or a bare ``host:port``."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

import grpc
import grpc.aio

Metadata = Tuple[Tuple[str, str], ...]

# Long polls and streams sit idle for a while; keepalives keep NATs and
# proxies from dropping them silently.
_OPTIONS: List[Tuple[str, int]] = [("grpc.keepalive_time_ms", 30_000)]


def _target(base_url: str) -> Tuple[str, bool]:
    if "://" not in base_url:
        return base_url, False
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"weft: base_url must be http://host:port or https://host:port, not {base_url!r}")
    return parts.netloc, parts.scheme == "https"


def sync_channel(base_url: str) -> grpc.Channel:
    target, tls = _target(base_url)
    if tls:
        return grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=_OPTIONS)
    return grpc.insecure_channel(target, options=_OPTIONS)


def aio_channel(base_url: str) -> grpc.aio.Channel:
    target, tls = _target(base_url)
    if tls:
        return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(), options=_OPTIONS)
    return grpc.aio.insecure_channel(target, options=_OPTIONS)


def call_metadata(api_key: Optional[str], headers: Optional[Sequence[Tuple[str, str]]]) -> Metadata:
    pairs = [(k.lower(), v) for k, v in (headers or ())]
    if api_key:
        pairs.append(("authorization", f"Bearer {api_key}"))
    return tuple(pairs)
