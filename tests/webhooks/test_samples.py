"""Every webhook body published by pywa, whatsapp-api-js and Meta's documentation
(tests/webhooks/samples, a copy of ../shared/reference/webhook-samples/cases), posted signed to
the running view: 200 (400 for the four published malformed), each item applied or recorded
with no handler error and no traceback in the logs."""

from __future__ import annotations

import json
import logging

import pytest

from consent.seed import seed_keywords
from pandorakart_wa.webhooks.models import WebhookEvent, WebhookItem
from tests.webhooks.helpers import MALFORMED, SAMPLES, post_raw, rewritten

pytestmark = pytest.mark.django_db

CASES = sorted(p.stem for p in SAMPLES.glob("*.json"))


def test_every_published_sample_is_here():
    assert len(CASES) == 113


@pytest.mark.parametrize("name", CASES)
def test_a_published_sample_addressed_to_us_is_applied_without_error(client, caplog, name):
    # given a published body, addressed to this service's number and account
    seed_keywords()
    raw = (SAMPLES / f"{name}.json").read_bytes()
    if name not in MALFORMED:
        raw = json.dumps(rewritten(json.loads(raw))).encode()
    # when Meta posts it, signed
    with caplog.at_level(logging.WARNING):
        response = post_raw(client, raw)
    # then it is answered as API.md says, and applied without a handler error
    if name in MALFORMED:
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"
        assert not WebhookEvent.objects.exists()
        return
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get()
    assert event.processed_at is not None and event.split_at is not None
    items = list(event.items.all())
    assert all(i.state in (WebhookItem.State.APPLIED, WebhookItem.State.SKIPPED) for i in items), [
        (i.kind, i.state, i.last_error) for i in items
    ]
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("name", [c for c in CASES if c not in MALFORMED])
def test_a_published_sample_for_another_number_is_stored_and_not_applied(client, name):
    # given a published body exactly as published (another business's number and account)
    raw = (SAMPLES / f"{name}.json").read_bytes()
    # when it is posted, signed
    response = post_raw(client, raw)
    # then it is stored and answered; nothing but an opt-out is applied from it
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert all(i.state in (WebhookItem.State.APPLIED, WebhookItem.State.SKIPPED) for i in event.items.all())
    assert not event.items.filter(state=WebhookItem.State.APPLIED, opt_out=False, in_scope=False).exists()
