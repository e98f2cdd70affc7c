"""The demo's three parts, each in its own process as in a real deployment: the simulated model
server, the sidecar in front of it, and the application's SDK clients. Sharing one event loop
would make every figure the loop's queueing delay rather than the model server's or the sidecar's.

Children ignore SIGINT (the terminal sends Ctrl-C to the whole process group); the parent decides:
SIGTERM asks a child to finish, SIGKILL stops it at once. Each child reports once on a pipe:
``("ok", payload)`` when it is up, or ``("error", message)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from sidecar.config import ConfigError, parse_host_port

_CONTEXT = multiprocessing.get_context("spawn")
START_TIMEOUT_S = 60.0


class DemoStartError(RuntimeError):
    """A part of the demo could not start; ``str()`` says which and why."""


def _listen_flag(key: str) -> str:
    return "--admin-listen" if key == "listener.admin_address" else "--listen"


def check_port_free(address: str, key: str) -> None:
    """Raise :class:`DemoStartError` naming the flag if ``address`` cannot be bound."""
    host, port = parse_host_port(address, key)
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise DemoStartError(
                    f"{address} is already in use ({key}); pick another with {_listen_flag(key)} HOST:PORT"
                ) from None
            raise DemoStartError(f"cannot listen on {address} ({_listen_flag(key)}): {e.strerror}") from None


# ----------------------------------------------------------------------------- child processes


def _child_setup() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def _until_sigterm() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


def _run_child(conn: multiprocessing.connection.Connection, body: Callable[[], Awaitable[None]]) -> None:
    _child_setup()
    try:
        asyncio.run(body())  # type: ignore[arg-type]
    except Exception as e:
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(e).__name__}: {e}"))
        raise SystemExit(1) from None


def _simulator_child(conn: multiprocessing.connection.Connection) -> None:
    from sidecar.simulator.server import start_simulator

    async def body() -> None:
        simulator = await start_simulator()
        conn.send(("ok", simulator.url))
        try:
            await _until_sigterm()
        finally:
            await simulator.close()

    _run_child(conn, body)


def _sidecar_child(
    conn: multiprocessing.connection.Connection, overrides: Mapping[str, Any], environ: Mapping[str, str]
) -> None:
    from sidecar.config import load_config
    from sidecar.proxy.server import Sidecar, build_telemetry

    async def body() -> None:
        config = load_config(None, environ=environ, overrides=overrides)
        sidecar = Sidecar(config, build_telemetry(config, environ))
        try:
            await sidecar.start()
            conn.send(
                ("ok", (sidecar.proxy_url, sidecar.admin_url, config.genai.inject_include_usage is not False))
            )
            await _until_sigterm()
        finally:
            await sidecar.shutdown()

    _run_child(conn, body)


def _traffic_child(
    conn: multiprocessing.connection.Connection,
    base_url: str,
    names: Sequence[str],
    rate: float,
    seed: float,
    in_flight: Synchronized[int],
    warm_up_url: str,
) -> None:
    from sidecar.demo.scenarios import SCENARIOS
    from sidecar.demo.traffic import InFlight, run_traffic, warm_up

    def report(count: int) -> None:
        in_flight.value = count

    async def body() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        chosen = [s for s in SCENARIOS if s.name in names]
        # The SDKs' first call costs far more CPU than the next ones (imports, schema building):
        # made once, straight to the model server, before "ok", so no scenario's figure carries it.
        await warm_up(warm_up_url)
        conn.send(("ok", None))
        await run_traffic(base_url, chosen, rate, seed, stop, InFlight(report))

    _run_child(conn, body)


# ------------------------------------------------------------------------------------- parent


@dataclass(slots=True)
class Child:
    name: str
    process: BaseProcess
    conn: multiprocessing.connection.Connection

    async def started(self) -> Any:
        """Wait for the child's report; its payload, or :class:`DemoStartError`."""
        ready = await asyncio.to_thread(self.conn.poll, START_TIMEOUT_S)
        if not ready:
            raise DemoStartError(f"the {self.name} did not start within {START_TIMEOUT_S:.0f} s")
        try:
            status, payload = self.conn.recv()
        except EOFError:
            raise DemoStartError(
                f"the {self.name} exited at start (exit code {self.process.exitcode})"
            ) from None
        if status != "ok":
            raise DemoStartError(f"the {self.name} could not start: {payload}")
        return payload

    def terminate(self) -> None:
        if self.process.is_alive() and self.process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()

    async def wait(self, timeout_s: float) -> bool:
        """Wait for exit; False if still alive after ``timeout_s``."""
        await asyncio.to_thread(self.process.join, timeout_s)
        return not self.process.is_alive()


def spawn(name: str, target: Callable[..., None], *args: Any) -> Child:
    parent_end, child_end = _CONTEXT.Pipe(duplex=False)
    process = _CONTEXT.Process(target=target, args=(child_end, *args), name=f"demo-{name}", daemon=True)
    process.start()
    child_end.close()
    return Child(name=name, process=process, conn=parent_end)


@dataclass(slots=True)
class Parts:
    """The simulator and the sidecar, started; the traffic is started last, by the caller."""

    simulator: Child
    sidecar: Child
    simulator_url: str
    proxy_url: str
    admin_url: str
    #: Whether the sidecar adds ``stream_options.include_usage`` to OpenAI streaming requests.
    injects_usage: bool


async def start_parts(
    *, listen: str, admin_listen: str, environ: Mapping[str, str], overrides: Mapping[str, Any]
) -> Parts:
    """Start the simulator, then the sidecar in front of it (traffic is started by the caller)."""
    try:
        check_port_free(listen, "listener.address")
        check_port_free(admin_listen, "listener.admin_address")
    except ConfigError as e:
        raise DemoStartError(str(e)) from None
    simulator = spawn("simulated model server", _simulator_child)
    try:
        simulator_url: str = await simulator.started()
        sidecar_overrides = {
            **overrides,
            "upstream.url": simulator_url,
            "listener.address": listen,
            "listener.admin_address": admin_listen,
        }
        sidecar = spawn("sidecar", _sidecar_child, sidecar_overrides, dict(environ))
        try:
            proxy_url, admin_url, injects_usage = await sidecar.started()
        except BaseException:
            sidecar.kill()
            raise
    except BaseException:
        simulator.kill()
        raise
    return Parts(
        simulator=simulator,
        sidecar=sidecar,
        simulator_url=simulator_url,
        proxy_url=proxy_url,
        admin_url=admin_url,
        injects_usage=injects_usage,
    )


def start_traffic(
    base_url: str, names: Sequence[str], rate: float, seed: float, warm_up_url: str
) -> tuple[Child, Synchronized[int]]:
    """The SDK clients against ``base_url`` (the sidecar); ``warm_up_url``: the model server."""
    in_flight: Synchronized[int] = _CONTEXT.Value("i", 0)
    args = (base_url, list(names), rate, seed, in_flight, warm_up_url)
    return spawn("traffic", _traffic_child, *args), in_flight
