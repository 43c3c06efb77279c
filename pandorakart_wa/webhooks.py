"""Meta's webhooks: one processing path for real deliveries and the sandbox backend.

`receive_payload` stores the raw event (deduplicated by the digest of its body) and hands each
change to the services registered for its `field` in `HANDLERS`: the composition root is the
only place that knows every app. Unknown fields are stored and ignored, never an error.

Statuses of our messages (sent, delivered, read, failed) are most of Meta's webhooks, up to
three per message sent. A webhook that carries nothing else is stored and answered at once,
and workers apply the stored statuses in batches (`webhooks_apply_deferred`, triggered after
the commit and swept by beat): one bulk read and write per few hundred statuses instead of
three transactions per POST. Everything else (inbound messages and their consent keywords,
user preferences, templates, account updates) is applied before the answer, as before.
WEBHOOK_DEFER_STATUSES=off applies statuses before the answer too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from pandorakart_wa.audit import META_WEBHOOK, acting_as, system_user
from pandorakart_wa.models import WebhookEvent

logger = logging.getLogger(__name__)

ChangeHandler = Callable[..., None]

# field -> services that apply a change of that field; each takes (value: dict, *, event_id).
HANDLERS: dict[str, list[str]] = {
    # Message templates (messaging): Meta's verdicts put a template on hold at once.
    "message_template_status_update": ["messaging.services.template_apply_status_update"],
    "message_template_quality_update": ["messaging.services.template_apply_quality_update"],
    "template_category_update": ["messaging.services.template_apply_category_update"],
    # Consent: Meta's marketing stop/resume, applied before the webhook is answered.
    "user_preferences": ["consent.webhooks.user_preferences_changed", "complaints.webhooks.user_preferences"],
    # Statuses of our messages, and inbound messages: messaging applies the statuses, hands
    # inbound text to consent (keywords STOP, START..., the 24-hour window) and queues the
    # confirmation reply.
    # Complaints after them: STOP/spam signals, and COMPLAINT / शिकायत opens a complaint.
    "messages": ["messaging.webhooks.messages_changed", "complaints.webhooks.inbound_messages"],
    # Account restrictions: stop all sending and alert staff.
    "account_update": ["messaging.webhooks.account_update"],
}


def _handlers_for(field: str) -> list[ChangeHandler]:
    return [import_string(path) for path in HANDLERS.get(field, [])]


# The keys of a `messages` change that carries only statuses (no inbound message, no error).
STATUS_ONLY_KEYS = frozenset({"messaging_product", "metadata", "statuses"})
DEFERRED_BATCH = 500  # stored webhooks applied per transaction by webhooks_apply_deferred
DRAIN_GATHER_SECONDS = 0.2  # a drain lets statuses gather this long; each process asks at most this often


def changes_of(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every `entry[].changes[]` of a webhook payload, skipping what is not an object."""
    return [
        change
        for entry in payload.get("entry") or []
        if isinstance(entry, Mapping)
        for change in entry.get("changes") or []
        if isinstance(change, Mapping)
    ]


def _pending() -> Any:
    """Stored status webhooks not applied yet (the partial index core_webhook_deferred_pending)."""
    return WebhookEvent.objects.filter(deferred=True, processed_at__isnull=True)


def statuses_only(changes: list[Mapping[str, Any]]) -> bool:
    """Whether every change is a `messages` change with statuses and nothing else."""
    return bool(changes) and all(
        change.get("field") == "messages"
        and isinstance(value := change.get("value"), Mapping)
        and value.get("statuses")
        and set(value) <= STATUS_ONLY_KEYS
        for change in changes
    )


def receive_payload(raw_body: bytes, *, source: str = WebhookEvent.Source.META) -> WebhookEvent | None:
    """Store and apply one webhook POST. Returns None when the same body was seen before.

    A POST of Meta's with statuses only is stored for the workers (see the module docstring)."""
    payload = json.loads(raw_body)
    if not isinstance(payload, Mapping):
        raise ValueError("The webhook payload is not a JSON object.")
    changes = changes_of(payload)
    digest = hashlib.sha256(raw_body).hexdigest()
    deferred = source == WebhookEvent.Source.META and settings.WEBHOOK_DEFER_STATUSES and statuses_only(changes)
    fields = sorted({str(c.get("field")) for c in changes})
    event = _store(raw_body, digest=digest, source=source, payload=payload, fields=fields, deferred=deferred)
    if event is None:
        logger.info("Webhook %s already received; ignored", digest[:12])
        return None
    if deferred:
        transaction.on_commit(request_drain)  # at once outside a transaction (the webhook view)
    else:
        apply_event(event, changes)
    return event


_STORE_SQL = (
    "INSERT INTO {table} (body_sha256, source, payload, fields, received_at, error, deferred) "
    "VALUES (%s, %s, %s::jsonb, %s::jsonb, %s, '', %s) ON CONFLICT (body_sha256) DO NOTHING RETURNING id"
)


def _store(raw_body: bytes, *, digest: str, source: str, payload: Mapping[str, Any], fields: list[str],
           deferred: bool) -> WebhookEvent | None:
    """The raw event, or None when its body was stored before. On PostgreSQL one statement
    (its own transaction in the webhook view): the body as it came, no BEGIN, no COMMIT, no
    second encoding of the JSON; that was most of a status webhook's time."""
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                return WebhookEvent.objects.create(body_sha256=digest, source=source, payload=payload, fields=fields,
                                                   deferred=deferred)
        except IntegrityError:
            return None
    received_at = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_STORE_SQL.format(table=connection.ops.quote_name(WebhookEvent._meta.db_table)),
                       [digest, source, raw_body.decode(), json.dumps(fields), received_at, deferred])
        row = cursor.fetchone()
    if row is None:
        return None
    event = WebhookEvent(pk=row[0], body_sha256=digest, source=source, payload=payload, fields=fields,
                         received_at=received_at, deferred=deferred)
    event._state.adding = False
    event._state.db = connection.alias
    return event


_drain_requested_at = float("-inf")  # time.monotonic() of this process's last request


def request_drain() -> None:
    """Ask a worker to apply the stored statuses: at most once per DRAIN_GATHER_SECONDS from
    each process, with no I/O for the webhooks in between.

    Nothing is left behind: a webhook that asks no one was stored (committed) less than
    DRAIN_GATHER_SECONDS after this process's last request, and the drain that request started
    waits that long before it looks, then applies everything stored. A broker that is down
    loses nothing either: the events stay stored, the next webhook asks again, and beat sweeps."""
    global _drain_requested_at
    from pandorakart_wa.tasks import apply_deferred_webhooks

    now = time.monotonic()
    if now - _drain_requested_at < DRAIN_GATHER_SECONDS:
        return
    _drain_requested_at = now
    try:
        apply_deferred_webhooks.apply_async(retry=False)
    except Exception:
        _drain_requested_at = float("-inf")
        logger.warning("Could not ask a worker to apply stored statuses; beat's sweep will", exc_info=True)


def webhooks_drain() -> int:
    """The worker's side of request_drain: wait for the webhooks that follow (Meta posts
    statuses by the hundred per second: batches, not a drain per POST), then apply everything
    stored. One drain at a time: the others leave at once (drains side by side split the rows
    into small batches), and the one that drained looks again after it let go, so a webhook
    stored while it held the lock is never left for beat's sweep."""
    if DRAIN_GATHER_SECONDS:
        time.sleep(DRAIN_GATHER_SECONDS)
    applied = 0
    while _drain_lock(take=True):
        try:
            applied += webhooks_apply_deferred()
        finally:
            _drain_lock(take=False)
        if not _pending().exists():
            break
    return applied


DRAIN_LOCK_KEY = 0x5741_5748  # "WAWH": PostgreSQL advisory lock of the drain


def _drain_lock(*, take: bool) -> bool:
    """Take (without waiting) or give back the drain's session lock; True off PostgreSQL."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)" if take else "SELECT pg_advisory_unlock(%s)", [DRAIN_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def webhooks_apply_deferred(*, batch: int = DEFERRED_BATCH) -> int:
    """Apply every stored status webhook not applied yet, oldest first, `batch` events per
    transaction; returns how many events were applied. Concurrent drains take disjoint rows
    (SKIP LOCKED); the statuses themselves tolerate any order (a message only moves forward)."""
    applied = 0
    while True:
        with transaction.atomic():
            events = list(
                _pending().select_for_update(skip_locked=True)
                .order_by("id")
                .only("id", "payload")[:batch]
            )
            if not events:
                return applied
            _apply_status_batch(events)
            applied += len(events)


def _apply_status_batch(events: list[WebhookEvent]) -> None:
    """All the events' statuses through the `messages` handlers at once; when that fails, event
    by event, so the error is recorded on the event that caused it and the others still apply."""
    statuses = [s for event in events for c in changes_of(event.payload) for s in (c.get("value") or {}).get("statuses") or []]
    try:
        with transaction.atomic(), acting_as(system_user(META_WEBHOOK)):
            for handler in _handlers_for("messages"):
                handler({"statuses": statuses}, event_id=events[0].pk)
    except Exception:
        logger.exception("Applying %s stored status webhooks together failed; applying them one by one", len(events))
        for event in events:
            apply_event(event, changes_of(event.payload))
        return
    WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).update(processed_at=timezone.now())


def process_payload(payload: Mapping[str, Any], *, source: str = WebhookEvent.Source.SANDBOX) -> WebhookEvent | None:
    """The entry point of the sandbox backend: the same path as a signed POST from Meta."""
    return receive_payload(json.dumps(payload, sort_keys=True).encode(), source=source)


def apply_event(event: WebhookEvent, changes: list[Mapping[str, Any]]) -> None:
    errors: list[str] = []
    with acting_as(system_user(META_WEBHOOK)):
        for change in changes:
            field = str(change.get("field"))
            value = change.get("value")
            if not isinstance(value, Mapping):
                continue
            for handler in _handlers_for(field):
                try:
                    handler(value, event_id=event.pk)
                except Exception as exc:  # one bad change must not lose the others
                    logger.exception("Webhook handler %s failed on event %s", handler, event.pk)
                    errors.append(f"{field}: {exc!r}")
    WebhookEvent.objects.filter(pk=event.pk).update(processed_at=timezone.now(), error="\n".join(errors))
