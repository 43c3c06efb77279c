"""Per-key request rate limit (429 with Retry-After).

A sliding-window counter: two counters per key (this window and the last one, weighted by how
much of it still overlaps the sliding window), each one small integer in the cache. DRF's
SimpleRateThrottle keeps a list of every request's time in the window and reads and rewrites
all of it on every request: at the default 6,000/min that is up to 6,000 floats pickled through
Redis twice per request, which cost the send API more than the send itself. With Redis the
request is counted and the last window read in one pipelined round trip (a refused request is
uncounted again); other caches read, then count.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from django.core.cache import DEFAULT_CACHE_ALIAS, BaseCache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from pandorakart_wa.core.models import StorefrontApiKey

if TYPE_CHECKING:
    from rest_framework.views import APIView


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    @property
    def cache(self) -> BaseCache:  # type: ignore[override]  # DRF's class attribute: django.core.cache.cache
        """The default cache itself: DRF's `cache` is Django's proxy to it, which is no
        RedisCache, so the pipelined path below would never be taken through it."""
        return caches[DEFAULT_CACHE_ALIAS]

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
        elapsed = now - window * duration
        counted = _count_in_redis(self.cache, current, previous, timeout=int(2 * duration) + 1)
        if counted is not None:  # Redis: this request counted and the last window read, one round trip
            this, last = counted
            if last * (1 - elapsed / duration) + this - 1 >= limit:
                self.cache.decr(current)  # refused requests do not count
                self._retry_after = self._wait(limit, duration, elapsed, this - 1, last)
                return False
            return True
        counts = self.cache.get_many([current, previous])
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


def _count_in_redis(cache: Any, current: str, previous: str, *, timeout: int) -> tuple[int, int] | None:
    """With Django's Redis cache: count this request in `current` and read `previous` in one
    pipelined round trip (SET NX with the expiry, INCR, GET); None for any other cache."""
    if not isinstance(cache, RedisCache):
        return None
    current_key = cache.make_and_validate_key(current)
    previous_key = cache.make_and_validate_key(previous)
    client = cache._cache.get_client(current_key, write=True)
    pipe = client.pipeline(transaction=False)
    pipe.set(current_key, 0, ex=timeout, nx=True)
    pipe.incr(current_key)
    pipe.get(previous_key)
    _, this, last = pipe.execute()
    return int(this), int(last or 0)
