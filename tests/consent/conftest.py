from __future__ import annotations

from typing import Any

import pytest

from consent.models import ConsentNotice
from consent.seed import seed_notices
from consent.types import Actor


@pytest.fixture
def notices(db: Any) -> dict[str, ConsentNotice]:
    """The seeded English and Hindi notices, published."""
    return {n.language: n for n in seed_notices()}


@pytest.fixture
def actor() -> Actor:
    return Actor.system("test")
