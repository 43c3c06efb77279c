"""The two clocks of a complaint, computed for a given `now` (tests pass a controlled one).

- First response: due `COMPLAINT_FIRST_RESPONSE_HOURS` after intake; met by the first staff
  step out of `received` (acknowledge, investigate or resolve). The automatic WhatsApp
  acknowledgement is a receipt, not a response, so it does not stop this clock.
- Resolution: due `COMPLAINT_RESOLUTION_DAYS` after intake. Time spent awaiting the customer,
  and time between a resolution and a reopening, does not count: the due time moves later by
  it. It never moves past the statutory outer limit (`COMPLAINT_OUTER_LIMIT_DAYS`, 90 days
  under the DPDP Rules), which runs regardless of pauses.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings

from complaints.models import Complaint, Status


def first_response_window() -> dt.timedelta:
    return dt.timedelta(hours=settings.COMPLAINT_FIRST_RESPONSE_HOURS)


def resolution_window() -> dt.timedelta:
    return dt.timedelta(days=settings.COMPLAINT_RESOLUTION_DAYS)


def outer_limit_window() -> dt.timedelta:
    return dt.timedelta(days=settings.COMPLAINT_OUTER_LIMIT_DAYS)


@dataclass(frozen=True)
class Clock:
    due_at: dt.datetime
    stopped: bool  # met (first response given, complaint resolved or closed)
    paused: bool  # awaiting the customer: the due time moves with `now`
    remaining: dt.timedelta  # negative when overdue

    @property
    def overdue(self) -> bool:
        return not self.stopped and self.remaining < dt.timedelta(0)


def paused_for(complaint: Complaint, now: dt.datetime) -> dt.timedelta:
    """The current pause, if any (awaiting the customer since `paused_at`)."""
    if complaint.paused_at is None:
        return dt.timedelta(0)
    return max(now - complaint.paused_at, dt.timedelta(0))


def resolution_due(complaint: Complaint, now: dt.datetime) -> dt.datetime:
    """The resolution due time as of `now`, counting a pause still running."""
    return min(complaint.resolution_due_at + paused_for(complaint, now), complaint.outer_limit_at)


def first_response_clock(complaint: Complaint, now: dt.datetime) -> Clock:
    stopped = complaint.first_responded_at is not None or not complaint.is_open
    due = complaint.first_response_due_at
    remaining = (due - (complaint.first_responded_at or now)) if stopped else due - now
    return Clock(due_at=due, stopped=stopped, paused=False, remaining=remaining)


def resolution_clock(complaint: Complaint, now: dt.datetime) -> Clock:
    due = resolution_due(complaint, now)
    stopped = not complaint.is_open
    end = complaint.resolved_at if stopped and complaint.resolved_at else now
    return Clock(
        due_at=due, stopped=stopped, paused=complaint.status == Status.AWAITING_CUSTOMER, remaining=due - end
    )


def working_time(complaint: Complaint, now: dt.datetime) -> dt.timedelta:
    """Time the clock has run: from intake to now (or the resolution), minus every pause."""
    end = complaint.resolved_at if not complaint.is_open and complaint.resolved_at else now
    paused = dt.timedelta(seconds=complaint.paused_seconds) + paused_for(complaint, now)
    return max(end - complaint.created_at - paused, dt.timedelta(0))


def describe(remaining: dt.timedelta) -> str:
    """'3 d 4 h left' / '5 h 12 min overdue' for staff screens."""
    seconds = int(abs(remaining.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    else:
        text = f"{minutes} min"
    return f"{text} overdue" if remaining.total_seconds() < 0 else f"{text} left"
