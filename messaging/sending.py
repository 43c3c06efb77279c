"""The send pipeline: claim queued messages, re-check the policy gate, respect Meta's limits,
send, and record what happened — for one message or a chunk of a campaign alike.

At most once: a message is claimed (queued → sending) by exactly one worker; a request whose
outcome is unknown (timeout after sending, worker killed) stays `sending` and is reconciled
from Meta's status webhooks, which echo `biz_opaque_callback_data` = the message id. Only
errors that are known to be safe are retried (TransientError), with backoff and jitter.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from consent.purposes import TemplateCategory
from consent.selectors import consent_decisions, contacts_erased, revocation_clock_expression
from consent.services.inbound import consent_record_platform_opt_out, contact_mark_undeliverable
from messaging.control import sending_stop_all
from messaging.gate import any_consent, gate, in_array, sending_policy
from messaging.held import HOLD_MAX_AGE, HOLD_RECHECK, TEMPLATE_HELD
from messaging.hooks import failure_listeners
from messaging.inflight import in_flight
from messaging.models import (
    Campaign,
    Message,
    MessageEvent,
    MessageKind,
    MessageStatus,
    MessageTemplate,
    SendingPolicy,
)
from messaging.ratelimit import pair_limiter, throughput_limiter
from messaging.selectors import TEMPLATE_PAUSED
from messaging.wake import outbox_wake
from pandorakart_wa.core.backoff import backoff
from pandorakart_wa.whatsapp import errors as wa_errors
from pandorakart_wa.whatsapp import get_backend
from pandorakart_wa.whatsapp.base import Late, OutboundMessage, SendResult, Withheld

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # transient failures before a message is given up as failed
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 60 * 60.0
PAIR_RATE_BACKOFF_BASE = 4  # Meta, 131056: retry after 4^X seconds
STOP_ALL_RECHECK = dt.timedelta(seconds=60)  # messages held by the stop-all switch look again then
DELIVERY_UNKNOWN = "delivery_unknown"
NEVER_SENT = "never_sent"  # reconciled: claimed by a worker that died before the request left
UNSENT_MARK_LOST = "unsent_mark_lost"  # the claim's mark was gone at send time: not sent, retried
MARK_LOST_RETRY = dt.timedelta(seconds=5)
LATE_FOR_SLOT = "late_for_slot"  # it could not leave on time for its rate-limit slot: queued again at once
RESERVE_HORIZON_SECONDS = 3600.0  # a chunk's rate-limit slots may lie this far ahead
SLOT_TOLERANCE = 0.02  # seconds a paced send may leave after its slot (see _send)
SLOT_TOLERANCE_MIN_INTERVAL = 0.002  # slots this far apart (500/s or less) are paced
Source = MessageEvent.Source


@dataclass
class Outcome:
    """What happened to each message of a chunk, written back in bulk."""

    sent: dict[Any, SendResult] = field(default_factory=dict)
    requeue: dict[Any, tuple[dt.datetime, dict[str, Any]]] = field(default_factory=dict)
    suppressed: dict[Any, str] = field(default_factory=dict)
    failed: dict[Any, wa_errors.WhatsAppError] = field(default_factory=dict)
    unknown: dict[Any, wa_errors.WhatsAppError] = field(default_factory=dict)


# --- Claiming ------------------------------------------------------------------------------


def due_messages(now: dt.datetime) -> Q:
    """Queued and not deferred past `now`."""
    return Q(status=MessageStatus.QUEUED) & (Q(not_before__isnull=True) | Q(not_before__lte=now))


def dispatchable() -> Q:
    """Messages the dispatcher may take: not part of a campaign, or of a running one (a paused,
    preparing or cancelled campaign's messages wait)."""
    return Q(campaign__isnull=True) | Q(campaign__status=Campaign.Status.RUNNING)


def messages_claim(
    *,
    ids: Sequence[Any] | None = None,
    campaign_id: int | None = None,
    limit: int = 200,
) -> list[Message]:
    """Atomically move up to `limit` due queued messages to `sending` and return them.

    Without `ids` or `campaign_id` this is the dispatcher's claim: every dispatchable message,
    the storefront's own (login codes, order updates, replies) before campaign messages, then
    oldest first. Concurrent claimers never get the same row (FOR UPDATE SKIP LOCKED on
    PostgreSQL; SQLite serialises writers). A message claimed once is never claimed again
    unless it is re-queued.
    """
    now = timezone.now()
    query = due_messages(now)
    if ids is not None:
        query &= Q(id__in=list(ids))
    if campaign_id is not None:
        query &= Q(campaign_id=campaign_id)
    candidates = Message.objects.select_for_update(skip_locked=True, of=("self",))
    if ids is None and campaign_id is None:
        # of=self: the campaign filter is an outer join, whose nullable side PostgreSQL cannot
        # lock (and the campaign row need not be locked anyway)
        candidates = candidates.filter(dispatchable()).order_by(
            Case(When(campaign__isnull=True, then=Value(0)), default=Value(1)), "created_at"
        )
    else:
        candidates = candidates.order_by("created_at")
    with transaction.atomic():
        claimed = list(candidates.filter(query).values_list("id", flat=True)[:limit])
        if not claimed:
            return []
        in_flight().mark_unsent(claimed)  # before the claim commits: no window without a mark
        Message.objects.filter(id__in=in_array(claimed, "uuid")).update(
            status=MessageStatus.SENDING, claimed_at=now, updated_at=now, attempts=F("attempts") + 1
        )
        _events_create(claimed, MessageStatus.SENDING, now)
    return _load_claimed(claimed)


def _load_claimed(ids: Sequence[Any]) -> list[Message]:
    """The claimed messages with what sending needs: the contact's number and digest (not its
    other encrypted fields) and each template read once, fresh (a pause may have come since)."""
    messages = list(
        Message.objects.filter(id__in=in_array(ids, "uuid"))
        .select_related("contact")
        .only(*(f.name for f in Message._meta.concrete_fields), "contact__phone", "contact__phone_digest")
        .order_by("created_at")
    )
    templates = MessageTemplate.objects.in_bulk({m.template_id for m in messages if m.template_id})
    for message in messages:
        if message.template_id is not None:
            message.template = templates[message.template_id]
    return messages


def _events_create(ids: Sequence[Any], status: str, at: dt.datetime, details: Sequence[dict[str, Any]] | None = None,
                   source: str = Source.WORKER) -> None:
    """One event per message, in one statement (on PostgreSQL from arrays: no per-row objects)."""
    if not ids:
        return
    if connection.vendor != "postgresql":
        MessageEvent.objects.bulk_create(
            [MessageEvent(message_id=mid, status=status, at=at, source=source, detail=d)
             for mid, d in zip(ids, details or [{}] * len(ids), strict=True)]
        )
        return
    table = MessageEvent._meta.db_table
    with connection.cursor() as cursor:
        if details is None:
            cursor.execute(
                f"INSERT INTO {table} (message_id, status, at, source, detail) "
                "SELECT unnest(%s::uuid[]), %s, %s, %s, '{}'::jsonb",
                [list(ids), status, at, source],
            )
        else:
            cursor.execute(
                f"INSERT INTO {table} (message_id, status, at, source, detail) "  # noqa: S608 - our table
                "SELECT m, %s, %s, %s, d::jsonb FROM unnest(%s::uuid[], %s::text[]) AS t(m, d)",
                [status, at, source, list(ids), [json.dumps(d) for d in details]],
            )


# --- Sending -------------------------------------------------------------------------------


def messages_send_claimed(messages: Sequence[Message]) -> Outcome:
    """Gate, rate-limit, send and record a chunk of messages this worker has claimed."""
    outcome = Outcome()
    if not messages:
        return outcome
    now = timezone.now()
    policy = sending_policy()
    _, clock = _stop_all_and_clock()  # read before the gate reads consent: see _send's release
    if policy.stop_all:
        for message in messages:
            outcome.requeue[message.id] = (now + STOP_ALL_RECHECK, {"held": "stop_all"})
        _record(messages, outcome)
        return outcome

    ready = _gate_chunk(messages, policy, now, outcome)
    ready = _pair_rate(ready, now, outcome)
    if ready:
        _send(ready, outcome, clock)
    _record(messages, outcome)
    _after_effects(messages, outcome)
    return outcome


def _gate_chunk(messages: Sequence[Message], policy: SendingPolicy, now: dt.datetime, outcome: Outcome) -> list[Message]:
    groups: dict[tuple[Any, str, str], list[Message]] = defaultdict(list)
    for message in messages:
        groups[(message.template_id, message.purpose, message.kind)].append(message)
    ready: list[Message] = []
    for (_, purpose, kind), group in groups.items():
        template = group[0].template  # read when the chunk was claimed: a pause since then holds it
        if template is not None:
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


def _outbound(message: Message, slot: float, not_after: float | None) -> OutboundMessage:
    phone = message.contact.phone or ""
    template = message.template
    if template is not None:
        return OutboundMessage(
            to=phone,
            template=template.name,
            language=message.language or template.language,
            body_parameters=list(message.variables or []),
            otp_code=str(message.variables[0]) if template.category == TemplateCategory.AUTHENTICATION and message.variables
            else None,
            biz_opaque_callback_data=str(message.id),
            not_before=slot,
            not_after=not_after,
        )
    return OutboundMessage(to=phone, text=message.text, biz_opaque_callback_data=str(message.id), not_before=slot,
                           not_after=not_after)


@functools.cache
def _stop_all_and_clock_sql() -> tuple[str, tuple[Any, ...]] | None:
    """The query of _stop_all_and_clock, compiled by the ORM once per process: it runs before
    every wave, where compiling it each time cost more than running it."""
    clock = revocation_clock_expression()
    if clock is None:
        return None
    query = SendingPolicy.objects.filter(pk=1).annotate(clock=clock).values_list("stop_all", "clock").query
    return query.sql_with_params()


def _stop_all_and_clock() -> tuple[bool, int | None]:
    """The stop-all switch and consent's revocation clock (None off PostgreSQL), one query."""
    compiled = _stop_all_and_clock_sql()
    if compiled is None:
        return SendingPolicy.objects.filter(pk=1, stop_all=True).exists(), None
    with connection.cursor() as cursor:
        cursor.execute(*compiled)
        row = cursor.fetchone()
    if row is None:  # no policy row yet: no switch, and no clock to rely on
        return False, None
    return bool(row[0]), row[1]


def _last_check(messages: Sequence[Message]) -> dict[Any, tuple[str, str]]:
    """The gate's consent part again, the moment before the messages leave (after any wait for
    their rate-limit slot): an opt-out, block or erasure committed since the claim keeps them
    back. {message id: ("suppress", code)}; one query per purpose and kind."""
    refused: dict[Any, tuple[str, str]] = {}
    groups: dict[tuple[str, str], list[Message]] = defaultdict(list)
    for message in messages:
        purpose = message.template.purpose if message.template is not None else message.purpose
        groups[(purpose, message.kind)].append(message)
    for (purpose, kind), group in groups.items():
        contact_ids = list({m.contact_id for m in group})
        if kind == MessageKind.NOTICE:
            codes = any_consent(contact_ids)
        elif kind == MessageKind.CONFIRMATION:
            erased = contacts_erased(contact_ids)
            codes = dict.fromkeys(erased, "contact_erased")
        else:
            codes = {cid: str(d.reason) for cid, d in consent_decisions(contact_ids=contact_ids, purpose=purpose).items()
                     if not d.allowed}
        for message in group:
            if message.contact_id in codes:
                refused[message.id] = ("suppress", codes[message.contact_id])
    return refused


def _send(messages: list[Message], outcome: Outcome, clock: int | None = None) -> None:
    """Send `messages`, which passed the gate after consent's revocation clock read `clock`."""
    limiter = throughput_limiter()
    slots: list[float] = []
    # The whole chunk's slots in one reservation, however far other senders' chunks have
    # pushed them: capped reservations made a sender hold its first slots while it waited to
    # be granted the rest, and those slots, passed, then went out together in a burst.
    while len(slots) < len(messages):
        reservation = limiter.reserve(len(messages) - len(slots), max_wait=RESERVE_HORIZON_SECONDS)
        slots.extend(reservation.slot(i) for i in range(reservation.granted))
        if not reservation.granted:
            time.sleep(1.0)  # over an hour of slots taken: something is very wrong, do not spin
    by_key = {str(m.id): m for m in messages}
    withheld: dict[Any, tuple[str, str]] = {}
    marks = in_flight()

    unreleased = set(by_key)
    seen_clock = [clock]

    def release(wave: Sequence[OutboundMessage]) -> list[bool]:
        """The last moment before `wave` leaves: the stop-all switch and consent again, then
        take each message's unsent mark (a message whose mark is gone may have been reconciled:
        it stays).

        Consent is asked again only when its revocation clock moved since the last check: one
        small query per wave instead of the consent query. When it moved, every message of the
        chunk not yet released is checked at once, as the later waves rely on this answer."""
        keys = [str(o.biz_opaque_callback_data) for o in wave]
        chunk = [by_key[k] for k in keys]
        stop_all, now_clock = _stop_all_and_clock()
        if stop_all:
            withheld.update({m.id: ("hold", "stop_all") for m in chunk})
        elif now_clock is None:  # no clock (SQLite): ask each wave
            withheld.update(_last_check(chunk))
        elif now_clock != seen_clock[0]:
            withheld.update(_last_check([by_key[k] for k in unreleased]))
            seen_clock[0] = now_clock  # read before that check: a revocation since moves it again
        unreleased.difference_update(keys)
        going = [m for m in chunk if m.id not in withheld]
        for message, taken in zip(going, marks.take([m.id for m in going]), strict=True):
            if not taken:
                withheld[message.id] = ("retry", UNSENT_MARK_LOST)
        return [m.id not in withheld for m in chunk]

    # Where the limiter paces sends (slots SLOT_TOLERANCE_MIN_INTERVAL or more apart), a send
    # that cannot leave within SLOT_TOLERANCE of its slot (a stalled process, a slow first
    # connection) gets a new slot instead of leaving late, next to the following ones.
    paced = limiter.interval >= SLOT_TOLERANCE_MIN_INTERVAL
    results = get_backend().send_batch(
        [_outbound(m, slot, slot + SLOT_TOLERANCE if paced else None) for m, slot in zip(messages, slots, strict=True)],
        release=release,
    )
    now = timezone.now()
    for message, result in zip(messages, results, strict=True):
        if isinstance(result, SendResult):
            outcome.sent[message.id] = result
        elif isinstance(result, Late):  # allowed, but it missed its slot: a new one at once
            outcome.requeue[message.id] = (now, {"retry": LATE_FOR_SLOT})
        elif isinstance(result, Withheld):
            action, code = withheld.get(message.id, ("retry", "release_failed"))
            if action == "suppress":
                outcome.suppressed[message.id] = code
            elif action == "hold":
                outcome.requeue[message.id] = (now + STOP_ALL_RECHECK, {"held": code})
            else:  # certainly not sent: try again shortly
                outcome.requeue[message.id] = (now + MARK_LOST_RETRY, {"retry": code, "title": str(result)[:200]})
        elif isinstance(result, wa_errors.DeliveryUnknown):
            outcome.unknown[message.id] = result
        elif isinstance(result, wa_errors.TransientError):
            _retry_or_fail(message, result, outcome)
        elif isinstance(result, wa_errors.WhatsAppError):
            outcome.failed[message.id] = result
        else:  # a bug, not Meta: do not retry blindly, keep it for reconciliation
            logger.error("Unexpected send result for message %s: %r", message.id, result)
            outcome.unknown[message.id] = wa_errors.DeliveryUnknown(repr(result))
    # Meta's pair rate counts messages sent to the customer: one that was held back or refused
    # gives its slot back, so a retry a second later is not deferred by our own limiter.
    unsent = [
        str(m.contact.phone_digest) for m, r in zip(messages, results, strict=True)
        if isinstance(r, Withheld) or (isinstance(r, wa_errors.WhatsAppError) and not isinstance(r, wa_errors.DeliveryUnknown))
    ]
    if unsent:
        pair_limiter().release(unsent)


def _retry_or_fail(message: Message, error: wa_errors.TransientError, outcome: Outcome) -> None:
    if message.attempts >= MAX_ATTEMPTS:
        outcome.failed[message.id] = error
        return
    if error.code == wa_errors.PAIR_RATE_LIMIT:
        wait = float(PAIR_RATE_BACKOFF_BASE ** max(message.attempts - 1, 0))
        wait = max(wait, error.retry_after or 0.0)
    else:
        wait = backoff(message.attempts - 1, base=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS, retry_after=error.retry_after)
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
            .filter(id__in=in_array(by_id, "uuid"), status=MessageStatus.SENDING)
            .order_by("id")  # the status webhooks lock in the same order: no deadlock
            .values_list("id", flat=True)
        )
        events: list[MessageEvent] = []
        if sent := [mid for mid in outcome.sent if mid in still_sending]:
            wamids = [outcome.sent[mid].wamid for mid in sent]
            _mark_sent(sent, wamids, now)
            _events_create(sent, MessageStatus.SENT, now, [{"wamid": w} for w in wamids])
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
    in_flight().forget(mid for mid in by_id if mid not in outcome.sent and mid not in outcome.unknown)


def _mark_sent(ids: list[Any], wamids: list[str], now: dt.datetime) -> None:
    """`sent` with each message's wamid: on PostgreSQL one UPDATE joined to the two arrays (a
    CASE of one WHEN per row is quadratic in the chunk)."""
    if connection.vendor != "postgresql":
        Message.objects.filter(id__in=ids).update(
            status=MessageStatus.SENT, sent_at=now, updated_at=now,
            wamid=Case(*[When(id=mid, then=Value(w)) for mid, w in zip(ids, wamids, strict=True)]),
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Message._meta.db_table} AS m SET status = %s, sent_at = %s, updated_at = %s, "  # noqa: S608
            "wamid = v.wamid FROM unnest(%s::uuid[], %s::text[]) AS v(id, wamid) WHERE m.id = v.id",
            [MessageStatus.SENT, now, now, ids, wamids],
        )


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
        sending_stop_all(reason=f"Meta refused a send with error {code}: the account is restricted.", source="meta")
    _notify_failure_listeners(message, code, wamid=wamid)


def _notify_failure_listeners(message: Message, code: int | None, *, wamid: str) -> None:
    """Apps above messaging (complaints: block/report signals) learn of each failed send through
    messaging.hooks.failure_listeners, called as `listener(message=, code=, wamid=)`. A listener's
    error is logged, never allowed to undo what the failure already recorded."""
    for name, listener in failure_listeners.items():
        try:
            listener(message=message, code=code, wamid=wamid)
        except Exception:
            logger.exception("Failure listener %s failed for message %s", name, message.pk)


def messages_fail_stale_sending(*, older_than: dt.timedelta | None = None) -> int:
    """Reconcile messages left in `sending` with no status from Meta for `older_than` (a
    worker died, or the answer was lost and no webhook came); returns how many failed.

    Those whose unsent mark is still there never left (their worker died between the claim and
    the request): they are queued again. The others may have reached Meta: they are marked failed
    as "delivery unknown" for staff to review and resend by hand, never re-sent automatically."""
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
        taken = in_flight().take(ids) if in_flight().exact else [False] * len(ids)
        unsent = [mid for mid, never_left in zip(ids, taken, strict=True) if never_left]
        unknown = [mid for mid, never_left in zip(ids, taken, strict=True) if not never_left]
        if unsent:
            Message.objects.filter(id__in=unsent).update(
                status=MessageStatus.QUEUED, not_before=None, reason="", updated_at=now
            )
            MessageEvent.objects.bulk_create(
                [MessageEvent(message_id=mid, status=MessageStatus.QUEUED, at=now, source=Source.SYSTEM,
                              detail={"requeued": NEVER_SENT}) for mid in unsent]
            )
            transaction.on_commit(outbox_wake)  # they go out now (the beat sweep would, later)
        if unknown:
            Message.objects.filter(id__in=unknown).update(
                status=MessageStatus.FAILED,
                reason=DELIVERY_UNKNOWN,
                error_title="Delivery unknown: no answer and no status from Meta. Check before resending.",
                updated_at=now,
            )
            MessageEvent.objects.bulk_create(
                [MessageEvent(message_id=mid, status=MessageStatus.FAILED, at=now, source=Source.SYSTEM,
                              detail={"reason": DELIVERY_UNKNOWN}) for mid in unknown]
            )
    if unsent:
        logger.warning("%s messages claimed by a worker that died before sending them were queued again", len(unsent))
    if unknown:
        logger.warning("%s messages had no status from Meta after %s; marked delivery unknown", len(unknown), window)
    return len(unknown)
