"""Cost of a call from its token usage and an operator's price table (opt-in).

The price file is TOML, prices in currency units per million tokens::

    currency = "USD"            # default for entries that name none

    [[model]]
    match = "gpt-4o-mini*"      # fnmatch glob on the model name, case-sensitive
    input = 0.15                # uncached input tokens
    output = 0.60               # output tokens that are not reasoning
    cache_read = 0.075          # input tokens served from the prompt cache (default: input)
    cache_write = 0.1875        # input tokens written to the prompt cache (default: input)
    reasoning = 0.60            # reasoning output tokens (default: output)
    currency = "USD"            # ISO 4217 code (default: the file's, else USD)

Entries are tried in file order and the first whose glob matches wins, so put specific globs
before broad ones (``"*"`` last, as a catch-all). The model looked up is the one the server
answered with (``gen_ai.response.model``), then the requested one; a call whose model matches no
entry is *unpriced* (counted under ``_UNPRICED``). A call that names no model (TGI, llama.cpp
without an alias) is looked up as the empty string, which only a ``"*"`` catch-all matches.

The formula follows the :class:`~sidecar.genai.observations.Usage` contract every dialect
honours: input tokens *include* the cache-read and cache-write tokens, output tokens *include*
the reasoning tokens. So nothing is billed twice::

    cost = ( (input - cache_read - cache_write) * price.input
           +  cache_read                        * price.cache_read
           +  cache_write                       * price.cache_write
           + (output - reasoning)               * price.output
           +  reasoning                         * price.reasoning ) / 1_000_000

A count the server did not report is 0; the uncached remainders never go below 0.
"""

from __future__ import annotations

import fnmatch
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.context import Context
from opentelemetry.metrics import Counter

from sidecar.config import ConfigError
from sidecar.genai.observations import Usage
from sidecar.telemetry import semconv

PRICES_KEY: Final = "telemetry.cost.prices"
#: Currency attribute value of a call whose model has no price.
UNPRICED: Final = "_UNPRICED"
DEFAULT_CURRENCY: Final = "USD"
PER_TOKENS: Final = 1_000_000

_CURRENCY = re.compile(r"[A-Z]{3}")
_PRICE_KEYS: Final = ("input", "output", "cache_read", "cache_write", "reasoning")
_ENTRY_KEYS: Final = frozenset({"match", "currency", *_PRICE_KEYS})
_MODEL_HEADER = re.compile(rb"^[ \t]*\[\[[ \t]*model[ \t]*\]\]", re.MULTILINE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    """Prices of one ``[[model]]`` entry, per million tokens, with its defaults applied."""

    match: str
    currency: str
    input: float
    output: float
    cache_read: float
    cache_write: float
    reasoning: float

    def cost(self, usage: Usage) -> float:
        """The cost of ``usage`` in :attr:`currency` (see the module docstring)."""
        cache_read = usage.cache_read_tokens or 0
        cache_write = usage.cache_write_tokens or 0
        reasoning = usage.reasoning_tokens or 0
        plain_input = max(0, (usage.input_tokens or 0) - cache_read - cache_write)
        plain_output = max(0, (usage.output_tokens or 0) - reasoning)
        total = (
            plain_input * self.input
            + cache_read * self.cache_read
            + cache_write * self.cache_write
            + plain_output * self.output
            + reasoning * self.reasoning
        )
        return total / PER_TOKENS


class PriceTable:
    """The ``[[model]]`` entries of a price file, in order; first match wins."""

    def __init__(self, prices: tuple[Price, ...]) -> None:
        self.prices = prices
        self._cache: dict[str, Price | None] = {}

    def lookup(self, *models: str | None) -> Price | None:
        """The price of the first of ``models`` that some entry matches, else None. A call that
        names no model at all is looked up as ``""`` (which only ``"*"`` matches)."""
        named = [model for model in models if model]
        for model in named or [""]:
            price = self._find(model)
            if price is not None:
                return price
        return None

    def _find(self, model: str) -> Price | None:
        if model in self._cache:
            return self._cache[model]
        found = next((p for p in self.prices if fnmatch.fnmatchcase(model, p.match)), None)
        if len(self._cache) < 4096:  # model names are capped upstream; this bounds the memo anyway
            self._cache[model] = found
        return found

    @classmethod
    def load(cls, path: str) -> PriceTable:
        """Read and check a price file. Raises :class:`ConfigError` naming the file and the line
        (syntax errors), or the line, the ``[[model]]`` entry and the key (wrong values)."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ConfigError(PRICES_KEY, f"cannot read {path}: {e.strerror or e}") from None
        try:
            raw = tomllib.loads(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            raise ConfigError(PRICES_KEY, f"{path} line {line}: not UTF-8") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(PRICES_KEY, f"{path}: not valid TOML: {e}") from None
        starts = [data[: m.start()].count(b"\n") for m in _MODEL_HEADER.finditer(data)]
        return cls(_parse(raw, _Source(path, data.split(b"\n"), starts)))


@dataclass(frozen=True, slots=True)
class _Source:
    """Where things are in the price file, for error messages: its path, its lines and the
    0-based line of each ``[[model]]`` header."""

    path: str
    lines: list[bytes]
    starts: list[int]

    def at(self, index: int, key: str = "") -> str:
        """``path line N: [[model]] #i[: key]``: N is the key's line in that entry, else the
        entry's header line."""
        if index >= len(self.starts):  # an inline array of tables: no header line to point at
            return f"{self.path}: [[model]] #{index + 1}" + (f": {key}" if key else "")
        first = self.starts[index]
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.lines)
        line = first
        if key:
            pattern = re.compile(rb"\s*" + re.escape(key.encode()) + rb"\s*=")
            line = next((n for n in range(first, end) if pattern.match(self.lines[n])), first)
        return f"{self.path} line {line + 1}: [[model]] #{index + 1}" + (f": {key}" if key else "")


def _parse(raw: dict[str, Any], source: _Source) -> tuple[Price, ...]:
    path = source.path
    unknown = sorted(set(raw) - {"model", "currency"})
    if unknown:
        raise ConfigError(PRICES_KEY, f"{path}: unknown key {unknown[0]!r} (known: currency, [[model]])")
    default_currency = _currency(raw.get("currency", DEFAULT_CURRENCY), f"{path}: currency")
    entries = raw.get("model", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError(PRICES_KEY, f"{path}: no [[model]] entries")
    return tuple(_entry(entry, source, i, default_currency) for i, entry in enumerate(entries))


def _entry(entry: Any, source: _Source, index: int, default_currency: str) -> Price:
    if not isinstance(entry, dict):
        raise ConfigError(PRICES_KEY, f"{source.at(index)}: expected a table")
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        known = ", ".join(sorted(_ENTRY_KEYS))
        raise ConfigError(PRICES_KEY, f"{source.at(index, unknown[0])}: unknown key (known: {known})")
    match = entry.get("match")
    if not isinstance(match, str) or not match.strip():
        raise ConfigError(PRICES_KEY, f"{source.at(index, 'match')}: expected a non-empty glob string")
    _check_glob(match, source.at(index, "match"))
    values: dict[str, float] = {}
    for key in _PRICE_KEYS:
        if key in entry:
            values[key] = _price(entry[key], source.at(index, key))
    for key in ("input", "output"):
        if key not in values:
            raise ConfigError(PRICES_KEY, f"{source.at(index)}: {key}: required key is missing")
    currency = _currency(entry.get("currency", default_currency), source.at(index, "currency"))
    return Price(
        match=match,
        currency=currency,
        input=values["input"],
        output=values["output"],
        cache_read=values.get("cache_read", values["input"]),
        cache_write=values.get("cache_write", values["input"]),
        reasoning=values.get("reasoning", values["output"]),
    )


def _check_glob(match: str, where: str) -> None:
    """fnmatch takes any string; an unclosed ``[`` silently matches a literal bracket, which
    is almost always a typo, so it is refused."""
    i = 0
    while i < len(match):
        if match[i] == "[":
            j = i + 1
            if match[j : j + 1] == "!":
                j += 1
            if match[j : j + 1] == "]":
                j += 1
            close = match.find("]", j)
            if close < 0:
                raise ConfigError(PRICES_KEY, f"{where}: unclosed '[' in glob {match!r}")
            i = close
        i += 1


def _price(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(PRICES_KEY, f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ConfigError(PRICES_KEY, f"{where}: must be a finite number >= 0, got {value!r}")
    return float(value)


def _currency(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise ConfigError(PRICES_KEY, f"{where}: expected an ISO 4217 code like 'USD', got {value!r}")
    return value


class CostMeter:
    """Records the ``genai_sidecar.cost`` counter and the span's cost attributes for a call."""

    def __init__(self, prices: PriceTable, counter: Counter) -> None:
        self._prices = prices
        self._counter = counter

    def record(
        self,
        usage: Usage | None,
        models: tuple[str | None, ...],
        attributes: Mapping[str, str | int],
        ctx: Context | None,
    ) -> dict[str, str | float]:
        """Price ``usage`` by the first of ``models`` the table knows; add it to the counter with
        ``attributes`` and the currency, and return the span attributes. A call without usage
        costs nothing known and records nothing; an unpriced model adds 0 under ``_UNPRICED``."""
        if usage is None:
            return {}
        price = self._prices.lookup(*models)
        if price is None:
            self._counter.add(0, {**attributes, semconv.GEN_AI_USAGE_COST_CURRENCY: UNPRICED}, context=ctx)
            return {}
        amount = price.cost(usage)
        self._counter.add(
            amount, {**attributes, semconv.GEN_AI_USAGE_COST_CURRENCY: price.currency}, context=ctx
        )
        return {
            semconv.GEN_AI_USAGE_COST_AMOUNT: amount,
            semconv.GEN_AI_USAGE_COST_CURRENCY: price.currency,
            semconv.GEN_AI_USAGE_COST_SOURCE: semconv.COST_SOURCE_LOCAL,
        }
