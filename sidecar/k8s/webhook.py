"""Mutating admission webhook: AdmissionReview v1 at ``/mutate`` over TLS.

Pods annotated ``genai-sidecar.io/inject: "true"`` get the sidecar (the same :func:`inject` as
``genai-sidecar inject``), as a JSONPatch. Services annotated the same way have the ports that
target the model port (``genai-sidecar.io/model-port``: a number or a port name, or the
webhook's ``--model-port``) re-pointed to the sidecar's proxy port, on create and on update.
Anything else, and any pod that cannot be injected, is allowed unchanged with a warning: the
webhook never blocks a pod.
"""

from __future__ import annotations

import base64
import logging
import ssl
from typing import Any, Final

from aiohttp import web

from sidecar import _json
from sidecar.config import parse_host_port
from sidecar.k8s.inject import INJECT_ANNOTATION, InjectError, InjectOptions, inject, wants_injection
from sidecar.k8s.manifests import repoint_service

log = logging.getLogger("sidecar.k8s.webhook")
MODEL_PORT_ANNOTATION: Final = "genai-sidecar.io/model-port"
#: An AdmissionReview holds one object; etcd keeps objects up to 1.5 MiB.
MAX_REVIEW_BYTES: Final = 8 * 1024 * 1024


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def json_patch(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """RFC 6902 operations turning ``before`` into ``after``, where ``after`` differs only in
    the pod's labels, annotations and top-level spec fields (what :func:`inject` changes)."""
    ops: list[dict[str, Any]] = []
    meta_before = before.get("metadata") or {}
    meta_after = after.get("metadata") or {}
    for key in ("labels", "annotations"):
        if meta_after.get(key) != meta_before.get(key):
            op = "replace" if key in meta_before else "add"
            ops.append({"op": op, "path": _pointer("metadata", key), "value": meta_after[key]})
    spec_before = before.get("spec") or {}
    for key, value in (after.get("spec") or {}).items():
        if spec_before.get(key) != value:
            op = "replace" if key in spec_before else "add"
            ops.append({"op": op, "path": _pointer("spec", key), "value": value})
    return ops


def review(body: dict[str, Any], options: InjectOptions) -> dict[str, Any]:
    """The AdmissionReview response to an AdmissionReview request (pure)."""
    request = body.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("uid"), str):
        raise InjectError("not an AdmissionReview: request.uid is missing")
    response: dict[str, Any] = {"uid": request["uid"], "allowed": True}
    obj = request.get("object")
    kind = (request.get("kind") or {}).get("kind")
    operation = request.get("operation", "CREATE")
    # Pods are injected when created; Services also when updated, since `helm upgrade` (a
    # three-way merge) would otherwise put the model's targetPort back.
    if isinstance(obj, dict) and (operation == "CREATE" or (operation == "UPDATE" and kind == "Service")):
        try:
            mutated = _mutate(kind, obj, options)
        except InjectError as e:
            name = (obj.get("metadata") or {}).get("name") or (obj.get("metadata") or {}).get("generateName")
            log.warning("not injected: %s %s/%s: %s", kind, request.get("namespace"), name, e)
            response["warnings"] = [f"genai-sidecar: not injected: {e}"]
            mutated = obj
        patch = json_patch(obj, mutated)
        if patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(_json.dumps(patch)).decode("ascii")
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


def _mutate(kind: object, obj: dict[str, Any], options: InjectOptions) -> dict[str, Any]:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if not wants_injection(annotations):
        return obj
    if kind == "Pod":
        return inject(obj, options)
    if kind == "Service":
        raw = str(annotations.get(MODEL_PORT_ANNOTATION, options.model_port or ""))
        if not raw:
            raise InjectError(
                f"the Service needs the annotation {MODEL_PORT_ANNOTATION} (a port number or name)"
            )
        return repoint_service(obj, int(raw) if raw.isdigit() else raw)
    return obj


def make_app(options: InjectOptions) -> web.Application:
    async def mutate(request: web.Request) -> web.Response:
        try:
            body = _json.loads(await request.read())
            if not isinstance(body, dict):
                raise InjectError("expected a JSON object")
            answer = review(body, options)
        except (InjectError, ValueError) as e:
            return web.json_response({"error": str(e)}, status=400, dumps=_dumps)
        return web.Response(body=_json.dumps(answer), content_type="application/json")

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application(client_max_size=MAX_REVIEW_BYTES)
    app.router.add_post("/mutate", mutate)
    app.router.add_get("/healthz", healthz)
    return app


def _dumps(value: Any) -> str:
    return _json.dumps(value).decode()


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def serve_webhook(listen: str, cert: str, key: str, options: InjectOptions) -> None:
    """Serve until SIGTERM / SIGINT. Restart the pod after the Secret's certificate rotates."""
    host, port = parse_host_port(listen, "--listen")
    try:
        context = tls_context(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise InjectError(f"cannot load the TLS certificate {cert} / key {key}: {e}") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("admission webhook on https://%s:%d/mutate (annotation %s)", host, port, INJECT_ANNOTATION)
    web.run_app(make_app(options), host=host, port=port, ssl_context=context, print=None)
