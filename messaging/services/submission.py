"""Submitting an approved revision to Meta (reconciled first: a submission that may have reached
Meta is never repeated)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from messaging.models import (
    MessageTemplate,
    MetaTemplateStatus,
    RevisionStatus,
    TemplateRevision,
)
from messaging.selectors import revision_content
from messaging.services.common import (
    PERM_SUBMIT,
    Source,
    attention_needed,
    current_revision_in,
    require_lint_clean,
    revision_set_status,
    template_locked,
)
from messaging.services.meta_updates import apply_meta_state, normalise_language
from messaging.template_format import meta_components
from pandorakart_wa.core.audit import User
from pandorakart_wa.core.roles import authorise
from pandorakart_wa.whatsapp import get_backend
from pandorakart_wa.whatsapp.errors import DeliveryUnknown, PermanentError


def _find_at_meta(template: MessageTemplate) -> dict[str, Any] | None:
    for item in get_backend().list_message_templates(name=template.name):
        if normalise_language(item.get("language")) == template.language:
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
    template = template_locked(template)
    revision = current_revision_in(template, RevisionStatus.APPROVED)
    if revision.reviewed_by_id is None:
        raise ValidationError(f"{template}: revision {revision.number} has not been approved by a reviewer.")
    require_lint_clean(revision)
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
        revision_set_status(template, revision, RevisionStatus.REJECTED, actor=actor, reason=reason)
        if not template.meta_template_id:
            template.meta_status = MetaTemplateStatus.REJECTED
            template.meta_reason = str(exc)[:255]
            template.save(update_fields=["meta_status", "meta_reason", "updated_at"])
        attention_needed(template, reason)
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
    revision_set_status(template, revision, RevisionStatus.SUBMITTED, actor=actor, reason=f"Meta template {meta_id}")
    apply_meta_state(
        template, status=status, category=category, quality=None, reason="", source=Source.GATEWAY,
        actor=actor, webhook_event_id=None,
    )
    return revision
