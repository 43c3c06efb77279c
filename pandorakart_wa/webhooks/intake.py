"""The intake of Meta's webhooks: store the bytes durably, read them once, dedupe per update.

Steps 1 and 2 of what a POST does (API.md "Webhooks from Meta"); receive.py is the whole of it:
1. the body's bytes are stored, encrypted, with a keyed digest that answers an identical
   redelivery at once; parsing is bounded and never fails a signed body that is JSON;
2. the body is read into typed items (pandorakart_wa.whatsapp.inbound), each stored in the same
   statement as the event, unique by a keyed digest of Meta's own id for it: an update that
   comes again, in any batch or serialisation, inserts nothing and is applied once;
3. the opt-outs among the new items (consent keywords, Meta's marketing stop, error 131050)
   are applied before the answer, each in its own transaction, within a time budget; the rest
   is left to the workers (drain.py), woken once after the commit.

A crash anywhere after step 1 loses nothing: an event left unread, an item left pending, are
found by the sweep (beat) and by the redelivery of the same body, which resumes the event.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from pandorakart_wa.core.fields import decrypt_bytes, encrypt_bytes, encrypt_str, keyed_digest
from pandorakart_wa.core.phones import phone_digest, wa_id_e164
from pandorakart_wa.webhooks import keywords
from pandorakart_wa.webhooks.models import WebhookEvent, WebhookItem
from pandorakart_wa.whatsapp.inbound import Item, ItemKind, NotJson, Parsed, parse_body

logger = logging.getLogger(__name__)

# Meta's error on a marketing send to a customer who stopped marketing in WhatsApp: an opt-out.
PLATFORM_OPT_OUT_CODE = 131050
# Kinds that name a customer of this service's number; the rest are WABA-level events.
CUSTOMER_KINDS = frozenset({ItemKind.MESSAGE, ItemKind.STATUS, ItemKind.PREFERENCE, ItemKind.IDENTITY_CHANGE,
                            ItemKind.ECHO})


@dataclass(frozen=True)
class Receipt:
    event_id: int
    duplicate: bool  # the same bytes were received before
    new_items: int  # updates stored from this body that were not seen before
    opt_outs_applied: int  # applied before the answer
    problem: str = ""


@dataclass(frozen=True)
class ItemRow:
    position: int
    kind: str
    field: str
    key_digest: str
    opt_out: bool
    in_scope: bool
    occurred_at: datetime
    phone_digest: str
    user_id: str
    payload: str  # JSON, encrypted when stored


def read_body(raw: bytes, *, received_at: datetime) -> tuple[Parsed | None, list[ItemRow] | None, str]:
    """(parsed, rows, problem). A bug in reading must never lose the body: it is stored unread,
    with the problem, and the sweep tries again (after a fix, `replay_webhooks`)."""
    try:
        parsed = parse_body(raw, received_at=received_at)
    except NotJson:
        raise
    except Exception as exc:
        logger.exception("Could not read a webhook body; stored unread")
        return None, None, f"could not be read: {type(exc).__name__}: {exc}"[:2000]
    try:
        return parsed, item_rows(parsed.items), parsed.problem
    except Exception as exc:
        logger.exception("Could not prepare a webhook's items; stored unread")
        return parsed, None, f"could not be read into items: {type(exc).__name__}: {exc}"[:2000]


# --- Items ----------------------------------------------------------------------------------------


def item_rows(items: Sequence[Item]) -> list[ItemRow]:
    """The rows to store for a body's items: dedupe digest, opt-out flag (the keyword match runs
    here, once, and its result travels in the payload), scope, the customer's digest."""
    matches = keywords.match_texts([i.keyword_text for i in items if i.keyword_text])
    rows: list[ItemRow] = []
    seen: set[str] = set()
    for position, item in enumerate(items):
        digest = keyed_digest(item.key.encode("utf-8", "surrogatepass"), purpose="webhook-item")
        if digest in seen:
            continue  # the same update twice in one body
        seen.add(digest)
        keyword = matches.get(item.keyword_text or "")
        opt_out = _is_opt_out(item, keyword)
        e164 = wa_id_e164(item.wa_id)
        payload = {
            "wa_id": item.wa_id,
            "user_id": item.user_id,
            "phone_number_id": item.phone_number_id,
            "waba_id": item.waba_id,
            "data": item.data,
        }
        if keyword is not None:
            payload["keyword"] = keyword.as_dict()
        rows.append(ItemRow(
            position=position, kind=str(item.kind), field=item.field[:128], key_digest=digest, opt_out=opt_out,
            in_scope=in_scope(item), occurred_at=item.occurred_at, phone_digest=phone_digest(e164) if e164 else "",
            user_id=item.user_id, payload=json.dumps(payload, ensure_ascii=True, separators=(",", ":")),
        ))
    return rows


def _is_opt_out(item: Item, keyword: keywords.KeywordMatch | None) -> bool:
    if item.kind == ItemKind.MESSAGE:
        return keyword is not None and keyword.opts_out
    if item.kind == ItemKind.PREFERENCE:
        return item.marketing_stop and item.data.get("category") in ("", "marketing_messages")
    if item.kind == ItemKind.STATUS:
        return any(e.get("code") == PLATFORM_OPT_OUT_CODE for e in item.data.get("errors") or [])
    return False


def in_scope(item: Item) -> bool:
    """Whether an update is for this service: its phone number id and WABA, where configured
    (the sandbox and `make run` configure none). Out-of-scope updates are stored and alerted,
    and not applied, except opt-outs (pandorakart_wa.webhooks.router)."""
    number = settings.WHATSAPP_PHONE_NUMBER_ID
    waba = settings.WHATSAPP_WABA_ID
    if number and item.kind in CUSTOMER_KINDS and item.phone_number_id != number:
        return False
    return not (waba and item.waba_id and item.waba_id != waba)


# --- Storing --------------------------------------------------------------------------------------

_STORE_SQL = """
WITH ev AS (
    INSERT INTO {event} (body_digest, body_token, body_size, source, fields, item_count, received_at, split_at,
                         split_attempts, processed_at, error, redacted_at)
    VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, NULL, %s, NULL)
    ON CONFLICT (body_digest) DO NOTHING
    RETURNING id
), it AS (
    INSERT INTO {item} (event_id, position, kind, field, key_digest, state, opt_out, in_scope, occurred_at,
                        received_at, phone_digest, user_id, payload, attempts, next_attempt_at, applied_at,
                        last_error, note)
    SELECT ev.id, t.position, t.kind, t.field, t.key_digest, 'pending', t.opt_out, t.in_scope, t.occurred_at,
           %s, t.phone_digest, t.user_id, t.payload, 0, NULL, NULL, '', ''
    FROM ev, unnest(%b::int[], %b::text[], %b::text[], %b::text[], %b::bool[], %b::bool[], %b::timestamptz[],
                    %b::text[], %b::text[], %b::text[])
         AS t(position, kind, field, key_digest, opt_out, in_scope, occurred_at, phone_digest, user_id, payload)
    ON CONFLICT (key_digest) DO NOTHING
    RETURNING id, position, opt_out
)
SELECT (SELECT id FROM ev),
       (SELECT coalesce(array_agg(id ORDER BY position), '{{}}') FROM it WHERE opt_out),
       (SELECT count(*) FROM it)
"""


def store_event(raw: bytes, *, source: str, parsed: Parsed | None, rows: list[ItemRow] | None, received_at: datetime,
           problem: str) -> tuple[int, list[int], int, bool]:
    """(event id, new opt-out item ids, new item count, duplicate). On PostgreSQL one statement
    (so one implicit transaction: the event and its items together, or neither)."""
    digest = keyed_digest(raw, purpose="webhook-body")
    token = encrypt_bytes(raw)
    fields = parsed.fields if parsed is not None else []
    split = rows is not None
    if connection.vendor == "postgresql":
        try:
            return _store_pg(digest, token, len(raw), source, fields, rows or [], received_at, split, problem)
        except DatabaseError as exc:
            if not split or not connection.is_usable():
                raise
            # An item the database refused (a bug, never the body's fault): keep the body, unread.
            logger.exception("Storing a webhook's items failed; storing the body alone for the sweep")
            problem = f"items could not be stored: {type(exc).__name__}: {exc}"[:2000]
            return _store_pg(digest, token, len(raw), source, fields, [], received_at, False, problem)
    return _store_orm(digest, token, len(raw), source, fields, rows, received_at, problem)


def _store_pg(digest: str, token: str, size: int, source: str, fields: list[str], rows: list[ItemRow],
              received_at: datetime, split: bool, problem: str) -> tuple[int, list[int], int, bool]:
    quote = connection.ops.quote_name
    sql = _STORE_SQL.format(event=quote(WebhookEvent._meta.db_table), item=quote(WebhookItem._meta.db_table))
    params: list[Any] = [
        digest, token, size, source, json.dumps(fields), len(rows), received_at, received_at if split else None, 0,
        problem, received_at,
        [r.position for r in rows], [r.kind for r in rows], [r.field for r in rows], [r.key_digest for r in rows],
        [r.opt_out for r in rows], [r.in_scope for r in rows], [r.occurred_at for r in rows],
        [r.phone_digest for r in rows], [r.user_id for r in rows], [encrypt_str(r.payload) for r in rows],
    ]
    # One statement, no BEGIN/COMMIT around it in the view (autocommit); a savepoint when a
    # caller's transaction is open, so a refused statement leaves that transaction usable. The
    # parameters are bound server-side, the arrays in binary (%b): a 1,000-item body's arrays
    # quoted into SQL text (Django's psycopg cursors bind on the client) and parsed back by
    # PostgreSQL cost three times the insert itself.
    with (
        transaction.atomic() if connection.in_atomic_block else _nothing(),
        connection.cursor() as wrapper,
        psycopg.Cursor(wrapper.connection) as cursor,
    ):
        cursor.execute(sql, params)
        row = cursor.fetchone()
    assert row is not None  # the statement always returns one row
    event_id, opt_outs, count = row
    if event_id is None:
        return _existing_id(digest), [], 0, True
    return int(event_id), list(opt_outs or []), int(count), False


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


def _store_orm(digest: str, token: str, size: int, source: str, fields: list[str], rows: list[ItemRow] | None,
               received_at: datetime, problem: str) -> tuple[int, list[int], int, bool]:
    """SQLite (the run command): the same, statement by statement in one transaction."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = WebhookEvent.objects.create(
                    body_digest=digest, body_token=token, body_size=size, source=source, fields=fields,
                    item_count=len(rows or []), received_at=received_at,
                    split_at=received_at if rows is not None else None, error=problem,
                )
        except IntegrityError:
            return _existing_id(digest), [], 0, True
        new = insert_items(event, rows or [], received_at=received_at)
    return event.pk, [i.pk for i in new if i.opt_out], len(new), False


def insert_items(event: WebhookEvent, rows: Sequence[ItemRow], *, received_at: datetime) -> list[WebhookItem]:
    """Insert the rows not seen before (any database; each in a savepoint, so a duplicate or a
    refused row never takes the others with it). Used by the ORM path, the sweep and replays."""
    created: list[WebhookItem] = []
    for row in rows:
        try:
            with transaction.atomic():
                created.append(WebhookItem.objects.create(
                    event=event, position=row.position, kind=row.kind, field=row.field, key_digest=row.key_digest,
                    opt_out=row.opt_out, in_scope=row.in_scope, occurred_at=row.occurred_at, received_at=received_at,
                    phone_digest=row.phone_digest, user_id=row.user_id, payload=row.payload,
                ))
        except IntegrityError:
            continue  # seen before, in another event
        except DatabaseError:
            logger.exception("Webhook event %s: item %s could not be stored", event.pk, row.position)
            raise
    return created


def _existing_id(digest: str) -> int:
    return int(WebhookEvent.objects.filter(body_digest=digest).values_list("pk", flat=True).get())


def resume_event(event_id: int, raw: bytes) -> tuple[list[int], str]:
    """A redelivery of bytes received before: finish whatever that event left undone (a crash
    between storing and applying): read it if it was stored unread, and return its opt-outs
    still pending, for the caller to apply now."""
    event = WebhookEvent.objects.only("pk", "split_at", "processed_at", "error").get(pk=event_id)
    problem = event.error
    if event.split_at is None:
        problem = split_event(event, raw=raw)
    if event.processed_at is not None:
        return [], problem
    pending = list(
        WebhookItem.objects.filter(event_id=event_id, opt_out=True, state__in=OPEN_STATES)
        .order_by("position").values_list("pk", flat=True)
    )
    return pending, problem


OPEN_STATES = (WebhookItem.State.PENDING, WebhookItem.State.FAILED)
REDACTED = "the body was redacted"  # split_event's answer for a body retention or erasure removed


def split_event(event: WebhookEvent, *, raw: bytes | None = None) -> str:
    """Read a stored event's body into items (the sweep, a redelivery, a replay); returns the
    problem left, "" when read. Items seen before are not inserted again."""

    if raw is None:
        token = WebhookEvent.objects.filter(pk=event.pk).values_list("body_token", flat=True).get()
        if token is None:
            return REDACTED
        raw = decrypt_bytes(token)
    received_at = event.received_at or timezone.now()
    try:
        parsed, rows, problem = read_body(raw, received_at=received_at)
    except NotJson as exc:  # stored before this service checked (a legacy row)
        parsed, rows, problem = None, [], f"not JSON: {exc}"
    with transaction.atomic():
        locked = WebhookEvent.objects.select_for_update().get(pk=event.pk)
        if locked.split_at is not None:
            return locked.error
        if rows is None:
            WebhookEvent.objects.filter(pk=event.pk).update(split_attempts=locked.split_attempts + 1, error=problem)
            return problem
        new = insert_items(locked, rows, received_at=received_at)
        now = timezone.now()
        WebhookEvent.objects.filter(pk=event.pk).update(
            split_at=now, split_attempts=locked.split_attempts + 1, error=problem,
            fields=parsed.fields if parsed is not None else [], item_count=len(rows),
            processed_at=None if new else now,
        )
    event.split_at = timezone.now()
    return problem
