"""Config + OTEL_* environment precedence (explicit config wins; defaults yield to the env)."""

from __future__ import annotations

import pytest

from sidecar.config import (
    CaptureConfig,
    ConfigError,
    OTLPConfig,
    PrometheusConfig,
    TelemetryConfig,
)
from sidecar.telemetry.settings import TelemetrySettings, resolve


def settings(
    environ: dict[str, str],
    *,
    config: TelemetryConfig | None = None,
    otlp: OTLPConfig | None = None,
) -> TelemetrySettings:
    return resolve(config or TelemetryConfig(), otlp or OTLPConfig(), PrometheusConfig(), environ)


def test_defaults_without_environment() -> None:
    s = settings({})
    assert s.versions == ("v1.41",)
    assert s.service_name == "genai-sidecar"
    assert s.otlp == {}
    assert s.capture.mode == "NO_CONTENT"
    assert s.export_interval_s == 60.0
    assert s.temporality == "cumulative"
    assert s.prometheus
    assert not s.disabled


def test_service_name_precedence() -> None:
    env = {"OTEL_SERVICE_NAME": "from-env", "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs"}
    assert settings(env).service_name == "from-env"
    assert settings({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs"}).service_name == ("from-attrs")
    explicit = TelemetryConfig(service_name="from-config")
    assert settings(env, config=explicit).service_name == "from-config"


def test_resource_attributes_and_kubernetes_downward_api() -> None:
    env = {
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod,team=ml%20infra",
        "POD_NAME": "vllm-0",
        "K8S_NAMESPACE_NAME": "models",
        "NODE_NAME": "gpu-7",
    }
    attrs = settings(env).resource_attributes
    assert attrs["deployment.environment.name"] == "prod"
    assert attrs["team"] == "ml infra"
    assert attrs["k8s.pod.name"] == "vllm-0"
    assert attrs["k8s.namespace.name"] == "models"
    assert attrs["k8s.node.name"] == "gpu-7"
    overridden = settings({**env, "OTEL_RESOURCE_ATTRIBUTES": "k8s.pod.name=explicit"})
    assert overridden.resource_attributes["k8s.pod.name"] == "explicit"


def test_semconv_opt_in() -> None:
    env = {"OTEL_SEMCONV_STABILITY_OPT_IN": "http, gen_ai_latest_experimental"}
    assert settings(env).versions == ("latest",)
    assert settings(env, config=TelemetryConfig(semconv="both")).versions == ("v1.41", "latest")
    assert settings({"OTEL_SEMCONV_STABILITY_OPT_IN": "http"}).versions == ("v1.41",)


def test_capture_precedence() -> None:
    env = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY"}
    assert settings(env).capture.mode == "EVENT_ONLY"
    explicit = TelemetryConfig(capture=CaptureConfig(mode="SPAN_ONLY"))
    assert settings(env, config=explicit).capture.mode == "SPAN_ONLY"
    truthy = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}
    assert settings(truthy).capture.mode == "SPAN_AND_EVENT"
    with pytest.raises(ConfigError, match="OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"):
        settings({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "everything"})


def test_otlp_enabled_by_endpoint_variable() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20t,x-tenant=a",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_METRIC_EXPORT_INTERVAL": "15000",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
    }
    s = settings(env)
    assert set(s.otlp) == {"traces", "metrics", "logs"}
    traces = s.otlp["traces"]
    assert traces.endpoint == "http://collector:4317"
    assert traces.insecure is True  # http:// scheme
    assert dict(traces.headers) == {"authorization": "Bearer t", "x-tenant": "a"}
    assert traces.timeout_s == 2.5
    assert s.export_interval_s == 15.0
    assert s.temporality == "delta"


def test_otlp_errors_never_echo_a_credential() -> None:
    # The usual slip: a colon instead of '=' puts the whole token in the "bad item".
    bad_headers = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=a,Authorization: Bearer s3cret",
    }
    with pytest.raises(ConfigError, match="item 2") as caught:
        settings(bad_headers)
    assert "s3cret" not in str(caught.value)
    bad_endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://user:s3cret@collector:4317?token=s3cret"}
    with pytest.raises(ConfigError, match="unsupported endpoint") as caught:
        settings(bad_endpoint)
    assert "s3cret" not in str(caught.value)


def test_signal_specific_variables_and_exporter_none() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4317",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://metrics:4317",
        "OTEL_LOGS_EXPORTER": "none",
    }
    s = settings(env)
    assert set(s.otlp) == {"traces", "metrics"}
    assert s.otlp["traces"].insecure is False
    assert s.otlp["metrics"].endpoint == "http://metrics:4317"
    assert s.otlp["metrics"].insecure is True


def test_explicit_otlp_config_wins() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4317",
        "OTEL_EXPORTER_OTLP_INSECURE": "false",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1000",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    }
    otlp = OTLPConfig(endpoint="collector:4317", insecure=True, timeout_s=3.0, export_interval_s=5.0)
    s = settings(env, otlp=otlp)
    assert s.otlp["traces"].endpoint == "collector:4317"
    assert s.otlp["traces"].insecure is True
    assert s.otlp["traces"].timeout_s == 3.0
    assert s.export_interval_s == 5.0
    assert settings(env, otlp=OTLPConfig(enabled=False)).otlp == {}


def test_sdk_disabled() -> None:
    s = settings({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"})
    assert s.disabled
    assert s.otlp == {}
    assert not s.prometheus


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("OTEL_SDK_DISABLED", "maybe"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "-5"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sometimes"),
        ("OTEL_RESOURCE_ATTRIBUTES", "novalue"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "carrier-pigeon"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_METRICS_EXPORTER", "none,otlp"),
        ("OTEL_BSP_SCHEDULE_DELAY", "later"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "4096"),
        ("OTEL_BLRP_EXPORT_TIMEOUT", "-1"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "x"),
    ],
)
def test_malformed_variables_fail_fast(key: str, value: str) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", key: value}
    with pytest.raises(ConfigError, match=key):
        settings(env)


def test_a_config_value_set_to_its_default_wins_over_the_variable() -> None:
    env = {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_SERVICE_NAME": "from-env",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_MAX_QUEUE_SIZE": "10",
        "OTEL_BLRP_MAX_QUEUE_SIZE": "10",
    }
    explicit = TelemetryConfig(
        semconv="v1.41", service_name="genai-sidecar", capture=CaptureConfig(mode="NO_CONTENT")
    )
    otlp = OTLPConfig(timeout_s=10.0, protocol="grpc", max_queue_size=2048)
    s = settings(env, config=explicit, otlp=otlp)
    assert s.versions == ("v1.41",)
    assert s.service_name == "genai-sidecar"
    assert s.capture.mode == "NO_CONTENT"
    assert {t.timeout_s for t in s.otlp.values()} == {10.0}
    assert {t.protocol for t in s.otlp.values()} == {"grpc"}
    assert (s.spans.max_queue_size, s.logs.max_queue_size) == (2048, 2048)
    unset = settings(env)  # the same variables, nothing set in the config: they apply
    assert unset.versions == ("latest",)
    assert unset.service_name == "from-env"
    assert unset.capture.mode == "SPAN_AND_EVENT"
    assert {t.timeout_s for t in unset.otlp.values()} == {2.5}
    assert (unset.spans.max_queue_size, unset.logs.max_queue_size) == (10, 10)


def test_batch_processor_variables() -> None:
    env = {
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BSP_EXPORT_TIMEOUT": "7000",
        "OTEL_BSP_MAX_QUEUE_SIZE": "100",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "20",
        "OTEL_BLRP_SCHEDULE_DELAY": "50",
    }
    s = settings(env)
    assert (s.spans.schedule_delay_s, s.spans.export_timeout_s) == (0.2, 7.0)
    assert (s.spans.max_queue_size, s.spans.max_export_batch_size) == (100, 20)
    assert (s.logs.schedule_delay_s, s.logs.max_queue_size, s.logs.max_export_batch_size) == (0.05, 2048, 512)
    defaults = settings({})
    assert (defaults.spans.schedule_delay_s, defaults.logs.schedule_delay_s) == (5.0, 1.0)
    assert defaults.spans.export_timeout_s == 30.0


def test_http_protobuf_endpoints() -> None:
    base = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}
    s = settings({**base, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://logs:9999/custom"})
    assert s.otlp["traces"].endpoint == "http://c:4318/v1/traces"
    assert s.otlp["metrics"].endpoint == "http://c:4318/v1/metrics"
    assert s.otlp["logs"].endpoint == "http://logs:9999/custom"  # signal-specific: as given
    assert {t.protocol for t in s.otlp.values()} == {"http/protobuf"}
    mixed = settings({**base, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"})
    assert mixed.otlp["metrics"].protocol == "grpc"
    assert mixed.otlp["metrics"].endpoint == "http://c:4318/"
    default = settings({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_TRACES_EXPORTER": "otlp"})
    assert default.otlp["traces"].endpoint == "http://localhost:4318/v1/traces"
    from_config = settings({}, otlp=OTLPConfig(endpoint="http://cfg:4318", protocol="http/protobuf"))
    assert from_config.otlp["logs"].endpoint == "http://cfg:4318/v1/logs"


def test_exporter_selection_per_signal() -> None:
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}
    prometheus_only = settings({**endpoint, "OTEL_METRICS_EXPORTER": "prometheus"})
    assert set(prometheus_only.otlp) == {"traces", "logs"}
    assert prometheus_only.prometheus
    chosen = settings({"OTEL_TRACES_EXPORTER": "otlp,console", "OTEL_LOGS_EXPORTER": "console"})
    assert set(chosen.otlp) == {"traces"}  # asked for by name: on without an endpoint variable
    assert chosen.otlp["traces"].endpoint == "http://localhost:4317"
    assert chosen.console == {"traces", "logs"}
    off = settings({"OTEL_TRACES_EXPORTER": "otlp"}, otlp=OTLPConfig(enabled=False))
    assert off.otlp == {}


def test_propagators_follow_the_variable() -> None:
    from sidecar.telemetry.providers import build_propagator

    assert build_propagator({}).fields == {"traceparent", "tracestate", "baggage"}
    assert build_propagator({"OTEL_PROPAGATORS": "tracecontext"}).fields == {"traceparent", "tracestate"}
    assert build_propagator({"OTEL_PROPAGATORS": "none"}).fields == set()
    with pytest.raises(ConfigError, match=r"OTEL_PROPAGATORS: unknown propagator 'xray'"):
        build_propagator({"OTEL_PROPAGATORS": "tracecontext,xray"})
