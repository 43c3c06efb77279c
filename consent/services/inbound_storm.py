"""Many WhatsApp opt-outs at once (a storm of STOPs after a campaign): applied together, in one
statement per group, with the same outcome as one by one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from consent.ledger import evidence_digest
from consent.models import (
    Action,
    ConsentEvent,
    Contact,
    Source,
)
from consent.services.common import contact_columns, contact_from_row, evidence_token, mark_saved, table_names
from consent.services.inbound import keyword_purposes
from consent.types import InboundOptOut, InboundOutcome, KeywordResult
from pandorakart_wa.core.audit import ActorType
from pandorakart_wa.core.phones import phone_digest, wa_id_e164
from pandorakart_wa.core.sql import execute_prepared

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
    superseded = _later_grants([(c.pk, r.at, keyword_purposes(r.keyword.scope)) for c, _, r, _ in picked])
    now = timezone.now()
    rows: list[tuple[Any, ...]] = []
    events_of: dict[int, list[ConsentEvent]] = {}
    for contact, _, request, index in picked:
        if contact.pk in superseded:
            continue
        evidence = {"wamid": request.wamid, "keyword": request.keyword.phrase}
        digest, token = evidence_digest(evidence), evidence_token(evidence)
        label = f"keyword {request.keyword.phrase}"[:200]
        batch = uuid.uuid4()
        occurred = min(request.at, now)
        events_of[index] = []
        for purpose in keyword_purposes(request.keyword.scope):
            event = ConsentEvent(uid=uuid.uuid4(), batch=batch, contact=contact, purpose=purpose, action=Action.OPT_OUT,
                                 source=Source.WHATSAPP, notice=None, notice_version="", notice_sha256="",
                                 evidence_sha256=digest, actor_type=ActorType.SYSTEM, actor_id="", actor_label=label,
                                 occurred_at=occurred, recorded_at=now)
            events_of[index].append(event)
            rows.append((event.uid, batch, contact.pk, purpose, digest, label, occurred, now, token))
    if rows:
        tables = table_names()
        sql = _OPT_OUTS_SQL.format(**tables)
        columns = list(zip(*rows, strict=True))
        ids = {uid: pk for pk, uid in execute_prepared(sql, [*map(list, columns), Source.WHATSAPP, ActorType.SYSTEM])}
        for events in events_of.values():
            mark_saved(events, ids)
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
    sql = _CONTACTS_LOCKED_SQL.format(contact=table_names()["contact"], columns=contact_columns())
    by_digest = {phone_digest(e164): e164 for e164 in numbers}
    width = len(Contact._meta.concrete_fields)
    digest_at = [f.attname for f in Contact._meta.concrete_fields].index("phone_digest")
    found: dict[str, tuple[Contact, bool]] = {}
    for row in execute_prepared(sql, params):
        e164 = by_digest[row[digest_at]]
        found[e164] = (contact_from_row(e164, row[:width]), bool(row[width]))
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
    execute_prepared(
        f"UPDATE {table_names()['contact']} AS c SET user_id = coalesce(v.user_id, c.user_id), "  # noqa: S608 - our table
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
    table = table_names()["contact"]
    execute_prepared(
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
    event = table_names()["event"]
    found = execute_prepared(
        f"SELECT DISTINCT v.id FROM unnest(%b::bigint[], %b::timestamptz[], %b::text[]) AS v(id, at, purpose) "  # noqa: S608
        f"JOIN {event} e ON e.contact_id = v.id AND e.purpose = v.purpose AND e.occurred_at > v.at "
        "WHERE e.source = %s AND e.action = ANY(%s)",
        [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], Source.WHATSAPP,
         [Action.OPT_IN, Action.RESUBSCRIBE]],
    )
    return {row[0] for row in found}
