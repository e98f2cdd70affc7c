"""Every semantic-convention string the sidecar emits, and the one table of metric names per version.

Two generations of the GenAI conventions exist: the released v1.41.0 names (the default) and the
newest development names of ``semantic-conventions-genai`` ("latest"). :data:`SIGNALS` maps each
logical signal to its instrument in each generation; ``semconv = "both"`` emits both for a
dashboard migration. Nothing outside this module spells a semconv name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

SemconvVersion = Literal["v1.41", "latest"]
InstrumentKind = Literal["histogram", "counter", "updowncounter"]

V1_41: Final[SemconvVersion] = "v1.41"
LATEST: Final[SemconvVersion] = "latest"
ALL_VERSIONS: Final[tuple[SemconvVersion, ...]] = (V1_41, LATEST)

#: The opt-in value of ``OTEL_SEMCONV_STABILITY_OPT_IN`` that selects the latest GenAI names.
GEN_AI_LATEST_OPT_IN: Final = "gen_ai_latest_experimental"
#: Instrumentation scope of every tracer, meter and logger the sidecar creates.
SCOPE_NAME: Final = "genai-sidecar"
#: The schema of the released conventions the default names follow.
V1_41_SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.41.0"


def schema_url(versions: tuple[SemconvVersion, ...]) -> str | None:
    """Schema URL of the resource and scopes: v1.41's whenever its names are emitted ("v1.41",
    "both"); none for "latest" alone (the development conventions publish no schema)."""
    return V1_41_SCHEMA_URL if V1_41 in versions else None


# ----------------------------------------------------------------------------- attribute names

GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
#: Development branch only (not in v1.41): emitted when "latest" is in the mode.
GEN_AI_REQUEST_REASONING_LEVEL: Final = "gen_ai.request.reasoning.level"
GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID: Final = "gen_ai.request.previous_response.id"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"
OPENAI_API_TYPE: Final = "openai.api.type"
OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "openai.response.system_fingerprint"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
#: v1.41.0 spelling; renamed to ``cache_write`` on the development branch.
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
#: Development branch only: the provider's usage breakdown by modality, per modality (``text``,
#: ``image``, ``audio``) the input, output and cache-read input attributes.
GEN_AI_USAGE_BY_MODALITY: Final = {
    modality: (
        f"gen_ai.usage.{modality}.input_tokens",
        f"gen_ai.usage.{modality}.output_tokens",
        f"gen_ai.usage.{modality}.cache_read.input_tokens",
    )
    for modality in ("text", "image", "audio")
}
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
GEN_AI_TOKEN_MODALITY: Final = "gen_ai.token.modality"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
#: The end-user id: the sidecar exports only its keyed hash under this name.
ENDUSER_ID: Final = "enduser.id"
#: Cost of a call (open PR semantic-conventions-genai#443; names as proposed there).
GEN_AI_USAGE_COST_AMOUNT: Final = "gen_ai.usage.cost.amount"
GEN_AI_USAGE_COST_CURRENCY: Final = "gen_ai.usage.cost.currency"
GEN_AI_USAGE_COST_SOURCE: Final = "gen_ai.usage.cost.source"
#: ``gen_ai.usage.cost.source`` value: computed by the sidecar from usage and a price table.
COST_SOURCE_LOCAL: Final = "local"
HTTP_REQUEST_METHOD: Final = "http.request.method"
URL_SCHEME: Final = "url.scheme"
NETWORK_PROTOCOL_VERSION: Final = "network.protocol.version"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
SERVICE_NAME: Final = "service.name"
SERVICE_VERSION: Final = "service.version"
TELEMETRY_SDK_LANGUAGE: Final = "telemetry.sdk.language"
TELEMETRY_SDK_NAME: Final = "telemetry.sdk.name"
TELEMETRY_SDK_VERSION: Final = "telemetry.sdk.version"
K8S_POD_NAME: Final = "k8s.pod.name"
K8S_POD_UID: Final = "k8s.pod.uid"
K8S_NAMESPACE_NAME: Final = "k8s.namespace.name"
K8S_NODE_NAME: Final = "k8s.node.name"

#: The opt-in event that carries a call's attributes plus captured content.
GEN_AI_OPERATION_DETAILS_EVENT: Final = "gen_ai.client.inference.operation.details"
#: The event of a failed call (v1.41 events.yaml): severity WARN, no content.
GEN_AI_OPERATION_EXCEPTION_EVENT: Final = "gen_ai.client.operation.exception"

#: Fallback value of a bounded attribute (error.type, capped metric attributes).
OTHER: Final = "_OTHER"

# Own namespace (not semconv): health metrics, identity attributes, call records.
OWN_NAMESPACE: Final = "genai_sidecar"
REASON: Final = "reason"
#: Label of ``genai_sidecar.finish_reasons``: one reason per count. Not
#: ``gen_ai.response.finish_reasons``, which the registry types as a string array.
FINISH_REASON: Final = "genai_sidecar.finish_reason"
#: Span attribute: where the call's token usage came from (``usage``: the response's usage object;
#: ``timings``: llama.cpp's ``timings.prompt_n`` / ``predicted_n``; ``x_groq.usage``: Groq's).
USAGE_SOURCE: Final = "genai_sidecar.usage.source"
SIGNAL: Final = "signal"
CALL_RECORD_EVENT: Final = "genai_sidecar.call"
#: Span attribute: the gen_ai.server.* timings of this call were derived from the stream (time
#: to first chunk, chunk gaps), not taken from the model server's own timing fields.
SERVER_TIMING_DERIVED: Final = "genai_sidecar.server_timing.derived"
API_KEY_HASH: Final = "genai_sidecar.api_key.hash"


def identity_attribute(name: str) -> str:
    """Attribute for a configured identity header: ``genai_sidecar.<name>``."""
    return f"{OWN_NAMESPACE}.{name}"


class TokenType(StrEnum):
    """``gen_ai.token.type`` values (v1.41 ``gen_ai.client.token.usage``)."""

    INPUT = "input"
    OUTPUT = "output"


class TokenModality(StrEnum):
    """``gen_ai.token.modality`` values (latest usage counters)."""

    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    UNKNOWN = "unknown"


class FinishReasonValue(StrEnum):
    ERROR = "error"


class ErrorType(StrEnum):
    """``error.type`` values the sidecar chooses itself. An HTTP error response uses its status
    code (``"500"``); an error the upstream reports in the body uses the provider's error type
    when it gives one, else ``upstream_error``."""

    PREMATURE_END = "premature_end"
    UPSTREAM_ERROR = "upstream_error"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    CLIENT_CANCEL = "client_cancel"
    OTHER = "_OTHER"


_STATUS_MESSAGES: Final = {
    ErrorType.PREMATURE_END.value: "the response stream ended before its final event",
    ErrorType.UPSTREAM_ERROR.value: "the model server reported an error in the response body",
    ErrorType.TIMEOUT.value: "the model server did not answer in time",
    ErrorType.CONNECTION_ERROR.value: "could not reach the model server",
    ErrorType.CLIENT_CANCEL.value: "the client went away before the response ended",
    "shutdown": "the sidecar shut down before the response ended",
}


def status_message(error_type: str) -> str:
    """A short human description for the span status of a failed call. The conventions call a
    description that repeats ``error.type`` "not recommended"; this says what happened."""
    known = _STATUS_MESSAGES.get(error_type)
    if known is not None:
        return known
    if error_type.isdigit():
        return f"the model server answered HTTP {error_type}"
    return "the model server reported an error in the response body"


#: HTTP methods ``http.request.method`` keeps; others are reported as ``_OTHER``.
HTTP_METHODS: Final = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)

# ------------------------------------------------------------------------------------ buckets

#: Advised boundaries for GenAI durations (operation, TTFC, TPOC, server request duration).
DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
#: Advised boundaries for token counts (powers of four).
TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
SERVER_TTFT_BUCKETS: Final = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
SERVER_TPOT_BUCKETS: Final = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
)  # fmt: skip
#: ``http.server.request.duration`` advised boundaries (HTTP semantic conventions).
HTTP_DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip

# ------------------------------------------------------------------------------ metric table


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSpec:
    """One instrument: its name, kind, unit, description and advised buckets.

    ``error_type`` says whether ``error.type`` belongs on it, ``modality`` whether
    ``gen_ai.token.modality`` does, and ``token_type`` is the fixed ``gen_ai.token.type`` a
    logical signal records with (v1.41 token usage shares one instrument for input and output).
    ``zero_when_absent``: a call without usage records ``0`` (latest) instead of nothing (v1.41).
    ``skip_zero``: a breakdown (cache, reasoning) recorded only when the provider reports a
    non-zero value.
    """

    name: str
    kind: InstrumentKind
    unit: str
    description: str
    buckets: tuple[float, ...] | None = None
    error_type: bool = False
    modality: bool = False
    token_type: TokenType | None = None
    zero_when_absent: bool = False
    skip_zero: bool = False


class Signal(StrEnum):
    """What the sidecar measures, independent of the name a semconv version gives it."""

    OPERATION_DURATION = "operation_duration"
    TIME_TO_FIRST_CHUNK = "time_to_first_chunk"
    TIME_PER_OUTPUT_CHUNK = "time_per_output_chunk"
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"
    CACHE_READ_TOKENS = "cache_read_tokens"
    CACHE_WRITE_TOKENS = "cache_write_tokens"
    REASONING_TOKENS = "reasoning_tokens"
    OPERATION_INPUT_TOKENS = "operation_input_tokens"
    EMBEDDINGS_DURATION = "embeddings_duration"
    EMBEDDINGS_INPUT_TOKENS = "embeddings_input_tokens"
    OPERATION_OUTPUT_TOKENS = "operation_output_tokens"
    SERVER_REQUEST_DURATION = "server_request_duration"
    SERVER_TIME_TO_FIRST_TOKEN = "server_time_to_first_token"
    SERVER_TIME_PER_OUTPUT_TOKEN = "server_time_per_output_token"


def _token_usage(token_type: TokenType) -> MetricSpec:
    return MetricSpec(
        name="gen_ai.client.token.usage",
        kind="histogram",
        unit="{token}",
        description="Number of input and output tokens used.",
        buckets=TOKEN_BUCKETS,
        token_type=token_type,
    )


def _usage_counter(name: str, description: str, *, breakdown: bool = False) -> MetricSpec:
    return MetricSpec(
        name=name,
        kind="counter",
        unit="{token}",
        description=description,
        modality=True,
        zero_when_absent=not breakdown,
        skip_zero=breakdown,
    )


_OPERATION_DURATION = MetricSpec(
    name="gen_ai.client.operation.duration",
    kind="histogram",
    unit="s",
    description="GenAI operation duration.",
    buckets=DURATION_BUCKETS,
    error_type=True,
)
_SERVER_REQUEST_DURATION = MetricSpec(
    name="gen_ai.server.request.duration",
    kind="histogram",
    unit="s",
    description="Generative AI server request duration such as time-to-last byte or last output token.",
    buckets=DURATION_BUCKETS,
    error_type=True,
)
_SERVER_TTFT = MetricSpec(
    name="gen_ai.server.time_to_first_token",
    kind="histogram",
    unit="s",
    description="Time to generate first token for successful responses.",
    buckets=SERVER_TTFT_BUCKETS,
)
_SERVER_TPOT = MetricSpec(
    name="gen_ai.server.time_per_output_token",
    kind="histogram",
    unit="s",
    description="Time per output token generated after the first token for successful responses.",
    buckets=SERVER_TPOT_BUCKETS,
)

#: Logical signal -> instrument per semconv version (absent: that version has no such metric).
SIGNALS: Final[dict[Signal, dict[SemconvVersion, MetricSpec]]] = {
    Signal.OPERATION_DURATION: {
        V1_41: _OPERATION_DURATION,
        LATEST: MetricSpec(
            name="gen_ai.client.inference.duration",
            kind="histogram",
            unit="s",
            description="Duration of a GenAI inference operation.",
            buckets=DURATION_BUCKETS,
            error_type=True,
        ),
    },
    Signal.TIME_TO_FIRST_CHUNK: {
        V1_41: MetricSpec(
            name="gen_ai.client.operation.time_to_first_chunk",
            kind="histogram",
            unit="s",
            description="Time to receive the first chunk in the response stream.",
            buckets=DURATION_BUCKETS,
        ),
        LATEST: MetricSpec(
            name="gen_ai.client.inference.time_to_first_chunk",
            kind="histogram",
            unit="s",
            description="Time to receive the first chunk in the response stream.",
            buckets=DURATION_BUCKETS,
        ),
    },
    Signal.TIME_PER_OUTPUT_CHUNK: {
        V1_41: MetricSpec(
            name="gen_ai.client.operation.time_per_output_chunk",
            kind="histogram",
            unit="s",
            description="Time per output chunk, recorded for each chunk after the first one.",
            buckets=DURATION_BUCKETS,
        ),
        LATEST: MetricSpec(
            name="gen_ai.client.inference.time_per_output_chunk",
            kind="histogram",
            unit="s",
            description="Time per output chunk, recorded for each chunk after the first one.",
            buckets=DURATION_BUCKETS,
        ),
    },
    Signal.INPUT_TOKENS: {
        V1_41: _token_usage(TokenType.INPUT),
        LATEST: _usage_counter(
            "gen_ai.client.inference.usage.input_tokens",
            "The number of input (prompt) tokens used, including cached tokens.",
        ),
    },
    Signal.OUTPUT_TOKENS: {
        V1_41: _token_usage(TokenType.OUTPUT),
        LATEST: _usage_counter(
            "gen_ai.client.inference.usage.output_tokens",
            "The number of output (completion) tokens used, including reasoning tokens.",
        ),
    },
    Signal.CACHE_READ_TOKENS: {
        LATEST: _usage_counter(
            "gen_ai.client.inference.usage.cache_read.input_tokens",
            "The number of input tokens served from a provider-managed cache.",
            breakdown=True,
        ),
    },
    Signal.CACHE_WRITE_TOKENS: {
        LATEST: _usage_counter(
            "gen_ai.client.inference.usage.cache_write.input_tokens",
            "The number of input tokens written to a provider-managed cache.",
            breakdown=True,
        ),
    },
    Signal.REASONING_TOKENS: {
        LATEST: _usage_counter(
            "gen_ai.client.inference.usage.reasoning.output_tokens",
            "The number of output tokens used for reasoning.",
            breakdown=True,
        ),
    },
    Signal.OPERATION_INPUT_TOKENS: {
        LATEST: MetricSpec(
            name="gen_ai.client.inference.operation.input_tokens",
            kind="histogram",
            unit="{token}",
            description="The number of input (prompt) tokens used per inference operation.",
            buckets=TOKEN_BUCKETS,
        ),
    },
    Signal.OPERATION_OUTPUT_TOKENS: {
        LATEST: MetricSpec(
            name="gen_ai.client.inference.operation.output_tokens",
            kind="histogram",
            unit="{token}",
            description="The number of output (completion) tokens used per inference operation.",
            buckets=TOKEN_BUCKETS,
        ),
    },
    # Embeddings: v1.41 records them on the generic operation metrics; the development branch has
    # its own pair (docs/gen-ai/client-embeddings.md) and no usage counters for them.
    Signal.EMBEDDINGS_DURATION: {
        V1_41: _OPERATION_DURATION,
        LATEST: MetricSpec(
            name="gen_ai.client.embeddings.duration",
            kind="histogram",
            unit="s",
            description="GenAI client embeddings operation duration.",
            buckets=DURATION_BUCKETS,
            error_type=True,
        ),
    },
    Signal.EMBEDDINGS_INPUT_TOKENS: {
        V1_41: _token_usage(TokenType.INPUT),
        LATEST: MetricSpec(
            name="gen_ai.client.embeddings.operation.input_tokens",
            kind="histogram",
            unit="{token}",
            description="The number of input tokens used per embeddings operation.",
            buckets=TOKEN_BUCKETS,
        ),
    },
    Signal.SERVER_REQUEST_DURATION: {V1_41: _SERVER_REQUEST_DURATION, LATEST: _SERVER_REQUEST_DURATION},
    Signal.SERVER_TIME_TO_FIRST_TOKEN: {V1_41: _SERVER_TTFT, LATEST: _SERVER_TTFT},
    Signal.SERVER_TIME_PER_OUTPUT_TOKEN: {V1_41: _SERVER_TPOT, LATEST: _SERVER_TPOT},
}

# Own-namespace health metrics and the HTTP server metric: the same in every semconv mode.
TAP_ERRORS = MetricSpec(
    name="genai_sidecar.tap.errors",
    kind="counter",
    unit="{error}",
    description="Streams whose decoding or telemetry failed and was switched off, by reason.",
)
REQUESTS_ACTIVE = MetricSpec(
    name="genai_sidecar.requests.active",
    kind="updowncounter",
    unit="{request}",
    description="Requests being proxied right now.",
)
REQUESTS_REJECTED = MetricSpec(
    name="genai_sidecar.requests.rejected",
    kind="counter",
    unit="{request}",
    description="Client connections or requests refused before forwarding (malformed request, "
    "header timeout, too many connections), by reason.",
)
PROXIED_BYTES = MetricSpec(
    name="genai_sidecar.proxied.bytes",
    kind="counter",
    unit="By",
    description="Response body bytes forwarded to clients.",
)
EXPORT_DROPPED = MetricSpec(
    name="genai_sidecar.export.dropped",
    kind="counter",
    unit="{item}",
    description="Spans, log records and metric points dropped by export, by signal and reason.",
)
FINISH_REASONS = MetricSpec(
    name="genai_sidecar.finish_reasons",
    kind="counter",
    unit="{choice}",
    description="Finish reasons of GenAI calls, one per choice (error when a stream ended early); "
    "genai_sidecar.finish_reason holds the one reason.",
)
COST = MetricSpec(
    name="genai_sidecar.cost",
    kind="counter",
    unit="{currency_unit}",
    description="Cost of GenAI calls from their token usage and the configured price table, in the "
    "currency named by gen_ai.usage.cost.currency (_UNPRICED: the model has no price, adds 0).",
)
USAGE_MISSING = MetricSpec(
    name="genai_sidecar.usage.missing",
    kind="counter",
    unit="{call}",
    description="GenAI calls that ended without token usage, by gen_ai.operation.name and reason "
    "(not_requested: an OpenAI-format stream that did not ask for usage; error: the call failed; "
    "not_reported: the server sent none).",
)
USAGE_INJECTION_REFUSED = MetricSpec(
    name="genai_sidecar.usage.injection_refused",
    kind="counter",
    unit="{request}",
    description="Requests the upstream rejected with stream_options.include_usage added and "
    "accepted unmodified (each resent once as the client wrote it).",
)
HTTP_SERVER_REQUEST_DURATION = MetricSpec(
    name="http.server.request.duration",
    kind="histogram",
    unit="s",
    description="Duration of HTTP server requests.",
    buckets=HTTP_DURATION_BUCKETS,
    error_type=True,
)
OWN_METRICS: Final = (
    FINISH_REASONS,
    TAP_ERRORS,
    REQUESTS_ACTIVE,
    PROXIED_BYTES,
    REQUESTS_REJECTED,
    EXPORT_DROPPED,
    COST,
    USAGE_MISSING,
    USAGE_INJECTION_REFUSED,
    HTTP_SERVER_REQUEST_DURATION,
)


def versions(mode: str) -> tuple[SemconvVersion, ...]:
    """The semconv versions a mode (``"v1.41"``, ``"latest"``, ``"both"``) emits."""
    if mode == "both":
        return ALL_VERSIONS
    if mode == LATEST:
        return (LATEST,)
    if mode == V1_41:
        return (V1_41,)
    raise ValueError(f"unknown semconv mode {mode!r}")


def metric_specs(mode: str) -> tuple[MetricSpec, ...]:
    """Every instrument a mode emits, GenAI and own-namespace, one entry per instrument name."""
    seen: dict[str, MetricSpec] = {}
    for version in versions(mode):
        for per_version in SIGNALS.values():
            spec = per_version.get(version)
            if spec is not None:
                seen.setdefault(spec.name, spec)
    for spec in OWN_METRICS:
        seen.setdefault(spec.name, spec)
    return tuple(seen.values())


def histogram_bounds() -> dict[str, tuple[float, ...]]:
    """The bucket boundaries of every histogram instrument of every mode, by instrument name."""
    found: dict[str, tuple[float, ...]] = {}
    for spec in metric_specs("both"):
        if spec.kind == "histogram":
            if not spec.buckets:
                raise ValueError(f"histogram {spec.name} has no bucket boundaries")
            found[spec.name] = spec.buckets
    return found


def metric_names(mode: str) -> frozenset[str]:
    """OpenTelemetry instrument names a semconv mode emits (GenAI and own-namespace)."""
    return frozenset(spec.name for spec in metric_specs(mode))


# Unit -> Prometheus suffix, as the OpenTelemetry Prometheus exporter maps the units used here.
_PROMETHEUS_UNITS: Final = {"s": "seconds", "By": "bytes", "1": ""}
_BRACED = re.compile(r"\{.*\}")
_NOT_NAME = re.compile(r"[^a-zA-Z0-9:]+")


def prometheus_name(spec: MetricSpec) -> str:
    """The metric family name the OpenTelemetry Prometheus exporter renders for ``spec``: dots
    become underscores and a unit suffix is appended (``{token}`` annotations give none).
    Counters are then exposed as ``<name>_total``, histograms as ``<name>_bucket|_sum|_count``;
    an UpDownCounter becomes a gauge."""
    name = _NOT_NAME.sub("_", spec.name)
    unit = _PROMETHEUS_UNITS.get(spec.unit, _BRACED.sub("", spec.unit))
    unit = _NOT_NAME.sub("_", unit).strip("_")
    if unit and not name.endswith("_" + unit):
        name = f"{name}_{unit}"
    return name


def prometheus_names(mode: str) -> frozenset[str]:
    """Prometheus metric family (base) names a semconv mode produces, own-namespace included."""
    return frozenset(prometheus_name(spec) for spec in metric_specs(mode))


def prometheus_samples(mode: str) -> frozenset[str]:
    """Prometheus sample names as they appear in the exposition and in PromQL
    (``..._total`` for counters, ``..._bucket``/``_sum``/``_count`` for histograms)."""
    out: set[str] = set()
    for spec in metric_specs(mode):
        base = prometheus_name(spec)
        if spec.kind == "counter":
            out.add(f"{base}_total")
        elif spec.kind == "histogram":
            out.update((f"{base}_bucket", f"{base}_sum", f"{base}_count"))
        else:
            out.add(base)
    return frozenset(out)
