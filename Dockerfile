# syntax=docker/dockerfile:1
# genai-sidecar container image.
#
# Two stages: "build" installs the package and its dependencies into a virtual environment;
# the final stage copies only that environment onto a fresh slim Python base, so no pip cache,
# source tree or build tooling ships. Every runtime dependency (aiohttp, uvloop, orjson, grpcio)
# installs from a binary wheel, so neither stage needs a compiler.
#
# Build:  docker build -t genai-sidecar:0.1.0 .
# Run:    docker run --rm -p 8080:8080 -p 9464:9464 \
#           -v "$PWD/sidecar.toml:/etc/genai-sidecar/sidecar.toml:ro" genai-sidecar:0.1.0

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/genai-sidecar
COPY pyproject.toml README.md ./
COPY sidecar ./sidecar
RUN /opt/genai-sidecar/bin/pip install --no-cache-dir . \
    && /opt/genai-sidecar/bin/genai-sidecar --version

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="genai-sidecar" \
      org.opencontainers.image.description="Streaming reverse proxy that measures LLM traffic as OpenTelemetry GenAI telemetry" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify the user without a passwd lookup.
RUN groupadd --system --gid 10001 sidecar \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin sidecar
COPY --from=build /opt/genai-sidecar /opt/genai-sidecar
# The default configuration; mount a ConfigMap or a file over it (or point SIDECAR_CONFIG elsewhere).
COPY config.example.toml /etc/genai-sidecar/sidecar.toml
ENV PATH=/opt/genai-sidecar/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SIDECAR_CONFIG=/etc/genai-sidecar/sidecar.toml
USER 10001:10001
# 8080: the proxy (clients); 9464: admin (/metrics, /healthz, /readyz), never proxied.
EXPOSE 8080 9464
# The slim base has no curl; the interpreter the sidecar runs on does the probe.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=2)"]
# SIGTERM starts the graceful drain; give `docker stop -t` more than drain_delay_s + shutdown_grace_s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["genai-sidecar"]
CMD ["run"]
