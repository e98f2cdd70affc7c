"""Helpers for the deployment tests: find the external tools, render kustomizations, read pods.

The tools (kubectl, kubernetes-validate, hadolint, promtool, openssl) come from
scripts/deploy-deps.sh. A missing tool fails its tests, never skips them, so no run can pass
without having checked the manifests.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
SIDECAR = "genai-sidecar"


def tool(name: str) -> str:
    """Path of an external tool: the venv's bin directory first, then PATH."""
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(f"{name} is not installed: run scripts/deploy-deps.sh (make test does)")


def run(args: Sequence[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@functools.cache
def _render(path: str) -> str:
    result = run([tool("kubectl"), "kustomize", path])
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return result.stdout


def render(path: Path) -> str:
    """`kubectl kustomize PATH` as text (cached: the manifests do not change during a run)."""
    return _render(str(path))


def objects(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(render(path)) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one object of ``kind`` (and ``name``, or a generated name starting with it)."""
    matches = [
        d
        for d in docs
        if d["kind"] == kind
        and (name is None or d["metadata"]["name"] == name or d["metadata"]["name"].startswith(f"{name}-"))
    ]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    """A container of the pod by name, from ``containers`` or ``initContainers``."""
    for c in [*spec.get("initContainers", []), *spec["containers"]]:
        if c["name"] == name:
            return dict(c)
    raise AssertionError(f"no container {name!r}")


def port_number(c: dict[str, Any], port: int | str) -> int:
    """Resolve a numeric or named port of a container."""
    if isinstance(port, int):
        return port
    for p in c.get("ports", []):
        if p.get("name") == port:
            return int(p["containerPort"])
    raise AssertionError(f"container {c['name']} has no port named {port!r}")


def plain_env(c: dict[str, Any]) -> dict[str, str]:
    """The container's literal environment variables (those with ``value``)."""
    return {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}
