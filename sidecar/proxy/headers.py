"""Pure functions over header multidicts: hop-by-hop filtering and forwarding headers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy

#: RFC 9110 §7.6.1 connection-specific fields, plus ``Proxy-Connection`` which clients still send.
HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

#: Request headers aiohttp's client would invent if the client did not send them; the proxy must not.
CLIENT_AUTO_HEADERS: Final = ("Accept", "Accept-Encoding", "User-Agent")


def _connection_tokens(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> set[str]:
    """Header names listed in ``Connection`` are hop-by-hop too (RFC 9110 §7.6.1)."""
    tokens: set[str] = set()
    for value in headers.getall("Connection", ()):
        tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


def _end_to_end(
    headers: CIMultiDictProxy[str] | CIMultiDict[str], also_drop: Iterable[str]
) -> CIMultiDict[str]:
    drop = HOP_BY_HOP | _connection_tokens(headers) | {h.lower() for h in also_drop}
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in drop)


def upstream_request_headers(
    headers: CIMultiDictProxy[str],
    *,
    upstream_host: str,
    client_ip: str | None,
    scheme: str,
) -> CIMultiDict[str]:
    """Headers to send upstream: end-to-end ones, ``Host`` set to the upstream, forwarding headers added.

    ``Content-Length`` is dropped because the client library sets it from the body it sends, and
    ``Expect`` because the proxy has already answered ``100 Continue`` and holds the whole body.
    """
    out = _end_to_end(headers, ("host", "content-length", "expect"))
    out["Host"] = upstream_host
    if client_ip:
        prior = headers.get("X-Forwarded-For")
        out["X-Forwarded-For"] = f"{prior}, {client_ip}" if prior else client_ip
    out.setdefault("X-Forwarded-Proto", scheme)
    original_host = headers.get("Host")
    if original_host:
        out.setdefault("X-Forwarded-Host", original_host)
    return out


def client_response_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """Headers to send to the client: the upstream's end-to-end headers, unchanged.

    ``Content-Length`` is kept (the body is passed through unchanged, so it stays true).
    """
    return _end_to_end(headers, ())


def skipped_auto_headers(headers: CIMultiDictProxy[str]) -> tuple[str, ...]:
    """Auto headers the client did not send, so the upstream request does not grow them either."""
    return tuple(h for h in CLIENT_AUTO_HEADERS if h not in headers)
