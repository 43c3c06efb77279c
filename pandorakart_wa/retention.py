"""Retention (DESIGN.md "Audit"): what the service keeps, and for how long.

- Meta's raw webhook bodies hold customers' numbers, names and texts: each body is redacted
  (`body_token` set to NULL, `redacted_at` stamped) `RETENTION_WEBHOOK_DAYS` after it arrived.
  The parsed items (WebhookItem: kind, dates, digests, their own encrypted payload) and the body's
  keyed digest stay, so replay, the customer's export and redelivery de-duplication keep working.
  A body never read into items is kept (and reported) until it is: redacting it would lose the
  updates it carries.
- Operational rows are deleted `RETENTION_OPERATIONAL_DAYS` after they were written: profile
  sync runs, ledger verification runs and expired staff sessions. The newest sync run, the newest
  successful one and the newest verification are always kept (the dashboard shows them).
- Audit entries (django-auditlog) and staff sign-in logs (django-axes's access and failure logs)
  are kept `RETENTION_AUDIT_DAYS`, never fewer than AUDIT_FLOOR_DAYS (DPDP Rules 2025, rule 6(1)(e):
  logs kept for at least one year). A lower setting is an error (system check retention.E001) and
  `retention_apply` refuses to run with it rather than prune early.

`retention_apply(dry_run=True)` counts without changing anything (`manage.py apply_retention
--dry-run`); beat runs it nightly (pandorakart_wa.tasks.apply_retention_task).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from consent.selectors import ledger_verifications_expired
from pandorakart_wa.core.audit import CELERY, log_event, system_user
from pandorakart_wa.webhooks.models import WebhookEvent
from profile.selectors import sync_runs_expired

logger = logging.getLogger(__name__)

AUDIT_FLOOR_DAYS = 365  # DPDP Rules 2025, rule 6(1)(e): logs retained for a period of one year
DELETE_BATCH = 1000  # rows deleted / redacted per statement: short transactions, no long locks


@dataclass(frozen=True)
class RetentionPolicy:
    webhook_days: int
    operational_days: int
    audit_days: int


@dataclass
class RetentionLine:
    """One kind of row: how many were (or would be) removed, older than `before`."""

    name: str
    action: str  # "redact" or "delete"
    before: dt.datetime
    count: int = 0
    kept: int = 0
    kept_reason: str = ""


@dataclass
class RetentionReport:
    dry_run: bool
    lines: list[RetentionLine] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(line.count for line in self.lines)


def retention_problems(policy: RetentionPolicy) -> list[tuple[str, str]]:
    """What is wrong with a policy, as (system check id, message); empty when it may be applied."""
    problems = []
    if policy.audit_days < AUDIT_FLOOR_DAYS:
        problems.append(("retention.E001", (
            f"RETENTION_AUDIT_DAYS is {policy.audit_days}: audit and access logs must be kept at least "
            f"{AUDIT_FLOOR_DAYS} days (DPDP Rules 2025, rule 6)")))
    if policy.webhook_days < 1:
        problems.append(("retention.E002", f"RETENTION_WEBHOOK_DAYS is {policy.webhook_days}: it must be at least 1"))
    if policy.operational_days < 1:
        problems.append(("retention.E003",
                         f"RETENTION_OPERATIONAL_DAYS is {policy.operational_days}: it must be at least 1"))
    return problems


def retention_policy() -> RetentionPolicy:
    return RetentionPolicy(
        webhook_days=settings.RETENTION_WEBHOOK_DAYS,
        operational_days=settings.RETENTION_OPERATIONAL_DAYS,
        audit_days=settings.RETENTION_AUDIT_DAYS,
    )


def _delete_in_batches(queryset: QuerySet[Any], *, dry_run: bool) -> int:
    if dry_run:
        return queryset.count()
    model = queryset.model
    removed = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:DELETE_BATCH])
        if not ids:
            return removed
        with transaction.atomic():  # the ORM's delete: a sync run's drifts are unlinked (SET_NULL), not broken
            removed += model._default_manager.filter(pk__in=ids).delete()[1].get(model._meta.label, 0)


def _redact_webhook_bodies(line: RetentionLine, *, dry_run: bool, now: dt.datetime) -> None:

    old = WebhookEvent.objects.filter(received_at__lt=line.before, body_token__isnull=False)
    line.kept = old.filter(split_at__isnull=True).count()
    if line.kept:
        line.kept_reason = "never read into items (Webhook events in the admin; replay_webhooks --event N)"
    due = old.filter(split_at__isnull=False)
    if dry_run:
        line.count = due.count()
        return
    while True:
        ids = list(due.order_by("pk").values_list("pk", flat=True)[:DELETE_BATCH])
        if not ids:
            return
        line.count += WebhookEvent.objects.filter(pk__in=ids, body_token__isnull=False).update(
            body_token=None, redacted_at=now
        )


def _sessions(before: dt.datetime) -> QuerySet[Any]:
    from django.contrib.sessions.models import Session

    return Session.objects.filter(expire_date__lt=before)


def _audit_entries(before: dt.datetime) -> QuerySet[Any]:
    from auditlog.models import LogEntry

    return cast("QuerySet[Any]", LogEntry.objects.filter(timestamp__lt=before))  # auditlog is untyped


def _access_logs(before: dt.datetime) -> QuerySet[Any]:
    from axes.models import AccessLog

    return cast("QuerySet[Any]", AccessLog.objects.filter(Q(attempt_time__lt=before)))  # axes is untyped


def _failure_logs(before: dt.datetime) -> QuerySet[Any]:
    from axes.models import AccessFailureLog

    return cast("QuerySet[Any]", AccessFailureLog.objects.filter(attempt_time__lt=before))  # axes is untyped


def retention_apply(*, dry_run: bool = False, now: dt.datetime | None = None,
                    policy: RetentionPolicy | None = None, actor: Any = None) -> RetentionReport:
    """Redact and prune what the policy no longer keeps (or, with dry_run, count it).

    Raises ImproperlyConfigured, removing nothing, when the policy would prune audit or access
    logs younger than AUDIT_FLOOR_DAYS (or a period is not positive)."""
    policy = policy or retention_policy()
    problems = retention_problems(policy)
    if problems:
        raise ImproperlyConfigured("; ".join(text for _, text in problems) + ". Nothing was removed.")
    now = now or timezone.now()
    report = RetentionReport(dry_run=dry_run)
    webhook = RetentionLine("raw webhook bodies", "redact", now - dt.timedelta(days=policy.webhook_days))
    _redact_webhook_bodies(webhook, dry_run=dry_run, now=now)
    report.lines.append(webhook)
    operational = now - dt.timedelta(days=policy.operational_days)
    audit = now - dt.timedelta(days=policy.audit_days)
    prunes: list[tuple[str, dt.datetime, Callable[[dt.datetime], QuerySet[Any]]]] = [
        ("profile sync runs", operational, lambda before: sync_runs_expired(before=before)),
        ("ledger verification runs", operational, lambda before: ledger_verifications_expired(before=before)),
        ("expired staff sessions", operational, _sessions),
        ("audit trail entries", audit, _audit_entries),
        ("staff sign-in logs", audit, _access_logs),
        ("staff failed sign-in logs", audit, _failure_logs),
    ]
    for name, before, rows in prunes:
        line = RetentionLine(name, "delete", before)
        line.count = _delete_in_batches(rows(before), dry_run=dry_run)
        report.lines.append(line)
    if not dry_run:
        _record(report, actor=actor)
    return report


def _record(report: RetentionReport, *, actor: Any) -> None:
    """The run in the audit trail (what was removed, not what it held), and in the log."""
    from auditlog.models import LogEntry


    details = {line.name: line.count for line in report.lines}
    logger.info("Retention applied: %s", ", ".join(f"{n} {c}" for n, c in details.items()))
    if report.total:
        log_event(user=actor or system_user(CELERY), obj_or_label=WebhookEvent, action=LogEntry.Action.DELETE,
                  what="applied the retention policy", details={"removed": details})


def retention_describe(report: RetentionReport) -> list[str]:
    """The report as lines for people (the command's output)."""
    verb = {"redact": ("would redact", "redacted"), "delete": ("would delete", "deleted")}
    out = []
    for line in report.lines:
        said = verb[line.action][0 if report.dry_run else 1]
        text = f"{line.name}: {said} {line.count} (older than {line.before:%Y-%m-%d %H:%M} UTC)"
        if line.kept:
            text += f"; kept {line.kept}: {line.kept_reason}"
        out.append(text)
    return out
