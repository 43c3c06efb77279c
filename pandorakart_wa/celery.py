"""The one Celery app. Workers: `celery -A pandorakart_wa worker`; scheduler: `celery -A
pandorakart_wa beat` (exactly one). Settings are the CELERY_* names in settings.py."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pandorakart_wa.settings")

app = Celery("pandorakart_wa")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

CORRELATION_HEADER = "correlation_id"


@signals.before_task_publish.connect  # type: ignore[untyped-decorator]  # Celery is untyped
def _propagate_correlation_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """A task enqueued while handling a request carries the request's correlation id."""
    from pandorakart_wa.core.correlation import get_correlation_id

    if headers is not None and CORRELATION_HEADER not in headers:
        headers[CORRELATION_HEADER] = get_correlation_id()


@signals.after_setup_logger.connect  # type: ignore[untyped-decorator]  # Celery is untyped
def _quiet_routine_tasks(**_: Any) -> None:
    """Celery's own lines for the every-second sequencer, on the loggers that write them."""
    import logging

    from pandorakart_wa.core.logging import QuietRoutineTasksFilter

    for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat"):
        logging.getLogger(name).addFilter(QuietRoutineTasksFilter())


@signals.task_prerun.connect  # type: ignore[untyped-decorator]  # Celery is untyped
def _bind_task_context(task: Any = None, **_: Any) -> None:
    from pandorakart_wa.core.correlation import new_correlation_id, set_correlation_id

    cid = getattr(task.request, CORRELATION_HEADER, None) if task is not None else None
    set_correlation_id(cid or new_correlation_id())


@signals.task_postrun.connect  # type: ignore[untyped-decorator]  # Celery is untyped
def _unbind_task_context(**_: Any) -> None:
    from pandorakart_wa.core.correlation import set_correlation_id

    set_correlation_id(None)
