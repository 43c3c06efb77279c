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
        # record; what is encrypted at rest (the customer's words, name, reply address, the
        # resolution and the evidence) never enters the audit log in clear (auditlog's masking
        # would still show half of it), and the digest is masked.
        auditlog.register(
            Complaint,
            exclude_fields=["updated_at", "evidence", "contact_details", "description", "customer_name", "resolution"],
            mask_fields=["phone_digest"],
        )
        auditlog.register(IntakeTrigger)
