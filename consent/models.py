"""Contacts, consent notices, the consent ledger and the current consent state.

The ledger (ConsentEvent) is the legal record: append-only, one event per contact x purpose x
action, and the leaves of a Merkle tree whose signed checkpoints anyone can check (consent.log:
the sequencer gives each event its position; LedgerTile and LedgerHead hold the tree,
LedgerCheckpoint the signed tree heads). ConsentState is its current-state projection, one row
per contact x purpose written in the same transaction as the event, so the send gate reads one
indexed row. Personal evidence (IP, user agent, free text) lives in ConsentEvidence, outside the
leaves: an event commits to its digest only, so erasing the evidence keeps every proof valid.
"""

from __future__ import annotations

import uuid

from django.db import models

from consent.purposes import Purpose
from pandorakart_wa.core.audit import ActorType
from pandorakart_wa.core.fields import EncryptedJSONField, EncryptedTextField
from pandorakart_wa.core.phones import mask_phone
from pandorakart_wa.core.timefmt import staff_time


class Source(models.TextChoices):
    """Where a consent change came from. The first six are the ones the API accepts."""

    CHECKOUT = "checkout", "Checkout"
    ACCOUNT_SETTINGS = "account_settings", "Account settings"
    WHATSAPP = "whatsapp", "WhatsApp"
    SUPPORT_AGENT = "support_agent", "Support agent"
    CONSENT_MANAGER = "consent_manager", "Consent manager"
    IMPORT = "import", "Import"
    ERASURE_REQUEST = "erasure_request", "Erasure request"
    PREFERENCE_CENTRE = "preference_centre", "Preference centre (the customer's own page)"


API_SOURCES = (
    Source.CHECKOUT,
    Source.ACCOUNT_SETTINGS,
    Source.WHATSAPP,
    Source.SUPPORT_AGENT,
    Source.CONSENT_MANAGER,
    Source.IMPORT,
)


class Action(models.TextChoices):
    OPT_IN = "opt_in", "Opt-in"
    OPT_OUT = "opt_out", "Opt-out"
    RESUBSCRIBE = "resubscribe", "Resubscribe"
    ERASE = "erase", "Erase"


class Status(models.TextChoices):
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"
    NONE = "none", "None"


class Contact(models.Model):
    """One customer phone number (or, for a user who hides it, Meta's business-scoped user id)."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    phone = EncryptedTextField(null=True, blank=True, help_text="E.164, encrypted at rest; removed on erasure.")
    phone_digest = models.CharField(
        max_length=64, unique=True, null=True, blank=True, help_text="Keyed HMAC of the E.164 number; kept on erasure."
    )
    wa_id = EncryptedTextField(null=True, blank=True, help_text="Meta's wa_id (the number's digits), encrypted.")
    # Meta: a BSUID is a country code, a period and up to 128 alphanumerics (a parent's has ".ENT.").
    user_id = models.CharField(
        max_length=160, unique=True, null=True, blank=True, help_text="Meta's business-scoped user id (BSUID)."
    )
    blocked = models.BooleanField(default=False)
    blocked_reason = models.CharField(max_length=500, blank=True)
    blocked_at = models.DateTimeField(null=True, blank=True)
    erased = models.BooleanField(default=False)
    erased_at = models.DateTimeField(null=True, blank=True)
    undeliverable = models.BooleanField(default=False, help_text="Meta answered 131026 (not reachable on WhatsApp).")
    undeliverable_at = models.DateTimeField(null=True, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True, help_text="Opens the 24-hour service window.")
    last_inbound_wamid = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("reveal_phone", "Can reveal a contact's full phone number"),
            ("opt_out_contact", "Can opt a contact out (admin action)"),
            ("block_contact", "Can block or unblock a contact"),
        ]

    def __str__(self) -> str:
        return self.masked_phone or f"contact {self.public_id}"

    @property
    def public_id(self) -> str:
        return f"c_{self.uid.hex}"

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone) if self.phone else ""


class ConsentNotice(models.Model):
    """The wording shown next to an opt-in control (DPDP s.5, Rules r.3): versioned per language,
    itemised, immutable once published (a new wording is a new version)."""

    version = models.SlugField(max_length=64, unique=True, help_text="e.g. 2026-11-01-en")
    language = models.CharField(max_length=16, db_index=True, help_text="ISO 639-1 code: en, hi, ...")
    title = models.CharField(max_length=200)
    text = models.TextField(help_text="The full notice as shown to the customer.")
    items = models.JSONField(
        default=list,
        help_text='Itemised personal data: [{"data": "...", "purposes": ["marketing"], "uses": "..."}].',
    )
    purposes = models.JSONField(default=list, help_text="The purposes this notice asks consent for.")
    withdrawal_instructions = models.TextField(help_text="How to withdraw consent (as easily as it was given).")
    complaint_instructions = models.TextField(
        help_text="How to complain: the grievance contact, then the Data Protection Board of India."
    )
    business_name = models.CharField(max_length=200)
    business_contact = models.CharField(max_length=300, help_text="Contact person / DPO e-mail or phone.")
    text_sha256 = models.CharField(max_length=64, blank=True, help_text="Digest of the published content.")
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["language", "-published_at"]
        indexes = [models.Index(fields=["language", "published_at"], name="consent_notice_current")]

    def __str__(self) -> str:
        return f"{self.version} ({'published' if self.published_at else 'draft'})"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class ConsentEvent(models.Model):
    """One ledger entry. Never updated or deleted (code, admin and a PostgreSQL trigger), except
    that the sequencer sets `sequence` once: its position in the log (leaf index + 1).

    Its leaf is SHA-256(0x00 || canonical bytes of the fields below) (consent.ledger.leaf_bytes).
    Events written before the log existed also carry the old hash chain: `hash` is SHA-256 over
    their canonical JSON including `prev_hash`, and that JSON is their leaf.
    """

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sequence = models.BigIntegerField(
        null=True, blank=True, help_text="Position in the log (leaf index + 1), set by the sequencer; empty until then."
    )
    batch = models.UUIDField(help_text="The events written by one service call share it.")
    # Indexed by consent_event_contact_id (contact first): every index here is written on the
    # request path, one per event, so none is kept that no query reads.
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="consent_events", db_index=False)
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    action = models.CharField(max_length=16, choices=Action.choices)
    source = models.CharField(max_length=32, choices=Source.choices)
    notice = models.ForeignKey(ConsentNotice, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    notice_version = models.CharField(max_length=64, blank=True)
    notice_sha256 = models.CharField(max_length=64, blank=True)
    evidence_sha256 = models.CharField(max_length=64, blank=True)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64, blank=True, default="", help_text="Hash chain (events before the log).")
    hash = models.CharField(max_length=64, blank=True, default="", help_text="Hash chain (events before the log).")

    class Meta:
        # Write order: one contact's events are written one transaction at a time (a lock on
        # the contact), so within a contact id order is the order of its decisions.
        ordering = ["id"]
        indexes = [
            models.Index(fields=["contact", "purpose", "id"], name="consent_event_contact_id"),
            # date-range reads: the dashboard's daily figures and the ledger export
            models.Index(fields=["recorded_at"], name="consent_event_recorded_at"),
            models.Index(fields=["occurred_at"], name="consent_event_occurred_at"),
            # the sequencer's queue: events still waiting for their position
            models.Index(fields=["id"], name="consent_event_unsequenced", condition=models.Q(sequence__isnull=True)),
        ]
        constraints = [
            # Partial: an event is written without a position, so the request path adds no entry
            # here; the sequencer does when it gives the position.
            models.UniqueConstraint(fields=["sequence"], name="consent_event_position",
                                    condition=models.Q(sequence__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence or '…'} {self.action} {self.purpose}"

    @property
    def leaf_index(self) -> int | None:
        return self.sequence - 1 if self.sequence is not None else None

    @property
    def public_id(self) -> str:
        return f"ev_{self.uid.hex}"


class ConsentEvidence(models.Model):
    """The personal part of an event's evidence (IP, user agent, page, reason...).

    Outside the leaves on purpose: the event commits to `evidence_sha256` only, so erasure can
    clear `data` and every proof stays valid. While present, `data` must match that digest.
    """

    event = models.OneToOneField(ConsentEvent, on_delete=models.PROTECT, primary_key=True, related_name="evidence")
    data = EncryptedJSONField(null=True, blank=True, help_text="IP, user agent, page, reason... (encrypted at rest).")
    erased_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"evidence of event {self.event_id}"


class ConsentState(models.Model):
    """The current consent of one contact for one purpose (the ledger's projection)."""

    # Indexed by consent_state_one_per_purpose (contact first); no query reads states by
    # last_event (written with every event, so unindexed).
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_states", db_index=False)
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    since = models.DateTimeField(help_text="occurred_at of the event that set this status.")
    source = models.CharField(max_length=32, choices=Source.choices)
    notice_version = models.CharField(max_length=64, blank=True)
    last_event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+", db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "purpose"], name="consent_state_one_per_purpose")]
        indexes = [models.Index(fields=["purpose", "status", "contact"], name="consent_state_audience")]

    def __str__(self) -> str:
        return f"{self.purpose}: {self.status}"


class OptOutKeyword(models.Model):
    """An inbound WhatsApp message that changes consent (whole message, case/space-insensitive)."""

    class KeywordAction(models.TextChoices):
        OPT_OUT = "opt_out", "Opt out"
        RESUBSCRIBE = "resubscribe", "Resubscribe (restore what the customer had before)"
        PREFERENCES = "preferences", "Reply with the customer's preference-centre link"

    ALL_PURPOSES = "*"
    SCOPE_CHOICES = [(ALL_PURPOSES, "Every purpose"), *Purpose.choices]

    phrase = models.CharField(max_length=100, help_text="As staff typed it, e.g. 'STOP PROMOTIONS'.")
    normalized = models.CharField(max_length=100, unique=True, editable=False)
    action = models.CharField(max_length=16, choices=KeywordAction.choices, default=KeywordAction.OPT_OUT)
    scope = models.CharField(
        max_length=32, choices=SCOPE_CHOICES, default=Purpose.MARKETING, help_text="The purposes it applies to."
    )
    language = models.CharField(max_length=16, default="en")
    reply_text = models.CharField(
        max_length=1024,
        blank=True,
        help_text="Confirmation sent back inside the service window (by messaging). For a preferences keyword, "
        "{link} is replaced by the customer's signed link and {days} by its lifetime in days.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["action", "phrase"]
        verbose_name = "opt-out keyword"

    def __str__(self) -> str:
        return self.phrase


class LedgerTile(models.Model):
    """Stored hashes of the log's Merkle tree, in tiles as C2SP tlog-tiles lays them out: tile
    (level, index) holds the hashes of the perfect-subtree nodes at tree level 8 x level with
    node indices 256 x index onwards, 32 bytes each, at most 256 (the rightmost tile of each
    level grows with the tree; the others never change). Any node of a perfect subtree is a
    tile read and at most 127 hashes away, so proofs cost O(log n) reads."""

    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hashes = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="consent_ledger_tile_position")]

    def __str__(self) -> str:
        return f"tile {self.level}/{self.index} ({len(self.hashes) // 32} hashes)"


class LedgerHead(models.Model):
    """The log's current size and frontier (the right-edge perfect-subtree roots, largest
    first): all the sequencer needs to add leaves in O(log n). One row, written only by it."""

    size = models.BigIntegerField(default=0)
    frontier = models.BinaryField(default=b"")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"ledger tree of {self.size} events"


class LedgerCheckpoint(models.Model):
    """A signed tree head: the C2SP checkpoint note, also written to LEDGER_CHECKPOINT_DIR."""

    tree_size = models.BigIntegerField(unique=True)
    root_hash = models.BinaryField()
    origin = models.CharField(max_length=255)
    note = models.TextField(help_text="The signed note: checkpoint body, blank line, signature lines.")
    signed_at = models.DateTimeField()

    class Meta:
        ordering = ["-tree_size"]
        get_latest_by = "tree_size"

    def __str__(self) -> str:
        return f"checkpoint of {self.tree_size} events at {self.signed_at:%Y-%m-%d %H:%M:%S}"


class LedgerVerification(models.Model):
    """One run of verify_consent_ledger (the dashboard shows the last one)."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    events_checked = models.BigIntegerField()
    checkpoints_checked = models.BigIntegerField(default=0)
    head_sequence = models.BigIntegerField(null=True, blank=True)
    head_hash = models.CharField(max_length=64, blank=True)
    first_bad_sequence = models.BigIntegerField(null=True, blank=True)
    first_bad_event = models.CharField(max_length=64, blank=True)
    problem = models.TextField(blank=True)
    triggered_by = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"{'intact' if self.ok else 'BROKEN'} at {staff_time(self.finished_at)}"


class RevocationClock(models.Model):
    """One row whose `value` PostgreSQL triggers advance, in the same transaction, whenever a
    contact may have lost the right to be messaged: a consent state leaving `opted_in` (opt-out,
    erasure), a state deleted, a contact blocked or erased (migration 0005).

    Senders check consent when they claim a chunk and again just before each message leaves;
    the second check reads this one row and asks for consent again only when it moved, so a
    revocation committed at any moment is still seen before the next request leaves."""

    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "revocation clock"

    def __str__(self) -> str:
        return f"revocation clock at {self.value}"


class ConsentManager(models.Model):
    """A consent manager registered with the Data Protection Board (DPDP Act s.6(7)-(9), Rules
    r.4): acts for the customer to give, review and withdraw consent. Recorded by staff; API
    keys bound to it (ConsentManagerKey) may post its artefacts' grants and withdrawals."""

    registration_id = models.CharField(
        max_length=64, unique=True, help_text="The Board's registration number of the consent manager."
    )
    name = models.CharField(max_length=200)
    active = models.BooleanField(
        default=True, help_text="Only an active manager's keys are accepted; deactivating keeps its history."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "registered consent manager"

    def __str__(self) -> str:
        return f"{self.name} ({self.registration_id})"


class ConsentManagerKey(models.Model):
    """Binds one API key to one consent manager: what the key posts is that manager's."""

    api_key = models.OneToOneField(
        "core.StorefrontApiKey", on_delete=models.CASCADE, related_name="consent_manager_binding"
    )
    manager = models.ForeignKey(ConsentManager, on_delete=models.PROTECT, related_name="keys")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "consent manager API key"

    def __str__(self) -> str:
        return f"key {self.api_key_id} of {self.manager.registration_id}"


class ConsentArtefactAction(models.Model):
    """One grant or withdrawal of a consent manager's artefact, written once: the same artefact
    and action again answers with this receipt and writes nothing (API.md, Consent managers).
    Holds no personal data (the contact by reference, the ledger events by id)."""

    class ArtefactAction(models.TextChoices):
        GRANT = "grant", "Grant"
        WITHDRAW = "withdraw", "Withdraw"

    manager = models.ForeignKey(ConsentManager, on_delete=models.PROTECT, related_name="artefact_actions")
    artefact_id = models.CharField(max_length=128)
    action = models.CharField(max_length=16, choices=ArtefactAction.choices)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="+")
    purposes = models.JSONField(default=list)
    notice_version = models.CharField(max_length=64, blank=True)
    receipt = models.JSONField(default=list, help_text="Public ids of the ledger events written (ev_...).")
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["manager", "artefact_id", "recorded_at"]
        verbose_name = "consent artefact action"
        constraints = [
            models.UniqueConstraint(fields=["manager", "artefact_id", "action"], name="consent_artefact_once_per_action"),
        ]
        indexes = [models.Index(fields=["contact"], name="consent_artefact_contact")]

    def __str__(self) -> str:
        return f"{self.action} {self.artefact_id} ({self.manager.registration_id})"
