"""Checks on a request head before anything is forwarded (or ``100 Continue`` is said).

Each returns a :class:`Refusal` naming what was wrong, or None. Messages never quote a header value
or the query string: they name the header or the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from multidict import CIMultiDictProxy

from sidecar.proxy.headers import FORWARDED_HOST_HEADERS, valid_host


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    error_type: str
    message: str


#: Surrogates stand for bytes that were not UTF-8 (the server decodes header values with
#: ``surrogateescape``); the upstream client would drop them, so such a request is refused.
_NOT_UTF8: Final = re.compile("[\udc80-\udcff]")


def check_head(request: web.BaseRequest, *, max_body_bytes: int) -> Refusal | None:
    """Everything decidable from the request head, in the order a client would want to hear it."""
    major, minor = request.version
    if major >= 2:
        return Refusal(505, "http_version_not_supported", f"HTTP/{major}.{minor} is not supported")
    if major < 1:
        return Refusal(400, "bad_request", f"HTTP/{major}.{minor} requests are not supported")
    refusal = _check_headers(request.headers)
    if refusal is not None:
        return refusal
    declared = request.content_length
    if declared is not None and declared > max_body_bytes:
        return Refusal(
            413,
            "request_too_large",
            f"request body exceeds listener.max_body_bytes ({max_body_bytes} bytes)",
        )
    if not request.raw_path.startswith("/"):  # absolute-form targets never choose the upstream
        return Refusal(400, "bad_request", "request target must be a path")
    return None


def _check_headers(headers: CIMultiDictProxy[str]) -> Refusal | None:
    for name, value in headers.items():
        if _NOT_UTF8.search(value):
            return Refusal(400, "bad_request", f"header {name} is not valid UTF-8")
    codings = [c for v in headers.getall("Transfer-Encoding", ()) for c in v.split(",")]
    if codings and [c.strip().lower() for c in codings] != ["chunked"]:
        # As nginx: only ``chunked`` is understood; any other coding is not implemented.
        return Refusal(501, "not_implemented", "Transfer-Encoding other than chunked is not supported")
    hosts = headers.getall("Host", ())
    if len(hosts) > 1 or (hosts and hosts[0] and not valid_host(hosts[0])):
        return Refusal(400, "bad_request", "header Host is not a valid host")
    for name in FORWARDED_HOST_HEADERS:
        for value in headers.getall(name, ()):
            if not all(valid_host(part.strip()) for part in value.split(",")):
                return Refusal(400, "bad_request", f"header {name} is not a valid host")
    return None
