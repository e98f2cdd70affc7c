"""The command line as a user meets it: subprocesses, exit codes, one-line errors, signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import aiohttp
import pytest

from sidecar import __version__
from sidecar.config import default_config, load_config

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


def _toml_and_ok(stdout: str) -> dict[str, object]:
    body, ok = stdout.rstrip("\n").rsplit("\n", 1)
    assert ok == "OK"
    return tomllib.loads(body)


def test_check_config_prints_effective_config_as_toml() -> None:
    result = run_cli("check-config", str(DATA / "golden.toml"), env={"SIDECAR_UPSTREAM": "http://env:9"})
    assert result.returncode == 0, result.stderr
    effective = _toml_and_ok(result.stdout)
    assert effective["upstream"]["url"] == "http://env:9"  # type: ignore[index]
    assert effective["upstream"]["read_timeout_s"] == 600.0  # type: ignore[index]
    assert effective["listener"]["admin_address"] == "127.0.0.1:19464"  # type: ignore[index]
    assert effective["telemetry"]["semconv"] == "both"  # type: ignore[index]


def test_check_config_output_reads_back_as_the_same_config(tmp_path: Path) -> None:
    result = run_cli("check-config", str(DATA / "golden.toml"))
    assert result.returncode == 0, result.stderr
    printed = tmp_path / "printed.toml"
    printed.write_text(result.stdout.rstrip("\n").rsplit("\n", 1)[0])
    assert load_config(str(printed)) == load_config(str(DATA / "golden.toml"))


def test_check_config_without_a_file_takes_flags_and_environment() -> None:
    result = run_cli(
        "check-config",
        "--provider", "vllm",
        "--semconv", "both",
        "--call-log", "stdout",
        "--inject-include-usage", "true",
        "--upstream", "http://flag:1",
        env={"SIDECAR_UPSTREAM": "http://env:9", "SIDECAR_GENAI__MAX_LINE_BYTES": "4096"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    effective = _toml_and_ok(result.stdout)
    genai, telemetry = effective["genai"], effective["telemetry"]
    assert (genai["provider"], genai["inject_include_usage"], genai["max_line_bytes"]) == ("vllm", True, 4096)  # type: ignore[index]
    assert (telemetry["semconv"], telemetry["call_log"]) == ("both", "stdout")  # type: ignore[index]
    assert effective["upstream"]["url"] == "http://flag:1"  # type: ignore[index]  # flag > environment
    negated = run_cli(
        "check-config", "--inject-include-usage", "false", env={"SIDECAR_GENAI__INJECT_INCLUDE_USAGE": "true"}
    )
    assert _toml_and_ok(negated.stdout)["genai"]["inject_include_usage"] is False  # type: ignore[index]


def test_check_config_reports_every_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[upstream]\nurl = "ftp://x"\nread_timeout = 3\n[listener]\nmax_body_bytes = "big"\n')
    env = {"SIDECAR_TELEMETRY__SEMCONV": "newest", "OTEL_METRIC_EXPORT_INTERVAL": "soon"}
    result = run_cli("check-config", str(path), "--listen", "nowhere", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    named = ["upstream.read_timeout", "upstream.url", "listener.max_body_bytes", "listener.address"]
    named += ["SIDECAR_TELEMETRY__SEMCONV (telemetry.semconv)", "OTEL_METRIC_EXPORT_INTERVAL"]
    assert len(lines) == len(named), result.stderr
    for key in named:
        assert sum(key in line for line in lines) == 1, (key, result.stderr)
    assert not result.stdout


@pytest.mark.parametrize("command", ["run", "check-config"])
def test_an_error_from_the_environment_names_the_variable(command: str) -> None:
    result = run_cli(command, env={"SIDECAR_LISTEN": "nowhere"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "genai-sidecar: config error: SIDECAR_LISTEN (listener.address): expected HOST:PORT, got 'nowhere'"
    ]


@pytest.mark.parametrize("command", ["run", "check-config"])
def test_help_shows_each_flag_with_its_default_and_variable(command: str) -> None:
    text = " ".join(run_cli(command, "--help").stdout.split())
    defaults = default_config()
    for flag, dotted, value in (
        ("--upstream", "upstream.url", defaults.upstream.url),
        ("--listen", "listener.address", defaults.listener.address),
        ("--admin-listen", "listener.admin_address", defaults.listener.admin_address),
        ("--semconv", "telemetry.semconv", "unset"),
        ("--call-log", "telemetry.call_log", defaults.telemetry.call_log),
        ("--provider", "genai.provider", "empty"),
        ("--inject-include-usage", "genai.inject_include_usage", defaults.genai.inject_include_usage),
    ):
        variable = "SIDECAR_" + dotted.upper().replace(".", "__")
        after = text.split(f" {flag}", 2)[-1]
        env, default = after.split(f"({dotted}; env ", 1)[1].split(";")[:2]
        assert variable in env.split(" or "), flag
        assert default.startswith(f" default: {value})"), flag


def test_run_names_the_flag_of_a_port_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            "run",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            f"127.0.0.1:{port}",
            env={"SIDECAR_LISTENER__DRAIN_DELAY_S": "60"},
        )
    # Exit 2 with one line, at once: the drain delay applies to a running sidecar only.
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"127.0.0.1:{port} is already in use (listener.admin_address)" in result.stderr
    assert "--admin-listen HOST:PORT" in result.stderr


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
