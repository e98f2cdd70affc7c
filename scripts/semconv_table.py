"""Regenerate tests/conformance/semconv_table.json from checkouts of the semantic conventions.

    python scripts/semconv_table.py \
        --v1-41 DIR --v1-41-commit SHA \
        --latest DIR --latest-commit SHA [--latest-file-commit model/gen-ai/events.yaml=SHA ...] \
        > tests/conformance/semconv_table.json

``--v1-41`` is a checkout of open-telemetry/semantic-conventions at tag v1.41.0 (``model/``,
``docs/gen-ai/``); ``--latest`` one of open-telemetry/semantic-conventions-genai main
(``model/gen-ai/``). The table keeps, per naming version: every GenAI metric the sidecar may emit
(name, instrument, unit, advised buckets, the attributes it may carry with their requirement
level), the inference and embeddings spans' attributes, the events, the attribute types, and the
facts of the message JSON schemas (required fields and property types per part type). Each entry
names the file and commit it was read from. Nothing of the checkouts is kept besides these facts.
"""

from __future__ import annotations

import argparse
import json  # noqa: TID251 (a standalone tool: indent and sort_keys for a reviewable diff)
import re
import sys
from pathlib import Path
from typing import Any

import yaml

#: Metrics and spans of interest (the sidecar is a client of one model server).
V1_41_METRICS = (
    "gen_ai.client.token.usage",
    "gen_ai.client.operation.duration",
    "gen_ai.client.operation.time_to_first_chunk",
    "gen_ai.client.operation.time_per_output_chunk",
    "gen_ai.server.request.duration",
    "gen_ai.server.time_per_output_token",
    "gen_ai.server.time_to_first_token",
    "http.server.request.duration",
)
V1_41_SPANS = {
    "gen_ai.inference.client": "span.gen_ai.inference.client",
    "gen_ai.embeddings.client": "span.gen_ai.embeddings.client",
    "openai.inference.client": "span.openai.inference.client",
}
V1_41_EVENTS = ("gen_ai.client.inference.operation.details", "gen_ai.client.operation.exception")
SCHEMAS = {
    "gen_ai.input.messages": "gen-ai-input-messages.json",
    "gen_ai.output.messages": "gen-ai-output-messages.json",
    "gen_ai.system_instructions": "gen-ai-system-instructions.json",
    "gen_ai.tool.definitions": "gen-ai-tool-definitions.json",
}
#: Types of attributes the development registry added or changed, read from the generated
#: attribute tables of docs/gen-ai/client-inference.md (the registry file itself is not needed
#: for anything else: every other type is unchanged from v1.41).
LATEST_TYPES = {
    "gen_ai.request.top_k": "int",
    "gen_ai.request.reasoning.level": "string",
    "gen_ai.request.previous_response.id": "string",
    "gen_ai.conversation.compacted": "boolean",
    "gen_ai.prompt.name": "string",
    "gen_ai.prompt.version": "string",
    "gen_ai.prompt.variable": "template[string]",
    "gen_ai.usage.cache_write.input_tokens": "int",
    "gen_ai.token.modality": "string",
    **{
        f"gen_ai.usage.{modality}.{kind}": "int"
        for modality in ("text", "image", "audio")
        for kind in ("input_tokens", "output_tokens", "cache_read.input_tokens")
    },
}
LATEST_TYPES_SOURCE = "docs/gen-ai/client-inference.md@024a4f944a1291fcb627c9c47da69e79868dd15e"


def _level(entry: dict[str, Any], default: str = "recommended") -> str:
    level = entry.get("requirement_level", default)
    return next(iter(level)) if isinstance(level, dict) else str(level)


def _type(value: Any) -> str:
    if isinstance(value, dict):  # enum: members
        return "string"
    return str(value)


# ---------------------------------------------------------------- v1.41 (groups format)


def _v1_41_groups(root: Path) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for path in sorted((root / "model").rglob("*.yaml")):
        doc = yaml.safe_load(path.read_text()) or {}
        for group in doc.get("groups", []) or []:
            group["_file"] = str(path.relative_to(root))
            groups[group["id"]] = group
    return groups


def _v1_41_registry(groups: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    types: dict[str, dict[str, str]] = {}
    for group in groups.values():
        for attr in group.get("attributes", []) or []:
            if "id" in attr and "type" in attr:
                types[attr["id"]] = {"type": _type(attr["type"]), "source": group["_file"]}
    return types


def _v1_41_attributes(groups: dict[str, dict[str, Any]], group_id: str) -> dict[str, str]:
    group = groups[group_id]
    attrs = dict(_v1_41_attributes(groups, group["extends"])) if "extends" in group else {}
    for entry in group.get("attributes", []) or []:
        if "ref" in entry:
            attrs[entry["ref"]] = _level(entry, attrs.get(entry["ref"], "recommended"))
    return attrs


def _buckets(doc: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for match in re.finditer(r"### Metric: `([^`]+)`(.*?)(?=### Metric:|\Z)", doc, re.S):
        found = re.search(r"ExplicitBucketBoundaries\]\s+of\s+\[([^\]]*)\]", match.group(2), re.S)
        if found:
            out[match.group(1)] = [float(x) for x in found.group(1).replace("\n", " ").split(",")]
    return out


def v1_41(root: Path, commit: str) -> dict[str, Any]:
    groups = _v1_41_groups(root)
    buckets = _buckets((root / "docs/gen-ai/gen-ai-metrics.md").read_text())
    metrics = {}
    for group in groups.values():
        name = group.get("metric_name")
        if group.get("type") != "metric" or name not in V1_41_METRICS:
            continue
        attrs = _v1_41_attributes(groups, group["id"])
        metrics[name] = {
            "instrument": group["instrument"],
            "unit": group["unit"],
            "buckets": buckets.get(name),
            "attributes": attrs,
            "source": f"{group['_file']}@{commit}",
        }
    for refinement in ("metric_attributes.openai",):  # metric_refinements of v1.41 metrics.yaml
        extra = _v1_41_attributes(groups, refinement)
        for name in ("gen_ai.client.token.usage", "gen_ai.client.operation.duration"):
            metrics[name]["openai_attributes"] = extra
    spans = {
        kind: {
            "attributes": _v1_41_attributes(groups, group_id),
            "source": f"{groups[group_id]['_file']}@{commit}",
        }
        for kind, group_id in V1_41_SPANS.items()
    }
    events = {}
    for group in groups.values():
        if group.get("type") == "event" and group.get("name") in V1_41_EVENTS:
            events[group["name"]] = {
                "attributes": _v1_41_attributes(groups, group["id"]),
                "severity_number": _severity(group.get("note", "")),
                "source": f"{group['_file']}@{commit}",
            }
    return {
        "repository": "open-telemetry/semantic-conventions",
        "ref": "v1.41.0",
        "commit": commit,
        "schema_url": "https://opentelemetry.io/schemas/1.41.0",
        "metrics": metrics,
        "spans": spans,
        "events": events,
        "types": _v1_41_registry(groups),
        "schemas": {
            attr: {**_schema_facts(root / "docs/gen-ai" / name), "source": f"docs/gen-ai/{name}@{commit}"}
            for attr, name in SCHEMAS.items()
        },
    }


def _severity(note: str) -> int | None:
    found = re.search(r"severity number (\d+)", note)
    return int(found.group(1)) if found else None


# ---------------------------------------------------------- latest (definition/2 format)


def _latest_attributes(
    groups: dict[str, list[dict[str, Any]]], entries: list[dict[str, Any]]
) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for entry in entries:
        if "ref_group" in entry:
            attrs.update(_latest_attributes(groups, groups[entry["ref_group"]]))
        elif "requirement_level" in entry or entry["ref"] not in attrs:
            attrs[entry["ref"]] = _level(entry)
    return attrs


def latest(root: Path, commit: str, file_commits: dict[str, str], v141: dict[str, Any]) -> dict[str, Any]:
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted((root / "model/gen-ai").glob("*.yaml")):
        docs[str(path.relative_to(root))] = yaml.safe_load(path.read_text()) or {}

    def source(file: str) -> str:
        return f"{file}@{file_commits.get(file, commit)}"

    groups: dict[str, list[dict[str, Any]]] = {}
    for doc in docs.values():
        for group in doc.get("attribute_groups", []) or []:
            groups[group["id"]] = group.get("attributes", [])
    spans = {}
    for file, doc in docs.items():
        for span in doc.get("spans", []) or []:
            groups[f"span.{span['type']}"] = span["attributes"]
            spans[span["type"]] = {
                "attributes": _latest_attributes(groups, span["attributes"]),
                "source": source(file),
            }
    spans["openai.inference.client"] = {
        **v141["spans"]["openai.inference.client"],
        "note": "OpenAI refinement kept as in v1.41 (not part of the gen-ai model files read)",
    }
    metrics: dict[str, Any] = {}
    for file, doc in docs.items():
        for metric in doc.get("metrics", []) or []:
            metrics[metric["name"]] = {
                "instrument": metric["instrument"],
                "unit": metric["unit"],
                "buckets": None,
                "attributes": _latest_attributes(groups, metric["attributes"]),
                "source": source(file),
            }
    for doc in docs.values():
        for refinement in doc.get("metric_refinements", []) or []:
            if refinement["ref"] in metrics:
                metrics[refinement["ref"]]["openai_attributes"] = _latest_attributes(
                    groups, refinement["attributes"]
                )
    for name in (
        "gen_ai.server.request.duration",
        "gen_ai.server.time_per_output_token",
        "gen_ai.server.time_to_first_token",
        "gen_ai.client.inference.duration",
        "gen_ai.client.inference.time_to_first_chunk",
        "gen_ai.client.inference.time_per_output_chunk",
        "gen_ai.client.embeddings.duration",
    ):
        if name in metrics:  # same advised boundaries as their v1.41 counterparts
            old = name.replace("client.inference.", "client.operation.").replace(
                "client.embeddings.", "client.operation."
            )
            metrics[name]["buckets"] = v141["metrics"].get(old, {}).get("buckets")
    metrics["http.server.request.duration"] = v141["metrics"]["http.server.request.duration"]
    events = {}
    for file, doc in docs.items():
        for event in doc.get("events", []) or []:
            events[event["name"]] = {
                "attributes": _latest_attributes(groups, event.get("attributes", [])),
                "severity_number": _severity(event.get("note", "")),
                "source": source(file),
            }
    types = {k: dict(v) for k, v in v141["types"].items()}
    types.update({k: {"type": v, "source": LATEST_TYPES_SOURCE} for k, v in LATEST_TYPES.items()})
    return {
        "repository": "open-telemetry/semantic-conventions-genai",
        "ref": "main",
        "commit": commit,
        "schema_url": None,
        "metrics": metrics,
        "spans": spans,
        "events": events,
        "types": types,
    }


# ------------------------------------------------------------------------ JSON schemas


def _prop_types(prop: dict[str, Any]) -> list[str]:
    if "type" in prop:
        return [prop["type"]]
    out = []
    for alt in prop.get("anyOf", []):
        if "type" in alt:
            out.append(alt["type"])
        elif "$ref" in alt and alt["$ref"].startswith("#/$defs/"):
            out.append("string")  # the enums (Role, Modality, FinishReason) are strings
        else:
            return ["any"]
    return sorted(set(out)) or ["any"]


def _schema_facts(path: Path) -> dict[str, Any]:
    schema = json.loads(path.read_text())
    defs = schema["$defs"]
    parts: dict[str, Any] = {}
    message = None
    for name, definition in defs.items():
        props = definition.get("properties", {})
        const = props.get("type", {}).get("const")
        if const is not None:
            parts[const] = {
                "required": definition.get("required", []),
                "properties": {k: _prop_types(v) for k, v in props.items() if k != "type"},
            }
        elif name in ("ChatMessage", "OutputMessage"):
            message = {
                "required": definition.get("required", []),
                "properties": {k: _prop_types(v) for k, v in props.items()},
            }
    return {"message": message, "parts": parts}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--v1-41", type=Path, required=True)
    parser.add_argument("--v1-41-commit", required=True)
    parser.add_argument("--latest", type=Path, required=True)
    parser.add_argument("--latest-commit", required=True)
    parser.add_argument("--latest-file-commit", action="append", default=[], metavar="PATH=SHA")
    args = parser.parse_args()
    file_commits = dict(item.split("=", 1) for item in args.latest_file_commit)
    old = v1_41(args.v1_41, args.v1_41_commit)
    table = {"v1.41": old, "latest": latest(args.latest, args.latest_commit, file_commits, old)}
    # The message schemas: v1.41's facts, plus the development branch's rule that a part whose
    # kind no part type fits is {"type": "generic"} (changelog.d/584.breaking.md).
    table["latest"]["schemas"] = old["schemas"]
    table["latest"]["generic_part_type"] = {
        "type": "generic",
        "source": "changelog.d/584.breaking.md@0c7aa450ae79804ceeded733f87e97d395e8b18f",
    }
    for version in table.values():
        version["types"] = {k: v for k, v in sorted(version["types"].items()) if _relevant(k)}
    json.dump(table, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def _relevant(key: str) -> bool:
    return key.split(".")[0] in {"gen_ai", "server", "error", "http", "url", "network", "openai", "exception"}


if __name__ == "__main__":
    raise SystemExit(main())
