"""Builders for the complaints tests: staff in each role, the acknowledgement template, complaints
driven to a given status through the services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from complaints.models import Category, Channel, Complaint, Outcome, Status
from complaints.services.intake import complaint_create
from complaints.services.workflow import complaint_resolve, complaint_transition
from messaging.models import MessageTemplate
from pandorakart_wa.core.audit import COMMAND, system_user
from pandorakart_wa.core.roles import AUDITOR, COMPLIANCE_OFFICER, SUPPORT_AGENT
from tests.messaging.factories import UserFactory, make_usable_template

ACK_BODY = ("Hi {{1}}, we have received your complaint {{2}} and will respond by {{3}}. You can reply here to "
            "add details.")


def staff(role: str, **extra: Any) -> Any:
    """A staff user in `role`, with the permissions the migrations granted it."""
    from django.contrib.auth.models import Group

    from tests.backoffice.helpers import restore_roles

    if not Group.objects.filter(name=role, permissions__isnull=False).exists():
        restore_roles()  # a transactional test flushed the migrated groups
    return UserFactory(roles=[role], **extra)


def officer() -> Any:
    return staff(COMPLIANCE_OFFICER)


def agent() -> Any:
    return staff(SUPPORT_AGENT)


def auditor() -> Any:
    return staff(AUDITOR)


def system() -> Any:
    return system_user(COMMAND)


def ack_template() -> MessageTemplate:
    return make_usable_template(name="complaint_acknowledgement", body=ACK_BODY,
                                body_examples=["Priya", "CMP-2026-000123", "30 Nov"])


def new_complaint(*, now: dt.datetime | None = None, **fields: Any) -> Complaint:
    values: dict[str, Any] = {
        "channel": Channel.WEBSITE, "category": Category.UNWANTED_MESSAGES,
        "description": "I keep getting offers after replying STOP", "actor": system(), "now": now,
    }
    values.update(fields)
    return complaint_create(**values)


# The steps (taken by a system actor) that bring a new complaint to each status.
PATHS: dict[str, list[str]] = {
    Status.RECEIVED: [],
    Status.ACKNOWLEDGED: [Status.ACKNOWLEDGED],
    Status.INVESTIGATING: [Status.INVESTIGATING],
    Status.AWAITING_CUSTOMER: [Status.ACKNOWLEDGED, Status.AWAITING_CUSTOMER],
    Status.READY_FOR_OFFICER: [Status.INVESTIGATING, Status.READY_FOR_OFFICER],
    Status.RESOLVED: [Status.RESOLVED],
    Status.CLOSED: [Status.RESOLVED, Status.CLOSED],
    Status.REOPENED: [Status.RESOLVED, Status.REOPENED],
}


def drive(complaint: Complaint, status: str, *, now: dt.datetime | None = None) -> Complaint:
    now = now or timezone.now()
    for step in PATHS[status]:
        if step == Status.RESOLVED:
            complaint = complaint_resolve(complaint=complaint, outcome=Outcome.CONSENT_VALID_NO_BREACH,
                                          resolution="Consent was valid.", actor=system(), now=now)
        else:
            complaint = complaint_transition(complaint=complaint, to_status=step, actor=system(), note="step",
                                             now=now)
    assert complaint.status == status
    return complaint
