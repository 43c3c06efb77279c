"""Complaints' share of Meta's webhooks (pandorakart_wa.webhooks.HANDLERS, after consent's and
messaging's handlers of the same field, so keywords are applied and the contact exists).

`messages`: an inbound text that was an opt-out keyword is a STOP signal and nothing else; a
text naming a complaint (COMPLAINT, शिकायत...) or reporting spam opens a WhatsApp complaint; a
customer with an open complaint writing again adds to it (and resumes it if it awaited them).
`user_preferences`: a marketing stop is a signal against the last marketing template.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from django.utils import timezone

from complaints.intake import SPAM_REPORT, Trigger, match
from complaints.models import OPEN_STATUSES, Category, Channel, Complaint, IntakeTrigger, SignalKind
from complaints.services import complaint_create, complaint_customer_message
from complaints.signals_intake import attributed_message, signal_record
from consent.models import Contact, OptOutKeyword
from consent.purposes import Purpose
from consent.selectors import contact_for_wa_identity
from consent.services import keyword_match
from consent.webhooks import message_text
from messaging.models import Message
from pandorakart_wa.audit import META_WEBHOOK, system_user

logger = logging.getLogger(__name__)


def _at(timestamp: Any) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
    except (TypeError, ValueError, OverflowError):
        return timezone.now()


def _profiles(value: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """wa_id -> {"user_id", "name"} from the change's `contacts`."""
    found: dict[str, dict[str, str]] = {}
    for contact in value.get("contacts") or []:
        if isinstance(contact, Mapping):
            found[str(contact.get("wa_id") or "")] = {
                "user_id": str(contact.get("user_id") or ""),
                "name": str((contact.get("profile") or {}).get("name") or ""),
            }
    return found


def active_triggers() -> list[Trigger]:
    return [
        Trigger(normalized=n, kind=k, whole_message=w)
        for n, k, w in IntakeTrigger.objects.filter(active=True).values_list("normalized", "kind", "whole_message")
    ]


def _open_complaint(contact: Contact) -> Complaint | None:
    return (
        Complaint.objects.defer("evidence").filter(contact=contact, status__in=OPEN_STATUSES)
        .exclude(channel=Channel.INTERNAL)
        .order_by("-created_at")
        .first()
    )


def inbound_messages(value: Mapping[str, Any], *, event_id: int) -> list[Complaint]:
    """Open or add to complaints from inbound WhatsApp messages; record STOP and spam signals.
    Returns the complaints opened."""
    opened: list[Complaint] = []
    profiles = _profiles(value)
    triggers: list[Trigger] | None = None
    actor = system_user(META_WEBHOOK)
    for message in value.get("messages") or []:
        if not isinstance(message, Mapping):
            continue
        wa_id = str(message.get("from") or "") or None
        profile = profiles.get(wa_id or "", {})
        user_id = str(message.get("from_user_id") or "") or profile.get("user_id") or None
        contact = contact_for_wa_identity(wa_id=wa_id, user_id=user_id)
        if contact is None:
            continue
        wamid = str(message.get("id") or "")
        at = _at(message.get("timestamp"))
        context_wamid = str((message.get("context") or {}).get("id") or "")
        text = message_text(message)
        if text is None:  # media, location...: only of interest to an open complaint
            complaint = _open_complaint(contact)
            if complaint is not None:
                complaint_customer_message(complaint=complaint, text=f"[{message.get('type')} message]", wamid=wamid,
                                           actor=actor, at=at)
            continue
        keyword = keyword_match(text)
        if keyword is not None:  # consent applied it: a STOP is a signal, never a complaint
            if keyword.action == OptOutKeyword.KeywordAction.OPT_OUT:
                _signal(SignalKind.STOP_REPLY, contact, at=at, wamid=wamid, context_wamid=context_wamid,
                        detail={"keyword": keyword.phrase})
            continue
        if triggers is None:
            triggers = active_triggers()
        kind = match(text, triggers)
        complaint = _open_complaint(contact)
        if complaint is not None:
            if not complaint.actions.filter(detail__wamid=wamid).exists():
                complaint_customer_message(complaint=complaint, text=text, wamid=wamid, actor=actor, at=at)
        elif kind is not None and not Complaint.objects.filter(intake_wamid=wamid).exists():
            replied = (
                Message.objects.filter(wamid=context_wamid, contact=contact).first() if context_wamid else None
            )
            complaint = complaint_create(
                channel=Channel.WHATSAPP,
                category=Category.UNWANTED_MESSAGES if kind == SPAM_REPORT else Category.OTHER,
                description=text[:5000],
                contact=contact,
                message_id=replied.pk if replied is not None else None,
                customer_name=profile.get("name", ""),
                intake_wamid=wamid or None,
                actor=actor,
            )
            logger.info("Complaint %s opened from WhatsApp (webhook event %s)", complaint, event_id)
            opened.append(complaint)
        if kind == SPAM_REPORT:
            _signal(SignalKind.SPAM_REPORT, contact, at=at, wamid=wamid, context_wamid=context_wamid,
                    complaint=complaint)
    return opened


def _signal(
    kind: str, contact: Contact, *, at: dt.datetime, wamid: str, context_wamid: str = "",
    complaint: Complaint | None = None, detail: Mapping[str, Any] | None = None,
    purpose: str | None = None,
) -> None:
    answered = attributed_message(contact, at=at, context_wamid=context_wamid, purpose=purpose)
    signal_record(
        kind=kind, dedupe_key=f"{kind}:{wamid or f'{contact.pk}:{at.isoformat()}'}", occurred_at=at, contact=contact,
        template=answered.template if answered is not None else None, message=answered, complaint=complaint,
        detail={"wamid": wamid, **(detail or {})},
    )


def user_preferences(value: Mapping[str, Any], *, event_id: int) -> None:
    """Meta's `user_preferences`: a marketing stop is a signal against the last marketing
    template the customer received (consent's handler has already applied the opt-out)."""
    profiles = _profiles(value)
    for preference in value.get("user_preferences") or []:
        if not isinstance(preference, Mapping) or str(preference.get("value") or "") != "stop":
            continue
        wa_id = str(preference.get("wa_id") or "") or None
        user_id = str(preference.get("user_id") or "") or profiles.get(wa_id or "", {}).get("user_id") or None
        contact = contact_for_wa_identity(wa_id=wa_id, user_id=user_id)
        if contact is None:
            continue
        at = _at(preference.get("timestamp"))
        answered = attributed_message(contact, at=at, purpose=Purpose.MARKETING)
        signal_record(
            kind=SignalKind.USER_PREFERENCES_STOP,
            dedupe_key=f"{SignalKind.USER_PREFERENCES_STOP}:{contact.pk}:{at.isoformat()}",
            occurred_at=at, contact=contact, template=answered.template if answered is not None else None,
            message=answered, detail={"webhook_event": event_id, "category": preference.get("category")},
        )
