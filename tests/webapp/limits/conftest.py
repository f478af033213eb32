"""The limits' tests run with the production defaults (tests/settings.py turns the per-run
limits off for the rest of the suite), on a private MEDIA_ROOT."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def production_limits(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.USER_LIMIT_JOBS = 2
    settings.USER_LIMIT_PARAMS = 50_000_000
    settings.USER_LIMIT_MINUTES = 120
    settings.USER_LIMIT_DEVICES = 1
    settings.STORAGE_QUOTA_BYTES = 10 << 30
    return settings
