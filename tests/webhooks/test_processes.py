"""The inbound pipeline with real processes: gunicorn and a Celery worker on PostgreSQL and
Redis, killed with SIGKILL mid-batch; and concurrent deliveries through a live server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pk_main CELERY_BROKER_URL=redis://127.0.0.1:6379/3 \\
      .venv/bin/pytest tests/webhooks/test_processes.py -v
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
import requests
from django.conf import settings as django_settings
from django.db import connection

from benchmarks.common_send import ROOT, Worker, free_port, load_audience, phone_for, wait_for
from complaints.models import Complaint
from complaints.seed import intake_triggers_ensure
from consent.models import ConsentEvent, ConsentState
from consent.seed import seed_keywords
from messaging.models import Message, MessageKind
from pandorakart_wa.webhooks.models import WebhookItem
from pandorakart_wa.whatsapp.signature import sign
from tests.messaging.sending_helpers import customer
from tests.webhooks.helpers import messages, text

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BROKER_URL = django_settings.CELERY_BROKER_URL
STOPS = 300
TEXTS = 700


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "off",
        "WEBHOOK_DEFER": "on",
        "WHATSAPP_BACKEND": "locmem",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@contextlib.contextmanager
def gunicorn() -> Iterator[str]:
    port = free_port()
    log = open(f"/tmp/pk-webhook-gunicorn-{os.getpid()}.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "pandorakart_wa.wsgi", "--workers", "1", "--threads", "4",
         "-b", f"127.0.0.1:{port}"],
        # small groups of STOPs, so a kill lands between two commits of one body's opt-outs
        cwd=ROOT, env=process_env(WEBHOOK_OPT_OUT_GROUP="20"), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(url), 60, 0.2, "gunicorn")
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        log.close()


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=1).status_code in (200, 503)
    except requests.RequestException:
        return False


def post(url: str, body: bytes, timeout: float = 30) -> requests.Response:
    return requests.post(f"{url}/webhooks/whatsapp", data=body, timeout=timeout, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": sign(body, django_settings.WHATSAPP_APP_SECRET)})


@pytest.fixture
def broker() -> None:
    if not BROKER_URL.startswith("redis://"):
        pytest.fail("these tests need a Redis broker (CELERY_BROKER_URL)")
    redis.Redis.from_url(BROKER_URL).flushdb()
    seed_keywords()


def the_batch(stoppers: list[int]) -> bytes:
    """1,000 inbound messages: 700 first-time senders saying hello, then 300 customers' STOPs."""
    now = int(time.time())
    items = [text(f"9191{n:08d}", "hello", wamid=f"wamid.hello.{n}", at=now) for n in range(TEXTS)]
    items += [text(phone_for(n).lstrip("+"), "STOP", wamid=f"wamid.stop.{n}", at=now) for n in range(len(stoppers))]
    return json.dumps(messages(items)).encode()


def applied_stops() -> int:
    """STOPs in force (the view leaves those it applied together opted_out, to be confirmed)."""
    return WebhookItem.objects.filter(opt_out=True, state__in=["applied", "opted_out"]).count()


def test_kill_9_of_web_and_worker_mid_batch_then_redelivery_applies_every_opt_out_once(broker):
    # given 300 customers with marketing consent and Meta's batch of 1,000 messages ending in their STOPs
    ids = load_audience(STOPS)
    body = the_batch(ids)
    # when the web process is killed while it applies the batch's opt-outs (Meta gets no answer)
    with gunicorn() as url:
        sender = threading.Thread(target=_quiet_post, args=(url, body), daemon=True)
        sender.start()
        wait_for(lambda: applied_stops() > 0, 60, 0.01, "the first opt-outs")
    sender.join(10)
    first = applied_stops()
    assert 0 < first < STOPS, first
    # when Meta redelivers the same body to a fresh web process
    with gunicorn() as url:
        response = post(url, body)
    assert response.status_code == 200 and response.json()["duplicate"] is True
    # when a worker drains what is left and is killed mid-way, then another finishes
    worker = Worker(process_env(), pool="prefork", concurrency=1, name="wh1").start()
    try:
        _ask_for_a_drain()
        wait_for(lambda: WebhookItem.objects.filter(state="applied").count() > first + 50, 120, 0.02, "the worker")
    finally:
        worker.kill()
    worker = Worker(process_env(), pool="prefork", concurrency=1, name="wh2").start()
    try:
        _ask_for_a_drain()
        wait_for(lambda: not WebhookItem.objects.filter(state__in=["pending", "failed", "opted_out"]).exists(), 300, 0.2,
                 f"every item applied ({worker.log_tail()})")
    finally:
        worker.stop()
    # then every opt-out is in force, written once, confirmed once, and every sender recorded
    assert WebhookItem.objects.count() == STOPS + TEXTS
    assert not WebhookItem.objects.exclude(state="applied").exists()
    assert ConsentState.objects.filter(contact_id__in=ids, purpose="marketing", status="opted_out").count() == STOPS
    opt_outs = Counter(ConsentEvent.objects.filter(contact_id__in=ids, action="opt_out").values_list("contact_id",
                                                                                                     flat=True))
    assert set(opt_outs.values()) == {1} and len(opt_outs) == STOPS
    replies = Counter(Message.objects.filter(kind=MessageKind.CONFIRMATION).values_list("contact_id", flat=True))
    assert set(replies.values()) == {1} and len(replies) == STOPS


def _quiet_post(url: str, body: bytes) -> None:
    with contextlib.suppress(requests.RequestException):
        post(url, body)


def _ask_for_a_drain() -> None:
    """What beat's sweep does every few seconds."""
    from pandorakart_wa.celery import app

    with warnings.catch_warnings():  # eager mode is this test process's, not the worker's
        warnings.simplefilter("ignore")
        app.send_task("pandorakart_wa.tasks.apply_deferred_webhooks")


def test_twelve_concurrent_complaint_messages_open_one_complaint(live_server, settings):
    # given a customer and the intake words
    settings.WEBHOOK_DEFER = False  # each delivery applied in its own request, concurrently
    seed_keywords()
    intake_triggers_ensure()
    ravi = customer(1)
    wa_id = (ravi.phone or "").lstrip("+")
    bodies = [json.dumps(messages([text(wa_id, "COMPLAINT", wamid=f"wamid.complaint.{n}")])).encode()
              for n in range(12)]
    # when Meta delivers twelve "COMPLAINT" messages at once
    barrier = threading.Barrier(12)
    answers: list[int] = []

    def deliver(body: bytes) -> None:
        barrier.wait()
        answers.append(post(live_server.url, body).status_code)

    threads = [threading.Thread(target=deliver, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # then one complaint is opened and the other eleven messages are added to it
    assert answers == [200] * 12
    [complaint] = Complaint.objects.filter(contact=ravi)
    assert complaint.actions.filter(kind="customer_message").count() == 11
    assert WebhookItem.objects.filter(state="applied").count() == 12


def test_the_sweep_reads_an_event_a_reading_bug_left_unread(client, monkeypatch, settings):
    # given the parser fails once (a bug), so the body is stored unread
    from pandorakart_wa.webhooks import drain, intake
    from pandorakart_wa.webhooks.drain import webhooks_drain
    from pandorakart_wa.whatsapp.inbound import parse_body as real  # the parser intake calls

    seed_keywords()
    ravi = customer(1)
    monkeypatch.setattr(intake, "parse_body", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("parser bug")))
    body = json.dumps(messages([text((ravi.phone or "").lstrip("+"), "STOP", wamid="wamid.s")])).encode()
    response = client.post("/webhooks/whatsapp", data=body, content_type="application/json",
                           HTTP_X_HUB_SIGNATURE_256=sign(body, settings.WHATSAPP_APP_SECRET))
    assert response.status_code == 200
    assert not WebhookItem.objects.exists()
    # when the bug is fixed and the sweep runs
    monkeypatch.setattr(intake, "parse_body", real)
    monkeypatch.setattr(drain, "SPLIT_GRACE", timedelta(0))
    webhooks_drain(gather=False)
    # then the STOP is applied
    assert ConsentState.objects.get(contact=ravi, purpose="marketing").status == "opted_out"
