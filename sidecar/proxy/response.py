"""The client's response: the upstream's head as it came, nothing added but what HTTP requires."""

from __future__ import annotations

from aiohttp import hdrs, web


class PassThroughResponse(web.StreamResponse):
    """A ``StreamResponse`` that invents no ``Content-Type`` and no ``Server`` header.

    aiohttp adds ``Content-Type: application/octet-stream`` to a body without one and its own
    ``Server``; a transparent proxy passes what the upstream sent. ``Date`` is still added when the
    upstream sent none, as RFC 9110 §6.6.1 asks of a forwarding recipient with a clock.
    """

    async def _prepare_headers(self) -> None:
        headers = self.headers
        had_type = hdrs.CONTENT_TYPE in headers
        had_server = hdrs.SERVER in headers
        await super()._prepare_headers()
        if not had_type:
            headers.popall(hdrs.CONTENT_TYPE, None)
        if not had_server:
            headers.popall(hdrs.SERVER, None)
