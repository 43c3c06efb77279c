"""Registered consent managers (DPDP Act s.6(7)-(9), Rules r.4; API.md "Consent managers").

Staff register a manager (registration id, name, active); an API key bound to it posts the grants
and withdrawals of its consent artefacts. Each (manager, artefact, action) is written once: the
same artefact and action again answers with the first receipt and writes nothing, whatever
races (the unique constraint decides; the loser's transaction, events included, rolls back).
A withdrawal is an opt-out through consent.services, committed before the answer, so the send
gate and the revocation clock see it at once.

Every ledger event carries source `consent_manager`, actor type `consent_manager`, the manager's
registration id as actor id and `artefact <id>` as actor label: all three are in the event's
leaf, so the signed log proves which manager and artefact made each change even after the
customer's evidence is erased. The evidence repeats them with the key that posted.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from consent.models import (
    ConsentArtefactAction,
    ConsentEvent,
    ConsentManager,
    ConsentManagerKey,
    ConsentNotice,
    Contact,
    Source,
)
from consent.services.common import ConsentError, check_occurred_at, check_purposes, normalize
from consent.services.optin import consent_opt_in, consent_opt_out
from consent.types import Actor, ConsentReceipt
from pandorakart_wa.core.audit import ActorType
from pandorakart_wa.core.models import StorefrontApiKey

logger = logging.getLogger(__name__)

Action = ConsentArtefactAction.ArtefactAction
REGISTRATION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
ARTEFACT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
ARTEFACT_LABEL_PREFIX = "artefact "


class ArtefactWithdrawn(ConsentError):
    """A grant for an artefact already withdrawn: the customer's withdrawal stands (422)."""

    status = 422

    def __init__(self, artefact_id: str) -> None:
        super().__init__(
            f"Artefact {artefact_id} was withdrawn; a new consent needs a new artefact.", code="artefact_withdrawn"
        )


@dataclass(frozen=True)
class ArtefactOutcome:
    action: ConsentArtefactAction
    receipt: ConsentReceipt
    replayed: bool  # the same artefact and action were recorded before: nothing was written now


def manager_actor(manager: ConsentManager, artefact_id: str) -> Actor:
    return Actor(ActorType.CONSENT_MANAGER, manager.registration_id, f"{ARTEFACT_LABEL_PREFIX}{artefact_id}")


def artefact_of_event(event: ConsentEvent) -> tuple[str, str] | None:
    """(registration id, artefact id) of an event a consent manager wrote, from its leaf fields."""
    if event.actor_type != ActorType.CONSENT_MANAGER or not event.actor_label.startswith(ARTEFACT_LABEL_PREFIX):
        return None
    return event.actor_id, event.actor_label[len(ARTEFACT_LABEL_PREFIX):]


# --- Staff: the register -----------------------------------------------------------------------


def consent_manager_check(manager: ConsentManager) -> None:
    manager.registration_id = (manager.registration_id or "").strip()
    manager.name = (manager.name or "").strip()
    if not REGISTRATION_ID_RE.match(manager.registration_id):
        raise ConsentError(
            "A registration id is 1-64 letters, digits, '.', '_', '/' or '-', starting with a letter or digit.",
            field="registration_id",
        )
    if not manager.name:
        raise ConsentError("Give the consent manager's name.", field="name")
    clash = ConsentManager.objects.filter(registration_id__iexact=manager.registration_id).exclude(pk=manager.pk)
    if clash.exists():
        raise ConsentError(f"{manager.registration_id} is already registered.", field="registration_id")


@transaction.atomic
def consent_manager_save(*, manager: ConsentManager, actor: Actor) -> ConsentManager:
    """Register a consent manager or change its name or active flag (the admin's save).
    A registration id never changes once artefacts were recorded under it."""
    consent_manager_check(manager)
    if manager.pk is not None:
        stored = ConsentManager.objects.select_for_update().get(pk=manager.pk)
        if stored.registration_id != manager.registration_id and stored.artefact_actions.exists():
            raise ConsentError("The registration id is in the ledger already; it cannot change.",
                               field="registration_id")
    manager.save()
    logger.info("Consent manager %s saved by %s (active: %s)", manager.registration_id, actor.label, manager.active)
    return manager


def consent_manager_register(*, registration_id: str, name: str, actor: Actor, active: bool = True) -> ConsentManager:
    return consent_manager_save(manager=ConsentManager(registration_id=registration_id, name=name, active=active),
                                actor=actor)


@transaction.atomic
def consent_manager_key_bind(*, api_key: StorefrontApiKey, registration_id: str) -> ConsentManagerKey:
    """Bind an API key to the manager registered as `registration_id` (one manager per key)."""
    manager = ConsentManager.objects.filter(registration_id=registration_id).first()
    if manager is None:
        raise ConsentError(f"No consent manager is registered as {registration_id!r}.", field="consent_manager")
    return ConsentManagerKey.objects.create(api_key=api_key, manager=manager)


def consent_manager_for_key(api_key: StorefrontApiKey) -> ConsentManager | None:
    binding = ConsentManagerKey.objects.select_related("manager").filter(api_key=api_key).first()
    return binding.manager if binding is not None else None


# --- Artefacts -----------------------------------------------------------------------------------


def _check_artefact_id(artefact_id: str) -> str:
    if not isinstance(artefact_id, str) or not ARTEFACT_ID_RE.match(artefact_id):
        raise ConsentError(
            "An artefact id is 1-128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit.",
            field="artefact_id",
        )
    return artefact_id


def _replay(manager: ConsentManager, artefact_id: str, action: str) -> ArtefactOutcome | None:
    row = (ConsentArtefactAction.objects.select_related("contact")
           .filter(manager=manager, artefact_id=artefact_id, action=action).first())
    if row is None:
        return None
    uids = [uuid.UUID(hex=public_id.removeprefix("ev_")) for public_id in row.receipt]
    events = list(ConsentEvent.objects.filter(uid__in=uids).order_by("id"))
    return ArtefactOutcome(action=row, receipt=ConsentReceipt(contact=row.contact, events=events), replayed=True)


def consent_artefact_record(
    *,
    manager: ConsentManager,
    artefact_id: str,
    action: str,
    phone: str | None,
    purposes: Sequence[str] | None,
    notice: ConsentNotice | str | None,
    occurred_at: datetime | None = None,
    key_label: str = "",
) -> ArtefactOutcome:
    """A consent manager's grant or withdrawal of one artefact, recorded once.

    grant: `phone`, `purposes` and a published `notice` are required; refused (ArtefactWithdrawn)
    once the artefact was withdrawn. withdraw: the purposes default to the grant's (every purpose
    for an artefact never granted here); the phone to the grant's; it never fails otherwise and
    is in force when this returns."""
    artefact_id = _check_artefact_id(artefact_id)
    if action not in Action.values:
        raise ConsentError("action is grant or withdraw.", field="action")
    if not manager.active:
        raise ConsentError(f"Consent manager {manager.registration_id} is not active.", code="manager_inactive")
    replayed = _replay(manager, artefact_id, action)
    if replayed is not None:
        return replayed
    occurred = check_occurred_at(occurred_at, timezone.now())
    try:
        with transaction.atomic():
            outcome = (_grant if action == Action.GRANT else _withdraw)(
                manager=manager, artefact_id=artefact_id, phone=phone, purposes=purposes, notice=notice,
                occurred_at=occurred, key_label=key_label,
            )
    except IntegrityError:
        # the same artefact and action recorded concurrently: this call's writes rolled back
        replayed = _replay(manager, artefact_id, action)
        if replayed is None:
            raise
        return replayed
    logger.info("Consent manager %s: %s of artefact %s for contact %s (%d events)", manager.registration_id, action,
                artefact_id, outcome.receipt.contact.pk, len(outcome.receipt.events))
    return outcome


def _evidence(manager: ConsentManager, artefact_id: str, key_label: str) -> dict[str, str]:
    return {"consent_manager": manager.registration_id, "artefact_id": artefact_id, "api_key": key_label[:200]}


def _record(manager: ConsentManager, artefact_id: str, action: str, receipt: ConsentReceipt, purposes: Sequence[str],
            notice_version: str, occurred_at: datetime | None) -> ArtefactOutcome:
    now = timezone.now()
    row = ConsentArtefactAction.objects.create(
        manager=manager, artefact_id=artefact_id, action=action, contact=receipt.contact, purposes=list(purposes),
        notice_version=notice_version, receipt=[e.public_id for e in receipt.events],
        occurred_at=min(occurred_at, now) if occurred_at else now, recorded_at=now,
    )
    return ArtefactOutcome(action=row, receipt=receipt, replayed=False)


def _grant(*, manager: ConsentManager, artefact_id: str, phone: str | None, purposes: Sequence[str] | None,
           notice: ConsentNotice | str | None, occurred_at: datetime | None, key_label: str) -> ArtefactOutcome:
    if not phone:
        raise ConsentError("A grant names the customer's phone.", field="phone")
    if notice is None or notice == "":
        raise ConsentError("A grant names the notice the customer was shown.", field="notice_version")
    purpose_list = check_purposes(purposes, allow_all=False)
    if ConsentArtefactAction.objects.filter(manager=manager, artefact_id=artefact_id, action=Action.WITHDRAW).exists():
        raise ArtefactWithdrawn(artefact_id)
    receipt = consent_opt_in(
        phone=phone, purposes=purpose_list, notice=notice, source=Source.CONSENT_MANAGER,
        actor=manager_actor(manager, artefact_id), evidence=_evidence(manager, artefact_id, key_label),
        occurred_at=occurred_at,
    )
    version = receipt.events[0].notice_version if receipt.events else (notice if isinstance(notice, str) else
                                                                      notice.version)
    return _record(manager, artefact_id, Action.GRANT, receipt, purpose_list, version, occurred_at)


def _withdraw(*, manager: ConsentManager, artefact_id: str, phone: str | None, purposes: Sequence[str] | None,
              notice: ConsentNotice | str | None, occurred_at: datetime | None, key_label: str) -> ArtefactOutcome:
    grant = (ConsentArtefactAction.objects.select_related("contact")
             .filter(manager=manager, artefact_id=artefact_id, action=Action.GRANT).first())
    contact: Contact | None = grant.contact if grant is not None else None
    if phone:
        e164 = normalize(phone)
        if contact is not None and contact.phone and contact.phone != e164:
            raise ConsentError(f"Artefact {artefact_id} was granted for another number.", field="phone")
    elif contact is not None and contact.phone:
        e164 = contact.phone
    elif contact is not None:  # erased since the grant: suppressed for every purpose already
        receipt = ConsentReceipt(contact=contact, events=[])
        return _record(manager, artefact_id, Action.WITHDRAW, receipt, grant.purposes if grant else [], "",
                       occurred_at)
    else:
        raise ConsentError(f"Artefact {artefact_id} was never granted here: name the customer's phone.", field="phone")
    if purposes:
        purpose_list = check_purposes(purposes, allow_all=False)
    elif grant is not None:
        purpose_list = list(grant.purposes)
    else:
        purpose_list = check_purposes(None, allow_all=True)
    receipt = consent_opt_out(
        phone=e164, purposes=purpose_list, source=Source.CONSENT_MANAGER, actor=manager_actor(manager, artefact_id),
        evidence=_evidence(manager, artefact_id, key_label), occurred_at=occurred_at,
    )
    return _record(manager, artefact_id, Action.WITHDRAW, receipt, purpose_list, "", occurred_at)


# --- Reads ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArtefactState:
    artefact_id: str
    status: str  # active | withdrawn
    purposes: list[str]
    contact: Contact
    notice_version: str
    granted_at: datetime | None
    withdrawn_at: datetime | None
    events: list[ConsentEvent]


def consent_artefact_state(*, manager: ConsentManager, artefact_id: str) -> ArtefactState | None:
    """The artefact as `manager` recorded it, or None: never another manager's."""
    rows = {r.action: r for r in ConsentArtefactAction.objects.select_related("contact")
            .filter(manager=manager, artefact_id=artefact_id)}
    if not rows:
        return None
    grant, withdraw = rows.get(Action.GRANT), rows.get(Action.WITHDRAW)
    first = grant or withdraw
    assert first is not None
    uids = [uuid.UUID(hex=p.removeprefix("ev_")) for r in rows.values() for p in r.receipt]
    return ArtefactState(
        artefact_id=artefact_id,
        status="withdrawn" if withdraw is not None else "active",
        purposes=list(first.purposes),
        contact=first.contact,
        notice_version=grant.notice_version if grant else "",
        granted_at=grant.occurred_at if grant else None,
        withdrawn_at=withdraw.occurred_at if withdraw else None,
        events=list(ConsentEvent.objects.filter(uid__in=uids).order_by("id")),
    )


def consent_artefacts_for_contact(contact: Contact) -> list[ConsentArtefactAction]:
    """Every artefact action recorded for a contact (the evidence pack)."""
    return list(ConsentArtefactAction.objects.select_related("manager").filter(contact=contact)
                .order_by("recorded_at", "id"))
