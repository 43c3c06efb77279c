"""What customers and Meta say over WhatsApp: keywords (STOP, START, PREFERENCES...), Meta's
marketing stop and user preferences, applied to consent."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from consent.keywords import normalize_keyword
from consent.models import (
    Action,
    ConsentEvent,
    ConsentState,
    Contact,
    OptOutKeyword,
    Source,
    Status,
)
from consent.purposes import Purpose
from consent.services.common import ALL_PURPOSES, ConsentError, append, contact_for, contact_locked, normalize
from consent.services.optin import resubscribe
from consent.types import Actor, InboundKeyword, InboundOutcome, KeywordResult
from pandorakart_wa.core.phones import InvalidPhoneNumber, normalize_phone, wa_id_e164

logger = logging.getLogger(__name__)


def _e164_or_none(phone: str | None) -> str | None:
    if not phone:
        return None
    try:
        return normalize_phone(phone)
    except InvalidPhoneNumber:
        logger.warning("Ignoring an identifier that is not a valid phone number")
        return None


@transaction.atomic
def contact_record_inbound(
    *, phone: str | None = None, wa_id: str | None = None, user_id: str | None = None, at: datetime, wamid: str
) -> Contact:
    """A message from the customer: opens (or extends) the 24-hour service window."""
    e164 = _e164_or_none(phone) or wa_id_e164(wa_id)
    contact = contact_for(e164=e164, user_id=user_id, wa_id=wa_id)
    if contact is None:
        raise ConsentError("An inbound message needs a phone, wa_id or user_id.", field="phone")
    _record_window(contact, at=at, wamid=wamid)
    return contact


@transaction.atomic
def contact_mark_undeliverable(*, phone: str, code: int | str, wamid: str = "") -> Contact:
    """Meta answered 131026: the number is not reachable on WhatsApp (no automatic retry)."""
    e164 = normalize(phone)
    contact = contact_for(e164=e164)
    assert contact is not None
    if not contact.undeliverable:
        contact.undeliverable = True
        contact.undeliverable_at = timezone.now()
        contact.save(update_fields=["undeliverable", "undeliverable_at", "updated_at"])
    logger.info("Contact %s marked undeliverable (code %s, %s)", contact.pk, code, wamid)
    return contact


@transaction.atomic
def consent_record_platform_opt_out(*, phone: str, wamid: str, code: int | str) -> list[ConsentEvent]:
    """Error 131050 on a send: the customer stopped marketing on WhatsApp's side.

    Written once: nothing is appended while marketing is already opted out.
    """
    e164 = normalize(phone)
    contact, _ = contact_locked(e164=e164)
    assert contact is not None
    state = ConsentState.objects.filter(contact=contact, purpose=Purpose.MARKETING).first()
    if state is not None and state.status == Status.OPTED_OUT:
        return []
    return append(
        contact=contact,
        action=Action.OPT_OUT,
        items=[(Purpose.MARKETING, None)],
        source=Source.WHATSAPP,
        actor=Actor.meta(f"send error {code}"),
        evidence={"wamid": wamid, "error_code": str(code)},
    )


@transaction.atomic
def consent_apply_user_preference(
    *,
    wa_id: str | None,
    user_id: str | None,
    value: str,
    at: datetime,
    detail: str = "",
    webhook_event_id: int | None = None,
) -> list[ConsentEvent]:
    """Meta's `user_preferences` webhook: `stop` opts out of marketing; `resume` restores
    marketing only if the customer had it before (a resume is not a consent by itself). Meta's
    order wins over delivery order: one older than an opposite decision on WhatsApp changes
    nothing."""
    e164 = wa_id_e164(wa_id)
    if value not in ("stop", "resume"):
        logger.info("user_preferences value %r needs no consent change", value)
        return []
    contact, _ = contact_locked(e164=e164, user_id=user_id, wa_id=wa_id)
    if contact is None:
        logger.warning("user_preferences without wa_id or user_id; ignored")
        return []
    evidence = {"meta_value": value, "detail": detail[:500], "webhook_event_id": webhook_event_id}
    actor = Actor.meta("user_preferences")
    opposite = [Action.OPT_IN, Action.RESUBSCRIBE] if value == "stop" else [Action.OPT_OUT, Action.ERASE]
    if _later_decision(contact, [Purpose.MARKETING], at, actions=opposite):
        logger.info("user_preferences %s of contact %s superseded by a later decision", value, contact.pk)
        return []
    if value == "stop":
        return append(
            contact=contact,
            action=Action.OPT_OUT,
            items=[(Purpose.MARKETING, None)],
            source=Source.WHATSAPP,
            actor=actor,
            evidence=evidence,
            occurred_at=at,
        )
    if value == "resume":
        return resubscribe(
            contact=contact,
            purposes=[Purpose.MARKETING],
            source=Source.WHATSAPP,
            actor=actor,
            evidence=evidence,
            occurred_at=at,
        )
    return []


def keyword_match(text: str) -> OptOutKeyword | None:
    normalized = normalize_keyword(text)
    if not normalized or len(normalized) > 100:
        return None
    return OptOutKeyword.objects.filter(normalized=normalized, active=True).first()


CONSENT_KEYWORD_ACTIONS = frozenset({OptOutKeyword.KeywordAction.OPT_OUT, OptOutKeyword.KeywordAction.RESUBSCRIBE})


def keyword_purposes(scope: str) -> list[str]:
    return list(ALL_PURPOSES) if scope in ("", OptOutKeyword.ALL_PURPOSES) else [scope]


def _later_decision(contact: Contact, purposes: Sequence[str], at: datetime, *, actions: Sequence[str]) -> bool:
    """Whether the customer already made one of `actions` on WhatsApp after `at` (Meta's
    timestamps): an older keyword delivered late must not undo it. Equal timestamps (Meta's
    are whole seconds) do not count as later: the withdrawal then wins."""
    return ConsentEvent.objects.filter(
        contact=contact, purpose__in=purposes, source=Source.WHATSAPP, action__in=actions, occurred_at__gt=at
    ).exists()


def consent_apply_inbound_message(
    *, wa_id: str | None, user_id: str | None, wamid: str, at: datetime, keyword: InboundKeyword | None,
    record_window: bool = True,
) -> InboundOutcome:
    """An inbound WhatsApp message (any type): record the service window and, when the intake
    matched it to a consent keyword, apply the keyword (STOP: opt-out; START: restore what the
    customer had before). Meta's order wins over delivery order: a keyword older than an
    opposite one the customer already sent is recorded as superseded and changes nothing.

    The sender is whoever Meta names: a wa_id libphonenumber does not validate is kept as its
    digits (pandorakart_wa.core.phones.wa_id_e164), a BSUID alone is enough."""
    if keyword is not None and keyword.action not in CONSENT_KEYWORD_ACTIONS:
        keyword = None  # PREFERENCES asks for the customer's link (the router replies); no consent change
    e164 = wa_id_e164(wa_id)
    with transaction.atomic():
        if keyword is None:
            contact = contact_for(e164=e164, user_id=user_id, wa_id=wa_id)
            if contact is not None and record_window:
                _record_window(contact, at=at, wamid=wamid)
            return InboundOutcome(contact=contact)
        contact, created = contact_locked(e164=e164, user_id=user_id, wa_id=wa_id)
        if contact is None:
            return InboundOutcome(contact=None)
        if record_window:
            _record_window(contact, at=at, wamid=wamid)
        actor = Actor.system(f"keyword {keyword.phrase}")
        evidence = {"wamid": wamid, "keyword": keyword.phrase}
        purposes = keyword_purposes(keyword.scope)
        superseded = False
        events: list[ConsentEvent] = []
        if keyword.action == OptOutKeyword.KeywordAction.RESUBSCRIBE:
            superseded = _later_decision(contact, purposes, at, actions=[Action.OPT_OUT, Action.ERASE])
            if not superseded:
                events = resubscribe(contact=contact, purposes=None if keyword.scope in ("", "*") else purposes,
                                      source=Source.WHATSAPP, actor=actor, evidence=evidence, occurred_at=at)
        else:
            superseded = _later_decision(contact, purposes, at, actions=[Action.OPT_IN, Action.RESUBSCRIBE])
            if not superseded:
                events = append(contact=contact, action=Action.OPT_OUT, items=[(p, None) for p in purposes],
                                 source=Source.WHATSAPP, actor=actor, evidence=evidence, occurred_at=at,
                                 new_contact=created)
        result = KeywordResult(
            contact=contact, keyword=keyword.phrase, action=keyword.action, purposes=[e.purpose for e in events],
            events=events, reply_text=keyword.reply_text, language=keyword.language,
        )
        return InboundOutcome(contact=contact, result=result, superseded=superseded)


def _record_window(contact: Contact, *, at: datetime, wamid: str) -> None:
    # Conditional UPDATE: concurrent deliveries never move the window backwards.
    wamid = wamid[:255] if not contact.erased else ""
    moved = Contact.objects.filter(pk=contact.pk).exclude(last_inbound_at__gte=at).update(
        last_inbound_at=at, last_inbound_wamid=wamid, updated_at=timezone.now()
    )
    if moved:
        contact.last_inbound_at, contact.last_inbound_wamid = at, wamid
    else:  # a later message was recorded meanwhile
        contact.refresh_from_db(fields=["last_inbound_at", "last_inbound_wamid"])


def consent_apply_inbound_text(
    *, wa_id: str | None, user_id: str | None, text: str, wamid: str, at: datetime
) -> KeywordResult | None:
    """An inbound text or quick reply outside the webhook pipeline (which matches keywords at
    its intake): match it here, then as consent_apply_inbound_message."""
    match = keyword_match(text)
    keyword = None
    if match is not None:
        keyword = InboundKeyword(phrase=match.phrase, action=match.action, scope=match.scope,
                                 reply_text=match.reply_text, language=match.language)
    return consent_apply_inbound_message(wa_id=wa_id, user_id=user_id, wamid=wamid, at=at, keyword=keyword).result
