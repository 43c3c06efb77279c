"""Form pieces of the template editor: buttons as rows of fields (not raw JSON), and the lint
run on what is being typed, before anything is saved."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django import forms
from django.utils.datastructures import MultiValueDict

BUTTON_ROWS_MIN = 3  # empty rows offered below the buttons a template already has
BUTTON_ROWS_MAX = 10  # Meta's limit on buttons per template
BUTTON_TYPES = (
    ("", "—"),
    ("QUICK_REPLY", "Quick reply"),
    ("URL", "Link (URL)"),
    ("PHONE_NUMBER", "Call a number"),
    ("COPY_CODE", "Copy an offer code"),
    ("OTP", "One-time code (authentication)"),
)
_KINDS = {value for value, _label in BUTTON_TYPES if value}
# What the "value" column holds for each type, and which key of Meta's button it is.
VALUE_KEY = {"URL": "url", "PHONE_NUMBER": "phone_number", "COPY_CODE": "example", "OTP": "otp_type"}


def _row(button: Mapping[str, Any]) -> dict[str, str]:
    kind = str(button.get("type") or "").upper()
    key = VALUE_KEY.get(kind)
    example = "" if kind == "COPY_CODE" else str(button.get("example") or "")
    return {"type": kind, "text": str(button.get("text") or ""), "value": str(button.get(key) or "") if key else "",
            "example": example}


def _button(row: Mapping[str, str]) -> dict[str, Any]:
    kind = row["type"]
    button: dict[str, Any] = {"type": kind}
    if row["text"]:
        button["text"] = row["text"]
    key = VALUE_KEY.get(kind)
    if key and row["value"]:
        button[key] = row["value"].upper() if kind == "OTP" else row["value"]
    if kind == "URL" and row["example"]:
        button["example"] = row["example"]
    return button


class ButtonsWidget(forms.Widget):
    """One row per button: type, label, URL / number / code, and an example for a URL's {{1}}."""

    template_name = "messaging/admin/buttons_widget.html"  # an app template: the form renderer reads app directories

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        rows = [_row(b) for b in value if isinstance(b, Mapping)] if isinstance(value, Sequence) and not isinstance(
            value, str) else []
        rows += [{"type": "", "text": "", "value": "", "example": ""}] * max(
            0, min(BUTTON_ROWS_MAX, len(rows) + BUTTON_ROWS_MIN) - len(rows))
        context["widget"]["rows"] = rows
        context["widget"]["types"] = BUTTON_TYPES
        return context

    def value_from_datadict(self, data: Any, files: MultiValueDict[str, Any], name: str) -> list[dict[str, str]]:
        rows = []
        for index in range(BUTTON_ROWS_MAX):
            row = {key: str(data.get(f"{name}-{index}-{key}") or "").strip() for key in ("type", "text", "value", "example")}
            if any(row.values()):
                rows.append(row)
        return rows

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return not any(f"{name}-{index}-type" in data for index in range(BUTTON_ROWS_MAX))


class ButtonsField(forms.Field):
    """The rows as Meta's button objects. Meta's own rules (label lengths, URL variables, how many
    of each) are the lint's: a row is refused here only when its type is missing or unknown."""

    widget = ButtonsWidget

    def to_python(self, value: Any) -> list[dict[str, Any]]:
        if not value:
            return []
        if isinstance(value, list) and all(isinstance(b, Mapping) and "value" in b for b in value):
            errors = []
            for number, row in enumerate(value, start=1):
                if not row.get("type"):
                    errors.append(f"Button {number}: choose its type.")
                elif row["type"] not in _KINDS:
                    errors.append(f"Button {number}: unknown type {row['type']!r}.")
            if errors:
                raise forms.ValidationError(errors)
            return [_button(row) for row in value]
        if isinstance(value, list):
            return [dict(b) for b in value if isinstance(b, Mapping)]
        raise forms.ValidationError("Buttons are rows of type, label and value.")

    def prepare_value(self, value: Any) -> Any:
        return value or []

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(data) != list(initial or [])
        except forms.ValidationError:
            return True
