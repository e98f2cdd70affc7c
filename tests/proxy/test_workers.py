"""``run --workers 2``: one port, two processes, one admin port whose /metrics are the exact sums,
and SIGTERM drains every worker."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sidecar.cli import main
from sidecar.proxy.merge import merge_expositions
from sidecar.simulator.server import RunningSimulator

TOKENS = 7
BODY = {
    "model": "m",
    "messages": [{"role": "user", "content": "hi"}],
    "stream": True,
    "stream_options": {"include_usage": True},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def _workers(
    upstream: str, count: int = 2
) -> AsyncIterator[tuple[str, str, asyncio.subprocess.Process]]:
    port, admin = _free_port(), _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "run", "--workers", str(count),
        "--upstream", upstream,
        "--listen", f"127.0.0.1:{port}",
        "--admin-listen", f"127.0.0.1:{admin}",
        env={**os.environ, "SIDECAR_LISTENER__DRAIN_DELAY_S": "0.2", "OTEL_SDK_DISABLED": "false"},
    )  # fmt: skip
    admin_url = f"http://127.0.0.1:{admin}"
    try:
        async with aiohttp.ClientSession() as client:
            for _ in range(600):
                try:
                    async with client.get(f"{admin_url}/readyz") as r:
                        if r.status == 200:
                            assert (await r.json())["ready"] == count
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the worker group never became ready")
        yield f"http://127.0.0.1:{port}", admin_url, proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _families(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {
        f.name: [(s.name, s.labels, s.value) for s in f.samples] for f in text_string_to_metric_families(text)
    }


async def test_admin_metrics_are_the_exact_sums_over_workers(simulator: RunningSimulator) -> None:
    requests = 40
    async with _workers(simulator.url) as (url, admin_url, _):
        # A new connection per request, so the kernel spreads them over both workers.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as client:
            for _ in range(requests):
                headers = {"x-sim-tokens": str(TOKENS)}
                async with client.post(f"{url}/v1/chat/completions", json=BODY, headers=headers) as r:
                    assert r.status == 200
                    await r.read()
            async with client.get(f"{admin_url}/metrics") as m:
                assert m.status == 200
                families = _families(await m.text())
    duration = families["gen_ai_client_operation_duration_seconds"]
    assert sum(v for name, _, v in duration if name.endswith("_count")) == requests
    infinite = [v for name, labels, v in duration if name.endswith("_bucket") and labels["le"] == "+Inf"]
    assert sum(infinite) == requests
    usage = families["gen_ai_client_token_usage"]
    output = [
        v for name, labels, v in usage if name.endswith("_sum") and labels["gen_ai_token_type"] == "output"
    ]
    assert sum(output) == requests * TOKENS
    instances = {labels.get("service_instance_id") for _, labels, _ in families["target_info"]}
    assert None not in instances
    assert len(instances) == 2, "each worker has its own service.instance.id"


async def test_sigterm_drains_every_worker(simulator: RunningSimulator) -> None:
    async with _workers(simulator.url) as (url, _, proc):
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as client:
            headers = {"x-sim-tokens": "20", "x-sim-itl-ms": "50"}
            responses = [
                await client.post(f"{url}/v1/chat/completions", json=BODY, headers=headers) for _ in range(8)
            ]
            firsts = [await r.content.readuntil(b"\n\n") for r in responses]
            proc.send_signal(signal.SIGTERM)
            bodies = [first + await r.read() for first, r in zip(firsts, responses, strict=True)]
            for r in responses:
                r.release()
        for body in bodies:
            assert body.rstrip().endswith(b"data: [DONE]"), "every in-flight stream finished"
        assert await asyncio.wait_for(proc.wait(), timeout=60) == 0


def test_merge_sums_counters_and_histograms_and_keeps_target_info_apart() -> None:
    one = (
        "# HELP a_total A.\n# TYPE a_total counter\n"
        'a_total{k="x"} 2.0\n'
        "# HELP h H.\n# TYPE h histogram\n"
        'h_bucket{le="1.0"} 1.0\nh_bucket{le="+Inf"} 3.0\nh_sum 4.5\nh_count 3.0\n'
        "# HELP target_info Target metadata\n# TYPE target_info gauge\n"
        'target_info{service_instance_id="a"} 1.0\n'
    )
    two = one.replace('k="x"} 2.0', 'k="x"} 5.0').replace("h_sum 4.5", "h_sum 0.25").replace('"a"', '"b"')
    merged = _families(merge_expositions([one, two]).decode())
    assert merged["a"] == [("a_total", {"k": "x"}, 7.0)]
    assert merged["h"] == [
        ("h_bucket", {"le": "1.0"}, 2.0),
        ("h_bucket", {"le": "+Inf"}, 6.0),
        ("h_sum", {}, 4.75),
        ("h_count", {}, 6.0),
    ]
    assert [labels for _, labels, _ in merged["target_info"]] == [
        {"service_instance_id": "a"},
        {"service_instance_id": "b"},
    ]


def test_workers_need_a_fixed_port(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "--workers", "2", "--upstream", "http://127.0.0.1:9", "--listen", "127.0.0.1:0"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--workers" in err[0]
    assert "port" in err[0]
