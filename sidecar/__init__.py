"""genai-sidecar: a streaming reverse proxy that measures LLM traffic as OpenTelemetry GenAI telemetry."""

__version__ = "0.1.0"
