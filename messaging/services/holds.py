"""Holds (staff, complaints, quality, recategorisation) and the lint's term lists."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from messaging.held import messages_release_for_template
from messaging.lint import Finding, Severity
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
from messaging.services.common import (
    PERM_APPROVE,
    Source,
    TemplateLintFailed,
    hold_add,
    revision_lint,
    source_of,
    status_event_record,
    template_locked,
)
from pandorakart_wa.core.audit import User
from pandorakart_wa.core.roles import authorise


def template_lock(*, template_id: int) -> MessageTemplate:
    """The template, its row locked until the caller's transaction ends (call it inside one; it
    opens none): who decides whether to hold a template serialises on this lock first."""
    return MessageTemplate.objects.select_for_update().get(pk=template_id)


@transaction.atomic
def template_hold(*, template: MessageTemplate, reason: HoldReason, note: str, actor: User) -> MessageTemplate:
    """Hold a template from outside Meta's verdicts (a complaint outcome, a block/report signal
    investigation): unusable at once and its queued messages held, until a compliance officer
    releases it (`template_release_hold`). Holding a held template adds `note` for staff."""
    authorise(actor, PERM_APPROVE, "hold templates")
    if not note.strip():
        raise ValidationError({"note": "Say why the template is held."})
    template = template_locked(template)
    hold_add(template, reason, note.strip(), source=source_of(actor), actor=actor, webhook_event_id=None)
    return template


@transaction.atomic
def template_release_hold(*, template: MessageTemplate, actor: User, note: str) -> MessageTemplate:
    """A compliance officer puts a held template back in use, once Meta approves it again, its
    quality is not RED and the revision in use passes lint under the template's current category
    (a recategorised UTILITY template needs an opt-out before it can go out as MARKETING)."""
    authorise(actor, PERM_APPROVE, "release held templates")
    if not note.strip():
        raise ValidationError({"note": "Say what was checked before releasing the template."})
    template = template_locked(template)
    if not template.hold_reason:
        raise ValidationError(f"{template} is not held.")
    if template.meta_status != MetaTemplateStatus.APPROVED:
        raise ValidationError(f"Meta's status is {template.meta_status}: only an APPROVED template can be released.")
    if template.quality == TemplateQuality.RED:
        raise ValidationError("The quality is still RED.")
    revision = template.approved_revision
    if revision is None:
        raise ValidationError(f"{template} has no revision in use.")
    if any(f.severity == Severity.ERROR for f in revision_lint(revision, category=template.category)):
        raise TemplateLintFailed([Finding(**f) for f in revision.lint_findings])
    old = template.hold_reason
    template.hold_reason = HoldReason.NONE
    template.attention_reason = ""
    template.attention_since = None
    template.save(update_fields=["hold_reason", "attention_reason", "attention_since", "updated_at"])
    messages_release_for_template(template_id=template.pk)
    status_event_record(
        template, kind=TemplateStatusEvent.Kind.RELEASE, source=source_of(actor), old=old, new="",
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
        findings = revision_lint(revision, category=revision.template.category)
        after = sum(1 for f in findings if f.severity == Severity.ERROR)
        if bool(before) != bool(after):
            changed += 1
            status_event_record(
                revision.template, kind=TemplateStatusEvent.Kind.LINT, source=Source.SYSTEM, old=str(before),
                new=str(after), reason="Lint re-run after the term lists changed", revision=revision,
            )
    return changed
