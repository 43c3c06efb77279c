"""Staff screens of the complaints app. Every write goes through complaints.services, which
checks the role again (Support agents investigate, Compliance officers resolve, close, reopen,
escalate and assign anyone, Auditors read).

- Complaints: queues (mine, unassigned, overdue, escalated, acknowledgement owed), the complaint
  page with its clocks, acknowledgement, evidence, the actions its status and the user's role
  allow, and the read-only timeline; intake of email/phone/website/WhatsApp complaints by staff;
  the evidence pack as one JSON file (each export recorded in the audit trail).
- Signals: read-only list of block/report signals.
- WhatsApp intake words: staff-editable.
"""

# The registrations, for admin autodiscovery (which imports this package).
from complaints.admin import complaint, signals  # noqa: F401
