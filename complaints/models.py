"""Complaints and investigations, their append-only timeline, block/report signals.

A complaint moves received → acknowledged → investigating → awaiting_customer → resolved →
closed (plus reopened); every change is a ComplaintAction row written in the same transaction
(complaints.services). Two clocks run on it: the first response (`first_response_due_at`) and
the resolution (`resolution_due_at`, moved later by the time spent awaiting the customer and
never past the statutory `outer_limit_at`, which does not pause: DPDP's 90 days run regardless).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from pandorakart_wa.core.fields import EncryptedJSONField, EncryptedTextField
from pandorakart_wa.core.timefmt import staff_time

DESCRIPTION_MAX_LENGTH = 5000  # API.md: description <= 5,000 characters (checked by the service: it is ciphertext here)


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    WEBSITE = "website", "Website"
    WHATSAPP = "whatsapp", "WhatsApp"
    INTERNAL = "internal", "Internal (block/report signals)"


API_CHANNELS = (Channel.EMAIL, Channel.PHONE, Channel.WEBSITE, Channel.WHATSAPP)


class Category(models.TextChoices):
    UNWANTED_MESSAGES = "unwanted_messages", "Unwanted messages"
    OPT_OUT_NOT_HONOURED = "opt_out_not_honoured", "Opt-out not honoured"
    OFFENSIVE_CONTENT = "offensive_content", "Offensive content"
    PRIVACY = "privacy", "Privacy"
    WRONG_INFORMATION = "wrong_information", "Wrong information"
    OTHER = "other", "Other"
    TEMPLATE_SIGNALS = "template_signals", "Template investigation (block/report signals)"


API_CATEGORIES = (
    Category.UNWANTED_MESSAGES,
    Category.OPT_OUT_NOT_HONOURED,
    Category.OFFENSIVE_CONTENT,
    Category.PRIVACY,
    Category.WRONG_INFORMATION,
    Category.OTHER,
)


class Status(models.TextChoices):
    RECEIVED = "received", "Received"
    ACKNOWLEDGED = "acknowledged", "Acknowledged by staff"
    INVESTIGATING = "investigating", "Investigating"
    AWAITING_CUSTOMER = "awaiting_customer", "Awaiting customer (clock paused)"
    # An agent's investigation is done and an officer must decide (agents do not resolve).
    READY_FOR_OFFICER = "ready_for_officer", "Ready for an officer"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    REOPENED = "reopened", "Reopened"


OPEN_STATUSES = (
    Status.RECEIVED,
    Status.ACKNOWLEDGED,
    Status.INVESTIGATING,
    Status.AWAITING_CUSTOMER,
    Status.READY_FOR_OFFICER,
    Status.REOPENED,
)
# Staff-only steps and what the customer is told instead (the API's statuses stay API.md's).
PUBLIC_STATUS: dict[str, str] = {Status.READY_FOR_OFFICER: Status.INVESTIGATING}


class Outcome(models.TextChoices):
    """What the investigation found; the ones that imply an action run it (services)."""

    CONSENT_VALID_NO_BREACH = "consent_valid_no_breach", "Consent valid - no breach"
    CONSENT_MISSING_CONTACT_SUPPRESSED = (
        "consent_missing_contact_suppressed",
        "Consent missing - contact suppressed (opted out of every purpose)",
    )
    OPT_OUT_NOT_HONOURED_FIXED = "opt_out_not_honoured_fixed", "Opt-out not honoured - fixed (opt-out recorded)"
    TEMPLATE_MISCLASSIFIED_PAUSED = "template_misclassified_paused", "Template misclassified - template held"
    CONTENT_WITHDRAWN = "content_withdrawn", "Content withdrawn - template held"
    RESOLVED_OTHER = "resolved_other", "Resolved otherwise (see the resolution)"


class Acknowledgement(models.TextChoices):
    """The receipt: whether the customer was told we received the complaint (and its reference).

    A receipt is not the first response: that clock stops at the first staff step out of
    `received` (complaints.clocks), whatever happened to the receipt.
    """

    PENDING = "pending", "Receipt being sent"
    SENT = "sent", "Receipt sent on WhatsApp (automatic)"
    OWED = "owed", "Receipt owed: staff must send it on the complaint's channel"
    RECORDED = "recorded", "Receipt given by staff on the complaint's channel"
    NOT_NEEDED = "not_needed", "Not needed (internal investigation)"
    ANONYMOUS = "anonymous", "Not possible: anonymous, no contact details"


class ComplaintCounter(models.Model):
    """The last reference number used in a year (row-locked while a complaint is numbered)."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class Complaint(models.Model):
    reference = models.CharField(max_length=20, unique=True, help_text="CMP-YYYY-NNNNNN, sequential per year.")
    year = models.PositiveSmallIntegerField()
    number = models.PositiveIntegerField()
    channel = models.CharField(max_length=16, choices=Channel.choices)
    category = models.CharField(max_length=32, choices=Category.choices)
    # What identifies or describes the customer is encrypted at rest (README, "Data map"); what the
    # dashboard aggregates (status, channel, category, dates) stays plain.
    description = EncryptedTextField(help_text="As the customer gave it (encrypted at rest; at most 5,000 characters).")
    customer_name = EncryptedTextField(blank=True, help_text="As the customer gave it (greeting; encrypted at rest).")
    contact = models.ForeignKey(
        "consent.Contact", null=True, blank=True, on_delete=models.PROTECT, related_name="complaints",
        help_text="The customer, when the complaint names a number (anonymous complaints have none).",
    )
    phone_digest = models.CharField(max_length=64, blank=True, db_index=True)
    contact_details = EncryptedTextField(
        blank=True, help_text="Email address or number to answer on, as given (encrypted at rest)."
    )
    message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.PROTECT, related_name="complaints",
        help_text="The message complained about.",
    )
    template = models.ForeignKey(
        "messaging.MessageTemplate", null=True, blank=True, on_delete=models.PROTECT, related_name="complaints",
        help_text="The template under investigation.",
    )
    intake_wamid = models.CharField(
        max_length=255, null=True, blank=True, unique=True, help_text="The inbound WhatsApp message that opened it."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Escalation to the data protection officer (a flag, not a status).
    escalated_to_dpo = models.BooleanField(default=False)
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    escalation_reason = models.TextField(blank=True)
    # Acknowledgement to the customer.
    acknowledgement = models.CharField(
        max_length=16, choices=Acknowledgement.choices, default=Acknowledgement.PENDING
    )
    acknowledgement_channel = models.CharField(max_length=16, choices=Channel.choices, blank=True)
    acknowledgement_message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledgement_detail = models.CharField(max_length=300, blank=True, help_text="Why it is owed.")
    # Clocks.
    first_response_due_at = models.DateTimeField()
    first_responded_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(help_text="Moves later by the time spent awaiting the customer.")
    outer_limit_at = models.DateTimeField(help_text="Statutory limit; never paused.")
    paused_at = models.DateTimeField(null=True, blank=True, help_text="Awaiting the customer since then.")
    paused_seconds = models.PositiveIntegerField(default=0, help_text="Total time spent awaiting the customer.")
    first_response_breached_at = models.DateTimeField(null=True, blank=True)
    resolution_breached_at = models.DateTimeField(null=True, blank=True)
    outer_limit_breached_at = models.DateTimeField(null=True, blank=True)
    # Outcome.
    outcome = models.CharField(max_length=40, choices=Outcome.choices, blank=True)
    resolution = EncryptedTextField(
        blank=True, help_text="What the customer is told (shown through the API; encrypted at rest)."
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    # Evidence snapshot (complaints.evidence), refreshed by staff on demand.
    evidence = EncryptedJSONField(null=True, blank=True, help_text="Ledger, messages, complaints (encrypted at rest).")
    evidence_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=200, blank=True, help_text="API key, staff user or system job.")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["year", "number"], name="complaints_reference_number_unique"),
            models.CheckConstraint(
                condition=~Q(status__in=["resolved", "closed"]) | ~Q(outcome=""), name="complaints_resolved_outcome"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "resolution_due_at"], name="complaints_open_due_idx"),
            models.Index(fields=["template", "status"], name="complaints_template_idx"),
            models.Index(fields=["contact", "created_at"], name="complaints_contact_idx"),
        ]
        permissions = [
            ("investigate_complaint", "Can acknowledge, investigate, note and take complaints"),
            ("resolve_complaint", "Can resolve, close and reopen complaints"),
            ("escalate_complaint", "Can escalate complaints to the data protection officer"),
            ("assign_complaint", "Can assign complaints to any staff member"),
            ("export_complaint_evidence", "Can export a complaint's evidence pack"),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class ComplaintAction(models.Model):
    """One entry of a complaint's timeline. Append-only (code, admin and a PostgreSQL trigger)."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        STATUS = "status", "Status changed"
        ASSIGNED = "assigned", "Assigned"
        ESCALATED = "escalated", "Escalated to the DPO"
        NOTE = "note", "Note"
        ACKNOWLEDGEMENT = "acknowledgement", "Acknowledgement"
        CUSTOMER_MESSAGE = "customer_message", "Customer message"
        OUTCOME_ACTION = "outcome_action", "Outcome action"
        BREACH = "breach", "Clock breached"
        EVIDENCE = "evidence", "Evidence"
        DETAILS = "details", "Details changed"

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="actions")
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_label = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    from_status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    note = EncryptedTextField(blank=True, help_text="Staff notes and the customer's own messages (encrypted at rest).")
    internal = models.BooleanField(default=True, help_text="Internal notes are never shown to the customer.")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["complaint", "at"], name="complaints_action_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {staff_time(self.at)}"


class SignalKind(models.TextChoices):
    """Meta sends no "user blocked you" event: these are the proxies we collect."""

    USER_STOPPED_MARKETING = "failure_131050", "Send failed 131050 (user stopped marketing)"
    UNDELIVERABLE = "failure_131026", "Send failed 131026 (undeliverable: may have blocked us)"
    USER_PREFERENCES_STOP = "user_preferences_stop", "Stopped marketing in WhatsApp (user_preferences)"
    STOP_REPLY = "stop_reply", "Replied with an opt-out keyword"
    SPAM_REPORT = "spam_report", "Reported spam in a message"


class ComplaintSignal(models.Model):
    """One negative signal about a contact and (when known) the template it answers."""

    kind = models.CharField(max_length=24, choices=SignalKind.choices)
    contact = models.ForeignKey("consent.Contact", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    template = models.ForeignKey(
        "messaging.MessageTemplate", null=True, blank=True, on_delete=models.PROTECT, related_name="complaint_signals"
    )
    message = models.ForeignKey("messaging.Message", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    complaint = models.ForeignKey(
        Complaint, null=True, blank=True, on_delete=models.PROTECT, related_name="signals",
        help_text="The complaint or investigation it opened or was counted in.",
    )
    dedupe_key = models.CharField(max_length=300, unique=True, help_text="The same signal is recorded once.")
    occurred_at = models.DateTimeField(db_index=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["template", "occurred_at"], name="complaints_signal_tpl_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {staff_time(self.occurred_at)}"


class IntakeTrigger(models.Model):
    """Words in an inbound WhatsApp message that open a complaint (staff-editable).

    Matched case-insensitively as whole words (or whole phrases) anywhere in the message, or
    only as the whole message when `whole_message` is set (e.g. "REPORT", too common otherwise).
    """

    class Kind(models.TextChoices):
        COMPLAINT = "complaint", "Complaint"
        SPAM_REPORT = "spam_report", "Spam report"

    phrase = models.CharField(max_length=100)
    normalized = models.CharField(max_length=100, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    whole_message = models.BooleanField(default=False, help_text="Only when it is the whole message.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "phrase"]
        verbose_name = "WhatsApp intake word"

    def __str__(self) -> str:
        return self.phrase
