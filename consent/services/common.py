"""Shared by consent's services: the errors, the contact's lock and the one way events are appended
to the ledger (with the state they leave)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from auditlog.context import disable_auditlog
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from consent.ledger import canonical_json, evidence_digest
from consent.models import (
    ConsentEvent,
    ConsentEvidence,
    ConsentNotice,
    ConsentState,
    Contact,
    Source,
)
from consent.purposes import Purpose
from consent.selectors import GRANTS, STATUS_AFTER, notice_by_version
from consent.types import Actor
from pandorakart_wa.core.errors import ApplicationError
from pandorakart_wa.core.phones import InvalidPhoneNumber, normalize_phone, phone_digest
from pandorakart_wa.core.sql import execute_prepared

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


def lock_contact(contact: Contact) -> Contact:
    """Serialise appends to this contact's ledger until the end of the current transaction,
    and return the contact as it is now (a holder of the lock may have changed it, erased it,
    while this transaction waited). NO KEY: rows that only reference the contact (messages,
    consent states) are inserted by others meanwhile without waiting."""
    return Contact.objects.select_for_update(no_key=True).get(pk=contact.pk)


def normalize(phone: str, field: str = "phone") -> str:
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
# no-op update on conflict takes the same FOR NO KEY UPDATE lock lock_contact takes (a key
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


def contact_locked(
    *, e164: str | None, user_id: str | None = None, wa_id: str | None = None
) -> tuple[Contact | None, bool]:
    """Resolve the contact and lock it for this transaction's appends (re-read under the lock:
    a lock holder may have changed it, erased it, while this transaction waited)."""
    if e164 and not user_id and not wa_id and number_fast_path():
        # The storefront's calls (a number, nothing from Meta to remember): one statement.
        sql = _CONTACT_LOCKED_SQL.format(contact=connection.ops.quote_name(Contact._meta.db_table),
                                         columns=contact_columns())
        encrypted = Contact._meta.get_field("phone").get_db_prep_save(e164, connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, [uuid.uuid4(), encrypted, phone_digest(e164)])
            *values, inserted = cursor.fetchone()
        return contact_from_row(e164, values), bool(inserted)
    contact, created = _resolve_contact(e164=e164, user_id=user_id, wa_id=wa_id)
    if contact is not None and not created:
        contact = lock_contact(contact)
        _enrich_contact(contact, user_id=user_id, wa_id=wa_id)
    return contact, created


def contact_for(
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


def check_evidence(evidence: Mapping[str, Any] | None) -> dict[str, Any]:
    data = dict(evidence or {})
    encoded = canonical_json(data)
    if b"\\u0000" in encoded or b"\x00" in encoded:
        raise ConsentError("Evidence cannot contain NUL characters.", field="evidence")
    if len(encoded) > EVIDENCE_MAX_BYTES:
        raise ConsentError(f"Evidence must be at most {EVIDENCE_MAX_BYTES} bytes of JSON.", field="evidence")
    return data


def check_occurred_at(occurred_at: datetime | None, now: datetime) -> datetime | None:
    if occurred_at is None:
        return None
    if timezone.is_naive(occurred_at):
        raise ConsentError("occurred_at needs a UTC offset.", field="occurred_at")
    if occurred_at > now + CLOCK_SKEW_TOLERANCE:
        raise ConsentError("occurred_at cannot be in the future.", field="occurred_at")
    return occurred_at


def check_purposes(purposes: Sequence[str] | None, *, allow_all: bool) -> list[str]:
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


def append(
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
    contact's lock (contact_locked). The events have no position until the sequencer's next run.

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


def table_names() -> dict[str, str]:
    quote = connection.ops.quote_name
    tables = {
        "event": quote(ConsentEvent._meta.db_table),
        "evidence": quote(ConsentEvidence._meta.db_table),
        "state": quote(ConsentState._meta.db_table),
        "contact": quote(Contact._meta.db_table),
    }
    return {**tables, "columns": _EVENT_COLUMNS, "returning": _EVENTS_RETURNING,
            "projection": _PROJECTION_SQL.format(**tables)}


def evidence_token(evidence_data: Mapping[str, Any]) -> str | None:
    """The evidence as its column holds it: encrypted at rest (EncryptedJSONField's token)."""
    if not evidence_data:
        return None
    return str(ConsentEvidence._meta.get_field("data").get_prep_value(dict(evidence_data)))


def mark_saved(events: list[ConsentEvent], ids: Mapping[uuid.UUID, int]) -> None:
    for e in events:
        e.pk = ids[e.uid]
        e._state.adding = False
        e._state.db = connection.alias


def _write_pg(contact: Contact, events: list[ConsentEvent], evidence_data: dict[str, Any]) -> None:
    sql = _APPEND_SQL.format(rows=", ".join([_EVENT_PLACEHOLDERS] * len(events)), **table_names())
    params: list[Any] = []
    for e in events:
        params += [e.uid, e.batch, contact.pk, e.purpose, e.action, e.source, e.notice_id,
                   e.notice_version, e.notice_sha256, e.evidence_sha256, e.actor_type, e.actor_id, e.actor_label,
                   e.occurred_at, e.recorded_at]
    params += [evidence_token(evidence_data), bool(evidence_data)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        mark_saved(events, {uid: pk for pk, uid in cursor.fetchall()})


def contact_from_row(e164: str, values: Sequence[Any]) -> Contact:
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


def contact_columns() -> str:
    return ", ".join(f"c.{connection.ops.quote_name(str(f.column))}" for f in Contact._meta.concrete_fields)


def number_fast_path() -> bool:
    """PostgreSQL: a number's append is one statement (append_to_number). Outside a caller's
    transaction that statement is the whole transaction (autocommit: no BEGIN and COMMIT round
    trips); inside one, it joins it."""
    return connection.vendor == "postgresql"


def append_to_number(
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
    created or locked (as contact_locked), then appended to (as append). Events are None when
    `unless_erased` and the contact is erased: only the lock was taken."""
    evidence_data = dict(evidence)
    events = _new_events(contact=None, action=action, items=items, source=source, actor=actor,
                         evidence_data=evidence_data, occurred_at=occurred_at)
    tables = table_names()
    sql = _APPEND_TO_NUMBER_SQL.format(
        contact_sql=_CONTACT_LOCKED_SQL.format(contact=tables["contact"], columns=contact_columns()),
        contact_columns=contact_columns(),
        rows=", ".join([_TYPED_EVENT_PLACEHOLDERS] * len(events)),
        **tables,
    )
    encrypted = Contact._meta.get_field("phone").get_db_prep_save(e164, connection)
    params: list[Any] = [uuid.uuid4(), encrypted, phone_digest(e164)]
    for e in events:
        params += [e.uid, e.batch, e.purpose, e.action, e.source, e.notice_id, e.notice_version, e.notice_sha256,
                   e.evidence_sha256, e.actor_type, e.actor_id, e.actor_label, e.occurred_at, e.recorded_at]
    params += [unless_erased, evidence_token(evidence_data), bool(evidence_data)]
    rows = execute_prepared(sql, params)
    width = len(Contact._meta.concrete_fields)
    contact = contact_from_row(e164, rows[0][:width])
    created = bool(rows[0][width])
    ids = {row[width + 2]: row[width + 1] for row in rows if row[width + 1] is not None}
    if not ids and events:
        return contact, created, None
    for e in events:
        e.contact = contact
    mark_saved(events, ids)
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


def published_notice(notice: ConsentNotice | str) -> ConsentNotice:
    if isinstance(notice, str):

        found = notice_by_version(notice)
        if found is None or not found.is_published:
            raise ConsentError(f"No published consent notice has version {notice!r}.", field="notice_version")
        return found
    if not notice.is_published:
        raise ConsentError(f"Consent notice {notice.version} is not published.", field="notice_version")
    return notice
