"""The permissions of the compliance dashboard and its reports.

`ComplianceReport` is an unmanaged model with no table: it exists only to carry these
permissions, so that Django creates them like any model's (also after a test flush) and roles
can be granted them in a data migration. Imported by pandorakart_wa/models.py (app label "core").
"""

from __future__ import annotations

from django.db import models

VIEW_DASHBOARD = "core.view_compliance_dashboard"
EXPORT_LEDGER = "core.export_consent_ledger"
EXPORT_SUPPRESSION = "core.export_suppression_list"
EXPORT_COMPLAINTS = "core.export_complaints_register"
VIEW_EVIDENCE_PACK = "core.view_evidence_pack"
REVEAL_PHONE = "consent.reveal_phone"
VERIFY_LEDGER = "consent.add_ledgerverification"  # "Verify now" on the dashboard (Compliance officers)


class ComplianceReport(models.Model):
    class Meta:
        app_label = "core"
        managed = False
        default_permissions = ()
        verbose_name = "compliance report"
        permissions = [
            ("view_compliance_dashboard", "Can view the compliance dashboard"),
            ("export_consent_ledger", "Can export the consent ledger (CSV)"),
            ("export_suppression_list", "Can export the suppression list (CSV, digests only)"),
            ("export_complaints_register", "Can export the complaints register (CSV)"),
            ("view_evidence_pack", "Can open a customer's evidence pack (HTML and JSON)"),
        ]

    def __str__(self) -> str:
        return "compliance report"
