"""The command line as a user meets it: subprocesses, exit codes, one-line errors, signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from sidecar import __version__

DATA = Path(__file__).parent / "data" / "config"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"genai-sidecar {__version__}"


def test_check_config_prints_effective_config() -> None:
    result = run_cli("check-config", str(DATA / "golden.toml"), env={"SIDECAR_UPSTREAM": "http://env:9"})
    assert result.returncode == 0, result.stderr
    effective = json.loads(result.stdout)
    assert effective["upstream"]["url"] == "http://env:9"
    assert effective["upstream"]["read_timeout_s"] == 600.0
    assert effective["listener"]["admin_address"] == "127.0.0.1:19464"
    assert effective["telemetry"]["semconv"] == "both"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("bad_url.toml", "upstream.url"),
        ("bad_port.toml", "listener.address"),
        ("unknown_key.toml", "upstream.read_timeout"),
        ("wrong_type.toml", "upstream.read_timeout_s"),
    ],
)
def test_bad_config_exits_2_with_one_line_naming_the_key(name: str, key: str) -> None:
    for args in (
        ("check-config", str(DATA / "invalid" / name)),
        ("run", "--config", str(DATA / "invalid" / name)),
    ):
        result = run_cli(*args)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert key in lines[0]


def test_bad_flag_value_exits_2() -> None:
    result = run_cli("run", "--listen", "nowhere")
    assert result.returncode == 2
    assert "listener.address" in result.stderr


async def test_sigterm_drains_an_in_flight_stream(simulator) -> None:  # type: ignore[no-untyped-def]
    port, admin = free_port(), free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "run",
        "--upstream", simulator.url,
        "--listen", f"127.0.0.1:{port}",
        "--admin-listen", f"127.0.0.1:{admin}",
        env={**os.environ, "SIDECAR_LISTENER__DRAIN_DELAY_S": "0.5", "OTEL_SDK_DISABLED": "false"},
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as client:
            for _ in range(200):
                try:
                    async with client.get(f"http://127.0.0.1:{admin}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            body = {"model": "sim", "messages": [{"role": "user", "content": "hi"}], "stream": True}
            headers = {"x-sim-tokens": "20", "x-sim-itl-ms": "50"}
            async with client.post(f"http://127.0.0.1:{port}/api/chat", json=body, headers=headers) as r:
                first = await r.content.readline()
                proc.send_signal(signal.SIGTERM)
                statuses = []
                for _ in range(50):  # the signal is handled asynchronously
                    async with client.get(f"http://127.0.0.1:{admin}/readyz") as ready:
                        statuses.append(ready.status)
                    if statuses[-1] == 503:
                        break
                    await asyncio.sleep(0.01)
                assert statuses[-1] == 503
                rest = await r.content.read()
        lines = [first, *rest.splitlines(keepends=True)]
        assert json.loads(lines[-1])["done"] is True, "the in-flight stream finished"
        assert len(lines) == 21
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_bad_otel_environment_is_a_config_error_for_both_commands() -> None:
    env = {"OTEL_METRIC_EXPORT_INTERVAL": "abc"}
    for args in (("check-config", str(DATA / "golden.toml")), ("run", "--listen", "127.0.0.1:0")):
        result = run_cli(*args, env=env)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1
        assert "OTEL_METRIC_EXPORT_INTERVAL" in lines[0]
