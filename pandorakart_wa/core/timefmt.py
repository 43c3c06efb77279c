"""Times as staff read them, outside templates (object names, messages, notes): India time,
the zone named, seconds where the order of events matters. Templates use the same formats
through settings.FORMAT_MODULE_PATH (pandorakart_wa/formats/en/formats.py)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.dateformat import format as date_format

WITH_SECONDS = "j M Y, H:i:s T"  # 1 Dec 2026, 16:06:46 IST
WITHOUT_SECONDS = "j M Y, H:i T"
DAY = "j M Y"


def staff_time(value: dt.datetime | None, *, seconds: bool = True, empty: str = "—") -> str:
    """`value` in the staff time zone (settings.TIME_ZONE), e.g. "1 Dec 2026, 16:06:46 IST"."""
    if value is None:
        return empty
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return date_format(timezone.localtime(value), WITH_SECONDS if seconds else WITHOUT_SECONDS)


def staff_day(value: dt.datetime | dt.date | None, *, empty: str = "—") -> str:
    if value is None:
        return empty
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
    return date_format(value, DAY)
