"""The business profile shown on WhatsApp, its sync with Meta, the public policy documents, the
register of regulatory changes and the compliance alerts every app can raise."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q

from pandorakart_wa.core.timefmt import staff_time


class Vertical(models.TextChoices):
    """Meta's `vertical` values (reference/whatsapp-cloud-api.md §3), regulated ones included."""

    OTHER = "OTHER", "Other"
    AUTO = "AUTO", "Automotive"
    BEAUTY = "BEAUTY", "Beauty, spa and salon"
    APPAREL = "APPAREL", "Clothing and apparel"
    EDU = "EDU", "Education"
    ENTERTAIN = "ENTERTAIN", "Entertainment"
    EVENT_PLAN = "EVENT_PLAN", "Event planning and service"
    FINANCE = "FINANCE", "Finance and banking"
    GROCERY = "GROCERY", "Food and grocery"
    GOVT = "GOVT", "Public service"
    HOTEL = "HOTEL", "Hotel and lodging"
    HEALTH = "HEALTH", "Medical and health"
    NONPROFIT = "NONPROFIT", "Non-profit"
    PROF_SERVICES = "PROF_SERVICES", "Professional services"
    RETAIL = "RETAIL", "Shopping and retail"
    TRAVEL = "TRAVEL", "Travel and transportation"
    RESTAURANT = "RESTAURANT", "Restaurant"
    ALCOHOL = "ALCOHOL", "Alcohol (regulated)"
    ONLINE_GAMBLING = "ONLINE_GAMBLING", "Online gambling (regulated)"
    PHYSICAL_GAMBLING = "PHYSICAL_GAMBLING", "Physical gambling (regulated)"
    OTC_DRUGS = "OTC_DRUGS", "Over-the-counter drugs (regulated)"


class BusinessProfile(models.Model):
    """The one business profile of the WhatsApp phone number: the single source of truth.

    Only the fields in `profile.validation.META_FIELDS` exist on Meta; `name`, `phone` and the
    support channels are published by the storefront (GET /api/v1/profile) and the policy.
    `pushed_values` is the snapshot of what the last successful sync sent to Meta: a field Meta
    holds differently from it was edited elsewhere (drift).
    """

    SINGLETON = 1

    singleton = models.PositiveSmallIntegerField(default=SINGLETON, unique=True, editable=False)
    name = models.CharField(max_length=100)
    about = models.CharField(max_length=139)
    # Column as wide as Meta's larger published limit; validation enforces the stricter 256.
    description = models.CharField(max_length=512, blank=True)
    address = models.CharField(max_length=256, blank=True)
    email = models.CharField(max_length=128, blank=True)
    websites = models.JSONField(default=list, blank=True)
    vertical = models.CharField(max_length=32, choices=Vertical.choices, blank=True)
    phone = models.CharField(max_length=32, blank=True, help_text="Display form, e.g. +91 9227021270.")
    support_email = models.CharField(max_length=128, blank=True)
    support_phone = models.CharField(max_length=32, blank=True)
    support_website = models.CharField(max_length=256, blank=True)

    revision = models.PositiveIntegerField(default=1, help_text="Incremented by every change.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pushed_values = models.JSONField(
        null=True, blank=True, editable=False, help_text="What the last successful sync sent to Meta."
    )
    pushed_revision = models.PositiveIntegerField(null=True, blank=True, editable=False)
    pushed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "business profile"
        verbose_name_plural = "business profile"
        constraints = [models.CheckConstraint(condition=Q(singleton=1), name="business_profile_single_row")]
        permissions = [("sync_businessprofile", "Can run the business profile sync now")]

    def __str__(self) -> str:
        return f"{self.name} (revision {self.revision})"


class ProfileSyncRun(models.Model):
    """One run of the profile sync, whatever its outcome (the sync history staff read)."""

    class Result(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "Pushed"
        NOOP = "noop", "Nothing to do"
        DRIFT = "drift", "Drift found"
        ERROR = "error", "Error"
        SKIPPED = "skipped", "Skipped (another run held the lock)"

    class Trigger(models.TextChoices):
        BEAT = "beat", "Celery beat"
        COMMAND = "command", "Management command"
        ADMIN = "admin", "Admin"
        RESOLUTION = "resolution", "Drift resolution"

    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    result = models.CharField(max_length=16, choices=Result.choices, default=Result.RUNNING)
    attempt = models.PositiveSmallIntegerField(default=1, help_text="1 + the Celery retries before it.")
    profile_revision = models.PositiveIntegerField(null=True, blank=True)
    fields_pushed = models.JSONField(default=list, blank=True)
    drift_fields = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    retryable = models.BooleanField(default=False, help_text="The error was transient and the run is retried.")

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "profile sync run"

    def __str__(self) -> str:
        return f"sync {staff_time(self.started_at)}: {self.get_result_display()}"


class ProfileDrift(models.Model):
    """A field Meta holds differently from what we last pushed: someone edited it elsewhere.

    Open until staff resolve it: the sync never overwrites the field meanwhile.
    """

    class Resolution(models.TextChoices):
        KEEP_OURS = "keep_ours", "Kept ours (pushed to Meta)"
        ACCEPT_THEIRS = "accept_theirs", "Accepted Meta's value"
        CONVERGED = "converged", "Meta and ours agree again"

    field = models.CharField(max_length=32)
    ours = models.JSONField(help_text="Our value when last seen.")
    theirs = models.JSONField(help_text="Meta's value when last seen.")
    last_pushed = models.JSONField(null=True, help_text="What we had pushed before.")
    detected_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    detected_by_run = models.ForeignKey(ProfileSyncRun, null=True, on_delete=models.SET_NULL, related_name="drifts")
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        verbose_name = "profile drift"
        constraints = [
            models.UniqueConstraint(fields=["field"], condition=Q(resolved_at__isnull=True), name="one_open_drift_per_field"),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True, resolution="") | (Q(resolved_at__isnull=False) & ~Q(resolution="")),
                name="drift_resolution_consistent",
            ),
        ]
        permissions = [("resolve_profiledrift", "Can resolve profile drift (keep ours / accept theirs)")]

    def __str__(self) -> str:
        return f"drift of {self.field} ({'open' if self.resolved_at is None else self.resolution})"


class JobLock(models.Model):
    """A lease: held while `held_until` is in the future. Taken and released by conditional
    UPDATEs that commit at once, so it works on PostgreSQL and SQLite alike and no transaction
    stays open during Meta's HTTP calls; a crashed holder's lease simply runs out."""

    name = models.CharField(max_length=64, unique=True)
    holder = models.CharField(max_length=64, blank=True)
    held_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class PolicyVersion(models.Model):
    """One version of the public WhatsApp Business Policy. Published versions are immutable."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    class Notification(models.TextChoices):
        NOT_REQUIRED = "not_required", "Not required (not a significant change)"
        PENDING = "pending", "Pending"
        NOTIFIED = "notified", "Customers notified (notifiers ran)"
        NO_NOTIFIER = "no_notifier", "Not sent: no notifier configured"
        FAILED = "failed", "Failed"

    number = models.PositiveIntegerField(unique=True, null=True, blank=True, editable=False,
                                         help_text="Given when published: 1, 2, 3...")
    title = models.CharField(max_length=200, default="WhatsApp Business Policy")
    body = models.TextField(help_text="Plain text: headings, paragraphs and bullet lines (•).")
    change_summary = models.TextField(blank=True)
    significant_change = models.BooleanField(
        default=False, help_text="Customers who hold any consent are told of it when it is published."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    next_review_due = models.DateField(null=True, blank=True)
    notification_status = models.CharField(
        max_length=16, choices=Notification.choices, blank=True, editable=False
    )
    notification_detail = models.TextField(blank=True, editable=False)
    notified_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-number", "-created_at"]
        verbose_name = "policy version"
        constraints = [
            models.CheckConstraint(
                condition=Q(status="draft", number__isnull=True, published_at__isnull=True)
                | Q(status="published", number__isnull=False, published_at__isnull=False, next_review_due__isnull=False),
                name="policy_published_has_number_date_review",
            ),
        ]
        permissions = [("publish_policyversion", "Can publish a policy version")]

    def __str__(self) -> str:
        return f"{self.title} v{self.number}" if self.number else f"{self.title} (draft)"


class RegulatoryChange(models.Model):
    """An entry of the register of changes in Meta's policies and in the law."""

    class Source(models.TextChoices):
        META_POLICY = "meta_policy", "Meta policy"
        DPDP_ACT = "dpdp_act", "DPDP Act"
        DPDP_RULES = "dpdp_rules", "DPDP Rules"
        TRAI = "trai", "TRAI"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        NOT_APPLICABLE = "not_applicable", "Not applicable"

    ACTIVE_STATUSES = (Status.OPEN, Status.IN_PROGRESS)

    seed_key = models.SlugField(max_length=80, unique=True, null=True, blank=True, editable=False)
    source = models.CharField(max_length=16, choices=Source.choices)
    title = models.CharField(max_length=200)
    summary = models.TextField()
    reference_url = models.URLField(max_length=500, blank=True)
    effective_date = models.DateField(null=True, blank=True)
    affected_areas = models.CharField(max_length=300, blank=True, help_text="Comma-separated, e.g. consent, templates.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        limit_choices_to={"is_staff": True},
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    review_due = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["review_due", "effective_date", "id"]
        verbose_name = "regulatory change"
        indexes = [models.Index(fields=["status", "review_due"])]

    def __str__(self) -> str:
        return self.title


class ComplianceAlert(models.Model):
    """Something a Compliance officer must look at, raised by any app through `alert_raise`.

    `dedupe_key` collapses repeats: while an alert is unacknowledged, raising the same key again
    updates it (count, last_raised_at) instead of adding a row.
    """

    kind = models.CharField(max_length=64, db_index=True)
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    dedupe_key = models.CharField(max_length=200)
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    object_id = models.CharField(max_length=64, blank=True)
    subject = GenericForeignKey("content_type", "object_id")
    raised_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_raised_at = models.DateTimeField(null=True, blank=True)
    count = models.PositiveIntegerField(default=1)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-raised_at", "-id"]
        verbose_name = "compliance alert"
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"], condition=Q(acknowledged_at__isnull=True), name="one_open_alert_per_key"
            ),
        ]
        indexes = [models.Index(fields=["acknowledged_at", "raised_at"])]
        permissions = [("acknowledge_compliancealert", "Can acknowledge compliance alerts")]

    def __str__(self) -> str:
        return self.title
