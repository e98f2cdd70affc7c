"""Identity and tenancy span attributes from request headers (opt-in, spans only).

Configured headers become ``genai_sidecar.<name>`` span attributes. The end-user id header is
exported only as ``user.hash``, the hex HMAC-SHA256 of the id under a key read from the named
environment variable; without a key the id is not exported at all. Credential headers are never
exported, whatever the configuration says. None of this ever reaches a metric attribute.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import Final

from sidecar.config import IdentityConfig
from sidecar.telemetry import semconv

_log = logging.getLogger(__name__)

#: Headers that carry credentials: never exported, even if configured.
CREDENTIAL_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "openai-api-key",
    }
)
MAX_VALUE_CHARS: Final = 256


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that works on plain dicts and multidicts alike."""
    value = headers.get(name)
    if value is not None:
        return value
    lower = name.lower()
    for key, item in headers.items():
        if key.lower() == lower:
            return item
    return None


class IdentityExtractor:
    """Span attributes for the configured identity headers of one request."""

    def __init__(self, config: IdentityConfig, environ: Mapping[str, str]) -> None:
        self._headers: tuple[tuple[str, str], ...] = tuple(
            (header.lower(), semconv.identity_attribute(name))
            for header, name in config.headers.items()
            if header.lower() not in CREDENTIAL_HEADERS
        )
        skipped = [h for h in config.headers if h.lower() in CREDENTIAL_HEADERS]
        if skipped:
            _log.warning("identity headers %s carry credentials and are never exported", skipped)
        self._user_header = config.user_id_header.lower()
        key = environ.get(config.user_id_hmac_key_env, "") if config.user_id_hmac_key_env else ""
        self._key = key.encode() if key else b""
        if self._user_header and not self._key:
            _log.warning("user id header set but no HMAC key: user ids are not exported")
        self.enabled = bool(self._headers) or bool(self._user_header and self._key)

    def hash_user(self, user_id: str) -> str:
        return hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()

    def attributes(self, headers: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        if not self.enabled:
            return out
        for header, attribute in self._headers:
            value = _header(headers, header)
            if value:
                out[attribute] = value[:MAX_VALUE_CHARS]
        if self._user_header and self._key:
            user = _header(headers, self._user_header)
            if user:
                out[semconv.USER_HASH] = self.hash_user(user)
        return out
