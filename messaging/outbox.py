"""Accepting messages: the outbox row is written (and gated) before anything is sent."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import DateTimeField, Field, JSONField
from django.utils import timezone

from consent.models import Contact
from consent.purposes import Purpose
from consent.selectors import SendFacts, contact_send_facts
from messaging.gate import gate, sending_policy
from messaging.models import Message, MessageEvent, MessageKind, MessageStatus, MessageTemplate, SendingPolicy
from messaging.selectors import template_send_variable_count, templates_get
from messaging.wake import outbox_wake
from messaging.wording import refusal_detail, variable_count_error
from pandorakart_wa.core.errors import ApplicationError, Conflict, PolicyForbids
from pandorakart_wa.core.models import StorefrontApiKey
from pandorakart_wa.core.phones import InvalidPhoneNumber, mask_phone, normalize_phone, phone_digest
from pandorakart_wa.core.sql import execute_prepared

logger = logging.getLogger(__name__)

TEXT_MAX_LENGTH = 4096  # Meta: a text message body is at most 4096 characters


class MessageRefused(PolicyForbids):
    """Policy forbids the message (API.md 422); nothing was queued."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail, code=code)


class IdempotencyConflict(Conflict):
    """The Idempotency-Key was used before with a different body (API.md 409)."""

    default_code = "idempotency_conflict"


class MessageInvalid(ApplicationError):
    """A field is wrong (API.md 400): `fields` names each one."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()), fields=fields)


class Accepted:
    """A queued message. `message` is built on first use: a batch answers with ids only, and
    building a thousand model instances cost it more than writing them."""

    def __init__(self, message: Message | Callable[[], Message], replayed: bool, *, message_id: Any = None,
                 summary: dict[str, Any] | None = None) -> None:
        self._message = message
        self.replayed = replayed  # the same Idempotency-Key and body were accepted before
        self.message_id = message_id if message_id is not None else getattr(message, "pk", None)
        # what the API answers (id, status, masked number, template, purpose, created_at), known
        # without building the message
        self.summary = summary

    @functools.cached_property
    def message(self) -> Message:
        return self._message if isinstance(self._message, Message) else self._message()


REFUSAL_DETAILS = {
    "consent_missing": "The customer has not consented to messages for this purpose.",
    "opted_out": "The customer opted out of messages for this purpose.",
    "contact_blocked": "The customer is blocked.",
    "contact_erased": "The customer's data was erased at their request.",
    "contact_undeliverable": "Meta reported this number as not reachable on WhatsApp.",
    "template_not_approved": "The template is not approved internally and by Meta.",
    "template_paused": "The template is paused, disabled or of low quality.",
    "frequency_capped": "The customer already received the most marketing messages allowed for now.",
    "outside_service_window": "Free-form text is only allowed within 24 hours of the customer's last message.",
}


def request_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class MessageRequest:
    """One message as the storefront asked for it (POST /messages, or an item of /messages/batch)."""

    to: str
    template: str | None = None
    language: str = "en"
    variables: Sequence[str] = ()
    text: str | None = None
    idempotency_key: str = ""
    body: dict[str, Any] | None = None  # the request as sent: the idempotency digest is of this

    def digest(self) -> str:
        return request_digest(self.body if self.body is not None else {
            "to": self.to, "template": self.template, "language": self.language, "variables": list(self.variables),
            "text": self.text})


ItemOutcome = Accepted | MessageInvalid | MessageRefused | IdempotencyConflict


def message_accept(
    *,
    to: str,
    template: str | None = None,
    language: str = "en",
    variables: Sequence[str] = (),
    text: str | None = None,
    idempotency_key: str = "",
    api_key: StorefrontApiKey | None = None,
    created_by: str = "",
    body: dict[str, Any] | None = None,
) -> Accepted:
    """Validate, gate and queue one message; the dispatcher is woken after commit.

    Raises MessageInvalid (400), MessageRefused (422) or IdempotencyConflict (409); nothing is
    written in any of those cases.
    """
    request = MessageRequest(to=to, template=template, language=language, variables=tuple(variables), text=text,
                             idempotency_key=idempotency_key, body=body)
    (outcome,) = messages_accept(requests=[request], api_key=api_key, created_by=created_by)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def messages_accept(
    *, requests: Sequence[MessageRequest], api_key: StorefrontApiKey | None = None, created_by: str = ""
) -> list[ItemOutcome]:
    """Judge each request on its own exactly as a single POST /messages would, and queue the
    accepted ones: the outcome of each, in order (Accepted, or the exception it would raise).

    Bulk: one template query, one consent query per purpose, and one INSERT of the messages
    with their `queued` events (one statement, one transaction) however many requests; an
    Idempotency-Key costs a look-up only when its message exists already. The dispatcher is
    woken once, after the commit.
    """
    now = timezone.now()
    outcomes: list[ItemOutcome | None] = [None] * len(requests)
    templates = templates_get(pairs={(r.template, r.language) for r in requests if r.template is not None})
    candidates: list[_Candidate] = []
    for index, request in enumerate(requests):
        candidate = _validate(index, request, templates)
        if isinstance(candidate, MessageInvalid):
            outcomes[index] = candidate
        else:
            candidates.append(candidate)
    _gate_candidates(candidates, now, outcomes)
    accepted = [c for c in candidates if outcomes[c.index] is None]
    inserted = _insert(accepted, api_key=api_key, created_by=created_by, now=now)
    for candidate in accepted:
        if candidate.values["id"] in inserted:
            outcomes[candidate.index] = Accepted(functools.partial(_build_message, candidate), False,
                                                 message_id=candidate.values["id"], summary=_summary(candidate))
    if any(c.values["id"] in inserted and c.values["not_before"] is None for c in accepted):
        transaction.on_commit(outbox_wake)  # deferred ones: the beat sweep wakes the dispatcher then
    _idempotent_replays(requests, outcomes, api_key)
    assert all(o is not None for o in outcomes)
    return [o for o in outcomes if o is not None]


@dataclass
class _Candidate:
    index: int
    request: MessageRequest
    phone: str
    digest: str
    template: MessageTemplate | None
    purpose: str
    values: dict[str, Any] = None  # type: ignore[assignment]  # the row's fields, once the gate allows it


def _validate(index: int, request: MessageRequest, templates: dict[tuple[str, str], MessageTemplate]
              ) -> _Candidate | MessageInvalid:
    fields: dict[str, str] = {}
    try:
        phone = normalize_phone(request.to)
    except InvalidPhoneNumber as exc:
        fields["to"] = str(exc)
        phone = ""
    tmpl: MessageTemplate | None = None
    variables, text = request.variables, request.text
    if request.template is not None:
        tmpl = templates.get((request.template, request.language))
        if tmpl is None:
            fields["template"] = f"No template {request.template!r} in language {request.language!r}."
        elif (expected := template_send_variable_count(tmpl)) != len(variables):
            fields["variables"] = variable_count_error(expected, len(variables))
        elif any(not str(v).strip() for v in variables):
            fields["variables"] = "Variables may not be empty."
    elif not text or not text.strip():
        fields["text"] = "Give either a template or a text."
    elif len(text) > TEXT_MAX_LENGTH:
        fields["text"] = f"A text is at most {TEXT_MAX_LENGTH} characters."
    if fields:
        return MessageInvalid(fields)
    purpose = tmpl.purpose if tmpl is not None else Purpose.SUPPORT
    return _Candidate(index, request, phone, phone_digest(phone), tmpl, purpose)


def _gate_candidates(candidates: list[_Candidate], now: dt.datetime, outcomes: list[ItemOutcome | None]) -> None:
    """The gate for every candidate: one consent query per purpose, then the gate per template.
    A customer named twice is judged twice in turn (rounds), so the second message counts the
    first against the marketing cap, as two single requests would."""
    facts: dict[str, dict[str, SendFacts]] = {}
    for purpose in {c.purpose for c in candidates}:
        facts[purpose] = contact_send_facts(digests=list({c.digest for c in candidates if c.purpose == purpose}),
                                            purpose=purpose)
    policy: list[SendingPolicy] = []  # read once, and only if a marketing template needs it
    queued_before: Counter[int] = Counter()  # marketing messages accepted earlier in this request
    rounds: dict[int, list[_Candidate]] = defaultdict(list)
    seen: Counter[str] = Counter()
    for candidate in candidates:
        rounds[seen[candidate.digest]].append(candidate)
        seen[candidate.digest] += 1
    for round_ in (rounds[r] for r in sorted(rounds)):
        groups: dict[tuple[int | None, str], list[_Candidate]] = defaultdict(list)
        for candidate in round_:
            fact = facts[candidate.purpose].get(candidate.digest)
            if fact is None:  # a number never seen: no consent
                outcomes[candidate.index] = MessageRefused(
                    "consent_missing", refusal_detail("consent_missing", candidate.purpose, "")
                )
                continue
            groups[(candidate.template.pk if candidate.template else None, candidate.purpose)].append(candidate)
        for (_, purpose), group in groups.items():
            template = group[0].template
            if purpose == Purpose.MARKETING and not policy:
                policy.append(sending_policy())
            by_contact = {facts[purpose][c.digest].contact_id: facts[purpose][c.digest] for c in group}
            decisions = gate(purpose=purpose, contact_ids=list(by_contact), template=template, now=now,
                             facts=by_contact, policy=policy[0] if policy else None,
                             queued_before=queued_before if purpose == Purpose.MARKETING else None)
            for candidate in group:
                contact_id = facts[purpose][candidate.digest].contact_id
                decision = decisions[contact_id]
                if not decision.allowed:
                    code = str(decision.code)
                    outcomes[candidate.index] = MessageRefused(
                        code, refusal_detail(code, purpose, REFUSAL_DETAILS.get(code, "Policy forbids this message."))
                    )
                    continue
                if purpose == Purpose.MARKETING:
                    queued_before[contact_id] += 1
                candidate.values = _message_values(candidate, contact_id, decision.defer_until, decision.code)


def _message_values(candidate: _Candidate, contact_id: int, defer_until: dt.datetime | None, code: str | None
                    ) -> dict[str, Any]:
    request, tmpl = candidate.request, candidate.template
    return {
        "id": uuid.uuid4(),
        "contact_id": contact_id,
        "purpose": candidate.purpose,
        "template_id": tmpl.pk if tmpl is not None else None,
        "revision_id": tmpl.approved_revision_id if tmpl is not None else None,
        "language": tmpl.language if tmpl is not None else "",
        "variables": [str(v) for v in request.variables],
        "text": request.text or "",
        "not_before": defer_until,
        "reason": code or "",
        "idempotency_key": request.idempotency_key,
        "request_sha256": request.digest(),
    }


def _summary(candidate: _Candidate) -> dict[str, Any]:
    values = candidate.values
    return {"id": str(values["id"]), "status": MessageStatus.QUEUED, "to": mask_phone(candidate.phone),
            "template": candidate.template.name if candidate.template is not None else None,
            "purpose": values["purpose"], "created_at": values["created_at"]}


def _build_message(candidate: _Candidate) -> Message:
    message = Message(**candidate.values)
    message._state.adding = False
    message.template = candidate.template
    # the response shows the masked number: no need to read the contact back (or decrypt it)
    message.contact = Contact(id=candidate.values["contact_id"], phone=candidate.phone)
    return message


def _insert(candidates: Sequence[_Candidate], *, api_key: StorefrontApiKey | None, created_by: str,
            now: dt.datetime) -> set[Any]:
    """Write the messages and their `queued` events; the ids written (a message whose
    Idempotency-Key exists already is not). PostgreSQL: one statement."""
    if not candidates:
        return set()
    rows = [c.values for c in candidates]
    for row in rows:
        row.update(api_key_id=api_key.pk if api_key is not None else None, created_by=created_by[:200],
                   created_at=now, updated_at=now)
    details = [json.dumps({"deferred_until": r["not_before"].isoformat()} if r["not_before"] else {}) for r in rows]
    if connection.vendor != "postgresql":
        return _insert_one_by_one([Message(**r) for r in rows], details, now)
    return _insert_pg(rows, details, source=MessageEvent.Source.API, now=now)


def _insert_pg(rows: Sequence[dict[str, Any]], details: Sequence[str], *, source: str, now: dt.datetime) -> set[Any]:
    """Messages (their column values, `id` and `created_at` given) and their `queued` events
    with `details`, in one statement; the ids written."""
    events = MessageEvent._meta.db_table
    if len(rows) == 1:  # a single POST: scalars (adapting 26 one-element arrays cost more than the INSERT)
        fields, defaults, insert_sql = _insert_shape_one()
        (row,) = rows
        sql = (f"WITH m AS ({insert_sql}) "  # noqa: S608 - our tables and the ORM's own columns
               f"INSERT INTO {events} (message_id, status, at, source, detail) "
               "SELECT m.id, %s, %s, %s, %s::jsonb FROM m RETURNING message_id")
        params = [_db_value(f, row.get(f.attname, default)) for f, default in zip(fields, defaults, strict=True)]
        return {r[0] for r in execute_prepared(sql, [*params, MessageStatus.QUEUED, now, source, details[0]])}
    fields, defaults, insert_sql = _insert_shape()
    insert_params = [[_db_value(f, row.get(f.attname, default)) for row in rows] for f, default in zip(fields, defaults,
                                                                                                     strict=True)]
    sql = (
        f"WITH m AS ({insert_sql}) "  # noqa: S608 - our tables and the ORM's own INSERT
        f"INSERT INTO {events} (message_id, status, at, source, detail) "
        "SELECT m.id, %s, %s, %s, e.detail::jsonb FROM m JOIN unnest(%s::uuid[], %s::text[]) AS e(id, detail) "
        "ON e.id = m.id RETURNING message_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*insert_params, MessageStatus.QUEUED, now, source, [r["id"] for r in rows], list(details)])
        return {row[0] for row in cursor.fetchall()}


@functools.cache
def _insert_shape() -> tuple[list[Field[Any, Any]], list[Any], str]:
    """Message's INSERT from one array per column (`unnest`): a 1,000-message batch is 26 array
    parameters, not 26,000 placeholders to compose and parse; built once per process."""
    fields = list(Message._meta.concrete_fields)
    # what the model would default each column to: constants only (the columns with a callable
    # default, id and variables, are always given)
    defaults = [None if f.has_default() and callable(f.default) else f.get_default() for f in fields]
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    arrays, values = [], []
    for n, f in enumerate(fields):
        db_type = str(f.db_type(connection)).split("(")[0].strip()
        if db_type == "jsonb":  # as text, cast row by row (psycopg has no jsonb[] of dicts)
            arrays.append("%s::text[]")
            values.append(f"v.c{n}::jsonb")
        else:
            arrays.append(f"%s::{db_type}[]")
            values.append(f"v.c{n}")
    names = ", ".join(f"c{n}" for n in range(len(fields)))
    sql = (
        f"INSERT INTO {Message._meta.db_table} ({columns}) SELECT {', '.join(values)} "  # noqa: S608 - ours
        f"FROM unnest({', '.join(arrays)}) AS v({names}) ON CONFLICT DO NOTHING RETURNING id"
    )
    return fields, defaults, sql


@functools.cache
def _insert_shape_one() -> tuple[list[Field[Any, Any]], list[Any], str]:
    """Message's INSERT of one row from scalar parameters, in _insert_shape's column order."""
    fields, defaults, _ = _insert_shape()
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    placeholders = ", ".join("%s::jsonb" if str(f.db_type(connection)).startswith("jsonb") else "%s" for f in fields)
    sql = (f"INSERT INTO {Message._meta.db_table} ({columns}) VALUES ({placeholders}) "  # noqa: S608 - ours
           "ON CONFLICT DO NOTHING RETURNING id")
    return fields, defaults, sql


def _db_value(field: Field[Any, Any], value: Any) -> Any:
    if isinstance(field, JSONField):
        return None if value is None else json.dumps(value)
    if isinstance(field, DateTimeField):
        return value  # aware datetimes, set above
    return field.get_db_prep_save(value, connection)


def _insert_one_by_one(messages: Sequence[Message], details: Sequence[str], now: dt.datetime,
                       source: str = MessageEvent.Source.API) -> set[Any]:
    """SQLite (the run command): each message and its event, in one transaction."""
    inserted: set[Any] = set()
    with transaction.atomic():
        for message, detail in zip(messages, details, strict=True):
            try:
                with transaction.atomic():
                    message.save(force_insert=True)
                    MessageEvent.objects.create(message=message, status=MessageStatus.QUEUED, at=now,
                                                source=source, detail=json.loads(detail))
            except IntegrityError:
                continue  # its Idempotency-Key was used before: see _idempotent_replays
            inserted.add(message.pk)
    return inserted


def _idempotent_replays(requests: Sequence[MessageRequest], outcomes: list[ItemOutcome | None],
                        api_key: StorefrontApiKey | None) -> None:
    """A request with an Idempotency-Key that did not write a message: if the key's message
    exists, the same body is a replay of it (202, the same message; whatever the gate says now)
    and another body is a conflict (409). One query, and only for such requests."""
    keyed = [i for i, r in enumerate(requests) if r.idempotency_key and not isinstance(outcomes[i], Accepted)]
    if not keyed:
        return
    existing = {
        m.idempotency_key: m
        for m in Message.objects.select_related("contact", "template").filter(
            api_key=api_key, idempotency_key__in={requests[i].idempotency_key for i in keyed}
        )
    }
    for i in keyed:
        message = existing.get(requests[i].idempotency_key)
        if message is None:
            continue
        if message.request_sha256 != requests[i].digest():
            outcomes[i] = IdempotencyConflict("This Idempotency-Key was used with a different request body.")
        else:
            outcomes[i] = Accepted(message, True)


def message_reply(*, contact: Contact, text: str, reply_to_wamid: str = "") -> Message | None:
    """Queue a confirmation of the customer's own request (an opt-out, START, a complaint) as a
    free-form reply inside the service window. None when the window is closed or the contact is
    erased: the confirmation is then owed through another channel."""
    return message_replies([(contact, text, reply_to_wamid)])[0]


def message_replies(replies: Sequence[tuple[Contact, str, str]]) -> list[Message | None]:
    """message_reply for many customers at once, (contact, text, reply_to_wamid) each: one gate
    decision, two INSERTs and one wake for all of them (a storm of STOPs confirmed together)."""
    if not replies:
        return []
    now = timezone.now()
    decisions = gate(purpose=Purpose.SUPPORT, contact_ids=list({c.pk: None for c, _, _ in replies}), template=None,
                     now=now, kind=MessageKind.CONFIRMATION)
    rows: list[dict[str, Any] | None] = [
        {"id": uuid.uuid4(), "contact_id": contact.pk, "purpose": Purpose.SUPPORT, "kind": MessageKind.CONFIRMATION,
         "text": text[:TEXT_MAX_LENGTH], "variables": [], "reply_to_wamid": reply_to_wamid,
         "created_by": "system:confirmation", "created_at": now, "updated_at": now}
        if decisions[contact.pk].allowed else None
        for contact, text, reply_to_wamid in replies
    ]
    queued = [row for row in rows if row is not None]
    if not queued:
        return [None] * len(rows)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _insert_pg(queued, ["{}"] * len(queued), source=MessageEvent.Source.SYSTEM, now=now)
        else:
            _insert_one_by_one([Message(**row) for row in queued], ["{}"] * len(queued), now,
                               source=MessageEvent.Source.SYSTEM)
        transaction.on_commit(outbox_wake)
    messages: list[Message | None] = []
    for row, (contact, _, _) in zip(rows, replies, strict=True):
        message = None
        if row is not None:
            message = Message(**row)
            message._state.adding, message._state.db = False, connection.alias
            message.contact = contact
        messages.append(message)
    return messages
