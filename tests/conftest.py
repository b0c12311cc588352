"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def timing_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty cache of timed speed choices for this test, never the user's; its file."""
    monkeypatch.setenv("SCGAN_CACHE_DIR", str(tmp_path))
    return tmp_path / "run_settings.json"
