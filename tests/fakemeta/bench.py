"""Throughput of the fake Meta server, driven by the `cloud` backend's `send_batch`.

    .venv/bin/python -m tests.fakemeta.bench --latency-ms 0 --messages 5000
    .venv/bin/python -m tests.fakemeta.bench --latency-ms 100 --messages 5000 --concurrency 256

Starts `python -m tests.fakemeta.server` as a separate process (so the client and the server
do not share a GIL), sends the batch through a real `CloudBackend`, checks with the control API
that every message arrived exactly once, and prints requests per second. `--client aiohttp`
drives the server with a lighter asyncio client instead, to see the server's own ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from typing import Any

TOKEN = "bench-token"


def _start_server(latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakemeta.server", "--port", "0", "--latency-ms", str(latency_ms),
         "--token", TOKEN],
        stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise RuntimeError(f"the fake server did not start: {line!r}")
    return process, line.rsplit(" ", 1)[1].strip()


def _send_batch(url: str, messages: int, concurrency: int) -> float:
    from django.conf import settings

    settings.configure(
        WHATSAPP_GRAPH_URL=url, WHATSAPP_API_VERSION="v23.0", WHATSAPP_ACCESS_TOKEN=TOKEN,
        WHATSAPP_PHONE_NUMBER_ID="106540352242922", WHATSAPP_WABA_ID="102290129340398",
        WHATSAPP_CONNECT_TIMEOUT=3.05, WHATSAPP_READ_TIMEOUT=20.0,
        WHATSAPP_POOL_SIZE=max(128, concurrency), WHATSAPP_SEND_CONCURRENCY=concurrency,
    )
    from pandorakart_wa.whatsapp.backends.cloud import CloudBackend
    from pandorakart_wa.whatsapp.base import OutboundMessage, SendResult

    backend = CloudBackend()
    batch = [
        OutboundMessage(to=f"+9190{i:08d}", template="order_shipped", language="en", body_parameters=[str(i)],
                        biz_opaque_callback_data=f"bench:{i}")
        for i in range(messages)
    ]
    warmup = [OutboundMessage(to=f"+9191{i:08d}", text="warm-up") for i in range(min(concurrency, messages))]
    backend.send_batch(warmup)  # open the pool's connections; other recipients, so no false duplicates
    started = time.perf_counter()
    results = backend.send_batch(batch)
    elapsed = time.perf_counter() - started
    failures = [r for r in results if not isinstance(r, SendResult)]
    if failures:
        raise RuntimeError(f"{len(failures)} sends failed, e.g. {failures[0]!r}")
    return elapsed


def _aiohttp_client(url: str, messages: int, concurrency: int) -> float:
    import aiohttp

    async def run() -> float:
        connector = aiohttp.TCPConnector(limit=concurrency)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(messages):
                queue.put_nowait(i)

            async def worker() -> None:
                while not queue.empty():
                    i = queue.get_nowait()
                    body: dict[str, Any] = {
                        "messaging_product": "whatsapp", "recipient_type": "individual", "to": f"+9190{i:08d}",
                        "type": "text", "text": {"body": "hi"},
                    }
                    async with session.post(f"{url}/v23.0/106540352242922/messages", json=body) as response:
                        assert response.status == 200, await response.text()
                        await response.read()

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return time.perf_counter() - started

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--client", choices=("send_batch", "aiohttp"), default="send_batch")
    args = parser.parse_args()
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)

    from tests.fakemeta.server import ControlClient

    process, url = _start_server(args.latency_ms)
    try:
        control = ControlClient(url)
        control.wait_ready()
        runner = _send_batch if args.client == "send_batch" else _aiohttp_client
        elapsed = runner(url, args.messages, args.concurrency)
        counts = control.counts()
        counts["duplicates"] = [r for r in counts["duplicates"] if r.startswith("9190")]
        measured = args.messages
        exact_once = not counts["duplicates"] and counts["violations"] == 0
        print(
            f"client={args.client} latency={args.latency_ms:g}ms concurrency={args.concurrency} "
            f"messages={measured} elapsed={elapsed:.2f}s -> {measured / elapsed:,.0f} req/s; "
            f"server saw {counts['messages']} sends, duplicates={len(counts['duplicates'])}, "
            f"violations={counts['violations']}, exactly-once={'yes' if exact_once else 'NO'}"
        )
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()
