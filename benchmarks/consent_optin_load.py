"""The opt-in API under concurrent load, beside a trivial authenticated endpoint, same run.

Starts gunicorn (sync workers, 2 x CPUs + 1) on the separate database pk_bench_consent, then
drives it with CLIENTS concurrent clients (aiohttp), in interleaved rounds of SECONDS each:
  1. GET  /api/v1/ping               (API-key auth, nothing else: the baseline)
  2. POST /api/v1/consents/opt-in    (a new customer each time, two purposes, evidence:
                                      contact + 2 ledger events + 2 evidence rows + 2 states)
and reports requests/s, p50/p95/p99 latency and errors for each.
Target: opt-in throughput at least half the trivial endpoint's. The client runs on the same
machine as the server and PostgreSQL, so absolute figures are lower bounds.

    .venv/bin/python benchmarks/consent_optin_load.py --clients 16 --seconds 10 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

from consent_common import ROOT, bench_env, setup, truncate_consent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def drive(url: str, key: str, clients: int, seconds: float, make_request: Any) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors: dict[int | str, int] = {}
    headers = {"Authorization": f"Api-Key {key}"}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(base_url=url, headers=headers, connector=connector) as session:

        async def client(deadline: float, record: bool) -> None:
            while time.perf_counter() < deadline:
                method, path, body = make_request()
                start = time.perf_counter()
                try:
                    async with session.request(method, path, json=body) as response:
                        await response.read()
                        status: int | str = response.status
                except aiohttp.ClientError as exc:
                    status = type(exc).__name__
                if record:
                    latencies.append(time.perf_counter() - start)
                    if not (isinstance(status, int) and status < 300):
                        errors[status] = errors.get(status, 0) + 1

        warmup = time.perf_counter() + 2
        await asyncio.gather(*(client(warmup, False) for _ in range(clients)))
        began = time.perf_counter()
        await asyncio.gather(*(client(began + seconds, True) for _ in range(clients)))
        elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "latencies": latencies,
        "elapsed": elapsed,
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "mean": statistics.fmean(latencies) * 1000,
        "errors": errors,
    }


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = sorted(x for p in parts for x in p["latencies"])
    elapsed = sum(p["elapsed"] for p in parts)
    errors: dict[Any, int] = {}
    for p in parts:
        for k, v in p["errors"].items():
            errors[k] = errors.get(k, 0) + v

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50": pct(0.5), "p95": pct(0.95),
            "p99": pct(0.99), "errors": errors, "round_rps": [round(p["rps"]) for p in parts]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10, help="per endpoint per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    args = parser.parse_args()

    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    setup()
    from consent.seed import seed_notices
    from pandorakart_wa.services import api_key_create

    truncate_consent()
    seed_notices()
    _, key = api_key_create(name="bench-load")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "pandorakart_wa.wsgi", "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "--keep-alive", "5"],
        cwd=ROOT, env=bench_env(),
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(1)

        numbers = itertools.count(1)

        def ping() -> tuple[str, str, None]:
            return "GET", "/api/v1/ping", None

        def opt_in() -> tuple[str, str, dict[str, Any]]:
            return "POST", "/api/v1/consents/opt-in", {
                "phone": f"+9198{next(numbers):08d}",
                "purposes": ["order_updates", "marketing"],
                "notice_version": "2026-11-01-en",
                "source": "checkout",
                "evidence": {"ip": "203.0.113.9", "user_agent": "Mozilla/5.0 (bench)",
                             "page_url": "https://www.pandorakart.com/checkout",
                             "checkbox_text": "Send me order updates and offers on WhatsApp"},
            }

        # Interleaved rounds: the machine is shared (other test runs, this load generator), so
        # each endpoint sees the same background load on average.
        rounds: list[dict[str, Any]] = []
        for _ in range(args.rounds):
            rounds.append({name: asyncio.run(drive(url, key, args.clients, args.seconds, make))
                           for name, make in (("ping", ping), ("opt-in", opt_in))})
        results = {name: merge([r[name] for r in rounds]) for name in ("ping", "opt-in")}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    print(f"gunicorn sync workers: {args.workers}, clients: {args.clients}, {args.rounds} rounds x "
          f"{args.seconds:.0f} s per endpoint, CPUs: {os.cpu_count()}, load average before: {load_before}")
    for name, r in results.items():
        print(f"{name:7}: {r['rps']:7.0f} req/s  p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms  "
              f"p99 {r['p99']:6.1f} ms  ({r['requests']:,} requests, per round {r['round_rps']}, "
              f"errors: {r['errors'] or 'none'})")
    ratio = results["opt-in"]["rps"] / results["ping"]["rps"]
    print(f"opt-in / ping throughput: {ratio:.2f}   target >= 0.5: {'MET' if ratio >= 0.5 else 'NOT MET'}")
    if results["opt-in"]["errors"] or results["ping"]["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
