"""`python manage.py sync_message_templates`: submit the internally approved templates Meta has
not seen, then pull Meta's status, quality and category for every template (API.md, Operations)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from messaging.selectors import templates_to_submit
from messaging.services.meta_updates import template_sync_from_meta
from messaging.services.submission import template_submit_to_meta
from messaging.tasks import template_submit_later
from pandorakart_wa.core.audit import COMMAND, acting_as, system_user
from pandorakart_wa.whatsapp.errors import DeliveryUnknown, TransientError, WhatsAppError


class Command(BaseCommand):
    help = "Submit approved templates Meta has not seen, then pull Meta's template statuses."

    def handle(self, *args: Any, **options: Any) -> None:
        actor = system_user(COMMAND)
        with acting_as(actor):
            for template in templates_to_submit():
                try:
                    revision = template_submit_to_meta(template=template, actor=actor)
                except (TransientError, DeliveryUnknown) as exc:
                    template_submit_later(template_id=template.pk, retry_after=getattr(exc, "retry_after", None))
                    self.stdout.write(f"{template}: Meta unavailable, queued for a retry ({exc})")
                    continue
                template.refresh_from_db()
                self.stdout.write(f"{template}: revision {revision.number} {revision.status}, Meta {template.meta_status}")
            try:
                report = template_sync_from_meta(actor=actor)
            except WhatsAppError as exc:
                raise CommandError(f"Could not read the templates from Meta: {exc}") from exc
        self.stdout.write(
            f"Meta lists {report.seen} templates: {report.updated} changed here, {report.unknown} not ours."
        )
