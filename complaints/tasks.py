"""Celery tasks of the complaints app: thin wrappers that call a service as a system actor."""

from __future__ import annotations

from complaints.services.clocks import complaints_check_clocks
from complaints.signals_intake import signals_evaluate
from pandorakart_wa.core.audit import CELERY, acting_as, system_user
from pandorakart_wa.core.tasks import shared_task


@shared_task(ignore_result=True)
def check_clocks_task() -> dict[str, int]:
    """Beat: mark breached clocks, escalate and alert (every 10 minutes)."""
    actor = system_user(CELERY)
    with acting_as(actor):
        report = complaints_check_clocks(actor=actor)
    return {"first_response": len(report.first_response), "resolution": len(report.resolution),
            "outer_limit": len(report.outer_limit)}


@shared_task(ignore_result=True)
def evaluate_signals_task() -> list[str]:
    """Beat: investigate and hold templates whose block/report signals exceed the threshold (hourly)."""
    actor = system_user(CELERY)
    with acting_as(actor):
        return [c.reference for c in signals_evaluate(actor=actor)]
