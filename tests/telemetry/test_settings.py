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
    ],
)
def test_malformed_variables_fail_fast(key: str, value: str) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", key: value}
    with pytest.raises(ConfigError, match=key):
        settings(env)
