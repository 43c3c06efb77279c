"""The policy gate: may these messages leave now? One function, used when a message is accepted
(the API, campaigns) and again by the worker the moment before it is sent.

Bulk-first: one call answers for a whole chunk of contacts with a fixed number of queries
(template, consent, frequency cap, service window), never one query per recipient.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count
from django.db.models.expressions import RawSQL
from django.utils import timezone

from consent.purposes import Purpose
from consent.selectors import SendFacts, consent_decisions, contact_send_facts, contacts_last_inbound
from consent.types import PolicyCode
from messaging.models import Message, MessageKind, MessageStatus, MessageTemplate, SendingPolicy
from messaging.selectors import template_usable

SERVICE_WINDOW = dt.timedelta(hours=24)  # Meta: free-form messages only within 24 h of the customer's last message

# API.md policy codes the gate adds to consent's and the template's.
FREQUENCY_CAPPED = "frequency_capped"
OUTSIDE_SERVICE_WINDOW = "outside_service_window"
CONTACT_UNDELIVERABLE = "contact_undeliverable"  # Meta answered 131026 for this number
QUIET_HOURS = "quiet_hours"  # not a refusal: the message waits until the quiet hours end

# A message that counts against the marketing cap: accepted and not stopped.
CAPPED_STATUSES = (
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.READ,
)


def in_array(values: Iterable[Any], pg_type: str) -> Any:
    """The right side of a `field__in=` for a chunk of keys: on PostgreSQL one array parameter
    (`IN (SELECT unnest(%s::type[]))`): a 500-key IN list costs more to build, convert and
    parse than the query takes to run. Elsewhere (SQLite) the plain list."""
    values = list(values)
    if connection.vendor == "postgresql":
        return RawSQL(f"SELECT unnest(%s::{pg_type}[])", [values])  # noqa: S611 - pg_type is ours
    return values


@dataclass(frozen=True)
class GateResult:
    allowed: bool
    code: str | None = None  # the API.md policy code when refused
    defer_until: dt.datetime | None = None  # allowed, but not before then (quiet hours)


ALLOW = GateResult(True)


def sending_policy() -> SendingPolicy:
    policy, _ = SendingPolicy.objects.get_or_create(pk=1)
    return policy


def quiet_hours_end(now: dt.datetime, policy: SendingPolicy) -> dt.datetime | None:
    """When `now` falls in the marketing quiet hours, the moment they end; else None."""
    zone = ZoneInfo(policy.quiet_hours_timezone)
    local = now.astimezone(zone)
    start, end = policy.quiet_hours_start, policy.quiet_hours_end
    t = local.timetz().replace(tzinfo=None)
    if start == end:
        return None
    if start < end:  # e.g. 13:00-15:00, within one day
        inside = start <= t < end
        end_day = local.date()
    else:  # e.g. 21:00-09:00, across midnight
        inside = t >= start or t < end
        end_day = local.date() + dt.timedelta(days=1) if t >= start else local.date()
    if not inside:
        return None
    return dt.datetime.combine(end_day, end, tzinfo=zone).astimezone(dt.UTC)


def any_consent(contact_ids: Sequence[int]) -> dict[int, str]:
    """Contacts holding no consent for any purpose, with the reason (one query per purpose)."""
    refused: dict[int, str] = {}
    allowed: set[int] = set()
    for purpose in Purpose.values:
        for contact_id, decision in consent_decisions(contact_ids=list(contact_ids), purpose=purpose).items():
            if decision.allowed:
                allowed.add(contact_id)
            else:
                refused.setdefault(contact_id, str(decision.reason))
    return {cid: code for cid, code in refused.items() if cid not in allowed}


def _confirmation_gate(contact_ids: Sequence[int], now: dt.datetime) -> dict[int, GateResult]:
    results: dict[int, GateResult] = {}
    rows = contacts_last_inbound(contact_ids)
    for contact_id in contact_ids:
        erased, last_inbound_at = rows.get(contact_id, (True, None))
        if erased:
            results[contact_id] = GateResult(False, "contact_erased")
        elif last_inbound_at is None or last_inbound_at < now - SERVICE_WINDOW:
            results[contact_id] = GateResult(False, OUTSIDE_SERVICE_WINDOW)
        else:
            results[contact_id] = ALLOW
    return results


def gate(
    *,
    purpose: str,
    contact_ids: Sequence[int],
    template: MessageTemplate | None,
    now: dt.datetime | None = None,
    exclude_messages: Collection[object] = (),
    policy: SendingPolicy | None = None,
    kind: str = MessageKind.STANDARD,
    facts: Mapping[int, SendFacts] | None = None,
    queued_before: Mapping[int, int] | None = None,
) -> dict[int, GateResult]:
    """The decision for each contact in `contact_ids`.

    `template` None means free-form text (purpose `support`, inside the 24-hour window).
    `exclude_messages` are the messages being decided (at send time they must not count
    against their own frequency cap). `kind` picks the rules: a CONFIRMATION answers the
    customer's own request (STOP, a complaint) and needs only the open service window and a
    contact not erased; a NOTICE (a policy change) goes to anyone holding any consent.
    `facts` are the contacts' consent for `purpose` and send facts when the caller read them
    already (the API reads them by phone digest); else one query reads them. The sending policy
    is read only when the rules need it (marketing). `queued_before` counts marketing messages
    accepted for a contact earlier in the same request, not yet written (the batch API).
    """
    now = now or timezone.now()
    results: dict[int, GateResult] = dict.fromkeys(contact_ids, ALLOW)
    if not contact_ids:
        return results
    if kind == MessageKind.CONFIRMATION:
        return _confirmation_gate(contact_ids, now)

    if template is not None:
        usable, code = template_usable(template)
        if not usable:
            return dict.fromkeys(contact_ids, GateResult(False, code))

    if facts is None:
        facts = contact_send_facts(contact_ids=list(contact_ids), purpose=purpose)
    if kind == MessageKind.NOTICE:
        refused = any_consent(contact_ids)
    else:
        refused = {cid: str(f.decision.reason) for cid, f in facts.items() if not f.decision.allowed}
    for contact_id in contact_ids:
        code = refused.get(contact_id) if contact_id in facts else str(PolicyCode.CONSENT_MISSING)
        if code:
            results[contact_id] = GateResult(False, code)

    window_start = now - SERVICE_WINDOW
    for contact_id, fact in facts.items():
        if contact_id not in results or not results[contact_id].allowed:
            continue
        if fact.undeliverable and template is not None:
            results[contact_id] = GateResult(False, CONTACT_UNDELIVERABLE)
        elif template is None and (fact.last_inbound_at is None or fact.last_inbound_at < window_start):
            results[contact_id] = GateResult(False, OUTSIDE_SERVICE_WINDOW)

    if purpose == Purpose.MARKETING:
        policy = policy or sending_policy()
        pending = [cid for cid, result in results.items() if result.allowed]
        since = now - dt.timedelta(days=policy.marketing_cap_days)
        counts = (
            # A plain IN list here, not in_array(): PostgreSQL plans `contact_id IN (SELECT
            # unnest(...))` as a scan of the whole message table per chunk (campaign preparation
            # went quadratic: 60k recipients 69 s, 13 s with the list), while the list is an
            # index scan on messaging_message_cap_idx.
            Message.objects.filter(
                contact_id__in=pending, purpose=Purpose.MARKETING, status__in=CAPPED_STATUSES, created_at__gte=since
            )
            .exclude(id__in=in_array(exclude_messages, "uuid"))
            .values("contact_id")
            .annotate(n=Count("id"))
            .values_list("contact_id", "n")
        ) if pending else []
        sent = Counter(dict(counts))
        sent.update(queued_before or {})
        for contact_id, n in sent.items():
            if n >= policy.marketing_cap_count and contact_id in results:
                results[contact_id] = GateResult(False, FREQUENCY_CAPPED)
        defer = quiet_hours_end(now, policy)
        if defer is not None:
            for contact_id, result in results.items():
                if result.allowed:
                    results[contact_id] = GateResult(True, QUIET_HOURS, defer)
    return results
