"""`genai-sidecar inject`: a Deployment-, a StatefulSet- and a LeaderWorkerSet-based model server
in, the same objects with the sidecar and re-pointed Services out, as the installed command
produces them from stdin (the Helm post-renderer contract) or a file."""

from __future__ import annotations

import copy
import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sidecar.config import upstream_origin

from .pods import (
    DATA,
    VERSIONS,
    as_pod,
    check_service_reaches_sidecar,
    named,
    sidecar_config,
    validate,
    workloads,
)
from .tools import SIDECAR, container, run, yaml

CLI = [sys.executable, "-m", "sidecar", "inject"]
POD = "kind: Pod\nmetadata: {name: p, annotations: {genai-sidecar.io/inject: 'true'}}\nspec:\n"
# fixture -> (kind, name, path to the pod template, model container, the CLI flags it needs)
CASES: dict[str, tuple[str, str, tuple[str, ...], str, list[str]]] = {
    "deployment-vllm.yaml": ("Deployment", "vllm", ("spec", "template"), "vllm", ["--provider", "vllm"]),
    "statefulset-ollama.yaml": ("StatefulSet", "ollama", ("spec", "template"), "ollama", []),
    "lws-vllm.yaml": (
        "LeaderWorkerSet",
        "vllm",
        ("spec", "leaderWorkerTemplate", "leaderTemplate"),
        "vllm-leader",
        ["--sidecar-port", "8081"],
    ),
}


@functools.cache
def _inject(stdin: str, *flags: str) -> tuple[str, str]:
    """The CLI's stdout and stderr (cached: the CLI is deterministic and starts slowly)."""
    done = subprocess.run(
        [*CLI, *flags], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def _template(obj: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        obj = obj[key]
    return obj


def _injected(case: str, *extra: str) -> list[dict[str, Any]]:
    out, _ = _inject((DATA / case).read_text(), *CASES[case][4], *extra)
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.mark.parametrize("case", CASES)
def test_sidecar_is_added_and_wired_to_the_model(case: str) -> None:
    kind, name, path, model_name, _ = CASES[case]
    before = named(workloads(case), kind, name)
    after = named(_injected(case), kind, name)
    spec = _template(after, path)["spec"]
    sidecar = container(spec, SIDECAR)
    assert sidecar["restartPolicy"] == "Always"
    assert spec["initContainers"][0]["name"] == SIDECAR
    model_before = container(_template(before, path)["spec"], model_name)
    model_port = model_before["ports"][0]["containerPort"]
    config = sidecar_config(sidecar)
    assert upstream_origin(config.upstream.url)[1:] == ("127.0.0.1", model_port)
    # The sidecar listens on the pod address (its own defaults are loopback) on declared ports.
    declared = {p["containerPort"] for p in sidecar["ports"]}
    for address in (config.listener.address, config.listener.admin_address):
        host, port = address.rsplit(":", 1)
        assert host == "0.0.0.0"
        assert int(port) in declared
    # Native sidecar: it is signalled only after the model exited, so it need not wait.
    assert config.listener.drain_delay_s == 0


@pytest.mark.parametrize("case", CASES)
def test_what_the_pod_had_is_kept(case: str) -> None:
    kind, name, path, model_name, _ = CASES[case]
    before = _template(named(workloads(case), kind, name), path)
    after = _template(named(_injected(case), kind, name), path)
    model_before = container(before["spec"], model_name)
    model_after = container(after["spec"], model_name)
    had_prestop = "preStop" in model_before.get("lifecycle", {})
    lifecycle = model_after.pop("lifecycle")
    if had_prestop:
        assert lifecycle == model_before.pop("lifecycle")
    else:
        assert lifecycle == {"preStop": {"sleep": {"seconds": 10}}}
    assert model_after == model_before
    for key, value in before.get("metadata", {}).get("annotations", {}).items():
        assert after["metadata"]["annotations"][key] == value
    for key, value in before.get("metadata", {}).get("labels", {}).items():
        assert after["metadata"]["labels"][key] == value
    grace = after["spec"]["terminationGracePeriodSeconds"]
    assert grace >= before["spec"].get("terminationGracePeriodSeconds", 30)
    sidecar = sidecar_config(container(after["spec"], SIDECAR))
    assert grace >= 10 + sidecar.listener.drain_delay_s + sidecar.listener.shutdown_grace_s


def test_a_longer_grace_period_is_never_lowered() -> None:
    after = named(_injected("deployment-vllm.yaml"), "Deployment", "vllm")
    assert after["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 120
    raised = named(_injected("statefulset-ollama.yaml"), "StatefulSet", "ollama")
    assert raised["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 40


@pytest.mark.parametrize(
    ("case", "service", "port"),
    [
        ("deployment-vllm.yaml", "vllm", "http"),
        ("statefulset-ollama.yaml", "ollama", "api"),
        ("statefulset-ollama.yaml", "ollama-headless", "api"),
        ("lws-vllm.yaml", "vllm-leader", "http"),
    ],
)
def test_services_of_the_injected_pods_end_at_the_sidecar(case: str, service: str, port: str) -> None:
    kind, name, path, _, _ = CASES[case]
    objects = _injected(case)
    svc = named(objects, "Service", service)
    (changed,) = [p for p in svc["spec"]["ports"] if p["name"] == port]
    assert changed["targetPort"] == "genai-proxy"
    check_service_reaches_sidecar(svc, _template(named(objects, kind, name), path)["spec"])


def test_services_selecting_other_pods_are_left_alone() -> None:
    before = named(workloads("deployment-vllm.yaml"), "Service", "web")
    assert named(_injected("deployment-vllm.yaml"), "Service", "web") == before


def test_lws_workers_are_left_alone() -> None:
    before = named(workloads("lws-vllm.yaml"), "LeaderWorkerSet", "vllm")
    after = named(_injected("lws-vllm.yaml"), "LeaderWorkerSet", "vllm")
    template = ("spec", "leaderWorkerTemplate", "workerTemplate")
    assert _template(after, template) == _template(before, template)


@pytest.mark.parametrize("case", CASES)
def test_injecting_twice_changes_nothing(case: str) -> None:
    once, _ = _inject((DATA / case).read_text(), *CASES[case][4])
    twice, report = _inject(once, *CASES[case][4])
    assert twice == once
    assert "already injected" in report


def test_reads_a_file_argument_as_it_reads_stdin() -> None:
    case = "statefulset-ollama.yaml"
    from_stdin, _ = _inject((DATA / case).read_text())
    done = run([*CLI, str(DATA / case)])
    assert done.returncode == 0, done.stderr
    assert done.stdout == from_stdin


def test_unannotated_workloads_need_all_and_false_always_wins() -> None:
    text = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: plain}
spec:
  selector: {matchLabels: {app: plain}}
  template:
    metadata: {labels: {app: plain}}
    spec:
      containers: [{name: server, image: example/model:1, ports: [{containerPort: 5000}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: opted-out}
spec:
  selector: {matchLabels: {app: out}}
  template:
    metadata: {labels: {app: out}, annotations: {genai-sidecar.io/inject: "false"}}
    spec:
      containers: [{name: web, image: example/web:1, ports: [{containerPort: 5000}]}]
"""
    out, _ = _inject(text)
    assert list(yaml.safe_load_all(out)) == list(yaml.safe_load_all(text))
    objects = list(yaml.safe_load_all(_inject(text, "--all")[0]))
    assert container(named(objects, "Deployment", "plain")["spec"]["template"]["spec"], SIDECAR)
    assert named(objects, "Deployment", "opted-out") == named(
        list(yaml.safe_load_all(text)), "Deployment", "opted-out"
    )


def test_kubectl_list_output_is_injected_item_by_item() -> None:
    items = workloads("deployment-vllm.yaml")
    listed = {"apiVersion": "v1", "kind": "List", "items": items}
    out, _ = _inject(yaml.safe_dump(listed))
    (result,) = yaml.safe_load_all(out)
    injected = named(result["items"], "Deployment", "vllm")
    assert container(injected["spec"]["template"]["spec"], SIDECAR)
    assert named(result["items"], "Service", "vllm")["spec"]["ports"][0]["targetPort"] == "genai-proxy"


def test_legacy_layout_drains_in_the_sidecar_and_outlasts_the_model() -> None:
    objects = _injected("statefulset-ollama.yaml", "--legacy", "--prestop", "15", "--model-drain", "60")
    spec = named(objects, "StatefulSet", "ollama")["spec"]["template"]["spec"]
    assert "initContainers" not in spec
    sidecar = container(spec, SIDECAR)
    assert "restartPolicy" not in sidecar
    listener = sidecar_config(sidecar).listener
    # Both get SIGTERM at once: the sidecar stops accepting before the model's preStop ends and
    # keeps its streams open until the model has drained them.
    assert 0 < listener.drain_delay_s < 15
    assert listener.drain_delay_s + listener.shutdown_grace_s >= 15 + 60
    assert spec["terminationGracePeriodSeconds"] >= 15 + listener.drain_delay_s + listener.shutdown_grace_s


def test_kubernetes_1_29_gets_an_exec_prestop() -> None:
    objects = _injected("deployment-vllm.yaml", "--kubernetes-version", "1.29")
    model = container(named(objects, "Deployment", "vllm")["spec"]["template"]["spec"], "vllm")
    assert model["lifecycle"]["preStop"] == {"exec": {"command": ["sleep", "10"]}}


def test_inline_toml_and_config_map(tmp_path: Path) -> None:
    toml = tmp_path / "sidecar.toml"
    toml.write_text('[telemetry]\nservice_name = "llm-gateway"\n')
    objects = _injected("deployment-vllm.yaml", "--config-toml", str(toml))
    template = named(objects, "Deployment", "vllm")["spec"]["template"]
    assert template["metadata"]["annotations"]["genai-sidecar.io/config"] == toml.read_text()
    (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == "genai-sidecar-config"]
    (item,) = volume["downwardAPI"]["items"]
    assert item["fieldRef"]["fieldPath"] == "metadata.annotations['genai-sidecar.io/config']"
    sidecar = container(template["spec"], SIDECAR)
    mount = next(m for m in sidecar["volumeMounts"] if m["name"] == "genai-sidecar-config")
    config_env = next(e["value"] for e in sidecar["env"] if e["name"] == "SIDECAR_CONFIG")
    assert config_env == f"{mount['mountPath']}/{item['path']}"
    mapped = _injected("deployment-vllm.yaml", "--config-map", "my-sidecar")
    spec = named(mapped, "Deployment", "vllm")["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == "genai-sidecar-config"]
    assert volume["configMap"] == {"name": "my-sidecar"}


def test_scrape_annotations_are_opt_in_and_never_overwrite() -> None:
    default = named(_injected("statefulset-ollama.yaml"), "StatefulSet", "ollama")
    assert not any(
        k.startswith("prometheus.io/") for k in default["spec"]["template"]["metadata"]["annotations"]
    )
    added = named(_injected("statefulset-ollama.yaml", "--scrape-annotations"), "StatefulSet", "ollama")
    assert added["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9464"
    kept = named(_injected("deployment-vllm.yaml", "--scrape-annotations"), "Deployment", "vllm")
    assert kept["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "8000"


@pytest.mark.parametrize(
    ("text", "flags", "message"),
    [
        ((DATA / "lws-vllm.yaml").read_text(), [], "leaderworkerset/vllm: the model listens on 8080"),
        (
            POD + "  hostNetwork: true\n  containers: [{name: m, image: m, ports: [{containerPort: 1}]}]\n",
            [],
            "hostNetwork",
        ),
        (
            POD + "  containers: [{name: m, image: m}]\n",
            [],
            "declares no port",
        ),
        ("a: [", [], "not valid YAML"),
        ("", ["--sidecar-port", "9464"], "must differ"),
        ("", ["--kubernetes-version", "1.28"], "use the legacy layout"),
        ("", ["--kubernetes-version", "one"], "expected MAJOR.MINOR"),
    ],
)
def test_bad_input_fails_with_one_clear_line(text: str, flags: list[str], message: str) -> None:
    done = subprocess.run([*CLI, *flags], input=text, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("version", VERSIONS)
def test_results_validate_strictly(version: str, tmp_path: Path) -> None:
    flags = ["--kubernetes-version", version] if version.startswith("1.29") else []
    rendered: list[dict[str, Any]] = []
    for case, (kind, name, _, _, _) in CASES.items():
        objects = _injected(case, *flags)
        rendered.extend(o for o in objects if o.get("apiVersion", "").count(".x-k8s.io") == 0)
        if kind == "LeaderWorkerSet":  # a CRD: its pod templates validate as pods
            lws = named(objects, kind, name)
            for key in ("leaderTemplate", "workerTemplate"):
                template = copy.deepcopy(lws["spec"]["leaderWorkerTemplate"][key])
                rendered.append(as_pod(template, f"{name}-{key.lower()}"))
    validate(rendered, version, tmp_path)
