"""The ``inject`` and ``webhook`` subcommands: their flags and what they run.

``genai-sidecar inject [FILE]`` reads a YAML stream from FILE (stdin when absent or ``-``) and
writes it to stdout with the sidecar injected: a Helm post-renderer, or ``... | kubectl apply -f -``.
``genai-sidecar webhook`` serves the mutating admission webhook at ``/mutate`` over TLS.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from sidecar.config import ConfigError
from sidecar.k8s.inject import DEFAULT_IMAGE, InjectError, InjectOptions

EXIT_USAGE = 2


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    try:
        return int(major), int(minor.split(".")[0])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MAJOR.MINOR such as 1.30, got {text!r}") from None


def _add_options(parser: argparse.ArgumentParser) -> None:
    d = InjectOptions()
    add = parser.add_argument
    add("--model-port", type=int, metavar="PORT", help="model server port (default: its first port)")
    add("--model-container", metavar="NAME", default="", help="model container (default: the first)")
    add("--sidecar-port", type=int, default=d.sidecar_port, metavar="PORT", help="proxy port (8080)")
    add("--admin-port", type=int, default=d.admin_port, metavar="PORT", help="admin/metrics port (9464)")
    add("--provider", default="", help="gen_ai.provider.name, e.g. vllm, ollama, llama_cpp")
    add("--image", default=DEFAULT_IMAGE, help=f"sidecar image (default {DEFAULT_IMAGE})")
    add("--cpu-request", default=d.cpu_request, metavar="QTY", help=f"(default {d.cpu_request})")
    add("--memory-request", default=d.memory_request, metavar="QTY", help=f"(default {d.memory_request})")
    add("--memory-limit", default=d.memory_limit, metavar="QTY", help=f"(default {d.memory_limit})")
    config = parser.add_mutually_exclusive_group()
    config.add_argument("--config-map", default="", metavar="NAME", help="ConfigMap holding sidecar.toml")
    config.add_argument("--config-toml", metavar="FILE", help="inline sidecar.toml (a pod annotation)")
    add("--legacy", action="store_true", help="plain second container instead of a native sidecar")
    add(
        "--kubernetes-version",
        type=_version,
        default=d.kubernetes_version,
        metavar="M.N",
        help="target cluster; 1.29 gets an exec preStop instead of the sleep action (default 1.30)",
    )
    add("--prestop", type=int, default=d.prestop_s, metavar="S", help="model preStop sleep (10)")
    add("--model-drain", type=int, default=d.model_drain_s, metavar="S", help="model drain time (30)")
    add("--otlp-endpoint", default="", metavar="URL", help="OTLP/gRPC endpoint for the sidecar")
    add("--scrape-annotations", action="store_true", help="add prometheus.io/* annotations where absent")


def add_subcommands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    inject = sub.add_parser("inject", help="add the sidecar to Kubernetes YAML (stdin -> stdout)")
    inject.add_argument("file", nargs="?", default="-", metavar="FILE", help="YAML stream (default stdin)")
    inject.add_argument(
        "--all", action="store_true", help="inject every pod template not annotated inject: false"
    )
    _add_options(inject)
    webhook = sub.add_parser("webhook", help="mutating admission webhook (AdmissionReview v1, /mutate)")
    webhook.add_argument("--listen", default="0.0.0.0:8443", metavar="HOST:PORT")
    webhook.add_argument("--tls-cert", required=True, metavar="FILE")
    webhook.add_argument("--tls-key", required=True, metavar="FILE")
    _add_options(webhook)


def options_from(args: argparse.Namespace) -> InjectOptions:
    toml = ""
    if args.config_toml:
        with open(args.config_toml, encoding="utf-8") as f:
            toml = f.read()
    options = InjectOptions(
        model_port=args.model_port,
        model_container=args.model_container,
        sidecar_port=args.sidecar_port,
        admin_port=args.admin_port,
        provider=args.provider,
        image=args.image,
        cpu_request=args.cpu_request,
        memory_request=args.memory_request,
        memory_limit=args.memory_limit,
        config_map=args.config_map,
        config_toml=toml,
        native=not args.legacy,
        kubernetes_version=args.kubernetes_version,
        prestop_s=args.prestop,
        model_drain_s=args.model_drain,
        otlp_endpoint=args.otlp_endpoint,
        scrape_annotations=args.scrape_annotations,
    )
    options.check()
    return options


def run_command(args: argparse.Namespace, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    try:
        options = options_from(args)
        if args.command == "inject":
            return _inject(args, options, stdin, stdout)
        from sidecar.k8s.webhook import serve_webhook

        serve_webhook(args.listen, args.tls_cert, args.tls_key, options)
        return 0
    except (InjectError, ConfigError, OSError) as e:
        print(f"genai-sidecar {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE


def _inject(args: argparse.Namespace, options: InjectOptions, stdin: TextIO, stdout: TextIO) -> int:
    from sidecar.k8s.manifests import inject_yaml

    if args.file == "-":
        text = stdin.read()
    else:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    out, report = inject_yaml(text, options, select_all=args.all)
    stdout.write(out)
    for line in report:
        print(line, file=sys.stderr)
    return 0
