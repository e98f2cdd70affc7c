"""``python -m sidecar`` is the ``genai-sidecar`` command."""

from __future__ import annotations

from sidecar.cli import main

raise SystemExit(main())
