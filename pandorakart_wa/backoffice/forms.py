"""The dashboard's and reports' inputs: a date range, and a phone number for the evidence pack."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone

from pandorakart_wa.backoffice.selectors import DateRange, default_range
from pandorakart_wa.core.phones import InvalidPhoneNumber, normalize_phone

MAX_RANGE_DAYS = 366  # a year of daily bars; longer ranges belong in the CSV export's chunks
EARLIEST = dt.date(2020, 1, 1)


class DateRangeForm(forms.Form):
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        today = timezone.localdate()
        default = default_range(today)
        start: dt.date | None = data.get("date_from")
        end: dt.date | None = data.get("date_to")
        if end is None:
            end = min(today, start + dt.timedelta(days=29)) if start else default.end
        if start is None:
            start = end - dt.timedelta(days=29)
        if end > today:
            self.add_error("date_to", "The range cannot end in the future.")
        if start < EARLIEST:
            self.add_error("date_from", f"The range cannot start before {EARLIEST.isoformat()}.")
        if start > end:
            self.add_error("date_from", "The start must be on or before the end.")
        elif (end - start).days + 1 > MAX_RANGE_DAYS:
            self.add_error("date_to", f"Choose at most {MAX_RANGE_DAYS} days.")
        data["range"] = DateRange(start, end)
        return data

    @property
    def date_range(self) -> DateRange:
        return self.cleaned_data["range"]  # type: ignore[no-any-return]


class PhoneLookupForm(forms.Form):
    phone = forms.CharField(
        label="Customer's phone number",
        max_length=32,
        help_text="In any usual format, e.g. +91 98765 43210. The number is not stored or logged.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel", "autofocus": True}),
    )

    def clean_phone(self) -> str:
        try:
            return normalize_phone(self.cleaned_data["phone"])
        except InvalidPhoneNumber:
            raise forms.ValidationError("This is not a valid phone number.", code="invalid") from None
