"""Send throughput: a campaign end to end (queued -> sent, recorded in PostgreSQL) through real
Celery workers against the fake Meta (its own process, 100 ms per answer), beside the bare
ceiling measured in the same run: the same HTTP client (CloudBackend.send_batch) with the same
pool type, processes, parallel senders, chunk size and concurrency, no database. The campaign's
messages are sent by the dispatcher that sends every message (messaging/dispatch.py).

    .venv/bin/python benchmarks/send_throughput.py      # 20,000 messages, 2 gevent workers (the defaults)
    .venv/bin/python benchmarks/send_throughput.py --processes 1 --concurrency 256   # one worker process

The default worker setup is the recommended production one on a 2-core host: one
`celery -A pandorakart_wa worker -P gevent -c 8` process per core, MESSAGING_DISPATCHERS=4,
MESSAGING_SEND_CHUNK_SIZE=500, WHATSAPP_SEND_CONCURRENCY=128 (connections per process).

Creates (and at the end drops) the database pk_bench_send, uses Redis databases 6 (broker) and
7 (limiter, in-flight marks), and prints a result block. Targets: >= 1,000 messages/s and
>= 0.75 of the bare ceiling. WHATSAPP_MAX_MPS is 100,000: the limiter never binds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common_send import (
    PY,
    ROOT,
    Worker,
    bench_env,
    close_and_drop,
    flush_redis,
    setup_django,
    start_fake_meta,
    wait_for,
)

BENCH_DB = os.environ.get("BENCH_DB", "pk_bench_send")
TOKEN = "bench-token"  # noqa: S105 - the fake's


def env_for(fake_url: str, args: argparse.Namespace) -> dict[str, str]:
    return bench_env(
        BENCH_DB, fake_url,
        WHATSAPP_MAX_MPS=args.max_mps, WHATSAPP_SEND_CONCURRENCY=args.concurrency, WHATSAPP_POOL_SIZE=args.concurrency,
        MESSAGING_SEND_CHUNK_SIZE=args.chunk, MESSAGING_DISPATCHERS=args.parallelism,
    )


# --- the bare ceiling (a child process per worker process) ------------------------------------


def bare_child(spec: dict[str, Any]) -> None:
    """Send `messages` through CloudBackend.send_batch: `parallelism` senders, each sending
    chunks of `chunk`, in the worker's pool type; prints the elapsed time as JSON."""
    if spec["pool"] == "gevent":
        from gevent import monkey

        monkey.patch_all()
    import threading

    from django.conf import settings

    settings.configure(
        WHATSAPP_GRAPH_URL=spec["url"], WHATSAPP_API_VERSION="v23.0", WHATSAPP_ACCESS_TOKEN=TOKEN,
        WHATSAPP_PHONE_NUMBER_ID="106540352242922", WHATSAPP_WABA_ID="102290129340398",
        WHATSAPP_CONNECT_TIMEOUT=3.05, WHATSAPP_READ_TIMEOUT=20.0, WHATSAPP_POOL_SIZE=spec["concurrency"],
        WHATSAPP_SEND_CONCURRENCY=spec["concurrency"],
    )
    from pandorakart_wa.whatsapp.backends.cloud import CloudBackend
    from pandorakart_wa.whatsapp.base import OutboundMessage, SendResult

    backend = CloudBackend()
    start, count, chunk = spec["start"], spec["messages"], spec["chunk"]
    outbound = [
        OutboundMessage(to=f"+9191{start + i:08d}", template="festive_offer", language="en",
                        body_parameters=["there", "40%"], biz_opaque_callback_data=f"bare-{start + i}")
        for i in range(count)
    ]
    chunks = [outbound[i:i + chunk] for i in range(0, count, chunk)]
    lock = threading.Lock()
    failures = []

    def sender() -> None:
        while True:
            with lock:
                if not chunks:
                    return
                batch = chunks.pop(0)
            results = backend.send_batch(batch)
            failures.extend(r for r in results if not isinstance(r, SendResult))

    backend.send_batch([OutboundMessage(to=f"+9192{start + i:08d}", text="warm-up") for i in range(64)])
    began = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(spec["parallelism"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"elapsed": time.perf_counter() - began, "failures": len(failures)}), flush=True)


def run_bare(url: str, args: argparse.Namespace) -> tuple[float, int]:
    per = args.messages // args.processes
    children = []
    for p in range(args.processes):
        spec = {"url": url, "pool": args.pool, "concurrency": args.concurrency, "chunk": args.chunk,
                "parallelism": args.parallelism, "messages": per, "start": p * per}
        children.append(subprocess.Popen([PY, __file__, "--bare-child", json.dumps(spec)], cwd=ROOT,
                                         stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}))
    outputs = [json.loads((c.communicate()[0] or "{}").strip().splitlines()[-1]) for c in children]
    failures = sum(o["failures"] for o in outputs)
    return max(o["elapsed"] for o in outputs), failures  # the children start together after warm-up


# --- the pipeline -----------------------------------------------------------------------------


def run_pipeline(env: dict[str, str], args: argparse.Namespace, control: Any) -> dict[str, Any]:
    from django.db.models import Count, Max, Min

    from benchmarks.common_send import load_audience, no_quiet_hours, sendable_template
    from messaging import campaigns
    from messaging.models import Campaign, Message, MessageStatus
    from pandorakart_wa.celery import app

    app.conf.task_always_eager = False
    t0 = time.perf_counter()
    load_audience(args.messages)
    template = sendable_template()
    no_quiet_hours()
    loaded = time.perf_counter() - t0
    worker_env = {**os.environ, **env}
    workers = [
        Worker(worker_env, pool=args.pool, concurrency=args.worker_concurrency, name=f"bench{i}",
               log_path=f"/tmp/pk-bench-send-worker{i}.log").start()
        for i in range(args.processes)
    ]
    try:
        time.sleep(4)  # workers connect
        campaign = campaigns.campaign_create(name="Throughput", template=template,
                                             audience=Campaign.Audience.OPTED_IN, variables=["there", "40%"])
        started = time.perf_counter()
        campaigns.campaign_start(campaign=campaign)
        wait_for(lambda: Campaign.objects.filter(pk=campaign.pk, status__in=("running", "completed")).exists(),
                 600, 0.05, what="the campaign prepared")
        prepared = time.perf_counter() - started
        wait_for(lambda: Campaign.objects.filter(pk=campaign.pk, status="completed").exists(), 1200, 0.1,
                 what="the campaign completed")
        finished = time.perf_counter() - started
        span = Message.objects.filter(campaign=campaign).aggregate(first=Min("claimed_at"), last=Max("sent_at"))
        statuses = dict(Message.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("id")))
        send_seconds = (span["last"] - span["first"]).total_seconds()
        sent = statuses.get(MessageStatus.SENT, 0)
        return {"loaded_s": loaded, "prepare_s": prepared, "total_s": finished, "send_s": send_seconds,
                "sent": sent, "statuses": statuses, "workers": workers}
    finally:
        for w in workers:
            w.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--pool", choices=("gevent", "threads", "prefork"), default="gevent")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (celery commands)")
    parser.add_argument("--worker-concurrency", type=int, default=8, help="celery -c (tasks at once)")
    parser.add_argument("--parallelism", type=int, default=4, help="MESSAGING_DISPATCHERS (dispatcher lanes)")
    parser.add_argument("--chunk", type=int, default=500, help="MESSAGING_SEND_CHUNK_SIZE")
    parser.add_argument("--concurrency", type=int, default=128, help="WHATSAPP_SEND_CONCURRENCY per process")
    parser.add_argument("--max-mps", type=int, default=100_000)
    parser.add_argument("--no-validate", action="store_true", help="the fake skips its OpenAPI body checks")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--bare-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_child:
        bare_child(json.loads(args.bare_child))
        return

    fake, url = start_fake_meta(args.latency_ms, validate=not args.no_validate, token=TOKEN)
    from tests.fakemeta.server import ControlClient

    control = ControlClient(url)
    control.wait_ready()
    env = env_for(url, args)
    try:
        setup_django(env, BENCH_DB)
        flush_redis()
        bare_s, bare_failures = run_bare(url, args)
        bare_counts = control.counts()
        control.reset()
        control.set_latency(args.latency_ms)
        result = run_pipeline(env, args, control)
        counts = control.counts()
    finally:
        fake.terminate()
        fake.wait(10)
        if not args.keep_db:
            close_and_drop(BENCH_DB)
    bare_rate = args.messages / bare_s
    send_rate = result["sent"] / result["send_s"]
    e2e_rate = result["sent"] / result["total_s"]
    bare_dup = len(bare_counts["duplicates"])
    lines = [
        f"== send_throughput: {args.messages:,} messages, fake Meta at {args.latency_ms:g} ms, {os.cpu_count()} cores ==",
        f"worker setup   : {args.processes} x celery -P {args.pool} -c {args.worker_concurrency}, "
        f"MESSAGING_DISPATCHERS={args.parallelism}, MESSAGING_SEND_CHUNK_SIZE={args.chunk}, "
        f"WHATSAPP_SEND_CONCURRENCY={args.concurrency}, WHATSAPP_MAX_MPS={args.max_mps}",
        f"bare ceiling   : {bare_rate:8,.0f} msg/s  ({args.messages:,} in {bare_s:.2f} s: send_batch, same pool, "
        f"processes and concurrency, no DB; failures {bare_failures}, duplicates {bare_dup})",
        f"pipeline send  : {send_rate:8,.0f} msg/s  (first claim -> last `sent` recorded: {result['send_s']:.2f} s)",
        f"pipeline e2e   : {e2e_rate:8,.0f} msg/s  (campaign start -> completed: {result['total_s']:.2f} s, "
        f"of which preparing {result['prepare_s']:.2f} s)",
        f"ratio          : {send_rate / bare_rate:8.2f} of the bare ceiling (send phase); "
        f"{e2e_rate / bare_rate:.2f} including preparation",
        f"statuses       : {result['statuses']}; Meta saw {counts['messages']:,} sends, "
        f"duplicates {len(counts['duplicates'])}, schema violations {counts['violations']}",
        f"targets        : >= 1,000 msg/s: {'yes' if send_rate >= 1000 else 'NO'};  "
        f">= 0.75 of bare: {'yes' if send_rate / bare_rate >= 0.75 else 'NO'}",
    ]
    print("\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
