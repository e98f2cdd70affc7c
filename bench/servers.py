"""Start the servers under test, each in its own process: simulator, nginx, rotel, the sidecar."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench import nginx
from bench.processes import Child, Processes, free_port, wait_for_http, wait_for_port

VENV_BIN = Path(sys.executable).parent
METRIC_EXPORT_INTERVAL_MS = 5000
"""OTLP metric push interval for the sidecar under test (the default is 60 s, longer than a phase)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Server:
    """A running server: where clients connect and the process to measure."""

    name: str
    url: str
    child: Child
    admin_url: str | None = None

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


def _console_script(name: str) -> str:
    path = VENV_BIN / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `make install` first")
    return str(path)


async def start_simulator(procs: Processes) -> Server:
    port = free_port()
    argv = [_console_script("genai-sidecar"), "simulate", "--host", "127.0.0.1", "--port", str(port)]
    child = procs.start("simulator", argv)
    url = f"http://127.0.0.1:{port}"
    await wait_for_http(child, url + "/v1/models")
    return Server(name="direct", url=url, child=child)


async def start_nginx(procs: Processes, work_dir: Path, upstream_port: int) -> Server | None:
    """nginx in front of the simulator, or ``None`` when nginx is not installed."""
    binary = nginx.nginx_binary()
    if binary is None:
        return None
    port = free_port()
    prefix = work_dir / "nginx"
    config = nginx.write_config(prefix, listen_port=port, upstream_port=upstream_port)
    child = procs.start("nginx", nginx.argv(binary, prefix, config))
    url = f"http://127.0.0.1:{port}"
    await wait_for_http(child, url + "/v1/models")
    return Server(name="nginx", url=url, child=child)


def rotel_binary() -> Path | None:
    spec = importlib.util.find_spec("rotel")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "rotel-agent"
        if candidate.is_file():
            return candidate
    return None


async def start_rotel(procs: Processes, work_dir: Path) -> tuple[str, Child] | None:
    """A rotel collector that drops everything it receives: its OTLP/gRPC endpoint and process."""
    binary = rotel_binary()
    if binary is None:
        return None
    grpc_port, http_port = free_port(), free_port()
    argv = [str(binary), "start", "--exporter", "blackhole"]
    argv += ["--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}"]
    argv += ["--otlp-http-endpoint", f"127.0.0.1:{http_port}"]
    argv += ["--pid-file", str(work_dir / "rotel.pid"), "--log-file", str(work_dir / "rotel-daemon.log")]
    child = procs.start("rotel", argv)
    await wait_for_port(child, grpc_port)
    return f"http://127.0.0.1:{grpc_port}", child


async def start_sidecar(
    procs: Processes,
    upstream_url: str,
    otlp_endpoint: str | None,
    *,
    name: str = "sidecar",
    extra_env: Mapping[str, str] | None = None,
    workers: int = 1,
    binary: str | None = None,
) -> Server:
    """``genai-sidecar run`` (this venv's, or ``binary``) with Prometheus on and, given an endpoint,
    OTLP metrics, spans and logs."""
    port, admin = free_port(), free_port()
    argv = [binary or _console_script("genai-sidecar"), "run", "--upstream", upstream_url]
    argv += ["--workers", str(workers)]
    argv += ["--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}"]
    env = {
        "SIDECAR_LISTENER__SHUTDOWN_GRACE_S": "2",
        "SIDECAR_LOGGING__LEVEL": "warning",
        "OTEL_SERVICE_NAME": "genai-sidecar-bench",
    }
    if otlp_endpoint is not None:
        env |= {
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_METRIC_EXPORT_INTERVAL": str(METRIC_EXPORT_INTERVAL_MS),
        }
    env |= extra_env or {}
    child = procs.start(name, argv, env=env)
    admin_url = f"http://127.0.0.1:{admin}"
    await wait_for_http(child, admin_url + "/readyz")
    return Server(name=name, url=f"http://127.0.0.1:{port}", child=child, admin_url=admin_url)


async def start_passthrough(procs: Processes, upstream_url: str, body: str) -> Server:
    """The bare aiohttp pass-through (``bench.passthrough``) with the body loop ``body``."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.passthrough", "--upstream", upstream_url, "--port", str(port)]
    child = procs.start(f"aiohttp-{body}", [*argv, "--body", body])
    url = f"http://127.0.0.1:{port}"
    await wait_for_http(child, url + "/v1/models")
    return Server(name=f"aiohttp-{body}", url=url, child=child)
