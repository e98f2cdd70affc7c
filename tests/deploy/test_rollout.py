"""A pod's termination during a rollout, played on loopback with real processes: the model
server stand-in (drains on SIGTERM) and the real sidecar, started with the arguments and
environment of its container as `inject` or kustomize renders it. The test plays the kubelet
and the endpoints controller:

  t=0        the pod is deleted; clients keep arriving for ENDPOINTS_S (endpoint propagation)
  native:    model preStop sleep, then SIGTERM to the model; once it has exited, SIGTERM to
             the sidecar (an init container with restartPolicy Always is stopped last)
  legacy:    SIGTERM to the sidecar at once; model preStop sleep, then SIGTERM to the model
  t=grace    SIGKILL to whatever still runs

Streams started before and during the termination must all end complete, with no 502. A run
with the model's preStop removed shows that the harness sees the failure the preStop prevents.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sidecar.k8s.inject import SIDECAR, InjectOptions, inject

CHUNKS = 15
INTERVAL_S = 0.1
PRESTOP_S = 3
MODEL_DRAIN_S = 10
ENDPOINTS_S = 1.0
STANDIN = Path(__file__).with_name("model_standin.py")


@dataclass
class Outcome:
    status: int
    body: bytes
    error: str = ""

    @property
    def complete(self) -> bool:
        text = self.body.decode(errors="replace")
        return self.status == 200 and all(f"t{i} " in text for i in range(CHUNKS)) and "[DONE]" in text


def _ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@dataclass
class Wiring:
    """What the kubelet and the sidecar process need from a rendered pod."""

    native: bool
    args: list[str]
    env: dict[str, str]
    prestop_s: int
    grace_s: int
    ports: tuple[int, int, int]  # model, sidecar proxy, sidecar admin (free loopback ports)


def _container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in [*spec.get("initContainers", []), *spec["containers"]] if c["name"] == name]
    return found


def _wiring(spec: dict[str, Any], model_name: str, ports: tuple[int, int, int], **env: str) -> Wiring:
    """The sidecar's args and literal env from the pod, the pod address made loopback."""
    sidecar = _container(spec, SIDECAR)
    prestop = _container(spec, model_name)["lifecycle"]["preStop"]
    seconds = prestop["sleep"]["seconds"] if "sleep" in prestop else int(prestop["exec"]["command"][-1])
    literal = {e["name"]: e["value"] for e in sidecar["env"] if "value" in e}
    literal.pop("OTEL_RESOURCE_ATTRIBUTES")  # refers to the Downward API's POD_UID
    literal.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    return Wiring(
        native=sidecar.get("restartPolicy") == "Always",
        args=[a.replace("0.0.0.0", "127.0.0.1") for a in sidecar["args"]],
        env={**literal, **env},
        prestop_s=int(seconds),
        grace_s=spec.get("terminationGracePeriodSeconds", 30),
        ports=ports,
    )


def _injected(native: bool) -> Wiring:
    ports = model_port, sidecar_port, admin_port = tuple(_ports(3))
    template = {
        "metadata": {"labels": {"app": "model"}},
        "spec": {"containers": [{"name": "model", "image": "m", "ports": [{"containerPort": model_port}]}]},
    }
    options = InjectOptions(
        native=native,
        sidecar_port=sidecar_port,
        admin_port=admin_port,
        prestop_s=PRESTOP_S,
        model_drain_s=MODEL_DRAIN_S,
    )
    return _wiring(inject(template, options)["spec"], "model", ports)


def _kustomized(overlay: str, tmp_path: Path) -> Wiring:
    """The example's pod as kustomize renders it, on free ports, its ConfigMap as the file."""
    from .tools import ROOT, find, objects

    docs = objects(ROOT / overlay)
    spec = find(docs, "Deployment", "ollama")["spec"]["template"]["spec"]
    config = tmp_path / "sidecar.toml"
    config.write_text(find(docs, "ConfigMap", "genai-sidecar-config")["data"]["sidecar.toml"])
    ports = model_port, sidecar_port, admin_port = tuple(_ports(3))
    wiring = _wiring(
        spec, "ollama", ports, SIDECAR_CONFIG=str(config), SIDECAR_UPSTREAM=f"http://127.0.0.1:{model_port}"
    )
    wiring.args = [
        a.replace(":8080", f":{sidecar_port}").replace(":9464", f":{admin_port}") for a in wiring.args
    ]
    return wiring


async def _start_sidecar(wiring: Wiring) -> asyncio.subprocess.Process:
    env = {**os.environ, **wiring.env, "OTEL_SDK_DISABLED": "true"}
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "sidecar", *wiring.args, env=env)


async def _wait_for(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as r:
                    if r.status < 500:
                        return
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


async def _stream(session: aiohttp.ClientSession, url: str) -> Outcome:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    try:
        async with session.post(url + "/v1/chat/completions", json=body) as r:
            return Outcome(r.status, await r.read())
    except aiohttp.ClientError as e:
        return Outcome(0, b"", repr(e))


async def _rollout(wiring: Wiring, *, model_prestop: bool = True) -> list[Outcome]:
    model_port, sidecar_port, admin_port = wiring.ports
    native = wiring.native
    prestop = wiring.prestop_s if model_prestop else 0
    grace = wiring.grace_s
    model = await asyncio.create_subprocess_exec(
        sys.executable, str(STANDIN), str(model_port), str(CHUNKS), str(INTERVAL_S)
    )
    sidecar = await _start_sidecar(wiring)
    url = f"http://127.0.0.1:{sidecar_port}"
    try:
        await _wait_for(f"http://127.0.0.1:{admin_port}/readyz")
        await _wait_for(f"http://127.0.0.1:{model_port}/")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            streams = [asyncio.create_task(_stream(session, url)) for _ in range(5)]
            await asyncio.sleep(0.5)  # in flight when the pod is deleted
            kubelet = asyncio.create_task(_terminate(native, model, sidecar, prestop, grace))
            loop = asyncio.get_running_loop()
            end = loop.time() + ENDPOINTS_S
            while loop.time() < end:  # clients the endpoints controller still sends here
                streams.append(asyncio.create_task(_stream(session, url)))
                await asyncio.sleep(0.2)
            outcomes = await asyncio.gather(*streams)
            await kubelet
    finally:
        for process in (model, sidecar):
            if process.returncode is None:
                process.kill()
                await process.wait()
    return list(outcomes)


async def _terminate(
    native: bool,
    model: asyncio.subprocess.Process,
    sidecar: asyncio.subprocess.Process,
    prestop: int,
    grace: int,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    if not native:
        sidecar.send_signal(signal.SIGTERM)
    await asyncio.sleep(prestop)
    model.send_signal(signal.SIGTERM)
    await _wait_until(model, deadline)
    if native:
        sidecar.send_signal(signal.SIGTERM)
    await _wait_until(sidecar, deadline)


async def _wait_until(process: asyncio.subprocess.Process, deadline: float) -> None:
    timeout = max(deadline - asyncio.get_running_loop().time(), 0)
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:  # the kubelet's SIGKILL at the end of the grace period
        process.kill()
        await process.wait()


@pytest.mark.parametrize("native", [True, False], ids=["native", "legacy"])
async def test_rollout_cuts_no_stream_and_gives_no_502(native: bool) -> None:
    outcomes = await _rollout(_injected(native))
    assert len(outcomes) >= 8
    bad = [o for o in outcomes if not o.complete]
    assert not bad, [(o.status, o.error, o.body[-80:]) for o in bad]


@pytest.mark.parametrize("overlay", ["k8s/examples/ollama", "k8s/examples/ollama-legacy"])
async def test_kustomize_examples_roll_out_without_cut_streams(overlay: str, tmp_path: Path) -> None:
    """The component's own timing (5 s preStop in the example, drain 0 or 4 s, grace 20 s,
    Kubernetes' default 30 s grace period) as kustomize renders it."""
    outcomes = await _rollout(_kustomized(overlay, tmp_path))
    assert len(outcomes) >= 8
    bad = [o for o in outcomes if not o.complete]
    assert not bad, [(o.status, o.error, o.body[-80:]) for o in bad]


async def test_without_the_model_prestop_clients_meet_errors() -> None:
    """The same rollout with the model signalled at once: the harness sees what the preStop
    prevents (new clients during endpoint propagation reach a model that no longer accepts)."""
    outcomes = await _rollout(_injected(True), model_prestop=False)
    assert any(o.status == 502 for o in outcomes[5:])
    assert all(o.complete for o in outcomes[:5])  # the model drains what it had
