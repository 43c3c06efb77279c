"""The complaints app's part of the dashboard, the reports and the evidence pack.

Kept apart so the rest works while the complaints app is not there: AVAILABLE is False and
every function answers None (the templates leave the complaints panels out).
"""

from __future__ import annotations

from typing import Any

from consent.models import Contact
from pandorakart_wa.dashboard.selectors import DateRange

AVAILABLE = False


def complaints_figures(date_range: DateRange) -> dict[str, Any] | None:
    return None


def complaints_for_contact(contact: Contact) -> list[dict[str, Any]] | None:
    return None


def register_label() -> str:
    return "complaints register"


def register_csv(date_range: DateRange) -> Any:
    raise NotImplementedError
