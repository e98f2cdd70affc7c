"""Events the framing decoders produce: immutable named tuples, the cheapest immutable record
to make (one is made per message on the per-chunk path; a frozen dataclass costs twice as much)."""

from __future__ import annotations

from typing import NamedTuple, TypeAlias


class SSEMessage(NamedTuple):
    """One dispatched Server-Sent Events message (WHATWG "dispatch the event").

    ``event`` is the ``event:`` field, or ``"message"`` when none was given.
    ``data`` is the ``data:`` lines joined by ``\\n`` (no trailing newline).
    ``id`` is the last event id seen on the stream so far (``None`` if never set).
    ``retry`` is the ``retry:`` value in milliseconds if this message carried one.
    """

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


class JSONDocument(NamedTuple):
    """The raw text of one JSON value: an NDJSON line, an element of a streamed JSON array,
    or a whole ``application/json`` body. The decoder does not parse it; dialects do."""

    data: bytes


class Oversize(NamedTuple):
    """A line, message or document exceeded its byte cap and was skipped.

    ``size`` is how many bytes were dropped (at least ``limit``), ``limit`` the cap in force.
    The decoder resynchronises at the next boundary and goes on.
    """

    size: int
    limit: int


WireEvent: TypeAlias = SSEMessage | JSONDocument | Oversize
