"""Reliability of the send pipeline with real processes: PostgreSQL, Redis, `celery worker`
subprocesses, the fake Meta as its own process (posting signed status webhooks back to a live
server of this service), crashes, broker outages, Meta faults and a STOP mid-campaign; (f) and
(g) repeat the crash and the STOP for the storefront's API messages, which the same dispatcher
sends.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pk_send CELERY_BROKER_URL=redis://127.0.0.1:6379/6 \\
      .venv/bin/pytest tests/messaging/test_reliability.py -v

Redis: the broker is CELERY_BROKER_URL's database (flushed by these tests), the limiter and
in-flight marks use the next database number (flushed too); test (b) runs a private
redis-server as its broker on a spare port.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from benchmarks.common_send import (
    Worker,
    free_port,
    load_audience,
    no_quiet_hours,
    phone_for,
    sendable_template,
    start_fake_meta,
    wait_for,
)
from consent.seed import seed_keywords
from messaging import campaigns, wake
from messaging.inflight import _in_flight, in_flight
from messaging.models import Campaign, Message, MessageEvent, MessageStatus
from messaging.ratelimit import _pair_limiter, _throughput_limiter
from messaging.sending import DELIVERY_UNKNOWN, NEVER_SENT, messages_fail_stale_sending
from messaging.tasks import send_due_messages
from pandorakart_wa.whatsapp.signature import sign
from tests.fakemeta.server import ControlClient
from tests.messaging.sending_helpers import inbound_text
from tests.needs import missing

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DONE = {MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ}


def _with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))


BROKER_URL = django_settings.CELERY_BROKER_URL
REDIS_DB = int(urlsplit(BROKER_URL).path.strip("/") or 0) + 1  # limiter and in-flight marks
REDIS_URL = _with_db(BROKER_URL, REDIS_DB)


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[ControlClient, str]]:
    """The fake Meta as its own process, 20 ms per answer."""
    process, url = start_fake_meta(latency_ms=20)
    control = ControlClient(url)
    control.wait_ready()
    yield control, url
    process.terminate()
    process.wait(10)


@pytest.fixture
def stack(fake: tuple[ControlClient, str], live_server: Any, settings: Any) -> Iterator[dict[str, Any]]:
    """Fresh Redis databases, the fake Meta reset and posting status webhooks to the live
    server, this process publishing to the real broker, and a factory of worker processes."""
    control, fake_url = fake
    if not BROKER_URL.startswith("redis://"):
        missing("needs a Redis broker (CELERY_BROKER_URL)")
    for db_url in (BROKER_URL, REDIS_URL):
        redis.Redis.from_url(db_url).flushdb()
    control.reset()
    control.set_latency(20)
    control.configure_webhooks(f"{live_server.url}/webhooks/whatsapp", settings.WHATSAPP_APP_SECRET,
                               statuses=["sent", "delivered"], batch_size=100, delay_ms=100, concurrency=4)
    settings.REDIS_URL = REDIS_URL
    settings.MESSAGING_DISPATCHERS = 2  # as the workers below
    settings.WEBHOOK_DEFER = True  # production's default: the workers apply what the webhooks carry
    for cache in (_in_flight, _pair_limiter, _throughput_limiter):
        cache.cache_clear()
    from pandorakart_wa.celery import app

    app.conf.task_always_eager = False
    no_quiet_hours()
    seed_keywords()  # STOP, START... (a transactional test's flush removed the migration's rows)
    wake._broker_down_until = 0.0
    workers: list[Worker] = []

    def worker(name: str = "w1", broker: str = BROKER_URL, **env: str) -> Worker:
        full_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker,
            "REDIS_URL": REDIS_URL,
            "CELERY_TASK_ALWAYS_EAGER": "off",
            "WHATSAPP_BACKEND": "cloud",
            "WHATSAPP_GRAPH_URL": fake_url,
            "WHATSAPP_ACCESS_TOKEN": "test-access-token",
            "WHATSAPP_MAX_MPS": "400",
            "WHATSAPP_SEND_CONCURRENCY": "64",
            "MESSAGING_SEND_CHUNK_SIZE": "100",
            "MESSAGING_DISPATCHERS": "2",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        w = Worker(full_env, pool="gevent", concurrency=8, name=name).start()
        workers.append(w)
        return w

    yield {"control": control, "worker": worker, "live_server": live_server}
    for w in workers:
        w.kill()
    app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER
    control.disable_webhooks()
    for cache in (_in_flight, _pair_limiter, _throughput_limiter):
        cache.cache_clear()


def accepted_by_recipient(control: ControlClient) -> Counter[str]:
    return Counter(control.counts()["accepted_by_recipient"])


def status_counts(**filters: Any) -> dict[str, int]:
    return dict(Counter(Message.objects.filter(**filters).values_list("status", flat=True)))


def sweep() -> None:
    """The beat's sweeper, published through the broker as beat would."""
    send_due_messages.apply_async(retry=False)


def post_signed(base_url: str, payload: dict[str, Any]) -> Any:
    import requests

    body = json.dumps(payload).encode()
    return requests.post(f"{base_url}/webhooks/whatsapp", data=body, timeout=10, headers={
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(body, django_settings.WHATSAPP_APP_SECRET),
    })


# --- (a) the worker killed mid-campaign -----------------------------------------------------------


def test_a_worker_killed_mid_campaign_sends_each_message_once_or_reconciles_it(stack: dict[str, Any]) -> None:
    control: ControlClient = stack["control"]
    # given a 5,000-recipient marketing campaign and a worker sending at 400/s
    total = 5000
    load_audience(total)
    template = sendable_template()
    campaign = campaigns.campaign_create(name="Kill test", template=template, audience=Campaign.Audience.OPTED_IN,
                                         variables=["there", "40%"])
    first = stack["worker"]("w1")
    campaigns.campaign_start(campaign=campaign)
    # when the worker is SIGKILLed in the middle of it
    wait_for(lambda: sum(accepted_by_recipient(control).values()) >= 1500, 90, what="1,500 sends")
    first.kill()
    killed_at = time.time()
    at_kill = sum(accepted_by_recipient(control).values())
    stuck = set(Message.objects.filter(campaign=campaign, status=MessageStatus.SENDING).values_list("id", flat=True))
    # and started again after its dispatcher lanes have lapsed (as after LANE_TTL_SECONDS)
    in_flight().lanes_forget(wake.dispatchers())
    stack["worker"]("w2")
    sweep()
    wait_for(lambda: not Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).exists(), 90,
             what="nothing left queued")
    # and the status webhooks have all arrived
    control.wait_webhooks_idle(60)
    wait_for(lambda: not Message.objects.filter(campaign=campaign, status=MessageStatus.SENDING,
                                                claimed_at__gte=dt.datetime.fromtimestamp(killed_at, dt.UTC)).exists(),
             30, what="the restarted worker's chunks recorded")
    # and the reconciler runs over what the dead worker left in `sending`
    left_sending = Message.objects.filter(campaign=campaign, status=MessageStatus.SENDING).count()
    unknown = messages_fail_stale_sending(older_than=dt.timedelta(seconds=time.time() - killed_at))
    wait_for(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED, 60,
             what="the campaign completed")
    control.wait_webhooks_idle(30)

    # then Meta received no number twice
    accepted = accepted_by_recipient(control)
    assert [r for r, n in accepted.items() if n > 1] == []
    # and every message is sent (by the worker or reconciled from its webhooks) ...
    rows = list(Message.objects.filter(campaign=campaign).values_list("id", "status", "reason", "contact__phone_digest"))
    assert len(rows) == total
    phones = {m.id: m.contact.phone for m in Message.objects.filter(campaign=campaign).select_related("contact")}
    done = [mid for mid, status, _, _ in rows if status in DONE]
    failed = [(mid, reason) for mid, status, reason, _ in rows if status == MessageStatus.FAILED]
    # ... or failed "delivery unknown" only when Meta never accepted it
    assert all(reason == DELIVERY_UNKNOWN for _, reason in failed)
    assert [mid for mid, _ in failed if phones[mid].lstrip("+") in accepted] == []
    assert len(done) + len(failed) == total
    assert all(phones[mid].lstrip("+") in accepted for mid in done)
    # (what became of the rows the dead worker had claimed)
    requeued = set(MessageEvent.objects.filter(message__campaign=campaign, detail__requeued=NEVER_SENT)
                   .values_list("message_id", flat=True))
    reconciled = set(MessageEvent.objects.filter(message_id__in=stuck, detail__reconciled=True)
                     .values_list("message_id", flat=True)) - requeued
    print(f"\n(a) {total} messages; SIGKILL after Meta accepted {at_kill}, with {len(stuck)} claimed in `sending`; "
          f"after the restart {left_sending} were still `sending`. Of the {len(stuck)}: {len(reconciled)} reconciled "
          f"from Meta's webhooks, {len(requeued)} had never left and were queued again and sent, {unknown} failed "
          f"delivery_unknown (their request left but Meta never accepted it). Final {status_counts(campaign=campaign)}; "
          f"Meta accepted {len(accepted)} numbers, none twice")
    assert requeued <= stuck and unknown == len(failed)


# --- (b) the broker down while the API accepts messages -------------------------------------------


class PrivateRedis:
    """A redis-server of this test's own, on a spare port: the broker that is stopped."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server is not installed")
        self.process = subprocess.Popen([binary, "--port", str(self.port), "--save", "", "--appendonly", "no",
                                         "--daemonize", "no", "--bind", "127.0.0.1"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self._ping(), 10, 0.05, what="redis-server up")

    def _ping(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def use_broker(url: str) -> None:
    """Point this process's Celery app at another broker."""
    from pandorakart_wa.celery import app

    app.conf.update(broker_write_url=url, broker_read_url=url)  # (broker_url is read through these)
    app._pool = None
    app.amqp._producer_pool = None


def test_b_messages_accepted_while_the_broker_is_down_are_all_sent_once_it_is_back(
    stack: dict[str, Any], api_client: Any
) -> None:
    control: ControlClient = stack["control"]
    broker = PrivateRedis()
    broker.start()
    use_broker(broker.url)
    try:
        # given 20 customers who consented to order updates, and the broker down
        ids = load_audience(20, start=1000, purposes=("order_updates",))
        sendable_template("order_shipped", "UTILITY")
        broker.stop()
        # when the storefront sends each of them a message
        accepted = []
        slowest = 0.0
        for i in range(len(ids)):
            started = time.monotonic()
            response = api_client.post("/api/v1/messages", {"to": phone_for(1000 + i), "template": "order_shipped",
                                                            "language": "en", "variables": ["Ravi", "40%"]},
                                       format="json")
            slowest = max(slowest, time.monotonic() - started)
            # then each is accepted (202) and queued, and enqueueing failed fast
            assert response.status_code == 202, response.content
            accepted.append(response.json()["id"])
        assert slowest < 2.0, slowest
        assert status_counts() == {MessageStatus.QUEUED: 20}
        # when the broker is back and a worker runs, with the beat's sweeper
        broker.start()
        stack["worker"]("w1", broker=broker.url)
        deadline = time.monotonic() + 90

        errors: list[str] = []

        def all_sent() -> bool:
            if time.monotonic() < deadline:
                try:
                    sweep()
                except Exception as exc:  # the first publish may meet a stale connection
                    errors.append(repr(exc))
            return status_counts().get(MessageStatus.QUEUED, 0) + status_counts().get(MessageStatus.SENDING, 0) == 0

        wait_for(all_sent, 90, interval=3, what=f"every accepted message sent (publish errors: {errors[-3:]})")
        control.wait_webhooks_idle(30)
    finally:
        broker.stop()
        use_broker(BROKER_URL)
    # then every accepted message was sent, exactly once
    counts = accepted_by_recipient(control)
    assert sorted(counts) == sorted(phone_for(1000 + i).lstrip("+") for i in range(20))
    assert set(counts.values()) == {1}
    assert set(status_counts()) <= DONE
    print(f"\n(b) 20 accepted while the broker was down (slowest POST {slowest * 1000:.0f} ms); after it came back: "
          f"{status_counts()}, each number accepted by Meta once")


# --- (c) Meta failing for a while ---------------------------------------------------------------------


def test_c_transient_failures_are_retried_and_sent_once_permanent_ones_never_retried(
    stack: dict[str, Any], api_client: Any
) -> None:
    control: ControlClient = stack["control"]
    # given 40 customers, three of whom Meta refuses for good
    load_audience(40, start=2000, purposes=("order_updates",))
    sendable_template("order_shipped", "UTILITY")
    permanent = {phone_for(2000): 131026, phone_for(2001): 131050, phone_for(2002): 132001}
    for phone, code in permanent.items():
        control.inject("error", code=code, recipient=phone, count=None)
    # and Meta answering 500s, 429s and dropping connections for a while
    control.inject("http", status=500, probability=0.25, count=12)
    control.inject("error", code=130429, retry_after=1, probability=0.25, count=12)
    control.inject("drop", probability=0.2, count=6)  # Meta acted, the answer was lost
    stack["worker"]("w1")
    # when the storefront sends each of them a message
    for i in range(40):
        response = api_client.post("/api/v1/messages", {"to": phone_for(2000 + i), "template": "order_shipped",
                                                        "language": "en", "variables": ["Ravi", "40%"]},
                                   format="json")
        assert response.status_code == 202, response.content
    wait_for(lambda: not Message.objects.filter(status__in=(MessageStatus.QUEUED, MessageStatus.SENDING)).exists(),
             120, interval=0.5, what="every message settled")
    control.wait_webhooks_idle(30)

    # then every message Meta could take was sent exactly once
    requests = control.received(endpoint="messages")
    by_recipient = Counter(r["recipient"] for r in requests)
    accepted = accepted_by_recipient(control)
    ok = [phone_for(2000 + i).lstrip("+") for i in range(40) if phone_for(2000 + i) not in permanent]
    assert {r: accepted[r] for r in ok} == dict.fromkeys(ok, 1)
    outcomes = Counter(r["outcome"] for r in requests)
    assert outcomes["http:500"] > 0 and outcomes["error:130429"] > 0 and outcomes["dropped"] > 0
    retried = [r for r in ok if by_recipient[r] > 1]
    assert retried  # some numbers met a fault and were tried again
    # and the permanent refusals were tried once and never again
    for phone, code in permanent.items():
        assert by_recipient[phone.lstrip("+")] == 1
        message = Message.objects.get(contact__phone_digest=_digest(phone))
        assert (message.status, message.error_code) == (MessageStatus.FAILED, code)
    done = status_counts(status__in=DONE)
    assert sum(done.values()) == 37
    print(f"\n(c) 40 messages, {len(requests)} requests ({dict(outcomes)}); {len(retried)} numbers retried, "
          f"each accepted once; 3 permanent refusals tried once; final {status_counts()}")


def _digest(phone: str) -> str:
    from pandorakart_wa.core.phones import phone_digest

    return phone_digest(phone)


# --- (d) STOP while a marketing campaign runs --------------------------------------------------------


def test_d_after_the_stop_webhooks_200_meta_receives_nothing_more_for_that_customer(stack: dict[str, Any]) -> None:
    control: ControlClient = stack["control"]
    # given a 300-recipient marketing campaign sending at 30 messages/s, chunks of 100
    ids = load_audience(300, start=3000)
    template = sendable_template()
    campaign = campaigns.campaign_create(name="Stop test", template=template, audience=Campaign.Audience.OPTED_IN,
                                         variables=["there", "40%"])
    stack["worker"]("w1", WHATSAPP_MAX_MPS="30")
    campaigns.campaign_start(campaign=campaign)
    # and two customers: one whose message is claimed, waiting for its rate-limit slot, one still queued
    waiting, queued = phone_for(3000 + 150), phone_for(3000 + 290)
    wait_for(lambda: sum(accepted_by_recipient(control).values()) >= 40, 60, what="40 sends")
    claimed = Message.objects.get(campaign=campaign, contact_id=ids[150]).status
    # when each sends STOP and the webhook is answered
    answered = {}
    for n, phone in enumerate((waiting, queued)):
        response = post_signed(stack["live_server"].url, inbound_text(phone.lstrip("+"), "STOP", f"wamid.stop.{n}"))
        assert response.status_code == 200, response.text
        answered[phone] = time.time()
    wait_for(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED, 60,
             what="the campaign completed")
    control.wait_webhooks_idle(30)
    # then after each 200 Meta received no campaign message for that customer
    for phone, at in answered.items():
        later = [r for r in control.messages_to(phone) if r["at"] >= at and r["json"].get("type") == "template"]
        assert later == [], phone
        message = Message.objects.get(campaign=campaign, contact__phone_digest=_digest(phone))
        assert (message.status, message.reason) == (MessageStatus.SUPPRESSED, "opted_out")
    # and everyone else got theirs
    assert status_counts(campaign=campaign).get(MessageStatus.SUPPRESSED) == 2
    print(f"\n(d) STOP from a customer whose message was {claimed} (waiting for its slot) and one still queued: "
          f"both suppressed, nothing sent after the 200; campaign {status_counts(campaign=campaign)}; "
          f"confirmation replies: {status_counts(campaign__isnull=True)}")


# --- (e) webhook redelivery and a forged signature, through HTTP ---------------------------------------


def test_e_a_webhook_delivered_three_times_is_applied_once_and_a_wrong_signature_changes_nothing(
    stack: dict[str, Any]
) -> None:
    from tests.messaging.sending_helpers import status_item, statuses_payload

    # given a message Meta accepted
    (contact_id,) = load_audience(1, start=4000, purposes=("order_updates",))
    template = sendable_template("order_shipped", "UTILITY")
    message = Message.objects.create(contact_id=contact_id, purpose=template.purpose, template=template,
                                     status=MessageStatus.SENT, wamid="wamid.e2e.1")
    url = stack["live_server"].url
    read = statuses_payload([status_item("wamid.e2e.1", "read", callback=str(message.id))])
    # when a forged `delivered` arrives, then Meta's `read` three times
    import requests

    forged = json.dumps(statuses_payload([status_item("wamid.e2e.1", "delivered")])).encode()
    response = requests.post(f"{url}/webhooks/whatsapp", data=forged, timeout=10, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": sign(forged, "not-the-app-secret")})
    assert response.status_code == 403
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and not message.events.exists()
    answers = [post_signed(url, read) for _ in range(3)]
    # then each redelivery is answered 200, and applied once
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [r.json()["duplicate"] for r in answers] == [False, True, True]
    stack["worker"]()  # applies the stored statuses (the POST asked for a drain through the broker)
    wait_for(lambda: Message.objects.filter(pk=message.pk, status=MessageStatus.READ).exists(), 60, 0.1,
             what="the stored status applied")
    assert list(message.events.values_list("status", flat=True)) == [MessageStatus.READ]


# --- (f)-(g) the storefront's path: API messages through the dispatcher ---------------------------


def post_batches(api_client: Any, numbers: range, body: dict[str, Any], size: int = 500) -> list[str]:
    ids: list[str] = []
    for start in range(numbers.start, numbers.stop, size):
        items = [{"to": phone_for(n), **body} for n in range(start, min(start + size, numbers.stop))]
        response = api_client.post("/api/v1/messages/batch", {"messages": items}, format="json")
        assert response.status_code == 200, response.content
        results = response.json()["results"]
        assert {r["status"] for r in results} == {202}, results[:3]
        ids += [r["id"] for r in results]
    return ids


def test_f_a_worker_killed_while_sending_api_messages_sends_each_once_or_reconciles_it(
    stack: dict[str, Any], api_client: Any
) -> None:
    control: ControlClient = stack["control"]
    # given 3,000 customers who consented to order updates, and a worker sending at 400/s
    total = 3000
    load_audience(total, start=5000, purposes=("order_updates",))
    sendable_template("order_shipped", "UTILITY")
    first = stack["worker"]("w1")
    # when the storefront posts a message to each (the batch endpoint: no task per message)
    ids = post_batches(api_client, range(5000, 5000 + total), {"template": "order_shipped", "language": "en",
                                                                "variables": ["Ravi", "40%"]})
    # and the worker is SIGKILLed in the middle of sending them
    wait_for(lambda: sum(accepted_by_recipient(control).values()) >= 800, 90, what="800 sends")
    first.kill()
    killed_at = time.time()
    # a claim whose COMMIT the worker sent just before it died becomes visible once PostgreSQL has
    # flushed it, a few milliseconds later: read the claimed rows after that, not during it
    time.sleep(1.0)
    stuck = set(Message.objects.filter(status=MessageStatus.SENDING).values_list("id", flat=True))
    # and a worker runs again once the dead one's lanes have lapsed, with the beat's sweep
    in_flight().lanes_forget(wake.dispatchers())
    stack["worker"]("w2")
    sweep()
    wait_for(lambda: not Message.objects.filter(status=MessageStatus.QUEUED).exists(), 90, what="nothing queued")
    control.wait_webhooks_idle(60)
    wait_for(lambda: not Message.objects.filter(status=MessageStatus.SENDING,
                                                claimed_at__gte=dt.datetime.fromtimestamp(killed_at, dt.UTC)).exists(),
             30, what="the restarted worker's chunks recorded")
    unknown = messages_fail_stale_sending(older_than=dt.timedelta(seconds=time.time() - killed_at))
    # (those that never left are queued again, and the dispatcher is woken for them)
    wait_for(lambda: not Message.objects.filter(status__in=(MessageStatus.QUEUED, MessageStatus.SENDING)).exists(),
             60, what="the requeued messages sent")
    control.wait_webhooks_idle(30)

    # then Meta received no number twice, and every message was sent once or is delivery_unknown
    accepted = accepted_by_recipient(control)
    assert [r for r, n in accepted.items() if n > 1] == []
    rows = {str(m.id): (m.status, m.reason, m.contact.phone.lstrip("+"))
            for m in Message.objects.filter(id__in=ids).select_related("contact")}
    assert len(rows) == total
    done = [mid for mid, (status, _, _) in rows.items() if status in DONE]
    failed = [mid for mid, (status, _, _) in rows.items() if status == MessageStatus.FAILED]
    assert len(done) + len(failed) == total, Counter((s, r) for s, r, _ in rows.values())
    assert all(rows[mid][1] == DELIVERY_UNKNOWN and rows[mid][2] not in accepted for mid in failed)
    assert all(rows[mid][2] in accepted for mid in done)
    requeued = set(MessageEvent.objects.filter(detail__requeued=NEVER_SENT).values_list("message_id", flat=True))
    assert requeued <= stuck and unknown == len(failed)
    print(f"\n(f) {total} API messages; SIGKILL with {len(stuck)} claimed in `sending`: {len(requeued)} had never "
          f"left and were queued again and sent, {unknown} failed delivery_unknown; final {status_counts()}; "
          f"Meta accepted {len(accepted)} numbers, none twice")


def test_g_after_the_stop_webhooks_200_no_api_message_reaches_meta_for_that_customer(
    stack: dict[str, Any], api_client: Any
) -> None:
    control: ControlClient = stack["control"]
    # given 300 marketing messages posted one by one (POST /api/v1/messages), leaving at 30/s
    load_audience(300, start=8000)
    sendable_template()
    ids = []
    for n in range(8000, 8300):
        response = api_client.post("/api/v1/messages", {"to": phone_for(n), "template": "festive_offer",
                                                        "language": "en", "variables": ["there", "40%"]}, format="json")
        assert response.status_code == 202, response.content
        ids.append(response.json()["id"])
    stack["worker"]("w1", WHATSAPP_MAX_MPS="30")  # after the POSTs: they take seconds on a loaded machine
    wait_for(lambda: sum(accepted_by_recipient(control).values()) >= 40, 60, what="40 sends")
    # the customers are picked from what has not reached Meta yet (posting 300 takes seconds on a
    # loaded machine, while the first ones already leave): one just behind the sending front,
    # whose message may be claimed already, and the last one, still queued
    sent = {to.lstrip("+") for to in accepted_by_recipient(control)}
    unsent = [phone_for(n) for n in range(8000, 8300) if phone_for(n).lstrip("+") not in sent]
    assert len(unsent) > 60, f"only {len(unsent)} of 300 left to send before the STOPs: too late to test"
    waiting, queued = unsent[10], unsent[-1]
    # when two customers send STOP (one whose message may be claimed already, one still queued)
    answered = {}
    for n, phone in enumerate((waiting, queued)):
        response = post_signed(stack["live_server"].url, inbound_text(phone.lstrip("+"), "STOP", f"wamid.stop.g{n}"))
        assert response.status_code == 200, response.text
        answered[phone] = time.time()
    wait_for(lambda: not Message.objects.filter(id__in=ids, status__in=(MessageStatus.QUEUED, MessageStatus.SENDING))
             .exists(), 90, what="every API message settled")
    control.wait_webhooks_idle(30)
    # then after each 200 Meta received no template message for that customer
    for phone, at in answered.items():
        later = [r for r in control.messages_to(phone) if r["at"] >= at and r["json"].get("type") == "template"]
        assert later == [], phone
        message = Message.objects.get(id__in=ids, contact__phone_digest=_digest(phone))
        assert (message.status, message.reason) == (MessageStatus.SUPPRESSED, "opted_out")
    assert status_counts(id__in=ids).get(MessageStatus.SUPPRESSED) == 2
    print(f"\n(g) STOP from two customers while 300 API messages left at 30/s: both suppressed, nothing sent after "
          f"the 200; {status_counts(id__in=ids)}")
