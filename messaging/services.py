"""Writes of the messaging app. Templates part: governance from draft to Meta approval.

Workflow of a revision (four eyes):  draft -> in_review -> approved -> submitted
                                               \\-> rejected
Every edit is a new revision (revisions are immutable content), so "who wrote this text" is one
person and can never be the one who approves it. Editing a template that is in use leaves the
revision in use (`approved_revision`) sending until the new revision is approved internally AND
submitted to Meta: Meta replaces the components as a whole on an edit and reviews them again, so
from that submission on, sends wait for Meta's new APPROVED.

Meta's pause, disable, flag, RED quality or a category change put the template on hold at once
(`hold_reason`, shown to staff with `attention_reason`) and call `template_hold_queued_messages`;
only a compliance officer releases a hold (`template_release_hold`), after Meta's status is
APPROVED again, so a template customers blocked or reported is looked at before it sends again.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from consent.purposes import PURPOSE_FOR_CATEGORY, TemplateCategory
from messaging.lint import Finding, Severity, lint_template
from messaging.models import (
    HoldReason,
    LintTerm,
    MessageTemplate,
    MetaTemplateStatus,
    RevisionStatus,
    TemplateQuality,
    TemplateRevision,
    TemplateStatusEvent,
)
from messaging.selectors import lint_vocabulary, revision_content
from messaging.template_format import meta_components
from pandorakart_wa.core.audit import CELERY, META_WEBHOOK, User, is_system, system_user
from pandorakart_wa.core.roles import authorise
from pandorakart_wa.core.timefmt import staff_time
from pandorakart_wa.whatsapp import get_backend
from pandorakart_wa.whatsapp.errors import DeliveryUnknown, PermanentError
from profile.services.alerts import alert_raise

logger = logging.getLogger(__name__)

Source = TemplateStatusEvent.Source

PERM_ADD = "messaging.add_messagetemplate"
PERM_CHANGE = "messaging.change_messagetemplate"
PERM_APPROVE = "messaging.approve_template"
PERM_SUBMIT = "messaging.submit_template_to_meta"

HOLD_FOR_META_STATUS: dict[str, HoldReason] = {
    MetaTemplateStatus.PAUSED: HoldReason.PAUSED,
    MetaTemplateStatus.DISABLED: HoldReason.DISABLED,
    MetaTemplateStatus.FLAGGED: HoldReason.FLAGGED,
}
# Statuses staff must see even though nothing is held (the template is unusable anyway).
ATTENTION_META_STATUSES = frozenset(
    {
        MetaTemplateStatus.REJECTED,
        MetaTemplateStatus.PENDING_DELETION,
        MetaTemplateStatus.DELETED,
        MetaTemplateStatus.ARCHIVED,
        MetaTemplateStatus.LIMIT_EXCEEDED,
        MetaTemplateStatus.LOCKED,
    }
)


class TemplateLintFailed(ValidationError):
    """The revision has lint errors: it cannot be reviewed, approved or submitted."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        errors = [f for f in findings if f.severity == Severity.ERROR]
        super().__init__([f"{f.component}: {f.message} [{f.rule}]" for f in errors])


class FourEyesViolation(PermissionDenied):
    """The author of a revision tried to approve it."""


@dataclass(frozen=True)
class TemplateFields:
    """The editable content of a template, as a form or a seed gives it."""

    body: str
    header_text: str = ""
    footer: str = ""
    buttons: Sequence[Mapping[str, Any]] = ()
    header_examples: Sequence[str] = ()
    body_examples: Sequence[str] = ()


# --- helpers -------------------------------------------------------------------------------


def _source(actor: User) -> str:
    return Source.SYSTEM if is_system(actor) else Source.STAFF


def _record(
    template: MessageTemplate,
    *,
    kind: str,
    source: str,
    old: str = "",
    new: str = "",
    reason: str = "",
    actor: User | None = None,
    revision: TemplateRevision | None = None,
    webhook_event_id: int | None = None,
) -> TemplateStatusEvent:
    return TemplateStatusEvent.objects.create(
        template=template,
        revision=revision,
        kind=kind,
        source=source,
        old_value=str(old)[:32],
        new_value=str(new)[:32],
        reason=reason,
        actor_id=actor.pk if actor is not None else None,
        webhook_event_id=webhook_event_id,
    )


def _lint(revision: TemplateRevision, *, category: str | None = None) -> list[Finding]:
    """Lint `revision` with the current term lists and store the result on it."""
    findings = lint_template(revision_content(revision, category=category), lint_vocabulary())
    revision.lint_findings = [f.as_dict() for f in findings]
    revision.lint_error_count = sum(1 for f in findings if f.severity == Severity.ERROR)
    revision.linted_at = timezone.now()
    revision.save(update_fields=["lint_findings", "lint_error_count", "linted_at"])
    return findings


def _require_lint_clean(revision: TemplateRevision) -> None:
    findings = _lint(revision)
    if any(f.severity == Severity.ERROR for f in findings):
        raise TemplateLintFailed(findings)


def _locked(template: MessageTemplate) -> MessageTemplate:
    return MessageTemplate.objects.select_for_update(of=("self",)).select_related("current_revision").get(pk=template.pk)


def _current(template: MessageTemplate, *expected: str) -> TemplateRevision:
    revision = template.current_revision
    if revision is None or revision.status not in expected:
        state = revision.get_status_display() if revision else "no revision"
        raise ValidationError(f"{template}: the current revision is {state}, not {' or '.join(expected)}.")
    return revision


def _set_status(template: MessageTemplate, revision: TemplateRevision, status: str, *, actor: User, reason: str = "") -> None:
    old = revision.status
    revision.status = status
    revision.save(update_fields=["status"])
    template.status = status
    template.save(update_fields=["status", "updated_at"])
    _record(
        template, kind=TemplateStatusEvent.Kind.WORKFLOW, source=_source(actor), old=old, new=status,
        reason=reason, actor=actor, revision=revision,
    )


def _new_revision(template: MessageTemplate, fields: TemplateFields, *, author: User, category: str) -> TemplateRevision:
    number = (template.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
    revision = TemplateRevision.objects.create(
        template=template,
        number=number,
        category=category,
        header_text=fields.header_text or "",
        body=fields.body or "",
        footer=fields.footer or "",
        buttons=[dict(b) for b in fields.buttons],
        header_examples=[str(e) for e in fields.header_examples],
        body_examples=[str(e) for e in fields.body_examples],
        author_id=author.pk,
    )
    _lint(revision)
    return revision


def template_hold_queued_messages(*, template_id: int) -> int:
    """Hold the messages already queued for a template that just became unusable: they stay
    queued (nothing is dropped) with `reason` "template_held" and are not claimed until the
    hold is released or re-checked (the send-time gate holds any it meets as well).

    Called inside the transaction that puts the template on hold. Returns how many were held.
    """
    from messaging.sending import messages_hold_for_template

    return messages_hold_for_template(template_id=template_id)


def _hold(
    template: MessageTemplate,
    reason: HoldReason,
    text: str,
    *,
    source: str,
    actor: User | None,
    webhook_event_id: int | None,
) -> None:
    old = template.hold_reason
    if old:  # already held: keep the first reason, add this one for staff to read
        template.attention_reason = f"{template.attention_reason}\n{text}".strip()
    else:
        template.hold_reason = reason
        template.attention_reason = text
        template.attention_since = timezone.now()
    template.save(update_fields=["hold_reason", "attention_reason", "attention_since", "updated_at"])
    _record(
        template, kind=TemplateStatusEvent.Kind.HOLD, source=source, old=old, new=reason, reason=text,
        actor=actor, revision=template.approved_revision, webhook_event_id=webhook_event_id,
    )
    held = template_hold_queued_messages(template_id=template.pk)
    logger.warning("Template %s held (%s): %s; %d queued messages held", template, reason, text, held)


def _attention(template: MessageTemplate, text: str) -> None:
    template.attention_reason = text
    template.attention_since = timezone.now()
    template.save(update_fields=["attention_reason", "attention_since", "updated_at"])


# --- drafting and review -------------------------------------------------------------------


@transaction.atomic
def template_create_draft(
    *, name: str, language: str, category: str, fields: TemplateFields, author: User
) -> MessageTemplate:
    """A new template with its first revision, in draft (Marketing or Compliance)."""
    authorise(author, PERM_ADD, "create templates")
    if category not in TemplateCategory.values:
        raise ValidationError({"category": f"Unknown category {category!r}."})
    if MessageTemplate.objects.filter(name=name, language=language).exists():
        raise ValidationError({"name": f"A template {name} ({language}) already exists: revise it instead."})
    template = MessageTemplate.objects.create(
        name=name, language=language, category=category, purpose=PURPOSE_FOR_CATEGORY[TemplateCategory(category)]
    )
    revision = _new_revision(template, fields, author=author, category=category)
    template.current_revision = revision
    template.save(update_fields=["current_revision", "updated_at"])
    _record(
        template, kind=TemplateStatusEvent.Kind.WORKFLOW, source=_source(author), new=RevisionStatus.DRAFT,
        reason="Created", actor=author, revision=revision,
    )
    return template


@transaction.atomic
def template_revise(
    *, template: MessageTemplate, fields: TemplateFields, author: User, category: str | None = None
) -> TemplateRevision:
    """A new revision (draft) of `template`. The revision in use, if any, keeps sending until the
    new one is approved and submitted; any other unfinished revision is superseded.

    The category can change only before Meta has seen the template (Meta refuses to change the
    category of an approved template).
    """
    authorise(author, PERM_CHANGE, "edit templates")
    template = _locked(template)
    new_category = category or template.category
    if new_category not in TemplateCategory.values:
        raise ValidationError({"category": f"Unknown category {new_category!r}."})
    if new_category != template.category:
        if template.meta_template_id:
            raise ValidationError({"category": "Meta does not allow changing the category of a submitted template."})
        template.category = new_category
        template.purpose = PURPOSE_FOR_CATEGORY[TemplateCategory(new_category)]
        template.save(update_fields=["category", "purpose", "updated_at"])
    previous = template.current_revision
    previous_status = previous.status if previous is not None else ""
    if previous is not None and previous.pk != template.approved_revision_id and previous.status != RevisionStatus.SUBMITTED:
        previous.status = RevisionStatus.SUPERSEDED
        previous.save(update_fields=["status"])
    revision = _new_revision(template, fields, author=author, category=new_category)
    template.current_revision = revision
    template.status = RevisionStatus.DRAFT
    template.save(update_fields=["current_revision", "status", "updated_at"])
    _record(
        template, kind=TemplateStatusEvent.Kind.WORKFLOW, source=_source(author),
        old=previous_status, new=RevisionStatus.DRAFT,
        reason=f"Revision {revision.number} written" + (" (needs review again)" if template.approved_revision_id else ""),
        actor=author, revision=revision,
    )
    return revision


@transaction.atomic
def template_submit_for_review(*, template: MessageTemplate, actor: User) -> TemplateRevision:
    """Send the current draft to the compliance officers; refused while lint finds errors."""
    authorise(actor, PERM_CHANGE, "submit templates for review")
    template = _locked(template)
    revision = _current(template, RevisionStatus.DRAFT)
    _require_lint_clean(revision)
    _set_status(template, revision, RevisionStatus.IN_REVIEW, actor=actor)
    return revision


@transaction.atomic
def template_approve(*, template: MessageTemplate, actor: User, note: str = "") -> TemplateRevision:
    """A compliance officer approves the revision in review. Never its own author (four eyes)."""
    authorise(actor, PERM_APPROVE, "approve templates")
    template = _locked(template)
    revision = _current(template, RevisionStatus.IN_REVIEW)
    if revision.author_id == actor.pk:
        raise FourEyesViolation("The author of a revision cannot approve it: another compliance officer must.")
    _require_lint_clean(revision)
    revision.reviewed_by_id = actor.pk
    revision.reviewed_at = timezone.now()
    revision.review_note = note
    revision.save(update_fields=["reviewed_by", "reviewed_at", "review_note"])
    _set_status(template, revision, RevisionStatus.APPROVED, actor=actor, reason=note)
    return revision


@transaction.atomic
def template_reject(*, template: MessageTemplate, actor: User, reason: str) -> TemplateRevision:
    """A compliance officer sends the revision in review back, saying why."""
    authorise(actor, PERM_APPROVE, "reject templates")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the revision is rejected."})
    template = _locked(template)
    revision = _current(template, RevisionStatus.IN_REVIEW)
    revision.reviewed_by_id = None if revision.author_id == actor.pk else actor.pk
    revision.reviewed_at = timezone.now()
    revision.review_note = reason
    revision.save(update_fields=["reviewed_by", "reviewed_at", "review_note"])
    _set_status(template, revision, RevisionStatus.REJECTED, actor=actor, reason=reason)
    return revision


# --- Meta ----------------------------------------------------------------------------------


def _find_at_meta(template: MessageTemplate) -> dict[str, Any] | None:
    for item in get_backend().list_message_templates(name=template.name):
        if _normalise_language(item.get("language")) == template.language:
            return item
    return None


def _component_projection(components: Any) -> list[tuple[Any, ...]]:
    """What of a template's components says whether Meta holds our content: per component its
    type (upper-cased), format and text, and its buttons as (type, text, url, phone_number).
    Keys Meta adds or reshapes (`example`, ...) are left out, so Meta's copy of what we sent
    and what we would send compare equal."""
    projection: list[tuple[Any, ...]] = []
    for component in components if isinstance(components, list) else ():
        if not isinstance(component, Mapping):
            continue
        buttons = component.get("buttons")
        projection.append((
            str(component.get("type") or "").upper(),
            component.get("format"),
            component.get("text"),
            tuple(
                (str(b.get("type") or "").upper(), b.get("text"), b.get("url"), b.get("phone_number"))
                for b in (buttons if isinstance(buttons, list) else ())
                if isinstance(b, Mapping)
            ),
        ))
    return projection


@transaction.atomic
def template_submit_to_meta(*, template: MessageTemplate, actor: User, reconcile: bool = False) -> TemplateRevision:
    """Submit the internally approved, lint-clean current revision (POST /{waba-id}/message_templates).

    On success the revision becomes the one in use and Meta's answer (PENDING, or APPROVED at
    once in the sandbox) is recorded. A PermanentError rejects the revision with Meta's reason;
    TransientError and DeliveryUnknown propagate with nothing written: the caller retries later
    with `reconcile=True`, which first looks for a template Meta may have created from a lost answer,
    or, for a template Meta holds, checks whether Meta already holds this edit (then it is not sent again).
    The row stays locked during the call, so two clicks cannot submit twice.
    """
    authorise(actor, PERM_SUBMIT, "submit templates to Meta")
    template = _locked(template)
    revision = _current(template, RevisionStatus.APPROVED)
    if revision.reviewed_by_id is None:
        raise ValidationError(f"{template}: revision {revision.number} has not been approved by a reviewer.")
    _require_lint_clean(revision)
    content = revision_content(revision)
    backend = get_backend()
    # Editing a template Meta holds is POST /{template-id} (the cloud gateway's
    # edit_message_template); backends without it (sandbox, locmem) re-submit through create.
    edit = getattr(backend, "edit_message_template", None)
    components = meta_components(content)
    existing: dict[str, Any] | None = None
    if reconcile and not template.meta_template_id:
        existing = _find_at_meta(template)
    elif reconcile and edit is not None:
        # An earlier edit whose answer was lost may have been applied: Meta then holds it (in
        # review, PENDING, which Meta refuses to edit), so editing again would wrongly fail.
        held = _find_at_meta(template)
        if (held is not None and str(held.get("id")) == template.meta_template_id
                and _component_projection(held.get("components")) == _component_projection(components)):
            existing = held
    try:
        if existing is not None:
            meta_id, status, category = str(existing.get("id")), str(existing.get("status")), str(existing.get("category"))
        elif template.meta_template_id and edit is not None:
            edit(template_id=template.meta_template_id, components=components)
            meta_id, status, category = template.meta_template_id, MetaTemplateStatus.PENDING, template.category
        else:
            submission = backend.create_message_template(
                name=template.name, language=template.language, category=template.category,
                components=components,
            )
            meta_id, status, category = submission.id, submission.status, submission.category
    except DeliveryUnknown:
        raise
    except PermanentError as exc:
        reason = f"Meta refused the submission: {exc}"
        revision.review_note = (revision.review_note + "\n" if revision.review_note else "") + reason
        revision.save(update_fields=["review_note"])
        _set_status(template, revision, RevisionStatus.REJECTED, actor=actor, reason=reason)
        if not template.meta_template_id:
            template.meta_status = MetaTemplateStatus.REJECTED
            template.meta_reason = str(exc)[:255]
            template.save(update_fields=["meta_status", "meta_reason", "updated_at"])
        _attention(template, reason)
        return revision
    previous = template.approved_revision
    if previous is not None and previous.pk != revision.pk:
        previous.status = RevisionStatus.SUPERSEDED
        previous.save(update_fields=["status"])
    revision.submitted_at = timezone.now()
    revision.save(update_fields=["submitted_at"])
    template.approved_revision = revision
    template.meta_template_id = meta_id
    template.save(update_fields=["approved_revision", "meta_template_id", "updated_at"])
    _set_status(template, revision, RevisionStatus.SUBMITTED, actor=actor, reason=f"Meta template {meta_id}")
    _apply_meta_state(
        template, status=status, category=category, quality=None, reason="", source=Source.GATEWAY,
        actor=actor, webhook_event_id=None,
    )
    return revision


def _normalise_language(value: Any) -> str:
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
    language = _normalise_language(language)
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


def _apply_meta_state(
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
        _record(
            template, kind=TemplateStatusEvent.Kind.META_STATUS, source=source, old=old, new=status,
            reason=reason, actor=actor, revision=template.approved_revision, webhook_event_id=webhook_event_id,
        )
        changed = True
        label = MetaTemplateStatus(status).label
        if status in HOLD_FOR_META_STATUS:
            _hold(
                template, HOLD_FOR_META_STATUS[status], f"Meta: {label}" + (f" ({reason})" if reason else ""),
                source=source, actor=actor, webhook_event_id=webhook_event_id,
            )
        elif status in ATTENTION_META_STATUSES:
            _attention(template, f"Meta: {label}" + (f" ({reason})" if reason else ""))
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
        _record(
            template, kind=TemplateStatusEvent.Kind.QUALITY, source=source, old=old, new=quality,
            reason=reason, actor=actor, revision=template.approved_revision, webhook_event_id=webhook_event_id,
        )
        changed = True
        if quality == TemplateQuality.RED:
            _hold(
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
        _record(
            template, kind=TemplateStatusEvent.Kind.CATEGORY, source=source, old=old, new=category,
            reason=text, actor=actor, revision=template.approved_revision, webhook_event_id=webhook_event_id,
        )
        _hold(template, HoldReason.RECATEGORISED, text, source=source, actor=actor, webhook_event_id=webhook_event_id)
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
    _apply_meta_state(
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
    _apply_meta_state(
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
        _apply_meta_state(
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
        _apply_meta_state(
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
    _record(
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
                _record(
                    template, kind=TemplateStatusEvent.Kind.CATEGORY, source=Source.SYSTEM, old=template.category,
                    new=template.category, actor=actor, revision=corrected,
                    reason=(f"Meta's announced recategorisation to {announced} is due; revision {corrected.number} "
                            f"was submitted after the notice, so Meta's review of it decides (webhook or sync)."),
                )
                continue
            changed += int(_apply_meta_state(
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
            changed = _apply_meta_state(
                template, status=str(item.get("status") or "").upper() or None,
                category=str(item.get("category") or "").upper() or None,
                quality=str(score or "").upper() or None,
                reason=str(item.get("rejected_reason") or "").replace("NONE", ""),
                source=Source.META_SYNC, actor=actor, webhook_event_id=None,
            )
            MessageTemplate.objects.filter(pk=template.pk).update(meta_synced_at=timezone.now())
            report.updated += int(changed)
    return report


# --- holds and term lists ------------------------------------------------------------------


@transaction.atomic
def template_hold(*, template: MessageTemplate, reason: HoldReason, note: str, actor: User) -> MessageTemplate:
    """Hold a template from outside Meta's verdicts (a complaint outcome, a block/report signal
    investigation): unusable at once and its queued messages held, until a compliance officer
    releases it (`template_release_hold`). Holding a held template adds `note` for staff."""
    authorise(actor, PERM_APPROVE, "hold templates")
    if not note.strip():
        raise ValidationError({"note": "Say why the template is held."})
    template = _locked(template)
    _hold(template, reason, note.strip(), source=_source(actor), actor=actor, webhook_event_id=None)
    return template


@transaction.atomic
def template_release_hold(*, template: MessageTemplate, actor: User, note: str) -> MessageTemplate:
    """A compliance officer puts a held template back in use, once Meta approves it again, its
    quality is not RED and the revision in use passes lint under the template's current category
    (a recategorised UTILITY template needs an opt-out before it can go out as MARKETING)."""
    authorise(actor, PERM_APPROVE, "release held templates")
    if not note.strip():
        raise ValidationError({"note": "Say what was checked before releasing the template."})
    template = _locked(template)
    if not template.hold_reason:
        raise ValidationError(f"{template} is not held.")
    if template.meta_status != MetaTemplateStatus.APPROVED:
        raise ValidationError(f"Meta's status is {template.meta_status}: only an APPROVED template can be released.")
    if template.quality == TemplateQuality.RED:
        raise ValidationError("The quality is still RED.")
    revision = template.approved_revision
    if revision is None:
        raise ValidationError(f"{template} has no revision in use.")
    if any(f.severity == Severity.ERROR for f in _lint(revision, category=template.category)):
        raise TemplateLintFailed([Finding(**f) for f in revision.lint_findings])  # type: ignore[arg-type]
    old = template.hold_reason
    template.hold_reason = HoldReason.NONE
    template.attention_reason = ""
    template.attention_since = None
    template.save(update_fields=["hold_reason", "attention_reason", "attention_since", "updated_at"])
    from messaging.sending import messages_release_for_template

    messages_release_for_template(template_id=template.pk)
    _record(
        template, kind=TemplateStatusEvent.Kind.RELEASE, source=_source(actor), old=old, new="",
        reason=note, actor=actor, revision=revision,
    )
    return template


@transaction.atomic
def lint_term_save(*, term: LintTerm, actor: User) -> LintTerm:
    """Save a staff-edited term, then re-lint every revision in use or in the workflow, so a
    newly listed abusive word stops the templates that contain it at once."""
    authorise(actor, "messaging.change_lintterm", "edit lint terms")
    term.term = term.term.strip()
    term.save()
    templates_relint()
    return term


def templates_relint() -> int:
    """Re-lint the current and in-use revision of every template. Returns how many changed verdict."""
    changed = 0
    live = (RevisionStatus.DRAFT, RevisionStatus.IN_REVIEW, RevisionStatus.APPROVED, RevisionStatus.SUBMITTED)
    for revision in TemplateRevision.objects.filter(status__in=live).select_related("template"):
        before = revision.lint_error_count
        findings = _lint(revision, category=revision.template.category)
        after = sum(1 for f in findings if f.severity == Severity.ERROR)
        if bool(before) != bool(after):
            changed += 1
            _record(
                revision.template, kind=TemplateStatusEvent.Kind.LINT, source=Source.SYSTEM, old=str(before),
                new=str(after), reason="Lint re-run after the term lists changed", revision=revision,
            )
    return changed
