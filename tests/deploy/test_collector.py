"""The OpenTelemetry Collector configuration in k8s/collector: it parses, has the expected
pipelines, references only defined components, and points where the sidecars point."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .tools import (
    K8S,
    SIDECAR,
    container,
    find,
    objects,
    plain_env,
    pod_spec,
    run,
    tool,
    yaml,
)

CONFIG = K8S / "collector" / "config.yaml"
SECTIONS = ("receivers", "processors", "exporters", "connectors")


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return loaded


def test_pipelines_route_each_signal_to_its_backend(config: dict[str, Any]) -> None:
    pipelines = config["service"]["pipelines"]
    assert pipelines["metrics"]["receivers"] == ["prometheus"]
    assert pipelines["metrics"]["exporters"] == ["prometheusremotewrite"]
    assert pipelines["traces"]["receivers"] == ["otlp"]
    assert pipelines["traces"]["exporters"] == ["otlp/tempo"]
    assert pipelines["logs"]["receivers"] == ["otlp"]
    assert pipelines["logs"]["exporters"] == ["otlphttp/loki"]
    # OTLP metrics are accepted (so the sidecars' pushes succeed) but not stored twice.
    assert pipelines["metrics/otlp"] == {
        "receivers": ["otlp"],
        "processors": ["memory_limiter"],
        "exporters": ["nop"],
    }
    for pipeline in pipelines.values():
        processors = pipeline.get("processors", [])
        assert processors[:1] == ["memory_limiter"], "memory_limiter must come first"


def test_every_component_is_defined_and_used(config: dict[str, Any]) -> None:
    used: dict[str, set[str]] = {section: set() for section in SECTIONS}
    for pipeline in config["service"]["pipelines"].values():
        for section in ("receivers", "processors", "exporters"):
            used[section].update(pipeline.get(section, []))
    for section in SECTIONS:
        assert used[section] == set(config.get(section) or {}), section
    assert set(config["service"]["extensions"]) == set(config["extensions"])


def test_environment_references_are_provided_by_the_deployment() -> None:
    referenced = set(re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", CONFIG.read_text()))
    assert referenced
    collector = container(
        pod_spec(find(objects(K8S / "collector"), "Deployment", "otel-collector")), "otel-collector"
    )
    assert referenced <= {e["name"] for e in collector["env"]}
    # A bare $ would be expanded by the Collector; the scrape config must not use one.
    assert not re.search(r"\$(?!\{env:)", CONFIG.read_text())


def test_scrape_config_passes_promtool(config: dict[str, Any], tmp_path: Path) -> None:
    """Debian's promtool is built without Kubernetes discovery, so the discovery block is
    swapped for a static target; everything else (relabelling included) is checked as is."""
    scrape = config["receivers"]["prometheus"]["config"]
    for job in scrape["scrape_configs"]:
        assert job.pop("kubernetes_sd_configs") == [{"role": "pod"}]
        job["static_configs"] = [{"targets": ["127.0.0.1:9464"]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(scrape))
    result = run([tool("promtool"), "check", "config", "--syntax-only", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_scrape_keeps_exactly_the_sidecar_admin_port(config: dict[str, Any]) -> None:
    (job,) = config["receivers"]["prometheus"]["config"]["scrape_configs"]
    keeps = {
        rule["source_labels"][0]: rule["regex"]
        for rule in job["relabel_configs"]
        if rule.get("action") == "keep"
    }
    docs = objects(K8S / "examples" / "ollama")
    deployment = find(docs, "Deployment", "ollama")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    sidecar = container(pod_spec(deployment), SIDECAR)
    ports = {p["name"]: p["containerPort"] for p in sidecar["ports"]}
    label = keeps["__meta_kubernetes_pod_label_genai_sidecar_io_injected"]
    assert re.fullmatch(label, labels["genai-sidecar.io/injected"])
    port_regex = keeps["__meta_kubernetes_pod_container_port_name"]
    kept = [name for name in ports if re.fullmatch(port_regex, name)]
    admin = sidecar["args"][sidecar["args"].index("--admin-listen") + 1]
    assert [ports[name] for name in kept] == [int(admin.rsplit(":", 1)[1])]
    assert "prometheus.io/scrape" not in deployment["spec"]["template"]["metadata"].get("annotations", {})
    model_ports = [p["name"] for p in container(pod_spec(deployment), "ollama")["ports"]]
    assert not any(re.fullmatch(port_regex, name) for name in model_ports)


def test_sidecars_push_to_the_collector_service(config: dict[str, Any]) -> None:
    docs = objects(K8S / "collector")
    service = find(docs, "Service", "otel-collector")
    namespace = find(docs, "Namespace")["metadata"]["name"]
    sidecar = container(pod_spec(find(objects(K8S / "examples/ollama"), "Deployment", "ollama")), SIDECAR)
    endpoint = urlsplit(plain_env(sidecar)["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert endpoint.hostname in {
        f"{service['metadata']['name']}.{namespace}.svc",
        f"{service['metadata']['name']}.{namespace}.svc.cluster.local",
    }
    (grpc,) = [p for p in service["spec"]["ports"] if p["port"] == endpoint.port]
    receiver_port = int(config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].rsplit(":", 1)[1])
    collector = container(pod_spec(find(docs, "Deployment", "otel-collector")), "otel-collector")
    target = {p["name"]: p["containerPort"] for p in collector["ports"]}[grpc["targetPort"]]
    assert target == receiver_port
