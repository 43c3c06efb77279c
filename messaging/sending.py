"""The send pipeline: claim queued messages, re-check the policy gate, respect Meta's limits,
send, and record what happened — for one message or a chunk of a campaign alike.

At most once: a message is claimed (queued → sending) by exactly one worker; a request whose
outcome is unknown (timeout after sending, worker killed) stays `sending` and is reconciled
from Meta's status webhooks, which echo `biz_opaque_callback_data` = the message id. Only
errors that are known to be safe are retried (TransientError), with backoff and jitter.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from consent.services import consent_record_platform_opt_out, contact_mark_undeliverable
from messaging.gate import gate, sending_policy
from messaging.models import Campaign, Message, MessageEvent, MessageStatus, SendingPolicy
from messaging.ratelimit import pair_limiter, throughput_limiter
from messaging.selectors import TEMPLATE_PAUSED
from pandorakart_wa.whatsapp import errors as wa_errors
from pandorakart_wa.whatsapp import get_backend
from pandorakart_wa.whatsapp.base import OutboundMessage, SendResult

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # transient failures before a message is given up as failed
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 60 * 60.0
PAIR_RATE_BACKOFF_BASE = 4  # Meta, 131056: retry after 4^X seconds
STOP_ALL_RECHECK = dt.timedelta(seconds=60)  # messages held by the stop-all switch look again then
DELIVERY_UNKNOWN = "delivery_unknown"
Source = MessageEvent.Source


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than Meta's own hint."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** max(attempt - 1, 0)))
    wait = random.uniform(ceiling / 2, ceiling)
    return max(wait, retry_after or 0.0)


@dataclass
class Outcome:
    """What happened to each message of a chunk, written back in bulk."""

    sent: dict[Any, SendResult] = field(default_factory=dict)
    requeue: dict[Any, tuple[dt.datetime, dict[str, Any]]] = field(default_factory=dict)
    suppressed: dict[Any, str] = field(default_factory=dict)
    failed: dict[Any, wa_errors.WhatsAppError] = field(default_factory=dict)
    unknown: dict[Any, wa_errors.WhatsAppError] = field(default_factory=dict)


# --- Claiming ------------------------------------------------------------------------------


def _due(now: dt.datetime) -> Q:
    return Q(status=MessageStatus.QUEUED) & (Q(not_before__isnull=True) | Q(not_before__lte=now))


def messages_claim(
    *,
    ids: Sequence[Any] | None = None,
    campaign_id: int | None = None,
    limit: int = 200,
    older_than: dt.timedelta | None = None,
    exclude_running_campaigns: bool = False,
) -> list[Message]:
    """Atomically move up to `limit` due queued messages to `sending` and return them.

    Concurrent claimers never get the same row (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite
    serialises writers). A message claimed once is never claimed again unless it is re-queued.
    """
    now = timezone.now()
    query = _due(now)
    if ids is not None:
        query &= Q(id__in=list(ids))
    if campaign_id is not None:
        query &= Q(campaign_id=campaign_id)
    if older_than is not None:
        query &= Q(updated_at__lte=now - older_than)
    if exclude_running_campaigns:  # their own senders are on them
        query &= Q(campaign__isnull=True) | ~Q(campaign__status=Campaign.Status.RUNNING)
    with transaction.atomic():
        claimed = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(query)
            .order_by("created_at")
            .values_list("id", flat=True)[:limit]
        )
        if not claimed:
            return []
        Message.objects.filter(id__in=claimed).update(
            status=MessageStatus.SENDING, claimed_at=now, updated_at=now, attempts=F("attempts") + 1
        )
        MessageEvent.objects.bulk_create(
            [MessageEvent(message_id=mid, status=MessageStatus.SENDING, at=now, source=Source.WORKER) for mid in claimed]
        )
    return list(
        Message.objects.filter(id__in=claimed)
        .select_related("contact", "template", "revision")
        .order_by("created_at")
    )


# --- Sending -------------------------------------------------------------------------------


def messages_send_claimed(messages: Sequence[Message]) -> Outcome:
    """Gate, rate-limit, send and record a chunk of messages this worker has claimed."""
    outcome = Outcome()
    if not messages:
        return outcome
    now = timezone.now()
    policy = sending_policy()
    if policy.stop_all:
        for message in messages:
            outcome.requeue[message.id] = (now + STOP_ALL_RECHECK, {"held": "stop_all"})
        _record(messages, outcome)
        return outcome

    ready = _gate_chunk(messages, policy, now, outcome)
    ready = _pair_rate(ready, now, outcome)
    if ready:
        _send(ready, outcome)
    _record(messages, outcome)
    _after_effects(messages, outcome)
    return outcome


def _gate_chunk(messages: Sequence[Message], policy: SendingPolicy, now: dt.datetime, outcome: Outcome) -> list[Message]:
    groups: dict[tuple[Any, str, str], list[Message]] = defaultdict(list)
    for message in messages:
        groups[(message.template_id, message.purpose, message.kind)].append(message)
    ready: list[Message] = []
    for (_, purpose, kind), group in groups.items():
        template = group[0].template
        if template is not None:
            template.refresh_from_db()  # a pause may have arrived since the message was queued
            purpose = template.purpose  # Meta may have recategorised it (UTILITY -> MARKETING)
        decisions = gate(
            purpose=purpose,
            contact_ids=[m.contact_id for m in group],
            template=template,
            now=now,
            exclude_messages=[m.id for m in group],
            policy=policy,
            kind=kind,
        )
        for message in group:
            decision = decisions[message.contact_id]
            if decision.code == TEMPLATE_PAUSED and message.created_at > now - HOLD_MAX_AGE:
                # a pause is often temporary (Meta: 3 h the first time): hold, don't drop
                outcome.requeue[message.id] = (now + HOLD_RECHECK, {"held": TEMPLATE_HELD})
            elif not decision.allowed:
                outcome.suppressed[message.id] = str(decision.code)
            elif decision.defer_until is not None:
                outcome.requeue[message.id] = (decision.defer_until, {"deferred": decision.code})
            else:
                ready.append(message)
    return ready


def _pair_rate(messages: list[Message], now: dt.datetime, outcome: Outcome) -> list[Message]:
    """Meta's pair rate: one message per recipient per 6 s; a second one in a chunk waits."""
    waits = pair_limiter().acquire([str(m.contact.phone_digest) for m in messages])
    if not waits:
        return messages
    ready = []
    for message in messages:
        wait = waits.get(str(message.contact.phone_digest))
        if wait is None:
            ready.append(message)
        else:
            outcome.requeue[message.id] = (now + dt.timedelta(seconds=wait), {"deferred": "pair_rate"})
    return ready


def _outbound(message: Message, slot: float) -> OutboundMessage:
    phone = message.contact.phone or ""
    template = message.template
    if template is not None:
        return OutboundMessage(
            to=phone,
            template=template.name,
            language=message.language or template.language,
            body_parameters=list(message.variables or []),
            biz_opaque_callback_data=str(message.id),
            not_before=slot,
        )
    return OutboundMessage(to=phone, text=message.text, biz_opaque_callback_data=str(message.id), not_before=slot)


def _send(messages: list[Message], outcome: Outcome) -> None:
    limiter = throughput_limiter()
    slots: list[float] = []
    while len(slots) < len(messages):
        remaining = len(messages) - len(slots)
        reservation = limiter.reserve(remaining, max_wait=remaining * limiter.interval + 1.0)
        slots.extend(reservation.slot(i) for i in range(reservation.granted))
    results = get_backend().send_batch([_outbound(m, slot) for m, slot in zip(messages, slots, strict=True)])
    for message, result in zip(messages, results, strict=True):
        if isinstance(result, SendResult):
            outcome.sent[message.id] = result
        elif isinstance(result, wa_errors.DeliveryUnknown):
            outcome.unknown[message.id] = result
        elif isinstance(result, wa_errors.TransientError):
            _retry_or_fail(message, result, outcome)
        elif isinstance(result, wa_errors.WhatsAppError):
            outcome.failed[message.id] = result
        else:  # a bug, not Meta: do not retry blindly, keep it for reconciliation
            logger.error("Unexpected send result for message %s: %r", message.id, result)
            outcome.unknown[message.id] = wa_errors.DeliveryUnknown(repr(result))


def _retry_or_fail(message: Message, error: wa_errors.TransientError, outcome: Outcome) -> None:
    if message.attempts >= MAX_ATTEMPTS:
        outcome.failed[message.id] = error
        return
    if error.code == wa_errors.PAIR_RATE_LIMIT:
        wait = float(PAIR_RATE_BACKOFF_BASE ** max(message.attempts - 1, 0))
        wait = max(wait, error.retry_after or 0.0)
    else:
        wait = backoff_seconds(message.attempts, error.retry_after)
    outcome.requeue[message.id] = (
        timezone.now() + dt.timedelta(seconds=wait),
        {"retry": error.code or error.http_status, "title": error.title[:200], "wait_s": round(wait, 1)},
    )


# --- Recording -----------------------------------------------------------------------------


def _record(messages: Sequence[Message], outcome: Outcome) -> None:
    """Write the chunk's outcome in one transaction: only rows still `sending` move (a status
    webhook may already have moved a message on), with one event per row that moved."""
    now = timezone.now()
    by_id = {m.id: m for m in messages}
    with transaction.atomic():
        still_sending = set(
            Message.objects.select_for_update()
            .filter(id__in=list(by_id), status=MessageStatus.SENDING)
            .values_list("id", flat=True)
        )
        events: list[MessageEvent] = []
        if sent := [mid for mid in outcome.sent if mid in still_sending]:
            Message.objects.filter(id__in=sent).update(
                status=MessageStatus.SENT,
                sent_at=now,
                updated_at=now,
                wamid=Case(*[When(id=mid, then=Value(outcome.sent[mid].wamid)) for mid in sent]),
            )
            events += [
                MessageEvent(message_id=mid, status=MessageStatus.SENT, at=now, source=Source.WORKER,
                             detail={"wamid": outcome.sent[mid].wamid})
                for mid in sent
            ]
        if requeue := [mid for mid in outcome.requeue if mid in still_sending]:
            Message.objects.filter(id__in=requeue).update(
                status=MessageStatus.QUEUED,
                updated_at=now,
                not_before=Case(*[When(id=mid, then=Value(outcome.requeue[mid][0])) for mid in requeue]),
                reason=Case(*[When(id=mid, then=Value(_requeue_reason(outcome.requeue[mid][1]))) for mid in requeue]),
            )
            events += [
                MessageEvent(message_id=mid, status=MessageStatus.QUEUED, at=now, source=Source.WORKER,
                             detail=outcome.requeue[mid][1])
                for mid in requeue
            ]
        if suppressed := [mid for mid in outcome.suppressed if mid in still_sending]:
            Message.objects.filter(id__in=suppressed).update(
                status=MessageStatus.SUPPRESSED,
                updated_at=now,
                reason=Case(*[When(id=mid, then=Value(outcome.suppressed[mid])) for mid in suppressed]),
            )
            events += [
                MessageEvent(message_id=mid, status=MessageStatus.SUPPRESSED, at=now, source=Source.WORKER,
                             detail={"reason": outcome.suppressed[mid]})
                for mid in suppressed
            ]
        if failed := [mid for mid in outcome.failed if mid in still_sending]:
            for mid in failed:
                error = outcome.failed[mid]
                Message.objects.filter(id=mid).update(
                    status=MessageStatus.FAILED,
                    updated_at=now,
                    error_code=error.code or error.http_status,
                    error_title=str(error.title)[:500],
                )
            events += [
                MessageEvent(message_id=mid, status=MessageStatus.FAILED, at=now, source=Source.WORKER,
                             detail=_error_detail(outcome.failed[mid]))
                for mid in failed
            ]
        for mid, error in outcome.unknown.items():
            if mid in still_sending:
                events.append(
                    MessageEvent(message_id=mid, status=MessageStatus.SENDING, at=now, source=Source.WORKER,
                                 detail={DELIVERY_UNKNOWN: str(error)[:300]})
                )
        MessageEvent.objects.bulk_create(events)


def _requeue_reason(detail: dict[str, Any]) -> str:
    return str(detail.get("held") or detail.get("deferred") or ("retry" if "retry" in detail else ""))[:64]


def _error_detail(error: wa_errors.WhatsAppError) -> dict[str, Any]:
    return {"code": error.code, "title": str(error.title)[:300], "http_status": error.http_status,
            "class": type(error).__name__}


def _after_effects(messages: Sequence[Message], outcome: Outcome) -> None:
    """What a refusal obliges us to do beyond recording it: opt-outs, undeliverable numbers,
    and a full stop when Meta restricts the account."""
    by_id = {m.id: m for m in messages}
    for mid, error in outcome.failed.items():
        apply_failure_code(by_id[mid], error.code, wamid="")


def apply_failure_code(message: Message, code: int | None, *, wamid: str) -> None:
    phone = message.contact.phone
    if code == wa_errors.USER_STOPPED_MARKETING and phone:
        consent_record_platform_opt_out(phone=phone, wamid=wamid or (message.wamid or ""), code=code)
    elif code == wa_errors.UNDELIVERABLE and phone:
        contact_mark_undeliverable(phone=phone, code=code, wamid=wamid or (message.wamid or ""))
    elif code in wa_errors.ACCOUNT_LEVEL_CODES:
        from messaging.control import sending_stop_all

        sending_stop_all(reason=f"Meta refused a send with error {code}: the account is restricted.", source="meta")
    _notify_failure_listeners(message, code, wamid=wamid)


def _notify_failure_listeners(message: Message, code: int | None, *, wamid: str) -> None:
    """Apps above messaging (complaints: block/report signals) learn of each failed send through
    settings.MESSAGING_FAILURE_LISTENERS, dotted paths called as `listener(message=, code=, wamid=)`.
    A listener's error is logged, never allowed to undo what the failure already recorded."""
    from django.utils.module_loading import import_string

    for path in getattr(settings, "MESSAGING_FAILURE_LISTENERS", []):
        try:
            import_string(path)(message=message, code=code, wamid=wamid)
        except Exception:
            logger.exception("Failure listener %s failed for message %s", path, message.pk)


def messages_fail_stale_sending(*, older_than: dt.timedelta | None = None) -> int:
    """Messages left in `sending` with no status from Meta for `older_than` (a worker died, or
    the answer was lost and no webhook came): mark them failed as "delivery unknown" for staff
    to review and resend by hand. Never re-sent automatically: Meta may have delivered them."""
    window = older_than or dt.timedelta(minutes=settings.MESSAGING_RECONCILE_AFTER_MINUTES)
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(status=MessageStatus.SENDING, claimed_at__lt=now - window)
            .values_list("id", flat=True)[:5000]
        )
        if not ids:
            return 0
        Message.objects.filter(id__in=ids).update(
            status=MessageStatus.FAILED,
            reason=DELIVERY_UNKNOWN,
            error_title="Delivery unknown: no answer and no status from Meta. Check before resending.",
            updated_at=now,
        )
        MessageEvent.objects.bulk_create(
            [MessageEvent(message_id=mid, status=MessageStatus.FAILED, at=now, source=Source.SYSTEM,
                          detail={"reason": DELIVERY_UNKNOWN}) for mid in ids]
        )
    logger.warning("%s messages had no status from Meta after %s; marked delivery unknown", len(ids), window)
    return len(ids)


# --- Template holds ------------------------------------------------------------------------

TEMPLATE_HELD = "template_held"
HOLD_RECHECK = dt.timedelta(minutes=15)  # a held message looks at its template again after this
HOLD_MAX_AGE = dt.timedelta(hours=24)  # held longer than this, a message is suppressed for good


def messages_hold_for_template(*, template_id: int) -> int:
    """Keep the template's queued messages queued but not due until the hold is re-checked."""
    now = timezone.now()
    ids = list(
        Message.objects.filter(template_id=template_id, status=MessageStatus.QUEUED).values_list("id", flat=True)
    )
    if ids:
        Message.objects.filter(id__in=ids).update(not_before=now + HOLD_RECHECK, reason=TEMPLATE_HELD, updated_at=now)
        MessageEvent.objects.bulk_create(
            [MessageEvent(message_id=mid, status=MessageStatus.QUEUED, at=now, source=Source.SYSTEM,
                          detail={"held": TEMPLATE_HELD}) for mid in ids]
        )
    return len(ids)


def messages_release_for_template(*, template_id: int) -> int:
    """A released template's held messages are due again (the sweeper and campaign senders
    pick them up, and the send-time gate checks everything afresh)."""
    return Message.objects.filter(
        template_id=template_id, status=MessageStatus.QUEUED, reason=TEMPLATE_HELD
    ).update(not_before=None, reason="", updated_at=timezone.now())
