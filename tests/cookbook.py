"""The README's PromQL cookbook, read from the README itself: (title, record name, expression)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RULES = ROOT / "k8s" / "observability" / "rules" / "genai-sidecar-cookbook.rules.yaml"

_BLOCK = re.compile(r"```promql\n# (?P<title>.+?) -- record: (?P<record>\S+)\n(?P<expr>.+?)\n```", re.S)


def cookbook() -> list[tuple[str, str, str]]:
    section = README.read_text().split("## PromQL cookbook", 1)[1].split("\n## ", 1)[0]
    return [(m["title"], m["record"], m["expr"].strip()) for m in _BLOCK.finditer(section)]
