"""The container image recipe: hadolint-clean, two stages, a non-root final stage without build
tools, the documented entry point, and a health check on the sidecar's admin port. No Docker
engine runs here, so the image itself is never built by the tests."""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path

from sidecar._json import loads
from sidecar.config import default_config, parse_host_port

from .tools import ROOT, run, tool

DOCKERFILE = ROOT / "Dockerfile"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions(DOCKERFILE.read_text()):
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _final(name: str) -> list[str]:
    return [args for instr, args in _stages()[-1] if instr == name]


def test_hadolint_is_clean() -> None:
    result = run([tool("hadolint"), "--failure-threshold", "style", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install aiohttp\n")
    result = run([tool("hadolint"), "--failure-threshold", "style", str(bad)])
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # "latest" tag


def test_two_stages_and_the_final_one_copies_only_the_environment() -> None:
    stages = _stages()
    assert len(stages) == 2
    assert re.search(r"\bAS\s+build\b", stages[0][0][1], re.IGNORECASE)
    copies = _final("COPY")
    assert any(c.startswith("--from=build ") for c in copies)
    for command in _final("RUN"):
        assert not re.search(r"\b(pip install|apt-get|apk|gcc|make|build-essential)\b", command), command


def test_final_stage_removes_pip_and_setuptools() -> None:
    """The base image's own installer goes; the copied environment had its pip removed in the
    build stage."""
    removal = " ".join(_final("RUN"))
    for path in ("/usr/local/bin/pip*", "site-packages/pip*", "site-packages/setuptools*"):
        assert path in removal
    build_runs = " ".join(args for instr, args in _stages()[0] if instr == "RUN")
    assert re.search(r"pip uninstall --yes pip setuptools", build_runs)


def test_locked_dependencies_install_in_their_own_layer_before_the_source() -> None:
    build = _stages()[0]
    steps = [f"{instr} {args}" for instr, args in build]
    lock_copy = next(i for i, s in enumerate(steps) if s.startswith("COPY requirements.lock"))
    lock_install = next(
        i for i, s in enumerate(steps) if "--require-hashes" in s and "requirements.lock" in s
    )
    source_copy = next(i for i, s in enumerate(steps) if s.startswith("COPY sidecar"))
    assert lock_copy < lock_install < source_copy
    project_install = next(
        i for i, s in enumerate(steps) if s.startswith("RUN") and "install --no-cache-dir --no-deps ." in s
    )
    assert project_install > source_copy


def test_base_image_is_pinned_by_digest() -> None:
    text = DOCKERFILE.read_text()
    (default,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", default)
    assert [args for instr, args in _instructions(text) if instr == "FROM"] == [
        "${PYTHON_IMAGE} AS build",
        "${PYTHON_IMAGE}",
    ]


def test_oci_labels() -> None:
    labels = " ".join(_final("LABEL"))
    for key in ("title", "version", "revision", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_lock_pins_every_runtime_dependency_with_hashes() -> None:
    import tomllib

    lock = (ROOT / "requirements.lock").read_text()
    pinned: dict[str, str] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock):
        match = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if match:
            assert "--hash=sha256:" in block, match.group(1)
            pinned[match.group(1).lower().replace("_", "-")] = match.group(2)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement)
        assert name
        assert name.group(0).lower() in pinned, requirement
    # The beta exporter decides the exposed metric names: an exact, pre-release pin.
    assert re.fullmatch(r"0\.\d+b\d+", pinned["opentelemetry-exporter-prometheus"])


def test_final_stage_runs_as_a_numeric_non_root_user() -> None:
    (user,) = _final("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert int(uid) != 0
    assert gid.isdigit()
    assert int(gid) != 0


def test_entrypoint_and_default_command() -> None:
    assert [loads(e) for e in _final("ENTRYPOINT")] == [["genai-sidecar"]]
    assert [loads(c) for c in _final("CMD")] == [["run"]]


def test_config_is_read_from_a_file_that_can_be_mounted() -> None:
    env = " ".join(_final("ENV"))
    match = re.search(r"SIDECAR_CONFIG=(\S+)", env)
    assert match
    config_path = match.group(1)
    destinations = [shlex.split(c)[-1] for c in _final("COPY")]
    assert config_path in destinations


def test_healthcheck_and_exposed_ports_match_the_defaults() -> None:
    listener = default_config().listener
    _, proxy_port = parse_host_port(listener.address, "listener.address")
    _, admin_port = parse_host_port(listener.admin_address, "listener.admin_address")
    (healthcheck,) = _final("HEALTHCHECK")
    assert f":{admin_port}/healthz" in healthcheck
    exposed = {int(p) for e in _final("EXPOSE") for p in e.split()}
    assert exposed == {proxy_port, admin_port}


def _dockerignore_allows(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    allowed = True
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if pattern == "**" or fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            allowed = negate
    return allowed


def test_every_build_context_file_exists_and_is_not_ignored() -> None:
    sources = []
    for stage in _stages():
        for instruction, args in stage:
            if instruction == "COPY" and not args.startswith("--from"):
                sources += shlex.split(args)[:-1]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert _dockerignore_allows(source), f"COPY {source}: excluded by .dockerignore"
    assert not _dockerignore_allows("tests/test_cli.py")
    assert not _dockerignore_allows(".venv/bin/python")
