"""Identity: phone numbers and Meta's business-scoped user ids linked, and moved when Meta says a
number or id changed."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from consent.models import (
    Action,
    ConsentNotice,
    ConsentState,
    Contact,
    Source,
    Status,
)
from consent.services.common import ALL_PURPOSES, append, contact_for, contact_locked, lock_contact
from consent.types import Actor
from pandorakart_wa.core.phones import phone_digest, wa_id_e164

logger = logging.getLogger(__name__)


def _lock_contacts(*contacts: Contact | None) -> list[Contact | None]:
    """Lock these contacts for this transaction's appends, in id order (two transactions that
    lock the same pair never wait on each other in a circle); each as it is now, or None."""
    locked = {c.pk: lock_contact(c) for c in sorted({c.pk: c for c in contacts if c is not None}.values(),
                                                      key=lambda c: c.pk)}
    return [locked[c.pk] if c is not None else None for c in contacts]


def _merge_withdrawals(*, into: Contact, source_contact: Contact, reason: str, evidence: Mapping[str, Any]) -> None:
    """Consent follows the person: a withdrawal recorded under one spelling of them (a BSUID
    alone, an old number) applies to the other. Grants are never carried this way."""
    withdrawn = set(
        ConsentState.objects.filter(contact=source_contact, status=Status.OPTED_OUT).values_list("purpose", flat=True)
    )
    if source_contact.erased:
        withdrawn = set(ALL_PURPOSES)
    held = set(
        ConsentState.objects.filter(contact=into, status=Status.OPTED_IN, purpose__in=withdrawn)
        .values_list("purpose", flat=True)
    )
    if held:
        append(contact=into, action=Action.OPT_OUT, items=[(p, None) for p in sorted(held)], source=Source.WHATSAPP,
                actor=Actor.meta(reason), evidence={**evidence, "withdrawn_by": source_contact.public_id})


@transaction.atomic
def consent_contact_for_identity(*, wa_id: str | None, user_id: str | None) -> Contact | None:
    """The contact Meta names by wa_id and/or BSUID, created when first seen (no consent)."""
    return contact_for(e164=wa_id_e164(wa_id), user_id=user_id, wa_id=wa_id)


@transaction.atomic
def consent_link_identity(*, wa_id: str | None, user_id: str | None) -> Contact | None:
    """A payload carried both the customer's number and their BSUID: remember the link. When
    each was known as its own contact (a BSUID-only STOP, then a message with the number), the
    number's contact takes the BSUID and every withdrawal made under it."""
    e164 = wa_id_e164(wa_id)
    if not e164 or not user_id:
        return None
    by_phone = Contact.objects.filter(phone_digest=phone_digest(e164)).first()
    by_user = Contact.objects.filter(user_id=user_id).first()
    if by_phone is not None and by_user is not None and by_phone.pk == by_user.pk:
        return by_phone
    if by_phone is None and by_user is None:
        return None  # nothing known yet: the message that follows creates the contact with both
    by_phone, by_user = _lock_contacts(by_phone, by_user)
    if by_phone is None:
        assert by_user is not None
        if by_user.erased or by_user.phone_digest:
            return by_user  # erased, or holds another number (Meta moved it: a system message says so)
        by_user.phone, by_user.phone_digest, by_user.wa_id = e164, phone_digest(e164), wa_id
        by_user.save(update_fields=["phone", "phone_digest", "wa_id", "updated_at"])
        logger.info("Contact %s: number learnt from its BSUID", by_user.pk)
        return by_user
    if by_user is not None:
        _merge_withdrawals(into=by_phone, source_contact=by_user, reason="identity link",
                           evidence={"user_id_link": True})
        Contact.objects.filter(pk=by_user.pk).update(user_id=None, updated_at=timezone.now())
        logger.info("BSUID moved from contact %s to contact %s (same person)", by_user.pk, by_phone.pk)
    if not by_phone.erased and by_phone.user_id != user_id:
        Contact.objects.filter(pk=by_phone.pk).update(user_id=user_id, updated_at=timezone.now())
        by_phone.user_id = user_id
    return by_phone


def consent_link_identities(pairs: Sequence[tuple[str, str]]) -> int:
    """consent_link_identity for the (wa_id, BSUID) pairs a batch of statuses carried, at one
    query when every link is already known. Returns how many were linked."""
    wanted = {(wa, uid) for wa, uid in pairs if wa and uid}
    if not wanted:
        return 0
    known = set(Contact.objects.filter(user_id__in=[uid for _, uid in wanted]).values_list("user_id", "phone_digest"))
    linked = 0
    for wa, uid in sorted(wanted):
        e164 = wa_id_e164(wa)
        if e164 and (uid, phone_digest(e164)) not in known and consent_link_identity(wa_id=wa, user_id=uid):
            linked += 1
    return linked


@transaction.atomic
def consent_apply_identity_change(
    *, change: str, wa_id: str | None, user_id: str | None, new_wa_id: str | None, new_user_id: str | None,
    at: datetime, wamid: str,
) -> Contact | None:
    """Meta's system messages. `user_changed_number`: the person moved to `new_wa_id`; their
    consent moves with them (in the ledger, on the new number's contact) and the old number
    keeps no one's. `user_changed_user_id`: their BSUID is now `new_user_id`. Anything else
    (`customer_identity_changed`: a new security code) changes no consent."""
    old = None
    old_e164 = wa_id_e164(wa_id)
    if old_e164:
        old = Contact.objects.filter(phone_digest=phone_digest(old_e164)).first()
    if old is None and user_id:
        old = Contact.objects.filter(user_id=user_id).first()
    if change == "user_changed_user_id":
        if old is None or not new_user_id or old.erased:
            return old
        holder = Contact.objects.filter(user_id=new_user_id).exclude(pk=old.pk).first()
        old, holder = _lock_contacts(old, holder)
        assert old is not None
        if holder is not None:
            _merge_withdrawals(into=old, source_contact=holder, reason="user_changed_user_id", evidence={"wamid": wamid})
            Contact.objects.filter(pk=holder.pk).update(user_id=None, updated_at=timezone.now())
        Contact.objects.filter(pk=old.pk).update(user_id=new_user_id, updated_at=timezone.now())
        return old
    new_e164 = wa_id_e164(new_wa_id)
    if change != "user_changed_number" or not new_e164 or new_e164 == old_e164:
        return old
    new, created = contact_locked(e164=new_e164, wa_id=new_wa_id)
    assert new is not None
    if old is None:
        return new
    old = lock_contact(old)
    actor = Actor.meta("user_changed_number")
    evidence = {"wamid": wamid, "from_contact": old.public_id}
    old_states = {s.purpose: s for s in ConsentState.objects.filter(contact=old)}
    new_states = {} if created else {s.purpose: s for s in ConsentState.objects.filter(contact=new)}
    grants: list[tuple[str, ConsentNotice | None]] = []
    if not (old.erased or new.erased):
        for purpose, state in old_states.items():
            theirs = new_states.get(purpose)
            if state.status == Status.OPTED_IN and (theirs is None or theirs.status != Status.OPTED_IN):
                grants.append((purpose, state.last_event.notice))
    # The number's earlier holder consented for themselves, not for the person who now has it.
    stale = [
        purpose for purpose, state in new_states.items()
        if state.status == Status.OPTED_IN
        and (purpose not in old_states or old_states[purpose].status != Status.OPTED_IN)
    ]
    append(contact=new, action=Action.OPT_OUT, items=[(p, None) for p in stale], source=Source.WHATSAPP,
            actor=actor, evidence={**evidence, "reason": "number now held by another person"}, occurred_at=at)
    append(contact=new, action=Action.RESUBSCRIBE, items=grants, source=Source.WHATSAPP, actor=actor,
            evidence=evidence, occurred_at=at, new_contact=created)
    held = [p for p, s in old_states.items() if s.status == Status.OPTED_IN]
    append(contact=old, action=Action.OPT_OUT, items=[(p, None) for p in held], source=Source.WHATSAPP,
            actor=actor, evidence={**evidence, "reason": "the customer changed number", "to_contact": new.public_id},
            occurred_at=at)
    moves: dict[str, Any] = {}
    if old.blocked and not new.blocked:
        moves.update(blocked=True, blocked_at=timezone.now(),
                     blocked_reason=f"followed from {old.public_id} after a number change"[:500])
    uid = new_user_id or old.user_id
    if uid and not new.erased:
        Contact.objects.filter(user_id=uid).exclude(pk=new.pk).update(user_id=None, updated_at=timezone.now())
        moves["user_id"] = uid
    if moves:
        Contact.objects.filter(pk=new.pk).update(**moves, updated_at=timezone.now())
    logger.info("Contact %s changed number: consent moved to contact %s", old.pk, new.pk)
    return new
