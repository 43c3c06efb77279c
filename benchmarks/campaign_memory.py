"""Worker memory during a 100,000-recipient campaign: the peak resident set (VmHWM from /proc)
of every worker process tree, sampled while the campaign is prepared and sent to the fake Meta.

    .venv/bin/python benchmarks/campaign_memory.py                         # 100,000 recipients
    .venv/bin/python benchmarks/campaign_memory.py --recipients 20000 --processes 1

Workers run as recommended for production (gevent, one process per core; see
send_throughput.py). Creates and drops the database pk_bench_memory; Redis databases 6 and 7.
Target: each worker's peak RSS under 300 MB (and it is printed per process and summed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common_send import (
    Worker,
    bench_env,
    close_and_drop,
    flush_redis,
    load_audience,
    no_quiet_hours,
    process_tree,
    sendable_template,
    setup_django,
    start_fake_meta,
    vm_hwm_kb,
)

BENCH_DB = os.environ.get("BENCH_DB", "pk_bench_memory")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=100)
    args = parser.parse_args()

    fake, url = start_fake_meta(args.latency_ms, validate=False, token="bench-token")  # noqa: S106 - the fake's
    env = bench_env(BENCH_DB, url, WHATSAPP_MAX_MPS=100_000, WHATSAPP_SEND_CONCURRENCY=128, WHATSAPP_POOL_SIZE=128,
                    MESSAGING_SEND_CHUNK_SIZE=500, MESSAGING_DISPATCHERS=4)
    workers: list[Worker] = []
    peaks: dict[int, int] = {}
    idle: dict[int, int] = {}
    try:
        setup_django(env, BENCH_DB)
        flush_redis()
        from messaging import campaigns
        from messaging.models import Campaign, Message
        from pandorakart_wa.celery import app

        app.conf.task_always_eager = False
        began = time.perf_counter()
        load_audience(args.recipients)
        template = sendable_template()
        no_quiet_hours()
        loaded = time.perf_counter() - began
        workers = [Worker({**os.environ, **env}, pool="gevent", concurrency=8, name=f"mem{i}",
                          log_path=f"/tmp/pk-bench-memory-worker{i}.log").start() for i in range(args.processes)]
        time.sleep(5)
        for w in workers:
            idle[w.pid] = sum(vm_hwm_kb(p) for p in process_tree(w.pid))
        campaign = campaigns.campaign_create(name="Memory", template=template, audience=Campaign.Audience.OPTED_IN,
                                             variables=["there", "40%"])
        started = time.perf_counter()
        campaigns.campaign_start(campaign=campaign)
        deadline = started + args.recipients / 50 + 300
        prepared_at = None
        while time.perf_counter() < deadline:
            for w in workers:
                for pid in process_tree(w.pid):
                    peaks[pid] = max(peaks.get(pid, 0), vm_hwm_kb(pid))
            status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
            if prepared_at is None and status in ("running", "completed"):
                prepared_at = time.perf_counter() - started
            if status == "completed":
                break
            time.sleep(1)
        elapsed = time.perf_counter() - started
        sent = Message.objects.filter(campaign=campaign, status="sent").count()
        for w in workers:  # a last look before they stop
            for pid in process_tree(w.pid):
                peaks[pid] = max(peaks.get(pid, 0), vm_hwm_kb(pid))
    finally:
        for w in workers:
            w.stop()
        fake.terminate()
        fake.wait(10)
        close_and_drop(BENCH_DB)
    per_worker = {w.name: max((peaks.get(p, 0) for p in peaks if p == w.pid), default=0) for w in workers}
    worst = max(peaks.values()) / 1024
    print("\n".join([
        "",
        f"== campaign_memory: {args.recipients:,} recipients, {args.processes} x celery -P gevent -c 8 ==",
        f"audience loaded in {loaded:.1f} s; campaign prepared in {prepared_at or 0:.1f} s, completed in {elapsed:.1f} s; "
        f"{sent:,} sent",
        "peak RSS per worker: " + ", ".join(f"{name} {kb / 1024:.0f} MB" for name, kb in per_worker.items())
        + f" (idle before the campaign: {', '.join(f'{kb / 1024:.0f} MB' for kb in idle.values())})",
        f"largest process peak: {worst:.0f} MB; all worker processes together: {sum(peaks.values()) / 1024:.0f} MB",
        f"target < 300 MB per worker: {'yes' if worst < 300 else 'NO'}",
        "",
    ]))


if __name__ == "__main__":
    main()
