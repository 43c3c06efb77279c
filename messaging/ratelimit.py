"""Send-rate limits shared by every worker: Meta's per-number throughput and its pair rate.

* Throughput (`WHATSAPP_MAX_MPS`, 80 by default): a GCRA ("virtual scheduling") limiter in Redis.
  A worker reserves a run of N slots in one atomic call and gets the time each slot opens; slots
  are spaced `1 / rate` apart across every worker and process, so no 1-second window ever holds
  more than `rate` sends, and a chunk of a campaign costs one round trip, not N.
* Pair rate (one message per recipient per 6 s, error 131056): a per-recipient key that expires
  after the interval; a recipient whose key exists must wait.

Without `REDIS_URL` (the run command) both fall back to in-process state, which is exact for one
worker process; production sets REDIS_URL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

META_PAIR_RATE_SECONDS = 6.0  # Meta: one message per business-user pair per 6 s
# Slots are spaced a hair wider than 1/rate so that jitter between a slot and the request
# reaching Meta (the last consent check, scheduling, a new connection) never lets a 1-second
# window see rate + 1 sends: 3 % is about 37 ms of slack per second at 80/s (77.7/s on
# average); 1 % and 2 % were not enough end to end (benchmarks/ratelimit_e2e.py saw 81-85 at
# the start of a campaign, when each worker opens its connections).
SPACING_MARGIN = 1.03

# An idle limiter's next slot opens this long after the reservation (at most; 4 intervals at
# high rates): a slot granted "now" has passed by the time the sender has it, and it then left
# late, beside the next one (ratelimit_e2e.py saw 81-82 in the first second on a loaded host).
IDLE_LEAD_SECONDS = 0.05

# KEYS[1] = the limiter's TAT key; ARGV = interval (µs), count, max_wait (µs), idle lead (µs).
# Returns {first_slot_µs, granted}: `granted` slots starting at first_slot_µs, interval apart.
_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local wanted = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local lead = tonumber(ARGV[4] or '0')
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now + lead end
local room = math.floor((now + max_wait - tat) / interval) + 1
if room < 1 then return {tat, 0, now} end
local granted = math.min(wanted, room)
redis.call('SET', KEYS[1], tat + granted * interval, 'PX', math.ceil((tat + granted * interval - now) / 1000) + 1000)
return {tat, granted, now}
"""


@dataclass(frozen=True)
class Reservation:
    """`granted` send slots; slot i opens at `first_slot + i * interval` (epoch seconds)."""

    first_slot: float
    interval: float
    granted: int

    def slot(self, index: int) -> float:
        return self.first_slot + index * self.interval

    def wait_for(self, index: int) -> None:
        delay = self.slot(index) - time.time()
        if delay > 0:
            time.sleep(delay)


class ThroughputLimiter:
    def __init__(self, *, rate: float, key: str, redis_url: str | None) -> None:
        self.interval = SPACING_MARGIN / rate
        self.lead = min(IDLE_LEAD_SECONDS, 4 * self.interval)
        self.key = key
        self._redis = None
        self._lock = threading.Lock()
        self._local_tat = 0.0
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url)
            self._script = self._redis.register_script(_RESERVE_LUA)

    def reserve(self, count: int, *, max_wait: float = 5.0) -> Reservation:
        """Reserve up to `count` consecutive slots opening within `max_wait` seconds."""
        if count < 1:
            return Reservation(time.time(), self.interval, 0)
        if self._redis is None:
            return self._reserve_local(count, max_wait)
        interval_us = int(self.interval * 1_000_000)
        first_us, granted, _server_now_us = self._script(
            keys=[self.key], args=[interval_us, count, int(max_wait * 1_000_000), int(self.lead * 1_000_000)]
        )
        # Slots are in the Redis server's clock; workers' clocks are NTP-synchronised with it
        # (the same host in the run command and the tests). Translating by a per-call measured
        # offset would add the round trip's jitter to every slot instead.
        return Reservation(first_us / 1_000_000, interval_us / 1_000_000, int(granted))

    def _reserve_local(self, count: int, max_wait: float) -> Reservation:
        with self._lock:
            now = time.time()
            tat = self._local_tat if self._local_tat >= now else now + self.lead
            room = int((now + max_wait - tat) // self.interval) + 1
            granted = max(0, min(count, room))
            self._local_tat = tat + granted * self.interval
            return Reservation(tat, self.interval, granted)


class PairRateLimiter:
    """Meta's pair rate: at most one message to the same recipient every 6 seconds."""

    def __init__(self, *, key_prefix: str, redis_url: str | None, interval: float = META_PAIR_RATE_SECONDS) -> None:
        self.prefix = key_prefix
        self.interval = interval
        self._redis = None
        self._lock = threading.Lock()
        self._local: dict[str, float] = {}
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url)

    def acquire(self, recipients: Sequence[str]) -> dict[str, float]:
        """Claim the pair slot of each recipient now. Returns, for each recipient that may NOT
        be sent to yet, the seconds to wait; the others are claimed (one round trip)."""
        if not recipients:
            return {}
        ms = int(self.interval * 1000)
        if self._redis is None:
            return self._acquire_local(recipients)
        pipe = self._redis.pipeline(transaction=False)
        for recipient in recipients:
            pipe.set(f"{self.prefix}{recipient}", 1, nx=True, px=ms)
        claimed = pipe.execute()
        busy = [r for r, ok in zip(recipients, claimed, strict=True) if not ok]
        if not busy:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for recipient in busy:
            pipe.pttl(f"{self.prefix}{recipient}")
        return {r: max(ttl, 1) / 1000 for r, ttl in zip(busy, pipe.execute(), strict=True)}

    def release(self, recipients: Iterable[str]) -> None:
        """Give back slots claimed for messages that were not sent after all."""
        keys = [f"{self.prefix}{r}" for r in recipients]
        if not keys:
            return
        if self._redis is None:
            with self._lock:
                for key in keys:
                    self._local.pop(key, None)
            return
        self._redis.delete(*keys)

    def _acquire_local(self, recipients: Sequence[str]) -> dict[str, float]:
        now = time.monotonic()
        waits: dict[str, float] = {}
        with self._lock:
            for recipient in recipients:
                key = f"{self.prefix}{recipient}"
                until = self._local.get(key, 0.0)
                if until > now:
                    waits[recipient] = until - now
                else:
                    self._local[key] = now + self.interval
        return waits


@lru_cache(maxsize=8)
def _throughput_limiter(rate: float, key: str, redis_url: str) -> ThroughputLimiter:
    return ThroughputLimiter(rate=rate, key=key, redis_url=redis_url or None)


@lru_cache(maxsize=8)
def _pair_limiter(key_prefix: str, redis_url: str) -> PairRateLimiter:
    return PairRateLimiter(key_prefix=key_prefix, redis_url=redis_url or None)


def throughput_limiter() -> ThroughputLimiter:
    """The limiter of the configured phone number, at WHATSAPP_MAX_MPS (one per process)."""
    phone = settings.WHATSAPP_PHONE_NUMBER_ID or "default"
    return _throughput_limiter(float(settings.WHATSAPP_MAX_MPS), f"wa:mps:{phone}", settings.REDIS_URL)


def pair_limiter() -> PairRateLimiter:
    phone = settings.WHATSAPP_PHONE_NUMBER_ID or "default"
    return _pair_limiter(f"wa:pair:{phone}:", settings.REDIS_URL)
