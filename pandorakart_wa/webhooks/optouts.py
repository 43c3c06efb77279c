"""Many opt-out keywords applied together: a storm of STOPs after a campaign.

One STOP applied alone (router.item_apply) costs a dozen statements; a thousand in one body
would leave most of them to the workers for many seconds. `apply_opt_outs_together` applies
the STOP keywords of many items in one transaction with the same effects each would have alone
(consent.services.consent_apply_inbound_opt_outs: window, ledger event, state; the confirmation
reply; the STOP signal; the item marked applied with its note), in a fixed number of statements.

What this path does not take is returned to be applied one by one, as before: items another
process holds, items that are not a plain opt-out keyword from a number (Meta's marketing stop,
error 131050, another number's payload, a BSUID alone), a number's second STOP in the group and
a BSUID another contact holds (the link merges contacts). If anything in the group fails, the
group is rolled back and every item goes the one-by-one way, where a failure lands on its item.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from complaints.webhooks import complaint_record_stop_replies
from consent.models import Contact
from consent.selectors import contacts_by_digest
from consent.services.inbound_storm import consent_apply_inbound_opt_outs
from consent.types import InboundOptOut
from messaging.outbox import message_replies
from pandorakart_wa.core.audit import META_WEBHOOK, acting_as, system_user
from pandorakart_wa.webhooks.models import WebhookItem
from pandorakart_wa.webhooks.router import OPEN_STATES, keyword_of
from pandorakart_wa.whatsapp.inbound import ItemKind

logger = logging.getLogger(__name__)

# Fewer opt-outs than this are applied one by one (the group's fixed cost is not worth it).
GROUP_MIN = 4


def apply_opt_outs_together(item_ids: Sequence[int], *, follow_up: bool = True) -> tuple[int, list[int]]:
    """(applied, left): apply what this path can of these opt-out items in one transaction;
    `left` are the ids to apply one by one (router.item_apply), in the order given. Without
    `follow_up` (the webhook view) the items applied are left OPTED_OUT: in force, their
    confirmations and signals to the workers (finish_opted_out)."""
    if connection.vendor != "postgresql" or len(item_ids) < GROUP_MIN:
        return 0, list(item_ids)
    select = WebhookItem.objects.filter(pk__in=list(item_ids)).order_by("pk")
    done = _apply_selected(select, follow_up=follow_up)
    return len(done), [pk for pk in item_ids if pk not in done]


def apply_due_opt_outs_together(due: Q, *, limit: int) -> tuple[int, list[int], set[int]]:
    """The drain's side: up to `limit` of the due opt-out items no one else holds, in Meta's
    order (so a worker takes the next ones while the webhook view applies its first group).
    (applied, left, events): `left` are the ids it held and did not apply, to apply one by one;
    `events` those of every item it held."""
    select = WebhookItem.objects.filter(due).order_by("occurred_at", "id")
    if connection.vendor != "postgresql":
        rows = list(select.filter(opt_out=True).values_list("pk", "event_id")[:limit])
        return 0, [pk for pk, _ in rows], {event_id for _, event_id in rows}
    held: list[WebhookItem] = []
    done = _apply_selected(select, held=held, limit=limit)
    return len(done), [i.pk for i in held if i.pk not in done], {i.event_id for i in held}


def _apply_selected(select: QuerySet[WebhookItem], *, held: list[WebhookItem] | None = None,
                    limit: int | None = None, follow_up: bool = True) -> set[int]:
    """Lock the open opt-out items of `select` that no one holds, and apply them together; the
    ids applied (none when the group failed: then each goes one by one)."""
    with transaction.atomic(), acting_as(system_user(META_WEBHOOK)):
        items = list(select.select_for_update(skip_locked=True).filter(state__in=OPEN_STATES, opt_out=True)[:limit])
        if held is not None:
            held.extend(items)
        if len(items) < GROUP_MIN:
            return set()
        try:
            with transaction.atomic():
                return _apply_group(items, follow_up=follow_up)
        except Exception:
            logger.exception("Applying %s opt-outs together failed; applying them one by one", len(items))
            return set()


def _apply_group(locked: Sequence[WebhookItem], *, follow_up: bool) -> set[int]:
    """The opt-out keywords among `locked` applied together; the ids applied. With `follow_up`
    each is finished (confirmation, signal, applied); without (the webhook view, whose answer
    waits for the opt-outs and nothing else) each is left OPTED_OUT for finish_opted_out."""
    items = [item for item in locked if item.kind == ItemKind.MESSAGE and item.in_scope]
    requests: list[InboundOptOut] = []
    taken: list[tuple[WebhookItem, dict[str, Any]]] = []
    for item in items:
        payload = item.data
        keyword = keyword_of(payload)
        data = payload.get("data") or {}
        if keyword is None or keyword.action != "opt_out" or not payload.get("wa_id") or not isinstance(data, dict):
            continue
        requests.append(InboundOptOut(wa_id=str(payload["wa_id"]), user_id=str(payload.get("user_id") or ""),
                                      wamid=str(data.get("id") or ""), at=item.occurred_at, keyword=keyword))
        taken.append((item, data))
    if not requests:
        return set()
    outcomes = consent_apply_inbound_opt_outs(requests)
    now_done: list[_FollowUp] = []
    later: list[tuple[WebhookItem, str]] = []
    for (item, data), outcome in zip(taken, outcomes, strict=True):
        if outcome is None or outcome.result is None or outcome.contact is None:
            continue  # left to the one-by-one path
        result = outcome.result
        if outcome.superseded:
            note, reply = f"{result.keyword}: superseded by a later decision on WhatsApp", ""
        else:
            note = f"{result.keyword}: {result.action} {', '.join(result.purposes) or 'nothing to change'}"
            reply = result.reply_text if not data.get("standby") else ""
        if follow_up or outcome.superseded:
            now_done.append(_FollowUp(item, data, outcome.contact, note, reply))
        else:
            later.append((item, note))
    _follow_ups(now_done)
    _mark(later, WebhookItem.State.OPTED_OUT)
    return {f.item.pk for f in now_done} | {item.pk for item, _ in later}


@dataclass(frozen=True)
class _FollowUp:
    item: WebhookItem
    data: Mapping[str, Any]
    contact: Contact
    note: str
    reply: str  # the confirmation to queue, "" for none


def _follow_ups(done: Sequence[_FollowUp]) -> None:
    """What each opt-out does after its ledger event, for all of them: the confirmation inside
    the window, the STOP signal against the message it answers, the item applied."""
    if not done:
        return
    wanted = [(n, f) for n, f in enumerate(done) if f.reply]
    queued = message_replies([(f.contact, f.reply, str(f.data.get("id") or "")) for _, f in wanted])
    notes = [f.note for f in done]
    for (n, _), message in zip(wanted, queued, strict=True):
        notes[n] += "; confirmation queued" if message is not None else "; no confirmation (window closed)"
    complaint_record_stop_replies([
        (f.contact, f.item.occurred_at, str(f.data.get("id") or ""), str(f.data.get("context_id") or ""),
         str(f.data.get("text") or ""))
        for f in done
    ])
    _mark([(f.item, note) for f, note in zip(done, notes, strict=True)], WebhookItem.State.APPLIED)


def finish_opted_out(scope: Q | None = None, *, limit: int = 250) -> tuple[int, set[int]]:
    """The workers' half of the opt-outs the webhook view applied together (OPTED_OUT):
    confirmations and signals for up to `limit` of them, each then applied, in one transaction.
    (finished, their events)."""
    with transaction.atomic(), acting_as(system_user(META_WEBHOOK)):
        items = list(WebhookItem.objects.select_for_update(skip_locked=True)
                     .filter(scope or Q(), state=WebhookItem.State.OPTED_OUT).order_by("received_at", "id")[:limit])
        if not items:
            return 0, set()
        contacts = contacts_by_digest({item.phone_digest for item in items})
        done, gone = [], []
        for item in items:
            payload = item.data
            data = payload.get("data") or {}
            keyword = keyword_of(payload)
            contact = contacts.get(item.phone_digest)
            if contact is None:  # erased meanwhile: nothing to confirm to, the signal has no one
                gone.append((item, item.note))
                continue
            reply = keyword.reply_text if keyword is not None and not data.get("standby") else ""
            done.append(_FollowUp(item, data, contact, item.note, reply))
        _mark(gone, WebhookItem.State.APPLIED)
        _follow_ups(done)
    return len(items), {item.event_id for item in items}


def _mark(items: Sequence[tuple[WebhookItem, str]], state: str) -> None:
    """Each item moved to `state` with its own note, in one statement (bulk_update's CASE per
    row costs milliseconds of Python per item)."""
    if not items:
        return
    now = timezone.now()
    table = connection.ops.quote_name(WebhookItem._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS i SET state = %s, note = v.note, applied_at = %s, last_error = '', "  # noqa: S608
            "next_attempt_at = NULL FROM unnest(%s::bigint[], %s::text[]) AS v(id, note) WHERE i.id = v.id",
            [state, now, [item.pk for item, _ in items], [note[:200] for _, note in items]],
        )
    for item, note in items:
        item.state, item.note, item.applied_at = state, note[:200], now
