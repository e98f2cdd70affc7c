"""Helpers shared by the injection and webhook tests: read an injected pod the way the kubelet
and the sidecar would, and validate objects with kubernetes-validate --strict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sidecar.config import Config, load_config, parse_host_port

from .tools import SIDECAR, container, plain_env, port_number, run, tool, yaml

DATA = Path(__file__).parent / "data" / "workloads"
#: Kubernetes versions every rendered result must validate for.
VERSIONS = ["1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0"]


def workloads(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DATA / name).read_text()) if d]


def sidecar_config(sidecar: dict[str, Any]) -> Config:
    """The configuration the sidecar container starts with: its flags over its environment
    (the image's default config file underneath, whose keys these override)."""
    args = sidecar["args"]
    assert args[0] == "run"
    flags = dict(zip(args[1::2], args[2::2], strict=True))
    env = {k: v for k, v in plain_env(sidecar).items() if k != "SIDECAR_CONFIG"}
    overrides = {"listener.address": flags["--listen"], "listener.admin_address": flags["--admin-listen"]}
    return load_config(None, environ=env, overrides=overrides)


def check_service_reaches_sidecar(service: dict[str, Any], spec: dict[str, Any]) -> None:
    """Every port of the Service that was re-pointed ends at the sidecar's listener."""
    sidecar = container(spec, SIDECAR)
    _, listen_port = parse_host_port(sidecar_config(sidecar).listener.address, "listener.address")
    targets = [p.get("targetPort", p["port"]) for p in service["spec"]["ports"]]
    assert any(port_number(sidecar, t) == listen_port for t in targets if isinstance(t, str))


def as_pod(template: dict[str, Any], name: str) -> dict[str, Any]:
    """A pod template as a Pod object, so a CRD's template validates as a PodSpec."""
    meta = {**template.get("metadata", {}), "name": name}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}


def validate(objects: list[dict[str, Any]], version: str, tmp_path: Path) -> None:
    """kubernetes-validate --strict, offline; raises with its output when anything fails."""
    path = tmp_path / f"objects-{version}.yaml"
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    result = run([tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The one object of ``kind`` named exactly ``name``."""
    (match,) = [o for o in objects if o.get("kind") == kind and o["metadata"]["name"] == name]
    return match
