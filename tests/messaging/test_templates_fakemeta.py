"""Template submission and sync against the fake Meta Graph API over real HTTP (cloud backend)."""

from __future__ import annotations

import pytest
from celery.exceptions import Retry
from django.core.management import call_command

from messaging.models import MessageTemplate, TemplateRevision
from messaging.selectors import template_usable
from messaging.services.common import TemplateFields
from messaging.services.drafting import template_approve, template_create_draft, template_revise, template_submit_for_review
from messaging.services.meta_updates import template_sync_from_meta
from messaging.services.submission import template_submit_to_meta
from messaging.tasks import template_submit_task
from pandorakart_wa.core.audit import system_user
from pandorakart_wa.core.roles import COMPLIANCE_OFFICER, MARKETING
from pandorakart_wa.whatsapp.errors import DeliveryUnknown, TransientError
from tests.fakemeta.server import FakeMeta
from tests.messaging.factories import UserFactory

pytestmark = pytest.mark.django_db

BODY = "Namaste {{1}}, your PandoraKart order {{2}} is confirmed. We will message you when it ships."


BUTTONS = [{"type": "URL", "text": "View order", "url": "https://www.pandorakart.com/orders/{{1}}",
            "example": "PK-10023"}]
REVISED_BODY = "Namaste {{1}}, your PandoraKart order {{2}} is confirmed. We will message you as soon as it ships."


def approved_template() -> MessageTemplate:
    marketer = UserFactory(roles=[MARKETING])
    template = template_create_draft(
        name="order_confirmed", language="en", category="UTILITY",
        fields=TemplateFields(body=BODY, body_examples=["Priya", "PK-10023"],
                              buttons=BUTTONS),
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



def submitted_then_revised(fake_meta: FakeMeta, meta_status: str) -> tuple[MessageTemplate, TemplateRevision]:
    """A template Meta holds (in `meta_status`), and its second revision approved internally."""
    template = approved_template()
    first = template_submit_to_meta(template=template, actor=system_user("test"))
    template.refresh_from_db()
    if meta_status != "PENDING":
        fake_meta.set_template_status(template.meta_template_id, meta_status, quality_score="GREEN")
        template_sync_from_meta(actor=system_user("test"))
        template.refresh_from_db()
        assert template.meta_status == meta_status
    editor = UserFactory(roles=[MARKETING])
    template_revise(template=template, author=editor,
                    fields=TemplateFields(body=REVISED_BODY, body_examples=["Priya", "PK-10023"], buttons=BUTTONS))
    template_submit_for_review(template=template, actor=editor)
    template_approve(template=template, actor=UserFactory(roles=[COMPLIANCE_OFFICER]))
    template.refresh_from_db()
    return template, first


def test_resubmitting_a_template_meta_holds_edits_it_instead_of_creating_another(fake_meta):
    # given a template Meta approved, revised and approved again internally
    template, first = submitted_then_revised(fake_meta, "APPROVED")
    meta_id = template.meta_template_id
    creates_before = [r for r in fake_meta.received if r["endpoint"] == "templates" and r["method"] == "POST"]
    # when it is submitted to Meta again
    revision = template_submit_to_meta(template=template, actor=system_user("test"))
    # then Meta got an edit of the template it holds (POST /{template-id}), not a second create
    edits = [r for r in fake_meta.received if r["endpoint"] == "template" and r["method"] == "POST"]
    creates = [r for r in fake_meta.received if r["endpoint"] == "templates" and r["method"] == "POST"]
    assert len(creates) == len(creates_before) == 1
    [edit] = edits
    assert edit["path"].endswith(f"/{meta_id}") and edit["outcome"] == "ok"
    assert edit["json"]["components"][0] == {"type": "BODY", "text": REVISED_BODY,
                                             "example": {"body_text": [["Priya", "PK-10023"]]}}
    assert "category" not in edit["json"]
    assert list(fake_meta.templates) == [meta_id]
    assert fake_meta.templates[meta_id]["components"] == edit["json"]["components"]
    assert fake_meta.violations == []
    # and the new revision is in use, waiting for Meta's review of the edit
    template.refresh_from_db()
    first.refresh_from_db()
    assert (revision.status, first.status) == ("submitted", "superseded")
    assert (template.approved_revision_id, template.meta_template_id) == (revision.pk, meta_id)
    assert template.meta_status == "PENDING"
    assert template_usable(template) == (False, "template_not_approved")


def test_an_edit_meta_refuses_rejects_the_revision_and_keeps_the_one_meta_holds(fake_meta):
    # given a template still in Meta's review (PENDING: Meta edits only APPROVED/REJECTED/PAUSED)
    template, first = submitted_then_revised(fake_meta, "PENDING")
    meta_id = template.meta_template_id
    held = fake_meta.templates[meta_id]["components"]
    # when the revision is submitted
    revision = template_submit_to_meta(template=template, actor=system_user("test"))
    # then Meta's refusal (sent once, not retried) rejects the revision with Meta's reason
    assert [r["outcome"] for r in fake_meta.received if r["endpoint"] == "template"] == ["error:100"]
    template.refresh_from_db()
    assert revision.status == "rejected"
    assert "can't be edited" in template.attention_reason
    # and the template Meta holds, and the revision in use, are unchanged
    assert (template.approved_revision_id, template.meta_template_id) == (first.pk, meta_id)
    assert template.meta_status == "PENDING"
    assert fake_meta.templates[meta_id]["components"] == held


def test_an_edit_whose_answer_was_lost_is_not_sent_again_by_the_reconciling_retry(fake_meta):
    # given a template Meta approved, revised and approved again internally
    template, first = submitted_then_revised(fake_meta, "APPROVED")
    meta_id = template.meta_template_id
    # and Meta applies the edit, but its answer is lost on the way back
    fake_meta.inject("drop", endpoint="template", method="POST")
    with pytest.raises((TransientError, DeliveryUnknown)):
        template_submit_to_meta(template=template, actor=system_user("test"))
    assert fake_meta.templates[meta_id]["status"] == "PENDING"  # Meta holds the edit, in review
    # when the submission is retried, reconciling with Meta
    template.refresh_from_db()
    revision = template_submit_to_meta(template=template, actor=system_user("test"), reconcile=True)
    # then the edit was not sent again (Meta would refuse it: the template is PENDING)
    edits = [r for r in fake_meta.received if r["endpoint"] == "template" and r["method"] == "POST"]
    assert [e["outcome"] for e in edits] == ["dropped"]
    # and the revision Meta holds is the one in use, waiting for Meta's review
    template.refresh_from_db()
    first.refresh_from_db()
    assert (revision.status, first.status) == ("submitted", "superseded")
    assert (template.approved_revision_id, template.meta_template_id) == (revision.pk, meta_id)
    assert template.meta_status == "PENDING"
    assert fake_meta.templates[meta_id]["components"] == edits[0]["json"]["components"]


def test_a_reconciling_retry_sends_the_edit_meta_never_applied(fake_meta):
    # given a template Meta approved, revised and approved again internally
    template, first = submitted_then_revised(fake_meta, "APPROVED")
    meta_id = template.meta_template_id
    held = fake_meta.templates[meta_id]["components"]
    # and the first edit fails before Meta applies it
    fake_meta.inject("http", endpoint="template", method="POST", status=500)
    with pytest.raises(TransientError):
        template_submit_to_meta(template=template, actor=system_user("test"))
    assert fake_meta.templates[meta_id]["components"] == held
    # when the submission is retried, reconciling with Meta
    template.refresh_from_db()
    revision = template_submit_to_meta(template=template, actor=system_user("test"), reconcile=True)
    # then Meta, still holding the old components, gets the edit once more, and applies it
    edits = [r for r in fake_meta.received if r["endpoint"] == "template" and r["method"] == "POST"]
    assert len(edits) == 2 and edits[1]["outcome"] == "ok"  # the failed one, then one more
    assert fake_meta.templates[meta_id]["components"] != held
    assert fake_meta.templates[meta_id]["components"] == edits[-1]["json"]["components"]
    template.refresh_from_db()
    first.refresh_from_db()
    assert (revision.status, first.status) == ("submitted", "superseded")
    assert (template.approved_revision_id, template.meta_template_id) == (revision.pk, meta_id)
    assert template.meta_status == "PENDING"


def test_a_reconciling_submission_of_an_edit_meta_has_not_seen_sends_it_once(fake_meta):
    # given a template Meta approved, revised and approved again internally
    template, _ = submitted_then_revised(fake_meta, "APPROVED")
    meta_id = template.meta_template_id
    # when submitted with reconcile (as the retry task does) while Meta holds the old components
    revision = template_submit_to_meta(template=template, actor=system_user("test"), reconcile=True)
    # then exactly one edit was sent and applied
    edits = [r for r in fake_meta.received if r["endpoint"] == "template" and r["method"] == "POST"]
    assert [e["outcome"] for e in edits] == ["ok"]
    assert fake_meta.templates[meta_id]["components"][0]["text"] == REVISED_BODY
    template.refresh_from_db()
    assert (revision.status, template.approved_revision_id, template.meta_status) == ("submitted", revision.pk, "PENDING")
