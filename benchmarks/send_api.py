"""The storefront's send path end to end, on the README's production deployment, beside the
bare ceiling measured in the same run with the same client concurrency.

    .venv/bin/python benchmarks/send_api.py                      # every phase, the defaults below
    .venv/bin/python benchmarks/send_api.py --db-conn close      # CONN_MAX_AGE=0 in the workers instead

Deployment (one machine): gunicorn `pandorakart_wa.wsgi --workers 2 --threads 4`, two
`celery -A pandorakart_wa worker -P gevent -c 8` processes and `celery beat`, with
WHATSAPP_SEND_CONCURRENCY=128, WHATSAPP_POOL_SIZE=128, MESSAGING_SEND_CHUNK_SIZE=500, the fake
Meta as its own process answering in 100 ms, WHATSAPP_MAX_MPS=100,000 (the limiter never binds),
DATABASE_POOL_MAX_SIZE=8 (Django's psycopg pool; --db-conn for the alternatives).
Clients are `requests` sessions in threads of a separate process.

Phases, each to customers of its own (Meta's pair rate allows one message per customer per 6 s):
  ceiling  32 clients POST Meta-shaped template sends straight to the fake: the bare ceiling
  ping     32 clients GET /api/v1/ping (key check and nothing else): the intake baseline
  alone    the same 2,000 POSTs before the Celery workers start: the intake's own rate, with
           nothing else on the host (the ping's conditions); then the workers start and drain
           them: the dispatcher's rate alone (first request at Meta -> last)
  single   32 clients POST /api/v1/messages, 2,000 template messages to opted-in customers:
           intake (first POST -> last 202) and end to end (first POST -> last request at Meta),
           the workers sending while the storefront posts
  batch    POST /api/v1/messages/batch, 1,000 items per request: end to end
  latency  one message at a time at 20/s offered: POST -> the request at Meta, p50/p95
Throughout, PostgreSQL connections of the benchmark database (pg_stat_activity) are sampled
every 50 ms; the peak is printed per phase.

Creates (and drops) the database pk_bench_api; Redis: BENCH_BROKER / BENCH_REDIS (common_send).
Targets (issue 13): end to end >= 0.75 x ceiling (0.9 hoped for); intake >= 0.5 x ping; batch
>= 1,000 msg/s end to end; p50 POST -> Meta <= 250 ms at 20/s offered.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common_send import (
    PG,
    PY,
    ROOT,
    Worker,
    bench_env,
    close_and_drop,
    flush_redis,
    free_port,
    phone_for,
    process_tree,
    setup_django,
    start_fake_meta,
    wait_for,
)

BENCH_DB = os.environ.get("BENCH_DB", "pk_bench_api")
TOKEN = "bench-token"  # noqa: S105 - the fake's
TEMPLATE = "order_shipped"
VARIABLES = ["Ravi", "40%"]  # the benchmark template's {{1}}, {{2}}


# --- the clients (a child process: its threads do not share the orchestrator's GIL) ----------


def client_child(spec: dict[str, Any]) -> None:
    """Run `spec["requests"]` (method, url, json, headers) on `spec["clients"]` threads, each
    with its own requests.Session; or, with `rate`, start one every 1/rate s (open loop). Prints
    one JSON line: per request [start, end, status, body id]."""
    import requests

    jobs = spec["requests"]
    results: list[Any] = [None] * len(jobs)
    lock = threading.Lock()
    cursor = iter(range(len(jobs)))
    rate = spec.get("rate")
    began = time.time()

    def run(session: requests.Session, index: int) -> None:
        method, url, body, headers = jobs[index]
        if rate:
            delay = began + index / rate - time.time()
            if delay > 0:
                time.sleep(delay)
        start = time.time()
        try:
            response = session.request(method, url, json=body, headers=headers, timeout=60)
            status: Any = response.status_code
            try:
                payload = response.json()
            except ValueError:
                payload = None
        except requests.RequestException as exc:
            status, payload = type(exc).__name__, None
        end = time.time()
        ident = payload.get("id") if isinstance(payload, dict) else None
        if isinstance(payload, dict) and isinstance(payload.get("results"), list):
            ident = [r.get("id") for r in payload["results"]]
            status = [status, sorted({r.get("status") for r in payload["results"]})]
        results[index] = [start, end, status, ident]

    def worker() -> None:
        session = requests.Session()
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            run(session, index)

    threads = [threading.Thread(target=worker) for _ in range(spec["clients"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"results": results, "cpu": time.process_time()}), flush=True)


def run_clients(requests_: list[Any], clients: int, rate: float | None = None) -> list[Any]:
    spec = {"requests": requests_, "clients": clients, "rate": rate}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    child = subprocess.run([PY, __file__, "--client-child", f.name], cwd=ROOT, capture_output=True, text=True,
                           check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
    os.unlink(f.name)
    if child.returncode != 0:
        raise RuntimeError(f"client process failed: {child.stderr[-2000:]}")
    output = json.loads(child.stdout.strip().splitlines()[-1])
    CLIENT_CPU.append(float(output["cpu"]))
    return list(output["results"])


CLIENT_CPU: list[float] = []  # CPU seconds of each client process, in order
METER: list[CpuMeter] = []


# --- connections -------------------------------------------------------------------------------


class ConnectionSampler:
    """Peak PostgreSQL backends connected to the benchmark database (its own connection excluded)."""

    def __init__(self, db: str) -> None:
        import psycopg

        self.db = db
        self._conn = psycopg.connect(f"{PG}/postgres", autocommit=True)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            row = self._conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [self.db]).fetchone()
            self.peak = max(self.peak, int(row[0]) if row else 0)
            time.sleep(0.05)

    def take(self) -> int:
        """The peak since the last call."""
        peak, self.peak = self.peak, 0
        return peak

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._conn.close()


class CpuMeter:
    """CPU seconds (user + system) used by each role's processes between two readings: the
    deployment's process trees, and PostgreSQL's backends of the benchmark database."""

    def __init__(self, roles: dict[str, int], sampler: ConnectionSampler) -> None:
        self.roles, self.sampler = roles, sampler
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.last = self._read()

    def _cpu(self, pid: int) -> float:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / self.ticks
        except OSError:
            return 0.0

    def _read(self) -> dict[str, dict[int, float]]:
        readings = {role: {p: self._cpu(p) for p in process_tree(pid)} for role, pid in self.roles.items()}
        rows = self.sampler._conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> "
                                          "pg_backend_pid()", [self.sampler.db]).fetchall()
        readings["postgres"] = {int(r[0]): self._cpu(int(r[0])) for r in rows}
        return readings

    def take(self) -> dict[str, float]:
        """CPU seconds per role since the last call (a process that ended in between is missed)."""
        now = self._read()
        used = {role: sum(max(0.0, cpu - self.last.get(role, {}).get(pid, 0.0)) for pid, cpu in pids.items())
                for role, pids in now.items()}
        self.last = now
        return used


# --- the deployment ------------------------------------------------------------------------------


def deployment_env(fake_url: str, args: argparse.Namespace, role: str) -> dict[str, str]:
    overrides: dict[str, object] = {
        "WHATSAPP_MAX_MPS": args.max_mps, "WHATSAPP_SEND_CONCURRENCY": 128, "WHATSAPP_POOL_SIZE": 128,
        "MESSAGING_SEND_CHUNK_SIZE": 500, "API_THROTTLE_RATE": "10000000/min", "WEBHOOK_DEFER": "on",
    }
    if args.dispatchers:
        overrides["MESSAGING_DISPATCHERS"] = args.dispatchers
    if args.db_conn == "pool":
        overrides.update(CONN_MAX_AGE=0, DATABASE_POOL_MAX_SIZE=args.pool_size)
    elif args.db_conn == "close":
        overrides["CONN_MAX_AGE"] = 60 if role == "web" else 0
    else:  # persistent everywhere: each greenlet keeps its own connection
        overrides["CONN_MAX_AGE"] = 600
    env = bench_env(BENCH_DB, fake_url, **overrides)
    return {**os.environ, **env}


class Web:
    def __init__(self, env: dict[str, str], args: argparse.Namespace) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(f"/tmp/pk-bench-api-web-{os.getpid()}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "pandorakart_wa.wsgi", "--workers", str(args.web_workers),
             "--threads", str(args.web_threads), "-b", f"127.0.0.1:{self.port}", "--log-level", "warning",
             "--keep-alive", "30"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self) -> None:
        import requests

        wait_for(lambda: _ok(requests, f"{self.url}/health"), 60, 0.2, what="gunicorn up")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def _ok(requests: Any, url: str) -> bool:
    try:
        return bool(requests.get(url, timeout=2).status_code == 200)
    except requests.RequestException:
        return False


def start_beat(env: dict[str, str]) -> subprocess.Popen[bytes]:
    schedule = tempfile.mktemp(prefix="pk-bench-api-beat-")  # noqa: S306 - beat creates it
    log = open(f"/tmp/pk-bench-api-beat-{os.getpid()}.log", "ab")  # noqa: SIM115
    return subprocess.Popen([PY, "-m", "celery", "-A", "pandorakart_wa", "beat", "-s", schedule, "--loglevel", "WARNING"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


# --- phases ------------------------------------------------------------------------------------------


def message_body(n: int) -> dict[str, Any]:
    return {"to": phone_for(n), "template": TEMPLATE, "language": "en", "variables": VARIABLES}


def meta_body(n: int) -> dict[str, Any]:
    """What the cloud backend posts for one template message."""
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": f"+9192{n:08d}", "type": "template",
            "template": {"name": TEMPLATE, "language": {"policy": "deterministic", "code": "en"},
                         "components": [{"type": "body", "parameters": [{"type": "text", "text": v} for v in VARIABLES]}]},
            "biz_opaque_callback_data": f"bare-{n}"}


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("nan")


def meta_times(control: Any, ids: set[str]) -> dict[str, float]:
    """When each of our messages reached the fake (its first request), by message id."""
    times: dict[str, float] = {}
    for record in control.received(endpoint="messages"):
        body = record.get("json") or {}
        mid = body.get("biz_opaque_callback_data") if isinstance(body, dict) else None
        if mid in ids and mid not in times:
            times[mid] = record["at"]
    return times


def wait_sent(control: Any, ids: set[str], timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        times = meta_times(control, ids)
        if len(times) >= len(ids) or time.monotonic() > deadline:
            return times
        time.sleep(0.25)


def check_statuses(results: list[Any], expected: int) -> None:
    bad = [r[2] for r in results if r[2] != expected]
    if bad:
        raise RuntimeError(f"{len(bad)} requests were not answered {expected}: {bad[:5]}")


def phase_ceiling(fake_url: str, args: argparse.Namespace) -> dict[str, Any]:
    url = f"{fake_url}/v23.0/106540352242922/messages"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    run_clients([["POST", url, meta_body(n), headers] for n in range(200)], args.clients)  # warm-up
    results = run_clients([["POST", url, meta_body(1000 + n), headers] for n in range(args.messages)], args.clients)
    check_statuses(results, 200)
    span = max(r[1] for r in results) - min(r[0] for r in results)
    return {"rate": rate(len(results), span), "seconds": span}


def phase_ping(web: Web, key: str, args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Api-Key {key}"}
    run_clients([["GET", f"{web.url}/api/v1/ping", None, headers]] * 200, args.clients)
    if METER:
        METER[0].take()  # the warm-up is not counted
    results = run_clients([["GET", f"{web.url}/api/v1/ping", None, headers]] * args.messages, args.clients)
    check_statuses(results, 200)
    span = max(r[1] for r in results) - min(r[0] for r in results)
    latencies = sorted(r[1] - r[0] for r in results)
    return {"rate": rate(len(results), span), "p50_ms": 1000 * latencies[len(latencies) // 2]}


def phase_single(web: Web, key: str, control: Any, args: argparse.Namespace, first: int) -> dict[str, Any]:
    headers = {"Authorization": f"Api-Key {key}"}
    jobs = [["POST", f"{web.url}/api/v1/messages", message_body(first + n), headers] for n in range(args.messages)]
    results = run_clients(jobs, args.clients)
    check_statuses(results, 202)
    ids = {r[3] for r in results}
    began, answered = min(r[0] for r in results), max(r[1] for r in results)
    times = wait_sent(control, ids, 120)
    latencies = sorted(r[1] - r[0] for r in results)
    return {"intake": rate(len(results), answered - began), "e2e": rate(len(times), max(times.values()) - began),
            "at_meta": len(times), "count": len(ids), "post_p50_ms": 1000 * latencies[len(latencies) // 2],
            "post_p95_ms": 1000 * latencies[int(len(latencies) * 0.95)], "seconds": max(times.values()) - began}


def phase_alone(web: Web, key: str, args: argparse.Namespace, first: int) -> dict[str, Any]:
    """POSTs while no worker runs (their wakes wait in the broker): the intake's own rate."""
    headers = {"Authorization": f"Api-Key {key}"}
    jobs = [["POST", f"{web.url}/api/v1/messages", message_body(first + n), headers] for n in range(args.messages)]
    results = run_clients(jobs, args.clients)
    check_statuses(results, 202)
    span = max(r[1] for r in results) - min(r[0] for r in results)
    latencies = sorted(r[1] - r[0] for r in results)
    return {"intake": rate(len(results), span), "ids": {r[3] for r in results},
            "post_p50_ms": 1000 * latencies[len(latencies) // 2]}


PARKED = "bench-parked"  # the workers' queue until unpark(): nothing is sent there


def unpark(workers: int) -> None:
    """The workers start consuming the default queue (where the dispatcher's wakes wait)."""
    from pandorakart_wa.celery import app

    replies = app.control.add_consumer("celery", reply=True, timeout=10)
    if len(replies) < workers:
        raise RuntimeError(f"only {len(replies)} of {workers} workers took the default queue: {replies}")


def phase_drain(control: Any, ids: set[str]) -> dict[str, Any]:
    """The workers (started just now) send what the alone phase queued: first -> last at Meta."""
    times = wait_sent(control, ids, 120)
    span = max(times.values()) - min(times.values()) if times else 0.0
    return {"rate": rate(len(times), span), "at_meta": len(times), "count": len(ids)}


def phase_batch(web: Web, key: str, control: Any, args: argparse.Namespace, first: int) -> dict[str, Any]:
    headers = {"Authorization": f"Api-Key {key}"}
    jobs = []
    for start in range(0, args.batch_messages, args.batch_size):
        items = [message_body(first + n) for n in range(start, min(start + args.batch_size, args.batch_messages))]
        jobs.append(["POST", f"{web.url}/api/v1/messages/batch", {"messages": items}, headers])
    results = run_clients(jobs, args.batch_clients)
    bad = [r[2] for r in results if r[2] != [200, [202]]]
    if bad:
        raise RuntimeError(f"batch requests not all accepted: {bad[:3]}")
    ids = {mid for r in results for mid in r[3]}
    began, answered = min(r[0] for r in results), max(r[1] for r in results)
    times = wait_sent(control, ids, 300)
    latencies = sorted(r[1] - r[0] for r in results)
    return {"intake": rate(len(ids), answered - began), "e2e": rate(len(times), max(times.values()) - began),
            "at_meta": len(times), "count": len(ids), "request_p50_ms": 1000 * latencies[len(latencies) // 2]}


def phase_latency(web: Web, key: str, control: Any, args: argparse.Namespace, first: int) -> dict[str, Any]:
    headers = {"Authorization": f"Api-Key {key}"}
    count = int(args.rate * args.rate_seconds)
    jobs = [["POST", f"{web.url}/api/v1/messages", message_body(first + n), headers] for n in range(count)]
    results = run_clients(jobs, 8, rate=args.rate)
    check_statuses(results, 202)
    started = {r[3]: r[0] for r in results}
    times = wait_sent(control, set(started), 60)
    latencies = sorted(1000 * (times[mid] - started[mid]) for mid in times)
    post = sorted(1000 * (r[1] - r[0]) for r in results)
    return {"count": count, "at_meta": len(times), "p50_ms": statistics.median(latencies),
            "p95_ms": latencies[int(len(latencies) * 0.95)], "post_p50_ms": statistics.median(post)}


# --- main --------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000, help="single-message phase (and ceiling, ping)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--batch-messages", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batch-clients", type=int, default=4)
    parser.add_argument("--rate", type=float, default=20.0, help="latency phase: messages per second offered")
    parser.add_argument("--rate-seconds", type=float, default=15.0)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--max-mps", type=int, default=100_000)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--worker-processes", type=int, default=2)
    parser.add_argument("--dispatchers", type=int, default=0, help="MESSAGING_DISPATCHERS (0: the default)")
    parser.add_argument("--db-conn", choices=("close", "pool", "persistent"), default="pool",
                        help="pool (the README's production setting): Django's psycopg pool in every process; "
                             "close: CONN_MAX_AGE=0 in the workers (60 in web); persistent: CONN_MAX_AGE=600 "
                             "everywhere")
    parser.add_argument("--pool-size", type=int, default=8, help="DATABASE_POOL_MAX_SIZE with --db-conn pool "
                        "(at least each process's concurrency: celery -c 8, gunicorn's threads)")
    parser.add_argument("--phases", default="ceiling,ping,alone,single,batch,latency")
    parser.add_argument("--no-validate", action="store_true", help="the fake skips its OpenAPI body checks")
    parser.add_argument("--client-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client_child:
        with open(args.client_child) as f:
            client_child(json.load(f))
        return
    phases = args.phases.split(",")

    fake, fake_url = start_fake_meta(args.latency_ms, validate=not args.no_validate, token=TOKEN)
    from tests.fakemeta.server import ControlClient

    control = ControlClient(fake_url)
    control.wait_ready()
    web_env = deployment_env(fake_url, args, "web")
    worker_env = deployment_env(fake_url, args, "worker")
    results: dict[str, Any] = {}
    peaks: dict[str, int] = {}
    cpu: dict[str, tuple[dict[str, float], float, int]] = {}
    processes: list[Any] = []
    sampler = None
    try:
        setup_django(bench_env(BENCH_DB, fake_url), BENCH_DB)
        flush_redis()
        from benchmarks.common_send import load_audience, no_quiet_hours, sendable_template
        from pandorakart_wa.core.api.keys import api_key_create

        total = 2 * args.messages + args.batch_messages + int(args.rate * args.rate_seconds) + 10
        load_audience(total, purposes=("order_updates",))
        sendable_template(TEMPLATE, "UTILITY")
        no_quiet_hours()
        _, key = api_key_create(name="bench-storefront")
        from django.db import connections

        connections.close_all()
        sampler = ConnectionSampler(BENCH_DB)
        if "ceiling" in phases:
            results["ceiling"] = phase_ceiling(fake_url, args)
            control.reset()
            control.set_latency(args.latency_ms)
        web = Web(web_env, args)
        processes.append(web)
        # The workers start parked on a queue of their own: ping and the alone phase then run with
        # them idle, and they start on the default queue when told (Celery's add_consumer).
        workers = [Worker(worker_env, pool="gevent", concurrency=8, name=f"api{i}", queues=PARKED,
                          log_path=f"/tmp/pk-bench-api-worker{i}.log").start() for i in range(args.worker_processes)]
        processes.extend(workers)
        beat = start_beat(worker_env)
        web.wait()
        time.sleep(4)  # workers connect
        sampler.take()
        roles = {"web": web.process.pid, "fake": fake.pid, **{f"worker{i}": w.pid for i, w in enumerate(workers)}}
        METER.append(CpuMeter(roles, sampler))
        first = 0
        if "ping" in phases:
            results["ping"] = phase_ping(web, key, args)
            peaks["ping"] = sampler.take()
            cpu["ping"] = (METER[0].take(), CLIENT_CPU[-1], args.messages)
        alone_ids: set[str] = set()
        if "alone" in phases:
            METER[0].take()
            results["alone"] = phase_alone(web, key, args, args.messages)
            alone_ids = results["alone"].pop("ids")
            peaks["alone"] = sampler.take()
            cpu["alone"] = (METER[0].take(), CLIENT_CPU[-1], args.messages)
        unpark(len(workers))
        if alone_ids:
            results["drain"] = phase_drain(control, alone_ids)
            peaks["drain"] = sampler.take()
            cpu["drain"] = (METER[0].take(), 0.0, len(alone_ids))
        if "single" in phases:
            METER[0].take()
            results["single"] = phase_single(web, key, control, args, first)
            peaks["single"] = sampler.take()
            cpu["single"] = (METER[0].take(), CLIENT_CPU[-1], args.messages)
        first += 2 * args.messages
        if "batch" in phases:
            METER[0].take()
            results["batch"] = phase_batch(web, key, control, args, first)
            peaks["batch"] = sampler.take()
            cpu["batch"] = (METER[0].take(), CLIENT_CPU[-1], args.batch_messages)
        first += args.batch_messages
        if "latency" in phases:
            time.sleep(2)
            results["latency"] = phase_latency(web, key, control, args, first)
            peaks["latency"] = sampler.take()
        counts = control.counts()
    finally:
        if sampler is not None:
            sampler.close()
        for p in reversed(processes):
            p.stop()
        if "beat" in locals():
            beat.terminate()
            beat.wait(10)
        fake.terminate()
        fake.wait(10)
        close_and_drop(BENCH_DB)

    lines = [f"== send_api: fake Meta at {args.latency_ms:g} ms, {os.cpu_count()} cores, load before "
             f"{os.getloadavg()[0]:.1f} ==",
             f"deployment : gunicorn --workers {args.web_workers} --threads {args.web_threads}; "
             f"{args.worker_processes} x celery -P gevent -c 8 + beat; WHATSAPP_SEND_CONCURRENCY=128, "
             f"WHATSAPP_POOL_SIZE=128, MESSAGING_SEND_CHUNK_SIZE=500, WHATSAPP_MAX_MPS={args.max_mps}, "
             f"db connections: {args.db_conn}" + (f" (pool max {args.pool_size})" if args.db_conn == "pool" else "")]
    ceiling = results.get("ceiling", {}).get("rate")
    if ceiling:
        lines.append(f"ceiling    : {ceiling:8,.0f} msg/s  (bare requests to the fake, {args.clients} clients, "
                     f"{args.messages:,} sends)")
    if "ping" in results:
        r = results["ping"]
        lines.append(f"ping       : {r['rate']:8,.0f} req/s  (GET /api/v1/ping, {args.clients} clients, p50 "
                     f"{r['p50_ms']:.0f} ms; peak PG connections {peaks['ping']})")
    if "alone" in results:
        r = results["alone"]
        alone_ratio = f"{r['intake'] / results['ping']['rate']:.2f} of ping" if "ping" in results else ""
        lines.append(f"intake alone: {r['intake']:7,.0f} msg/s  (the same POSTs before the workers start; {alone_ratio}; "
                     f"POST p50 {r['post_p50_ms']:.0f} ms; peak PG connections {peaks['alone']})")
    if "drain" in results:
        r = results["drain"]
        lines.append(f"drain alone: {r['rate']:8,.0f} msg/s  (the workers send those: first -> last at Meta, "
                     f"{r['at_meta']:,}/{r['count']:,}; peak PG connections {peaks['drain']})")
    if "single" in results:
        r = results["single"]
        ratio = f"{r['e2e'] / ceiling:.2f} of the ceiling" if ceiling else ""
        intake_ratio = f"{r['intake'] / results['ping']['rate']:.2f} of ping" if "ping" in results else ""
        lines.append(f"intake     : {r['intake']:8,.0f} msg/s  (POST /api/v1/messages, {args.clients} clients, the "
                     f"workers sending meanwhile: first POST -> last 202; {intake_ratio}; POST p50 "
                     f"{r['post_p50_ms']:.0f} ms, p95 {r['post_p95_ms']:.0f} ms)")
        lines.append(f"end to end : {r['e2e']:8,.0f} msg/s  (first POST -> last request at Meta, {r['at_meta']:,}/"
                     f"{r['count']:,} in {r['seconds']:.2f} s; {ratio}; peak PG connections {peaks['single']})")
    if "batch" in results:
        r = results["batch"]
        lines.append(f"batch      : {r['e2e']:8,.0f} msg/s  end to end ({args.batch_messages:,} messages in requests of "
                     f"{args.batch_size:,}, {args.batch_clients} clients; intake {r['intake']:,.0f} msg/s, request p50 "
                     f"{r['request_p50_ms']:.0f} ms; {r['at_meta']:,}/{r['count']:,} at Meta; peak PG connections "
                     f"{peaks['batch']})")
    if "latency" in results:
        r = results["latency"]
        lines.append(f"latency    : POST -> Meta p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms at {args.rate:g}/s "
                     f"offered ({r['at_meta']}/{r['count']} at Meta; POST p50 {r['post_p50_ms']:.0f} ms; peak PG "
                     f"connections {peaks['latency']})")
    for phase, (used, client_cpu, count) in cpu.items():
        workers_cpu = sum(v for k, v in used.items() if k.startswith("worker"))
        parts = {"web": used.get("web", 0.0), "workers": workers_cpu, "postgres": used.get("postgres", 0.0),
                 "fake Meta": used.get("fake", 0.0), "clients": client_cpu}
        lines.append(f"cpu {phase:7}: " + ", ".join(f"{k} {1000 * v / count:.2f}" for k, v in parts.items())
                     + f" ms per message or request (total {1000 * sum(parts.values()) / count:.2f})")
    lines.append(f"Meta saw {counts['messages']:,} sends, duplicates {len(counts['duplicates'])}, "
                 f"schema violations {counts['violations']}")
    targets = []
    if ceiling and "single" in results:
        targets.append(f"e2e >= 0.75 x ceiling: {'yes' if results['single']['e2e'] >= 0.75 * ceiling else 'NO'}")
    if "single" in results and "ping" in results:
        targets.append(f"intake >= 0.5 x ping: {'yes' if results['single']['intake'] >= 0.5 * results['ping']['rate'] else 'NO'}")
    if "alone" in results and "ping" in results:
        alone_met = results["alone"]["intake"] >= 0.5 * results["ping"]["rate"]
        targets.append(f"intake alone >= 0.5 x ping: {'yes' if alone_met else 'NO'}")
    if "batch" in results:
        targets.append(f"batch >= 1,000/s: {'yes' if results['batch']['e2e'] >= 1000 else 'NO'}")
    if "latency" in results:
        targets.append(f"p50 <= 250 ms: {'yes' if results['latency']['p50_ms'] <= 250 else 'NO'}")
    lines.append("targets    : " + ";  ".join(targets))
    print("\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
