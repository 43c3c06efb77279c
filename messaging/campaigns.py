"""Campaigns: an approved template to an audience, gated and sent chunk by chunk.

Preparing reads the audience in chunks (a streamed CSV, or everyone opted in to the template's
purpose), gates each chunk with one query per check, and bulk-creates the queued messages.
Sending is the dispatcher's (messaging/dispatch.py), as for every message: a running campaign's
messages are claimed chunk by chunk, after the storefront's own. Memory stays flat however large
the audience: no step holds more than one chunk.
"""

from __future__ import annotations

import csv
import heapq
import io
import logging
from collections import Counter
from collections.abc import Collection, Iterator
from typing import IO, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from consent.purposes import Purpose
from consent.selectors import consent_opted_in_contact_ids, contact_ids_by_digest
from messaging.gate import gate, sending_policy
from messaging.models import Campaign, Message, MessageEvent, MessageKind, MessageStatus, MessageTemplate
from messaging.selectors import template_get, template_send_variable_count, template_usable
from messaging.wake import CAMPAIGN_PREPARE, outbox_wake, task
from messaging.wording import variable_count_error
from pandorakart_wa.core.audit import SYSTEM_USER_PREFIX
from pandorakart_wa.core.errors import ApplicationError
from pandorakart_wa.core.phones import InvalidPhoneNumber, normalize_phone, phone_digest
from profile.selectors import policy_version_get

logger = logging.getLogger(__name__)

AUDIENCE_CHUNK = 1000
INVALID_NUMBER = "invalid_number"
DUPLICATE = "duplicate"
UNMATCHED = "consent_missing"  # a number in the CSV that no contact has


def _counts(skipped: Counter[str], gated: Counter[str], size: int) -> tuple[int, dict[str, int]]:
    """(audience size, skipped per reason): rows read from the source, and why each was not queued."""
    total = skipped + gated
    return size + skipped[INVALID_NUMBER] + skipped[DUPLICATE] + skipped[UNMATCHED], dict(total)


class CampaignError(ApplicationError):
    """A campaign step refused (staff see the message)."""


PERM_LEGAL_NOTICE = "messaging.send_legal_notice"


def may_send_legal_notice(user: Any) -> bool:
    """Staff need `send_legal_notice` for the everyone-with-any-consent audience; the service's
    own notifier (a policy change, created_by None or a system user) may."""
    if user is None or str(user.get_username()).startswith(SYSTEM_USER_PREFIX):
        return True
    return bool(user.is_active and user.has_perm(PERM_LEGAL_NOTICE))


@transaction.atomic
def campaign_create(
    *,
    name: str,
    template: MessageTemplate,
    audience: str,
    variables: list[str] | None = None,
    audience_file: Any = None,
    scheduled_for: Any = None,
    created_by: Any = None,
    reason: str = "",
) -> Campaign:
    usable, code = template_usable(template)
    if not usable:
        raise CampaignError(f"The template {template} cannot be sent: {code}.")
    variables = list(variables or [])
    expected = template_send_variable_count(template)
    if expected != len(variables):
        raise CampaignError(variable_count_error(expected, len(variables)))
    if audience == Campaign.Audience.CSV and not audience_file:
        raise CampaignError("A CSV audience needs a file of phone numbers.")
    if audience == Campaign.Audience.ANY_CONSENT and not may_send_legal_notice(created_by):
        raise CampaignError("Only a compliance officer sends a legal notice to everyone holding any consent.")
    campaign = Campaign.objects.create(
        name=name,
        template=template,
        audience=audience,
        variables=variables,
        scheduled_for=scheduled_for,
        created_by=created_by,
        reason=reason,
        status=Campaign.Status.SCHEDULED if scheduled_for else Campaign.Status.DRAFT,
    )
    if audience_file:
        campaign.audience_file.save(f"campaign-{campaign.pk}.csv", audience_file, save=True)
    return campaign


@transaction.atomic
def campaign_start(*, campaign: Campaign) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED):
        raise CampaignError(f"A {campaign.get_status_display().lower()} campaign cannot be started.")
    campaign.status = Campaign.Status.PREPARING
    campaign.started_at = timezone.now()
    campaign.save(update_fields=["status", "started_at"])
    transaction.on_commit(lambda: task(CAMPAIGN_PREPARE).delay(campaign.pk))
    return campaign


def _set_status(campaign: Campaign, status: str, allowed: tuple[str, ...]) -> Campaign:
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status not in allowed:
            raise CampaignError(f"A {campaign.get_status_display().lower()} campaign cannot become {status}.")
        campaign.status = status
        if status in (Campaign.Status.CANCELLED, Campaign.Status.COMPLETED):
            campaign.finished_at = timezone.now()
        campaign.save(update_fields=["status", "finished_at"])
        return campaign


def campaign_pause(*, campaign: Campaign) -> Campaign:
    return _set_status(campaign, Campaign.Status.PAUSED, (Campaign.Status.RUNNING, Campaign.Status.PREPARING))


def campaign_resume(*, campaign: Campaign) -> Campaign:
    campaign = _set_status(campaign, Campaign.Status.RUNNING, (Campaign.Status.PAUSED,))
    _launch_senders(campaign.pk)
    return campaign


def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Cancel: nothing more is sent; messages not yet claimed become `cancelled`."""
    campaign = _set_status(
        campaign,
        Campaign.Status.CANCELLED,
        (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED, Campaign.Status.PREPARING, Campaign.Status.RUNNING,
         Campaign.Status.PAUSED),
    )
    now = timezone.now()
    while True:
        with transaction.atomic():
            ids = list(
                Message.objects.select_for_update(skip_locked=True)
                .filter(campaign=campaign, status=MessageStatus.QUEUED)
                .values_list("id", flat=True)[:AUDIENCE_CHUNK]
            )
            if not ids:
                break
            Message.objects.filter(id__in=ids).update(status=MessageStatus.CANCELLED, updated_at=now)
            MessageEvent.objects.bulk_create(
                [MessageEvent(message_id=i, status=MessageStatus.CANCELLED, at=now, source=MessageEvent.Source.STAFF)
                 for i in ids]
            )
    return campaign


# --- Audience ------------------------------------------------------------------------------


def _csv_digests(stream: IO[bytes], skipped: Counter[str]) -> Iterator[list[str]]:
    """Phone digests from a CSV (first column, or a column named phone), a chunk at a time."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    column = 0
    chunk: list[str] = []
    seen: set[str] = set()
    for row_number, row in enumerate(reader):
        if not row:
            continue
        if row_number == 0:
            header = [cell.strip().lower() for cell in row]
            if "phone" in header:
                column = header.index("phone")
                continue
        try:
            digest = phone_digest(normalize_phone(row[column] if column < len(row) else ""))
        except InvalidPhoneNumber:
            skipped[INVALID_NUMBER] += 1
            continue
        if digest in seen:  # memory: one digest per recipient (64 bytes); 100k ≈ 10 MB
            skipped[DUPLICATE] += 1
            continue
        seen.add(digest)
        chunk.append(digest)
        if len(chunk) >= AUDIENCE_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _any_consent_ids() -> Iterator[list[int]]:
    """Contacts opted in to any purpose, in id order without repeats, a chunk at a time: a
    merge of the per-purpose streams (each already in id order)."""
    streams = [
        (cid for chunk in consent_opted_in_contact_ids(purpose=p, chunk_size=AUDIENCE_CHUNK) for cid in chunk)
        for p in Purpose.values
    ]
    chunk: list[int] = []
    last = None
    for cid in heapq.merge(*streams):
        if cid == last:
            continue
        last = cid
        chunk.append(cid)
        if len(chunk) >= AUDIENCE_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _audience_contact_ids(campaign: Campaign, skipped: Counter[str]) -> Iterator[list[int]]:
    if campaign.audience == Campaign.Audience.OPTED_IN:
        yield from consent_opted_in_contact_ids(purpose=campaign.template.purpose, chunk_size=AUDIENCE_CHUNK)
        return
    if campaign.audience == Campaign.Audience.ANY_CONSENT:
        yield from _any_consent_ids()
        return
    with campaign.audience_file.open("rb") as stream:
        for digests in _csv_digests(stream, skipped):
            found = contact_ids_by_digest(digests)
            skipped[UNMATCHED] += len(digests) - len(found)  # numbers never seen: no consent
            if found:
                yield list(found.values())


def campaign_prepare(*, campaign_id: int) -> Campaign:
    """Gate the audience chunk by chunk and queue a message per allowed recipient."""
    campaign = Campaign.objects.select_related("template", "template__approved_revision").get(pk=campaign_id)
    if campaign.status != Campaign.Status.PREPARING:
        return campaign
    template = campaign.template
    policy = sending_policy()
    kind = MessageKind.NOTICE if campaign.audience == Campaign.Audience.ANY_CONSENT else MessageKind.STANDARD
    skipped: Counter[str] = Counter()  # while reading the audience
    gated: Counter[str] = Counter()  # refused by the policy gate
    size = queued = 0
    for contact_ids in _audience_contact_ids(campaign, skipped):
        now = timezone.now()
        size += len(contact_ids)
        decisions = gate(
            purpose=template.purpose, contact_ids=contact_ids, template=template, now=now, policy=policy, kind=kind
        )
        allowed = [cid for cid in contact_ids if decisions[cid].allowed]
        gated.update(str(decisions[cid].code) for cid in contact_ids if not decisions[cid].allowed)
        audience_size, skipped_counts = _counts(skipped, gated, size)
        with transaction.atomic():
            messages = Message.objects.bulk_create(
                [
                    Message(
                        contact_id=cid,
                        purpose=template.purpose,
                        template=template,
                        revision=template.approved_revision,
                        language=template.language,
                        variables=campaign.variables,
                        campaign=campaign,
                        kind=kind,
                        not_before=decisions[cid].defer_until,
                        reason=decisions[cid].code or "",
                        created_by=f"campaign:{campaign.pk}",
                    )
                    for cid in allowed
                ]
            )
            MessageEvent.objects.bulk_create(
                [MessageEvent(message=m, status=MessageStatus.QUEUED, at=now, source=MessageEvent.Source.SYSTEM,
                              detail={"campaign": campaign.pk}) for m in messages]
            )
            Campaign.objects.filter(pk=campaign.pk).update(
                audience_size=audience_size, queued_count=F("queued_count") + len(messages), skipped=skipped_counts
            )
        queued += len(messages)
        campaign.refresh_from_db(fields=["status"])
        if campaign.status == Campaign.Status.CANCELLED:
            return campaign
    audience_size, skipped_counts = _counts(skipped, gated, size)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        campaign.audience_size, campaign.skipped = audience_size, skipped_counts
        if campaign.status == Campaign.Status.PREPARING:
            campaign.status = Campaign.Status.RUNNING
        campaign.save(update_fields=["audience_size", "skipped", "status"])
    if campaign.status == Campaign.Status.RUNNING:
        _launch_senders(campaign.pk)
    logger.info("Campaign %s prepared: %s queued, skipped %s", campaign.pk, queued, skipped_counts)
    return campaign


def _launch_senders(campaign_id: int) -> None:
    """Wake the dispatcher for the campaign's messages once the current transaction commits."""
    transaction.on_commit(outbox_wake)


def campaign_progress(campaign: Campaign) -> dict[str, int]:
    from django.db.models import Count

    counts = dict(
        Message.objects.filter(campaign=campaign).values("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in MessageStatus.values}


def campaign_finish_if_done(*, campaign_id: int) -> bool:
    """Mark a running campaign completed once nothing is queued or being sent."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status != Campaign.Status.RUNNING:
            return False
        if Message.objects.filter(
            campaign=campaign, status__in=(MessageStatus.QUEUED, MessageStatus.SENDING)
        ).exists():
            return False
        campaign.status = Campaign.Status.COMPLETED
        campaign.finished_at = timezone.now()
        campaign.save(update_fields=["status", "finished_at"])
        return True


def campaigns_complete_finished(*, campaign_ids: Collection[int] | None = None) -> list[int]:
    """Complete the running campaigns (among `campaign_ids`, or all) with nothing left queued or
    being sent: one query when none is done (the dispatcher asks after every chunk)."""
    busy = Message.objects.filter(campaign=OuterRef("pk"), status__in=(MessageStatus.QUEUED, MessageStatus.SENDING))
    done = Campaign.objects.filter(status=Campaign.Status.RUNNING).filter(~Exists(busy))
    if campaign_ids is not None:
        done = done.filter(id__in=list(campaign_ids))
    return [cid for cid in done.values_list("id", flat=True) if campaign_finish_if_done(campaign_id=cid)]


POLICY_NOTICE_TEMPLATE = "policy_update_notice"


def policy_change_notify(*, policy_version_id: int) -> Campaign:
    """The notifier profile calls after a significant policy change is published: a campaign of
    the `policy_update_notice` utility template to everyone holding any consent. Idempotent per
    policy version: a second call returns the campaign already started."""

    version = policy_version_get(pk=policy_version_id)
    reason = f"policy-version:{version.pk}"
    existing = Campaign.objects.filter(reason=reason).exclude(status=Campaign.Status.CANCELLED).first()
    if existing is not None:
        return existing
    template = template_get(name=POLICY_NOTICE_TEMPLATE, language="en")
    if template is None:
        raise CampaignError(f"The {POLICY_NOTICE_TEMPLATE} template does not exist.")
    # The seeded wording: "Hi {{1}}, ... to version {{2}}, effective {{3}}." The service keeps no
    # customer names, so the greeting is generic.
    india = ZoneInfo(settings.TIME_ZONE)
    effective = timezone.localtime(version.published_at or timezone.now(), india).strftime("%d %b %Y")
    values = ["there", str(version.number), effective][: template_send_variable_count(template)]
    campaign = campaign_create(
        name=f"Policy version {version.number}: customer notice",
        template=template,
        audience=Campaign.Audience.ANY_CONSENT,
        variables=values,
        reason=reason,
    )
    return campaign_start(campaign=campaign)
