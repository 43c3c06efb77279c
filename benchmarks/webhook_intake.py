"""Webhook intake: signed Meta status webhooks per second through the production web server
(gunicorn pandorakart_wa.wsgi, sync workers, PostgreSQL), beside a trivial 200 view behind the
same middleware, measured in the same run with the same client and concurrency.

    .venv/bin/python benchmarks/webhook_intake.py                       # 20,000 messages, batches of 20
    .venv/bin/python benchmarks/webhook_intake.py --batch 1 --messages 4000   # one status per webhook

Each webhook body is a batch of `--batch` statuses (`delivered`, then in a second round `read`)
for messages that exist (sent, with their wamids), signed with X-Hub-Signature-256. The trivial
view (POST /__bench/ok, benchmarks/common_webhook_urls.py) reads the same bodies and answers 200.
Creates and drops the database pk_bench_webhook. Targets: statuses/s >= 3x the sustained send
rate (--send-rate, from send_throughput.py), or webhooks/s >= 0.7 of the trivial view.

Production settings: status webhooks are stored, answered, and applied by a Celery worker
(`-P gevent -c 8`, started here beside gunicorn on the same cores) in batches. The result block
gives both the intake rate and the rate at which the statuses were applied, from the first POST
to the last status written. --no-defer measures WEBHOOK_DEFER_STATUSES=off (applied in the POST).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common_send import (
    APP_SECRET,
    ROOT,
    Worker,
    bench_env,
    close_and_drop,
    free_port,
    load_audience,
    sendable_template,
    setup_django,
    wait_for,
)

BENCH_DB = os.environ.get("BENCH_DB", "pk_bench_webhook")


def make_messages(count: int) -> list[tuple[str, str, str]]:
    """`count` sent messages with wamids; (wamid, message id, recipient digits) of each."""
    from django.utils import timezone

    from messaging.models import Message, MessageStatus

    contact_ids = load_audience(count)
    template = sendable_template()
    now = timezone.now()
    rows = [
        Message(contact_id=cid, purpose=template.purpose, template=template, language="en", status=MessageStatus.SENT,
                wamid=f"wamid.bench.{i:08d}", attempts=1, claimed_at=now, sent_at=now, created_by="bench")
        for i, cid in enumerate(contact_ids)
    ]
    Message.objects.bulk_create(rows, batch_size=5000)
    return [(m.wamid or "", str(m.id), f"9190{i:08d}") for i, m in enumerate(rows)]


def bodies(messages: list[tuple[str, str, str]], batch: int) -> list[bytes]:
    out = []
    stamp = int(time.time())
    for round_no, status in enumerate(("delivered", "read")):
        for start in range(0, len(messages), batch):
            statuses = [
                {"id": wamid, "status": status, "timestamp": str(stamp + round_no), "recipient_id": to,
                 "biz_opaque_callback_data": mid,
                 **({"conversation": {"id": "c" + wamid[-8:], "origin": {"type": "marketing"}},
                     "pricing": {"billable": True, "pricing_model": "PMP", "category": "marketing"}}
                    if status == "delivered" else {})}
                for wamid, mid, to in messages[start:start + batch]
            ]
            payload = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [
                {"field": "messages", "value": {"messaging_product": "whatsapp",
                                                "metadata": {"display_phone_number": "15550783881",
                                                             "phone_number_id": "106540352242922"},
                                                "statuses": statuses}}]}]}
            out.append(json.dumps(payload).encode())
    return out


async def blast(url: str, payloads: list[bytes], concurrency: int, sign: bool) -> tuple[float, dict[int, int]]:
    """POST every payload (`concurrency` at a time, keep-alive); (seconds, responses per status)."""
    import aiohttp

    from pandorakart_wa.whatsapp.signature import sign as signature

    statuses: dict[int, int] = {}
    queue = list(reversed(payloads))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def client() -> None:
            while queue:
                body = queue.pop()
                headers = {"Content-Type": "application/json"}
                if sign:
                    headers["X-Hub-Signature-256"] = signature(body, APP_SECRET)
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return time.perf_counter() - started, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=20, help="statuses per webhook")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn --workers (README: production uses 4)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn --threads (README: production uses 4)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight from the client")
    parser.add_argument("--send-rate", type=float, default=1300.0, help="sustained send rate (send_throughput.py)")
    parser.add_argument("--no-defer", action="store_true", help="WEBHOOK_DEFER_STATUSES=off: applied in the POST")
    parser.add_argument("--intake-only", action="store_true",
                        help="diagnostic: no worker, statuses stay stored (measures the web side alone)")
    args = parser.parse_args()

    env = bench_env(BENCH_DB, "http://127.0.0.1:9", DJANGO_SETTINGS_MODULE="benchmarks.common_webhook_settings",
                    WEBHOOK_DEFER_STATUSES="off" if args.no_defer else "on")
    server: subprocess.Popen[bytes] | None = None
    worker: Worker | None = None
    try:
        from benchmarks.common_send import flush_redis

        flush_redis()
        setup_django(env, BENCH_DB)
        messages = make_messages(args.messages)
        payloads = bodies(messages, args.batch)
        port = free_port()
        server = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "pandorakart_wa.wsgi", "--workers", str(args.workers),
             "--threads", str(args.threads), "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
            cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL, stderr=open("/tmp/pk-bench-webhook-gunicorn.log", "wb"),  # noqa: SIM115
        )
        base = f"http://127.0.0.1:{port}"
        if not args.intake_only:
            worker = Worker({**os.environ, **env, "PYTHONPATH": str(ROOT)}, pool="gevent", concurrency=8,
                            name="hooks", log_path="/tmp/pk-bench-webhook-worker.log").start()

        def up() -> bool:
            import requests

            try:
                return requests.post(f"{base}/__bench/ok", data=b"{}", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, 30, 0.2, what="gunicorn up")
        # warm every worker (imports, database connections) on both endpoints
        asyncio.run(blast(f"{base}/__bench/ok", payloads[:200], args.concurrency, sign=False))
        asyncio.run(blast(f"{base}/webhooks/whatsapp", [json.dumps({"object": "x", "entry": [], "n": i}).encode()
                                                         for i in range(200)], args.concurrency, sign=True))
        trivial_s, trivial_codes = asyncio.run(blast(f"{base}/__bench/ok", payloads, args.concurrency, sign=False))
        from django.db.models import Count

        from messaging.models import Message, MessageEvent
        from pandorakart_wa.models import WebhookEvent

        WebhookEvent.objects.all().delete()  # the warm-up's
        began = time.perf_counter()
        hook_s, hook_codes = asyncio.run(blast(f"{base}/webhooks/whatsapp", payloads, args.concurrency, sign=True))
        if not args.intake_only:
            wait_for(lambda: not WebhookEvent.objects.filter(processed_at__isnull=True).exists(), 600, 0.05,
                     what="every stored status applied")
        applied_s = time.perf_counter() - began

        final = dict(Message.objects.values_list("status").annotate(n=Count("id")))
        events = MessageEvent.objects.count()
        errors = WebhookEvent.objects.exclude(error="").count()
    finally:
        if worker is not None:
            worker.stop()
        if server is not None:
            server.terminate()
            server.wait(20)
        close_and_drop(BENCH_DB)
    n = len(payloads)
    trivial_rps, hook_rps = n / trivial_s, n / hook_s
    statuses_ps = hook_rps * args.batch
    print("\n".join([
        "",
        f"== webhook_intake: {n:,} signed webhooks of {args.batch} statuses ({args.messages:,} messages, delivered "
        f"then read); gunicorn --workers {args.workers} --threads {args.threads}; {args.concurrency} in flight; "
        f"{os.cpu_count()} cores ==",
        f"trivial 200 view : {trivial_rps:8,.0f} requests/s  ({trivial_codes})",
        f"status webhooks  : {hook_rps:8,.0f} webhooks/s = {statuses_ps:,.0f} statuses/s  ({hook_codes})",
        f"ratio            : {hook_rps / trivial_rps:8.2f} of the trivial view (target 0.7: "
        f"{'yes' if hook_rps / trivial_rps >= 0.7 else 'NO'})",
        f"vs sending       : {statuses_ps / args.send_rate:8.1f}x the sustained send rate of {args.send_rate:,.0f}/s "
        f"(target 3x: {'yes' if statuses_ps >= 3 * args.send_rate else 'NO'})",
        ("applied          : none (--intake-only: no worker; the statuses stay stored)" if args.intake_only else
         f"applied          : {n * args.batch / applied_s:8,.0f} statuses/s from the first POST to the last status "
         f"written ({applied_s:.2f} s; {'in the POST' if args.no_defer else 'by the worker, in batches'})"),
        f"result           : messages {final}; {events:,} status events; {errors} webhook events with errors",
        "",
    ]))


if __name__ == "__main__":
    main()
