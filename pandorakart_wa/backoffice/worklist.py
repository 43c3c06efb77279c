"""What waits for the signed-in staff member, shown on the admin index: the officers' queue of
complaints handed over by agents, revisions to review, an agent's own complaints, a marketer's
drafts sent back, sign-in lockouts to lift. A few small counted queries, each behind the
permission that makes it the reader's work."""

from __future__ import annotations

from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from complaints.selectors import complaints_assigned_open, complaints_needing_someone, complaints_ready_for_officer
from messaging.models import RevisionStatus
from messaging.selectors import revisions_sent_back, revisions_to_review
from profile.selectors import alerts_open_by_last_raised

SHOWN = 5  # rows per panel; the link opens the whole queue


def _changelist(name: str, **query: str) -> str:
    url = reverse(f"admin:{name}_changelist")
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def worklist(user: Any) -> list[dict[str, Any]]:
    """Panels of the index, each {"title", "count", "url", "rows": [(label, detail, url)], "empty"}."""
    panels: list[dict[str, Any]] = []
    now = timezone.now()
    if user.has_perm("complaints.resolve_complaint"):
        ready = complaints_ready_for_officer()
        panels.append({
            "id": "queue-ready", "title": "Complaints ready for an officer", "count": ready.count(),
            "url": _changelist("complaints_complaint", queue="ready"), "empty": "No complaint is waiting for you.",
            "rows": [(c.reference, f"{c.get_category_display()} · handed over {timezone.localtime(c.updated_at):%d %b %H:%M}",
                      reverse("admin:complaints_complaint_change", args=[c.pk])) for c in ready[:SHOWN]],
        })
    if user.has_perm("complaints.investigate_complaint"):
        mine = complaints_assigned_open(user=user)
        panels.append({
            "id": "queue-mine", "title": "Complaints assigned to you", "count": mine.count(),
            "url": _changelist("complaints_complaint", queue="mine"), "empty": "None assigned to you.",
            "rows": [(c.reference, c.get_status_display(), reverse("admin:complaints_complaint_change", args=[c.pk]))
                     for c in mine[:SHOWN]],
        })
        needing = complaints_needing_someone(now=now)
        owed, overdue, unassigned = needing.owed, needing.overdue, needing.unassigned
        panels.append({
            "id": "queue-complaints", "title": "Complaints needing someone", "count": owed + overdue + unassigned,
            "url": _changelist("complaints_complaint"), "empty": "Nothing overdue, owed or unassigned.",
            "rows": [(label, str(n), url) for label, n, url in (
                ("Overdue", overdue, _changelist("complaints_complaint", queue="overdue")),
                ("Receipt owed by staff", owed, _changelist("complaints_complaint", queue="ack_owed")),
                ("Unassigned", unassigned, _changelist("complaints_complaint", queue="unassigned")),
            ) if n],
        })
    if user.has_perm("messaging.approve_template"):
        review = revisions_to_review(reviewer=user)
        panels.append({
            "id": "queue-review", "title": "Template revisions to review", "count": review.count(),
            "url": _changelist("messaging_templaterevision", status__exact=RevisionStatus.IN_REVIEW),
            "empty": "No revision waits for your review.",
            "rows": [(str(r), f"by {r.author} · {r.lint_error_count} lint errors" if r.lint_error_count else f"by {r.author}",
                      reverse("admin:messaging_templaterevision_change", args=[r.pk])) for r in review[:SHOWN]],
        })
    if user.has_perm("messaging.change_messagetemplate") and not user.has_perm("messaging.approve_template"):
        back = revisions_sent_back(author=user)
        panels.append({
            "id": "queue-drafts", "title": "Your drafts and revisions sent back", "count": back.count(),
            "url": _changelist("messaging_messagetemplate"), "empty": "Nothing waiting for you.",
            "rows": [(str(r), f"{r.get_status_display()}{': ' + r.review_note[:80] if r.review_note else ''}",
                      reverse("admin:messaging_templaterevision_change", args=[r.pk])) for r in back[:SHOWN]],
        })
    if user.has_perm("axes.delete_accessattempt"):
        locked = AccessAttempt.objects.filter(failures_since_start__gte=settings.AXES_FAILURE_LIMIT).order_by("-attempt_time")
        panels.append({
            "id": "queue-lockouts", "title": "Sign-ins locked out", "count": locked.count(),
            "url": _changelist("axes_accessattempt", locked_out="yes"), "empty": "Nobody is locked out.",
            "rows": [(a.username or "(no username)", f"{a.failures_since_start} failures",
                      reverse("admin:axes_accessattempt_changelist") + "?locked_out=yes") for a in locked[:SHOWN]],
        })
    if user.has_perm("business_profile.view_compliancealert"):
        alerts = alerts_open_by_last_raised()
        count = alerts.count()
        if count:
            panels.append({
                "id": "queue-alerts", "title": "Open compliance alerts", "count": count,
                "url": _changelist("business_profile_compliancealert"), "empty": "",
                "rows": [(a.title[:80], f"raised {a.count} times",
                          reverse("admin:business_profile_compliancealert_change", args=[a.pk]))
                         for a in alerts[:SHOWN]],
            })
    return panels
