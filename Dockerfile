# syntax=docker/dockerfile:1
# genai-sidecar container image.
#
# Two stages: "build" installs the locked dependencies (requirements.lock, with hashes) and then
# the package into a virtual environment; the final stage copies only that environment onto a
# fresh slim Python base and removes pip and setuptools, so no installer, pip cache, source
# tree or build tooling ships. Every runtime dependency installs from a binary wheel, so
# neither stage needs a compiler.
#
# Build:  docker build -t genai-sidecar:0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
# Run:    docker run --rm -p 8080:8080 -p 9464:9464 genai-sidecar:0.1.0 \
#           run --upstream http://host.docker.internal:11434 \
#           --listen 0.0.0.0:8080 --admin-listen 0.0.0.0:9464
# (The sidecar listens on loopback unless told otherwise: in a container, give the pod or
# container address explicitly, as above and as the Kubernetes manifests do.)

# The base image, pinned by digest so that a rebuild gets the same bytes. The digest is the one
# a public project recorded for python:3.11-slim-bookworm; no registry is reachable where this
# file was written, so verify it before the first build and refresh it from time to time
# (security updates) with:
#   docker buildx imagetools inspect python:3.11-slim-bookworm --format '{{json .Manifest.Digest}}'
# (or `crane digest python:3.11-slim-bookworm`), then replace the digest below.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/genai-sidecar
# Dependencies first, in their own layer: a source change does not reinstall them.
COPY requirements.lock ./
RUN /opt/genai-sidecar/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY sidecar ./sidecar
RUN /opt/genai-sidecar/bin/pip install --no-cache-dir --no-deps . \
    && /opt/genai-sidecar/bin/pip check \
    && /opt/genai-sidecar/bin/genai-sidecar --version \
    && /opt/genai-sidecar/bin/pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
# Set to the repository the image is built from: --build-arg SOURCE=https://...
ARG SOURCE=""
LABEL org.opencontainers.image.title="genai-sidecar" \
      org.opencontainers.image.description="Streaming reverse proxy that measures LLM traffic as OpenTelemetry GenAI telemetry" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
# No installer in the final image: the base's own pip and setuptools go; a fixed numeric
# uid/gid so that Kubernetes' runAsNonRoot can verify the user without a passwd lookup.
RUN rm -rf /usr/local/bin/pip* /usr/local/lib/python3.11/site-packages/pip* \
       /usr/local/lib/python3.11/site-packages/setuptools* \
       /usr/local/lib/python3.11/site-packages/_distutils_hack \
       /usr/local/lib/python3.11/site-packages/distutils-precedence.pth \
    && groupadd --system --gid 10001 sidecar \
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
