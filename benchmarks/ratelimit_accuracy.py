"""Rate limiter accuracy: N processes share WHATSAPP_MAX_MPS through Redis.

Each process reserves slots in chunks (as a campaign worker does), waits for each slot and
records the moment it would send. Reports the most sends seen in any 1-second window (must not
exceed the rate) and the average rate (target: at least 95 % of it).

    .venv/bin/python benchmarks/ratelimit_accuracy.py --processes 4 --rate 80 --seconds 10
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def worker(key: str, rate: float, seconds: float, chunk: int, redis_url: str, out: multiprocessing.Queue) -> None:
    from messaging.ratelimit import ThroughputLimiter

    limiter = ThroughputLimiter(rate=rate, key=key, redis_url=redis_url)
    sent: list[float] = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        reservation = limiter.reserve(chunk, max_wait=2.0)
        for i in range(reservation.granted):
            reservation.wait_for(i)
            if time.time() >= deadline:
                break
            sent.append(time.time())
        if reservation.granted == 0:
            time.sleep(0.05)
    out.put(sent)


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--rate", type=float, default=80)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--chunk", type=int, default=20)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"))
    args = parser.parse_args()

    key = f"bench:mps:{uuid.uuid4().hex}"
    out: multiprocessing.Queue = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=worker, args=(key, args.rate, args.seconds, args.chunk, args.redis_url, out))
        for _ in range(args.processes)
    ]
    for p in procs:
        p.start()
    times = sorted(t for _ in procs for t in out.get())
    for p in procs:
        p.join()
    span = times[-1] - times[0]
    # skip the first second (processes start at different moments) for the sustained average
    steady = [t for t in times if t >= times[0] + 1.0]
    average = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else 0.0
    print(f"processes={args.processes} rate={args.rate:g}/s chunk={args.chunk} sends={len(times)} span={span:.2f}s")
    print(f"max sends in any 1-second window: {max_in_any_window(times)} (limit {args.rate:g})")
    print(f"sustained average: {average:.1f}/s ({average / args.rate:.1%} of the limit)")


if __name__ == "__main__":
    main()
