"""Meta's webhooks: one processing path for real deliveries and the sandbox backend.

`receive_payload` stores the raw event (deduplicated by the digest of its body) and hands each
change to the services registered for its `field` in `HANDLERS`: the composition root is the
only place that knows every app. Unknown fields are stored and ignored, never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.db import IntegrityError, transaction
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


def receive_payload(raw_body: bytes, *, source: str = WebhookEvent.Source.META) -> WebhookEvent | None:
    """Store and apply one webhook POST. Returns None when the same body was seen before."""
    payload = json.loads(raw_body)
    if not isinstance(payload, Mapping):
        raise ValueError("The webhook payload is not a JSON object.")
    changes = [
        change
        for entry in payload.get("entry") or []
        if isinstance(entry, Mapping)
        for change in entry.get("changes") or []
        if isinstance(change, Mapping)
    ]
    digest = hashlib.sha256(raw_body).hexdigest()
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                body_sha256=digest,
                source=source,
                payload=payload,
                fields=sorted({str(c.get("field")) for c in changes}),
            )
    except IntegrityError:
        logger.info("Webhook %s already received; ignored", digest[:12])
        return None
    apply_event(event, changes)
    return event


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
