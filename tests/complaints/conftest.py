from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _fresh_rate_limiters() -> Iterator[None]:
    """Each test starts with unused send-rate limiters (the in-process ones keep state, and
    Meta's pair rate would hold a second message to the same test number for 6 s)."""
    from messaging import ratelimit

    ratelimit._pair_limiter.cache_clear()
    ratelimit._throughput_limiter.cache_clear()
    yield
    ratelimit._pair_limiter.cache_clear()
    ratelimit._throughput_limiter.cache_clear()
