"""Every consent write, one way in for every channel (API, WhatsApp, Meta, admin, commands).

Each service is one transaction. There is no global lock: appends to one contact's ledger are
serialised by a lock on that contact's row (SELECT ... FOR NO KEY UPDATE on PostgreSQL, held
to the end of the transaction; SQLite's IMMEDIATE transactions already serialise writers), so
appends for different customers run in parallel and one customer's decisions are projected in
the order they were made. Events are written without a position: the ledger's sequencer
(consent.log) gives them one and adds them to the signed Merkle tree a moment later. The
current-state row of each purpose is written in the same transaction as its event. A withdrawal
(opt-out, erasure) always takes effect at once, whatever its occurred_at (Meta's timestamps have
one-second resolution); a consent (opt-in, resubscribe) only when it did not occur before the
decision the state shows, so a back-dated import never overrides a newer opt-out.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from auditlog.context import disable_auditlog
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from consent.hooks import privacy_erasers
from consent.keywords import normalize_keyword
from consent.ledger import canonical_json, evidence_digest, sha256_hex
from consent.log import ledger_verify
from consent.models import (
    Action,
    ActorType,
    ConsentEvent,
    ConsentEvidence,
    ConsentNotice,
    ConsentState,
    Contact,
    LedgerVerification,
    OptOutKeyword,
    Source,
    Status,
)
from consent.purposes import Purpose
from consent.selectors import GRANTS, STATUS_AFTER, notice_by_version
from consent.types import Actor, ConsentReceipt, InboundKeyword, InboundOptOut, InboundOutcome, KeywordResult
from pandorakart_wa.core.errors import ApplicationError
from pandorakart_wa.core.phones import InvalidPhoneNumber, normalize_phone, phone_digest, wa_id_e164

logger = logging.getLogger(__name__)

EVIDENCE_MAX_BYTES = 8 * 1024  # API.md: evidence <= 8 KiB
# A client clock slightly ahead of ours is tolerated, and the time clamped to ours, so that a
# consent given "in the future" can never outrank a withdrawal recorded after it.
CLOCK_SKEW_TOLERANCE = timedelta(seconds=60)

ALL_PURPOSES: tuple[str, ...] = tuple(Purpose.values)
# An erased number can consent again only by an affirmative act of the customer: not by import.
REVIVING_SOURCES = frozenset(
    {Source.CHECKOUT, Source.ACCOUNT_SETTINGS, Source.WHATSAPP, Source.SUPPORT_AGENT, Source.CONSENT_MANAGER}
)


class ConsentError(ApplicationError):
    """A consent write refused: `field` names the input at fault, `code` is a stable code (the
    API answers 400 naming the field)."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message, field=field, code=code)


class NoticePublished(ConsentError):
    def __init__(self, notice: ConsentNotice) -> None:
        super().__init__(
            f"Notice {notice.version} is published and cannot change: create a new version.",
            code="notice_published",
        )


class ContactErased(ConsentError):
    status = 422

    def __init__(self) -> None:
        super().__init__("This number was erased at the customer's request.", code="contact_erased")


# --- Helpers ------------------------------------------------------------------------------


def _lock_contact(contact: Contact) -> Contact:
    """Serialise appends to this contact's ledger until the end of the current transaction,
    and return the contact as it is now (a holder of the lock may have changed it, erased it,
    while this transaction waited). NO KEY: rows that only reference the contact (messages,
    consent states) are inserted by others meanwhile without waiting."""
    return Contact.objects.select_for_update(no_key=True).get(pk=contact.pk)


def _normalize(phone: str, field: str = "phone") -> str:
    try:
        return normalize_phone(phone)
    except InvalidPhoneNumber as exc:
        raise ConsentError(str(exc), field=field) from exc


def _resolve_contact(
    *, e164: str | None, user_id: str | None = None, wa_id: str | None = None, create: bool = True
) -> tuple[Contact | None, bool]:
    """(contact, created) for a number, or for a BSUID when Meta hides the number.

    Reads or inserts only, never updates: it runs before the contact's lock is taken. A contact
    it creates is invisible to others until commit (a concurrent creator of the same number
    waits on the unique index, then finds this one), so it needs no lock.
    """
    if e164:
        digest = phone_digest(e164)
        contact = Contact.objects.filter(phone_digest=digest).first()
        if contact is not None or not create:
            return contact, False
        try:
            # Not in django-auditlog: the ledger event written in this transaction is the record
            # of who brought the number in (auditlog covers staff edits of contacts).
            with transaction.atomic(), disable_auditlog():
                contact = Contact.objects.create(
                    phone=e164, phone_digest=digest, wa_id=wa_id or None, user_id=_free_user_id(user_id)
                )
            return contact, True
        except IntegrityError:  # created meanwhile by a concurrent request
            return Contact.objects.get(phone_digest=digest), False
    if user_id:
        contact = Contact.objects.filter(user_id=user_id).first()
        if contact is not None or not create:
            return contact, False
        try:
            with transaction.atomic(), disable_auditlog():
                contact = Contact.objects.create(user_id=user_id)
            return contact, True
        except IntegrityError:
            return Contact.objects.get(user_id=user_id), False
    return None, False


def _enrich_contact(contact: Contact, *, user_id: str | None, wa_id: str | None) -> None:
    """Remember Meta's ids of a known contact (under the contact's lock, or without it)."""
    if contact.erased:
        return
    changed = []
    if user_id and not contact.user_id and _free_user_id(user_id):
        contact.user_id = user_id
        changed.append("user_id")
    if wa_id and not contact.wa_id:
        contact.wa_id = wa_id
        changed.append("wa_id")
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])


# A number's contact, created if new, locked if known, in one round trip (PostgreSQL): the
# no-op update on conflict takes the same FOR NO KEY UPDATE lock _lock_contact takes (a key
# column set to itself is no key change) and, in READ COMMITTED, returns the latest version
# once a holder of the lock has committed; xmax = 0 only on the row this statement inserted.
_CONTACT_LOCKED_SQL = """
INSERT INTO {contact} AS c (uid, phone, phone_digest, wa_id, user_id, blocked, blocked_reason, blocked_at, erased,
                            erased_at, undeliverable, undeliverable_at, last_inbound_at, last_inbound_wamid,
                            created_at, updated_at)
VALUES (%s, %s, %s, NULL, NULL, false, '', NULL, false, NULL, false, NULL, NULL, '', now(), now())
ON CONFLICT (phone_digest) DO UPDATE SET phone_digest = EXCLUDED.phone_digest
RETURNING {columns}, (c.xmax = 0) AS inserted
"""


def _contact_locked(
    *, e164: str | None, user_id: str | None = None, wa_id: str | None = None
) -> tuple[Contact | None, bool]:
    """Resolve the contact and lock it for this transaction's appends (re-read under the lock:
    a lock holder may have changed it, erased it, while this transaction waited)."""
    if e164 and not user_id and not wa_id and _number_fast_path():
        # The storefront's calls (a number, nothing from Meta to remember): one statement.
        sql = _CONTACT_LOCKED_SQL.format(contact=connection.ops.quote_name(Contact._meta.db_table),
                                         columns=_contact_columns())
        encrypted = Contact._meta.get_field("phone").get_db_prep_save(e164, connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, [uuid.uuid4(), encrypted, phone_digest(e164)])
            *values, inserted = cursor.fetchone()
        return _contact_from_row(e164, values), bool(inserted)
    contact, created = _resolve_contact(e164=e164, user_id=user_id, wa_id=wa_id)
    if contact is not None and not created:
        contact = _lock_contact(contact)
        _enrich_contact(contact, user_id=user_id, wa_id=wa_id)
    return contact, created


def _contact_for(
    *, e164: str | None, user_id: str | None = None, wa_id: str | None = None, create: bool = True
) -> Contact | None:
    """The contact, created if asked, Meta's ids remembered (for services outside the ledger)."""
    contact, created = _resolve_contact(e164=e164, user_id=user_id, wa_id=wa_id, create=create)
    if contact is not None and not created:
        _enrich_contact(contact, user_id=user_id, wa_id=wa_id)
    return contact


def _free_user_id(user_id: str | None) -> str | None:
    if user_id and not Contact.objects.filter(user_id=user_id).exists():
        return user_id
    return None


def _check_evidence(evidence: Mapping[str, Any] | None) -> dict[str, Any]:
    data = dict(evidence or {})
    encoded = canonical_json(data)
    if b"\\u0000" in encoded or b"\x00" in encoded:
        raise ConsentError("Evidence cannot contain NUL characters.", field="evidence")
    if len(encoded) > EVIDENCE_MAX_BYTES:
        raise ConsentError(f"Evidence must be at most {EVIDENCE_MAX_BYTES} bytes of JSON.", field="evidence")
    return data


def _check_occurred_at(occurred_at: datetime | None, now: datetime) -> datetime | None:
    if occurred_at is None:
        return None
    if timezone.is_naive(occurred_at):
        raise ConsentError("occurred_at needs a UTC offset.", field="occurred_at")
    if occurred_at > now + CLOCK_SKEW_TOLERANCE:
        raise ConsentError("occurred_at cannot be in the future.", field="occurred_at")
    return occurred_at


def _check_purposes(purposes: Sequence[str] | None, *, allow_all: bool) -> list[str]:
    if purposes is None:
        if allow_all:
            return list(ALL_PURPOSES)
        raise ConsentError("Name at least one purpose.", field="purposes")
    unknown = [p for p in purposes if p not in ALL_PURPOSES]
    if unknown:
        raise ConsentError(f"Unknown purposes: {', '.join(map(str, unknown))}.", field="purposes")
    if not purposes:
        raise ConsentError("Name at least one purpose.", field="purposes")
    return list(dict.fromkeys(purposes))  # de-duplicated, order kept


def _append(
    *,
    contact: Contact,
    action: str,
    items: Sequence[tuple[str, ConsentNotice | None]],
    source: str,
    actor: Actor,
    evidence: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None,
    new_contact: bool = False,
) -> list[ConsentEvent]:
    """Append one event per (purpose, notice) and move the current state. The caller holds the
    contact's lock (_contact_locked). The events have no position until the sequencer's next run.

    `new_contact`: the contact was created in this transaction, so it has no state rows yet.
    """
    if not items:
        return []
    evidence_data = dict(evidence or {})
    events = _new_events(contact=contact, action=action, items=items, source=source, actor=actor,
                         evidence_data=evidence_data, occurred_at=occurred_at)
    if connection.vendor == "postgresql":
        _write_pg(contact, events, evidence_data)
        return events
    ConsentEvent.objects.bulk_create(events)
    if evidence_data:
        ConsentEvidence.objects.bulk_create([ConsentEvidence(event=e, data=evidence_data) for e in events])
    _project_state(contact, events, new_contact=new_contact)
    return events


def _new_events(
    *,
    contact: Contact | None,
    action: str,
    items: Sequence[tuple[str, ConsentNotice | None]],
    source: str,
    actor: Actor,
    evidence_data: Mapping[str, Any],
    occurred_at: datetime | None,
) -> list[ConsentEvent]:
    """One unsaved event per (purpose, notice), one batch, recorded now."""
    recorded_at = timezone.now()
    occurred = min(occurred_at, recorded_at) if occurred_at is not None else recorded_at
    evidence_sha = evidence_digest(evidence_data)
    batch = uuid.uuid4()
    events: list[ConsentEvent] = []
    for purpose, notice in items:
        event = ConsentEvent(
            uid=uuid.uuid4(),
            batch=batch,
            contact=contact,
            purpose=purpose,
            action=action,
            source=source,
            notice=notice,
            notice_version=notice.version if notice else "",
            notice_sha256=notice.text_sha256 if notice else "",
            evidence_sha256=evidence_sha,
            actor_type=actor.type,
            actor_id=actor.id[:64],
            actor_label=actor.label[:200],
            occurred_at=occurred,
            recorded_at=recorded_at,
        )
        events.append(event)
    return events


# The events, their evidence and the state projection in one round trip: every statement run
# while the contact's lock is held delays that customer's next append, and every round trip
# costs the request path (see the opt-in load benchmark). Same rules as _project_state: a
# withdrawal always moves the state; a consent only when it did not occur before the decision
# the state shows.
_EVENT_COLUMNS = """(uid, sequence, batch, contact_id, purpose, action, source, notice_id, notice_version,
                     notice_sha256, evidence_sha256, actor_type, actor_id, actor_label, occurred_at, recorded_at,
                     prev_hash, hash)"""
_EVENTS_RETURNING = "RETURNING id, uid, contact_id, purpose, action, source, notice_version, occurred_at"
_PROJECTION_SQL = """
evidence AS (
    INSERT INTO {evidence} (event_id, data, erased_at)
    SELECT id, %s, NULL FROM ev WHERE %s
), state AS (
    INSERT INTO {state} AS s (contact_id, purpose, status, since, source, notice_version, last_event_id,
                              updated_at)
    SELECT ev.contact_id, ev.purpose,
           CASE WHEN ev.action IN ('opt_in', 'resubscribe') THEN 'opted_in' ELSE 'opted_out' END,
           ev.occurred_at, ev.source, ev.notice_version, ev.id, now()
    FROM ev
    ON CONFLICT (contact_id, purpose) DO UPDATE
        SET status = EXCLUDED.status, since = EXCLUDED.since, source = EXCLUDED.source,
            notice_version = EXCLUDED.notice_version, last_event_id = EXCLUDED.last_event_id,
            updated_at = EXCLUDED.updated_at
        WHERE NOT (EXCLUDED.status = 'opted_in' AND s.since > EXCLUDED.since)
)"""
_APPEND_SQL = """
WITH ev AS (INSERT INTO {event} {columns} VALUES {rows} {returning}), {projection}
SELECT id, uid FROM ev
"""
# uid, then NULL (no position yet), the 14 columns from batch to recorded_at, no chain hashes
_EVENT_PLACEHOLDERS = "(%s, NULL, " + ", ".join(["%s"] * 14) + ", '', '')"
# The storefront's calls, a number and nothing else: the contact (created, or locked as
# _CONTACT_LOCKED_SQL does) and its events, evidence and states in one statement. With
# `unless_erased` an erased contact gets nothing but the lock (its caller decides).
_APPEND_TO_NUMBER_SQL = """
WITH c AS ({contact_sql}), ev AS (
    INSERT INTO {event} {columns}
    SELECT x.uid, NULL, x.batch, c.id, x.purpose, x.action, x.source, x.notice_id, x.notice_version,
           x.notice_sha256, x.evidence_sha256, x.actor_type, x.actor_id, x.actor_label, x.occurred_at,
           x.recorded_at, '', ''
    FROM c CROSS JOIN (VALUES {rows}) AS x(uid, batch, purpose, action, source, notice_id, notice_version,
        notice_sha256, evidence_sha256, actor_type, actor_id, actor_label, occurred_at, recorded_at)
    WHERE NOT (c.erased AND %s)
    {returning}
), {projection}
SELECT {contact_columns}, c.inserted, ev.id, ev.uid FROM c LEFT JOIN ev ON true
"""
_TYPED_EVENT_PLACEHOLDERS = (
    "(%s::uuid, %s::uuid, %s, %s, %s, %s::bigint, %s, %s, %s, %s, %s, %s, %s::timestamptz, %s::timestamptz)"
)


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    tables = {
        "event": quote(ConsentEvent._meta.db_table),
        "evidence": quote(ConsentEvidence._meta.db_table),
        "state": quote(ConsentState._meta.db_table),
        "contact": quote(Contact._meta.db_table),
    }
    return {**tables, "columns": _EVENT_COLUMNS, "returning": _EVENTS_RETURNING,
            "projection": _PROJECTION_SQL.format(**tables)}


def _evidence_token(evidence_data: Mapping[str, Any]) -> str | None:
    """The evidence as its column holds it: encrypted at rest (EncryptedJSONField's token)."""
    if not evidence_data:
        return None
    return str(ConsentEvidence._meta.get_field("data").get_prep_value(dict(evidence_data)))


def _mark_saved(events: list[ConsentEvent], ids: Mapping[uuid.UUID, int]) -> None:
    for e in events:
        e.pk = ids[e.uid]
        e._state.adding = False
        e._state.db = connection.alias


def _write_pg(contact: Contact, events: list[ConsentEvent], evidence_data: dict[str, Any]) -> None:
    sql = _APPEND_SQL.format(rows=", ".join([_EVENT_PLACEHOLDERS] * len(events)), **_tables())
    params: list[Any] = []
    for e in events:
        params += [e.uid, e.batch, contact.pk, e.purpose, e.action, e.source, e.notice_id,
                   e.notice_version, e.notice_sha256, e.evidence_sha256, e.actor_type, e.actor_id, e.actor_label,
                   e.occurred_at, e.recorded_at]
    params += [_evidence_token(evidence_data), bool(evidence_data)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        _mark_saved(events, {uid: pk for pk, uid in cursor.fetchall()})


def _contact_from_row(e164: str, values: Sequence[Any]) -> Contact:
    """A Contact from its columns as _CONTACT_LOCKED_SQL returns them (the number is the one
    asked for: its ciphertext is not decrypted again)."""
    fields = Contact._meta.concrete_fields
    converted = []
    for f, value in zip(fields, values, strict=True):
        if f.attname == "phone":
            value = e164 if value is not None else None
        elif value is not None and (converter := getattr(f, "from_db_value", None)):
            value = converter(value, None, connection)
        converted.append(value)
    return Contact.from_db(connection.alias, [f.attname for f in fields], converted)


def _contact_columns() -> str:
    return ", ".join(f"c.{connection.ops.quote_name(str(f.column))}" for f in Contact._meta.concrete_fields)


def _execute_prepared(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run the request path's statement as a server-side prepared statement: Django binds
    parameters client-side, so PostgreSQL would parse and plan it on every request (psycopg
    keeps the prepared statement per connection and query text; one per number of purposes)."""
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()


def _number_fast_path() -> bool:
    """PostgreSQL: a number's append is one statement (_append_to_number). Outside a caller's
    transaction that statement is the whole transaction (autocommit: no BEGIN and COMMIT round
    trips); inside one, it joins it."""
    return connection.vendor == "postgresql"


def _append_to_number(
    *,
    e164: str,
    action: str,
    items: Sequence[tuple[str, ConsentNotice | None]],
    source: str,
    actor: Actor,
    evidence: Mapping[str, Any],
    occurred_at: datetime | None,
    unless_erased: bool,
) -> tuple[Contact, bool, list[ConsentEvent] | None]:
    """(contact, created, events) for a number, in one statement on PostgreSQL: the contact
    created or locked (as _contact_locked), then appended to (as _append). Events are None when
    `unless_erased` and the contact is erased: only the lock was taken."""
    evidence_data = dict(evidence)
    events = _new_events(contact=None, action=action, items=items, source=source, actor=actor,
                         evidence_data=evidence_data, occurred_at=occurred_at)
    tables = _tables()
    sql = _APPEND_TO_NUMBER_SQL.format(
        contact_sql=_CONTACT_LOCKED_SQL.format(contact=tables["contact"], columns=_contact_columns()),
        contact_columns=_contact_columns(),
        rows=", ".join([_TYPED_EVENT_PLACEHOLDERS] * len(events)),
        **tables,
    )
    encrypted = Contact._meta.get_field("phone").get_db_prep_save(e164, connection)
    params: list[Any] = [uuid.uuid4(), encrypted, phone_digest(e164)]
    for e in events:
        params += [e.uid, e.batch, e.purpose, e.action, e.source, e.notice_id, e.notice_version, e.notice_sha256,
                   e.evidence_sha256, e.actor_type, e.actor_id, e.actor_label, e.occurred_at, e.recorded_at]
    params += [unless_erased, _evidence_token(evidence_data), bool(evidence_data)]
    rows = _execute_prepared(sql, params)
    width = len(Contact._meta.concrete_fields)
    contact = _contact_from_row(e164, rows[0][:width])
    created = bool(rows[0][width])
    ids = {row[width + 2]: row[width + 1] for row in rows if row[width + 1] is not None}
    if not ids and events:
        return contact, created, None
    for e in events:
        e.contact = contact
    _mark_saved(events, ids)
    return contact, created, events


def _project_state(contact: Contact, events: Sequence[ConsentEvent], *, new_contact: bool = False) -> None:
    current: dict[str, ConsentState] = {}
    if not new_contact:
        current = {
            s.purpose: s
            for s in ConsentState.objects.filter(contact=contact, purpose__in=[e.purpose for e in events])
        }
    to_create: list[ConsentState] = []
    to_update: dict[str, ConsentState] = {}
    for event in events:
        state = current.get(event.purpose)
        if state is not None and event.action in GRANTS and state.since > event.occurred_at:
            continue  # a back-dated consent never overrides a newer decision; it stays as history
        if state is None:
            state = ConsentState(contact=contact, purpose=event.purpose)
            current[event.purpose] = state
            to_create.append(state)
        elif state.pk is not None:
            to_update[event.purpose] = state
        state.status = STATUS_AFTER[event.action]
        state.since = event.occurred_at
        state.source = event.source
        state.notice_version = event.notice_version
        state.last_event = event
    if to_create:
        ConsentState.objects.bulk_create(to_create)
    if to_update:
        now = timezone.now()
        for state in to_update.values():
            state.updated_at = now
        ConsentState.objects.bulk_update(
            list(to_update.values()), ["status", "since", "source", "notice_version", "last_event", "updated_at"]
        )


def _published_notice(notice: ConsentNotice | str) -> ConsentNotice:
    if isinstance(notice, str):

        found = notice_by_version(notice)
        if found is None or not found.is_published:
            raise ConsentError(f"No published consent notice has version {notice!r}.", field="notice_version")
        return found
    if not notice.is_published:
        raise ConsentError(f"Consent notice {notice.version} is not published.", field="notice_version")
    return notice


# --- Opt-in, opt-out, resubscribe ---------------------------------------------------------


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
    (_append_to_number), which is a transaction of its own; otherwise an atomic block."""
    e164 = _normalize(phone)
    purpose_list = _check_purposes(purposes, allow_all=False)
    published = _published_notice(notice)
    if source not in Source.values:
        raise ConsentError(f"Unknown source {source!r}.", field="source")
    evidence_data = _check_evidence(evidence)
    occurred = _check_occurred_at(occurred_at, timezone.now())
    items = [(p, published) for p in purpose_list]
    if _number_fast_path():
        contact, created, written = _append_to_number(
            e164=e164, action=Action.OPT_IN, items=items, source=source, actor=actor, evidence=evidence_data,
            occurred_at=occurred, unless_erased=True,
        )
        if written is not None:
            return ConsentReceipt(contact=contact, events=written, created=created)
    with transaction.atomic():  # an erased number (or SQLite): lock, revive or refuse, append
        found, created = _contact_locked(e164=e164)
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
        events = _append(
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
    e164 = _normalize(phone)
    purpose_list = _check_purposes(purposes, allow_all=True)
    if source not in Source.values:
        raise ConsentError(f"Unknown source {source!r}.", field="source")
    evidence_data = _check_evidence({**(evidence or {}), **({"reason": reason} if reason else {})})
    occurred = _check_occurred_at(occurred_at, timezone.now())
    items: list[tuple[str, ConsentNotice | None]] = [(p, None) for p in purpose_list]
    if _number_fast_path():
        contact, created, written = _append_to_number(
            e164=e164, action=Action.OPT_OUT, items=items, source=source, actor=actor, evidence=evidence_data,
            occurred_at=occurred, unless_erased=False,
        )
        return ConsentReceipt(contact=contact, events=written or [], created=created)
    with transaction.atomic():
        found, created = _contact_locked(e164=e164)
        assert found is not None
        events = _append(
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


def _resubscribe(
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
    return _append(
        contact=contact,
        action=Action.RESUBSCRIBE,
        items=items,
        source=source,
        actor=actor,
        evidence=evidence,
        occurred_at=occurred_at,
    )


# --- Erasure ------------------------------------------------------------------------------


@transaction.atomic
def consent_erase(*, phone: str, actor: Actor) -> ConsentReceipt:
    """DPDP erasure: remove the number's ciphertext, Meta ids and personal evidence; keep the
    digest, so the number stays suppressed for every purpose and the ledger stays verifiable.
    An unknown number is recorded (digest only) as erased, so it stays suppressed too."""
    e164 = _normalize(phone)
    contact, _ = _contact_locked(e164=e164)
    assert contact is not None
    now = timezone.now()
    ConsentEvidence.objects.filter(event__contact=contact, data__isnull=False).update(data=None, erased_at=now)
    events = _append(
        contact=contact,
        action=Action.ERASE,
        items=[(p, None) for p in ALL_PURPOSES],
        source=Source.ERASURE_REQUEST,
        actor=actor,
    )
    contact.phone = None
    contact.wa_id = None
    contact.user_id = None
    contact.last_inbound_wamid = ""
    contact.erased = True
    contact.erased_at = now
    contact.save(update_fields=["phone", "wa_id", "user_id", "last_inbound_wamid", "erased", "erased_at", "updated_at"])
    for eraser in privacy_erasers:  # other apps' personal data (messages, complaints), same transaction
        eraser(contact=contact)
    return ConsentReceipt(contact=contact, events=events)


# --- Staff: block / unblock ---------------------------------------------------------------


@transaction.atomic
def contact_block(*, contact: Contact, reason: str, actor: Actor) -> Contact:
    """Staff stop every message to a contact (abuse, legal hold...), whatever its consent."""
    if not reason.strip():
        raise ConsentError("Give a reason for blocking.", field="reason")
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    contact.blocked = True
    contact.blocked_reason = f"{reason.strip()[:400]} ({actor.label})"[:500]
    contact.blocked_at = timezone.now()
    contact.save(update_fields=["blocked", "blocked_reason", "blocked_at", "updated_at"])
    return contact


@transaction.atomic
def contact_unblock(*, contact: Contact, reason: str, actor: Actor) -> Contact:
    if not reason.strip():
        raise ConsentError("Give a reason for unblocking.", field="reason")
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    contact.blocked = False
    contact.blocked_reason = f"unblocked: {reason.strip()[:380]} ({actor.label})"[:500]
    contact.blocked_at = None
    contact.save(update_fields=["blocked", "blocked_reason", "blocked_at", "updated_at"])
    return contact


# --- Signals from WhatsApp / Meta ---------------------------------------------------------


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
    contact = _contact_for(e164=e164, user_id=user_id, wa_id=wa_id)
    if contact is None:
        raise ConsentError("An inbound message needs a phone, wa_id or user_id.", field="phone")
    _record_window(contact, at=at, wamid=wamid)
    return contact


@transaction.atomic
def contact_mark_undeliverable(*, phone: str, code: int | str, wamid: str = "") -> Contact:
    """Meta answered 131026: the number is not reachable on WhatsApp (no automatic retry)."""
    e164 = _normalize(phone)
    contact = _contact_for(e164=e164)
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
    e164 = _normalize(phone)
    contact, _ = _contact_locked(e164=e164)
    assert contact is not None
    state = ConsentState.objects.filter(contact=contact, purpose=Purpose.MARKETING).first()
    if state is not None and state.status == Status.OPTED_OUT:
        return []
    return _append(
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
    contact, _ = _contact_locked(e164=e164, user_id=user_id, wa_id=wa_id)
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
        return _append(
            contact=contact,
            action=Action.OPT_OUT,
            items=[(Purpose.MARKETING, None)],
            source=Source.WHATSAPP,
            actor=actor,
            evidence=evidence,
            occurred_at=at,
        )
    if value == "resume":
        return _resubscribe(
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


def _keyword_purposes(scope: str) -> list[str]:
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
            contact = _contact_for(e164=e164, user_id=user_id, wa_id=wa_id)
            if contact is not None and record_window:
                _record_window(contact, at=at, wamid=wamid)
            return InboundOutcome(contact=contact)
        contact, created = _contact_locked(e164=e164, user_id=user_id, wa_id=wa_id)
        if contact is None:
            return InboundOutcome(contact=None)
        if record_window:
            _record_window(contact, at=at, wamid=wamid)
        actor = Actor.system(f"keyword {keyword.phrase}")
        evidence = {"wamid": wamid, "keyword": keyword.phrase}
        purposes = _keyword_purposes(keyword.scope)
        superseded = False
        events: list[ConsentEvent] = []
        if keyword.action == OptOutKeyword.KeywordAction.RESUBSCRIBE:
            superseded = _later_decision(contact, purposes, at, actions=[Action.OPT_OUT, Action.ERASE])
            if not superseded:
                events = _resubscribe(contact=contact, purposes=None if keyword.scope in ("", "*") else purposes,
                                      source=Source.WHATSAPP, actor=actor, evidence=evidence, occurred_at=at)
        else:
            superseded = _later_decision(contact, purposes, at, actions=[Action.OPT_IN, Action.RESUBSCRIBE])
            if not superseded:
                events = _append(contact=contact, action=Action.OPT_OUT, items=[(p, None) for p in purposes],
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


# --- Many WhatsApp opt-outs at once (a storm of STOPs after a campaign) ---------------------------

# The contacts of many numbers, created if new, locked if known, in one statement (as
# _CONTACT_LOCKED_SQL for one), in digest order so two such statements lock in the same order.
_CONTACTS_LOCKED_SQL = """
INSERT INTO {contact} AS c (uid, phone, phone_digest, wa_id, user_id, blocked, blocked_reason, blocked_at, erased,
                            erased_at, undeliverable, undeliverable_at, last_inbound_at, last_inbound_wamid,
                            created_at, updated_at)
SELECT v.uid, v.phone, v.digest, v.wa_id, NULL, false, '', NULL, false, NULL, false, NULL, NULL, '', now(), now()
FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[]) AS v(uid, phone, digest, wa_id) ORDER BY v.digest
ON CONFLICT (phone_digest) DO UPDATE SET phone_digest = EXCLUDED.phone_digest
RETURNING {columns}, (c.xmax = 0) AS inserted
"""
# Every opt-out event of the group, each with its own evidence, and the state projection (the
# same rules as _PROJECTION_SQL), in one statement.
_OPT_OUTS_SQL = """
WITH x AS (
    SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::bigint[], %b::text[], %b::text[], %b::text[],
                         %b::timestamptz[], %b::timestamptz[], %b::text[])
        AS x(uid, batch, contact_id, purpose, evidence_sha256, actor_label, occurred_at, recorded_at, evidence)
), ev AS (
    INSERT INTO {event} {columns}
    SELECT x.uid, NULL, x.batch, x.contact_id, x.purpose, 'opt_out', %s, NULL, '', '', x.evidence_sha256, %s, '',
           x.actor_label, x.occurred_at, x.recorded_at, '', ''
    FROM x
    {returning}
), evidence AS (
    INSERT INTO {evidence} (event_id, data, erased_at) SELECT ev.id, x.evidence, NULL FROM ev JOIN x ON x.uid = ev.uid
), state AS (
    INSERT INTO {state} AS s (contact_id, purpose, status, since, source, notice_version, last_event_id, updated_at)
    SELECT ev.contact_id, ev.purpose, 'opted_out', ev.occurred_at, ev.source, ev.notice_version, ev.id, now() FROM ev
    ON CONFLICT (contact_id, purpose) DO UPDATE
        SET status = EXCLUDED.status, since = EXCLUDED.since, source = EXCLUDED.source,
            notice_version = EXCLUDED.notice_version, last_event_id = EXCLUDED.last_event_id,
            updated_at = EXCLUDED.updated_at
)
SELECT id, uid FROM ev
"""


def consent_apply_inbound_opt_outs(requests: Sequence[InboundOptOut]) -> list[InboundOutcome | None]:
    """Many opt-out keywords at once, each with the effect consent_apply_inbound_message gives
    it alone (its window recorded, the opt-out appended and projected, superseded when the
    customer said START on WhatsApp after it), in a few statements for the whole group: the
    webhook view must have a batch's opt-outs in force within a second even when Meta delivers
    a thousand of them. PostgreSQL only; the caller's transaction. An entry is None where this
    path does not apply (no number; a number named twice; a BSUID another contact holds): the
    caller applies those one by one."""
    outcomes: list[InboundOutcome | None] = [None] * len(requests)
    if connection.vendor != "postgresql" or not requests:
        return outcomes
    chosen: dict[str, int] = {}  # e164 -> index of its first request
    for index, request in enumerate(requests):
        e164 = wa_id_e164(request.wa_id)
        if e164 and e164 not in chosen:
            chosen[e164] = index
    if not chosen:
        return outcomes
    contacts = _contacts_locked(sorted(chosen), {e164: requests[i].wa_id for e164, i in chosen.items()})
    # Meta's ids remembered as consent_link_identity and _enrich_contact do: the BSUID the payload
    # names replaces the contact's own unless another contact holds it (that opt-out goes alone:
    # the link merges two contacts); the wa_id where the contact has none.
    named = [requests[i].user_id for i in chosen.values() if requests[i].user_id]
    held = dict(Contact.objects.filter(user_id__in=named).values_list("user_id", "pk")) if named else {}
    chosen = {e164: i for e164, i in chosen.items()
              if not requests[i].user_id or held.get(requests[i].user_id, contacts[e164][0].pk) == contacts[e164][0].pk}
    _remember_ids([(contacts[e164][0], requests[i].user_id or None, requests[i].wa_id or None)
                   for e164, i in chosen.items()])
    picked = [(contacts[e164][0], contacts[e164][1], requests[i], i) for e164, i in chosen.items()]
    _record_windows([(c, r.at, r.wamid) for c, _, r, _ in picked if r.record_window])
    superseded = _later_grants([(c.pk, r.at, _keyword_purposes(r.keyword.scope)) for c, _, r, _ in picked])
    now = timezone.now()
    rows: list[tuple[Any, ...]] = []
    events_of: dict[int, list[ConsentEvent]] = {}
    for contact, _, request, index in picked:
        if contact.pk in superseded:
            continue
        evidence = {"wamid": request.wamid, "keyword": request.keyword.phrase}
        digest, token = evidence_digest(evidence), _evidence_token(evidence)
        label = f"keyword {request.keyword.phrase}"[:200]
        batch = uuid.uuid4()
        occurred = min(request.at, now)
        events_of[index] = []
        for purpose in _keyword_purposes(request.keyword.scope):
            event = ConsentEvent(uid=uuid.uuid4(), batch=batch, contact=contact, purpose=purpose, action=Action.OPT_OUT,
                                 source=Source.WHATSAPP, notice=None, notice_version="", notice_sha256="",
                                 evidence_sha256=digest, actor_type=ActorType.SYSTEM, actor_id="", actor_label=label,
                                 occurred_at=occurred, recorded_at=now)
            events_of[index].append(event)
            rows.append((event.uid, batch, contact.pk, purpose, digest, label, occurred, now, token))
    if rows:
        tables = _tables()
        sql = _OPT_OUTS_SQL.format(**tables)
        columns = list(zip(*rows, strict=True))
        ids = {uid: pk for pk, uid in _execute_prepared(sql, [*map(list, columns), Source.WHATSAPP, ActorType.SYSTEM])}
        for events in events_of.values():
            _mark_saved(events, ids)
    for contact, _, request, index in picked:
        events = events_of.get(index, [])
        result = KeywordResult(
            contact=contact, keyword=request.keyword.phrase, action=request.keyword.action,
            purposes=[e.purpose for e in events], events=events, reply_text=request.keyword.reply_text,
            language=request.keyword.language,
        )
        outcomes[index] = InboundOutcome(contact=contact, result=result, superseded=contact.pk in superseded)
    return outcomes


def _contacts_locked(numbers: Sequence[str], wa_ids: Mapping[str, str]) -> dict[str, tuple[Contact, bool]]:
    """e164 -> (contact, created): created if new, locked for this transaction if known."""
    phone_field, wa_field = Contact._meta.get_field("phone"), Contact._meta.get_field("wa_id")
    params = [
        [uuid.uuid4() for _ in numbers],
        [phone_field.get_db_prep_save(e164, connection) for e164 in numbers],
        [phone_digest(e164) for e164 in numbers],
        [wa_field.get_db_prep_save(wa_ids.get(e164) or None, connection) for e164 in numbers],
    ]
    sql = _CONTACTS_LOCKED_SQL.format(contact=_tables()["contact"], columns=_contact_columns())
    by_digest = {phone_digest(e164): e164 for e164 in numbers}
    width = len(Contact._meta.concrete_fields)
    digest_at = [f.attname for f in Contact._meta.concrete_fields].index("phone_digest")
    found: dict[str, tuple[Contact, bool]] = {}
    for row in _execute_prepared(sql, params):
        e164 = by_digest[row[digest_at]]
        found[e164] = (_contact_from_row(e164, row[:width]), bool(row[width]))
    return found


def _remember_ids(named: Sequence[tuple[Contact, str | None, str | None]]) -> None:
    """(contact, BSUID, wa_id): set the BSUID (free, checked by the caller) and a missing wa_id,
    for many contacts in one statement; erased contacts keep nothing."""
    changes = [(c, uid if uid and uid != c.user_id else None, wa if wa and not c.wa_id else None)
               for c, uid, wa in named if not c.erased]
    changes = [change for change in changes if change[1] or change[2]]
    if not changes:
        return
    wa_field = Contact._meta.get_field("wa_id")
    _execute_prepared(
        f"UPDATE {_tables()['contact']} AS c SET user_id = coalesce(v.user_id, c.user_id), "  # noqa: S608 - our table
        "wa_id = coalesce(c.wa_id, v.wa_id), updated_at = now() "
        "FROM unnest(%b::bigint[], %b::text[], %b::text[]) AS v(id, user_id, wa_id) WHERE c.id = v.id RETURNING c.id",
        [[c.pk for c, _, _ in changes], [uid for _, uid, _ in changes],
         [wa_field.get_db_prep_save(wa, connection) if wa else None for _, _, wa in changes]],
    )
    for contact, uid, wa in changes:
        contact.user_id = uid or contact.user_id
        contact.wa_id = contact.wa_id or wa


def _record_windows(windows: Sequence[tuple[Contact, datetime, str]]) -> None:
    """_record_window for many contacts in one statement (never moving a window backwards)."""
    if not windows:
        return
    table = _tables()["contact"]
    _execute_prepared(
        f"UPDATE {table} AS c SET last_inbound_at = v.at, updated_at = now(), "  # noqa: S608 - our table
        "last_inbound_wamid = CASE WHEN c.erased THEN '' ELSE v.wamid END "
        "FROM unnest(%b::bigint[], %b::timestamptz[], %b::text[]) AS v(id, at, wamid) "
        "WHERE c.id = v.id AND (c.last_inbound_at IS NULL OR c.last_inbound_at < v.at) RETURNING c.id",
        [[c.pk for c, _, _ in windows], [at for _, at, _ in windows], [wamid[:255] for _, _, wamid in windows]],
    )
    for contact, at, wamid in windows:
        if contact.last_inbound_at is None or contact.last_inbound_at < at:
            contact.last_inbound_at, contact.last_inbound_wamid = at, "" if contact.erased else wamid[:255]


def _later_grants(checks: Sequence[tuple[int, datetime, Sequence[str]]]) -> set[int]:
    """The contacts among `checks` (contact id, keyword time, its purposes) who consented again
    on WhatsApp after that time (_later_decision for many at once)."""
    if not checks:
        return set()
    rows = [(cid, at, purpose) for cid, at, purposes in checks for purpose in purposes]
    event = _tables()["event"]
    found = _execute_prepared(
        f"SELECT DISTINCT v.id FROM unnest(%b::bigint[], %b::timestamptz[], %b::text[]) AS v(id, at, purpose) "  # noqa: S608
        f"JOIN {event} e ON e.contact_id = v.id AND e.purpose = v.purpose AND e.occurred_at > v.at "
        "WHERE e.source = %s AND e.action = ANY(%s)",
        [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], Source.WHATSAPP,
         [Action.OPT_IN, Action.RESUBSCRIBE]],
    )
    return {row[0] for row in found}


# --- Identity: phone numbers and Meta's business-scoped user ids ---------------------------------


def _lock_contacts(*contacts: Contact | None) -> list[Contact | None]:
    """Lock these contacts for this transaction's appends, in id order (two transactions that
    lock the same pair never wait on each other in a circle); each as it is now, or None."""
    locked = {c.pk: _lock_contact(c) for c in sorted({c.pk: c for c in contacts if c is not None}.values(),
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
        _append(contact=into, action=Action.OPT_OUT, items=[(p, None) for p in sorted(held)], source=Source.WHATSAPP,
                actor=Actor.meta(reason), evidence={**evidence, "withdrawn_by": source_contact.public_id})


@transaction.atomic
def consent_contact_for_identity(*, wa_id: str | None, user_id: str | None) -> Contact | None:
    """The contact Meta names by wa_id and/or BSUID, created when first seen (no consent)."""
    return _contact_for(e164=wa_id_e164(wa_id), user_id=user_id, wa_id=wa_id)


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
    new, created = _contact_locked(e164=new_e164, wa_id=new_wa_id)
    assert new is not None
    if old is None:
        return new
    old = _lock_contact(old)
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
    _append(contact=new, action=Action.OPT_OUT, items=[(p, None) for p in stale], source=Source.WHATSAPP,
            actor=actor, evidence={**evidence, "reason": "number now held by another person"}, occurred_at=at)
    _append(contact=new, action=Action.RESUBSCRIBE, items=grants, source=Source.WHATSAPP, actor=actor,
            evidence=evidence, occurred_at=at, new_contact=created)
    held = [p for p, s in old_states.items() if s.status == Status.OPTED_IN]
    _append(contact=old, action=Action.OPT_OUT, items=[(p, None) for p in held], source=Source.WHATSAPP,
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


# --- Keywords and notices (staff) ---------------------------------------------------------


@transaction.atomic
def keyword_save(*, keyword: OptOutKeyword) -> OptOutKeyword:
    """Create or change a keyword (the admin's save): stores its normalised form."""
    normalized = normalize_keyword(keyword.phrase)
    if not normalized:
        raise ConsentError("A keyword needs at least one letter.", field="phrase")
    if keyword.action == OptOutKeyword.KeywordAction.OPT_OUT and not keyword.scope:
        raise ConsentError("An opt-out keyword needs a scope.", field="scope")
    if keyword.action == OptOutKeyword.KeywordAction.PREFERENCES and keyword.reply_text and (
        "{link}" not in keyword.reply_text
    ):
        raise ConsentError("A preferences keyword's reply must contain {link} (the customer's link).",
                           field="reply_text")
    clash = OptOutKeyword.objects.filter(normalized=normalized).exclude(pk=keyword.pk).first()
    if clash is not None:
        raise ConsentError(f"{keyword.phrase!r} matches the existing keyword {clash.phrase!r}.", field="phrase")
    keyword.normalized = normalized
    keyword.save()
    return keyword


def _notice_content(notice: ConsentNotice) -> dict[str, Any]:
    return {
        "version": notice.version,
        "language": notice.language,
        "title": notice.title,
        "text": notice.text,
        "items": notice.items,
        "purposes": notice.purposes,
        "withdrawal_instructions": notice.withdrawal_instructions,
        "complaint_instructions": notice.complaint_instructions,
        "business_name": notice.business_name,
        "business_contact": notice.business_contact,
    }


NOTICE_FIELDS = (
    "version",
    "language",
    "title",
    "text",
    "items",
    "purposes",
    "withdrawal_instructions",
    "complaint_instructions",
    "business_name",
    "business_contact",
)


@transaction.atomic
def notice_save(*, notice: ConsentNotice) -> ConsentNotice:
    """Create or edit a draft notice. A published notice never changes (NoticePublished)."""
    if notice.pk is not None:
        stored = ConsentNotice.objects.select_for_update().get(pk=notice.pk)
        if stored.is_published:
            raise NoticePublished(stored)
    notice.published_at = None
    notice.text_sha256 = ""
    notice.save()
    return notice


def notice_problems(notice: ConsentNotice) -> dict[str, str]:
    """What a notice lacks before it may be published (DPDP s.5 / Rules r.3: itemised,
    withdrawal route, complaint route incl. the Board, business name and contact)."""
    problems: dict[str, str] = {}
    for name in ("title", "text", "withdrawal_instructions", "complaint_instructions", "business_name",
                 "business_contact", "language"):
        if not str(getattr(notice, name) or "").strip():
            problems[name] = "This field is required before publishing."
    if "data protection board" not in (notice.complaint_instructions or "").casefold() and (
        "डेटा संरक्षण बोर्ड" not in (notice.complaint_instructions or "")
    ):
        problems.setdefault("complaint_instructions", "Name the Data Protection Board of India as the complaint route.")
    purposes = notice.purposes if isinstance(notice.purposes, list) else []
    if not purposes or any(p not in ALL_PURPOSES for p in purposes):
        problems["purposes"] = f"List the purposes asked for, among: {', '.join(ALL_PURPOSES)}."
    items = notice.items if isinstance(notice.items, list) else []
    if not items:
        problems["items"] = "Itemise the personal data collected, each with its purposes."
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not item.get("data") or not item.get("purposes"):
            problems["items"] = f"Item {index + 1} needs 'data' and 'purposes'."
            break
        if any(p not in ALL_PURPOSES for p in item["purposes"]):
            problems["items"] = f"Item {index + 1} names an unknown purpose."
            break
    return problems


@transaction.atomic
def notice_publish(*, notice: ConsentNotice, actor: Actor) -> ConsentNotice:
    """Freeze a draft: from now on it can be cited by consents and never changes."""
    notice = ConsentNotice.objects.select_for_update().get(pk=notice.pk)
    if notice.is_published:
        raise NoticePublished(notice)
    problems = notice_problems(notice)
    if problems:
        field, message = next(iter(problems.items()))
        raise ConsentError(f"{field}: {message}", field=field)
    notice.text_sha256 = sha256_hex(canonical_json(_notice_content(notice)))
    notice.published_at = timezone.now()
    notice.save(update_fields=["text_sha256", "published_at", "updated_at"])
    logger.info("Consent notice %s published by %s", notice.version, actor.label)
    return notice


# --- Ledger verification ------------------------------------------------------------------


def consent_ledger_verify(*, triggered_by: str = "") -> LedgerVerification:
    """Recompute the log from the events and check it against the stored tree and every signed
    checkpoint, in the database and in LEDGER_CHECKPOINT_DIR (consent.log_verify; streamed,
    flat memory), and record the run."""

    started = timezone.now()
    result = ledger_verify()
    return LedgerVerification.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        ok=result.ok,
        events_checked=result.events_checked,
        checkpoints_checked=result.checkpoints_checked,
        head_sequence=result.tree_size,
        head_hash=result.root_hash,
        first_bad_sequence=result.first_bad_sequence,
        first_bad_event=result.first_bad_event[:64],
        problem=result.problem,
        triggered_by=triggered_by[:64],
    )
