"""The conformance table (``semconv_table.json``) and the checks every emitted signal must pass.

The table is data taken from the convention YAML by ``scripts/semconv_table.py`` (each entry names
its source file and commit). The checks here take emitted telemetry in a plain shape, the same
whether it was read from in-memory readers, from a real OTLP receiver or from ``/metrics``, and
return the list of problems (empty = conformant):

- a metric's name exists in a version the naming mode emits, or is in the project's namespace;
  its instrument, unit and advised buckets are the table's;
- every attribute on a data point is one the table lets that metric carry, every Required one is
  there, and every value has the registry type;
- span and event attributes likewise, against the span definition of the operation (inference or
  embeddings, plus the OpenAI refinement for ``gen_ai.provider.name=openai``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from sidecar import _json

TABLE_PATH = Path(__file__).with_name("semconv_table.json")
MODES = ("v1.41", "latest", "both")
OWN_PREFIX = "genai_sidecar."

#: Attributes the sidecar puts on its GenAI spans beyond the span definitions, each with the reason
#: (also listed in the README's SEMCONV conformance notes).
EXTRA_SPAN_ATTRIBUTES: Mapping[str, str] = {
    "http.response.status_code": "the upstream's HTTP status, the one fact a proxy adds to a GenAI call",
}


@cache
def table() -> dict[str, Any]:
    loaded: dict[str, Any] = _json.loads(TABLE_PATH.read_bytes())
    return loaded


def versions(mode: str) -> tuple[str, ...]:
    return ("v1.41", "latest") if mode == "both" else (mode,)


@dataclass
class MetricPoint:
    name: str
    #: ``histogram`` | ``counter`` | ``updowncounter`` (an OTLP non-monotonic sum or a gauge)
    kind: str
    unit: str
    attributes: dict[str, Any]
    bounds: list[float] | None = None


@dataclass
class SpanRecord:
    name: str
    attributes: dict[str, Any]
    status_code: str = "UNSET"
    status_description: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        inner = {_type_of(v) for v in value}
        if len(inner) == 1:
            return f"{inner.pop()}[]"
        return "string[]" if not value else "mixed[]"
    return type(value).__name__


def _types_match(expected: str, value: Any) -> bool:
    actual = _type_of(value)
    if expected == "any":
        return True
    if expected == "string[]" and isinstance(value, list | tuple) and not value:
        return True
    return actual == expected


def expected_type(mode: str, key: str) -> str | None:
    """The type a key must have in ``mode``. In "both" mode a key whose type differs between
    the versions takes the released (v1.41) type: the default version's consumers never see a
    changed type (the one rule, documented in the README)."""
    for version in versions(mode) if mode != "both" else ("v1.41", "latest"):
        found = table()[version]["types"].get(key)
        if found is not None:
            return str(found["type"])
    return None


def _metric_spec(mode: str, name: str) -> tuple[str, dict[str, Any]] | None:
    for version in versions(mode):
        spec = table()[version]["metrics"].get(name)
        if spec is not None:
            return version, spec
    return None


_KINDS = {"histogram": "histogram", "counter": "counter", "updowncounter": "updowncounter"}


def check_metric(mode: str, point: MetricPoint) -> list[str]:
    where = f"{mode}: metric {point.name}{point.attributes}"
    problems: list[str] = []
    problems += _check_types(mode, point.attributes, where)
    if point.name.startswith(OWN_PREFIX):
        problems += [
            f"{where}: own-namespace metric carries semconv key {key!r} with a changed meaning"
            for key in point.attributes
            if key.startswith("gen_ai.") and key not in _genai_metric_keys(mode)
        ]
        return problems
    found = _metric_spec(mode, point.name)
    if found is None:
        return [*problems, f"{where}: not a metric of {versions(mode)}"]
    _, spec = found
    if _KINDS[spec["instrument"]] != point.kind:
        problems.append(f"{where}: instrument {point.kind}, table says {spec['instrument']}")
    if spec["unit"] != point.unit:
        problems.append(f"{where}: unit {point.unit!r}, table says {spec['unit']!r}")
    if (
        spec.get("buckets") is not None
        and point.bounds is not None
        and [float(b) for b in point.bounds] != [float(b) for b in spec["buckets"]]
    ):
        problems.append(f"{where}: buckets {point.bounds}, table says {spec['buckets']}")
    allowed = {**spec["attributes"], **(spec.get("openai_attributes") or {})}
    for key in point.attributes:
        if key not in allowed:
            problems.append(f"{where}: attribute {key!r} is not one this metric may carry")
    for key, level in spec["attributes"].items():
        if level == "required" and key not in point.attributes:
            problems.append(f"{where}: Required attribute {key!r} missing")
    return problems


@cache
def _genai_metric_keys(mode: str) -> frozenset[str]:
    keys: set[str] = set()
    for version in versions(mode):
        for spec in table()[version]["metrics"].values():
            keys.update(spec["attributes"])
    return frozenset(keys)


def _check_types(mode: str, attributes: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    for key, value in attributes.items():
        if key.startswith(OWN_PREFIX):
            continue
        expected = expected_type(mode, key)
        if expected is None:
            continue  # unknown keys are reported by the caller's allow-list
        if not _types_match(expected, value):
            problems.append(f"{where}: {key}={value!r} is {_type_of(value)}, registry type is {expected}")
    return problems


def span_definitions(mode: str, attributes: Mapping[str, Any]) -> list[dict[str, str]]:
    """The span definitions (attribute -> requirement level) a GenAI span must satisfy."""
    embeddings = attributes.get("gen_ai.operation.name") == "embeddings"
    out = []
    for version in versions(mode):
        spans = table()[version]["spans"]
        if embeddings:
            kind = "gen_ai.embeddings.client" if version == "v1.41" else "gen_ai.client.embeddings"
        else:
            kind = "gen_ai.inference.client" if version == "v1.41" else "gen_ai.client.inference"
        defined = dict(spans[kind]["attributes"])
        if attributes.get("gen_ai.provider.name") == "openai":
            for key, level in spans["openai.inference.client"]["attributes"].items():
                defined.setdefault(key, level)
        out.append(defined)
    return out


def check_span(mode: str, span: SpanRecord, *, extra_allowed: Iterable[str] = ()) -> list[str]:
    where = f"{mode}: span {span.name!r}"
    definitions = span_definitions(mode, span.attributes)
    allowed = {key for d in definitions for key in d} | set(EXTRA_SPAN_ATTRIBUTES) | set(extra_allowed)
    problems = _check_types(mode, span.attributes, where)
    for key in span.attributes:
        if key not in allowed and not key.startswith(OWN_PREFIX):
            problems.append(f"{where}: attribute {key!r} is not in the span definition")
    for definition in definitions:
        for key, level in definition.items():
            if level == "required" and key not in span.attributes:
                problems.append(f"{where}: Required attribute {key!r} missing")
    if "error.type" in span.attributes:
        if span.status_code != "ERROR":
            problems.append(f"{where}: error.type set but status {span.status_code}")
        if span.status_description == span.attributes["error.type"]:
            problems.append(f"{where}: status description repeats error.type")
    return problems


def check_event(
    mode: str, name: str, attributes: Mapping[str, Any], severity_number: int | None
) -> list[str]:
    where = f"{mode}: event {name}"
    problems = []
    specs = [table()[v]["events"][name] for v in versions(mode) if name in table()[v]["events"]]
    if not specs:
        return [f"{where}: not an event of {versions(mode)}"]
    expected_severity = {s["severity_number"] for s in specs if s["severity_number"] is not None}
    if expected_severity and severity_number not in expected_severity:
        problems.append(f"{where}: severity {severity_number}, spec says {sorted(expected_severity)}")
    allowed = {k for s in specs for k in s["attributes"]}
    if name == "gen_ai.client.inference.operation.details":
        allowed |= {k for d in span_definitions(mode, attributes) for k in d} | set(EXTRA_SPAN_ATTRIBUTES)
    for key in attributes:
        if key not in allowed and not key.startswith(OWN_PREFIX):
            problems.append(f"{where}: attribute {key!r} is not in the event definition")
    return problems + _check_types(mode, attributes, where)


# ------------------------------------------------------------------- message schemas


def message_schema(attribute: str, mode: str = "latest") -> dict[str, Any]:
    """A strict JSON schema for a content attribute, built from the table's schema facts: every
    part is one of the defined part types (its ``type`` names it), with its required fields and
    property types; the catch-all generic part must say ``"type": "generic"`` (development
    branch rule), so a misspelt or malformed part fails instead of passing as generic."""
    facts = table()["latest" if mode != "v1.41" else "v1.41"]["schemas"][attribute]
    json_types = {
        "string": "string",
        "null": "null",
        "array": "array",
        "object": "object",
        "integer": "integer",
        "number": "number",
        "boolean": "boolean",
    }

    def prop(types: Sequence[str]) -> dict[str, Any]:
        if "any" in types:
            return {}
        return {"type": [json_types[t] for t in types]}

    alternatives = [
        {
            "type": "object",
            "properties": {"type": {"const": kind}, **{k: prop(v) for k, v in spec["properties"].items()}},
            "required": spec["required"],
        }
        for kind, spec in facts["parts"].items()
    ]
    if attribute == "gen_ai.tool.definitions":
        # GenericToolDefinition: a provider's own tool kind, with a name (the generic-part rule
        # of the development branch is about message parts, not tools).
        defined = {"enum": list(facts["parts"])}
        alternatives.append(
            {
                "type": "object",
                "properties": {"type": {"type": "string", "not": defined}, "name": {"type": "string"}},
                "required": ["type", "name"],
            }
        )
    else:
        alternatives.append(
            {"type": "object", "properties": {"type": {"const": "generic"}}, "required": ["type"]}
        )
    part = {"oneOf": alternatives}
    message = facts["message"]
    if message is None:  # system instructions / tool definitions: a list of parts
        return {"type": "array", "items": part}
    props = {k: prop(v) for k, v in message["properties"].items()}
    props["parts"] = {"type": "array", "items": part}
    return {
        "type": "array",
        "items": {"type": "object", "properties": props, "required": message["required"]},
    }
