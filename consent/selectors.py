"""Consent reads for the API, the admin and the apps above (messaging, complaints). Bulk-first."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import FilteredRelation, Max, Q, QuerySet, Subquery

from consent.models import (
    Action,
    ConsentEvent,
    ConsentNotice,
    ConsentState,
    Contact,
    LedgerCheckpoint,
    LedgerVerification,
    OptOutKeyword,
    RevocationClock,
    Status,
)
from consent.purposes import Purpose
from consent.types import Decision, PolicyCode
from pandorakart_wa.core.phones import InvalidPhoneNumber, normalize_phone, phone_digest, wa_id_e164
from pandorakart_wa.core.sql import execute_prepared

ALLOWED = Decision(allowed=True)
MISSING = Decision(allowed=False, reason=PolicyCode.CONSENT_MISSING)
_DECISIONS = {
    PolicyCode.CONTACT_ERASED: Decision(False, PolicyCode.CONTACT_ERASED),
    PolicyCode.CONTACT_BLOCKED: Decision(False, PolicyCode.CONTACT_BLOCKED),
    PolicyCode.OPTED_OUT: Decision(False, PolicyCode.OPTED_OUT),
    PolicyCode.CONSENT_MISSING: MISSING,
}
# SQLite caps the number of bound parameters per statement (the run command's database).
SQLITE_IN_CHUNK = 10_000

# What each ledger action leaves a purpose in, and which actions grant.
STATUS_AFTER: dict[str, str] = {
    Action.OPT_IN: Status.OPTED_IN,
    Action.RESUBSCRIBE: Status.OPTED_IN,
    Action.OPT_OUT: Status.OPTED_OUT,
    Action.ERASE: Status.OPTED_OUT,
}
GRANTS = frozenset({Action.OPT_IN, Action.RESUBSCRIBE})


# --- For the apps above (complaints' evidence) ------------------------------------------------


def contact_history_with_evidence(*, contact: Contact) -> list[ConsentEvent]:
    """contact_history with each event's evidence, in one query: the ledger as a complaint's
    evidence shows it."""
    return list(contact_history(contact).select_related("evidence"))


def _decide(blocked: bool, erased: bool, status: str | None) -> Decision:
    # Order matters: erasure and blocks win over any consent, then withdrawal, then absence.
    if erased:
        return _DECISIONS[PolicyCode.CONTACT_ERASED]
    if blocked:
        return _DECISIONS[PolicyCode.CONTACT_BLOCKED]
    if status == Status.OPTED_IN:
        return ALLOWED
    if status == Status.OPTED_OUT:
        return _DECISIONS[PolicyCode.OPTED_OUT]
    return MISSING


_BULK_DECISION_SQL = """
    SELECT c.{key}, c.blocked, c.erased, s.status
    FROM {contact} c
    LEFT JOIN {state} s ON s.contact_id = c.id AND s.purpose = %s
    WHERE c.{key} = ANY(%s)
"""


def _decision_rows(key_field: str, keys: Sequence[Any], purpose: str) -> Iterator[tuple[Any, bool, bool, str | None]]:
    """(key, blocked, erased, status) of the contacts among `keys`: one LEFT JOIN per query.

    On PostgreSQL the keys travel as one array parameter (`= ANY(%s)`): the ORM's `IN (...)`
    with 100,000 placeholders spends longer building and parsing SQL than the join itself.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        sql = _BULK_DECISION_SQL.format(
            key="id" if key_field == "id" else "phone_digest",
            contact=connection.ops.quote_name(Contact._meta.db_table),
            state=connection.ops.quote_name(ConsentState._meta.db_table),
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [purpose, list(keys)])
            yield from cursor.fetchall()
        return
    for start in range(0, len(keys), SQLITE_IN_CHUNK):
        part = keys[start : start + SQLITE_IN_CHUNK]
        rows = (
            Contact.objects.annotate(
                state_for=FilteredRelation("consent_states", condition=Q(consent_states__purpose=purpose))
            )
            .filter(**{f"{key_field}__in": part})
            .values_list(key_field, "blocked", "erased", "state_for__status")
        )
        yield from rows


def consent_decisions(
    *,
    contact_ids: Sequence[int] | None = None,
    digests: Sequence[str] | None = None,
    purpose: str,
) -> dict[Any, Decision]:
    """May we message these contacts for `purpose`? One query for any number of contacts.

    Keyed by contact id (with `contact_ids`) or by phone digest (with `digests`); a key that
    matches no contact gets `consent_missing`.
    """
    if (contact_ids is None) == (digests is None):
        raise ValueError("Pass exactly one of contact_ids or digests.")
    if purpose not in Purpose.values:
        raise ValueError(f"Unknown purpose {purpose!r}.")
    key_field, keys = ("id", list(contact_ids)) if contact_ids is not None else ("phone_digest", list(digests or []))
    decisions: dict[Any, Decision] = dict.fromkeys(keys, MISSING)
    if not keys:
        return decisions
    for key, blocked, erased, status in _decision_rows(key_field, keys, purpose):
        decisions[key] = _decide(blocked, erased, status)
    return decisions


@dataclass(frozen=True)
class SendFacts:
    """What the send gate needs of one contact, read with its consent in one query."""

    contact_id: int
    decision: Decision
    undeliverable: bool
    last_inbound_at: datetime | None


_SEND_FACTS_SQL = """
    SELECT c.{key}, c.id, c.blocked, c.erased, c.undeliverable, c.last_inbound_at, s.status
    FROM {contact} c
    LEFT JOIN {state} s ON s.contact_id = c.id AND s.purpose = %s
    WHERE c.{key} = ANY(%s)
"""


def contact_send_facts(
    *, contact_ids: Sequence[int] | None = None, digests: Sequence[str] | None = None, purpose: str
) -> dict[Any, SendFacts]:
    """consent_decisions plus the contact's undeliverable mark and last inbound message (the
    24-hour window), keyed by contact id or phone digest: one query however many contacts. A key
    that matches no contact is absent (no consent)."""
    if (contact_ids is None) == (digests is None):
        raise ValueError("Pass exactly one of contact_ids or digests.")
    if purpose not in Purpose.values:
        raise ValueError(f"Unknown purpose {purpose!r}.")
    key_field, keys = ("id", list(contact_ids)) if contact_ids is not None else ("phone_digest", list(digests or []))
    if not keys:
        return {}
    if connection.vendor == "postgresql":
        sql = _SEND_FACTS_SQL.format(
            key=key_field,
            contact=connection.ops.quote_name(Contact._meta.db_table),
            state=connection.ops.quote_name(ConsentState._meta.db_table),
        )
        rows: list[Any] = execute_prepared(sql, [purpose, keys])  # every message intake runs it
    else:
        rows = []
        for start in range(0, len(keys), SQLITE_IN_CHUNK):
            rows += Contact.objects.annotate(
                state_for=FilteredRelation("consent_states", condition=Q(consent_states__purpose=purpose))
            ).filter(**{f"{key_field}__in": keys[start : start + SQLITE_IN_CHUNK]}).values_list(
                key_field, "id", "blocked", "erased", "undeliverable", "last_inbound_at", "state_for__status"
            )
    return {
        key: SendFacts(contact_id, _decide(blocked, erased, status), undeliverable, last_inbound_at)
        for key, contact_id, blocked, erased, undeliverable, last_inbound_at, status in rows
    }


def revocation_clock_expression() -> Subquery | None:
    """The revocation clock as a subquery to read in another app's query (one round trip), or
    None where no trigger advances it (SQLite): then every check must ask for consent again.

    Read the clock before (or in the same statement as) a consent check: while it still shows
    that value, nothing that check allowed has been revoked since."""
    if connection.vendor != "postgresql":
        return None
    return Subquery(RevocationClock.objects.filter(pk=1).values("value")[:1])


def consent_decision_for_phone(phone: str, purpose: str) -> Decision:
    """The decision for one number (any accepted format). An invalid number has no consent."""
    try:
        digest = phone_digest(normalize_phone(phone))
    except InvalidPhoneNumber:
        return MISSING
    return consent_decisions(digests=[digest], purpose=purpose)[digest]


def consent_decision_for_contact(contact_id: int, purpose: str) -> Decision:
    return consent_decisions(contact_ids=[contact_id], purpose=purpose)[contact_id]


def consent_opted_in_contact_ids(*, purpose: str, chunk_size: int = 1000) -> Iterator[list[int]]:
    """Every contact that may be messaged for `purpose` now, as chunks of ids in id order.

    Keyset pagination: one indexed query per chunk, constant memory however large the audience.
    Re-check with consent_decisions at send time: consent can change after a chunk is read.
    """
    after = 0
    while True:
        ids = list(
            ConsentState.objects.filter(
                purpose=purpose,
                status=Status.OPTED_IN,
                contact_id__gt=after,
                contact__blocked=False,
                contact__erased=False,
            )
            .order_by("contact_id")
            .values_list("contact_id", flat=True)[:chunk_size]
        )
        if not ids:
            return
        yield ids
        after = ids[-1]


def contact_for_phone(phone: str) -> Contact | None:
    """The contact of a number in any accepted format, or None (never seen, or invalid)."""
    try:
        digest = phone_digest(normalize_phone(phone))
    except InvalidPhoneNumber:
        return None
    return Contact.objects.filter(phone_digest=digest).first()


def contacts_by_digest(digests: Collection[str]) -> dict[str, Contact]:
    """The contacts of these phone digests (pandorakart_wa.core.phones.phone_digest), by digest;
    erased contacts are left out (there is no one to write to)."""
    found = Contact.objects.filter(phone_digest__in=[d for d in digests if d], erased=False)
    return {str(contact.phone_digest): contact for contact in found}


def contact_ids_by_digest(digests: Collection[str]) -> dict[str, int]:
    """The contact ids of these phone digests, by digest, erased contacts included (their
    number stays suppressed: a campaign's audience file still names them)."""
    rows = Contact.objects.filter(phone_digest__in=list(digests)).values_list("phone_digest", "id")
    return {str(digest): cid for digest, cid in rows}


def contacts_erased(contact_ids: Collection[int]) -> set[int]:
    """Which of these contacts are erased (there is no one to write to)."""
    return set(Contact.objects.filter(id__in=list(contact_ids), erased=True).values_list("id", flat=True))


def contacts_last_inbound(contact_ids: Collection[int]) -> dict[int, tuple[bool, datetime | None]]:
    """(erased, when the customer last wrote to us) of these contacts, by id: what a reply inside
    the customer-service window is judged by. Contacts that do not exist are left out."""
    return {cid: (erased, last_inbound_at) for cid, erased, last_inbound_at in
            Contact.objects.filter(id__in=list(contact_ids)).values_list("id", "erased", "last_inbound_at")}


def contact_for_wa_identity(*, wa_id: str | None = None, user_id: str | None = None) -> Contact | None:
    """The contact behind a webhook's sender (wa_id digits, or the BSUID when the number is hidden)."""
    e164 = wa_id_e164(wa_id)
    if e164:
        contact = Contact.objects.filter(phone_digest=phone_digest(e164)).first()
        if contact is not None:
            return contact
    if user_id:
        return Contact.objects.filter(user_id=user_id).first()
    return None


def contact_get(
    *, pk: int | None = None, uid: uuid.UUID | str | None = None, user_id: str | None = None,
    phone_digest: str | None = None,
) -> Contact | None:
    """The contact with this id, public uid (a UUID or its hex), WhatsApp user id (BSUID) or phone
    digest (pass exactly one), or None."""
    lookups = {"pk": pk, "uid": uid, "user_id": user_id, "phone_digest": phone_digest}
    given = {field: value for field, value in lookups.items() if value is not None}
    if len(given) != 1:
        raise ValueError("Pass exactly one of pk, uid, user_id or phone_digest.")
    return Contact.objects.filter(**given).first()


def contact_states(contact: Contact) -> dict[str, ConsentState]:
    return {s.purpose: s for s in ConsentState.objects.filter(contact=contact)}


def contact_history(contact: Contact) -> QuerySet[ConsentEvent]:
    """The contact's events in the order they were decided (id: one contact's writes are
    serialised); `sequence` is their later position in the whole log."""
    return ConsentEvent.objects.filter(contact=contact).order_by("id")


def contact_ledger(*, contact: Contact) -> list[ConsentEvent]:
    """The contact's events in decision order (as contact_history) with their evidence and
    contact read along, in one query (the evidence pack)."""
    return list(contact_history(contact).select_related("evidence", "contact"))


def contact_events_latest(*, contact: Contact, limit: int) -> list[ConsentEvent]:
    """The contact's `limit` latest events by ledger position, newest first (one query)."""
    return list(ConsentEvent.objects.filter(contact=contact).order_by("-sequence")[:limit])


def notice_current(*, language: str) -> ConsentNotice | None:
    """The latest published notice in `language` (what the storefront shows now)."""
    return (
        ConsentNotice.objects.filter(language=language, published_at__isnull=False)
        .order_by("-published_at", "-pk")
        .first()
    )


def consent_export(*, contact: Contact) -> dict[str, Any]:
    """Everything consent holds about a contact (DPDP s.11 access): identifiers, current state,
    the full ledger history with its evidence (unless erased)."""
    states = contact_states(contact)
    events = contact_history(contact).select_related("evidence")
    history = []
    for event in events:
        evidence = getattr(event, "evidence", None) if event.evidence_sha256 else None
        history.append(
            {
                "event": event.public_id,
                "action": event.action,
                "purpose": event.purpose,
                "source": event.source,
                "notice_version": event.notice_version,
                "actor_type": event.actor_type,
                "occurred_at": event.occurred_at,
                "recorded_at": event.recorded_at,
                "evidence": evidence.data if evidence is not None else None,
            }
        )
    return {
        "contact": contact.public_id,
        "phone": contact.masked_phone,
        "whatsapp_user_id": contact.user_id or None,
        "blocked": contact.blocked,
        "erased": contact.erased,
        "erased_at": contact.erased_at,
        "undeliverable": contact.undeliverable,
        "last_inbound_at": contact.last_inbound_at,
        "created_at": contact.created_at,
        "purposes": {
            p: (
                {"status": s.status, "since": s.since, "source": s.source, "notice_version": s.notice_version}
                if (s := states.get(p))
                else {"status": Status.NONE}
            )
            for p in Purpose.values
        },
        "history": history,
    }


# --- The ledger ---------------------------------------------------------------------------


def ledger_last_verification() -> LedgerVerification | None:
    """The latest verify_consent_ledger run (the dashboard shows it)."""
    return LedgerVerification.objects.order_by("-started_at").first()


# Published notices never change (a new wording is a new version), so each process keeps the
# ones it has read: the opt-in API looks its notice up on every request.
_published_notices: dict[str, ConsentNotice] = {}


def notice_by_version(version: str) -> ConsentNotice | None:
    """The notice with this version (published or not); published ones are cached."""
    cached = _published_notices.get(version)
    if cached is not None:
        return cached
    notice = ConsentNotice.objects.filter(version=version).first()
    if notice is not None and notice.is_published:
        _published_notices[version] = notice
    return notice


def notices_by_versions(*, versions: Collection[str]) -> dict[str, ConsentNotice]:
    """The notices with these versions (published or not), by version, in one query."""
    return {n.version: n for n in ConsentNotice.objects.filter(version__in=list(versions))}


def notice_cache_clear() -> None:
    """Tests: forget cached notices (their rows are rolled back between tests)."""
    _published_notices.clear()


def keywords_active() -> list[dict[str, Any]]:
    """The active consent keywords, by their normalised form (the webhook intake's matcher)."""
    rows = OptOutKeyword.objects.filter(active=True).values(
        "id", "normalized", "phrase", "action", "scope", "language", "reply_text"
    )
    return [dict(row) for row in rows]


def ledger_checkpoint_latest() -> LedgerCheckpoint | None:
    """The latest signed checkpoint (tree head) of the consent ledger, without its signed note
    (the dashboard shows it, monitoring reads its age)."""
    return LedgerCheckpoint.objects.order_by("-tree_size").defer("note").first()


def ledger_head_sequence() -> int | None:
    """The highest position the sequencer has given an event, or None for an empty ledger."""
    head: int | None = ConsentEvent.objects.aggregate(head=Max("sequence"))["head"]
    return head


def ledger_events_waiting() -> int:
    """How many events are written but not yet given a position by the sequencer."""
    return ConsentEvent.objects.filter(sequence__isnull=True).count()  # the sequencer's partial index


# --- Consent in force at a moment (evidence) --------------------------------------------------


def _iso_or_none(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def consent_in_force(
    events: Sequence[ConsentEvent], purpose: str, at: datetime, *, known_only: bool = False
) -> dict[str, Any]:
    """The consent for `purpose` in force at `at`, replayed from the contact's events in decision
    order (`contact_history`): what had occurred by then, or with `known_only` what had also been
    recorded by then (a complaint's "known at send"). A back-dated grant never overrides a newer
    decision. Complaints' evidence and the back office's evidence pack both ask this."""
    status: str = Status.NONE
    since: datetime | None = None
    deciding: ConsentEvent | None = None
    for event in events:  # the contact's decision order (contact_history)
        if event.purpose != purpose or event.occurred_at > at or (known_only and event.recorded_at > at):
            continue
        if deciding is not None and since is not None and event.action in GRANTS and since > event.occurred_at:
            continue  # a back-dated consent never overrides a newer decision
        status, since, deciding = STATUS_AFTER[event.action], event.occurred_at, event
    return {
        "status": status,
        "since": _iso_or_none(since),
        "event": deciding.public_id if deciding is not None else None,
        "notice_version": deciding.notice_version if deciding is not None else "",
    }


def ledger_verifications_expired(*, before: datetime) -> QuerySet[LedgerVerification]:
    """Verification runs finished before `before` that retention may delete: never the newest."""
    newest = LedgerVerification.objects.order_by("-started_at", "-id").values_list("pk", flat=True).first()
    return LedgerVerification.objects.filter(finished_at__lt=before).exclude(pk__in=[newest] if newest else [])
