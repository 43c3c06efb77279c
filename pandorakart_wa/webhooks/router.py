"""Webhook items to the apps' services: the one place that knows which app acts on what.

Each item is applied in its own transaction (`item_apply`), which also records its outcome,
so an item is applied exactly once whatever crashes: a process killed mid-item rolls the item
back with its effects, and the next drain applies it. An item whose application raises is
retried with backoff, then dead-lettered for staff (admin: Webhook items; `replay_webhooks`)
with a compliance alert; the items beside it are unaffected.

Real imports, no dotted strings: the import graph and the type checker see every route.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from complaints.webhooks import complaint_apply_inbound, complaint_apply_marketing_stop
from consent.models import Contact, OptOutKeyword
from consent.preferences import preference_keyword_reply
from consent.services.identity import (
    consent_apply_identity_change,
    consent_contact_for_identity,
    consent_link_identities,
    consent_link_identity,
)
from consent.services.inbound import consent_apply_inbound_message, consent_apply_user_preference
from consent.types import InboundKeyword
from messaging.echoes import message_record_echo
from messaging.outbox import message_reply
from messaging.services.meta_updates import (
    template_apply_category_update,
    template_apply_quality_update,
    template_apply_status_update,
)
from messaging.statuses import messages_apply_statuses
from messaging.webhooks import account_update
from pandorakart_wa.core.audit import META_WEBHOOK, acting_as, system_user
from pandorakart_wa.webhooks.models import WebhookItem
from pandorakart_wa.whatsapp.inbound import ItemKind
from profile.services.alerts import alert_raise

logger = logging.getLogger(__name__)

State = WebhookItem.State
OPEN_STATES = (State.PENDING, State.FAILED)
MAX_ATTEMPTS = 8  # 2 s, 4 s ... about 4 minutes of retries, then staff
RETRY_BASE_SECONDS = 2.0
RETRY_CAP_SECONDS = 120.0


@dataclass(frozen=True)
class Outcome:
    state: str  # APPLIED or SKIPPED
    note: str = ""


def _applied(note: str) -> Outcome:
    return Outcome(State.APPLIED, note[:200])


def _skipped(note: str) -> Outcome:
    return Outcome(State.SKIPPED, note[:200])


# --- One item, one transaction ------------------------------------------------------------------


def item_apply(item_id: int, *, force: bool = False, wait: bool = False) -> str | None:
    """Apply one item; returns the state it ended in, or None when another process holds it or
    it is already final. `wait`: wait for another process that holds it (the webhook view, whose
    opt-outs must be in force when it answers) instead of skipping it. `force` (a staff replay)
    applies a dead-lettered item again."""
    states = (*OPEN_STATES, State.DEAD) if force else OPEN_STATES
    with transaction.atomic():
        item = WebhookItem.objects.select_for_update(skip_locked=not wait).filter(pk=item_id, state__in=states).first()
        if item is None:
            return None
        try:
            with transaction.atomic(), acting_as(system_user(META_WEBHOOK)):
                outcome = route(item, item.data)
        except Exception as exc:
            logger.exception("Webhook item %s (%s, event %s) failed", item.pk, item.kind, item.event_id)
            _failed(item, exc)
        else:
            items_finish([item], outcome)
    return item.state


def items_finish(items: Sequence[WebhookItem], outcome: Outcome) -> None:
    now = timezone.now()
    WebhookItem.objects.filter(pk__in=[i.pk for i in items]).update(
        state=outcome.state, note=outcome.note, applied_at=now, last_error="", next_attempt_at=None
    )
    for item in items:
        item.state = outcome.state


def _failed(item: WebhookItem, exc: Exception) -> None:
    attempts = item.attempts + 1
    error = f"{type(exc).__name__}: {exc}"[:4000]
    if attempts >= MAX_ATTEMPTS:
        item.state = State.DEAD
        WebhookItem.objects.filter(pk=item.pk).update(state=State.DEAD, attempts=attempts, last_error=error,
                                                      next_attempt_at=None)
        alert_raise(
            kind="webhook_dead_letter",
            title="A webhook update from Meta could not be applied",
            detail=(f"Item {item.pk} ({item.kind}) of webhook event {item.event_id} failed {attempts} times: {error}. "
                    "Admin → Webhook items (dead-lettered) shows it; replay it once the cause is fixed."),
            dedupe_key="webhook-dead-letter",
            subject=item,
        )
        return
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempts - 1))
    item.state = State.FAILED
    WebhookItem.objects.filter(pk=item.pk).update(
        state=State.FAILED, attempts=attempts, last_error=error,
        next_attempt_at=timezone.now() + timedelta(seconds=random.uniform(ceiling / 2, ceiling)),
    )


# --- Routes -------------------------------------------------------------------------------------


def route(item: WebhookItem, payload: Mapping[str, Any]) -> Outcome:
    """Apply one item through the services of the apps concerned."""
    if not item.in_scope:
        return _out_of_scope(item, payload)
    handler = ROUTES.get(item.kind, _other)
    return handler(item, payload)


def _ids(payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
    return payload.get("wa_id") or None, payload.get("user_id") or None


def keyword_of(payload: Mapping[str, Any]) -> InboundKeyword | None:
    match = payload.get("keyword")
    if not isinstance(match, Mapping):
        return None
    return InboundKeyword(phrase=str(match["phrase"]), action=str(match["action"]), scope=str(match["scope"]),
                          reply_text=str(match.get("reply_text") or ""), language=str(match.get("language") or "en"))


def _message(item: WebhookItem, payload: Mapping[str, Any], *, foreign: bool = False) -> Outcome:
    data = payload.get("data") or {}
    wa_id, user_id = _ids(payload)
    if wa_id and user_id:
        consent_link_identity(wa_id=wa_id, user_id=user_id)
    keyword = keyword_of(payload)
    if foreign and (keyword is None or keyword.action != "opt_out"):
        keyword = None
    asks_for_link = keyword if keyword is not None and keyword.action == OptOutKeyword.KeywordAction.PREFERENCES else None
    if asks_for_link is not None:
        keyword = None  # PREFERENCES changes no consent: it is answered with the customer's link below
    outcome = consent_apply_inbound_message(
        wa_id=wa_id, user_id=user_id, wamid=str(data.get("id") or ""), at=item.occurred_at, keyword=keyword,
        record_window=not foreign,
    )
    contact = outcome.contact
    if contact is None:
        return _skipped("no sender named (neither a number nor a BSUID)")
    result = outcome.result
    if foreign:
        return _applied(f"opt-out honoured ({result.keyword}) though sent to another number" if result else "")
    notes = []
    if result is not None:
        if outcome.superseded:
            notes.append(f"{result.keyword}: superseded by a later decision on WhatsApp")
        else:
            notes.append(f"{result.keyword}: {result.action} {', '.join(result.purposes) or 'nothing to change'}")
            # Confirm inside the window; on standby Meta's agent holds the chat and replying
            # would take it over, so the agent's side confirms.
            if result.reply_text and not data.get("standby"):
                reply = message_reply(contact=contact, text=result.reply_text, reply_to_wamid=str(data.get("id") or ""))
                notes.append("confirmation queued" if reply is not None else "no confirmation (window closed)")
    if asks_for_link is not None:
        notes.append(_preference_link_reply(contact, asks_for_link, data))
    keyword_action = result.action if result is not None else (asks_for_link.action if asks_for_link else None)
    complaint = complaint_apply_inbound(
        contact=contact, wamid=str(data.get("id") or ""), at=item.occurred_at, text=str(data.get("text") or ""),
        message_type=str(data.get("type") or ""), context_wamid=str(data.get("context_id") or ""),
        name=str(data.get("name") or ""), keyword_action=keyword_action,
    )
    if complaint is not None:
        notes.append(f"complaint {complaint.reference}")
    return _applied("; ".join(notes) or f"{data.get('type') or 'message'} recorded")


def _preference_link_reply(contact: Contact, keyword: InboundKeyword, data: Mapping[str, Any]) -> str:
    """PREFERENCES: the customer's signed preference-centre link, as a reply inside the window."""
    if data.get("standby"):
        return f"{keyword.phrase}: no link sent (Meta's agent holds the chat)"
    text = preference_keyword_reply(contact=contact, reply_text=keyword.reply_text, language=keyword.language)
    if text is None:
        return f"{keyword.phrase}: no link (contact erased)"
    reply = message_reply(contact=contact, text=text, reply_to_wamid=str(data.get("id") or ""))
    return f"{keyword.phrase}: " + ("preference link queued" if reply is not None else "no link sent (window closed)")


def _status(item: WebhookItem, payload: Mapping[str, Any]) -> Outcome:
    moved = apply_statuses([payload])
    status = (payload.get("data") or {}).get("status")
    return _applied(f"status {status}: message moved" if moved else f"status {status}: no message of ours moved")


def apply_statuses(payloads: Sequence[Mapping[str, Any]]) -> int:
    """A batch of status items: identities learnt, then one bulk apply (messaging.statuses)."""
    consent_link_identities([
        (str(d.get("recipient_id") or ""), str(d.get("recipient_user_id") or ""))
        for d in (p.get("data") or {} for p in payloads)
    ])
    return messages_apply_statuses([dict(p.get("data") or {}) for p in payloads])  # Meta's shape, cleaned


def _preference(item: WebhookItem, payload: Mapping[str, Any], *, foreign: bool = False) -> Outcome:
    data = payload.get("data") or {}
    wa_id, user_id = _ids(payload)
    if wa_id and user_id:
        consent_link_identity(wa_id=wa_id, user_id=user_id)
    value = str(data.get("value") or "")
    if data.get("category") not in ("", None, "marketing_messages"):
        return _skipped(f"preference of category {data.get('category')!r}: no consent change")
    if foreign and value != "stop":
        return _skipped("not for this service's number")
    events = consent_apply_user_preference(
        wa_id=wa_id, user_id=user_id, value=value, at=item.occurred_at, detail=str(data.get("detail") or ""),
        webhook_event_id=item.event_id,
    )
    if value == "stop" and events and not foreign:
        contact = events[0].contact
        complaint_apply_marketing_stop(contact=contact, at=item.occurred_at, event_id=item.event_id,
                                       category=str(data.get("category") or ""))
    return _applied(f"marketing {value}: {len(events)} ledger event(s)")


def _identity(item: WebhookItem, payload: Mapping[str, Any]) -> Outcome:
    data = payload.get("data") or {}
    system = data.get("system") or {}
    wa_id, user_id = _ids(payload)
    change = str(system.get("type") or "")
    contact = consent_apply_identity_change(
        change=change, wa_id=wa_id, user_id=user_id or system.get("previous_user_id") or None,
        new_wa_id=system.get("new_wa_id") or None, new_user_id=system.get("user_id") or None, at=item.occurred_at,
        wamid=str(data.get("id") or ""),
    )
    return _applied(f"{change or 'system message'}: {'contact ' + str(contact.pk) if contact else 'no contact known'}")


def _echo(item: WebhookItem, payload: Mapping[str, Any]) -> Outcome:
    data = payload.get("data") or {}
    wa_id, user_id = _ids(payload)
    contact = consent_contact_for_identity(wa_id=wa_id, user_id=user_id)
    if contact is None:
        return _skipped("echo to no one named")
    message, breach = message_record_echo(
        contact=contact, wamid=str(data.get("id") or ""), at=item.occurred_at, text=str(data.get("text") or ""),
        template_name=str(data.get("template") or ""), language=str(data.get("language") or ""),
        via=str(data.get("via") or "business_app"),
    )
    return _applied(f"recorded as message {message.pk}" + (f"; consent breach alerted ({breach})" if breach else ""))


def _template(apply: Callable[..., None]) -> Callable[[WebhookItem, Mapping[str, Any]], Outcome]:
    def handler(item: WebhookItem, payload: Mapping[str, Any]) -> Outcome:
        data = payload.get("data")
        apply(data if isinstance(data, Mapping) else {}, event_id=item.event_id)
        return _applied(f"{item.field} applied")

    return handler


def _account(item: WebhookItem, payload: Mapping[str, Any]) -> Outcome:
    data = payload.get("data")
    account_update(data if isinstance(data, Mapping) else {}, event_id=item.event_id)
    return _applied(f"account_update {(data or {}).get('event') if isinstance(data, Mapping) else ''}")


def _error(item: WebhookItem, payload: Mapping[str, Any]) -> Outcome:
    data = payload.get("data") or {}
    logger.error("Meta reported a system-level error in webhook event %s: %s %s", item.event_id,
                 data.get("code_text"), data.get("title"))
    return _skipped(f"Meta error {data.get('code_text')}: {data.get('title')}")


def _other(item: WebhookItem, payload: Mapping[str, Any]) -> Outcome:
    return _skipped(f"field {item.field or '(none)'}: recorded, nothing to apply")


def _out_of_scope(item: WebhookItem, payload: Mapping[str, Any]) -> Outcome:
    """An update for a phone number or account that is not this service's: stored, alerted, not
    applied; except opt-outs, which are always honoured (no reply, no window: not our chat)."""
    number, waba = payload.get("phone_number_id") or "", payload.get("waba_id") or ""
    alert_raise(
        kind="webhook_out_of_scope",
        title="Webhooks arrive for a WhatsApp number or account this service is not configured for",
        detail=(f"phone_number_id {number or '-'} / WABA {waba or '-'} (webhook event {item.event_id}). Stored and "
                "not applied, except opt-outs. Check WHATSAPP_PHONE_NUMBER_ID / WHATSAPP_WABA_ID and Meta's "
                "app subscriptions."),
        dedupe_key=f"webhook-out-of-scope:{number}:{waba}",
    )
    if item.opt_out and item.kind == ItemKind.MESSAGE:
        return _message(item, payload, foreign=True)
    if item.opt_out and item.kind == ItemKind.PREFERENCE:
        return _preference(item, payload, foreign=True)
    return _skipped(f"not for this service (number {number or '-'}, WABA {waba or '-'}): alerted")


ROUTES: dict[str, Callable[[WebhookItem, Mapping[str, Any]], Outcome]] = {
    ItemKind.MESSAGE: _message,
    ItemKind.STATUS: _status,
    ItemKind.PREFERENCE: _preference,
    ItemKind.IDENTITY_CHANGE: _identity,
    ItemKind.ECHO: _echo,
    ItemKind.TEMPLATE_STATUS: _template(template_apply_status_update),
    ItemKind.TEMPLATE_QUALITY: _template(template_apply_quality_update),
    ItemKind.TEMPLATE_CATEGORY: _template(template_apply_category_update),
    ItemKind.ACCOUNT_UPDATE: _account,
    ItemKind.ERROR: _error,
}
