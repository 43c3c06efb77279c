"""Messaging models: message templates and their governance, then the outbox (messages, their
status events, campaigns and the sending policy).

Templates:

A template (name + language) has an append-only list of revisions. Each revision's content is
immutable once written: an edit is a new revision that must be reviewed again (four eyes). The
template points at its `current_revision` (the newest edit, whatever its state) and at its
`approved_revision`: the internally approved revision that was submitted to Meta and that sends
go out with. Meta's verdict (status, quality, category) lives on the template and every change to
it, internal or from Meta, is a `TemplateStatusEvent` row written in the same transaction.
"""

from __future__ import annotations

import datetime
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from consent.purposes import Purpose, TemplateCategory
from pandorakart_wa.core.fields import EncryptedJSONField, EncryptedTextField
from pandorakart_wa.core.timefmt import staff_time


class MetaTemplateStatus(models.TextChoices):
    """Meta's template statuses (reference §2), plus NOT_SUBMITTED before Meta has seen it."""

    NOT_SUBMITTED = "NOT_SUBMITTED", "Not submitted"
    PENDING = "PENDING", "Pending"
    APPROVED = "APPROVED", "Approved"
    REJECTED = "REJECTED", "Rejected"
    PAUSED = "PAUSED", "Paused"
    DISABLED = "DISABLED", "Disabled"
    FLAGGED = "FLAGGED", "Flagged"
    IN_APPEAL = "IN_APPEAL", "In appeal"
    REINSTATED = "REINSTATED", "Reinstated"
    PENDING_DELETION = "PENDING_DELETION", "Pending deletion"
    DELETED = "DELETED", "Deleted"
    ARCHIVED = "ARCHIVED", "Archived"
    UNARCHIVED = "UNARCHIVED", "Unarchived"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED", "Limit exceeded"
    LOCKED = "LOCKED", "Locked"


class TemplateQuality(models.TextChoices):
    GREEN = "GREEN", "Green (high)"
    YELLOW = "YELLOW", "Yellow (medium)"
    RED = "RED", "Red (low)"
    UNKNOWN = "UNKNOWN", "Unknown (pending)"


class RevisionStatus(models.TextChoices):
    """The internal workflow. A template's `status` mirrors its current revision's."""

    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved internally"
    REJECTED = "rejected", "Rejected"
    SUBMITTED = "submitted", "Submitted to Meta"
    SUPERSEDED = "superseded", "Superseded"


class HoldReason(models.TextChoices):
    """Why the template is held (unusable) until a compliance officer releases it."""

    NONE = "", "Not held"
    PAUSED = "paused", "Paused by Meta"
    DISABLED = "disabled", "Disabled by Meta"
    FLAGGED = "flagged", "Flagged by Meta (negative feedback)"
    QUALITY_RED = "quality_red", "Quality RED"
    RECATEGORISED = "recategorised", "Category changed by Meta"
    COMPLAINT = "complaint", "Held by a complaint investigation (outcome or block/report signals)"


class MessageTemplate(models.Model):
    name = models.CharField(max_length=512, help_text="Meta's name: lowercase letters, digits and _.")
    language = models.CharField(max_length=16, help_text="Meta's language code, e.g. en, en_US, hi.")
    category = models.CharField(max_length=16, choices=TemplateCategory.choices)
    purpose = models.CharField(
        max_length=32, choices=Purpose.choices, help_text="The consent the category needs (set from the category)."
    )
    status = models.CharField(
        max_length=16,
        choices=RevisionStatus.choices,
        default=RevisionStatus.DRAFT,
        help_text="Internal workflow status of the current revision.",
    )
    current_revision = models.OneToOneField(
        "TemplateRevision", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_revision = models.OneToOneField(
        "TemplateRevision",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The internally approved revision Meta holds: sends go out with this one.",
    )
    meta_template_id = models.CharField(max_length=64, blank=True, db_index=True)
    meta_status = models.CharField(
        max_length=20, choices=MetaTemplateStatus.choices, default=MetaTemplateStatus.NOT_SUBMITTED
    )
    meta_reason = models.CharField(max_length=255, blank=True, help_text="Meta's reason for its last status.")
    quality = models.CharField(max_length=8, choices=TemplateQuality.choices, default=TemplateQuality.UNKNOWN)
    hold_reason = models.CharField(max_length=16, choices=HoldReason.choices, blank=True, default=HoldReason.NONE)
    attention_reason = models.TextField(blank=True, help_text="What staff must look at, and why.")
    attention_since = models.DateTimeField(null=True, blank=True)
    # Meta's advance notice of a recategorisation (`template_category_update` with
    # `correct_category` and `category_update_timestamp`): applied at that time by beat, unless a
    # corrected revision was submitted after the notice (then Meta's verdict decides).
    scheduled_category = models.CharField(
        max_length=16, choices=TemplateCategory.choices, blank=True,
        help_text="The category Meta announced it will give the template.",
    )
    scheduled_category_at = models.DateTimeField(null=True, blank=True, help_text="When Meta recategorises it.")
    scheduled_category_noticed_at = models.DateTimeField(null=True, blank=True, help_text="When Meta announced it.")
    meta_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(fields=["name", "language"], name="messaging_template_name_language_unique"),
            models.CheckConstraint(
                condition=Q(category__in=TemplateCategory.values), name="messaging_template_category_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["meta_status", "quality", "hold_reason"], name="messaging_template_usable_idx"),
        ]
        permissions = [
            ("approve_template", "Can approve or reject template revisions and release held templates"),
            ("submit_template_to_meta", "Can submit approved templates to Meta"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"


class TemplateRevision(models.Model):
    """One version of a template's content. Never edited after creation, except its workflow
    fields (status, review) and its lint result (re-run when the term lists change)."""

    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField()
    category = models.CharField(
        max_length=16, choices=TemplateCategory.choices, help_text="The category this content was written for."
    )
    header_text = models.TextField(blank=True)
    body = models.TextField()
    footer = models.TextField(blank=True)
    buttons = models.JSONField(
        default=list, blank=True, help_text='[{"type": "QUICK_REPLY", "text": "Stop promotions"}, ...]'
    )
    header_examples = models.JSONField(default=list, blank=True, help_text="An example for the header's {{1}}.")
    body_examples = models.JSONField(default=list, blank=True, help_text="An example for each {{n}} of the body.")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=RevisionStatus.choices, default=RevisionStatus.DRAFT)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    lint_findings = models.JSONField(default=list, blank=True)
    lint_error_count = models.PositiveIntegerField(default=0)
    linted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="messaging_revision_number_unique"),
            # Four eyes, also in the database: nobody reviews their own revision.
            models.CheckConstraint(
                condition=Q(reviewed_by__isnull=True) | ~Q(reviewed_by=models.F("author")),
                name="messaging_revision_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        # "delivery_rescheduled (en), revision 2": staff read the name, not the template's id
        return f"{self.template}, revision {self.number}"


class TemplateStatusEvent(models.Model):
    """Append-only history of every internal and Meta change to a template."""

    class Kind(models.TextChoices):
        WORKFLOW = "workflow", "Internal workflow"
        SUBMISSION = "submission", "Submission to Meta"
        META_STATUS = "meta_status", "Meta status"
        QUALITY = "quality", "Quality"
        CATEGORY = "category", "Category"
        HOLD = "hold", "Held"
        RELEASE = "release", "Hold released"
        LINT = "lint", "Lint"

    class Source(models.TextChoices):
        STAFF = "staff", "Staff"
        META_WEBHOOK = "meta_webhook", "Meta webhook"
        META_SYNC = "meta_sync", "Meta sync"
        GATEWAY = "gateway", "Gateway response"
        SYSTEM = "system", "System"

    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="events")
    revision = models.ForeignKey(
        TemplateRevision, null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    source = models.CharField(max_length=16, choices=Source.choices)
    old_value = models.CharField(max_length=32, blank=True)
    new_value = models.CharField(max_length=32, blank=True)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    webhook_event = models.ForeignKey(
        "core.WebhookEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["template", "-created_at"], name="messaging_tplevent_tpl_idx")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.old_value} → {self.new_value}"


class LintTerm(models.Model):
    """A word or phrase the template lint looks for, editable by compliance staff."""

    class Kind(models.TextChoices):
        ABUSIVE = "abusive", "Abusive or disrespectful (error in any template)"
        PROMOTIONAL = "promotional", "Promotional (error in UTILITY and AUTHENTICATION templates)"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    term = models.CharField(max_length=100, help_text="Matched as a whole word or phrase, ignoring case.")
    active = models.BooleanField(default=True)
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "term"]
        constraints = [models.UniqueConstraint(Lower("term"), "kind", name="messaging_lintterm_unique")]

    def __str__(self) -> str:
        return f"{self.term} ({self.kind})"


# --- Sending (issue 5): the outbox, its status events, campaigns and the sending controls ---------


class MessageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Suppressed (refused at send time)"
    CANCELLED = "cancelled", "Cancelled"


class MessageKind(models.TextChoices):
    """Which gate a message passes (messaging.gate)."""

    STANDARD = "standard", "Standard: consent for its purpose"
    CONFIRMATION = "confirmation", "Confirmation of the customer's own request (needs the open service window only)"
    NOTICE = "notice", "Legal notice to everyone holding any consent (e.g. a policy change)"
    ECHO = "echo", "Sent outside this service (WhatsApp Business app, Meta's agent): bypassed the gate, checked after"


class Campaign(models.Model):
    """A template sent to an audience, gated and sent chunk by chunk."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        PREPARING = "preparing", "Preparing the audience"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    class Audience(models.TextChoices):
        CSV = "csv", "Uploaded CSV of phone numbers"
        OPTED_IN = "opted_in", "Everyone opted in to the template's purpose"
        ANY_CONSENT = "any_consent", "Everyone holding any consent (legal notices)"

    name = models.CharField(max_length=200)
    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="campaigns")
    variables = models.JSONField(default=list, blank=True, help_text="Body variables, the same for every recipient.")
    audience = models.CharField(max_length=16, choices=Audience.choices)
    audience_file = models.FileField(upload_to="campaign-audiences/", blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.CharField(max_length=200, blank=True, help_text="Why it was started (e.g. policy version 2 notice).")
    audience_size = models.PositiveIntegerField(default=0)
    queued_count = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(default=dict, blank=True, help_text="Recipients skipped at enqueue, per policy code.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("run_campaign", "Can start, pause, resume and cancel campaigns"),
            # Everyone holding any consent is reached only for what the law makes us say
            # (a policy change): Compliance decides that, not Marketing.
            ("send_legal_notice", "Can send a legal notice to everyone holding any consent"),
        ]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    """One outbound message. The row is the outbox: it is written before anything is sent, and
    its status moves only forward (queued → sending → sent → delivered → read, or to a final
    failed / suppressed / cancelled). `id` travels to Meta as biz_opaque_callback_data."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Foreign keys whose look-ups a composite index below already serves carry no index of their
    # own: every message is written and moved on (queued, sending, sent...) in all its indexes.
    contact = models.ForeignKey("consent.Contact", on_delete=models.PROTECT, related_name="messages", db_index=False)
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="messages",
                                 db_index=False)
    revision = models.ForeignKey(
        TemplateRevision, on_delete=models.PROTECT, null=True, blank=True, related_name="messages",
        help_text="The template revision the message went out with.",
    )
    language = models.CharField(max_length=16, blank=True)
    # The customer's data (names, order numbers, what staff wrote them): encrypted like numbers.
    variables = EncryptedJSONField(default=list, blank=True, help_text="Template variables, encrypted.")
    text = EncryptedTextField(blank=True, help_text="Free-form text (support replies inside the service window), encrypted.")
    reply_to_wamid = models.CharField(max_length=255, blank=True)
    kind = models.CharField(max_length=16, choices=MessageKind.choices, default=MessageKind.STANDARD)
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, null=True, blank=True, related_name="messages",
                                 db_index=False)
    status = models.CharField(max_length=16, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    reason = models.CharField(max_length=64, blank=True, help_text="Policy code of a suppression or deferral.")
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=500, blank=True)
    # NULL until sent: unique among sent messages (the constraint is in Meta: no LIKE index)
    wamid = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    attempts = models.PositiveSmallIntegerField(default=0)
    not_before = models.DateTimeField(null=True, blank=True, help_text="Deferred (quiet hours, retry) until then.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # What Meta says the message costs: its `pricing` object from the status webhooks (the last
    # one seen; reference §status webhooks). Empty until a status carries one.
    pricing_billable = models.BooleanField(null=True, blank=True, help_text="Meta's pricing.billable.")
    pricing_category = models.CharField(max_length=32, blank=True, help_text="Meta's pricing.category (e.g. marketing).")
    pricing_type = models.CharField(max_length=32, blank=True, help_text="Meta's pricing.type (regular, free_customer_service).")
    pricing_model = models.CharField(max_length=16, blank=True, help_text="Meta's pricing.pricing_model (PMP).")
    priced_at = models.DateTimeField(null=True, blank=True, help_text="When a status first carried Meta's pricing.")
    api_key = models.ForeignKey("core.StorefrontApiKey", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                db_index=False)  # indexed in Meta: without the LIKE index of a varchar key
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_sha256 = models.CharField(max_length=64, blank=True)
    created_by = models.CharField(max_length=200, blank=True, help_text="API key, staff user or system job.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["wamid"], name="messaging_message_wamid_unique"),
            models.UniqueConstraint(
                fields=["api_key", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="messaging_message_idempotency_unique",
            ),
            models.CheckConstraint(
                condition=Q(template__isnull=False) | ~Q(text=""), name="messaging_message_template_or_text"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "not_before"], name="messaging_message_due_idx"),
            models.Index(fields=["contact", "purpose", "created_at"], name="messaging_message_cap_idx"),
            models.Index(fields=["campaign", "status"], name="messaging_message_campaign_idx"),
            models.Index(fields=["template", "status"], name="messaging_message_template_idx"),
            models.Index(fields=["created_at"], name="messaging_message_created_idx"),  # date ranges
            models.Index(fields=["status", "claimed_at"], name="messaging_message_claimed_idx"),  # reconcile
            models.Index(fields=["api_key"], name="messaging_message_api_key_idx"),
            # the dashboard's "billable messages this month": only priced messages are in it
            models.Index(fields=["priced_at"], name="messaging_message_priced_idx",
                         condition=Q(priced_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.template or 'text'} → contact {self.contact_id} ({self.status})"


class MessageEvent(models.Model):
    """Every status change of a message, written with the change (bulk paths included)."""

    class Source(models.TextChoices):
        API = "api", "API"
        WORKER = "worker", "Send worker"
        WEBHOOK = "webhook", "Meta webhook"
        STAFF = "staff", "Staff"
        SYSTEM = "system", "System job"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events", db_index=False)  # see Meta
    status = models.CharField(max_length=16, choices=MessageStatus.choices)
    at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["message", "at"], name="messaging_event_message_idx")]

    def __str__(self) -> str:
        return f"{self.status} at {staff_time(self.at)}"


class SendingPolicy(models.Model):
    """Staff-editable sending rules (one row): the marketing frequency cap and quiet hours, and
    the stop-all switch that halts every send at once (account restrictions, incidents)."""

    marketing_cap_count = models.PositiveSmallIntegerField(default=2, help_text="Marketing messages per contact...")
    marketing_cap_days = models.PositiveSmallIntegerField(default=7, help_text="...within this many days.")
    quiet_hours_start = models.TimeField(default=datetime.time(21, 0), help_text="India time; marketing waits until the end.")
    quiet_hours_end = models.TimeField(default=datetime.time(9, 0))
    quiet_hours_timezone = models.CharField(max_length=64, default="Asia/Kolkata")
    stop_all = models.BooleanField(default=False, help_text="Halt every send (messages stay queued).")
    stop_all_reason = models.TextField(blank=True)
    stop_all_since = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "sending policy"
        verbose_name_plural = "sending policy"
        permissions = [("stop_all_sending", "Can stop and restart all sending")]

    def __str__(self) -> str:
        return "Sending policy"


class PricingCategory(models.TextChoices):
    """Meta's `pricing.category` values on status webhooks (per-message pricing)."""

    MARKETING = "marketing", "Marketing"
    MARKETING_LITE = "marketing_lite", "Marketing (MM Lite API)"
    UTILITY = "utility", "Utility"
    AUTHENTICATION = "authentication", "Authentication"
    AUTHENTICATION_INTERNATIONAL = "authentication_international", "Authentication (international)"
    SERVICE = "service", "Service"
    REFERRAL_CONVERSION = "referral_conversion", "Free entry point (referral conversion)"


class MessageRate(models.Model):
    """One line of the rate card: what Meta charges per delivered message of a category to a
    market, from a date. Staff edit it in the admin (a new line with a later `effective_from`
    when Meta changes its rates); the dashboard prices this month's billable messages with the
    line in force today. Seeded with India's rates (migration 0012, with its source)."""

    market = models.CharField(max_length=2, default="IN", help_text="ISO country code of the recipients' market.")
    category = models.CharField(max_length=32, choices=PricingCategory.choices)
    currency = models.CharField(max_length=3, default="INR")
    rate = models.DecimalField(max_digits=10, decimal_places=4, help_text="Per delivered billable message.")
    effective_from = models.DateField()
    source_url = models.URLField(max_length=500, help_text="Where the rate was read.")
    checked_on = models.DateField(help_text="When the rate was compared with its source.")
    note = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["market", "category", "-effective_from"]
        verbose_name = "message rate"
        verbose_name_plural = "rate card"
        constraints = [
            models.UniqueConstraint(fields=["market", "category", "effective_from"], name="messaging_rate_unique"),
            models.CheckConstraint(condition=Q(rate__gte=0), name="messaging_rate_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.market} {self.category} from {self.effective_from:%d %b %Y}: {self.rate} {self.currency}"
