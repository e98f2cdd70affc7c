"""Per-process proxy state, held under a typed AppKey."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web
from yarl import URL

from sidecar.config import Config, upstream_origin
from sidecar.genai.provider import UpstreamProvider
from sidecar.genai.registry import Route
from sidecar.proxy.request_body import BodyLimits, BufferBudget
from sidecar.proxy.usage_injection import UsageInjector
from sidecar.telemetry.pipeline import Telemetry


@dataclass(slots=True, kw_only=True)
class ProxyState:
    """Everything a request handler needs, built once per process."""

    config: Config
    telemetry: Telemetry
    upstream: URL
    upstream_host_header: str
    #: ``scheme://host:port`` of the upstream: all an error message may say about where it is.
    upstream_origin: str
    routes: tuple[Route, ...]
    #: Request-body limits (size on the wire, parse cap, read timeout).
    body_limits: BodyLimits
    #: Request-body bytes held in memory, across all requests.
    budget: BufferBudget
    #: Whether to add ``include_usage`` to a request, and the paths whose upstream refused it.
    usage: UsageInjector
    #: The provider the upstream's responses revealed (used when ``genai.provider`` is empty).
    provider: UpstreamProvider
    #: Pooled keep-alive session (set by the cleanup context).
    session: aiohttp.ClientSession | None = None
    #: One-shot connections, used to retry a request whose pooled connection the server had closed.
    fresh_session: aiohttp.ClientSession | None = None
    #: True once shutdown began: /readyz answers 503.
    draining: bool = False
    #: Requests in flight (reported by /readyz and at shutdown).
    in_flight: int = 0


STATE: web.AppKey[ProxyState] = web.AppKey("state", ProxyState)


def make_state(config: Config, telemetry: Telemetry) -> ProxyState:
    scheme, host, port = upstream_origin(config.upstream.url)
    default_port = 443 if scheme == "https" else 80
    host_header = host if port == default_port else f"{host}:{port}"
    if ":" in host and not host.startswith("["):  # IPv6 literal
        host_header = f"[{host}]" if port == default_port else f"[{host}]:{port}"
    bracketed = f"[{host}]" if ":" in host else host
    listener = config.listener
    routes = tuple(
        Route(path_prefix=r.path_prefix, dialect=r.dialect, provider=r.provider or None)
        for r in config.genai.routes
    )
    return ProxyState(
        config=config,
        telemetry=telemetry,
        upstream=URL(config.upstream.url.rstrip("/")),
        upstream_host_header=host_header,
        upstream_origin=f"{scheme}://{bracketed}:{port}",
        routes=routes,
        body_limits=BodyLimits(
            max_body_bytes=listener.max_body_bytes,
            max_parse_bytes=listener.max_parse_bytes,
            timeout_s=listener.body_timeout_s,
        ),
        budget=BufferBudget(listener.max_buffered_bytes),
        usage=UsageInjector(config.genai.inject_include_usage),
        provider=UpstreamProvider(),
    )
