"""What the send workers share about work in flight, in Redis (REDIS_URL): which claimed
messages have certainly not left yet, and which campaigns have a live sender.

Unsent marks. A worker killed mid-chunk leaves its claimed rows in `sending`: some reached
Meta (their status webhooks reconcile them), others never left. To tell them apart, each
claimed message gets a mark when it is claimed, and the mark is *taken* (deleted) just before
its request leaves. Taking is atomic, so the sender and the reconciler can never both win:
  - the sender takes the mark, then sends; a message whose mark it cannot take is not sent;
  - the reconciler takes the marks of stale `sending` rows: those it got certainly never left
    and are queued again; the others may have reached Meta and stay for the webhooks.
Only positive evidence (a mark still there) makes a message re-sendable: a lost or expired mark
(Redis restarted, flushed) leaves the message "delivery unknown", never sent twice.

Dispatcher lanes. The dispatcher (messaging/dispatch.py) runs as at most MESSAGING_DISPATCHERS
tasks at once across every worker, each holding a "lane" key with a TTL that it refreshes after
every chunk: a commit wakes a lane only when one is free (one Redis call, a task published only
then), a busy lane sees the new rows when it looks again after letting go, and a lane whose
worker was killed lapses after LANE_TTL_SECONDS.

Without REDIS_URL (the run command) there are no marks (every stale message stays "delivery
unknown", the safe answer) and lanes live in the process (the run command's one worker).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from django.conf import settings

# A mark outlives any claim-to-send delay (seconds) and the reconcile window by far.
UNSENT_MARK_MIN_TTL = 6 * 60 * 60
LANE_TTL_SECONDS = 30.0  # a lane not refreshed this long is free again (its worker died)

# SET each key with a TTL (ARGV[1] seconds); DEL each key and say whether it was there. Every
# key is a separate mark: the scripts only save round trips and per-command overhead.
MARK_SCRIPT = "for _, key in ipairs(KEYS) do redis.call('SET', key, 1, 'EX', ARGV[1]) end return #KEYS"
TAKE_SCRIPT = "local taken = {} for i, key in ipairs(KEYS) do taken[i] = redis.call('DEL', key) end return taken"
# Take the first free lane of KEYS for ARGV[1] ms: its 1-based index, or 0 when every lane is busy.
LANE_SCRIPT = "for i, key in ipairs(KEYS) do if redis.call('SET', key, 1, 'NX', 'PX', ARGV[1]) then return i end end return 0"


class InFlight:
    def __init__(self, *, prefix: str, redis_url: str | None, mark_ttl: int) -> None:
        self.prefix = prefix
        self.mark_ttl = mark_ttl
        self._redis: Any = None
        self._lock = threading.Lock()
        self._lanes: dict[int, float] = {}  # without Redis: lane -> monotonic expiry
        self._scripts: dict[str, Any] = {}
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url)

    @property
    def exact(self) -> bool:
        """True when marks are kept (shared Redis); without it the reconciler knows nothing."""
        return self._redis is not None

    def _mark(self, message_id: object) -> str:
        return f"{self.prefix}unsent:{message_id}"

    # --- unsent marks ----------------------------------------------------------------------

    def mark_unsent(self, message_ids: Iterable[object]) -> None:
        """At claim: these messages have not left. One round trip."""
        if self._redis is None:
            return
        keys = [self._mark(m) for m in message_ids]
        if keys:
            self._script("mark", MARK_SCRIPT)(keys=keys, args=[self.mark_ttl])

    def take(self, message_ids: Sequence[object]) -> list[bool]:
        """Take the marks (one round trip): True for each message whose mark this caller
        removed. Without Redis every message may go (there are no marks to race for)."""
        if self._redis is None:
            return [True] * len(message_ids)
        if not message_ids:
            return []
        taken = self._script("take", TAKE_SCRIPT)(keys=[self._mark(m) for m in message_ids])
        return [bool(n) for n in taken]

    def _script(self, name: str, source: str) -> Any:
        """A Lua script registered once per client: one command for a whole chunk or wave,
        where a pipeline of one command per message cost the sender more to pack and parse."""
        with self._lock:
            if name not in self._scripts:
                self._scripts[name] = self._redis.register_script(source)
            return self._scripts[name]

    def forget(self, message_ids: Iterable[object]) -> None:
        """Drop the marks of messages the chunk did not send (refused, deferred, recorded)."""
        if self._redis is None:
            return
        keys = [self._mark(m) for m in message_ids]
        if keys:
            self._redis.delete(*keys)

    # --- dispatcher lanes ------------------------------------------------------------------

    def _lane(self, lane: int) -> str:
        return f"{self.prefix}lane:{lane}"

    def lane_take_free(self, lanes: int, ttl: float = LANE_TTL_SECONDS) -> int | None:
        """Take the first free lane of `lanes` (one round trip); None when all are busy."""
        if lanes < 1:
            return None
        if self._redis is None:
            with self._lock:
                now = time.monotonic()
                for lane in range(lanes):
                    if self._lanes.get(lane, 0.0) <= now:
                        self._lanes[lane] = now + ttl
                        return lane
            return None
        taken = int(self._script("lane", LANE_SCRIPT)(keys=[self._lane(i) for i in range(lanes)], args=[int(ttl * 1000)]))
        return taken - 1 if taken else None

    def lane_take(self, lane: int, ttl: float = LANE_TTL_SECONDS) -> bool:
        """Take this lane if it is free."""
        if self._redis is None:
            with self._lock:
                now = time.monotonic()
                if self._lanes.get(lane, 0.0) > now:
                    return False
                self._lanes[lane] = now + ttl
                return True
        return bool(self._redis.set(self._lane(lane), 1, nx=True, px=int(ttl * 1000)))

    def lane_keep(self, lane: int, ttl: float = LANE_TTL_SECONDS) -> None:
        """The holder is alive: the lane stays taken for another `ttl`."""
        if self._redis is None:
            with self._lock:
                self._lanes[lane] = time.monotonic() + ttl
            return
        self._redis.set(self._lane(lane), 1, px=int(ttl * 1000))

    def lane_free(self, lane: int) -> None:
        if self._redis is None:
            with self._lock:
                self._lanes.pop(lane, None)
            return
        self._redis.delete(self._lane(lane))

    def lanes_forget(self, lanes: int) -> None:
        """Every lane free at once (what their TTL does after a crash; tests and operators)."""
        for lane in range(lanes):
            self.lane_free(lane)


@lru_cache(maxsize=8)
def _in_flight(prefix: str, redis_url: str, mark_ttl: int) -> InFlight:
    return InFlight(prefix=prefix, redis_url=redis_url or None, mark_ttl=mark_ttl)


def in_flight() -> InFlight:
    """The shared in-flight state of the configured phone number (one client per process)."""
    phone = settings.WHATSAPP_PHONE_NUMBER_ID or "default"
    ttl = max(UNSENT_MARK_MIN_TTL, int(settings.MESSAGING_RECONCILE_AFTER_MINUTES) * 60 * 4)
    return _in_flight(f"wa:inflight:{phone}:", settings.REDIS_URL, ttl)
