#!/usr/bin/env bash
# Install what `make bench` runs besides the project itself:
#   Debian `nginx` (the reference proxy, started by the benchmark with its own config in a temp dir)
#   and, into the project venv, `rotel` (the OTLP collector the sidecar exports to, as a blackhole).
# Idempotent: each part is skipped when already present, so a second run takes a moment.
# Usage: scripts/bench-deps.sh [VENV]   (default: .venv; run as root for apt-get)
set -euo pipefail

VENV="${1:-.venv}"
ROTEL="rotel==0.0.1a15"
PY="$VENV/bin/python"
if [[ ! -x "$PY" ]]; then
    echo "bench-deps: no Python at $PY (create the venv first)" >&2
    exit 2
fi

if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
    if [[ "$(id -u)" != 0 ]]; then
        echo "bench-deps: nginx is missing; run as root or: apt-get install nginx" >&2
        exit 2
    fi
    echo "bench-deps: installing Debian nginx"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends nginx
    # The package may start a system service where an init system runs; the benchmark starts its own.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
        systemctl stop nginx || true
    fi
fi

if ! "$PY" -c 'import importlib.util, pathlib, sys
spec = importlib.util.find_spec("rotel")
sys.exit(spec is None or not (pathlib.Path(spec.origin).parent / "rotel-agent").is_file())' \
    2>/dev/null; then
    echo "bench-deps: pip install $ROTEL"
    "$PY" -m pip install -q "$ROTEL"
fi

echo "bench-deps: ready"
