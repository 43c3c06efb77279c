"""Meta: submission through the gateway (locmem, and a stub raising the gateway's typed errors),
the status pull, and the status/quality/category webhooks through the real webhook path."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pytest
from celery.exceptions import Retry
from django.core.exceptions import PermissionDenied, ValidationError

from messaging.models import HoldReason, MessageTemplate, TemplateStatusEvent
from messaging.selectors import template_usable
from messaging.services.common import TemplateFields
from messaging.services.drafting import template_approve, template_create_draft, template_submit_for_review
from messaging.services.holds import template_release_hold
from messaging.services.meta_updates import template_sync_from_meta
from messaging.services.submission import template_submit_to_meta
from messaging.tasks import template_submit_task
from pandorakart_wa.core.audit import system_user
from pandorakart_wa.core.roles import COMPLIANCE_OFFICER, MARKETING
from pandorakart_wa.webhooks.receive import webhook_receive
from pandorakart_wa.whatsapp import reset_backend
from pandorakart_wa.whatsapp.backends import locmem
from pandorakart_wa.whatsapp.backends.locmem import LocmemBackend
from pandorakart_wa.whatsapp.base import TemplateSubmission
from pandorakart_wa.whatsapp.errors import DeliveryUnknown, PermanentError, TransientError
from tests.messaging.factories import UTILITY_BODY, UTILITY_EXAMPLES, UserFactory, make_usable_template

pytestmark = pytest.mark.django_db

WABA_ID = "102290129340398"


def approved_template(name: str = "order_shipped") -> MessageTemplate:
    """A template approved internally by a second person, not yet at Meta."""
    marketer = UserFactory(roles=[MARKETING])
    template = template_create_draft(
        name=name, language="en", category="UTILITY",
        fields=TemplateFields(body=UTILITY_BODY, body_examples=UTILITY_EXAMPLES), author=marketer,
    )
    template_submit_for_review(template=template, actor=marketer)
    template_approve(template=template, actor=UserFactory(roles=[COMPLIANCE_OFFICER]))
    template.refresh_from_db()
    return template


def webhook(field: str, value: dict[str, Any]) -> bytes:
    """A management webhook exactly as Meta envelopes it."""
    return json.dumps({
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "time": 1764230400, "changes": [{"field": field, "value": value}]}],
    }).encode()


class StubBackend(LocmemBackend):
    """The gateway raising its typed errors: `errors` are raised by the next create calls in turn."""

    errors: ClassVar[list[Exception]] = []
    creates: ClassVar[int] = 0
    answer: ClassVar[TemplateSubmission | None] = None

    def create_message_template(
        self, *, name: str, language: str, category: str, components: Sequence[Mapping[str, Any]],
        parameter_format: str = "POSITIONAL",
    ) -> TemplateSubmission:
        type(self).creates += 1
        if self.errors:
            raise self.errors.pop(0)
        if self.answer is not None:
            return self.answer
        return super().create_message_template(name=name, language=language, category=category, components=components)


@pytest.fixture
def stub_gateway(settings: Any):
    settings.WHATSAPP_BACKEND = "tests.messaging.test_templates_meta.StubBackend"
    StubBackend.errors = []
    StubBackend.creates = 0
    StubBackend.answer = None
    reset_backend()
    yield StubBackend
    reset_backend()


def test_submission_sends_meta_components_and_the_approval_webhook_makes_it_usable():
    # given an internally approved template
    template = approved_template()
    officer = UserFactory(roles=[COMPLIANCE_OFFICER])
    # when a compliance officer submits it
    revision = template_submit_to_meta(template=template, actor=officer)
    # then Meta got the components with examples, and the template waits for Meta
    [sent] = locmem.templates
    assert (sent["name"], sent["language"], sent["category"]) == ("order_shipped", "en", "UTILITY")
    assert sent["components"] == [{"type": "BODY", "text": UTILITY_BODY, "example": {"body_text": [UTILITY_EXAMPLES]}}]
    template.refresh_from_db()
    assert (revision.status, template.meta_status, template.meta_template_id) == ("submitted", "PENDING", sent["id"])
    assert template_usable(template) == (False, "template_not_approved")
    # when Meta's webhook approves it
    webhook_receive(webhook("message_template_status_update", {
        "event": "APPROVED", "message_template_id": int(sent["id"]), "message_template_name": "order_shipped",
        "message_template_language": "en", "reason": None,
    }))
    # then it is usable
    template.refresh_from_db()
    assert template_usable(template) == (True, None)


def test_marketing_cannot_submit_to_meta():
    template = approved_template()
    with pytest.raises(PermissionDenied):
        template_submit_to_meta(template=template, actor=UserFactory(roles=[MARKETING]))


def test_a_template_not_approved_internally_cannot_be_submitted():
    marketer = UserFactory(roles=[MARKETING])
    template = template_create_draft(
        name="order_shipped", language="en", category="UTILITY",
        fields=TemplateFields(body=UTILITY_BODY, body_examples=UTILITY_EXAMPLES), author=marketer,
    )
    with pytest.raises(ValidationError):
        template_submit_to_meta(template=template, actor=system_user("test"))
    assert locmem.templates == []


def test_a_permanent_gateway_error_rejects_the_revision_with_metas_reason(stub_gateway):
    # given Meta refuses the template
    stub_gateway.errors.append(PermanentError("100: Invalid parameter (Body text has too many variables)", code=100))
    template = approved_template()
    # when submitted
    revision = template_submit_to_meta(template=template, actor=system_user("test"))
    # then the revision is rejected with Meta's reason, shown to staff
    template.refresh_from_db()
    assert (revision.status, template.status, template.meta_status) == ("rejected", "rejected", "REJECTED")
    assert "too many variables" in revision.review_note
    assert "too many variables" in template.attention_reason


def test_a_transient_gateway_error_writes_nothing_and_the_task_retries_with_backoff(stub_gateway):
    # given Meta's template endpoint is rate limited three times (once asking for 600 s), then answers
    stub_gateway.errors.extend([
        TransientError("80007: rate limit", code=80007),
        TransientError("80007: rate limit", code=80007, retry_after=600),
        TransientError("80007: rate limit", code=80007),
    ])
    template = approved_template()
    # when the service is called directly / then the error propagates and nothing changed
    with pytest.raises(TransientError):
        template_submit_to_meta(template=template, actor=system_user("test"))
    template.refresh_from_db()
    assert (template.status, template.meta_status) == ("approved", "NOT_SUBMITTED")
    # when the retry task runs: the first two runs are rescheduled, with Meta's retry_after honoured
    with pytest.raises(Retry) as first:
        template_submit_task.apply(args=[template.pk], throw=True)
    assert first.value.when >= 600
    with pytest.raises(Retry):
        template_submit_task.apply(args=[template.pk], retries=1, throw=True)
    result = template_submit_task.apply(args=[template.pk], retries=2, throw=True).get()
    # then the third run submitted it, once
    template.refresh_from_db()
    assert result == "submitted" and stub_gateway.creates == 4
    assert template.meta_status == "PENDING" and len(locmem.templates) == 1


def test_the_retry_task_gives_up_after_its_last_try(stub_gateway):
    stub_gateway.errors.append(TransientError("2: Service temporarily unavailable", code=2))
    template = approved_template()
    result = template_submit_task.apply(args=[template.pk], retries=template_submit_task.max_retries, throw=True).get()
    template.refresh_from_db()
    assert result == "gave_up" and template.meta_status == "NOT_SUBMITTED"


def test_after_delivery_unknown_the_retry_finds_the_template_meta_created_instead_of_creating_it_twice(stub_gateway):
    # given the POST reached Meta (the template exists there) but the answer was lost
    template = approved_template()
    LocmemBackend().create_message_template(name="order_shipped", language="en", category="UTILITY", components=[])
    stub_gateway.errors.append(DeliveryUnknown("read timeout"))
    with pytest.raises(DeliveryUnknown):
        template_submit_to_meta(template=template, actor=system_user("test"))
    # when the retry task runs
    template_submit_task.apply(args=[template.pk]).get()
    # then it adopted Meta's template without a second create
    template.refresh_from_db()
    assert stub_gateway.creates == 1 and len(locmem.templates) == 1
    assert template.meta_template_id == locmem.templates[0]["id"] and template.status == "submitted"


def test_meta_approving_as_marketing_holds_the_template(stub_gateway):
    # given Meta re-categorises the UTILITY template at creation
    stub_gateway.answer = TemplateSubmission(id="777", status="APPROVED", category="MARKETING")
    template = approved_template()
    # when submitted
    template_submit_to_meta(template=template, actor=system_user("test"))
    # then it is held: it would now need marketing consent
    template.refresh_from_db()
    assert (template.category, template.purpose, template.hold_reason) == ("MARKETING", "marketing", "recategorised")
    assert template_usable(template) == (False, "template_paused")


STATUS_EVENTS = [
    ("PAUSED", HoldReason.PAUSED, {"reason": "NONE", "other_info": {"title": "FIRST_PAUSE",
     "description": "Your message template has been paused for 3 hours due to low quality."}}, "FIRST_PAUSE"),
    ("DISABLED", HoldReason.DISABLED, {"reason": "NONE", "disable_info": {"disable_date": "1764230400"}}, "disabled on"),
    ("FLAGGED", HoldReason.FLAGGED, {"reason": "NONE"}, "Flagged"),
]


@pytest.mark.parametrize(("event", "hold", "extra", "shown"), STATUS_EVENTS, ids=[e[0] for e in STATUS_EVENTS])
def test_a_pause_disable_or_flag_webhook_holds_the_template_at_once(event, hold, extra, shown):
    # given a usable template
    template = make_usable_template()
    # when Meta's status webhook arrives
    webhook_receive(webhook("message_template_status_update", {
        "event": event, "message_template_id": int(template.meta_template_id),
        "message_template_name": template.name, "message_template_language": "en", **extra,
    }))
    # then it is unusable, held, with the reason in front of staff and in the history
    template.refresh_from_db()
    assert template_usable(template) == (False, "template_paused")
    assert (template.meta_status, template.hold_reason) == (event, hold)
    assert shown in template.attention_reason
    kinds = list(template.events.order_by("id").values_list("kind", "source", "new_value"))
    assert kinds == [("meta_status", "meta_webhook", event), ("hold", "meta_webhook", hold)]
    first_event = template.events.first()
    assert first_event is not None and first_event.webhook_event_id is not None


def test_a_rejection_webhook_shows_metas_reason_and_recommendation():
    template = make_usable_template()
    template.meta_status = "PENDING"
    template.save()
    webhook_receive(webhook("message_template_status_update", {
        "event": "REJECTED", "message_template_id": template.meta_template_id, "message_template_name": template.name,
        "message_template_language": "en", "reason": "INVALID_FORMAT",
        "rejection_info": {"reason": "Variables at the end", "recommendation": "Add text after the last variable"},
    }))
    template.refresh_from_db()
    assert template_usable(template) == (False, "template_not_approved")
    assert "INVALID_FORMAT" in template.attention_reason and "Add text after" in template.attention_reason


def test_a_red_quality_webhook_holds_the_template_and_green_does_not_release_it():
    # given a usable template
    template = make_usable_template()
    # when Meta rates it RED
    webhook_receive(webhook("message_template_quality_update", {
        "previous_quality_score": "GREEN", "new_quality_score": "RED", "message_template_id": template.meta_template_id,
        "message_template_name": template.name, "message_template_language": "en",
    }))
    # then it is held
    template.refresh_from_db()
    assert (template.quality, template.hold_reason) == ("RED", "quality_red")
    assert template_usable(template) == (False, "template_paused")
    assert "RED" in template.attention_reason
    # when the quality recovers, it stays held until a compliance officer releases it
    webhook_receive(webhook("message_template_quality_update", {
        "previous_quality_score": "RED", "new_quality_score": "YELLOW", "message_template_id": template.meta_template_id,
        "message_template_name": template.name, "message_template_language": "en",
    }))
    template.refresh_from_db()
    assert template_usable(template) == (False, "template_paused")
    with pytest.raises(PermissionDenied):
        template_release_hold(template=template, actor=UserFactory(roles=[MARKETING]), note="looked")
    template_release_hold(template=template, actor=UserFactory(roles=[COMPLIANCE_OFFICER]), note="Complaints reviewed")
    template.refresh_from_db()
    assert template_usable(template) == (True, None) and template.attention_reason == ""


def test_a_category_change_webhook_holds_the_template_and_changes_its_purpose():
    # given a usable UTILITY template for order updates
    template = make_usable_template()
    assert template.purpose == "order_updates"
    # when Meta re-categorises it as MARKETING
    webhook_receive(webhook("template_category_update", {
        "message_template_id": template.meta_template_id, "message_template_name": template.name,
        "message_template_language": "en", "previous_category": "UTILITY", "new_category": "MARKETING",
    }))
    # then it is held, now needs marketing consent, and staff see why
    template.refresh_from_db()
    assert (template.category, template.purpose, template.hold_reason) == ("MARKETING", "marketing", "recategorised")
    assert template_usable(template) == (False, "template_paused")
    assert "UTILITY to MARKETING" in template.attention_reason
    # and it cannot be released while its text lacks the opt-out a marketing template needs
    with pytest.raises(ValidationError):
        template_release_hold(template=template, actor=UserFactory(roles=[COMPLIANCE_OFFICER]), note="ok")


def test_the_same_webhook_delivered_twice_is_applied_once():
    template = make_usable_template()
    body = webhook("message_template_quality_update", {
        "previous_quality_score": "GREEN", "new_quality_score": "RED", "message_template_id": template.meta_template_id,
        "message_template_name": template.name, "message_template_language": "en",
    })
    webhook_receive(body)
    webhook_receive(body)
    assert TemplateStatusEvent.objects.filter(template=template, kind="quality").count() == 1


def test_a_webhook_about_a_template_we_never_submitted_changes_nothing():
    template = make_usable_template(name="order_confirmed")
    webhook_receive(webhook("message_template_status_update", {
        "event": "PAUSED", "message_template_id": 999, "message_template_name": "someone_elses",
        "message_template_language": "en",
    }))
    template.refresh_from_db()
    assert template_usable(template) == (True, None)


def test_sync_pulls_status_quality_and_category_from_meta():
    # given two submitted templates, and Meta now reports one approved and GREEN, the other paused
    first = approved_template("order_shipped")
    second = approved_template("order_confirmed")
    template_submit_to_meta(template=first, actor=system_user("test"))
    template_submit_to_meta(template=second, actor=system_user("test"))
    locmem.templates[0].update(status="APPROVED", quality_score={"score": "GREEN"})
    locmem.templates[1].update(status="PAUSED", quality_score={"score": "RED"})
    locmem.templates.append({"id": "999999", "name": "not_ours", "language": "en", "status": "APPROVED", "category": "UTILITY"})
    # when synced
    report = template_sync_from_meta(actor=system_user("celery"))
    # then each template follows Meta, and the pause is a hold
    first.refresh_from_db()
    second.refresh_from_db()
    assert (report.seen, report.updated, report.unknown) == (3, 2, 1)
    assert template_usable(first) == (True, None) and first.quality == "GREEN"
    assert (second.meta_status, second.quality, second.hold_reason) == ("PAUSED", "RED", "paused")
    assert "Paused" in second.attention_reason and "RED" in second.attention_reason
    assert second.events.filter(kind="meta_status", source="meta_sync").exists()
