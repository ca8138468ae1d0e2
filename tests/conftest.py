"""Shared fixtures: where ../shared/data is, and a skip with a clear reason when it is not there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lab.paths import shared_data as resolve_shared_data

# Nothing may be fetched from a model hub in tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = resolve_shared_data(must_exist=False)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The labelled public data in ../shared/data; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data not found at {SHARED_DATA} (set SLEUTH_SHARED_DATA to its path)")
    return SHARED_DATA
