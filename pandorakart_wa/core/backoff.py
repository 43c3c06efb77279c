"""The one retry delay: exponential, jittered, never sooner than the other side asked."""

from __future__ import annotations

import random


def backoff(retries: int, *, base: float, cap: float | None = None, retry_after: float | None = None) -> float:
    """Seconds before try number `retries + 1`: `base * 2**retries` (at most `cap`), give or take
    20% so that clients that failed together do not retry together, and never less than
    `retry_after` (Meta's Retry-After or error hint)."""
    delay: float = base * 2 ** max(retries, 0)
    if cap is not None:
        delay = min(cap, delay)
    return max(delay * random.uniform(0.8, 1.2), retry_after or 0.0)
