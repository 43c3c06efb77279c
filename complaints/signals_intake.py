"""Block and report signals: Meta sends no "user blocked you" event, so collect the proxies.

- send failures 131050 (the user stopped marketing) and 131026 (undeliverable: often a block),
  reported by messaging through messaging.hooks.failure_listeners (`record_failure`);
- Meta's `user_preferences` stop, STOP replies and spam reports in inbound text (complaints.webhooks).

Each is one ComplaintSignal row per contact and template (deduplicated). The beat task
`signals_evaluate` opens an investigation against a template whose negative signals in the
window exceed COMPLAINT_SIGNAL_THRESHOLD of its sends (with at least COMPLAINT_SIGNAL_MIN_SENDS
sends), holds the template pending review and alerts Compliance. One open investigation per
template at a time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from complaints.models import OPEN_STATUSES, Category, Channel, Complaint, ComplaintSignal, SignalKind
from complaints.services.intake import complaint_create
from consent.models import Contact
from messaging.attribution import message_answered, messages_answered
from messaging.models import HoldReason, Message, MessageTemplate
from messaging.selectors import template_attempt_counts
from messaging.services.holds import template_hold, template_lock
from pandorakart_wa.core.audit import CELERY, system_user
from pandorakart_wa.whatsapp import errors as wa_errors
from profile.services.alerts import alert_raise

logger = logging.getLogger(__name__)

FAILURE_SIGNALS = {
    wa_errors.USER_STOPPED_MARKETING: SignalKind.USER_STOPPED_MARKETING,
    wa_errors.UNDELIVERABLE: SignalKind.UNDELIVERABLE,
}
# A STOP or a spam report answers the template message the customer received last, within this.
ATTRIBUTION_WINDOW = dt.timedelta(days=7)
# Meta's timestamps have whole seconds and come from Meta's clock: a message we sent a moment
# before the reaction may carry a later sent_at than the reaction's timestamp.
TIMESTAMP_TOLERANCE = dt.timedelta(seconds=60)
ALERT_TEMPLATE_SIGNALS = "complaint_template_signals"


def signal_record(
    *,
    kind: str,
    dedupe_key: str,
    occurred_at: dt.datetime,
    contact: Contact | None = None,
    template: MessageTemplate | None = None,
    message: Message | None = None,
    complaint: Complaint | None = None,
    detail: Mapping[str, Any] | None = None,
) -> ComplaintSignal | None:
    """Record one signal; None when the same signal (dedupe_key) was recorded before."""
    try:
        with transaction.atomic():
            return ComplaintSignal.objects.create(
                kind=kind, dedupe_key=dedupe_key[:300], occurred_at=occurred_at, contact=contact,
                template=template, message=message, complaint=complaint, detail=dict(detail or {}),
            )
    except IntegrityError:
        return None


def attributed_message(
    contact: Contact, *, at: dt.datetime, context_wamid: str = "", purpose: str | None = None
) -> Message | None:
    """The template message a customer's reaction answers: the one they replied to (Meta's
    `context.id`), else the last template message sent to them within ATTRIBUTION_WINDOW."""
    return message_answered(contact=contact, at=at, context_wamid=context_wamid, purpose=purpose,
                            window=ATTRIBUTION_WINDOW, tolerance=TIMESTAMP_TOLERANCE)


def attributed_messages(reactions: Sequence[tuple[Contact, dt.datetime, str]]) -> list[Message | None]:
    """attributed_message for many (contact, at, context_wamid) at once, in at most three queries."""
    return messages_answered(reactions=[(contact.pk, at, wamid) for contact, at, wamid in reactions],
                             window=ATTRIBUTION_WINDOW, tolerance=TIMESTAMP_TOLERANCE)


def record_failure(*, message: Message, code: int | None, wamid: str = "") -> ComplaintSignal | None:
    """messaging.hooks.failure_listeners: a send of `message` failed with Meta error `code`."""
    kind = FAILURE_SIGNALS.get(code) if code is not None else None
    if kind is None:
        return None
    return signal_record(
        kind=kind, dedupe_key=f"{kind}:{message.pk}", occurred_at=timezone.now(), contact=message.contact,
        template=message.template, message=message, detail={"code": code, "wamid": wamid or message.wamid or ""},
    )


# --- the threshold (beat) ------------------------------------------------------------------


def signal_window() -> dt.timedelta:
    return dt.timedelta(days=settings.COMPLAINT_SIGNAL_WINDOW_DAYS)


def template_signal_rates(*, now: dt.datetime) -> list[tuple[int, int, int]]:
    """(template id, negative signals, sends) over the window, for templates with signals; a send
    is a message that reached (or was refused by) Meta: the denominator of the signal rate."""
    since = now - signal_window()
    signals = dict(
        ComplaintSignal.objects.filter(template__isnull=False, occurred_at__gte=since, occurred_at__lte=now)
        .values("template")
        .annotate(n=Count("id"))
        .values_list("template", "n")
    )
    if not signals:
        return []
    sends = template_attempt_counts(template_ids=list(signals), since=since, until=now)
    return [(tid, n, sends.get(tid, 0)) for tid, n in signals.items()]


def signals_evaluate(*, now: dt.datetime | None = None, actor: AbstractBaseUser | None = None) -> list[Complaint]:
    """Open an investigation (and hold the template) for each template over the threshold."""
    now = now or timezone.now()
    actor = actor or system_user(CELERY)
    threshold = float(settings.COMPLAINT_SIGNAL_THRESHOLD)
    minimum = int(settings.COMPLAINT_SIGNAL_MIN_SENDS)
    opened: list[Complaint] = []
    for template_id, signals, sends in template_signal_rates(now=now):
        if sends < minimum or signals / sends <= threshold:
            continue
        complaint = template_investigation_open(
            template_id=template_id, signals=signals, sends=sends, actor=actor, now=now
        )
        if complaint is not None:
            opened.append(complaint)
    return opened


@transaction.atomic
def template_investigation_open(
    *, template_id: int, signals: int, sends: int, actor: AbstractBaseUser, now: dt.datetime
) -> Complaint | None:
    """Open the investigation of a template, hold the template pending review and alert
    Compliance. None when one is already open (the template row lock serialises two runs)."""
    template = template_lock(template_id=template_id)
    if Complaint.objects.filter(
        template=template, category=Category.TEMPLATE_SIGNALS, status__in=OPEN_STATUSES
    ).exists():
        return None
    days = settings.COMPLAINT_SIGNAL_WINDOW_DAYS
    rate = signals / sends
    text = (
        f"Template {template}: {signals} negative signals (blocks, stops, spam reports) for {sends} sends in "
        f"the last {days} days ({rate:.1%}, threshold {float(settings.COMPLAINT_SIGNAL_THRESHOLD):.1%})."
    )
    complaint = complaint_create(
        channel=Channel.INTERNAL, category=Category.TEMPLATE_SIGNALS, description=text, template=template,
        actor=actor, acknowledge=False, now=now,
    )
    ComplaintSignal.objects.filter(
        template=template, complaint__isnull=True, occurred_at__gte=now - signal_window()
    ).update(complaint=complaint)
    template_hold(template=template, reason=HoldReason.COMPLAINT, actor=actor,
                  note=f"Held pending review: investigation {complaint.reference}. {text}")
    alert_raise(
        kind=ALERT_TEMPLATE_SIGNALS, title=f"Template {template} held: block/report signals over the threshold",
        detail=f"{text} Investigation {complaint.reference}.", dedupe_key=f"template-signals:{template.pk}",
        subject=complaint,
    )
    logger.warning("Opened %s against template %s (%.1f%% negative signals)", complaint, template, rate * 100)
    return complaint
