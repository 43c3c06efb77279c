"""Meta's webhook POSTs as they arrived and the items parsed from them (models of the core app:
their tables keep the `core_` prefix and its migrations)."""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from pandorakart_wa.core.fields import EncryptedTextField
from pandorakart_wa.core.timefmt import staff_time


class WebhookEvent(models.Model):
    """One POST from Meta, stored as it arrived (Meta has no history API to fetch it again).

    The body is kept as its bytes, encrypted like phone numbers (it holds customers' numbers,
    names and texts), never as jsonb: Meta's JSON may carry NUL escapes or lone surrogates that
    PostgreSQL refuses, and only the bytes prove what was signed. `body_digest` (keyed, so it
    reveals nothing) answers an identical redelivery at once; what is applied once is each
    update in it (WebhookItem), whatever batch or serialisation it arrives in.
    """

    class Source(models.TextChoices):
        META = "meta", "Meta webhook"
        SANDBOX = "sandbox", "Sandbox backend"

    body_digest = models.CharField(max_length=64, unique=True, help_text="Keyed HMAC of the body's bytes.")
    body_token = models.TextField(  # noqa: DJ001 - null (redacted) is not "" (an empty body)
        null=True, blank=True, help_text="The body's bytes, encrypted (FIELD_ENCRYPTION_KEYS); null once redacted."
    )
    body_size = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.META)
    fields = models.JSONField(default=list, help_text="The `field` of each change in the payload.")
    item_count = models.PositiveIntegerField(default=0, help_text="Updates read from the body.")
    received_at = models.DateTimeField(db_index=True)
    split_at = models.DateTimeField(
        null=True, blank=True, help_text="When the body was read into items (the sweep retries an event left unread)."
    )
    split_attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True, help_text="When every item reached a final state.")
    error = models.TextField(blank=True, help_text="Why the body could not be read (or not all of it).")
    redacted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["received_at"], name="core_webhook_unsplit", condition=models.Q(split_at__isnull=True)),
            models.Index(fields=["id"], name="core_webhook_unfinished", condition=models.Q(processed_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{', '.join(self.fields) or 'event'} at {staff_time(self.received_at)}"


class WebhookItem(models.Model):
    """One update of a webhook (a message, a status, a preference...), applied exactly once.

    `key_digest` is the keyed digest of Meta's own identity of the update (a message's id, a
    status's id + status), unique: a redelivery in another batch or another serialisation
    inserts nothing. Each item is applied in its own transaction, which also moves its state;
    one that keeps failing is dead-lettered for staff (admin: replay; `manage.py
    replay_webhooks`). The customer's number is kept only as a digest and, with the rest of the
    update, inside the encrypted `payload`.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        # an opt-out the webhook view applied together with others (webhooks.optouts): in force;
        # its confirmation reply and STOP signal follow from the workers, then it is applied
        OPTED_OUT = "opted_out", "Opt-out in force, confirmation to follow"
        APPLIED = "applied", "Applied"
        SKIPPED = "skipped", "Recorded, nothing to apply"
        FAILED = "failed", "Failed, will be retried"
        DEAD = "dead", "Dead-lettered (needs staff)"

    event = models.ForeignKey(WebhookEvent, on_delete=models.PROTECT, related_name="items")
    position = models.PositiveIntegerField(help_text="Order in the event's body.")
    kind = models.CharField(max_length=24)
    field = models.CharField(max_length=128)
    key_digest = models.CharField(max_length=64, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    opt_out = models.BooleanField(default=False, help_text="An opt-out: applied before the webhook is answered.")
    in_scope = models.BooleanField(default=True, help_text="For one of this service's numbers / accounts.")
    occurred_at = models.DateTimeField(help_text="Meta's timestamp, clamped to the receipt time.")
    received_at = models.DateTimeField()
    phone_digest = models.CharField(max_length=64, blank=True, db_index=True, help_text="The customer's number, digested.")
    user_id = models.CharField(max_length=160, blank=True, help_text="The customer's BSUID, when Meta sent one.")
    payload = EncryptedTextField(help_text="The update (JSON), encrypted.")
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    note = models.CharField(max_length=200, blank=True, help_text="What applying it did (or why nothing).")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # what the workers drain: opt-outs first, then Meta's order
            models.Index(
                fields=["-opt_out", "occurred_at", "id"], name="core_webhookitem_open",
                condition=models.Q(state__in=["pending", "failed"]),
            ),
            models.Index(fields=["event", "position"], name="core_webhookitem_event"),
            models.Index(fields=["state", "received_at"], name="core_webhookitem_state"),
            # the customer page finds a customer's items by BSUID as well as by digest
            models.Index(fields=["user_id"], name="core_webhookitem_user_id"),
        ]
        permissions = [("replay_webhookitem", "Can replay dead-lettered webhook items")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.state})"

    @property
    def data(self) -> dict[str, Any]:
        value = json.loads(self.payload or "{}")
        return value if isinstance(value, dict) else {}
