"""The one injection function: a pod template in, the same template with genai-sidecar added out.

Pure (no I/O, the input is never mutated) so that ``genai-sidecar inject`` (YAML streams, Helm
post-renderer), the admission webhook (JSONPatch of a Pod) and the tests share it.

What it does to a selected pod template, never overwriting what is already there:
- adds the ``genai-sidecar`` container (a native sidecar: an init container with
  ``restartPolicy: Always``, or a plain container in the legacy layout) with its listen and admin
  addresses set explicitly to the pod address, its upstream set to the model container's port
  over loopback, probes on the admin port, Downward-API identity and bounded resources;
- gives the model container a preStop sleep (unless it has a preStop of its own) so it keeps
  serving while the endpoints drain;
- raises (never lowers) ``terminationGracePeriodSeconds`` to cover preStop + drain + grace;
- adds its own volumes, the label ``genai-sidecar.io/injected`` (the PodMonitor's selector),
  the ``kubectl.kubernetes.io/default-container`` annotation and, on request, the
  ``prometheus.io/*`` scrape annotations, each only where absent.
A pod that already has a ``genai-sidecar`` container is returned unchanged (idempotent).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, replace
from typing import Any, Final

from sidecar import __version__

SIDECAR: Final = "genai-sidecar"
INJECT_ANNOTATION: Final = "genai-sidecar.io/inject"
STATUS_ANNOTATION: Final = "genai-sidecar.io/status"
CONFIG_ANNOTATION: Final = "genai-sidecar.io/config"
#: Added to every injected pod's labels: what the shipped PodMonitor selects.
INJECTED_LABEL: Final = "genai-sidecar.io/injected"
PROXY_PORT_NAME: Final = "genai-proxy"
ADMIN_PORT_NAME: Final = "genai-metrics"
CONFIG_VOLUME: Final = "genai-sidecar-config"
TMP_VOLUME: Final = "genai-sidecar-tmp"
CONFIG_DIR: Final = "/etc/genai-sidecar"
DEFAULT_IMAGE: Final = f"genai-sidecar:{__version__}"
#: Kubernetes' own default when a pod sets no terminationGracePeriodSeconds.
KUBERNETES_DEFAULT_GRACE_S: Final = 30
#: Per-pod overrides read from the pod's annotations (the webhook's per-workload knobs).
_ANNOTATION_OPTIONS: Final = {
    "genai-sidecar.io/model-port": "model_port",
    "genai-sidecar.io/model-container": "model_container",
    "genai-sidecar.io/sidecar-port": "sidecar_port",
    "genai-sidecar.io/admin-port": "admin_port",
    "genai-sidecar.io/provider": "provider",
    "genai-sidecar.io/config-map": "config_map",
}
_QUANTITY: Final = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|k|M|G)?$")


class InjectError(ValueError):
    """The pod cannot be injected as asked; the message names the workload part at fault."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InjectOptions:
    #: The model server's port in the pod; None: the model container's first containerPort.
    model_port: int | None = None
    #: The model container by name; empty: the first container.
    model_container: str = ""
    #: The sidecar's proxy port (the re-pointed Services' target). llama.cpp itself uses 8080.
    sidecar_port: int = 8080
    #: The sidecar's admin port (/metrics, /healthz, /readyz).
    admin_port: int = 9464
    #: ``gen_ai.provider.name`` (``vllm``, ``ollama``, ``llama_cpp``...); empty: per dialect.
    provider: str = ""
    image: str = DEFAULT_IMAGE
    image_pull_policy: str = "IfNotPresent"
    #: CPU request. 250m is sized for about 1,600 streamed chunks/s (BENCHMARKS.md: about
    #: 155 µs of CPU per chunk); one process tops out near one core (about 6,000 chunks/s).
    cpu_request: str = "250m"
    memory_request: str = "96Mi"
    memory_limit: str = "256Mi"
    #: A ConfigMap (in the pod's namespace) holding ``sidecar.toml``.
    config_map: str = ""
    #: Inline ``sidecar.toml``: stored in the pod annotation genai-sidecar.io/config and mounted
    #: through the Downward API. An existing annotation is kept.
    config_toml: str = ""
    #: Native sidecar (init container, restartPolicy Always; Kubernetes >= 1.29) or legacy.
    native: bool = True
    #: (major, minor) of the target cluster: the native preStop ``sleep`` action needs >= 1.30.
    kubernetes_version: tuple[int, int] = (1, 30)
    #: The model container's preStop sleep: the time the endpoints have to drop the pod.
    prestop_s: int = 10
    #: How long the model server needs to finish in-flight streams after SIGTERM.
    model_drain_s: int = 30
    #: OTLP endpoint for the sidecar's telemetry; empty: no OTLP export.
    otlp_endpoint: str = ""
    #: Add prometheus.io/* pod annotations (only where absent). A PodMonitor is the default.
    scrape_annotations: bool = False

    @property
    def drain_delay_s(self) -> int:
        """The sidecar's drain_delay_s. Native: 0, the sidecar is signalled only after the model
        has exited. Legacy: both get SIGTERM at once; the sidecar stops accepting one second
        before the model stops (its preStop ends), so nothing it accepts meets a closed port."""
        return 0 if self.native else max(self.prestop_s - 1, 0)

    @property
    def shutdown_grace_s(self) -> int:
        """In-flight streams may run this long after the sidecar's drain: the model's drain plus,
        in the legacy layout, the part of the model's preStop after the sidecar's drain."""
        return self.model_drain_s + (0 if self.native else self.prestop_s - self.drain_delay_s)

    @property
    def required_grace_s(self) -> int:
        """terminationGracePeriodSeconds must cover preStop + drain + grace."""
        return self.prestop_s + self.drain_delay_s + self.shutdown_grace_s

    def check(self) -> None:
        """Raise InjectError for option values that cannot work."""
        for name in ("sidecar_port", "admin_port"):
            _check_port(getattr(self, name), name)
        if self.model_port is not None:
            _check_port(self.model_port, "model_port")
        ports = [self.sidecar_port, self.admin_port]
        if self.model_port is not None:
            ports.append(self.model_port)
        if len(set(ports)) != len(ports):
            raise InjectError(f"model, sidecar and admin ports must differ, got {ports}")
        if self.prestop_s < 1 or self.model_drain_s < 1:
            raise InjectError("prestop_s and model_drain_s must be at least 1 second")
        if self.config_map and self.config_toml:
            raise InjectError("give either a ConfigMap or inline TOML, not both")
        for name in ("cpu_request", "memory_request", "memory_limit"):
            if not _QUANTITY.match(getattr(self, name)):
                raise InjectError(f"{name}: not a Kubernetes quantity: {getattr(self, name)!r}")
        if not self.image:
            raise InjectError("image must not be empty")
        if self.native and self.kubernetes_version < (1, 29):
            raise InjectError("native sidecars need Kubernetes 1.29 or newer: use the legacy layout")


def _check_port(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise InjectError(f"{name}: expected a port number 1-65535, got {value!r}")


def with_annotations(options: InjectOptions, annotations: dict[str, Any]) -> InjectOptions:
    """The options, overridden by the pod's own ``genai-sidecar.io/*`` annotations."""
    changes: dict[str, Any] = {}
    for key, field_name in _ANNOTATION_OPTIONS.items():
        raw = annotations.get(key)
        if raw is None:
            continue
        if field_name.endswith("_port"):
            try:
                changes[field_name] = int(str(raw))
            except ValueError:
                raise InjectError(f"annotation {key}: expected a port number, got {raw!r}") from None
        else:
            changes[field_name] = str(raw)
    if CONFIG_ANNOTATION in annotations:  # inline TOML already on the pod: it is the config
        changes["config_toml"] = str(annotations[CONFIG_ANNOTATION])
        changes.setdefault("config_map", "")
    updated = replace(options, **changes)
    updated.check()
    return updated


def is_injected(pod_spec: dict[str, Any]) -> bool:
    return any(c.get("name") == SIDECAR for c in _all_containers(pod_spec))


def wants_injection(annotations: dict[str, Any] | None) -> bool | None:
    """True / False when the annotation says so, None when it is absent."""
    value = (annotations or {}).get(INJECT_ANNOTATION)
    if value is None:
        return None
    return str(value).strip().lower() in ("true", "enabled", "yes", "1")


def _all_containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]


def model_container(pod_spec: dict[str, Any], options: InjectOptions) -> dict[str, Any]:
    containers = pod_spec.get("containers") or []
    if not containers:
        raise InjectError("the pod has no containers")
    if not options.model_container:
        return dict(containers[0])
    for c in containers:
        if c.get("name") == options.model_container:
            return dict(c)
    names = ", ".join(str(c.get("name")) for c in containers)
    raise InjectError(f"no container named {options.model_container!r} (containers: {names})")


def model_port(pod_spec: dict[str, Any], options: InjectOptions) -> int:
    if options.model_port is not None:
        return options.model_port
    model = model_container(pod_spec, options)
    for p in model.get("ports") or []:
        if p.get("protocol", "TCP") == "TCP" and isinstance(p.get("containerPort"), int):
            return int(p["containerPort"])
    raise InjectError(
        f"container {model.get('name')!r} declares no port: give the model port "
        "(--model-port or the annotation genai-sidecar.io/model-port)"
    )


def inject(template: dict[str, Any], options: InjectOptions) -> dict[str, Any]:
    """A copy of the pod template (``metadata`` + ``spec``) with the sidecar added."""
    options.check()
    out = copy.deepcopy(template)
    spec: dict[str, Any] = out.setdefault("spec", {})
    if is_injected(spec):
        return out
    if spec.get("hostNetwork"):
        raise InjectError("the pod uses hostNetwork: its ports would be the node's; not injected")
    metadata: dict[str, Any] = out.setdefault("metadata", {}) or {}
    out["metadata"] = metadata
    annotations: dict[str, Any] = metadata.setdefault("annotations", {}) or {}
    metadata["annotations"] = annotations
    options = with_annotations(options, annotations)
    port = model_port(spec, options)
    model_name = str(model_container(spec, options).get("name"))
    _check_free(spec, options, port)

    sidecar = _sidecar_container(options, port)
    if options.native:
        spec["initContainers"] = [sidecar, *(spec.get("initContainers") or [])]
    else:
        spec["containers"] = [*spec["containers"], sidecar]
    for c in spec["containers"]:
        if c.get("name") == model_name:
            _add_prestop(c, options)
    grace = spec.get("terminationGracePeriodSeconds")
    current = KUBERNETES_DEFAULT_GRACE_S if grace is None else int(grace)
    spec["terminationGracePeriodSeconds"] = max(current, options.required_grace_s)
    spec["volumes"] = [*(spec.get("volumes") or []), *_volumes(options)]

    labels: dict[str, Any] = metadata.setdefault("labels", {}) or {}
    metadata["labels"] = labels
    labels.setdefault(INJECTED_LABEL, "true")
    annotations[STATUS_ANNOTATION] = f"injected; version={__version__}; native={str(options.native).lower()}"
    annotations.setdefault("kubectl.kubernetes.io/default-container", model_name)
    if options.config_toml:
        annotations.setdefault(CONFIG_ANNOTATION, options.config_toml)
    if options.scrape_annotations:
        annotations.setdefault("prometheus.io/scrape", "true")
        annotations.setdefault("prometheus.io/port", str(options.admin_port))
        annotations.setdefault("prometheus.io/path", "/metrics")
    return out


def _check_free(spec: dict[str, Any], options: InjectOptions, port: int) -> None:
    """The pod shares one network namespace: the sidecar's ports must be free in it."""
    if port in (options.sidecar_port, options.admin_port):
        raise InjectError(
            f"the model listens on {port}, which the sidecar would use: choose another "
            "--sidecar-port / --admin-port"
        )
    for c in _all_containers(spec):
        for p in c.get("ports") or []:
            number, name = p.get("containerPort"), p.get("name")
            if number in (options.sidecar_port, options.admin_port):
                raise InjectError(
                    f"container {c.get('name')!r} already uses port {number}: choose another "
                    "--sidecar-port / --admin-port (llama.cpp's own default is 8080)"
                )
            if name in (PROXY_PORT_NAME, ADMIN_PORT_NAME):
                raise InjectError(f"container {c.get('name')!r} already has a port named {name!r}")
    taken = {v.get("name") for v in spec.get("volumes") or []}
    for volume in (CONFIG_VOLUME, TMP_VOLUME):
        if volume in taken:
            raise InjectError(f"the pod already has a volume named {volume!r}")


def _add_prestop(container: dict[str, Any], options: InjectOptions) -> None:
    lifecycle: dict[str, Any] = container.setdefault("lifecycle", {}) or {}
    container["lifecycle"] = lifecycle
    if "preStop" in lifecycle:
        return
    if options.kubernetes_version >= (1, 30):
        lifecycle["preStop"] = {"sleep": {"seconds": options.prestop_s}}
    else:  # the sleep action is alpha in 1.29: the model image's own sleep binary
        lifecycle["preStop"] = {"exec": {"command": ["sleep", str(options.prestop_s)]}}


def _env(options: InjectOptions, port: int) -> list[dict[str, Any]]:
    def field(name: str, path: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}

    env: list[dict[str, Any]] = [
        field("POD_NAME", "metadata.name"),
        field("POD_NAMESPACE", "metadata.namespace"),
        field("POD_UID", "metadata.uid"),
        field("NODE_NAME", "spec.nodeName"),
        # One series per pod for pushed metrics: the pod's uid is the instance id.
        {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "service.instance.id=$(POD_UID)"},
        {"name": "SIDECAR_UPSTREAM", "value": f"http://127.0.0.1:{port}"},
        {"name": "SIDECAR_LISTENER__DRAIN_DELAY_S", "value": str(options.drain_delay_s)},
        {"name": "SIDECAR_LISTENER__SHUTDOWN_GRACE_S", "value": str(options.shutdown_grace_s)},
    ]
    if options.config_map or options.config_toml:
        env.append({"name": "SIDECAR_CONFIG", "value": f"{CONFIG_DIR}/sidecar.toml"})
    if options.provider:
        env.append({"name": "SIDECAR_GENAI__PROVIDER", "value": options.provider})
    if options.otlp_endpoint:
        env.append({"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": options.otlp_endpoint})
    return env


def _sidecar_container(options: InjectOptions, port: int) -> dict[str, Any]:
    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": ADMIN_PORT_NAME},
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        }

    container: dict[str, Any] = {
        "name": SIDECAR,
        "image": options.image,
        "imagePullPolicy": options.image_pull_policy,
        # Explicit: the sidecar's own defaults are loopback-only; the pod address is needed here.
        "args": [
            "run",
            "--listen",
            f"0.0.0.0:{options.sidecar_port}",
            "--admin-listen",
            f"0.0.0.0:{options.admin_port}",
        ],
        "env": _env(options, port),
        "ports": [
            {"name": PROXY_PORT_NAME, "containerPort": options.sidecar_port, "protocol": "TCP"},
            {"name": ADMIN_PORT_NAME, "containerPort": options.admin_port, "protocol": "TCP"},
        ],
        "startupProbe": {**probe("/healthz", 1, 30), "timeoutSeconds": 1},
        "livenessProbe": probe("/healthz", 10, 3),
        "readinessProbe": probe("/readyz", 5, 2),
        "resources": {
            # No CPU limit on purpose: CFS throttling shows up as time to first chunk.
            "requests": {"cpu": options.cpu_request, "memory": options.memory_request},
            "limits": {"memory": options.memory_limit},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],
    }
    if options.native:
        container["restartPolicy"] = "Always"
    if options.config_map or options.config_toml:
        container["volumeMounts"].append({"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": True})
    return container


def _volumes(options: InjectOptions) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "16Mi"}}]
    if options.config_map:
        volumes.append({"name": CONFIG_VOLUME, "configMap": {"name": options.config_map}})
    elif options.config_toml:
        item = {
            "path": "sidecar.toml",
            "fieldRef": {"fieldPath": f"metadata.annotations['{CONFIG_ANNOTATION}']"},
        }
        volumes.append({"name": CONFIG_VOLUME, "downwardAPI": {"items": [item]}})
    return volumes
