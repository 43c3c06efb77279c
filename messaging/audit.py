"""django-auditlog registrations of the messaging app (field history of staff edits; the
template's own legal record is TemplateStatusEvent)."""

from __future__ import annotations

from auditlog.registry import auditlog

from messaging.models import Campaign, LintTerm, MessageRate, MessageTemplate, SendingPolicy, TemplateRevision

auditlog.register(MessageTemplate, exclude_fields=["updated_at", "meta_synced_at"])
auditlog.register(TemplateRevision, exclude_fields=["lint_findings", "linted_at"])
auditlog.register(LintTerm)

# Sending: staff-changed rows only. Messages and their events are written in bulk by workers and
# webhooks (auditlog cannot see bulk writes): their legal record is MessageEvent.
auditlog.register(Campaign, exclude_fields=["queued_count", "skipped", "audience_size"])
auditlog.register(SendingPolicy, exclude_fields=["updated_at"])
auditlog.register(MessageRate, exclude_fields=["updated_at"])  # who changed a rate, from what
