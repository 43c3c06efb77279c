"""Webhook intake through the production web server (gunicorn pandorakart_wa.wsgi, PostgreSQL,
a Celery worker applying what the requests leave), beside trivial 200 views measured in the
same run with the same client and concurrency.

    .venv/bin/python benchmarks/webhook_intake.py                    # both parts below
    .venv/bin/python benchmarks/webhook_intake.py --part statuses --batch 1 --messages 4000
    .venv/bin/python benchmarks/webhook_intake.py --part inbound --batches 20

Part "statuses": signed status webhooks (`delivered`, then `read`) of `--batch` statuses each for
messages that exist. Baselines: POST /__bench/ok behind the full middleware (what any request of
this Django costs) and POST /webhooks/__bench/ok behind the webhooks' own handler
(pandorakart_wa/webhooks/wsgi.py: what any webhook request costs before its work). Target
(issue 12): one-status webhooks >= 0.7 of the trivial view. Also the rate at which the worker
applied them, from the first POST to the last status written.

Part "inbound": Meta's biggest batches, one POST at a time as Meta sends them: `--batches`
bodies of 1,000 inbound messages (990 texts from customers, 10 STOPs from other customers who
hold marketing consent), then one body of 1,000 STOPs. For each: the time to the answer, and
whether every STOP of the body was in force when the answer came (read from PostgreSQL right
after it). Targets: median answer < 250 ms (under 2 s always), opt-outs in force by then (API.md:
or within 1 s of it, which the all-STOP body needs).

Throughout, the PostgreSQL connections of the benchmark database are sampled every 20 ms; the
peak is printed. Creates and drops the database pk_bench_webhook (BENCH_DB).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common_send import (
    APP_SECRET,
    PG,
    ROOT,
    Worker,
    bench_env,
    close_and_drop,
    free_port,
    load_audience,
    phone_for,
    sendable_template,
    setup_django,
    wait_for,
)

BENCH_DB = os.environ.get("BENCH_DB", "pk_bench_webhook")
PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"


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
    return [(m.wamid or "", str(m.id), phone_for(i).lstrip("+")) for i, m in enumerate(rows)]


def envelope(value: dict[str, object]) -> dict[str, object]:
    return {"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp",
                                        "metadata": {"display_phone_number": "15550783881",
                                                     "phone_number_id": PHONE_NUMBER_ID}, **value}}]}]}


def status_bodies(messages: list[tuple[str, str, str]], batch: int) -> list[bytes]:
    out = []
    stamp = int(time.time())
    for round_no, status in enumerate(("delivered", "read")):
        for start in range(0, len(messages), batch):
            statuses = [
                {"id": wamid, "status": status, "timestamp": str(stamp + round_no), "recipient_id": to,
                 "biz_opaque_callback_data": mid,
                 **({"pricing": {"billable": True, "pricing_model": "PMP", "category": "marketing"}}
                    if status == "delivered" else {})}
                for wamid, mid, to in messages[start:start + batch]
            ]
            out.append(json.dumps(envelope({"statuses": statuses})).encode())
    return out


def inbound_body(senders: list[str], stoppers: list[str], tag: str) -> bytes:
    """One batch: a text from each sender, then a STOP from each stopper (Meta's shape)."""
    now = str(int(time.time()))
    messages = [{"from": wa, "id": f"wamid.{tag}.text.{i}", "timestamp": now, "type": "text",
                 "text": {"body": "Where is my order?"}} for i, wa in enumerate(senders)]
    messages += [{"from": wa, "id": f"wamid.{tag}.stop.{i}", "timestamp": now, "type": "text",
                  "text": {"body": "STOP"}} for i, wa in enumerate(stoppers)]
    contacts = [{"wa_id": wa, "profile": {"name": "Customer"}} for wa in [*senders, *stoppers]]
    return json.dumps(envelope({"contacts": contacts, "messages": messages})).encode()


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


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by the web server, PostgreSQL, the Celery worker and this client."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {"web": 0.0, "postgres": 0.0, "worker": 0.0, "client": 0.0}
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if "gunicorn" in cmd and "pandorakart_wa.wsgi" in cmd:
            used["web"] += seconds
        elif cmd.startswith("postgres") or "postgres:" in cmd:
            used["postgres"] += seconds
        elif "celery" in cmd and "worker" in cmd:
            used["worker"] += seconds
        elif int(entry) == me:
            used["client"] += seconds
    return used


class ConnectionSampler(threading.Thread):
    """The peak number of PostgreSQL connections to the benchmark database (every 20 ms)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            while not self.stopped.wait(0.02):
                (count,) = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                        [BENCH_DB]).fetchone() or (0,)
                self.peak = max(self.peak, int(count))


def part_statuses(base: str, args: argparse.Namespace, worker_running: bool) -> list[str]:
    from django.db.models import Count

    from messaging.models import Message, MessageEvent
    from pandorakart_wa.webhooks.models import WebhookEvent, WebhookItem

    payloads = status_bodies(make_messages(args.messages), args.batch)
    asyncio.run(blast(f"{base}/__bench/ok", payloads[:300], args.concurrency, sign=False))  # warm every worker
    asyncio.run(blast(f"{base}/webhooks/__bench/ok", payloads[:300], args.concurrency, sign=False))
    trivial_s, trivial_codes = asyncio.run(blast(f"{base}/__bench/ok", payloads, args.concurrency, sign=False))
    lean_s, lean_codes = asyncio.run(blast(f"{base}/webhooks/__bench/ok", payloads, args.concurrency, sign=False))
    began, cpu_before = time.perf_counter(), cpu_seconds()
    hook_s, hook_codes = asyncio.run(blast(f"{base}/webhooks/whatsapp", payloads, args.concurrency, sign=True))
    if worker_running:
        wait_for(lambda: not WebhookItem.objects.filter(state__in=["pending", "failed"]).exists(), 600, 0.05,
                 what="every stored status applied")
    applied_s = time.perf_counter() - began
    cpu = {k: v - cpu_before[k] for k, v in cpu_seconds().items()}
    final = dict(Message.objects.values_list("status").annotate(n=Count("id")))
    events = MessageEvent.objects.count()
    problems = WebhookItem.objects.exclude(state__in=["applied", "skipped", "pending"]).count()
    WebhookEvent.objects.filter(items__isnull=True).delete()
    n = len(payloads)
    trivial_rps, lean_rps, hook_rps = n / trivial_s, n / lean_s, n / hook_s
    return [
        f"-- status webhooks: {n:,} signed POSTs of {args.batch} status(es) ({args.messages:,} messages, delivered "
        f"then read); {args.concurrency} in flight",
        f"trivial view, full middleware    : {trivial_rps:8,.0f} requests/s  ({trivial_codes})",
        f"trivial view, webhooks' handler  : {lean_rps:8,.0f} requests/s  ({lean_codes})",
        f"status webhooks                  : {hook_rps:8,.0f} webhooks/s = {hook_rps * args.batch:,.0f} statuses/s  "
        f"({hook_codes})",
        f"ratio to the full-middleware view: {hook_rps / trivial_rps:8.2f}  (target 0.7: "
        f"{'yes' if hook_rps / trivial_rps >= 0.7 else 'NO'})",
        f"ratio to the webhooks' handler   : {hook_rps / lean_rps:8.2f}",
        ("applied                          : none (--intake-only)" if not worker_running else
         f"applied                          : {n * args.batch / applied_s:8,.0f} statuses/s, first POST to last "
         f"status written ({applied_s:.2f} s, by the worker in batches)"),
        f"result                           : messages {final}; {events:,} status events; {problems} items failed",
        "CPU per webhook (ms)             : " + ", ".join(f"{k} {1000 * v / n:.2f}" for k, v in cpu.items()),
    ]


def part_inbound(base: str, args: argparse.Namespace, worker_running: bool) -> list[str]:
    import requests

    from consent.models import ConsentState
    from pandorakart_wa.core.phones import phone_digest
    from pandorakart_wa.webhooks.models import WebhookItem
    from pandorakart_wa.whatsapp.signature import sign

    stops_per_batch, texts_per_batch = 10, 990
    first = 1_000_000
    # customers: the senders write for the first time; the stoppers hold marketing consent
    stoppers_all = [phone_for(first + i) for i in range(args.batches * stops_per_batch + 1000)]
    load_audience(len(stoppers_all), start=first)
    session = requests.Session()

    def post(body: bytes) -> float:
        started = time.perf_counter()
        response = session.post(f"{base}/webhooks/whatsapp", data=body, timeout=30, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)})
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        return elapsed

    def in_force(numbers: list[str]) -> int:
        return ConsentState.objects.filter(
            contact__phone_digest__in=[phone_digest(n) for n in numbers], purpose="marketing", status="opted_out"
        ).count()

    post(inbound_body([phone_for(2_900_000 + i).lstrip("+") for i in range(20)], [], "warm"))
    latencies, honoured = [], []
    for b in range(args.batches):
        senders = [phone_for(3_000_000 + b * texts_per_batch + i).lstrip("+") for i in range(texts_per_batch)]
        stoppers = stoppers_all[b * stops_per_batch:(b + 1) * stops_per_batch]
        latencies.append(post(inbound_body(senders, [s.lstrip("+") for s in stoppers], f"b{b}")))
        honoured.append(in_force(stoppers))
    all_stops = stoppers_all[args.batches * stops_per_batch:]
    stop_answer = post(inbound_body([], [s.lstrip("+") for s in all_stops], "allstop"))
    began = time.perf_counter()
    stop_at_answer = in_force(all_stops)
    while in_force(all_stops) < len(all_stops) and time.perf_counter() - began < 120:
        time.sleep(0.02)
    stop_all_after = time.perf_counter() - began
    if worker_running:
        began = time.perf_counter()
        wait_for(lambda: not WebhookItem.objects.filter(state__in=["pending", "failed", "opted_out"]).exists(), 1800, 0.2,
                 what="every inbound item applied")
        drained = time.perf_counter() - began
    latencies.sort()
    ms = [round(1000 * x) for x in latencies]
    return [
        f"-- inbound batches: {args.batches} POSTs of 1,000 messages (990 texts, 10 STOPs), one at a time",
        f"answer              : median {statistics.median(ms)} ms, p95 {ms[int(0.95 * (len(ms) - 1))]} ms, "
        f"max {ms[-1]} ms (target median < 250 ms: {'yes' if statistics.median(ms) < 250 else 'NO'}; "
        f"all < 2 s: {'yes' if ms[-1] < 2000 else 'NO'})",
        f"opt-outs in force   : {sum(honoured)} of {args.batches * stops_per_batch} when the answer came "
        f"({'all' if sum(honoured) == args.batches * stops_per_batch else 'NOT all'})",
        f"1,000 STOPs at once : answered in {round(1000 * stop_answer)} ms with {stop_at_answer} in force; "
        f"all {len(all_stops)} in force {round(1000 * stop_all_after)} ms after the answer",
        ("workers             : none (--intake-only)" if not worker_running else
         f"workers             : every other item applied {drained:.1f} s after the last answer"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["statuses", "inbound", "all"], default="all")
    parser.add_argument("--messages", type=int, default=4000, help="statuses part: messages (two statuses each)")
    parser.add_argument("--batch", type=int, default=1, help="statuses part: statuses per webhook")
    parser.add_argument("--batches", type=int, default=20, help="inbound part: bodies of 1,000 messages")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn --workers (README: production uses 4)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn --threads (README: production uses 4)")
    parser.add_argument("--concurrency", type=int, default=16, help="statuses part: requests in flight")
    parser.add_argument("--intake-only", action="store_true", help="diagnostic: no worker (the web side alone)")
    args = parser.parse_args()

    env = bench_env(BENCH_DB, "http://127.0.0.1:9", DJANGO_SETTINGS_MODULE="benchmarks.common_webhook_settings",
                    WHATSAPP_BACKEND="locmem")
    server: subprocess.Popen[bytes] | None = None
    worker: Worker | None = None
    sampler = ConnectionSampler()
    lines: list[str] = []
    try:
        from benchmarks.common_send import flush_redis

        flush_redis()
        setup_django(env, BENCH_DB)
        from consent.seed import seed_keywords

        seed_keywords()
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
        sampler.start()
        if args.part in ("statuses", "all"):
            lines += part_statuses(base, args, worker is not None)
        if args.part in ("inbound", "all"):
            lines += part_inbound(base, args, worker is not None)
    finally:
        sampler.stopped.set()
        if worker is not None:
            worker.stop()
        if server is not None:
            server.terminate()
            server.wait(20)
        close_and_drop(BENCH_DB)
    print("\n".join([
        "",
        f"== webhook_intake: gunicorn --workers {args.workers} --threads {args.threads}, "
        f"{'no worker' if args.intake_only else 'one gevent worker (-c 8)'}, {os.cpu_count()} cores ==",
        *lines,
        f"-- PostgreSQL connections to {BENCH_DB} at peak: {sampler.peak} (web, worker, this script)",
        "",
    ]))


if __name__ == "__main__":
    main()
