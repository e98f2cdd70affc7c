"""Merge the Prometheus text expositions of several worker processes into one.

Every worker exports the same metric families with the same label sets (the process identity is
only in ``target_info``), so the process group's value of a series is the sum of the workers'
values: counters, histogram buckets, ``_sum`` and ``_count``, and the up-down gauges the sidecar
exports (requests in flight). ``target_info`` is the exception: it carries each worker's
``service_instance_id``, so its series stay apart (one per worker), and identical ones are kept once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

_NOT_SUMMED = frozenset({"target_info"})

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(slots=True)
class _Family:
    type: str
    help: str
    samples: dict[SeriesKey, float] = field(default_factory=dict)


def merge_expositions(texts: Iterable[str]) -> bytes:
    """One exposition whose every series is the sum of that series over ``texts``."""
    families: dict[str, _Family] = {}
    for text in texts:
        for metric in text_string_to_metric_families(text):
            family = families.setdefault(metric.name, _Family(type=metric.type, help=metric.documentation))
            summed = metric.name not in _NOT_SUMMED
            for sample in metric.samples:
                key = (sample.name, tuple(sample.labels.items()))
                previous = family.samples.get(key)
                if previous is None or not summed:
                    family.samples[key] = sample.value
                else:
                    family.samples[key] = previous + sample.value
    return _render(families).encode()


def _render(families: dict[str, _Family]) -> str:
    lines: list[str] = []
    for name, family in families.items():
        # The parser drops a counter's ``_total`` from the family name; the text format keeps it.
        header = f"{name}_total" if family.type == "counter" else name
        kind = "untyped" if family.type == "unknown" else family.type
        lines.append(f"# HELP {header} {_escape_help(family.help)}")
        lines.append(f"# TYPE {header} {kind}")
        for (sample_name, labels), value in family.samples.items():
            if labels:
                rendered = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
                lines.append(f"{sample_name}{{{rendered}}} {_number(value)}")
            else:
                lines.append(f"{sample_name} {_number(value)}")
    lines.append("")
    return "\n".join(lines)


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)
