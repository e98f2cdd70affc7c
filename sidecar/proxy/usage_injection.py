"""When the proxy asks an OpenAI-format stream for usage on the client's behalf, and what it does
when the upstream refuses (``genai.inject_include_usage``: ``"auto"`` by default, ``true``, ``false``).

A streaming chat or legacy completions request without ``stream_options.include_usage`` gets it
added, so the server reports token usage; the extra usage-only chunk is then removed from the
bytes the client receives (:class:`~sidecar.genai.include_usage.UsageChunkFilter`).

A server that does not know ``stream_options`` may answer 400 or 422. No byte has reached the
client then, so the request is sent again exactly as the client wrote it, once; the client gets
that answer. When the unmodified request succeeds, the rejection was the injection's doing: with
``"auto"`` the path is then never injected again in this process (counted, and logged once at
info); with ``true`` every request keeps trying. A rejection that the unmodified request meets as
well was about something else, and changes nothing.

llama.cpp's server needs no asking: its last chunk carries ``timings.prompt_n`` / ``predicted_n``
(the counts the usage would give), and with ``include_usage`` it moves them into the usage chunk,
which the client would then not see. So ``"auto"`` never asks a configured ``llama_cpp``
provider, and stops asking on a path as soon as a response there carried server timings (the
first such call's client misses the ``timings`` member of its last chunk, once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy

from sidecar.config import UsageInjection
from sidecar.genai.include_usage import INJECTABLE, add_include_usage
from sidecar.genai.observations import RequestInfo
from sidecar.genai.provider import LLAMA_CPP
from sidecar.genai.registry import Selection, request_path

log = logging.getLogger(__name__)

#: llama.cpp's server reports its token counts in ``timings`` unasked; asking for usage moves
#: them from the client's last chunk into the usage chunk, so ``"auto"`` does not ask it.
#: Statuses a server answers a request field it does not accept with.
REJECTED: Final = frozenset({400, 422})
#: Distinct refused paths remembered; beyond it (a client inventing paths) nothing more is kept.
MAX_REFUSED_PATHS: Final = 256
_MAX_LOGGED_PATH: Final = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Injection:
    """One request sent with ``include_usage`` added: the body sent, and the client's own."""

    body: bytes
    original: bytes
    path: str


class UsageInjector:
    """Per process: whether to inject for a request, and the paths whose upstream refused it."""

    __slots__ = ("_mode", "_refused")

    def __init__(self, mode: UsageInjection) -> None:
        self._mode = mode
        self._refused: set[str] = set()

    def prepare(
        self, selection: Selection | None, info: RequestInfo | None, path: str, body: bytes
    ) -> Injection | None:
        """The injection for one parsed request, or ``None`` when it is sent as the client wrote it.

        ``info`` exists only for a body the dialect parsed, so a body too large to parse is never
        rewritten."""
        if (
            self._mode is False
            or (self._mode == "auto" and selection is not None and selection.provider == LLAMA_CPP)
            or selection is None
            or info is None
            or not info.stream
            or info.include_usage
            or selection.dialect.name not in INJECTABLE
        ):
            return None
        clean = request_path(path)
        if clean in self._refused:
            return None
        rewritten = add_include_usage(body)
        if rewritten is None:
            return None
        return Injection(body=rewritten, original=body, path=clean)

    def counts_unasked(self, injection: Injection) -> None:
        """The server sent its own token counts beside the usage (llama.cpp's ``timings``), which
        it does without being asked: with ``"auto"``, stop adding the field on that path."""
        if self._mode == "auto" and len(self._refused) < MAX_REFUSED_PATHS:
            self._refused.add(injection.path)

    def refused(self, injection: Injection, resend_status: int) -> bool:
        """The upstream rejected the injected request and answered the client's own with
        ``resend_status``. True when the injection was to blame (the resend did not fail)."""
        if resend_status >= 400:
            return False
        if self._mode == "auto" and injection.path not in self._refused:
            if len(self._refused) < MAX_REFUSED_PATHS:
                self._refused.add(injection.path)
            log.info(
                "upstream rejected stream_options.include_usage on %s; not adding it there again",
                injection.path[:_MAX_LOGGED_PATH],
            )
        return True


def unmodified_headers(sent: CIMultiDict[str], client: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The headers for the resend: those sent, with the client's own ``Accept-Encoding`` back
    (the injected request asked for an uncompressed body, so that the filter can read it)."""
    headers = sent.copy()
    headers.popall("Accept-Encoding", None)
    for value in client.getall("Accept-Encoding", ()):
        headers.add("Accept-Encoding", value)
    return headers
