"""Kubernetes objects in, the same objects with genai-sidecar injected out (no I/O).

Every object with a pod template is a candidate: Pod, Deployment, StatefulSet, DaemonSet,
ReplicaSet, Job, CronJob, LeaderWorkerSet (its leader template, or the worker template when
there is no leader template) and anything else with a ``spec.template`` holding a pod spec.
A template is selected when it or its object is annotated ``genai-sidecar.io/inject: "true"``, or
when ``select_all`` is set and neither says ``"false"``. Each Service in the same stream that
selects injected pods and targets the model port is re-pointed to the sidecar's proxy port.
``kind: List`` objects (``kubectl get -o yaml``) are walked item by item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sidecar.k8s.inject import (
    PROXY_PORT_NAME,
    InjectError,
    InjectOptions,
    inject,
    is_injected,
    model_container,
    model_port,
    wants_injection,
    with_annotations,
)

#: The label the LeaderWorkerSet controller puts on every pod of a set (Services select on it).
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"


@dataclass(frozen=True, slots=True)
class _Target:
    """What a Service needs to know about injected pods to re-point itself."""

    namespace: str | None
    labels: dict[str, str]
    model_port: int
    model_port_names: frozenset[str]


@dataclass(slots=True)
class Result:
    objects: list[Any]
    #: One line per change, for the user (``deployment/vllm: injected``).
    report: list[str] = field(default_factory=list)


def _template_path(obj: dict[str, Any]) -> tuple[str, ...] | None:
    kind = obj.get("kind")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return None
    if kind == "Pod":
        return ()
    if kind == "CronJob":
        return ("spec", "jobTemplate", "spec", "template")
    if kind == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        key = "leaderTemplate" if lwt.get("leaderTemplate") else "workerTemplate"
        return ("spec", "leaderWorkerTemplate", key)
    template = spec.get("template")
    if (
        isinstance(template, dict)
        and isinstance(template.get("spec"), dict)
        and "containers" in template["spec"]
    ):
        return ("spec", "template")
    return None


def _get(obj: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _set(obj: dict[str, Any], path: tuple[str, ...], value: dict[str, Any]) -> dict[str, Any]:
    if not path:
        return value
    out = dict(obj)
    out[path[0]] = _set(dict(obj.get(path[0]) or {}), path[1:], value)
    return out


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{str(obj.get('kind', '?')).lower()}/{meta.get('name', '?')}"


def _selected(obj: dict[str, Any], template: dict[str, Any], select_all: bool) -> bool:
    votes = [
        wants_injection((obj.get("metadata") or {}).get("annotations")),
        wants_injection((template.get("metadata") or {}).get("annotations")),
    ]
    if False in votes:
        return False
    return True in votes or select_all


def inject_objects(objects: list[Any], options: InjectOptions, *, select_all: bool = False) -> Result:
    """Inject every selected pod template, then re-point the Services that reach them."""
    result = Result(objects=[])
    targets: list[_Target] = []
    for obj in objects:
        result.objects.append(_inject_one(obj, options, select_all, targets, result.report))
    result.objects = [_repoint(obj, targets, result.report) for obj in result.objects]
    return result


def _inject_one(
    obj: Any, options: InjectOptions, select_all: bool, targets: list[_Target], report: list[str]
) -> Any:
    if not isinstance(obj, dict):
        return obj
    if obj.get("kind") == "List" and isinstance(obj.get("items"), list):
        items = [_inject_one(item, options, select_all, targets, report) for item in obj["items"]]
        return {**obj, "items": items}
    path = _template_path(obj)
    template = _get(obj, path) if path is not None else None
    if path is None or template is None or not _selected(obj, template, select_all):
        return obj
    try:
        if is_injected(template.get("spec") or {}):
            report.append(f"{_name(obj)}: already injected, unchanged")
            injected = template
        else:
            injected = inject(template, options)
            report.append(f"{_name(obj)}: injected")
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        effective = with_annotations(options, annotations)
        port = model_port(template["spec"], effective)
        model = model_container(template["spec"], effective)
    except InjectError as e:
        raise InjectError(f"{_name(obj)}: {e}") from None
    meta = obj.get("metadata") or {}
    labels = {str(k): str(v) for k, v in ((injected.get("metadata") or {}).get("labels") or {}).items()}
    if obj.get("kind") == "LeaderWorkerSet" and meta.get("name"):
        labels[LWS_NAME_LABEL] = str(meta["name"])
    names = frozenset(
        str(p["name"]) for p in model.get("ports") or [] if p.get("name") and p.get("containerPort") == port
    )
    targets.append(_Target(meta.get("namespace"), labels, port, names))
    return _set(obj, path, injected)


def _repoint(obj: Any, targets: list[_Target], report: list[str]) -> Any:
    if not isinstance(obj, dict):
        return obj
    if obj.get("kind") == "List" and isinstance(obj.get("items"), list):
        return {**obj, "items": [_repoint(item, targets, report) for item in obj["items"]]}
    if obj.get("kind") != "Service":
        return obj
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    selector = spec.get("selector") or {}
    if wants_injection(meta.get("annotations")) is False or not selector:
        return obj
    namespace = meta.get("namespace")
    for target in targets:
        same_namespace = namespace is None or target.namespace is None or namespace == target.namespace
        if not same_namespace or any(target.labels.get(k) != str(v) for k, v in selector.items()):
            continue
        out, changed = _repoint_ports(obj, {target.model_port, *target.model_port_names})
        if changed:
            report.append(f"{_name(obj)}: port {', '.join(changed)} now targets {PROXY_PORT_NAME}")
            return out
    return obj


def _repoint_ports(service: dict[str, Any], model: set[int | str]) -> tuple[dict[str, Any], list[str]]:
    """The Service with each port that targets the model (a number or a port name) sent to the
    sidecar's proxy port by name, and the names of the ports changed."""
    spec = service.get("spec") or {}
    ports = []
    changed = []
    for port in spec.get("ports") or []:
        if port.get("targetPort", port.get("port")) in model:
            port = {**port, "targetPort": PROXY_PORT_NAME}
            changed.append(str(port.get("name") or port.get("port")))
        ports.append(port)
    return ({**service, "spec": {**spec, "ports": ports}} if changed else service), changed


def repoint_service(service: dict[str, Any], model_port: int | str) -> dict[str, Any]:
    """A Service seen alone (by the webhook): ports targeting ``model_port`` go to the sidecar."""
    return _repoint_ports(service, {model_port})[0]


def inject_yaml(text: str, options: InjectOptions, *, select_all: bool = False) -> tuple[str, list[str]]:
    """A YAML stream in, the injected YAML stream and the report out. Raises InjectError."""
    import yaml  # only `genai-sidecar inject` needs PyYAML; `run` never imports it

    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as e:
        raise InjectError(f"the input is not valid YAML: {e}") from None
    result = inject_objects(documents, options, select_all=select_all)
    out = yaml.safe_dump_all(result.objects, sort_keys=False, default_flow_style=False, width=1000)
    return out, result.report
