"""Reads of the messaging app. Templates part: can this template be sent now, and what the
storefront may send.

`template_usable` is THE gate: the API's send path, the worker's send-time re-check, campaigns
and the admin all ask it (or its bulk twin `usable_templates`), and it reads only the fields the
services and Meta's webhooks write in their own transactions, so a pause is in force the moment
its webhook commits. There is no cached "usable" flag to drift.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Count, F, Min, Q, QuerySet
from django.db.models.functions import Coalesce

from consent.models import Contact
from messaging.lint import Vocabulary
from messaging.models import (
    HoldReason,
    LintTerm,
    Message,
    MessageEvent,
    MessageKind,
    MessageRate,
    MessageStatus,
    MessageTemplate,
    MetaTemplateStatus,
    RevisionStatus,
    SendingPolicy,
    TemplateQuality,
    TemplateRevision,
    TemplateStatusEvent,
)
from messaging.template_format import TemplateContent, render, variable_count
from pandorakart_wa.core.sql import execute_prepared

# API.md policy codes (422) a send refused by the template gate carries.
TEMPLATE_NOT_APPROVED = "template_not_approved"
TEMPLATE_PAUSED = "template_paused"

# Meta statuses that mean "stopped for quality or policy" rather than "not approved (yet)".
PAUSED_STATUSES = frozenset({MetaTemplateStatus.PAUSED, MetaTemplateStatus.DISABLED, MetaTemplateStatus.FLAGGED})

USABLE_Q = (
    Q(approved_revision__isnull=False)
    & Q(approved_revision__status=RevisionStatus.SUBMITTED)
    & Q(approved_revision__reviewed_by__isnull=False)
    & Q(approved_revision__lint_error_count=0)
    & Q(meta_status=MetaTemplateStatus.APPROVED)
    & ~Q(quality=TemplateQuality.RED)
    & Q(hold_reason=HoldReason.NONE)
)


# --- Messages and template history, for the apps above (complaints' intake, evidence, signals) ---


# Messages that reached (or were refused by) Meta: what "a send" of a template counts.
ATTEMPTED_STATUSES = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.FAILED)


def message_get(*, message_id: object) -> Message | None:
    """The message with this id (a UUID or its text), with its contact and template; None when
    there is no such message or `message_id` is not an id."""
    try:
        key = message_id if isinstance(message_id, uuid.UUID) else uuid.UUID(str(message_id))
    except (TypeError, ValueError):
        return None
    return Message.objects.select_related("contact", "template").filter(pk=key).first()


def message_exists(*, message_id: uuid.UUID) -> bool:
    """Is there a message with this id (an API input naming one)?"""
    return Message.objects.filter(pk=message_id).exists()


@dataclass(frozen=True)
class MessageWithEvents:
    """A message and its status timeline, read together (the caller needs no further query)."""

    message: Message  # with its template and revision
    events: list[MessageEvent]  # its status events, oldest first


def messages_with_events(*, contact: Contact, since: datetime | None = None) -> list[MessageWithEvents]:
    """The messages to `contact` (created since `since`, when given), oldest first, each with its
    template, campaign, revision and status events: two queries whatever the count."""
    rows = Message.objects.filter(contact=contact)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    rows = rows.select_related("template", "campaign", "revision").prefetch_related("events").order_by("created_at", "id")
    return [MessageWithEvents(message=m, events=list(m.events.all())) for m in rows]


def template_status_history(*, template: MessageTemplate, since: datetime) -> list[TemplateStatusEvent]:
    """The template's status events created since `since`, oldest first, with their revision."""
    return list(
        TemplateStatusEvent.objects.filter(template=template, created_at__gte=since)
        .select_related("revision")
        .order_by("created_at", "id")
    )


def template_attempt_counts(*, template_ids: Collection[int], since: datetime, until: datetime) -> dict[int, int]:
    """How many messages of each template created from `since` to `until` reached (or were
    refused by) Meta, by template id, in one query; a template with none is absent."""
    return dict(
        Message.objects.filter(template_id__in=list(template_ids), status__in=ATTEMPTED_STATUSES,
                               created_at__gte=since, created_at__lte=until)
        .values("template")
        .annotate(n=Count("id"))
        .values_list("template", "n")
    )


def template_usable(template: MessageTemplate) -> tuple[bool, str | None]:
    """(True, None) when `template` may be sent now, else (False, API.md policy code).

    Usable only with an approved revision that passed lint and internal review (four eyes) and
    was submitted to Meta, Meta's status APPROVED, quality not RED and no hold. The send-time
    gate must call this on a freshly read template (not one cached since the message was queued).
    """
    if (
        template.hold_reason
        or template.meta_status in PAUSED_STATUSES
        or template.quality == TemplateQuality.RED
    ):
        return False, TEMPLATE_PAUSED
    revision = template.approved_revision
    if (
        revision is None
        or revision.status != RevisionStatus.SUBMITTED
        or revision.reviewed_by_id is None
        or revision.lint_error_count
        or template.meta_status != MetaTemplateStatus.APPROVED
    ):
        return False, TEMPLATE_NOT_APPROVED
    return True, None


def usable_templates() -> QuerySet[MessageTemplate]:
    """Every template `template_usable` accepts, in one query (campaigns, dashboards)."""
    return MessageTemplate.objects.filter(USABLE_Q).select_related("approved_revision")


def template_get(*, name: str, language: str) -> MessageTemplate | None:
    """The template a send names, with what the gate and the send need, or None."""
    return (
        MessageTemplate.objects.select_related("approved_revision")
        .filter(name=name, language=language)
        .first()
    )


def templates_get(*, pairs: Collection[tuple[str, str]]) -> dict[tuple[str, str], MessageTemplate]:
    """The templates named by (name, language) pairs, read fresh (their state is what the gate
    judges) in one query, with their approved revision (its content only while its variable count
    is not cached: see below)."""
    if not pairs:
        return {}
    if len(pairs) == 1:
        ((name, language),) = pairs
        template = _template_by_name(name, language)
        return {} if template is None else {(name, language): template}
    condition = Q()
    for name, language in pairs:
        condition |= Q(name=name, language=language)
    return {(t.name, t.language): t for t in _templates_with_revision().filter(condition)}


def _templates_with_revision() -> QuerySet[MessageTemplate]:
    return MessageTemplate.objects.select_related("approved_revision").defer(
        *(f"approved_revision__{f}" for f in _REVISION_CONTENT if f != "body")
    )


_NAME, _LANGUAGE = "\x00name", "\x00language"  # stand-ins while the lookup is compiled


@functools.cache
def _template_lookup_compiled() -> tuple[str, tuple[int, int], list[Any]]:
    """The single-template lookup compiled by the ORM once per process (compiling it cost the
    send API more than running it): (SQL, where the name and language go, [the compiler, the
    columns, their converters])."""
    compiler = _templates_with_revision().filter(name=_NAME, language=_LANGUAGE).query.get_compiler(DEFAULT_DB_ALIAS)
    sql, params = compiler.as_sql()
    columns = [column for column, _, _ in compiler.select]
    return sql, (list(params).index(_NAME), list(params).index(_LANGUAGE)), [
        compiler, columns, compiler.get_converters(columns)]


def _template_by_name(name: str, language: str) -> MessageTemplate | None:
    sql, (at_name, at_language), (compiler, columns, converters) = _template_lookup_compiled()
    params: list[Any] = [None, None]
    params[at_name], params[at_language] = name, language
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor == "postgresql":  # every single POST runs it: prepared (core/sql.py)
        rows = execute_prepared(sql, params)
        row = rows[0] if rows else None
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    if row is None:
        return None
    (row,) = compiler.apply_converters([list(row)], converters) if converters else [row]
    template_info = compiler.klass_info
    revision_info = template_info["related_klass_infos"][0]

    def build(model: Any, info: dict[str, Any]) -> Any:
        indexes = info["select_fields"]
        return model.from_db(DEFAULT_DB_ALIAS, [columns[i].target.attname for i in indexes], [row[i] for i in indexes])

    template: MessageTemplate = build(MessageTemplate, template_info)
    revision_values = [row[i] for i in revision_info["select_fields"]]
    template.approved_revision = build(TemplateRevision, revision_info) if revision_values[0] is not None else None
    return template


_REVISION_CONTENT = ("header_text", "body", "footer", "buttons", "header_examples", "body_examples", "lint_findings")
_variable_counts: dict[int, int] = {}  # revision id -> {{n}} in its body: a revision's content never changes


def template_send_variable_count(template: MessageTemplate) -> int:
    """How many `variables` a send of this template must supply (the body's {{1}}..{{n}})."""
    revision_id = template.approved_revision_id
    if revision_id is None:
        return 0
    count = _variable_counts.get(revision_id)
    if count is None:
        revision = template.approved_revision
        count = _variable_counts[revision_id] = variable_count(revision.body) if revision is not None else 0
    return count


@dataclass(frozen=True)
class StorefrontTemplate:
    name: str
    language: str
    category: str
    purpose: str
    variables: int
    body: str
    usable: bool
    status: str
    quality: str


def template_display_status(template: MessageTemplate) -> str:
    """One lowercase word for the storefront: Meta's status, or `held` while staff hold it."""
    if template.hold_reason:
        return "held"
    return str(template.meta_status).lower()


def templates_for_storefront() -> list[StorefrontTemplate]:
    """Every template that has a revision at Meta (drafts are not the storefront's business)."""
    templates = (
        MessageTemplate.objects.select_related("approved_revision")
        .filter(approved_revision__isnull=False)
        .order_by("name", "language")
    )
    result = []
    for template in templates:
        revision = template.approved_revision
        assert revision is not None
        result.append(
            StorefrontTemplate(
                name=template.name,
                language=template.language,
                category=template.category,
                purpose=template.purpose,
                variables=variable_count(revision.body),
                body=revision.body,
                usable=template_usable(template)[0],
                status=template_display_status(template),
                quality=template.quality,
            )
        )
    return result


def lint_vocabulary() -> Vocabulary:
    """The active staff-editable terms, as the lint reads them."""
    promotional: list[str] = []
    abusive: list[str] = []
    for kind, term in LintTerm.objects.filter(active=True).values_list("kind", "term"):
        (promotional if kind == LintTerm.Kind.PROMOTIONAL else abusive).append(term)
    return Vocabulary(promotional=tuple(promotional), abusive=tuple(abusive))


def revision_content(revision: TemplateRevision, *, category: str | None = None) -> TemplateContent:
    """A revision as the lint and the submission read it (`category` overrides the revision's)."""
    template = revision.template
    return TemplateContent(
        name=template.name,
        language=template.language,
        category=category or revision.category,
        header_text=revision.header_text,
        body=revision.body,
        footer=revision.footer,
        buttons=tuple(revision.buttons or ()),
        header_examples=tuple(str(e) for e in revision.header_examples or ()),
        body_examples=tuple(str(e) for e in revision.body_examples or ()),
    )


def templates_to_submit() -> QuerySet[MessageTemplate]:
    """Templates whose current revision is approved internally but not yet sent to Meta."""
    return MessageTemplate.objects.filter(current_revision__status=RevisionStatus.APPROVED).select_related(
        "current_revision"
    )


# --- Messages to one customer (the back office's customer page) ---------------------------

OUTBOUND_SHOWN = 200  # the newest; the evidence pack carries every message
# The policy codes a message can carry, as staff read them (API.md's codes, and the sender's waits).
REASON_WORDS: dict[str, str] = {
    "consent_missing": "refused: no consent for the purpose", "opted_out": "refused: the customer opted out",
    "contact_blocked": "refused: the contact is blocked", "contact_erased": "refused: the contact was erased",
    "template_not_approved": "refused: the template is not approved", "template_paused": "refused: the template is paused",
    "frequency_capped": "refused: the marketing frequency cap", "outside_service_window": "refused: outside the 24-hour window",
    "quiet_hours": "waiting: quiet hours", "pair_rate": "waiting: Meta allows one message per customer every 6 s",
    "template_held": "waiting: the template is held for review",
}


@dataclass(frozen=True)
class OutboundMessage:
    """A message to the customer as staff read it: what it said, and every status it went through."""

    id: str
    created_at: Any
    sent_at: Any
    kind: str
    kind_label: str
    purpose: str
    template: str  # "order_shipped (en), revision 2", or "" for free text
    text: str  # the body with the customer's values filled in, or the free text
    campaign: str
    status: str
    status_label: str
    reason: str
    error: str
    events: list[tuple[str, Any, str]]  # (status, at, source), oldest first


def messages_for_contact(contact: Any, *, limit: int = OUTBOUND_SHOWN) -> list[OutboundMessage]:
    """The newest `limit` messages to `contact`, newest first, each with its status timeline
    (two queries whatever the count)."""
    rows = list(
        Message.objects.filter(contact=contact)
        .select_related("template", "template__current_revision", "revision", "campaign")
        .prefetch_related("events")
        .order_by("-created_at")[:limit]
    )
    statuses = dict(MessageStatus.choices)
    kinds = dict(MessageKind.choices)
    result = []
    for m in rows:
        if m.template is not None:
            body = m.revision.body if m.revision is not None else ""
            if not body and m.template.current_revision_id:
                body = m.template.current_revision.body if m.template.current_revision else ""
            text = render(body, [str(v) for v in (m.variables or [])])
            name = f"{m.template}" + (f", revision {m.revision.number}" if m.revision is not None else "")
        else:
            text, name = m.text, ""
        error = f"{m.error_code}: {m.error_title}" if m.error_code else m.error_title
        result.append(OutboundMessage(
            id=str(m.pk), created_at=m.created_at, sent_at=m.sent_at, kind=m.kind,
            kind_label=str(kinds.get(m.kind, m.kind)).split(":")[0], purpose=m.purpose, template=name, text=text,
            campaign=m.campaign.name if m.campaign is not None else "", status=m.status,
            status_label=str(statuses.get(m.status, m.status)), reason=m.reason, error=error,
            events=[(e.status, e.at, e.source) for e in sorted(m.events.all(), key=lambda e: (e.at, e.pk))],
        ))
    return result


# --- The back office: dashboard figures, evidence pack, worklist ----------------------------


def message_counts(*, since: dt.datetime, until: dt.datetime) -> list[tuple[str, str, int | None, int | None, int]]:
    """(status, reason, error_code, template_id, messages) for the messages created in the range:
    one GROUP BY (a few hundred rows at most: statuses x reasons x error codes x templates)."""
    rows = (
        Message.objects.filter(created_at__gte=since, created_at__lt=until)
        .values_list("status", "reason", "error_code", "template_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return list(rows)


def message_pricing_counts(*, since: dt.datetime, until: dt.datetime) -> dict[str, dict[str, int]]:
    """{pricing category: {"billable", "free"}} of the messages Meta priced in the range: one
    GROUP BY over the priced messages' partial index."""
    counts = (
        Message.objects.filter(priced_at__gte=since, priced_at__lt=until)
        .values("pricing_category")
        .annotate(billable=Count("id", filter=Q(pricing_billable=True)),
                  free=Count("id", filter=~Q(pricing_billable=True)))
    )
    return {row["pricing_category"]: {"billable": row["billable"], "free": row["free"]} for row in counts}


def rates_in_force(*, market: str, today: dt.date) -> dict[str, MessageRate]:
    """The rate card line of each category in force on `today` in `market` (the latest
    effective_from), in one query."""
    found: dict[str, MessageRate] = {}
    for rate in MessageRate.objects.filter(market=market, effective_from__lte=today).order_by("category",
                                                                                               "-effective_from"):
        found.setdefault(rate.category, rate)
    return found


def templates_with_approved_revision() -> list[MessageTemplate]:
    """Every template with its approved revision, by name and language, in one query."""
    return list(MessageTemplate.objects.select_related("approved_revision").order_by("name", "language"))


def sending_policy_get() -> SendingPolicy | None:
    """The sending policy row (stop-all switch), read without creating it."""
    return SendingPolicy.objects.filter(pk=1).first()


def revisions_to_review(*, reviewer: Any) -> QuerySet[TemplateRevision]:
    """Current revisions in review that `reviewer` did not write (four eyes), oldest first."""
    return (TemplateRevision.objects.filter(status=RevisionStatus.IN_REVIEW, template__current_revision=F("pk"))
            .exclude(author=reviewer).select_related("template", "author").order_by("created_at"))


def revisions_sent_back(*, author: Any) -> QuerySet[TemplateRevision]:
    """`author`'s current revisions still drafts or rejected in review, newest first."""
    return (TemplateRevision.objects.filter(author=author, template__current_revision=F("pk"))
            .filter(Q(status=RevisionStatus.REJECTED) | Q(status=RevisionStatus.DRAFT))
            .select_related("template").order_by("-created_at"))


# --- Monitoring: the outbox and the sends now (pandorakart_wa.metrics) ----------------------


@dataclass(frozen=True)
class OutboxFigures:
    """The queued messages due now or deferred (quiet hours, retry), and since when the oldest due one is due."""

    due: int
    deferred: int
    oldest_due_since: dt.datetime | None


def outbox_figures(*, now: dt.datetime) -> OutboxFigures:
    """The queued messages due at `now` and deferred, and the oldest due one's due time: one aggregate."""
    due = Q(not_before__isnull=True) | Q(not_before__lte=now)
    figures = Message.objects.filter(status=MessageStatus.QUEUED).aggregate(
        due=Count("id", filter=due), deferred=Count("id", filter=~due),
        oldest=Min(Coalesce(F("not_before"), F("created_at")), filter=due),
    )
    return OutboxFigures(due=figures["due"], deferred=figures["deferred"], oldest_due_since=figures["oldest"])


@dataclass(frozen=True)
class SendingFigures:
    """The messages claimed by a worker whose answer from Meta is not recorded yet."""

    count: int
    oldest_claimed_at: dt.datetime | None


def messages_sending_figures() -> SendingFigures:
    """How many messages are sending, and when the oldest of them was claimed: one aggregate."""
    figures = Message.objects.filter(status=MessageStatus.SENDING).aggregate(n=Count("id"), oldest=Min("claimed_at"))
    return SendingFigures(count=figures["n"], oldest_claimed_at=figures["oldest"])


@dataclass(frozen=True)
class SendOutcomes:
    """What Meta answered since a moment: the sends it accepted, the failures by its error code."""

    sent: int
    failed_by_error_code: list[tuple[int | None, int]]  # (error code or None, failures), by code


def send_outcomes(*, since: dt.datetime) -> SendOutcomes:
    """Sent and failed status events since `since`, failures by error code (None: refused before Meta): two queries."""
    recent = MessageEvent.objects.filter(at__gte=since)
    sent = recent.filter(status=MessageStatus.SENT).count()
    failures = (
        recent.filter(status=MessageStatus.FAILED)
        .values("message__error_code").annotate(n=Count("id")).order_by("message__error_code")
    )
    return SendOutcomes(sent=sent, failed_by_error_code=[(r["message__error_code"], r["n"]) for r in failures])
