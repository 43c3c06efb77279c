"""GET /metrics: Prometheus's format, behind a bearer token, with the figures that page someone."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
from typing import Any

import pytest
import requests
from django.db import connection
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from complaints.models import Complaint
from consent.models import LedgerVerification
from consent.services.optin import consent_opt_out
from consent.types import Actor
from messaging.models import Message, MessageEvent, MessageStatus
from pandorakart_wa.webhooks.models import WebhookEvent, WebhookItem
from profile.models import ProfileDrift
from tests.complaints.factories import new_complaint
from tests.consent.factories import ContactFactory
from tests.core.helpers import ROOT
from tests.messaging.factories import make_usable_template

TOKEN = "metrics-token-0123456789abcdefghij"


def scrape(client: Any, token: str | None = TOKEN) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return client.get("/metrics", **headers)


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body) for s in family.samples
    }


@pytest.fixture
def metrics_on(settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN


@pytest.mark.django_db
def test_without_a_token_configured_there_is_no_metrics_page(client, settings):
    settings.METRICS_TOKEN = ""
    assert scrape(client).status_code == 404


@pytest.mark.django_db
def test_a_scrape_without_the_token_or_with_another_is_refused(client, metrics_on):
    for token in (None, "wrong-token", TOKEN[:-1]):
        response = scrape(client, token)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"pandorakart_" not in response.content
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401


def _message(contact: Any, template: Any, status: str, *, created: dt.datetime, **fields: Any) -> Message:
    message = Message.objects.create(contact=contact, purpose="order_updates", template=template, language="en",
                                     variables=["Ravi", "PK-1", "27 Nov"], status=status, **fields)
    Message.objects.filter(pk=message.pk).update(created_at=created)
    return message


@pytest.mark.django_db
def test_the_figures_that_page_someone(client, metrics_on):
    # given a service with work waiting and things gone wrong
    now = timezone.now()
    template = make_usable_template()
    contact = ContactFactory()
    _message(contact, template, MessageStatus.QUEUED, created=now - dt.timedelta(seconds=120))
    _message(contact, template, MessageStatus.QUEUED, created=now, not_before=now + dt.timedelta(hours=8))
    _message(contact, template, MessageStatus.SENDING, created=now, claimed_at=now - dt.timedelta(seconds=40))
    failed = _message(contact, template, MessageStatus.FAILED, created=now, error_code=131026)
    sent = _message(contact, template, MessageStatus.SENT, created=now)
    MessageEvent.objects.create(message=failed, status=MessageStatus.FAILED, at=now, source=MessageEvent.Source.WORKER)
    MessageEvent.objects.create(message=sent, status=MessageStatus.SENT, at=now, source=MessageEvent.Source.WORKER)
    MessageEvent.objects.create(message=sent, status=MessageStatus.SENT, at=now - dt.timedelta(hours=1),
                                source=MessageEvent.Source.WORKER)  # outside the 5-minute window
    event = WebhookEvent.objects.create(body_digest="d1", received_at=now - dt.timedelta(seconds=30))
    for i, (state, age) in enumerate([("pending", 30), ("failed", 90), ("dead", 600), ("applied", 900)]):
        WebhookItem.objects.create(event=event, position=i, kind="status", field="messages", key_digest=f"k{i}",
                                   state=state, occurred_at=now, received_at=now - dt.timedelta(seconds=age),
                                   payload="{}")
    consent_opt_out(phone="+919812300001", purposes=None, source="whatsapp", actor=Actor.system("test"),
                    occurred_at=now - dt.timedelta(seconds=3))
    overdue = new_complaint()
    Complaint.objects.filter(pk=overdue.pk).update(first_response_due_at=now - dt.timedelta(minutes=1))
    ProfileDrift.objects.create(field="about", ours="A", theirs="B", last_pushed="A")
    LedgerVerification.objects.create(started_at=now - dt.timedelta(hours=2), finished_at=now - dt.timedelta(hours=2),
                                      ok=True, events_checked=4)
    # when Prometheus scrapes
    response = scrape(client)
    # then
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    got = samples(response.content.decode())

    def value(name: str, **labels: str) -> float:
        return got[(name, tuple(sorted(labels.items())))]

    assert value("pandorakart_outbox_depth", due="now") == 1
    assert value("pandorakart_outbox_depth", due="deferred") == 1
    assert 119 <= value("pandorakart_outbox_oldest_due_age_seconds") < 180
    assert value("pandorakart_messages_sending") == 1
    assert 39 <= value("pandorakart_messages_sending_oldest_age_seconds") < 100
    assert value("pandorakart_messages_sent_5m") == 1
    assert value("pandorakart_messages_failed_5m", error_code="131026") == 1
    assert value("pandorakart_webhook_items", state="pending") == 1
    assert value("pandorakart_webhook_items", state="failed") == 1
    assert value("pandorakart_webhook_items", state="dead") == 1
    assert 89 <= value("pandorakart_webhook_intake_lag_seconds") < 150
    assert value("pandorakart_webhook_events_unread") == 1
    assert value("pandorakart_opt_outs_1h") == 4  # one per purpose
    assert 2.9 <= value("pandorakart_opt_out_honour_seconds", quantile="0.95") < 60
    assert value("pandorakart_ledger_verification_ok") == 1
    assert 7199 <= value("pandorakart_ledger_verification_age_seconds") < 7300
    assert value("pandorakart_profile_drift_open") == 1
    assert value("pandorakart_complaints_open") == 1
    assert value("pandorakart_complaints_overdue", clock="first_response") == 1
    assert value("pandorakart_complaints_overdue", clock="outer_limit") == 0
    assert value("pandorakart_sending_stopped") == 0
    assert any(name.startswith("django_http_requests") for name, _ in got)  # django-prometheus's own


@pytest.mark.django_db
def test_the_ledger_checkpoint_age_is_the_latest_signed_checkpoints(client, metrics_on, django_capture_on_commit_callbacks):
    # given no checkpoint yet: no figure
    from consent.log import ledger_sequence
    from consent.models import LedgerCheckpoint
    from tests.messaging.sending_helpers import customer

    assert scrape(client).content.count(b"pandorakart_ledger_checkpoint_age_seconds") == 0
    # given a consent, sequenced and signed 25 s ago
    customer(1)
    with django_capture_on_commit_callbacks(execute=True):
        ledger_sequence(force_checkpoint=True)
    LedgerCheckpoint.objects.update(signed_at=timezone.now() - dt.timedelta(seconds=25))
    # when scraped, then its age is exported
    got = samples(scrape(client).content.decode())
    assert 24 <= got[("pandorakart_ledger_checkpoint_age_seconds", ())] < 60


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_gunicorn_serves_metrics_of_all_its_workers_to_the_token_only(tmp_path):
    # given gunicorn with two workers (gunicorn.conf.py: multiprocess metrics) and a queued message
    from benchmarks.common_send import free_port, wait_for

    template = make_usable_template()
    _message(ContactFactory(), template, MessageStatus.QUEUED, created=timezone.now())
    db = connection.settings_dict
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "tests.settings", "METRICS_TOKEN": TOKEN,
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}", "ENV_FILE": "/dev/null",
           "LOG_LEVEL": "WARNING"}
    with (tmp_path / "gunicorn.log").open("wb") as log:
        process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "pandorakart_wa.wsgi", "--workers", "2", "--bind",
             f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{url}/health"), 60, 0.2, "gunicorn")
        for _ in range(20):  # spread over both workers
            requests.get(f"{url}/api/v1/ping", timeout=5)
        # when scraped without the token, then with it
        refused = requests.get(f"{url}/metrics", timeout=10)
        scraped = [requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
                   for _ in range(4)]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    # then
    assert refused.status_code == 401 and "pandorakart_" not in refused.text
    assert all(r.status_code == 200 for r in scraped)
    for response in scraped:  # whichever worker answered, every worker's requests are counted
        got = samples(response.text)
        pings = sum(v for (name, labels), v in got.items()
                    if name == "django_http_requests_total_by_view_transport_method_total"
                    and dict(labels).get("view") == "api-ping")
        assert pings == 20, (tmp_path / "gunicorn.log").read_text()[-2000:]
        assert got[("pandorakart_outbox_depth", (("due", "now"),))] == 1


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code in (200, 503)
    except requests.RequestException:
        return False
