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

Sender heartbeats. A campaign sender touches its campaign's key after every chunk; the beat
sweeper relaunches the senders of a running campaign with due messages and no live sender
(e.g. the worker was killed: its unacknowledged tasks come back only after the broker's
visibility timeout).

Without REDIS_URL (the run command) there are no marks (every stale message stays "delivery
unknown", the safe answer) and heartbeats live in the process (the run command's one worker).
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
SENDER_HEARTBEAT_SECONDS = 60.0  # a sender silent this long is presumed dead

# SET each key with a TTL (ARGV[1] seconds); DEL each key and say whether it was there. Every
# key is a separate mark: the scripts only save round trips and per-command overhead.
MARK_SCRIPT = "for _, key in ipairs(KEYS) do redis.call('SET', key, 1, 'EX', ARGV[1]) end return #KEYS"
TAKE_SCRIPT = "local taken = {} for i, key in ipairs(KEYS) do taken[i] = redis.call('DEL', key) end return taken"


class InFlight:
    def __init__(self, *, prefix: str, redis_url: str | None, mark_ttl: int) -> None:
        self.prefix = prefix
        self.mark_ttl = mark_ttl
        self._redis: Any = None
        self._lock = threading.Lock()
        self._beats: dict[int, float] = {}
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

    # --- campaign sender heartbeats -----------------------------------------------------------

    def sender_beat(self, campaign_id: int, ttl: float = SENDER_HEARTBEAT_SECONDS) -> None:
        if self._redis is None:
            with self._lock:
                self._beats[campaign_id] = time.monotonic() + ttl
            return
        self._redis.set(f"{self.prefix}sender:{campaign_id}", 1, px=int(ttl * 1000))

    def sender_alive(self, campaign_id: int) -> bool:
        if self._redis is None:
            with self._lock:
                return self._beats.get(campaign_id, 0.0) > time.monotonic()
        return bool(self._redis.exists(f"{self.prefix}sender:{campaign_id}"))

    def sender_forget(self, campaign_id: int) -> None:
        if self._redis is None:
            with self._lock:
                self._beats.pop(campaign_id, None)
            return
        self._redis.delete(f"{self.prefix}sender:{campaign_id}")


@lru_cache(maxsize=8)
def _in_flight(prefix: str, redis_url: str, mark_ttl: int) -> InFlight:
    return InFlight(prefix=prefix, redis_url=redis_url or None, mark_ttl=mark_ttl)


def in_flight() -> InFlight:
    """The shared in-flight state of the configured phone number (one client per process)."""
    phone = settings.WHATSAPP_PHONE_NUMBER_ID or "default"
    ttl = max(UNSENT_MARK_MIN_TTL, int(settings.MESSAGING_RECONCILE_AFTER_MINUTES) * 60 * 4)
    return _in_flight(f"wa:inflight:{phone}:", settings.REDIS_URL, ttl)
