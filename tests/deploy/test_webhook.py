"""`genai-sidecar webhook`: the installed command serves AdmissionReview v1 over TLS on loopback
(a self-signed certificate made here); the returned JSONPatch, applied with the `jsonpatch`
library as the API server would, gives pods that validate strictly for Kubernetes 1.29-1.33."""

from __future__ import annotations

import base64
import copy
import json
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from sidecar.config import upstream_origin

from .pods import VERSIONS, named, sidecar_config, validate, workloads
from .tools import SIDECAR, container, run, tool

# fixture -> (kind, name, template path, model container, extra pod annotations)
PODS: dict[str, tuple[str, str, tuple[str, ...], str, dict[str, str]]] = {
    "deployment-vllm.yaml": ("Deployment", "vllm", ("spec", "template"), "vllm", {}),
    "statefulset-ollama.yaml": ("StatefulSet", "ollama", ("spec", "template"), "ollama", {}),
    # The chart's pod annotations carry the opt-in and the per-workload port.
    "lws-vllm.yaml": (
        "LeaderWorkerSet",
        "vllm",
        ("spec", "leaderWorkerTemplate", "leaderTemplate"),
        "vllm-leader",
        {"genai-sidecar.io/inject": "true", "genai-sidecar.io/sidecar-port": "8081"},
    ),
}


class Webhook:
    def __init__(self, url: str, context: ssl.SSLContext) -> None:
        self.url = url
        self.context = context

    def post(self, body: bytes, path: str = "/mutate") -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            self.url + path, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def review(
        self, kind: str, obj: dict[str, Any], namespace: str = "llm", operation: str = "CREATE"
    ) -> dict[str, Any]:
        uid = str(uuid.uuid4())
        group_version = {"Pod": ("", "v1", "pods"), "Service": ("", "v1", "services")}[kind]
        request = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "kind": {"group": group_version[0], "version": group_version[1], "kind": kind},
                "resource": {"group": "", "version": "v1", "resource": group_version[2]},
                "requestKind": {"group": "", "version": "v1", "kind": kind},
                "namespace": namespace,
                "operation": operation,
                "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
                "object": obj,
                "oldObject": obj if operation == "UPDATE" else None,
                "dryRun": False,
                "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
            },
        }
        status, answer = self.post(json.dumps(request).encode())
        assert status == 200, answer
        assert answer["apiVersion"] == "admission.k8s.io/v1"
        assert answer["kind"] == "AdmissionReview"
        assert answer["response"]["uid"] == uid
        assert answer["response"]["allowed"] is True
        response: dict[str, Any] = answer["response"]
        return response


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    tmp = tmp_path_factory.mktemp("webhook")
    cert, key = tmp / "tls.crt", tmp / "tls.key"
    made = run(
        [
            tool("openssl"),
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=genai-sidecar-webhook.genai-sidecar.svc",
            "-addext",
            "subjectAltName=DNS:genai-sidecar-webhook.genai-sidecar.svc,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ]
    )
    assert made.returncode == 0, made.stderr
    port = _free_port()
    tls = ["--tls-cert", str(cert), "--tls-key", str(key)]
    log = (tmp / "webhook.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sidecar",
            "webhook",
            "--listen",
            f"127.0.0.1:{port}",
            *tls,
            "--provider",
            "vllm",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    # The API server verifies the webhook against the caBundle: here, the self-signed cert.
    context = ssl.create_default_context(cafile=str(cert))
    hook = Webhook(f"https://127.0.0.1:{port}", context)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(hook.url + "/healthz", context=context, timeout=5) as r:
                assert r.status == 200
                break
        except (urllib.error.URLError, ConnectionError):
            assert process.poll() is None, (tmp / "webhook.log").read_text()
            assert time.monotonic() < deadline, "the webhook did not start"
            time.sleep(0.2)
    yield hook
    process.terminate()
    assert process.wait(timeout=30) == 0, (tmp / "webhook.log").read_text()
    log.close()


def _pod(case: str) -> dict[str, Any]:
    """The pod a controller creates from the workload's template (before admission)."""
    kind, name, path, _, annotations = PODS[case]
    template: Any = named(workloads(case), kind, name)
    for key in path:
        template = template[key]
    metadata = copy.deepcopy(template.get("metadata", {}))
    metadata["annotations"] = {**metadata.get("annotations", {}), **annotations}
    metadata.setdefault("annotations", {})["genai-sidecar.io/inject"] = "true"
    metadata.update({"generateName": f"{name}-", "namespace": "llm"})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": copy.deepcopy(template["spec"])}


def _apply(obj: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    assert response["patchType"] == "JSONPatch"
    patch = json.loads(base64.b64decode(response["patch"]))
    patched: dict[str, Any] = jsonpatch.apply_patch(obj, patch)
    return patched


@pytest.mark.parametrize("case", PODS)
def test_annotated_pods_get_the_sidecar(webhook: Webhook, case: str) -> None:
    pod = _pod(case)
    patched = _apply(pod, webhook.review("Pod", pod))
    spec = patched["spec"]
    sidecar = container(spec, SIDECAR)
    assert sidecar["restartPolicy"] == "Always"
    config = sidecar_config(sidecar)
    model = container(pod["spec"], PODS[case][3])
    assert upstream_origin(config.upstream.url)[1:] == ("127.0.0.1", model["ports"][0]["containerPort"])
    assert config.genai.provider == "vllm"
    proxy_port = int(config.listener.address.rsplit(":", 1)[1])
    assert proxy_port == (8081 if case == "lws-vllm.yaml" else 8080)
    assert {"name": "genai-proxy", "containerPort": proxy_port, "protocol": "TCP"} in sidecar["ports"]
    # What the pod had is still there.
    for key, value in pod["metadata"]["annotations"].items():
        assert patched["metadata"]["annotations"][key] == value
    kept = container(spec, PODS[case][3])
    kept.pop("lifecycle")
    model.pop("lifecycle", None)
    assert kept == model


def test_pods_without_the_annotation_are_allowed_unchanged(webhook: Webhook) -> None:
    pod = _pod("deployment-vllm.yaml")
    pod["metadata"]["annotations"]["genai-sidecar.io/inject"] = "false"
    response = webhook.review("Pod", pod)
    assert "patch" not in response
    del pod["metadata"]["annotations"]["genai-sidecar.io/inject"]
    assert "patch" not in webhook.review("Pod", pod)


def test_a_pod_that_cannot_be_injected_is_allowed_with_a_warning(webhook: Webhook) -> None:
    pod = _pod("lws-vllm.yaml")
    del pod["metadata"]["annotations"]["genai-sidecar.io/sidecar-port"]  # 8080 is the model's
    response = webhook.review("Pod", pod)
    assert "patch" not in response
    (warning,) = response["warnings"]
    assert "8080" in warning


def test_an_injected_pod_is_not_injected_again(webhook: Webhook) -> None:
    pod = _pod("statefulset-ollama.yaml")
    patched = _apply(pod, webhook.review("Pod", pod))
    assert "patch" not in webhook.review("Pod", patched)


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_annotated_services_are_re_pointed(webhook: Webhook, operation: str) -> None:
    """On update too: `helm upgrade` puts the chart's targetPort back."""
    service = named(workloads("deployment-vllm.yaml"), "Service", "vllm")
    service["metadata"]["annotations"] = {
        "genai-sidecar.io/inject": "true",
        "genai-sidecar.io/model-port": "http",
    }
    patched = _apply(service, webhook.review("Service", service, operation=operation))
    assert patched["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "genai-proxy"}]


def test_pod_updates_are_left_alone(webhook: Webhook) -> None:
    pod = _pod("deployment-vllm.yaml")
    assert "patch" not in webhook.review("Pod", pod, operation="UPDATE")


def test_a_bad_request_gets_400(webhook: Webhook) -> None:
    status, answer = webhook.post(b'{"kind": "AdmissionReview"}')
    assert status == 400
    assert "request.uid" in answer["error"]
    status, _ = webhook.post(b"not json")
    assert status == 400


@pytest.mark.parametrize("version", VERSIONS)
def test_patched_pods_validate_strictly(webhook: Webhook, version: str, tmp_path: Path) -> None:
    pods = []
    for case in PODS:
        pod = _pod(case)
        pod["metadata"]["name"] = pod["metadata"].pop("generateName") + "abcde"
        pods.append(_apply(pod, webhook.review("Pod", pod)))
    validate(pods, version, tmp_path)
