"""The one exception family that escapes a decoder."""

from __future__ import annotations


class WireError(Exception):
    """Input a decoder cannot frame. After raising it a decoder refuses further input."""


class DecoderClosed(WireError):
    """``feed`` or ``close`` was called after ``close`` or after an error."""


class MalformedArray(WireError):
    """A streamed JSON array is not an array (bad opening byte or bad separator)."""
