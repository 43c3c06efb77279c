"""Which message a customer's reaction answers (a STOP reply, a spam report, a marketing stop in
WhatsApp's settings): the one they replied to, else the last template message sent to them.
Reads for complaints' block and report signals; the window is the caller's policy. Bulk-first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import connection

from consent.models import Contact
from messaging.models import Message


def message_replied_to(*, contact: Contact, wamid: str) -> Message | None:
    """The message to `contact` whose Meta id is `wamid` (what a reply's `context.id` names),
    with its template, or None."""
    return Message.objects.select_related("template").filter(wamid=wamid, contact=contact).first()


def message_answered(
    *,
    contact: Contact,
    at: dt.datetime,
    window: dt.timedelta,
    tolerance: dt.timedelta,
    context_wamid: str = "",
    purpose: str | None = None,
) -> Message | None:
    """The template message a reaction of `contact` at `at` answers, with its template: the one
    they replied to (`context_wamid`), else the last template message (of `purpose`, if given)
    sent to them from `window` before `at` to `tolerance` after it (Meta's clock is not ours)."""
    if context_wamid:
        replied = message_replied_to(contact=contact, wamid=context_wamid)
        if replied is not None and replied.template_id is not None:
            return replied
    recent = Message.objects.select_related("template").filter(
        contact=contact, template__isnull=False, sent_at__isnull=False, sent_at__gte=at - window,
        sent_at__lte=at + tolerance,
    )
    if purpose is not None:
        recent = recent.filter(purpose=purpose)
    return recent.order_by("-sent_at").first()


def messages_answered(
    *, reactions: Sequence[tuple[int, dt.datetime, str]], window: dt.timedelta, tolerance: dt.timedelta
) -> list[Message | None]:
    """message_answered (any purpose) for many (contact id, at, context_wamid) at once, in their
    order: one query for the replied-to messages, one lateral join for each last message, one to
    load those (PostgreSQL)."""
    if not reactions:
        return []
    by_context: dict[tuple[int, str], Message] = {}
    contexts = [wamid for _, _, wamid in reactions if wamid]
    if contexts:
        for message in Message.objects.select_related("template").filter(
            wamid__in=contexts, contact_id__in=[contact_id for contact_id, _, _ in reactions], template__isnull=False
        ):
            by_context[(message.contact_id, str(message.wamid))] = message
    table = connection.ops.quote_name(Message._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT v.i, m.id FROM unnest(%s::bigint[], %s::timestamptz[], %s::int[]) AS v(contact_id, at, i) "  # noqa: S608
            f"CROSS JOIN LATERAL (SELECT id FROM {table} m WHERE m.contact_id = v.contact_id "
            "AND m.template_id IS NOT NULL AND m.sent_at IS NOT NULL AND m.sent_at >= v.at - %s * interval '1 second' "
            "AND m.sent_at <= v.at + %s * interval '1 second' ORDER BY m.sent_at DESC LIMIT 1) AS m",
            [[contact_id for contact_id, _, _ in reactions], [at for _, at, _ in reactions], list(range(len(reactions))),
             window.total_seconds(), tolerance.total_seconds()],
        )
        recent_of = dict(cursor.fetchall())
    recent = Message.objects.select_related("template").in_bulk(list(set(recent_of.values())))
    return [
        by_context.get((contact_id, wamid)) if wamid and (contact_id, wamid) in by_context
        else recent.get(recent_of[i]) if i in recent_of else None
        for i, (contact_id, _, wamid) in enumerate(reactions)
    ]
