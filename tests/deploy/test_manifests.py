"""The Kubernetes manifests: every overlay renders with `kubectl kustomize` and passes
`kubernetes-validate --strict` for Kubernetes 1.29 to 1.32, and the rendered pods agree with
the sidecar's own configuration (ports, probes, drain time, upstream)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from sidecar.config import load_config, parse_host_port, upstream_origin

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
]
KUBERNETES_VERSIONS = ["1.29.0", "1.30.0", "1.31.0", "1.32.0"]
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


def test_native_and_legacy_sidecars_differ_only_in_restart_policy() -> None:
    _, _, native = _example("k8s/examples/ollama")
    _, _, legacy = _example("k8s/examples/ollama-legacy")
    assert native.pop("restartPolicy") == "Always"
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
    config = load_config(str(_sidecar_toml(docs, tmp_path)), environ=plain_env(sidecar))
    _, listen_port = parse_host_port(config.listener.address, "listener.address")
    service = find(docs, "Service", name)
    (port,) = service["spec"]["ports"]
    assert port_number(sidecar, port["targetPort"]) == listen_port
    assert any(p["containerPort"] == listen_port for p in sidecar["ports"])


@pytest.mark.parametrize("overlay", EXAMPLES)
def test_sidecar_forwards_to_the_model_container(overlay: str, tmp_path: Path) -> None:
    docs, spec, sidecar = _example(overlay)
    model = container(spec, EXAMPLES[overlay][1])
    config = load_config(str(_sidecar_toml(docs, tmp_path)), environ=plain_env(sidecar))
    _, host, port = upstream_origin(config.upstream.url)
    assert host == "127.0.0.1"
    assert port in {p["containerPort"] for p in model["ports"]}


@pytest.mark.parametrize("overlay", EXAMPLES)
def test_probes_and_scrape_use_the_admin_port(overlay: str, tmp_path: Path) -> None:
    docs, _, sidecar = _example(overlay)
    name = EXAMPLES[overlay][0]
    config = load_config(str(_sidecar_toml(docs, tmp_path)), environ=plain_env(sidecar))
    _, admin_port = parse_host_port(config.listener.admin_address, "listener.admin_address")
    probes = {kind: sidecar[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert {port_number(sidecar, p["port"]) for p in probes.values()} == {admin_port}
    annotations = find(docs, "Deployment", name)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == admin_port
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("overlay", EXAMPLES)
def test_grace_period_outlasts_the_sidecar_drain(overlay: str, tmp_path: Path) -> None:
    docs, spec, sidecar = _example(overlay)
    config = load_config(str(_sidecar_toml(docs, tmp_path)), environ=plain_env(sidecar))
    drain = config.listener.drain_delay_s + config.listener.shutdown_grace_s
    assert config.listener.drain_delay_s > 0
    assert spec["terminationGracePeriodSeconds"] > drain


@pytest.mark.parametrize("overlay", EXAMPLES)
def test_downward_api_environment(overlay: str) -> None:
    _, _, sidecar = _example(overlay)
    field_refs = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in sidecar["env"] if "valueFrom" in e
    }
    assert field_refs == {
        "POD_NAME": "metadata.name",
        "POD_NAMESPACE": "metadata.namespace",
        "NODE_NAME": "spec.nodeName",
    }


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


def test_component_injects_into_an_existing_deployment_and_honours_opt_out(tmp_path: Path) -> None:
    """What docs/kubernetes.md tells an SRE to write: their Deployment and Service plus the
    component. A Deployment labelled genai-sidecar/inject: "false" is left alone."""
    app = tmp_path / "my-app"
    app.mkdir()
    component = os.path.relpath(K8S / "components" / "genai-sidecar", app)
    (app / "model.yaml").write_text(
        """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: my-model}
spec:
  selector: {matchLabels: {app: my-model}}
  template:
    metadata: {labels: {app: my-model}}
    spec:
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
metadata: {name: my-model}
spec:
  selector: {app: my-model}
  ports: [{name: http, port: 5000, targetPort: api}]
"""
    )
    (app / "kustomization.yaml").write_text(
        f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [model.yaml]
components: [{component}]
patches:
  - target: {{kind: Deployment, name: my-model}}
    patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: {{name: my-model}}
      spec:
        template:
          spec:
            initContainers:
              - name: genai-sidecar
                env: [{{name: SIDECAR_UPSTREAM, value: "http://127.0.0.1:5000"}}]
"""
    )
    docs = objects(app)
    model_spec = pod_spec(find(docs, "Deployment", "my-model"))
    sidecar = container(model_spec, SIDECAR)
    assert sidecar["restartPolicy"] == "Always"
    assert plain_env(sidecar)["SIDECAR_UPSTREAM"] == "http://127.0.0.1:5000"
    web_spec = pod_spec(find(docs, "Deployment", "web"))
    assert "initContainers" not in web_spec
    assert "terminationGracePeriodSeconds" not in web_spec
    (port,) = find(docs, "Service", "my-model")["spec"]["ports"]
    assert port_number(sidecar, port["targetPort"]) == 8080
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(render(app))
    _validate([rendered], "1.29.0")


def test_paths_in_the_kubernetes_guide_exist() -> None:
    guide = (ROOT / "docs" / "kubernetes.md").read_text()
    paths = set(re.findall(r"`((?:k8s|tests|scripts)/[\w./-]*[\w/])`", guide))
    assert "k8s/components/genai-sidecar/" in paths
    for path in paths:
        assert (ROOT / path).exists(), path
