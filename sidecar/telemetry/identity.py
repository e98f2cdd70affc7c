"""Who made a call: opt-in attribution from request headers, for metrics and spans.

- ``metric_headers``: each configured header becomes ``genai_sidecar.<name>`` on the call's
  metrics and span. On metrics each attribute keeps at most ``max_values`` distinct values
  (later ones become ``_OTHER``) and a value longer than ``max_value_chars`` is ``_OTHER``.
- ``headers``: the same attribute on spans only.
- ``user_id_header``: the end-user id, exported only as its keyed HMAC, as ``enduser.id`` on
  spans; on metrics only when ``user_id_max_values`` gives it its own cap.
- ``api_key_hash``: the keyed HMAC of the API key (the ``Authorization: Bearer`` token, else
  ``x-api-key`` / ``api-key`` / ``x-goog-api-key``) as ``genai_sidecar.api_key.hash`` on metrics
  (capped by ``max_values``) and spans.
- ``conversation_id_header``: ``gen_ai.conversation.id`` on spans (never on metrics).

Hashes are HMAC-SHA256 under the operator's key, of a role prefix plus the value (so a user
id and an API key that happen to be equal hash differently), hex, truncated to
:data:`HASH_CHARS`. They are stable for one key (dashboards survive restarts) and change with
the key. Without the key nobody can test a guess against a hash. The key comes from an
environment variable or a file, never from the config file; hashing without a key is refused
at start-up (:func:`load_key`). Credential headers are never exported in the clear: the config
refuses them as attribution headers.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from sidecar.config import ConfigError, IdentityConfig
from sidecar.telemetry import semconv
from sidecar.telemetry.cardinality import CardinalityGuard

#: Hex characters kept of each HMAC (64 bits: collisions are negligible below millions of ids).
HASH_CHARS: Final = 16
#: Span attribute values (plain headers, conversation ids) are truncated to this many characters.
SPAN_VALUE_CHARS: Final = 256
#: Hashes remembered per process (the most recently used user ids and API keys).
HASH_CACHE: Final = 4096
#: Shortest HMAC key accepted, in bytes.
MIN_KEY_BYTES: Final = 16
_KEY = "telemetry.identity"
_USER_ROLE: Final = b"enduser.id\x00"
_API_KEY_ROLE: Final = b"api_key\x00"
#: Headers that may carry an API key, after ``Authorization: Bearer``.
_API_KEY_HEADERS: Final = ("x-api-key", "api-key", "x-goog-api-key")


def load_key(config: IdentityConfig, environ: Mapping[str, str]) -> bytes:
    """The HMAC key from ``hmac_key_file`` or the variable named by ``hmac_key_env`` (b"" when
    neither is set). Raises :class:`ConfigError` (one line) when hashing is asked for without a
    key, or the key named cannot be read or is too short."""
    key = b""
    if config.hmac_key_file:
        try:
            with open(config.hmac_key_file, "rb") as f:
                key = f.read().rstrip(b"\r\n")
        except OSError as e:
            raise ConfigError(
                f"{_KEY}.hmac_key_file", f"cannot read {config.hmac_key_file}: {e.strerror or e}"
            ) from None
        if not key:
            raise ConfigError(f"{_KEY}.hmac_key_file", f"{config.hmac_key_file} is empty")
        where = f"{_KEY}.hmac_key_file"
    elif config.hmac_key_env:
        where = f"{_KEY}.hmac_key_env"
        key = environ.get(config.hmac_key_env, "").encode()
        if not key:
            raise ConfigError(where, f"environment variable {config.hmac_key_env} is not set or empty")
    else:
        where = f"{_KEY}.hmac_key_env"
    if not key and (config.user_id_header or config.api_key_hash):
        raise ConfigError(
            where,
            "user_id_header and api_key_hash export only a keyed hash: set hmac_key_env "
            "(an environment variable) or hmac_key_file holding the key",
        )
    if key and len(key) < MIN_KEY_BYTES:
        raise ConfigError(where, f"the HMAC key must be at least {MIN_KEY_BYTES} bytes, got {len(key)}")
    return key


def keyed_hash(key: bytes, role: bytes, value: str) -> str:
    """Truncated hex HMAC-SHA256 of ``role + value`` under ``key``."""
    digest = hmac.digest(key, role + value.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return digest.hex()[:HASH_CHARS]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that works on plain dicts and multidicts alike
    (``name`` is lower case)."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, item in headers.items():
        if key.lower() == name:
            return item
    return None


def api_key(headers: Mapping[str, str]) -> str | None:
    """The API key a request carries: the bearer token, else the first API-key header."""
    auth = _header(headers, "authorization")
    if auth:
        scheme, _, token = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    for name in _API_KEY_HEADERS:
        value = _header(headers, name)
        if value and value.strip():
            return value.strip()
    return None


@dataclass(frozen=True, slots=True)
class Attribution:
    """The attribution attributes of one request."""

    span: dict[str, str] = field(default_factory=dict)
    metric: dict[str, str] = field(default_factory=dict)


_NONE: Final = Attribution()


class IdentityExtractor:
    """Turns a request's headers into attribution attributes (one per process)."""

    def __init__(self, config: IdentityConfig, key: bytes) -> None:
        self._metric_headers = tuple(
            (h.lower(), semconv.identity_attribute(n)) for h, n in config.metric_headers.items()
        )
        metric = {h for h, _ in self._metric_headers}
        self._span_headers = tuple(
            (h.lower(), semconv.identity_attribute(n))
            for h, n in config.headers.items()
            if h.lower() not in metric
        )
        self._max_chars = config.max_value_chars
        self._guard = CardinalityGuard(config.max_values)
        self._user_guard = CardinalityGuard(config.user_id_max_values)
        self._user_on_metrics = config.user_id_max_values > 0
        # The same few keys and users call again and again: remember their hashes (bounded).
        self._hash = functools.lru_cache(maxsize=HASH_CACHE)(functools.partial(keyed_hash, key))
        self._user_header = config.user_id_header.lower() if key else ""
        self._api_key = config.api_key_hash and bool(key)
        self._conversation_header = config.conversation_id_header.lower()
        self.enabled = bool(
            self._metric_headers
            or self._span_headers
            or self._user_header
            or self._api_key
            or self._conversation_header
        )

    def attributes(self, headers: Mapping[str, str]) -> Attribution:
        """Span and metric attribution attributes for a request's headers."""
        if not self.enabled:
            return _NONE
        span: dict[str, str] = {}
        metric: dict[str, str] = {}
        for header, attribute in self._metric_headers:
            value = _header(headers, header)
            if value:
                span[attribute] = value[:SPAN_VALUE_CHARS]
                capped = value if len(value) <= self._max_chars else semconv.OTHER
                metric[attribute] = self._guard.value(attribute, capped)
        for header, attribute in self._span_headers:
            value = _header(headers, header)
            if value:
                span[attribute] = value[:SPAN_VALUE_CHARS]
        if self._user_header:
            user = _header(headers, self._user_header)
            if user:
                hashed = self._hash(_USER_ROLE, user)
                span[semconv.ENDUSER_ID] = hashed
                if self._user_on_metrics:
                    metric[semconv.ENDUSER_ID] = self._user_guard.value(semconv.ENDUSER_ID, hashed)
        if self._api_key:
            token = api_key(headers)
            if token:
                hashed = self._hash(_API_KEY_ROLE, token)
                span[semconv.API_KEY_HASH] = hashed
                metric[semconv.API_KEY_HASH] = self._guard.value(semconv.API_KEY_HASH, hashed)
        if self._conversation_header:
            conversation = _header(headers, self._conversation_header)
            if conversation:
                span[semconv.GEN_AI_CONVERSATION_ID] = conversation[:SPAN_VALUE_CHARS]
        return Attribution(span, metric)
