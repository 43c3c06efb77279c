"""What a test needs from the machine (Redis, a binary): skipped on a developer's machine that
lacks it, a failure under CI=true, where a silently skipped reliability suite would pass CI."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(what: str) -> NoReturn:
    """The machine lacks `what` this test needs."""
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on"):
        pytest.fail(f"{what}: CI must provide it (.ci/run starts PostgreSQL and Redis)", pytrace=False)
    pytest.skip(what)
