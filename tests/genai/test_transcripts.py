"""Every recorded transcript yields its hand-written observations, however the body is chunked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.genai.transcripts import case_id, check_transcript, discover


@pytest.mark.parametrize("expected_path", discover(), ids=case_id)
def test_transcript(expected_path: Path) -> None:
    check_transcript(expected_path)
