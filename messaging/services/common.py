"""Shared by the template services: the errors, the template's lock, its status events, holds, lint
and revision states."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Max
from django.utils import timezone

from messaging.held import messages_hold_for_template
from messaging.lint import Finding, Severity, lint_template
from messaging.models import (
    HoldReason,
    MessageTemplate,
    MetaTemplateStatus,
    TemplateRevision,
    TemplateStatusEvent,
)
from messaging.selectors import lint_vocabulary, revision_content
from pandorakart_wa.core.audit import User, is_system

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


def source_of(actor: User) -> str:
    return Source.SYSTEM if is_system(actor) else Source.STAFF


def status_event_record(
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


def revision_lint(revision: TemplateRevision, *, category: str | None = None) -> list[Finding]:
    """Lint `revision` with the current term lists and store the result on it."""
    findings = lint_template(revision_content(revision, category=category), lint_vocabulary())
    revision.lint_findings = [f.as_dict() for f in findings]
    revision.lint_error_count = sum(1 for f in findings if f.severity == Severity.ERROR)
    revision.linted_at = timezone.now()
    revision.save(update_fields=["lint_findings", "lint_error_count", "linted_at"])
    return findings


def require_lint_clean(revision: TemplateRevision) -> None:
    findings = revision_lint(revision)
    if any(f.severity == Severity.ERROR for f in findings):
        raise TemplateLintFailed(findings)


def template_locked(template: MessageTemplate) -> MessageTemplate:
    return MessageTemplate.objects.select_for_update(of=("self",)).select_related("current_revision").get(pk=template.pk)


def current_revision_in(template: MessageTemplate, *expected: str) -> TemplateRevision:
    revision = template.current_revision
    if revision is None or revision.status not in expected:
        state = revision.get_status_display() if revision else "no revision"
        raise ValidationError(f"{template}: the current revision is {state}, not {' or '.join(expected)}.")
    return revision


def revision_set_status(
    template: MessageTemplate, revision: TemplateRevision, status: str, *, actor: User, reason: str = ""
) -> None:
    old = revision.status
    revision.status = status
    revision.save(update_fields=["status"])
    template.status = status
    template.save(update_fields=["status", "updated_at"])
    status_event_record(
        template, kind=TemplateStatusEvent.Kind.WORKFLOW, source=source_of(actor), old=old, new=status,
        reason=reason, actor=actor, revision=revision,
    )


def revision_new(template: MessageTemplate, fields: TemplateFields, *, author: User, category: str) -> TemplateRevision:
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
    revision_lint(revision)
    return revision


def template_hold_queued_messages(*, template_id: int) -> int:
    """Hold the messages already queued for a template that just became unusable: they stay
    queued (nothing is dropped) with `reason` "template_held" and are not claimed until the
    hold is released or re-checked (the send-time gate holds any it meets as well).

    Called inside the transaction that puts the template on hold. Returns how many were held.
    """
    return messages_hold_for_template(template_id=template_id)


def hold_add(
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
    status_event_record(
        template, kind=TemplateStatusEvent.Kind.HOLD, source=source, old=old, new=reason, reason=text,
        actor=actor, revision=template.approved_revision, webhook_event_id=webhook_event_id,
    )
    held = template_hold_queued_messages(template_id=template.pk)
    logger.warning("Template %s held (%s): %s; %d queued messages held", template, reason, text, held)


def attention_needed(template: MessageTemplate, text: str) -> None:
    template.attention_reason = text
    template.attention_since = timezone.now()
    template.save(update_fields=["attention_reason", "attention_since", "updated_at"])
