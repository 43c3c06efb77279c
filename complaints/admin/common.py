"""Shared by the complaint screens: permissions, step labels and what stops each clock."""

from __future__ import annotations

from complaints.models import (
    Acknowledgement,
    Status,
)
from pandorakart_wa.core.admin.mixins import (
    REVEAL_PERMISSION,
)

PERM_EXPORT = "complaints.export_complaint_evidence"


PERM_REVEAL = REVEAL_PERMISSION  # one rule for every reveal of a customer's data (number or contact details)


PERM_VIEW_CONTACT = "consent.view_contact"


PERM_EVIDENCE_PACK = "core.view_evidence_pack"


STEP_LABELS: dict[str, str] = {
    Status.ACKNOWLEDGED: "Acknowledge (first response)",
    Status.INVESTIGATING: "Investigate",
    Status.AWAITING_CUSTOMER: "Await customer (pauses the resolution clock)",
    Status.CLOSED: "Close",
    Status.REOPENED: "Reopen",
}


# Which action stops which clock, said on the complaint page next to the clocks.
FIRST_RESPONSE_STOPS = ("the first staff step out of Received: Acknowledge, Investigate, “Receipt given” or Resolve. "
                        "The automatic WhatsApp receipt does not stop it.")


RESOLUTION_STOPS = "Resolve (an officer). Awaiting the customer pauses it: the due time moves later by the pause."


STATUTORY_STOPS = "Resolve. It never pauses: DPDP's outer limit runs whatever the status."


RECEIPT_SHORT = {
    Acknowledgement.PENDING: "being sent",
    Acknowledgement.SENT: "sent on WhatsApp",
    Acknowledgement.OWED: "OWED by staff",
    Acknowledgement.RECORDED: "given by staff",
    Acknowledgement.NOT_NEEDED: "not needed",
    Acknowledgement.ANONYMOUS: "not possible (anonymous)",
}
