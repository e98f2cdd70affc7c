"""Plain data (as :func:`sidecar.config.as_dict` gives it) as readable TOML, for ``check-config``.

Only what the configuration holds: tables, arrays of tables, strings, numbers, booleans and lists
of those. TOML has no null: a key whose value is None is written as a comment saying it is unset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sidecar import _json

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else _json.dumps_str(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _json.dumps_str(value)  # a JSON string is a TOML basic string
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _table(path: tuple[str, ...], data: Mapping[str, Any], out: list[str]) -> None:
    scalars = [(k, v) for k, v in data.items() if not isinstance(v, Mapping) and not _is_table_array(v)]
    if path and (scalars or not data):
        out.append(f"\n[{'.'.join(_key(p) for p in path)}]")
    for name, value in scalars:
        out.append(f"# {_key(name)} is unset" if value is None else f"{_key(name)} = {_value(value)}")
    for name, value in data.items():
        if isinstance(value, Mapping):
            _table((*path, name), value, out)
        elif _is_table_array(value):
            for item in value:
                out.append(f"\n[[{'.'.join(_key(p) for p in (*path, name))}]]")
                out.extend(f"{_key(k)} = {_value(v)}" for k, v in item.items() if v is not None)


def dumps(data: Mapping[str, Any]) -> str:
    out: list[str] = []
    _table((), data, out)
    return "\n".join(out).lstrip("\n") + "\n"
