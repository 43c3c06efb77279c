"""The first-response and resolution clocks beat checks: breaches and statutory limits raised to
staff."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from complaints.clocks import first_response_window, resolution_due
from complaints.models import (
    OPEN_STATUSES,
    Complaint,
    ComplaintAction,
)
from complaints.services.common import ALERT_BREACH, ALERT_STATUTORY, action_record, complaint_locked
from complaints.services.handling import escalate
from pandorakart_wa.core.audit import User
from profile.services.alerts import alert_raise


@dataclass
class ClockReport:
    first_response: list[str] = field(default_factory=list)
    resolution: list[str] = field(default_factory=list)
    outer_limit: list[str] = field(default_factory=list)


def complaints_check_clocks(*, now: dt.datetime | None = None, actor: User | None = None) -> ClockReport:
    """Mark each newly breached clock, escalate the complaint and alert Compliance (beat task).
    One short transaction per complaint; a breach is marked once."""
    now = now or timezone.now()
    report = ClockReport()
    open_rows = Complaint.objects.filter(status__in=OPEN_STATUSES)
    first = open_rows.filter(
        first_responded_at__isnull=True, first_response_breached_at__isnull=True, first_response_due_at__lte=now
    ).values_list("pk", flat=True)
    for pk in list(first):
        if _breach(pk, "first_response", now, actor):
            report.first_response.append(str(pk))
    # The stored due time is the earliest the effective one can be (a running pause only adds).
    resolution = open_rows.filter(resolution_breached_at__isnull=True, resolution_due_at__lte=now)
    for pk in list(resolution.values_list("pk", flat=True)):
        if _breach(pk, "resolution", now, actor):
            report.resolution.append(str(pk))
    outer = open_rows.filter(outer_limit_breached_at__isnull=True, outer_limit_at__lte=now)
    for pk in list(outer.values_list("pk", flat=True)):
        if _breach(pk, "outer_limit", now, actor):
            report.outer_limit.append(str(pk))
    return report


BREACH_TEXT = {
    "first_response": "No first response within {hours} h of intake.",
    "resolution": "Not resolved by the resolution due time.",
    "outer_limit": "Not resolved within the statutory outer limit.",
}


@transaction.atomic
def _breach(pk: int, clock: str, now: dt.datetime, actor: User | None) -> bool:
    complaint = complaint_locked(pk)
    if not complaint.is_open or getattr(complaint, f"{clock}_breached_at") is not None:
        return False
    if clock == "first_response" and (complaint.first_responded_at or complaint.first_response_due_at > now):
        return False
    if clock == "resolution" and resolution_due(complaint, now) > now:
        return False  # paused: the due time moved on
    if clock == "outer_limit" and complaint.outer_limit_at > now:
        return False
    setattr(complaint, f"{clock}_breached_at", now)
    complaint.save(update_fields=[f"{clock}_breached_at", "updated_at"])
    hours = int(first_response_window().total_seconds() // 3600)
    text = BREACH_TEXT[clock].format(hours=hours)
    action_record(complaint, ComplaintAction.Kind.BREACH, actor=actor, at=now, note=text, detail={"clock": clock})
    alert_raise(
        kind=ALERT_STATUTORY if clock == "outer_limit" else ALERT_BREACH,
        title=f"Complaint {complaint.reference}: {clock.replace('_', ' ')} overdue",
        detail=text, dedupe_key=f"complaint-breach:{complaint.reference}:{clock}", subject=complaint,
    )
    if not complaint.escalated_to_dpo:
        escalate(complaint, reason=f"Automatic: {text}", actor=actor, now=now, alert=False)  # alerted above
    return True
