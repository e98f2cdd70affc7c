"""Pure functions over header multidicts: hop-by-hop filtering and forwarding headers."""

from __future__ import annotations

import re
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
CLIENT_AUTO_HEADERS: Final = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


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


#: Forwarding headers whose entries must each be a valid ``host[:port]``.
FORWARDED_HOST_HEADERS: Final = ("X-Forwarded-Host",)

_HOST: Final = re.compile(r"(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9._-]{1,253})(?::[0-9]{1,5})?")


def valid_host(text: str) -> bool:
    """``text`` is a host name, IPv4 or bracketed IPv6 address, with an optional port."""
    return _HOST.fullmatch(text) is not None


def upstream_request_headers(
    headers: CIMultiDictProxy[str],
    *,
    upstream_host: str,
    client_ip: str | None,
    scheme: str,
) -> CIMultiDict[str]:
    """Headers to send upstream: end-to-end ones, ``Host`` set to the upstream, forwarding headers
    appended.

    ``Content-Length`` and ``Transfer-Encoding`` are set by the upstream send from the body it
    writes (the client's own framing when the body is streamed), and ``Expect`` is dropped because
    the proxy answers ``100 Continue`` itself.

    Forwarding headers follow one rule: what earlier hops wrote is kept and this hop appends its
    own entry, so the last entry of each is always the sidecar's view (the client address, the
    scheme and the ``Host`` it was sent). ``X-Forwarded-For``, ``X-Forwarded-Proto``,
    ``X-Forwarded-Host`` get a comma-separated entry, ``Forwarded`` (RFC 7239) an element.
    """
    out = _end_to_end(headers, ("host", "content-length", "expect", *_FORWARDING))
    out["Host"] = upstream_host
    original_host = headers.get("Host") or None
    _append(out, headers, "X-Forwarded-For", client_ip)
    _append(out, headers, "X-Forwarded-Proto", scheme)
    _append(out, headers, "X-Forwarded-Host", original_host)
    element = ";".join(
        f"{key}={_quoted(value)}"
        for key, value in (("for", _node(client_ip)), ("host", original_host), ("proto", scheme))
        if value
    )
    _append(out, headers, "Forwarded", element)
    return out


_FORWARDING: Final = ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded")
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _append(out: CIMultiDict[str], headers: CIMultiDictProxy[str], name: str, value: str | None) -> None:
    entries = [v.strip() for v in headers.getall(name, ()) if v.strip()]
    if value:
        entries.append(value)
    if entries:
        out[name] = ", ".join(entries)


def _node(ip: str | None) -> str | None:
    return f"[{ip}]" if ip and ":" in ip else ip


def _quoted(value: str) -> str:
    return value if _TOKEN.fullmatch(value) else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def client_response_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """Headers to send to the client: the upstream's end-to-end headers, unchanged.

    ``Content-Length`` is kept (the body is passed through unchanged, so it stays true).
    """
    return _end_to_end(headers, ())


def skipped_auto_headers(headers: CIMultiDictProxy[str]) -> tuple[str, ...]:
    """Auto headers the client did not send, so the upstream request does not grow them either."""
    return tuple(h for h in CLIENT_AUTO_HEADERS if h not in headers)


#: Bytes no header name or value may carry (RFC 9110 §5.5): controls other than HTAB, and DEL.
_CONTROL: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def upstream_head_problem(status: int, raw_headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Why an upstream response head must not be passed on (the client gets 502), or None.

    A status outside 100-599, a ``101`` the proxy never asked for (it forwards no ``Upgrade``),
    and header bytes a careful parser refuses (line folding, control characters).
    """
    if not 100 <= status <= 599 or status == 101:
        return "invalid status"
    for name, value in raw_headers:
        if _CONTROL.search(name) or _CONTROL.search(value):
            return "invalid header"
    return None
