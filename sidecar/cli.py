"""Command line: the only module that calls ``sys.exit`` (through ``main``'s return code)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from sidecar import __version__
from sidecar.config import (
    CONFIG_FILE_ENV,
    Config,
    ConfigError,
    as_dict,
    check_config,
    default_config,
    env_names,
    load_config,
    parse_host_port,
)

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genai-sidecar",
        description="Streaming reverse proxy that turns LLM traffic into OpenTelemetry GenAI telemetry.",
    )
    parser.add_argument("--version", action="version", version=f"genai-sidecar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="proxy the upstream model server")
    _add_config_flags(run)
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="proxy processes sharing the listener (SO_REUSEPORT); the admin port sums them (default 1)",
    )
    check = sub.add_parser(
        "check-config",
        help="validate the configuration (file, SIDECAR_* and OTEL_* environment, flags); print it as TOML",
    )
    check.add_argument("file", metavar="FILE", nargs="?", help="TOML config file (optional)")
    _add_config_flags(check, with_file=False)

    demo = sub.add_parser("demo", help="simulator + sidecar + labelled traffic, with a live summary")
    demo.add_argument(
        "--duration", type=float, metavar="SECONDS", help="stop after this long (default: Ctrl-C)"
    )
    demo.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="run only this scenario (normal, expensive, low_quality, errors, no_usage); repeatable",
    )
    demo.add_argument("--rate", type=float, default=2.0, help="requests per second per scenario (default 2)")
    demo.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT")
    demo.add_argument("--admin-listen", default="127.0.0.1:9464", metavar="HOST:PORT")

    sim = sub.add_parser("simulate", help="run the built-in simulated model server")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=11434)

    # Kubernetes: `inject` (YAML streams, Helm post-renderer) and `webhook` (admission webhook).
    from sidecar.k8s.commands import add_subcommands

    add_subcommands(sub)
    return parser


#: Flags that set one configuration key each: (flag, dotted key, metavar, help).
_CONFIG_FLAGS: tuple[tuple[str, str, str, str], ...] = (
    ("--upstream", "upstream.url", "URL", "model server base URL"),
    ("--listen", "listener.address", "HOST:PORT", "proxy listener"),
    ("--admin-listen", "listener.admin_address", "HOST:PORT", "admin listener: /metrics, /healthz, /readyz"),
    (
        "--provider",
        "genai.provider",
        "NAME",
        "gen_ai.provider.name of the model server (ollama, vllm, llama_cpp, tgi, openai...); "
        "empty: the wire format's default",
    ),
    (
        "--semconv",
        "telemetry.semconv",
        "{v1.41,latest,both}",
        "semantic-convention names; unset: latest if OTEL_SEMCONV_STABILITY_OPT_IN has "
        "gen_ai_latest_experimental, else v1.41",
    ),
    ("--call-log", "telemetry.call_log", "{off,stdout}", "one record per GenAI call (stdout: JSON lines)"),
)
_USAGE_KEY = "genai.inject_include_usage"


def _default(dotted: str) -> object:
    node: object = default_config()
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def _where(dotted: str) -> str:
    default = _default(dotted)
    shown = {"": "empty", None: "unset"}.get(default, default)  # type: ignore[call-overload]
    if isinstance(shown, bool):
        shown = str(shown).lower()
    return f"({dotted}; env {' or '.join(env_names(dotted))}; default: {shown})".replace("%", "%%")


def _add_config_flags(parser: argparse.ArgumentParser, *, with_file: bool = True) -> None:
    if with_file:
        parser.add_argument("--config", metavar="FILE", help=f"TOML config file (env {CONFIG_FILE_ENV})")
    for flag, dotted, metavar, text in _CONFIG_FLAGS:
        parser.add_argument(flag, dest=dotted, metavar=metavar, help=f"{text} {_where(dotted)}")
    parser.add_argument(
        "--inject-include-usage",
        dest=_USAGE_KEY,
        metavar="{auto,true,false}",
        type=_usage_choice,
        help="ask OpenAI-format servers for streamed usage on the client's behalf, and remove the "
        "extra chunk from what the client receives; auto: stop on a path whose server refuses it "
        f"{_where(_USAGE_KEY)}",
    )


def _usage_choice(text: str) -> str | bool:
    choices: dict[str, str | bool] = {"auto": "auto", "true": True, "false": False}
    if text.lower() not in choices:
        raise argparse.ArgumentTypeError(f"expected auto, true or false, got {text!r}")
    return choices[text.lower()]


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    keys = [dotted for _, dotted, _, _ in _CONFIG_FLAGS] + [_USAGE_KEY]
    return {key: getattr(args, key, None) for key in keys}


def _load(args: argparse.Namespace, path: str | None) -> Config:
    config = load_config(path, environ=os.environ, overrides=_overrides(args))
    # The OTEL_* environment is part of the effective configuration: check it here too, so that
    # check-config catches what `run` would stop on.
    from sidecar.telemetry.settings import resolve

    exporters = config.exporters
    resolve(config.telemetry, exporters.otlp, exporters.prometheus, os.environ)
    # So are the HMAC key and the price file.
    errors = _attribution_errors(config)
    if errors:
        raise errors[0]
    return config


def _attribution_errors(config: Config) -> list[ConfigError]:
    """The HMAC key (from the environment or a file) and the price file, read at start-up."""
    from sidecar.telemetry.cost import PriceTable
    from sidecar.telemetry.identity import load_key

    errors: list[ConfigError] = []
    try:
        load_key(config.telemetry.identity, os.environ)
    except ConfigError as e:
        errors.append(e)
    if config.telemetry.cost.prices:
        try:
            PriceTable.load(config.telemetry.cost.prices)
        except ConfigError as e:
            errors.append(e)
    return errors


def _check(args: argparse.Namespace) -> int:
    """Every error on its own line (exit 2), or the effective configuration as TOML and OK."""
    config, errors = check_config(args.file, environ=os.environ, overrides=_overrides(args))
    if config is not None:
        errors += _otel_errors(config)
        errors += _attribution_errors(config)
    for error in errors:
        print(f"genai-sidecar: config error: {error}", file=sys.stderr)
    if errors or config is None:
        return EXIT_CONFIG
    from sidecar.toml_dump import dumps

    sys.stdout.write(dumps(as_dict(config)))
    sys.stdout.write("OK\n")
    return 0


def _otel_errors(config: Config) -> list[ConfigError]:
    """Every malformed OTEL_* variable: after each error that variable is left out and the check runs
    again."""
    from sidecar.telemetry.settings import resolve

    environ = dict(os.environ)
    errors: list[ConfigError] = []
    exporters = config.exporters
    while True:
        try:
            resolve(config.telemetry, exporters.otlp, exporters.prometheus, environ)
        except ConfigError as e:
            errors.append(e)
            if environ.pop(e.key, None) is None:
                return errors
        else:
            return errors


def _start_error(error: OSError, config: Config) -> str:
    """Name the flag of a listen address already in use."""
    import errno

    if error.errno == errno.EADDRINUSE:
        from sidecar.demo.processes import DemoStartError, check_port_free

        for address, key in (
            (config.listener.address, "listener.address"),
            (config.listener.admin_address, "listener.admin_address"),
        ):
            try:
                check_port_free(address, key)
            except DemoStartError as named:
                return str(named)
    return str(error)


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _demo(args: argparse.Namespace) -> int:
    from sidecar.demo.processes import DemoStartError
    from sidecar.demo.runner import pick, run_demo
    from sidecar.demo.traffic import MissingSDK, check_sdks

    if args.rate <= 0:
        raise ConfigError("--rate", f"must be greater than 0, got {args.rate}")
    if args.duration is not None and args.duration <= 0:
        raise ConfigError("--duration", f"must be greater than 0, got {args.duration}")
    try:
        pick(args.scenario)
    except ValueError as e:
        raise ConfigError("--scenario", str(e)) from None
    try:
        check_sdks()
    except MissingSDK as e:
        print(f"genai-sidecar demo: {e}", file=sys.stderr)
        return 1
    _setup_logging("warning")
    _install_uvloop()
    try:
        asyncio.run(
            run_demo(
                out=sys.stdout,
                duration_s=args.duration,
                scenarios=args.scenario,
                rate=args.rate,
                listen=args.listen,
                admin_listen=args.admin_listen,
            )
        )
    except DemoStartError as e:
        print(f"genai-sidecar demo: cannot start: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return EXIT_CONFIG
    try:
        if args.command == "check-config":
            return _check(args)
        if args.command == "simulate":
            from sidecar.simulator.server import run_simulator

            _setup_logging("info")
            _install_uvloop()
            run_simulator(args.host, args.port)
            return 0
        if args.command == "demo":
            return _demo(args)
        if args.command in ("inject", "webhook"):
            from sidecar.k8s.commands import run_command

            return run_command(args)
        config = _load(args, args.config)
        if args.workers < 1:
            raise ConfigError("--workers", f"must be at least 1, got {args.workers}")
        if args.workers > 1 and parse_host_port(config.listener.address, "listener.address")[1] == 0:
            raise ConfigError("--workers", "needs a fixed listener.address port, not 0")
    except ConfigError as e:
        print(f"genai-sidecar: config error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    from sidecar.proxy.server import raise_file_limit

    _setup_logging(config.logging.level)
    raise_file_limit()
    try:
        if args.workers > 1:
            from sidecar.proxy.workers import run_workers

            return run_workers(config, args.workers, os.environ)
        from sidecar.proxy.server import serve

        _install_uvloop()
        asyncio.run(serve(config))
    except ConfigError as e:
        print(f"genai-sidecar: config error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as e:  # a port that cannot be bound: one line, exit 2, no drain delay
        print(f"genai-sidecar: cannot start: {_start_error(e, config)}", file=sys.stderr)
        return EXIT_CONFIG
    return 0
