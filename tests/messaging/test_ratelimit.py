"""The shared send-rate limiters: Meta's per-number throughput and the per-recipient pair rate."""

from __future__ import annotations

import itertools
import threading
import uuid

import pytest

from messaging.ratelimit import PairRateLimiter, ThroughputLimiter

REDIS_URL = "redis://127.0.0.1:6379/9"


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize("redis_url", [REDIS_URL, None], ids=["redis", "in-process"])
def test_slots_from_concurrent_reservations_never_exceed_the_rate(redis_url):
    # given two limiter instances on one key (as two worker processes would have)
    key = f"test:mps:{uuid.uuid4().hex}"
    limiters = [ThroughputLimiter(rate=80, key=key, redis_url=redis_url) for _ in range(2)]
    if redis_url is None:
        limiters = limiters[:1]  # in-process state is per instance
    slots: list[float] = []
    lock = threading.Lock()

    def reserve(limiter: ThroughputLimiter) -> None:
        for _ in range(10):
            reservation = limiter.reserve(9, max_wait=10)
            with lock:
                slots.extend(reservation.slot(i) for i in range(reservation.granted))

    # when 4 threads reserve 9 slots ten times each
    threads = [threading.Thread(target=reserve, args=(limiters[i % len(limiters)],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then every slot was granted, spaced at least 1/80 s apart across all reservations
    assert len(slots) == 360
    ordered = sorted(slots)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    assert min(gaps) >= 1 / 80 - 1e-4
    assert max_in_any_window(ordered) <= 80


def test_a_reservation_is_cut_to_what_opens_within_max_wait():
    limiter = ThroughputLimiter(rate=10, key=f"test:mps:{uuid.uuid4().hex}", redis_url=REDIS_URL)
    reservation = limiter.reserve(100, max_wait=0.5)
    assert 5 <= reservation.granted <= 6  # slots at 0, 0.101, ... within half a second


def test_pair_rate_makes_the_second_message_to_a_recipient_wait():
    limiter = PairRateLimiter(key_prefix=f"test:pair:{uuid.uuid4().hex}:", redis_url=REDIS_URL)
    assert limiter.acquire(["+919227021270", "+919000000001"]) == {}
    waits = limiter.acquire(["+919227021270", "+919000000002"])
    assert set(waits) == {"+919227021270"}
    assert 5.0 < waits["+919227021270"] <= 6.0
    limiter.release(["+919227021270"])
    assert limiter.acquire(["+919227021270"]) == {}


@pytest.mark.parametrize("redis_url", [REDIS_URL, None], ids=["redis", "in-process"])
def test_an_idle_limiter_opens_its_next_slot_a_moment_ahead_and_a_busy_one_without_a_gap(redis_url):
    import time

    from messaging.ratelimit import IDLE_LEAD_SECONDS

    limiter = ThroughputLimiter(rate=80, key=f"test:mps:{uuid.uuid4().hex}", redis_url=redis_url)
    before = time.time()
    first = limiter.reserve(3, max_wait=10)
    # a slot granted "now" would have passed before the sender could use it
    assert first.slot(0) >= before + IDLE_LEAD_SECONDS - 0.005
    second = limiter.reserve(3, max_wait=10)
    assert second.slot(0) == pytest.approx(first.slot(2) + limiter.interval, abs=1e-5)
