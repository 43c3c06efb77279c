"""Per-key request rate limit (429 with Retry-After).

A sliding-window counter: two counters per key (this window and the last one, weighted by how
much of it still overlaps the sliding window), each one small integer in the cache. DRF's
SimpleRateThrottle keeps a list of every request's time in the window and reads and rewrites
all of it on every request: at the default 6,000/min that is up to 6,000 floats pickled through
Redis twice per request, which cost the send API more than the send itself.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from pandorakart_wa.core.models import StorefrontApiKey

if TYPE_CHECKING:
    from rest_framework.views import APIView


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if isinstance(request.auth, StorefrontApiKey):
            ident = request.auth.pk
        else:  # unauthenticated calls are refused anyway; throttle them by address
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Request, view: APIView) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        limit, duration = self.parse_rate(self.rate)
        assert limit is not None and duration is not None
        now = self.timer()
        window = int(now // duration)
        current, previous = f"{self.key}:{window}", f"{self.key}:{window - 1}"
        counts = self.cache.get_many([current, previous])
        elapsed = now - window * duration
        this, last = int(counts.get(current, 0)), int(counts.get(previous, 0))
        if last * (1 - elapsed / duration) + this >= limit:
            self._retry_after = self._wait(limit, duration, elapsed, this, last)
            return False
        try:
            self.cache.incr(current)
        except ValueError:  # the window's first request (or its counter expired)
            if not self.cache.add(current, 1, timeout=int(2 * duration) + 1):
                self.cache.incr(current)
        return True

    @staticmethod
    def _wait(limit: int, duration: float, elapsed: float, this: int, last: int) -> float:
        """Seconds until one more request fits the sliding window."""
        if this >= limit or last == 0:
            return duration - elapsed  # only the next window has room
        # last * (1 - t / duration) + this < limit  <=>  t > duration * (1 - (limit - this) / last)
        return max(0.0, duration * (1 - (limit - this) / last) - elapsed) + 0.001

    def wait(self) -> float | None:
        retry_after = getattr(self, "_retry_after", None)
        return None if retry_after is None else max(1.0, math.ceil(retry_after))
