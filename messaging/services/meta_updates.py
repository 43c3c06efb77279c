"""What Meta says of our templates: status, quality and category updates (webhooks), scheduled
recategorisations, and the sync."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from consent.purposes import PURPOSE_FOR_CATEGORY, TemplateCategory
from messaging.models import (
    HoldReason,
    MessageTemplate,
    MetaTemplateStatus,
    TemplateQuality,
    TemplateRevision,
    TemplateStatusEvent,
)
from messaging.services.common import (
    ATTENTION_META_STATUSES,
    HOLD_FOR_META_STATUS,
    Source,
    attention_needed,
    hold_add,
    status_event_record,
)
from pandorakart_wa.core.audit import CELERY, META_WEBHOOK, User, system_user
from pandorakart_wa.core.timefmt import staff_time
from pandorakart_wa.whatsapp import get_backend
from profile.services.alerts import alert_raise

logger = logging.getLogger(__name__)


def normalise_language(value: Any) -> str:
    return str(value or "").replace("-", "_")


def _match(value: Mapping[str, Any]) -> MessageTemplate | None:
    """The template a Meta payload is about: by Meta's id, else by name and language (only
    among templates we submitted: a same-named template made elsewhere is not ours)."""
    templates = MessageTemplate.objects.select_for_update(of=("self",)).select_related("approved_revision")
    meta_id = str(value.get("message_template_id") or value.get("id") or "")
    if meta_id:
        found = templates.filter(meta_template_id=meta_id).first()
        if found is not None:
            return found
    name = value.get("message_template_name") or value.get("name")
    language = value.get("message_template_language") or value.get("language")
    if not isinstance(name, str) or not isinstance(language, str):
        return None  # a payload of another shape names no template of ours
    language = normalise_language(language)
    if not name or not language:
        return None
    return templates.filter(name=name, language=language).exclude(meta_template_id="").first()


def _status_reason(value: Mapping[str, Any]) -> str:
    parts = []
    if value.get("reason") not in (None, "", "NONE"):
        parts.append(str(value["reason"]))
    for key in ("other_info", "rejection_info"):
        info = value.get(key)
        if isinstance(info, Mapping):
            parts.extend(str(v) for v in info.values() if v)
    disable = value.get("disable_info")
    if isinstance(disable, Mapping) and disable.get("disable_date"):
        parts.append(f"disabled on {disable['disable_date']}")
    return "; ".join(parts)


def apply_meta_state(
    template: MessageTemplate,
    *,
    status: str | None,
    category: str | None,
    quality: str | None,
    reason: str,
    source: str,
    actor: User | None,
    webhook_event_id: int | None,
) -> bool:
    """Apply what Meta says about `template` (locked by the caller). Returns True if anything changed."""
    changed = False
    now = timezone.now()
    if status and status in MetaTemplateStatus.values and status != template.meta_status:
        old = template.meta_status
        template.meta_status = status
        template.meta_reason = reason[:255]
        template.meta_synced_at = now
        template.save(update_fields=["meta_status", "meta_reason", "meta_synced_at", "updated_at"])
        status_event_record(
            template, kind=TemplateStatusEvent.Kind.META_STATUS, source=source, old=old, new=status,
            reason=reason, actor=actor, revision=template.approved_revision, webhook_event_id=webhook_event_id,
        )
        changed = True
        label = MetaTemplateStatus(status).label
        if status in HOLD_FOR_META_STATUS:
            hold_add(
                template, HOLD_FOR_META_STATUS[status], f"Meta: {label}" + (f" ({reason})" if reason else ""),
                source=source, actor=actor, webhook_event_id=webhook_event_id,
            )
        elif status in ATTENTION_META_STATUSES:
            attention_needed(template, f"Meta: {label}" + (f" ({reason})" if reason else ""))
        elif status == MetaTemplateStatus.APPROVED and not template.hold_reason and template.attention_reason:
            template.attention_reason = ""
            template.attention_since = None
            template.save(update_fields=["attention_reason", "attention_since", "updated_at"])
    elif status and status not in MetaTemplateStatus.values:
        logger.warning("Unknown Meta template status %r for %s", status, template)
    if quality and quality in TemplateQuality.values and quality != template.quality:
        old = template.quality
        template.quality = quality
        template.meta_synced_at = now
        template.save(update_fields=["quality", "meta_synced_at", "updated_at"])
        status_event_record(
            template, kind=TemplateStatusEvent.Kind.QUALITY, source=source, old=old, new=quality,
            reason=reason, actor=actor, revision=template.approved_revision, webhook_event_id=webhook_event_id,
        )
        changed = True
        if quality == TemplateQuality.RED:
            hold_add(
                template, HoldReason.QUALITY_RED,
                f"Meta rated the template's quality RED (was {old}): customers are blocking or reporting it.",
                source=source, actor=actor, webhook_event_id=webhook_event_id,
            )
    if category and category in TemplateCategory.values and category != template.category:
        old = template.category
        template.category = category
        template.purpose = PURPOSE_FOR_CATEGORY[TemplateCategory(category)]
        template.save(update_fields=["category", "purpose", "updated_at"])
        if template.scheduled_category == category:  # Meta applied what it announced
            _clear_schedule(template)
        text = (
            f"Meta changed the category from {old} to {category}: the template now needs "
            f"{template.purpose} consent" + (" and an opt-out" if category == TemplateCategory.MARKETING else "")
            + ". Review it before it is used again."
        )
        status_event_record(
            template, kind=TemplateStatusEvent.Kind.CATEGORY, source=source, old=old, new=category,
            reason=text, actor=actor, revision=template.approved_revision, webhook_event_id=webhook_event_id,
        )
        hold_add(template, HoldReason.RECATEGORISED, text, source=source, actor=actor, webhook_event_id=webhook_event_id)
        changed = True
    return changed


def _webhook_actor() -> User:
    return system_user(META_WEBHOOK)


@transaction.atomic
def template_apply_status_update(value: Mapping[str, Any], *, event_id: int) -> None:
    """Webhook `message_template_status_update`: Meta's new status (and category, if sent)."""
    template = _match(value)
    if template is None:
        logger.info("Status update for an unknown template %s; ignored", value.get("message_template_name"))
        return
    apply_meta_state(
        template, status=str(value.get("event") or "").upper() or None,
        category=value.get("message_template_category") or None, quality=None,
        reason=_status_reason(value), source=Source.META_WEBHOOK, actor=_webhook_actor(), webhook_event_id=event_id,
    )


@transaction.atomic
def template_apply_quality_update(value: Mapping[str, Any], *, event_id: int) -> None:
    """Webhook `message_template_quality_update`: RED puts the template on hold."""
    template = _match(value)
    if template is None:
        logger.info("Quality update for an unknown template %s; ignored", value.get("message_template_name"))
        return
    apply_meta_state(
        template, status=None, category=None, quality=str(value.get("new_quality_score") or "").upper() or None,
        reason="", source=Source.META_WEBHOOK, actor=_webhook_actor(), webhook_event_id=event_id,
    )


@transaction.atomic
def template_apply_category_update(value: Mapping[str, Any], *, event_id: int) -> None:
    """Webhook `template_category_update`. A change (`new_category`, no `correct_category`):
    the new category changes the consent the template needs, so the template is held until staff
    review it. An advance notice (`correct_category`, `category_update_timestamp`; Meta also
    repeats the current category as `new_category`): scheduled on the template, a compliance
    alert raised, applied at the timestamp (`templates_apply_scheduled_categories`, beat) unless
    staff submit a corrected revision first; a notice whose time has passed is applied at once."""
    template = _match(value)
    if template is None:
        logger.info("Category update for an unknown template %s; ignored", value.get("message_template_name"))
        return
    announced = str(value.get("correct_category") or "").upper()
    if announced:
        _schedule_category(template, announced, value.get("category_update_timestamp"), event_id=event_id)
        return
    new = str(value.get("new_category") or "").upper()
    if new:
        _clear_schedule(template)
        apply_meta_state(
            template, status=None, category=new, quality=None, reason="", source=Source.META_WEBHOOK,
            actor=_webhook_actor(), webhook_event_id=event_id,
        )


def _timestamp(value: Any) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromtimestamp(int(value), tz=datetime.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _clear_schedule(template: MessageTemplate) -> None:
    if template.scheduled_category or template.scheduled_category_at:
        template.scheduled_category, template.scheduled_category_at = "", None
        template.scheduled_category_noticed_at = None
        template.save(update_fields=["scheduled_category", "scheduled_category_at", "scheduled_category_noticed_at",
                                     "updated_at"])


def _schedule_category(template: MessageTemplate, announced: str, at_value: Any, *, event_id: int) -> None:

    if announced not in TemplateCategory.values:
        logger.warning("Meta announced an unknown category %r for %s; ignored", announced, template)
        return
    if announced == template.category:
        _clear_schedule(template)
        return
    at = _timestamp(at_value)
    now = timezone.now()
    if at is not None and at <= now:  # the notice arrived late (or was replayed): the change is due
        _clear_schedule(template)
        apply_meta_state(
            template, status=None, category=announced, quality=None, reason="", source=Source.META_WEBHOOK,
            actor=_webhook_actor(), webhook_event_id=event_id,
        )
        return
    when = f"on {staff_time(at)}" if at is not None else "at a time Meta did not give"
    text = (
        f"Meta will recategorise it from {template.category} to {announced} {when}: it will then need "
        f"{PURPOSE_FOR_CATEGORY[TemplateCategory(announced)]} consent"
        + (" and an opt-out" if announced == TemplateCategory.MARKETING else "")
        + ". Hold it now, or submit a corrected revision before then."
    )
    template.scheduled_category, template.scheduled_category_at = announced, at
    template.scheduled_category_noticed_at = now
    template.attention_reason = f"{template.attention_reason}\n{text}".strip() if template.hold_reason else text
    template.attention_since = template.attention_since or now
    template.save(update_fields=["scheduled_category", "scheduled_category_at", "scheduled_category_noticed_at",
                                 "attention_reason", "attention_since", "updated_at"])
    status_event_record(
        template, kind=TemplateStatusEvent.Kind.CATEGORY, source=Source.META_WEBHOOK, old=template.category,
        new=f"{announced} (scheduled)", reason=text, actor=_webhook_actor(), revision=template.approved_revision,
        webhook_event_id=event_id,
    )
    alert_raise(
        kind="template_recategorisation", title=f"Meta will recategorise {template} as {announced} {when}",
        detail=text, dedupe_key=f"template-recategorisation:{template.pk}:{announced}", subject=template,
    )


def _corrected_after_notice(template: MessageTemplate) -> TemplateRevision | None:
    """The revision submitted to Meta after the notice, if staff corrected the template."""
    revision = template.approved_revision
    noticed = template.scheduled_category_noticed_at
    if revision is None or revision.submitted_at is None or noticed is None or revision.submitted_at <= noticed:
        return None
    return revision


def templates_apply_scheduled_categories(*, now: datetime.datetime | None = None) -> int:
    """Beat: apply each recategorisation Meta announced whose time has come (the safety net of
    Meta's own `new_category` webhook, which clears the schedule when it arrives first). A
    template corrected after the notice is left to Meta's verdict (its webhook or the template
    sync). Returns how many templates changed category."""
    now = now or timezone.now()
    actor = system_user(CELERY)
    changed = 0
    due = MessageTemplate.objects.filter(scheduled_category_at__lte=now).exclude(scheduled_category="")
    for template_id in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            template = MessageTemplate.objects.select_for_update(of=("self",)).select_related(
                "approved_revision").get(pk=template_id)
            announced = template.scheduled_category
            if not announced or template.scheduled_category_at is None or template.scheduled_category_at > now:
                continue  # Meta's webhook came first
            corrected = _corrected_after_notice(template)
            _clear_schedule(template)
            if corrected is not None:
                status_event_record(
                    template, kind=TemplateStatusEvent.Kind.CATEGORY, source=Source.SYSTEM, old=template.category,
                    new=template.category, actor=actor, revision=corrected,
                    reason=(f"Meta's announced recategorisation to {announced} is due; revision {corrected.number} "
                            f"was submitted after the notice, so Meta's review of it decides (webhook or sync)."),
                )
                continue
            changed += int(apply_meta_state(
                template, status=None, category=announced, quality=None, reason="", source=Source.SYSTEM,
                actor=actor, webhook_event_id=None,
            ))
    return changed


@dataclass
class SyncReport:
    seen: int = 0
    updated: int = 0
    unknown: int = 0


def template_sync_from_meta(*, actor: User) -> SyncReport:
    """Pull every template's status, quality and category from Meta (one list call, then one
    transaction per template). Templates Meta does not list are left as they are: a sandbox
    worker only knows its own submissions, and webhooks report deletions."""
    report = SyncReport()
    for item in get_backend().list_message_templates():
        report.seen += 1
        with transaction.atomic():
            template = _match(item)
            if template is None:
                report.unknown += 1
                continue
            quality = item.get("quality_score")
            score = quality.get("score") if isinstance(quality, Mapping) else quality
            changed = apply_meta_state(
                template, status=str(item.get("status") or "").upper() or None,
                category=str(item.get("category") or "").upper() or None,
                quality=str(score or "").upper() or None,
                reason=str(item.get("rejected_reason") or "").replace("NONE", ""),
                source=Source.META_SYNC, actor=actor, webhook_event_id=None,
            )
            MessageTemplate.objects.filter(pk=template.pk).update(meta_synced_at=timezone.now())
            report.updated += int(changed)
    return report
