"""django-auditlog registrations of the messaging app (field history of staff edits; the
template's own legal record is TemplateStatusEvent)."""

from __future__ import annotations

from auditlog.registry import auditlog

from messaging.models import LintTerm, MessageTemplate, TemplateRevision

auditlog.register(MessageTemplate, exclude_fields=["updated_at", "meta_synced_at"])
auditlog.register(TemplateRevision, exclude_fields=["lint_findings", "linted_at"])
auditlog.register(LintTerm)
