"""An update that keeps failing is retried with backoff, then dead-lettered for staff, who
replay it once the cause is fixed (admin action, or `manage.py replay_webhooks`)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from consent.models import ConsentState
from consent.seed import seed_keywords
from pandorakart_wa.webhooks import router
from pandorakart_wa.webhooks.drain import webhooks_apply_pending
from pandorakart_wa.webhooks.models import WebhookItem
from profile.models import ComplianceAlert
from tests.messaging.sending_helpers import customer
from tests.webhooks.helpers import messages, post, text

pytestmark = pytest.mark.django_db


@pytest.fixture
def broken_consent(monkeypatch):
    """consent refuses every inbound message (a bug, a database constraint...)."""
    from consent.services.inbound import consent_apply_inbound_message as real  # what router calls

    state = {"broken": True}

    def apply(**kwargs):
        if state["broken"]:
            raise RuntimeError("consent is down")
        return real(**kwargs)

    monkeypatch.setattr(router, "consent_apply_inbound_message", apply)
    return state


def _age_retries():
    """Time passes: every retry is due."""
    WebhookItem.objects.filter(state="failed").update(next_attempt_at="2000-01-01T00:00:00Z")


def test_a_failing_update_is_retried_then_dead_lettered_and_alerted(client, broken_consent):
    seed_keywords()
    ravi = customer(1)
    post(client, messages([text((ravi.phone or "").lstrip("+"), "STOP", wamid="wamid.stop")]))
    item = WebhookItem.objects.get()
    assert item.state == "failed" and item.attempts == 1 and "consent is down" in item.last_error
    assert item.next_attempt_at is not None
    for _ in range(router.MAX_ATTEMPTS - 1):
        _age_retries()
        webhooks_apply_pending()
    item.refresh_from_db()
    assert (item.state, item.attempts) == ("dead", router.MAX_ATTEMPTS)
    assert ComplianceAlert.objects.filter(kind="webhook_dead_letter").exists()
    assert ConsentState.objects.get(contact=ravi, purpose="marketing").status == "opted_in"
    # when the cause is fixed and an operator replays the dead letters
    broken_consent["broken"] = False
    out = io.StringIO()
    call_command("replay_webhooks", stdout=out)
    # then the STOP is applied, once
    item.refresh_from_db()
    assert item.state == "applied"
    from auditlog.models import LogEntry

    replay = LogEntry.objects.get_for_object(item).get()
    assert "replayed by" in json.dumps(replay.changes) and replay.actor.username == "system:management-command"
    assert ConsentState.objects.get(contact=ravi, purpose="marketing").status == "opted_out"
    assert "1 item(s) replayed: 1 applied, 0 still failing" in out.getvalue()
    call_command("replay_webhooks", stdout=io.StringIO())  # nothing left to replay
    assert WebhookItem.objects.get().state == "applied"


def test_replay_from_the_admin_needs_the_permission_and_applies_once(client, broken_consent, otp_client):
    from tests.backoffice.helpers import make_staff

    seed_keywords()
    ravi = customer(1)
    post(client, messages([text((ravi.phone or "").lstrip("+"), "STOP", wamid="wamid.stop")]))
    WebhookItem.objects.update(state="dead")
    broken_consent["broken"] = False
    item = WebhookItem.objects.get()
    action = {"action": "replay", "_selected_action": [item.pk]}
    auditor = otp_client(make_staff("auditor-1", "Auditor"))
    auditor.post("/admin/core/webhookitem/", action)
    assert WebhookItem.objects.get().state == "dead"  # an auditor changes nothing
    officer = otp_client(make_staff("officer-1", "Compliance officer"))
    officer.post("/admin/core/webhookitem/", action)
    assert WebhookItem.objects.get().state == "applied"
    assert ConsentState.objects.get(contact=ravi, purpose="marketing").status == "opted_out"


def test_the_raw_body_is_masked_and_revealed_only_with_the_permission_and_an_access_entry(client, otp_client):
    from auditlog.models import LogEntry

    from pandorakart_wa.webhooks.models import WebhookEvent
    from tests.backoffice.helpers import make_staff

    seed_keywords()
    post(client, messages([text("919876500042", "my flat is 4B", wamid="wamid.1")],
                          contacts=[{"wa_id": "919876500042", "profile": {"name": "Asha Rao"}}]))
    event = WebhookEvent.objects.get()
    auditor = otp_client(make_staff("auditor-2", "Auditor"))
    page = auditor.get(f"/admin/core/webhookevent/{event.pk}/change/").content.decode()
    assert "Asha" not in page and "919876500042" not in page and "4B" not in page
    assert "+91******0042" in page
    assert auditor.post(f"/admin/core/webhookevent/{event.pk}/reveal/").status_code == 403
    officer = otp_client(make_staff("officer-2", "Compliance officer"))
    assert officer.get(f"/admin/core/webhookevent/{event.pk}/reveal/").status_code == 403  # POST only
    revealed = officer.post(f"/admin/core/webhookevent/{event.pk}/reveal/").content.decode()
    assert "Asha Rao" in revealed and "919876500042" in revealed
    entry = LogEntry.objects.filter(action=LogEntry.Action.ACCESS).latest("timestamp")
    assert json.dumps(entry.changes or {}).find("919876500042") == -1
    assert entry.actor.username == "officer-2"
