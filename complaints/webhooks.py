"""Complaints' share of Meta's webhooks, one update at a time (called by the webhook router,
pandorakart_wa.webhooks.router, after consent has applied the update, so keywords are in force
and the contact exists).

A customer's message that was an opt-out keyword is a STOP signal and nothing else; a text
naming a complaint (COMPLAINT, शिकायत...) or reporting spam opens a WhatsApp complaint; a
customer with an open complaint writing again adds to it (and resumes it if it awaited them).
A marketing stop in WhatsApp's settings is a signal against the last marketing template.

Meta delivers a customer's messages concurrently (several batches, several workers): the
per-customer lock below makes "is there an open complaint?" and "open one" one step, so twelve
"COMPLAINT" messages at once open one complaint and add eleven messages to it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection, transaction

from complaints.intake import SPAM_REPORT, Trigger, match
from complaints.models import OPEN_STATUSES, Category, Channel, Complaint, ComplaintSignal, IntakeTrigger, SignalKind
from complaints.services.handling import complaint_customer_message
from complaints.services.intake import complaint_create
from complaints.signals_intake import attributed_message, attributed_messages, signal_record
from consent.models import Contact, OptOutKeyword
from consent.purposes import Purpose
from messaging.attribution import message_replied_to
from pandorakart_wa.core.audit import META_WEBHOOK, system_user

logger = logging.getLogger(__name__)

CUSTOMER_LOCK_CLASS = 0x434D50  # "CMP": pg_advisory_xact_lock(class, contact id)


TRIGGER_CACHE_SECONDS = 5.0  # how soon a trigger staff add or change is matched by every process
_triggers: tuple[float, list[Trigger]] | None = None


def active_triggers() -> list[Trigger]:
    """The active intake triggers, read at most every TRIGGER_CACHE_SECONDS per process."""
    global _triggers
    now = time.monotonic()
    if _triggers is not None and now - _triggers[0] < TRIGGER_CACHE_SECONDS:
        return _triggers[1]
    found = [
        Trigger(normalized=n, kind=k, whole_message=w)
        for n, k, w in IntakeTrigger.objects.filter(active=True).values_list("normalized", "kind", "whole_message")
    ]
    _triggers = (now, found)
    return found


def triggers_cache_clear() -> None:
    global _triggers
    _triggers = None


def _open_complaint(contact: Contact) -> Complaint | None:
    return (
        Complaint.objects.defer("evidence").filter(contact=contact, status__in=OPEN_STATUSES)
        .exclude(channel=Channel.INTERNAL)
        .order_by("-created_at")
        .first()
    )


def _lock_customer(contact: Contact) -> None:
    """Serialise complaint intake per customer until the end of the transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CUSTOMER_LOCK_CLASS, int(contact.pk) % 2**31])


@transaction.atomic
def complaint_apply_inbound(
    *, contact: Contact, wamid: str, at: dt.datetime, text: str, message_type: str, context_wamid: str = "",
    name: str = "", keyword_action: str | None = None,
) -> Complaint | None:
    """One customer message: open or add to a complaint, record STOP and spam signals.
    `text` is the message's words (None-like "" for media), `keyword_action` what consent made
    of it. Returns the complaint it opened or added to, if any."""
    actor = system_user(META_WEBHOOK)
    if keyword_action is not None:  # consent applied it: a STOP is a signal, never a complaint
        if keyword_action == OptOutKeyword.KeywordAction.OPT_OUT:
            _signal(SignalKind.STOP_REPLY, contact, at=at, wamid=wamid, context_wamid=context_wamid,
                    detail={"keyword": text[:100]})
        return None
    _lock_customer(contact)
    if message_type != "text" and message_type not in ("button", "interactive"):
        complaint = _open_complaint(contact)  # media, location...: only of interest to an open complaint
        if complaint is not None and not complaint.actions.filter(detail__wamid=wamid).exists():
            complaint_customer_message(complaint=complaint, text=text or f"[{message_type} message]", wamid=wamid,
                                       actor=actor, at=at)
        return complaint
    kind = match(text, active_triggers())
    complaint = _open_complaint(contact)
    if complaint is not None:
        if not complaint.actions.filter(detail__wamid=wamid).exists():
            complaint_customer_message(complaint=complaint, text=text, wamid=wamid, actor=actor, at=at)
    elif kind is not None and not Complaint.objects.filter(intake_wamid=wamid).exists():
        replied = message_replied_to(contact=contact, wamid=context_wamid) if context_wamid else None
        complaint = complaint_create(
            channel=Channel.WHATSAPP,
            category=Category.UNWANTED_MESSAGES if kind == SPAM_REPORT else Category.OTHER,
            description=text[:5000],
            contact=contact,
            message_id=replied.pk if replied is not None else None,
            customer_name=name,
            intake_wamid=wamid or None,
            actor=actor,
        )
        logger.info("Complaint %s opened from WhatsApp", complaint)
    if kind == SPAM_REPORT:
        _signal(SignalKind.SPAM_REPORT, contact, at=at, wamid=wamid, context_wamid=context_wamid, complaint=complaint)
    return complaint


def complaint_record_stop_replies(stops: Sequence[tuple[Contact, dt.datetime, str, str, str]]) -> None:
    """The STOP signals of many opt-out keywords consent applied together, (contact, at, wamid,
    context_wamid, text) each: what complaint_apply_inbound records for one, in three queries
    (a signal recorded before, by its dedupe key, is left as it is)."""
    if not stops:
        return
    answered = attributed_messages([(contact, at, context) for contact, at, _, context, _ in stops])
    signals = [
        ComplaintSignal(
            kind=SignalKind.STOP_REPLY, dedupe_key=_signal_key(SignalKind.STOP_REPLY, contact, at, wamid),
            occurred_at=at, contact=contact, template_id=message.template_id if message is not None else None,
            message=message, detail={"wamid": wamid, "keyword": text[:100]},
        )
        for (contact, at, wamid, _, text), message in zip(stops, answered, strict=True)
    ]
    ComplaintSignal.objects.bulk_create(signals, ignore_conflicts=True)


def _signal_key(kind: str, contact: Contact, at: dt.datetime, wamid: str) -> str:
    """A customer's signal is recorded once per message of theirs (or per moment, without a wamid)."""
    return f"{kind}:{wamid or f'{contact.pk}:{at.isoformat()}'}"[:300]


def _signal(
    kind: str, contact: Contact, *, at: dt.datetime, wamid: str, context_wamid: str = "",
    complaint: Complaint | None = None, detail: Mapping[str, Any] | None = None,
    purpose: str | None = None,
) -> None:
    answered = attributed_message(contact, at=at, context_wamid=context_wamid, purpose=purpose)
    signal_record(
        kind=kind, dedupe_key=_signal_key(kind, contact, at, wamid), occurred_at=at, contact=contact,
        template=answered.template if answered is not None else None, message=answered, complaint=complaint,
        detail={"wamid": wamid, **(detail or {})},
    )


def complaint_apply_marketing_stop(*, contact: Contact, at: dt.datetime, event_id: int, category: str) -> None:
    """Meta's `user_preferences` stop: a signal against the last marketing template the
    customer received (consent has already applied the opt-out)."""
    answered = attributed_message(contact, at=at, purpose=Purpose.MARKETING)
    signal_record(
        kind=SignalKind.USER_PREFERENCES_STOP,
        dedupe_key=f"{SignalKind.USER_PREFERENCES_STOP}:{contact.pk}:{at.isoformat()}",
        occurred_at=at, contact=contact, template=answered.template if answered is not None else None,
        message=answered, detail={"webhook_event": event_id, "category": category},
    )
