"""Opt-in, opt-out and resubscribe: the customer's and the storefront's consent writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from consent.models import (
    Action,
    ConsentEvent,
    ConsentNotice,
    ConsentState,
    Contact,
    Source,
    Status,
)
from consent.services.common import (
    ALL_PURPOSES,
    REVIVING_SOURCES,
    ConsentError,
    ContactErased,
    append,
    append_to_number,
    check_evidence,
    check_occurred_at,
    check_purposes,
    contact_locked,
    normalize,
    number_fast_path,
    published_notice,
)
from consent.types import Actor, ConsentReceipt


def consent_opt_in(
    *,
    phone: str,
    purposes: Sequence[str],
    notice: ConsentNotice | str,
    source: str,
    actor: Actor,
    evidence: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> ConsentReceipt:
    """Record explicit consent to each purpose under a published notice (one event each).

    One transaction: on PostgreSQL, outside any caller's transaction, a single statement
    (append_to_number), which is a transaction of its own; otherwise an atomic block."""
    e164 = normalize(phone)
    purpose_list = check_purposes(purposes, allow_all=False)
    published = published_notice(notice)
    if source not in Source.values:
        raise ConsentError(f"Unknown source {source!r}.", field="source")
    evidence_data = check_evidence(evidence)
    occurred = check_occurred_at(occurred_at, timezone.now())
    items = [(p, published) for p in purpose_list]
    if number_fast_path():
        contact, created, written = append_to_number(
            e164=e164, action=Action.OPT_IN, items=items, source=source, actor=actor, evidence=evidence_data,
            occurred_at=occurred, unless_erased=True,
        )
        if written is not None:
            return ConsentReceipt(contact=contact, events=written, created=created)
    with transaction.atomic():  # an erased number (or SQLite): lock, revive or refuse, append
        found, created = contact_locked(e164=e164)
        assert found is not None
        contact = found
        if contact.erased:
            if source not in REVIVING_SOURCES:
                raise ContactErased()
            # The customer came back and consented again: hold their number again (new ciphertext).
            contact.erased = False
            contact.erased_at = None
            contact.phone = e164
            contact.save(update_fields=["erased", "erased_at", "phone", "updated_at"])
        events = append(
            contact=contact,
            action=Action.OPT_IN,
            items=items,
            source=source,
            actor=actor,
            evidence=evidence_data,
            occurred_at=occurred,
            new_contact=created,
        )
    return ConsentReceipt(contact=contact, events=events, created=created)


def consent_opt_out(
    *,
    phone: str,
    purposes: Sequence[str] | None = None,
    source: str,
    actor: Actor,
    reason: str = "",
    evidence: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> ConsentReceipt:
    """Withdraw consent (every purpose when `purposes` is None). Never fails for a valid
    number: an unknown one is created and recorded as suppressed. One transaction, as
    consent_opt_in."""
    e164 = normalize(phone)
    purpose_list = check_purposes(purposes, allow_all=True)
    if source not in Source.values:
        raise ConsentError(f"Unknown source {source!r}.", field="source")
    evidence_data = check_evidence({**(evidence or {}), **({"reason": reason} if reason else {})})
    occurred = check_occurred_at(occurred_at, timezone.now())
    items: list[tuple[str, ConsentNotice | None]] = [(p, None) for p in purpose_list]
    if number_fast_path():
        contact, created, written = append_to_number(
            e164=e164, action=Action.OPT_OUT, items=items, source=source, actor=actor, evidence=evidence_data,
            occurred_at=occurred, unless_erased=False,
        )
        return ConsentReceipt(contact=contact, events=written or [], created=created)
    with transaction.atomic():
        found, created = contact_locked(e164=e164)
        assert found is not None
        events = append(
            contact=found,
            action=Action.OPT_OUT,
            items=items,
            source=source,
            actor=actor,
            evidence=evidence_data,
            occurred_at=occurred,
            new_contact=created,
        )
    return ConsentReceipt(contact=found, events=events, created=created)


def _restorable(contact: Contact, purposes: Sequence[str]) -> list[tuple[str, ConsentNotice | None]]:
    """What the customer had before their latest opt-out, derived from the ledger.

    The latest opt-out batch (one STOP, one user_preferences stop...) within `purposes` names
    the purposes to look at; for each, walk back over consecutive opt-outs to the last other
    event: an opt-in or resubscribe is restored (under its notice), anything else is not (no
    consent ever, or an erasure).
    """
    states = {
        s.purpose: s.status for s in ConsentState.objects.filter(contact=contact, purpose__in=purposes)
    }
    latest_out = (
        ConsentEvent.objects.filter(contact=contact, purpose__in=purposes, action=Action.OPT_OUT)
        .order_by("-id")
        .values_list("batch", flat=True)
        .first()
    )
    if latest_out is None:
        return []
    batch_purposes = set(
        ConsentEvent.objects.filter(contact=contact, batch=latest_out, purpose__in=purposes).values_list(
            "purpose", flat=True
        )
    )
    restore: list[tuple[str, ConsentNotice | None]] = []
    for purpose in purposes:
        if purpose not in batch_purposes or states.get(purpose) != Status.OPTED_OUT:
            continue
        before = (
            ConsentEvent.objects.filter(contact=contact, purpose=purpose)
            .exclude(action=Action.OPT_OUT)
            .select_related("notice")
            .order_by("-id")
            .first()
        )
        if before is not None and before.action in (Action.OPT_IN, Action.RESUBSCRIBE):
            restore.append((purpose, before.notice))
    return restore


def resubscribe(
    *,
    contact: Contact,
    purposes: Sequence[str] | None,
    source: str,
    actor: Actor,
    evidence: Mapping[str, Any] | None,
    occurred_at: datetime | None,
) -> list[ConsentEvent]:
    if contact.erased:
        return []
    items = _restorable(contact, list(purposes) if purposes else list(ALL_PURPOSES))
    return append(
        contact=contact,
        action=Action.RESUBSCRIBE,
        items=items,
        source=source,
        actor=actor,
        evidence=evidence,
        occurred_at=occurred_at,
    )
