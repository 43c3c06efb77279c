"""Template submission and sync against the fake Meta Graph API over real HTTP (cloud backend)."""

from __future__ import annotations

import pytest
from celery.exceptions import Retry
from django.core.management import call_command

from messaging.models import MessageTemplate
from messaging.selectors import template_usable
from messaging.services import (
    TemplateFields,
    template_approve,
    template_create_draft,
    template_submit_for_review,
    template_submit_to_meta,
    template_sync_from_meta,
)
from messaging.tasks import template_submit_task
from pandorakart_wa.audit import system_user
from pandorakart_wa.roles import COMPLIANCE_OFFICER, MARKETING
from pandorakart_wa.whatsapp.errors import TransientError
from tests.messaging.factories import UserFactory

pytestmark = pytest.mark.django_db

BODY = "Namaste {{1}}, your PandoraKart order {{2}} is confirmed. We will message you when it ships."


def approved_template() -> MessageTemplate:
    marketer = UserFactory(roles=[MARKETING])
    template = template_create_draft(
        name="order_confirmed", language="en", category="UTILITY",
        fields=TemplateFields(body=BODY, body_examples=["Priya", "PK-10023"],
                              buttons=[{"type": "URL", "text": "View order",
                                        "url": "https://www.pandorakart.com/orders/{{1}}", "example": "PK-10023"}]),
        author=marketer,
    )
    template_submit_for_review(template=template, actor=marketer)
    template_approve(template=template, actor=UserFactory(roles=[COMPLIANCE_OFFICER]))
    template.refresh_from_db()
    return template


def test_submission_reaches_meta_in_a_shape_its_schema_accepts_and_sync_reads_the_approval(fake_meta):
    # given an internally approved template
    template = approved_template()
    # when submitted, and Meta approves it later
    template_submit_to_meta(template=template, actor=system_user("test"))
    template.refresh_from_db()
    assert template.meta_status == "PENDING"
    fake_meta.set_template_status(template.meta_template_id, "APPROVED", quality_score="GREEN")
    template_sync_from_meta(actor=system_user("test"))
    # then Meta holds our components, nothing broke its schema, and the template is usable
    stored = fake_meta.templates[template.meta_template_id]
    assert stored["components"][0] == {"type": "BODY", "text": BODY, "example": {"body_text": [["Priya", "PK-10023"]]}}
    assert fake_meta.violations == []
    template.refresh_from_db()
    assert (template.meta_status, template.quality) == ("APPROVED", "GREEN")
    assert template_usable(template) == (True, None)


def test_meta_rejecting_the_submission_rejects_the_revision_with_metas_reason(fake_meta):
    # given Meta answers the creation with an invalid-parameter error
    fake_meta.inject("error", endpoint="templates", method="POST", code=100,
                     details="Body text contains too many variable parameters")
    template = approved_template()
    # when submitted
    revision = template_submit_to_meta(template=template, actor=system_user("test"))
    # then
    template.refresh_from_db()
    assert (revision.status, template.meta_status) == ("rejected", "REJECTED")
    assert "too many variable parameters" in template.attention_reason


def test_metas_rate_limit_is_retried_later_and_then_submits(fake_meta):
    # given Meta's WABA rate limit answers the first creation
    fake_meta.inject("error", endpoint="templates", method="POST", code=80007)
    template = approved_template()
    # when the service is called / then the error is transient and nothing was written
    with pytest.raises(TransientError):
        template_submit_to_meta(template=template, actor=system_user("test"))
    template.refresh_from_db()
    assert template.meta_status == "NOT_SUBMITTED" and fake_meta.templates == {}
    # when the retry task runs
    assert template_submit_task.apply(args=[template.pk], throw=True).get() == "submitted"
    # then Meta has it once
    template.refresh_from_db()
    assert list(fake_meta.templates) == [template.meta_template_id]


def test_the_retry_task_backs_off_while_meta_is_down(fake_meta):
    fake_meta.inject("http", endpoint="*", status=503, count=None)
    template = approved_template()
    with pytest.raises(Retry):
        template_submit_task.apply(args=[template.pk], throw=True)


def test_the_command_submits_what_meta_has_not_seen_then_pulls_statuses(fake_meta, capsys):
    # given an approved template Meta has never seen
    template = approved_template()
    # when the command runs
    call_command("sync_message_templates")
    # then it was submitted and its status read back
    template.refresh_from_db()
    assert template.meta_template_id in fake_meta.templates
    assert template.status == "submitted" and template.meta_status == "PENDING"
    assert "Meta lists 1 templates" in capsys.readouterr().out
