"""``python -m sidecar`` is the ``genai-sidecar`` command."""

from __future__ import annotations

from sidecar.cli import main

# Guarded: the demo's child processes (multiprocessing "spawn") import the parent's main module.
if __name__ == "__main__":
    raise SystemExit(main())
