"""Kubernetes: inject genai-sidecar into pod templates (YAML streams, admission webhook)."""
