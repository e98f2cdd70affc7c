"""The Kubernetes manifests: every overlay renders with `kubectl kustomize` and passes
`kubernetes-validate --strict` for Kubernetes 1.29 to 1.33, and the rendered pods agree with
the sidecar's own configuration (ports, probes, drain time, upstream)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from sidecar.config import Config, load_config, parse_host_port, upstream_origin

from .pods import named
from .tools import (
    K8S,
    ROOT,
    SIDECAR,
    container,
    find,
    objects,
    plain_env,
    pod_spec,
    port_number,
    render,
    run,
    tool,
    yaml,
)

OVERLAYS = [
    "k8s",
    "k8s/examples/ollama",
    "k8s/examples/ollama-legacy",
    "k8s/examples/vllm",
    "k8s/model-servers/ollama",
    "k8s/model-servers/vllm",
    "k8s/collector",
    "k8s/observability",
    "k8s/webhook",
]
KUBERNETES_VERSIONS = ["1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0"]
# example -> (Deployment name, model container name, native sidecar?)
EXAMPLES = {
    "k8s/examples/ollama": ("ollama", "ollama", True),
    "k8s/examples/ollama-legacy": ("ollama", "ollama", False),
    "k8s/examples/vllm": ("vllm", "vllm", True),
}


def _validate(paths: list[Path], version: str) -> None:
    args = [tool("kubernetes-validate"), "--strict", "--quiet", "-k", version]
    result = run([*args, *map(str, paths)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_overlays_pass_strict_schema_validation(version: str, tmp_path: Path) -> None:
    paths = []
    for overlay in OVERLAYS:
        path = tmp_path / (overlay.replace("/", "_") + ".yaml")
        path.write_text(render(ROOT / overlay))
        paths.append(path)
    _validate(paths, version)


def test_strict_validation_rejects_an_unknown_field(tmp_path: Path) -> None:
    deployment = find(objects(K8S / "examples/ollama"), "Deployment", "ollama")
    container(pod_spec(deployment), SIDECAR)  # present before the edit
    pod_spec(deployment)["initContainers"][0]["restartPolicyTypo"] = "Always"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(deployment))
    with pytest.raises(AssertionError, match="restartPolicyTypo"):
        _validate([bad], "1.29.0")


def test_every_kustomization_is_validated() -> None:
    found = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        if yaml.safe_load(kustomization.read_text()).get("kind") != "Component":
            found.add(str(kustomization.parent.relative_to(ROOT)))
    assert found == set(OVERLAYS)


def _example(overlay: str) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Rendered objects, the pod spec, and the sidecar container of an example."""
    docs = objects(ROOT / overlay)
    name, _, _ = EXAMPLES[overlay]
    spec = pod_spec(find(docs, "Deployment", name))
    return docs, spec, container(spec, SIDECAR)


def _config(docs: list[dict[str, Any]], sidecar: dict[str, Any], tmp_path: Path) -> Config:
    """The sidecar's effective configuration: its flags over its environment over the TOML."""
    flags = dict(zip(sidecar["args"][1::2], sidecar["args"][2::2], strict=True))
    overrides = {"listener.address": flags["--listen"], "listener.admin_address": flags["--admin-listen"]}
    return load_config(str(_sidecar_toml(docs, tmp_path)), environ=plain_env(sidecar), overrides=overrides)


def _sidecar_toml(docs: list[dict[str, Any]], tmp_path: Path) -> Path:
    config_map = find(docs, "ConfigMap", "genai-sidecar-config")
    path = tmp_path / "sidecar.toml"
    path.write_text(config_map["data"]["sidecar.toml"])
    return path


@pytest.mark.parametrize("overlay", EXAMPLES)
def test_sidecar_runs_as_native_or_plain_container(overlay: str) -> None:
    _, spec, _ = _example(overlay)
    native = EXAMPLES[overlay][2]
    init_names = [c["name"] for c in spec.get("initContainers", [])]
    main = {c["name"]: c for c in spec["containers"]}
    if native:
        assert init_names == [SIDECAR]
        assert spec["initContainers"][0]["restartPolicy"] == "Always"
        assert SIDECAR not in main
    else:
        assert SIDECAR not in init_names
        assert "restartPolicy" not in main[SIDECAR]
    assert EXAMPLES[overlay][1] in main


def test_native_and_legacy_sidecars_differ_only_in_restart_policy_and_drain() -> None:
    _, _, native = _example("k8s/examples/ollama")
    _, _, legacy = _example("k8s/examples/ollama-legacy")
    assert native.pop("restartPolicy") == "Always"
    drain = "SIDECAR_LISTENER__DRAIN_DELAY_S"
    assert plain_env(native)[drain] == "0"
    assert float(plain_env(legacy)[drain]) > 0
    native["env"] = [e for e in native["env"] if e["name"] != drain]
    legacy["env"] = [e for e in legacy["env"] if e["name"] != drain]
    assert native == legacy


@pytest.mark.parametrize("overlay", EXAMPLES)
def test_config_map_toml_is_a_valid_sidecar_config(overlay: str, tmp_path: Path) -> None:
    docs, _, _ = _example(overlay)
    path = _sidecar_toml(docs, tmp_path)
    load_config(str(path))
    result = run([sys.executable, "-m", "sidecar", "check-config", str(path)])
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("overlay", EXAMPLES)
def test_config_is_mounted_where_the_sidecar_reads_it(overlay: str) -> None:
    docs, spec, sidecar = _example(overlay)
    config_path = Path(plain_env(sidecar)["SIDECAR_CONFIG"])
    mount = next(m for m in sidecar["volumeMounts"] if m["mountPath"] == str(config_path.parent))
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    config_map = find(docs, "ConfigMap", "genai-sidecar-config")
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    assert config_path.name in config_map["data"]


@pytest.mark.parametrize("overlay", EXAMPLES)
def test_service_sends_clients_to_the_sidecar(overlay: str, tmp_path: Path) -> None:
    docs, _, sidecar = _example(overlay)
    name = EXAMPLES[overlay][0]
    config = _config(docs, sidecar, tmp_path)
    _, listen_port = parse_host_port(config.listener.address, "listener.address")
    service = find(docs, "Service", name)
    (port,) = service["spec"]["ports"]
    assert port_number(sidecar, port["targetPort"]) == listen_port
    assert any(p["containerPort"] == listen_port for p in sidecar["ports"])


@pytest.mark.parametrize("overlay", EXAMPLES)
def test_sidecar_forwards_to_the_model_container(overlay: str, tmp_path: Path) -> None:
    docs, spec, sidecar = _example(overlay)
    model = container(spec, EXAMPLES[overlay][1])
    config = _config(docs, sidecar, tmp_path)
    _, host, port = upstream_origin(config.upstream.url)
    assert host == "127.0.0.1"
    assert port in {p["containerPort"] for p in model["ports"]}


@pytest.mark.parametrize("overlay", EXAMPLES)
def test_probes_and_scrape_use_the_admin_port(overlay: str, tmp_path: Path) -> None:
    docs, _, sidecar = _example(overlay)
    name = EXAMPLES[overlay][0]
    config = _config(docs, sidecar, tmp_path)
    _, admin_port = parse_host_port(config.listener.admin_address, "listener.admin_address")
    probes = {kind: sidecar[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert {port_number(sidecar, p["port"]) for p in probes.values()} == {admin_port}
    assert config.listener.admin_address.startswith("0.0.0.0:")
    assert config.listener.address.startswith("0.0.0.0:")
    # Scraped by the PodMonitor / the Collector through the label, never by annotations.
    template = find(docs, "Deployment", name)["spec"]["template"]
    assert template["metadata"]["labels"]["genai-sidecar.io/injected"] == "true"
    assert not any(k.startswith("prometheus.io/") for k in template["metadata"].get("annotations", {}))


@pytest.mark.parametrize("overlay", EXAMPLES)
def test_grace_period_outlasts_the_sidecar_drain(overlay: str, tmp_path: Path) -> None:
    docs, spec, sidecar = _example(overlay)
    config = _config(docs, sidecar, tmp_path)
    model = container(spec, EXAMPLES[overlay][1])
    prestop = int(model["lifecycle"]["preStop"]["exec"]["command"][1])
    native = EXAMPLES[overlay][2]
    # Native: signalled after the model exited, nothing to wait for. Legacy: stop accepting
    # before the model's preStop ends.
    assert config.listener.drain_delay_s == 0 if native else 0 < config.listener.drain_delay_s < prestop
    needed = prestop + config.listener.drain_delay_s + config.listener.shutdown_grace_s
    assert spec.get("terminationGracePeriodSeconds", 30) >= needed


@pytest.mark.parametrize("overlay", EXAMPLES)
def test_downward_api_environment(overlay: str) -> None:
    _, _, sidecar = _example(overlay)
    field_refs = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in sidecar["env"] if "valueFrom" in e
    }
    assert field_refs == {
        "POD_NAME": "metadata.name",
        "POD_NAMESPACE": "metadata.namespace",
        "POD_UID": "metadata.uid",
        "NODE_NAME": "spec.nodeName",
    }
    assert plain_env(sidecar)["OTEL_RESOURCE_ATTRIBUTES"] == "service.instance.id=$(POD_UID)"


@pytest.mark.parametrize("overlay", EXAMPLES)
def test_sidecar_is_bounded_and_unprivileged(overlay: str) -> None:
    _, _, sidecar = _example(overlay)
    resources = sidecar["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]
    security = sidecar["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] != 0
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]


def test_component_injects_into_an_existing_statefulset_and_keeps_what_it_had(tmp_path: Path) -> None:
    """What docs/kubernetes.md tells an SRE to write: their StatefulSet and Services plus the
    component. Their grace period and scrape annotations are kept; only the annotated Service
    is re-pointed; a Deployment labelled genai-sidecar/inject: "false" is left alone."""
    app = tmp_path / "my-app"
    app.mkdir()
    component = os.path.relpath(K8S / "components" / "genai-sidecar", app)
    (app / "model.yaml").write_text(
        """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: my-model}
spec:
  serviceName: my-model
  selector: {matchLabels: {app: my-model}}
  template:
    metadata:
      labels: {app: my-model}
      annotations: {prometheus.io/scrape: "true", prometheus.io/port: "5000"}
    spec:
      terminationGracePeriodSeconds: 120
      containers:
        - name: server
          image: example/model:1
          ports: [{name: api, containerPort: 5000}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {genai-sidecar/inject: "false"}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: example/web:1}]
---
apiVersion: v1
kind: Service
metadata: {name: my-model, annotations: {genai-sidecar.io/inject: "true"}}
spec:
  selector: {app: my-model}
  ports: [{name: http, port: 5000, targetPort: api}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8000}]
"""
    )
    (app / "kustomization.yaml").write_text(
        f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [model.yaml]
components: [{component}]
patches:
  - target: {{kind: StatefulSet, name: my-model}}
    patch: |-
      apiVersion: apps/v1
      kind: StatefulSet
      metadata: {{name: my-model}}
      spec:
        template:
          spec:
            containers:
              - name: server
                lifecycle: {{preStop: {{exec: {{command: [sleep, "5"]}}}}}}
            initContainers:
              - name: genai-sidecar
                env: [{{name: SIDECAR_UPSTREAM, value: "http://127.0.0.1:5000"}}]
"""
    )
    docs = objects(app)
    model = find(docs, "StatefulSet", "my-model")["spec"]["template"]
    sidecar = container(model["spec"], SIDECAR)
    assert sidecar["restartPolicy"] == "Always"
    assert plain_env(sidecar)["SIDECAR_UPSTREAM"] == "http://127.0.0.1:5000"
    assert model["spec"]["terminationGracePeriodSeconds"] == 120
    assert model["metadata"]["annotations"] == {"prometheus.io/scrape": "true", "prometheus.io/port": "5000"}
    web_spec = pod_spec(find(docs, "Deployment", "web"))
    assert "initContainers" not in web_spec
    (port,) = named(docs, "Service", "my-model")["spec"]["ports"]
    assert port_number(sidecar, port["targetPort"]) == 8080
    (web_port,) = named(docs, "Service", "web")["spec"]["ports"]
    assert web_port["targetPort"] == 8000
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(render(app))
    _validate([rendered], "1.29.0")


def test_paths_in_the_kubernetes_guide_exist() -> None:
    guide = (ROOT / "docs" / "kubernetes.md").read_text()
    paths = set(re.findall(r"`((?:k8s|tests|scripts)/[\w./-]*[\w/])`", guide))
    assert "k8s/components/genai-sidecar/" in paths
    for path in paths:
        assert (ROOT / path).exists(), path


def test_podmonitor_selects_what_every_injector_labels() -> None:
    monitor = yaml.safe_load((K8S / "observability" / "podmonitor.yaml").read_text())
    assert monitor["kind"] == "PodMonitor"
    selector = monitor["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    _, spec, sidecar = _example("k8s/examples/ollama")
    labels = find(objects(ROOT / "k8s/examples/ollama"), "Deployment", "ollama")["spec"]["template"][
        "metadata"
    ]
    assert selector.items() <= labels["labels"].items()
    assert endpoint["port"] in {p["name"] for p in sidecar["ports"]}
    assert endpoint["port"] not in {p.get("name") for c in spec["containers"] for p in c.get("ports", [])}
    from sidecar.k8s.inject import InjectOptions, inject

    injected = inject(
        {"spec": {"containers": [{"name": "m", "image": "m", "ports": [{"containerPort": 1}]}]}},
        InjectOptions(),
    )
    assert selector.items() <= injected["metadata"]["labels"].items()
    assert endpoint["port"] in {p["name"] for p in container(injected["spec"], SIDECAR)["ports"]}


def test_webhook_manifests_agree_with_the_command() -> None:
    from sidecar.cli import _parser

    docs = objects(K8S / "webhook")
    deployment = find(docs, "Deployment", "genai-sidecar-webhook")
    (hook,) = pod_spec(deployment)["containers"]
    args = _parser().parse_args(hook["args"])
    assert args.command == "webhook"
    _, listen_port = parse_host_port(args.listen, "--listen")
    (mount,) = hook["volumeMounts"]
    assert {Path(args.tls_cert).parent, Path(args.tls_key).parent} == {Path(mount["mountPath"])}
    (volume,) = pod_spec(deployment)["volumes"]
    assert volume["name"] == mount["name"]
    assert "secretName" in volume["secret"]
    service = find(docs, "Service", "genai-sidecar-webhook")
    (port,) = service["spec"]["ports"]
    assert port_number(hook, port["targetPort"]) == listen_port
    (webhook,) = find(docs, "MutatingWebhookConfiguration", "genai-sidecar")["webhooks"]
    client = webhook["clientConfig"]["service"]
    assert (client["name"], client["namespace"], client["path"], client["port"]) == (
        service["metadata"]["name"],
        service["metadata"]["namespace"],
        "/mutate",
        port["port"],
    )
    assert webhook["failurePolicy"] == "Ignore"
    assert webhook["admissionReviewVersions"] == ["v1"]
    # The webhook's own pods are never sent to it.
    (expression,) = webhook["objectSelector"]["matchExpressions"]
    own = deployment["spec"]["template"]["metadata"]["labels"][expression["key"]]
    assert expression["operator"] == "NotIn"
    assert own in expression["values"]
