"""Meta's advance notice of a template recategorisation (`template_category_update` with
`correct_category` and `category_update_timestamp`), through the real webhook path with Meta's
published sample bodies: an alert at the notice, the scheduled change on the template's admin page,
a hold or a corrected revision before it bites, and the change applied when it does."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from django.utils import timezone

from messaging.models import MessageTemplate, TemplateStatusEvent
from messaging.selectors import template_usable
from messaging.services.common import TemplateFields
from messaging.services.drafting import template_approve, template_revise, template_submit_for_review
from messaging.services.submission import template_submit_to_meta
from messaging.tasks import template_apply_scheduled_categories_task
from pandorakart_wa.core.audit import system_user
from pandorakart_wa.core.roles import COMPLIANCE_OFFICER, MARKETING
from profile.models import ComplianceAlert
from tests.messaging.factories import UserFactory, make_usable_template
from tests.webhooks.helpers import SAMPLES, post_raw

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/messaging/messagetemplate/"
NOTICE = "metadocs__template_category_update_0.json"  # correct_category + category_update_timestamp
CHANGE = "metadocs__template_category_update_1.json"  # previous_category + new_category, at that time
META_ID = "278077987957091"  # the samples' template


def sample(name: str, *, at: int | None = None) -> bytes:
    """Meta's published body; `at` moves its category_update_timestamp (the sample's is in 2025)."""
    body = json.loads((SAMPLES / name).read_text())
    if at is not None:
        body["entry"][0]["changes"][0]["value"]["category_update_timestamp"] = at
    return json.dumps(body).encode()


@pytest.fixture
def welcome() -> MessageTemplate:
    """The samples' template, ours: UTILITY, approved by Meta and in use."""
    template = make_usable_template(name="welcome_template", language="en_US")
    MessageTemplate.objects.filter(pk=template.pk).update(meta_template_id=META_ID)
    template.refresh_from_db()
    return template


def test_a_notice_schedules_the_change_and_alerts_without_holding(client, welcome):
    # when Meta announces (its published notice) a recategorisation three days from now
    in_three_days = int(time.time()) + 3 * 86400
    assert post_raw(client, sample(NOTICE, at=in_three_days)).status_code == 200
    # then the template stays usable, with the change scheduled on it
    welcome.refresh_from_db()
    assert template_usable(welcome) == (True, None) and welcome.category == "UTILITY"
    assert welcome.scheduled_category == "MARKETING"
    assert welcome.scheduled_category_at == dt.datetime.fromtimestamp(in_three_days, tz=dt.UTC)
    assert "Meta will recategorise it from UTILITY to MARKETING" in welcome.attention_reason
    # and a compliance alert names it, linked to the template
    alert = ComplianceAlert.objects.get(kind="template_recategorisation", acknowledged_at__isnull=True)
    assert "welcome_template" in alert.title and "MARKETING" in alert.title
    assert alert.object_id == str(welcome.pk)
    # and the template's history records the notice
    event = TemplateStatusEvent.objects.filter(template=welcome, kind="category").get()
    assert (event.old_value, event.new_value, event.source) == ("UTILITY", "MARKETING (scheduled)", "meta_webhook")
    # and a redelivery of the notice raises no second alert
    post_raw(client, sample(NOTICE, at=in_three_days))
    assert ComplianceAlert.objects.filter(kind="template_recategorisation").count() == 1


def test_staff_see_the_scheduled_change_and_what_the_template_lacks(client, otp_client, welcome):
    post_raw(client, sample(NOTICE, at=int(time.time()) + 2 * 86400 + 3600))
    officer = otp_client(UserFactory(roles=[COMPLIANCE_OFFICER]))
    # the list says what Meta will change it to
    listing = officer.get(CHANGELIST).content.decode()
    assert "MARKETING on " in listing
    # the template's page shows the scheduled change, the time left, and the lint under MARKETING
    page = officer.get(f"{CHANGELIST}{welcome.pk}/change/").content.decode()
    assert 'id="scheduled-change"' in page and "UTILITY → MARKETING" in page and "(in 2 days 0 h)" in page
    assert "Under MARKETING the revision in use (1) would be refused" in page
    # and the dashboard's template board shows it beside the category
    board = officer.get("/admin/compliance/").content.decode()
    assert "→ MARKETING on " in board


def test_a_compliance_officer_holds_it_before_the_change(client, otp_client, welcome):
    post_raw(client, sample(NOTICE, at=int(time.time()) + 86400))
    # a marketer cannot (the action is a compliance officer's)
    marketer = otp_client(UserFactory(roles=[MARKETING]))
    marketer.post(CHANGELIST, {"action": "hold_for_recategorisation", "_selected_action": [welcome.pk],
                               "confirm": "yes", "reason": "not mine"})
    welcome.refresh_from_db()
    assert template_usable(welcome) == (True, None)
    # when an officer holds it, with a reason
    officer = otp_client(UserFactory(roles=[COMPLIANCE_OFFICER]))
    asked = officer.post(CHANGELIST, {"action": "hold_for_recategorisation", "_selected_action": [welcome.pk]})
    assert "Why are these templates held" in asked.content.decode()
    officer.post(CHANGELIST, {"action": "hold_for_recategorisation", "_selected_action": [welcome.pk],
                              "confirm": "yes", "reason": "Reads as a promotion; rewriting it"})
    # then it is unusable now, still scheduled
    welcome.refresh_from_db()
    assert template_usable(welcome) == (False, "template_paused")
    assert welcome.hold_reason == "recategorised" and welcome.scheduled_category == "MARKETING"
    assert "Reads as a promotion" in welcome.attention_reason


def test_beat_applies_the_change_when_it_is_due_and_meta_confirms_it_once(client, welcome):
    # given a notice whose time has now come (Meta's own change webhook not received)
    post_raw(client, sample(NOTICE, at=int(time.time()) + 3600))
    MessageTemplate.objects.filter(pk=welcome.pk).update(scheduled_category_at=timezone.now() - dt.timedelta(minutes=1))
    # when beat's task runs
    assert template_apply_scheduled_categories_task.delay().get() == 1
    # then the template is MARKETING, needs marketing consent, is held for review, and no longer scheduled
    welcome.refresh_from_db()
    assert (welcome.category, welcome.purpose, welcome.hold_reason) == ("MARKETING", "marketing", "recategorised")
    assert welcome.scheduled_category == "" and welcome.scheduled_category_at is None
    # and Meta's change webhook (its published sample) arriving after changes nothing more
    assert post_raw(client, sample(CHANGE)).status_code == 200
    assert TemplateStatusEvent.objects.filter(template=welcome, kind="hold").count() == 1
    assert TemplateStatusEvent.objects.filter(template=welcome, kind="category", new_value="MARKETING").count() == 1


def test_meta_s_change_webhook_first_clears_the_schedule(client, welcome):
    post_raw(client, sample(NOTICE, at=int(time.time()) + 3600))
    # when Meta's change arrives (its published sample) before beat ran
    post_raw(client, sample(CHANGE))
    welcome.refresh_from_db()
    assert (welcome.category, welcome.hold_reason, welcome.scheduled_category) == ("MARKETING", "recategorised", "")
    # then beat has nothing left to apply
    assert template_apply_scheduled_categories_task.delay().get() == 0


def test_a_notice_received_after_its_time_is_applied_at_once(client, welcome):
    # Meta's published notice as published: its category_update_timestamp (2 May 2025) has passed
    post_raw(client, sample(NOTICE))
    welcome.refresh_from_db()
    assert (welcome.category, welcome.hold_reason, welcome.scheduled_category) == ("MARKETING", "recategorised", "")


def test_a_revision_corrected_after_the_notice_is_left_to_meta(client, welcome, outbox):
    # given the notice, then a corrected revision written, reviewed and submitted to Meta before the time
    post_raw(client, sample(NOTICE, at=int(time.time()) + 3600))
    marketer, officer = UserFactory(roles=[MARKETING]), UserFactory(roles=[COMPLIANCE_OFFICER])
    template_revise(template=welcome, author=marketer, fields=TemplateFields(
        body="Hi {{1}}, your order {{2}} has shipped and reaches you by {{3}}.", body_examples=["Ravi", "PK-1", "2 Dec"]))
    template_submit_for_review(template=welcome, actor=marketer)
    template_approve(template=welcome, actor=officer)
    revision = template_submit_to_meta(template=welcome, actor=system_user("test"))
    MessageTemplate.objects.filter(pk=welcome.pk).update(scheduled_category_at=timezone.now() - dt.timedelta(minutes=1))
    # when beat runs at the announced time
    assert template_apply_scheduled_categories_task.delay().get() == 0
    # then the category is Meta's to decide: unchanged here, the schedule cleared, and the history says why
    welcome.refresh_from_db()
    assert welcome.category == "UTILITY" and welcome.scheduled_category == ""
    note = TemplateStatusEvent.objects.filter(template=welcome, kind="category", source="system").get()
    assert f"revision {revision.number} was submitted after the notice" in note.reason
