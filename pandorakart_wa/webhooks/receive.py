"""What one webhook POST does, from the bytes to the answer: store and read them (intake.py), apply
the opt-outs among the new items before the answer, within a time budget (optouts.py, router.py),
and wake the workers for the rest (drain.py). A crash anywhere after the store loses nothing (see
intake.py)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pandorakart_wa.webhooks.drain import request_drain, webhooks_apply_pending
from pandorakart_wa.webhooks.intake import Receipt, read_body, resume_event, store_event
from pandorakart_wa.webhooks.models import WebhookEvent, WebhookItem
from pandorakart_wa.webhooks.optouts import apply_opt_outs_together
from pandorakart_wa.webhooks.router import item_apply

logger = logging.getLogger(__name__)

# Opt-outs applied in the request stop after this long; the rest go to the workers at once
# (API.md: in force before the 200 or within 1 second of it; a 1,000-item batch under 2 s).
OPT_OUT_BUDGET_SECONDS = 1.0
# Above this many opt-outs in one body a worker is woken before the request applies them, so
# both apply them (the request in Meta's order, the worker taking what the request has not).
MANY_OPT_OUTS = 40


def webhook_receive(raw: bytes, *, source: str = WebhookEvent.Source.META) -> Receipt:
    """Store, read and (opt-outs first) apply one webhook body. NotJson for bytes that are not
    JSON (nothing stored, 400); every other body is stored and answered."""
    received_at = timezone.now()
    parsed, rows, problem = read_body(raw, received_at=received_at)  # NotJson propagates
    event_id, new_opt_outs, new_items, duplicate = store_event(
        raw, source=source, parsed=parsed, rows=rows, received_at=received_at, problem=problem
    )
    if duplicate:
        new_opt_outs, problem = resume_event(event_id, raw)
    elif new_items == 0 and rows is not None:  # nothing new to apply: an envelope, or updates seen before
        WebhookEvent.objects.filter(pk=event_id).update(processed_at=received_at)
    many = len(new_opt_outs) > MANY_OPT_OUTS
    if settings.WEBHOOK_DEFER and many:
        transaction.on_commit(request_drain)  # more opt-outs than one request applies at once: a worker helps
    applied = apply_opt_outs(new_opt_outs)
    if not settings.WEBHOOK_DEFER:
        webhooks_apply_pending(event_ids=[event_id])  # tests and debugging: everything before the answer
    elif not many and (new_items > applied or duplicate):
        transaction.on_commit(request_drain)
    return Receipt(event_id=event_id, duplicate=duplicate, new_items=new_items, opt_outs_applied=applied,
                   problem=problem)


# --- Opt-outs first -------------------------------------------------------------------------------


def apply_opt_outs(item_ids: Sequence[int], *, budget: float = OPT_OUT_BUDGET_SECONDS) -> int:
    """Apply these opt-out items now until the budget is spent (the workers take the rest
    first): in groups of settings.WEBHOOK_OPT_OUT_GROUP, each one transaction (webhooks.optouts), and what a
    group leaves one transaction each, in Meta's order. Returns how many were applied."""
    if not item_ids:
        return 0
    deadline = time.monotonic() + budget
    applied = 0
    confirmations_owed = False
    group = max(1, settings.WEBHOOK_OPT_OUT_GROUP)
    for start in range(0, len(item_ids), group):
        if time.monotonic() > deadline:
            break
        # in force now; their confirmations and signals follow from the workers (woken below)
        together, left = apply_opt_outs_together(item_ids[start:start + group], follow_up=False)
        applied += together
        confirmations_owed = confirmations_owed or together > 0
        for item_id in left:
            if time.monotonic() > deadline:
                break
            if item_apply(item_id, wait=True) in (None, WebhookItem.State.APPLIED):  # None: a worker applied it first
                applied += 1
    if confirmations_owed and settings.WEBHOOK_DEFER:
        transaction.on_commit(request_drain)
    if applied < len(item_ids):
        logger.warning("Opt-out budget spent: %s opt-outs left to the workers", len(item_ids) - applied)
    return applied


def process_payload(payload: Any, *, source: str = WebhookEvent.Source.SANDBOX) -> Receipt:
    """The sandbox backend's entry point: the same path as a signed POST from Meta."""
    return webhook_receive(json.dumps(payload, sort_keys=True).encode(), source=source)
