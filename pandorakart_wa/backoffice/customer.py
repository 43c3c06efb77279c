"""The single customer page: everything about one contact, in the order it happened.

The consent ledger (consent), the messages we sent with every status Meta reported
(messaging), what the customer sent us (the webhooks' stored items), and their complaints
(complaints), merged into one timeline. The back office may read every app; each app is read
through its own selectors.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse
from django.utils import timezone

from complaints.models import Outcome, Status
from complaints.selectors import complaint_resolutions, complaints_of_contact
from consent.models import Action, Contact
from consent.models import Status as ConsentStatus
from consent.purposes import Purpose
from consent.selectors import contact_events_latest, contact_states
from messaging.selectors import OUTBOUND_SHOWN, REASON_WORDS, messages_for_contact
from pandorakart_wa.webhooks.selectors import INBOUND_SHOWN, inbound_messages_for

LEDGER_SHOWN = 200
COMPLAINTS_SHOWN = 50
# How a message's status reads on the timeline: delivered and read are good news, a refusal at
# send time is the gate doing its job (not an error), a failure is.
STATUS_LEVEL = {
    "delivered": "ok", "read": "ok", "sent": "ok", "queued": "info", "sending": "info",
    "suppressed": "warn", "cancelled": "info", "failed": "bad",
}


@dataclass
class Entry:
    """One line of the customer's timeline."""

    at: dt.datetime
    side: str  # "in" (the customer to us), "out" (us to the customer), "consent", "complaint"
    side_label: str
    title: str
    text: str = ""
    status: str = ""
    level: str = "info"  # ok / warn / bad / info: the badge colour
    details: list[str] = field(default_factory=list)
    url: str = ""
    anchor: str = ""


def _purpose_label(value: str) -> str:
    try:
        return str(Purpose(value).label).split(" (")[0]
    except ValueError:
        return value


def _ledger_entries(contact: Contact) -> tuple[list[Entry], bool]:
    events = contact_events_latest(contact=contact, limit=LEDGER_SHOWN + 1)
    more = len(events) > LEDGER_SHOWN
    entries = []
    for event in events[:LEDGER_SHOWN]:
        verb = {Action.OPT_IN: "Opted in to", Action.OPT_OUT: "Opted out of", Action.RESUBSCRIBE: "Resubscribed to",
                Action.ERASE: "Erased:"}.get(Action(event.action), event.action)
        level = "ok" if event.action in (Action.OPT_IN, Action.RESUBSCRIBE) else "warn"
        details = [f"source: {event.get_source_display()}", f"ledger event #{event.sequence}"]
        if event.notice_version:
            details.append(f"notice {event.notice_version}")
        if event.actor_label:
            details.append(f"by {event.get_actor_type_display()}: {event.actor_label}")
        if event.recorded_at and event.action == Action.OPT_OUT:
            # the honour time: from the customer's request to the opt-out in force
            lag = (event.recorded_at - event.occurred_at).total_seconds()
            details.append(f"in force {lag * 1000:.0f} ms after the request" if lag < 10 else
                           f"in force {lag:.0f} s after the request")
        entries.append(Entry(
            at=event.occurred_at, side="consent", side_label="Consent", title=f"{verb} {_purpose_label(event.purpose)}",
            status=event.get_action_display(), level=level, details=details,
            url=reverse("admin:consent_consentevent_change", args=[event.pk]), anchor=f"event-{event.sequence}",
        ))
    return entries, more


def _inbound_entries(contact: Contact) -> tuple[list[Entry], bool]:
    items = inbound_messages_for(contact, limit=INBOUND_SHOWN + 1)
    more = len(items) > INBOUND_SHOWN
    entries = []
    for item in items[:INBOUND_SHOWN]:
        details = []
        if item.keyword:
            details.append(f"keyword {item.keyword!r} ({item.keyword_action.replace('_', '-')})")
        if item.note:
            details.append(item.note)
        if item.standby:
            details.append("while Meta's agent held the chat")
        if (item.received_at - item.occurred_at).total_seconds() >= 60:
            details.append(f"reached us {int((item.received_at - item.occurred_at).total_seconds() // 60)} min later")
        level = "warn" if item.opt_out else ("bad" if item.state in ("failed", "dead") else "info")
        title = "Customer's WhatsApp setting" if item.kind == "preference" else f"Customer wrote ({item.type})"
        entries.append(Entry(
            at=item.occurred_at, side="in", side_label="From customer", title=title, text=item.text,
            status="opt-out" if item.opt_out else item.state_label, level=level, details=details,
            url=reverse("admin:core_webhookitem_change", args=[item.item_id]), anchor=f"in-{item.item_id}",
        ))
    return entries, more


def _outbound_entries(contact: Contact) -> tuple[list[Entry], bool]:
    rows = messages_for_contact(contact, limit=OUTBOUND_SHOWN + 1)
    more = len(rows) > OUTBOUND_SHOWN
    entries = []
    for m in rows[:OUTBOUND_SHOWN]:
        trail = " → ".join(f"{status} {timezone.localtime(at):%H:%M:%S}" if at else status
                           for status, at, _source in m.events)
        details = [f"purpose: {_purpose_label(m.purpose)}"]
        if m.kind != "standard":
            details.append(m.kind_label.lower())
        if m.campaign:
            details.append(f"campaign: {m.campaign}")
        if trail:
            details.append(f"statuses: {trail}")
        if m.reason:
            details.append(REASON_WORDS.get(m.reason, f"reason: {m.reason}"))
        if m.error:
            details.append(f"error {m.error}")
        title = f"Template {m.template}" if m.template else "Free-text reply"
        if m.kind == "echo":
            title = "Sent from the WhatsApp Business app"
        entries.append(Entry(
            at=m.sent_at or m.created_at, side="out", side_label="To customer", title=title, text=m.text,
            status=m.status_label, level=STATUS_LEVEL.get(m.status, "info"), details=details,
            url=reverse("admin:messaging_message_change", args=[m.id]), anchor=f"out-{m.id}",
        ))
    return entries, more


def _complaints(contact: Contact) -> tuple[list[dict[str, Any]], list[Entry]]:
    complaints = complaints_of_contact(contact=contact, limit=COMPLAINTS_SHOWN)
    outcomes = dict(Outcome.choices)
    rows, entries = [], []
    for c in complaints:
        url = reverse("admin:complaints_complaint_change", args=[c.pk])
        rows.append({"complaint": c, "url": url, "outcome": outcomes.get(c.outcome, "")})
        entries.append(Entry(
            at=c.created_at, side="complaint", side_label="Complaint", title=f"Complaint {c.reference} received",
            text=c.get_category_display(), status=c.get_status_display(),
            level="ok" if c.status in (Status.RESOLVED, Status.CLOSED) else "warn",
            details=[f"by {c.get_channel_display()}"], url=url, anchor=f"complaint-{c.pk}",
        ))
    resolutions = complaint_resolutions(complaint_ids=[c.pk for c in complaints])
    for action in resolutions:
        outcome = str((action.detail or {}).get("outcome") or action.complaint.outcome)
        entries.append(Entry(
            at=action.at, side="complaint", side_label="Complaint",
            title=f"Complaint {action.complaint.reference} resolved", text=str(outcomes.get(outcome, outcome)),
            status="Resolved", level="ok", details=[f"by {action.actor_label}"] if action.actor_label else [],
            url=reverse("admin:complaints_complaint_change", args=[action.complaint_id]),
        ))
    return rows, entries


def customer_page(contact: Contact) -> dict[str, Any]:
    """What the customer page shows: consent now per purpose, one timeline (oldest first, as in
    the chat) of ledger events, messages both ways and complaints, and the complaints table."""
    states = contact_states(contact)
    consent_now = [
        {"purpose": p.value, "label": _purpose_label(p.value),
         "status": states[p.value].status if p.value in states else ConsentStatus.NONE,
         "since": states[p.value].since if p.value in states else None,
         "source": states[p.value].get_source_display() if p.value in states else ""}
        for p in Purpose
    ]
    ledger, more_ledger = _ledger_entries(contact)
    inbound, more_in = _inbound_entries(contact)
    outbound, more_out = _outbound_entries(contact)
    complaints, complaint_entries = _complaints(contact)
    # Same instant (a STOP and the opt-out it caused): the cause first.
    order = {"in": 0, "consent": 1, "complaint": 2, "out": 3}
    timeline = sorted([*ledger, *inbound, *outbound, *complaint_entries], key=lambda e: (e.at, order[e.side]))
    return {
        "consent_now": consent_now,
        "timeline": timeline,
        "complaints": complaints,
        "counts": {"in": len(inbound), "out": len(outbound), "ledger": len(ledger), "complaints": len(complaints)},
        "truncated": more_ledger or more_in or more_out,
        "limits": {"ledger": LEDGER_SHOWN, "in": INBOUND_SHOWN, "out": OUTBOUND_SHOWN},
    }
