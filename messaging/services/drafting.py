"""Drafting and review: revisions written, linted and approved by a second person (four eyes)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from consent.purposes import PURPOSE_FOR_CATEGORY, TemplateCategory
from messaging.models import (
    MessageTemplate,
    RevisionStatus,
    TemplateRevision,
    TemplateStatusEvent,
)
from messaging.services.common import (
    PERM_ADD,
    PERM_APPROVE,
    PERM_CHANGE,
    FourEyesViolation,
    TemplateFields,
    current_revision_in,
    require_lint_clean,
    revision_new,
    revision_set_status,
    source_of,
    status_event_record,
    template_locked,
)
from pandorakart_wa.core.audit import User
from pandorakart_wa.core.roles import authorise


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
    revision = revision_new(template, fields, author=author, category=category)
    template.current_revision = revision
    template.save(update_fields=["current_revision", "updated_at"])
    status_event_record(
        template, kind=TemplateStatusEvent.Kind.WORKFLOW, source=source_of(author), new=RevisionStatus.DRAFT,
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
    template = template_locked(template)
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
    revision = revision_new(template, fields, author=author, category=new_category)
    template.current_revision = revision
    template.status = RevisionStatus.DRAFT
    template.save(update_fields=["current_revision", "status", "updated_at"])
    status_event_record(
        template, kind=TemplateStatusEvent.Kind.WORKFLOW, source=source_of(author),
        old=previous_status, new=RevisionStatus.DRAFT,
        reason=f"Revision {revision.number} written" + (" (needs review again)" if template.approved_revision_id else ""),
        actor=author, revision=revision,
    )
    return revision


@transaction.atomic
def template_submit_for_review(*, template: MessageTemplate, actor: User) -> TemplateRevision:
    """Send the current draft to the compliance officers; refused while lint finds errors."""
    authorise(actor, PERM_CHANGE, "submit templates for review")
    template = template_locked(template)
    revision = current_revision_in(template, RevisionStatus.DRAFT)
    require_lint_clean(revision)
    revision_set_status(template, revision, RevisionStatus.IN_REVIEW, actor=actor)
    return revision


@transaction.atomic
def template_approve(*, template: MessageTemplate, actor: User, note: str = "") -> TemplateRevision:
    """A compliance officer approves the revision in review. Never its own author (four eyes)."""
    authorise(actor, PERM_APPROVE, "approve templates")
    template = template_locked(template)
    revision = current_revision_in(template, RevisionStatus.IN_REVIEW)
    if revision.author_id == actor.pk:
        raise FourEyesViolation("The author of a revision cannot approve it: another compliance officer must.")
    require_lint_clean(revision)
    revision.reviewed_by_id = actor.pk
    revision.reviewed_at = timezone.now()
    revision.review_note = note
    revision.save(update_fields=["reviewed_by", "reviewed_at", "review_note"])
    revision_set_status(template, revision, RevisionStatus.APPROVED, actor=actor, reason=note)
    return revision


@transaction.atomic
def template_reject(*, template: MessageTemplate, actor: User, reason: str) -> TemplateRevision:
    """A compliance officer sends the revision in review back, saying why."""
    authorise(actor, PERM_APPROVE, "reject templates")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the revision is rejected."})
    template = template_locked(template)
    revision = current_revision_in(template, RevisionStatus.IN_REVIEW)
    revision.reviewed_by_id = None if revision.author_id == actor.pk else actor.pk
    revision.reviewed_at = timezone.now()
    revision.review_note = reason
    revision.save(update_fields=["reviewed_by", "reviewed_at", "review_note"])
    revision_set_status(template, revision, RevisionStatus.REJECTED, actor=actor, reason=reason)
    return revision
