from __future__ import annotations

from django.apps import AppConfig


class ComplaintsConfig(AppConfig):
    name = "complaints"
    label = "complaints"
    verbose_name = "Complaints"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from complaints.models import Complaint, IntakeTrigger

        # Field history of staff-visible changes. The timeline (ComplaintAction) is the legal
        # record; the encrypted contact details never enter the audit log, the description and
        # the evidence (personal data, and large) are masked / left out.
        auditlog.register(
            Complaint,
            exclude_fields=["updated_at", "evidence", "contact_details"],
            mask_fields=["description", "customer_name", "phone_digest"],
        )
        auditlog.register(IntakeTrigger)
