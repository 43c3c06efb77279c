"""Waves of concurrent sends (CloudBackend.send_batch): which messages of a batch may leave now.

A batch's messages carry rate-limiter slots (`not_before`); a wave is the messages whose slot is
open and for which a connection of the pool (a permit) is free, so the pool is never asked for
more connections than it has and no send leaves before its slot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from pandorakart_wa.whatsapp.base import OutboundMessage, Withheld

WAVE_GATHER_SECONDS = 0.010  # a wave of fewer than WAVE_MIN waits this long once for more connections
WAVE_MIN = 32
# A wave whose slot was waited for leaves this long after it, once its release check is done:
# the check's own time (a few ms, varying) then no longer moves sends closer together than the
# rate limiter spaced them. (Past slots, when the limiter does not bind, leave at once.)
SEND_ALIGN_SECONDS = 0.008


class Refusal(list[bool]):
    """Every message of a wave held back, for one reason."""

    def __init__(self, count: int, reason: Withheld) -> None:
        super().__init__([False] * count)
        self.reason = reason


def waves(messages: Sequence[OutboundMessage], permits: threading.BoundedSemaphore) -> Iterator[tuple[list[int], bool]]:
    """Indices of `messages` in slot order, grouped into waves that may leave now: each
    message's slot is open and a permit (a free connection) is held for it; the consumer
    passes each permit on or gives it back. With each wave: whether its slot was waited for
    (the rate limiter binds) rather than already past."""
    order = sorted(range(len(messages)), key=lambda i: messages[i].not_before or 0.0)
    position = 0
    while position < len(order):
        first = messages[order[position]]
        delay = (first.not_before or 0.0) - time.time()
        if delay > 0:
            time.sleep(delay)
        permits.acquire()
        wave = [order[position]]
        position += 1
        gathered = False
        try:
            while position < len(order):
                if (messages[order[position]].not_before or 0.0) > time.time():
                    break
                if permits.acquire(blocking=False):
                    wave.append(order[position])
                    position += 1
                    continue
                if gathered or len(wave) >= WAVE_MIN:
                    break
                gathered = True  # few connections free: give in-flight sends a moment to finish
                time.sleep(WAVE_GATHER_SECONDS)
        except BaseException:  # interrupted (time limit) while gathering: give the permits back
            for _ in wave:
                permits.release()
            raise
        yield wave, delay > 0
