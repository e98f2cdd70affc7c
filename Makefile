# genai-sidecar developer tasks. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
# The demo gets its own light venv: the package and the two SDKs the traffic uses, no dev tools.
DEMO_VENV ?= .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install fmt lint typecheck test unit e2e cov check run demo simulate bench deps

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the package with dev tools

deps: $(STAMP) ## system and real-component dependencies for the e2e and deployment tests
	bash scripts/e2e-deps.sh $(VENV)
	bash scripts/deploy-deps.sh $(VENV)

fmt: $(STAMP) ## format the code
	$(BIN)/ruff format sidecar tests bench
	$(BIN)/ruff check --fix sidecar tests bench

lint: $(STAMP) ## ruff, format check, import layers
	$(BIN)/ruff check sidecar tests bench
	$(BIN)/ruff format --check sidecar tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP) ## mypy --strict
	$(BIN)/mypy

unit: $(STAMP) ## the test suite without the real-component e2e tests
	$(BIN)/pytest -m "not e2e" --cov --cov-report=term-missing:skip-covered

e2e: deps ## end-to-end tests against llama.cpp, rotel and Prometheus
	$(BIN)/pytest -m e2e

test: deps lint typecheck ## everything CI runs: lint, type check, unit and e2e tests
	$(BIN)/pytest --cov --cov-report=term-missing:skip-covered

run: $(STAMP) ## run the sidecar in front of a local Ollama (http://127.0.0.1:11434)
	$(BIN)/genai-sidecar run

simulate: $(STAMP) ## run the built-in simulated model server on :11434
	$(BIN)/genai-sidecar simulate --port 11434

$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(DEMO_VENV)
	@echo "installing the demo's dependencies into $(DEMO_VENV) (the package and the openai/ollama SDKs) ..."
	$(DEMO_VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[demo]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP) ## simulator + sidecar + labelled scenarios, live summary (ARGS="--duration 20")
	$(DEMO_VENV)/bin/genai-sidecar demo $(ARGS)

bench: $(STAMP) ## side-by-side benchmark: direct vs nginx vs sidecar (writes bench/results/)
	bash scripts/bench-deps.sh $(VENV)
	$(PY) -m bench $(BENCH_ARGS)
