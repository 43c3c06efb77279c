"""Meta's limits on the business profile (reference/whatsapp-cloud-api.md §3), checked before
anything is saved. Every message names the field and the limit, so staff can fix it at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from pandorakart_wa.core.phones import InvalidPhoneNumber, normalize_phone
from profile.models import Vertical

# The fields that exist on Meta's profile and are synced, in Meta's order.
META_FIELDS = ("about", "address", "description", "email", "websites", "vertical")
# Every field staff edit (the local-only ones are published by the API and the policy page).
EDITABLE_FIELDS = (
    "name", *META_FIELDS, "phone", "support_email", "support_phone", "support_website",
)

NAME_MAX = 100  # ours: the display name itself is approved by Meta separately
ABOUT_MAX = 139
# Meta's reference page says 512, its OpenAPI v23 schema says 256: validate at the stricter.
DESCRIPTION_MAX = 256
ADDRESS_MAX = 256
EMAIL_MAX = 128
WEBSITES_MAX = 2
WEBSITE_MAX = 256


def _length(errors: dict[str, list[str]], field: str, value: str, limit: int, *, required: bool = False) -> None:
    if required and not value.strip():
        errors.setdefault(field, []).append(f"{field} must not be empty (1-{limit} characters).")
    elif len(value) > limit:
        errors.setdefault(field, []).append(
            f"{field} must be at most {limit} characters; it has {len(value)}."
        )


def _email(errors: dict[str, list[str]], field: str, value: str) -> None:
    if not value:
        return
    _length(errors, field, value, EMAIL_MAX)
    try:
        validate_email(value)
    except ValidationError:
        errors.setdefault(field, []).append(f"{field} must be a valid email address (at most {EMAIL_MAX} characters).")


def _website(errors: dict[str, list[str]], field: str, value: str) -> None:
    if len(value) > WEBSITE_MAX:
        errors.setdefault(field, []).append(f"{field} must be at most {WEBSITE_MAX} characters; it has {len(value)}.")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errors.setdefault(field, []).append(
            f"{field} must be a full URL starting with http:// or https:// (at most {WEBSITE_MAX} characters)."
        )


def _phone(errors: dict[str, list[str]], field: str, value: str) -> None:
    if not value:
        return
    try:
        normalize_phone(value)
    except InvalidPhoneNumber:
        errors.setdefault(field, []).append(f"{field} must be a valid phone number, e.g. +91 9227021270.")


def profile_errors(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """The problems of a complete set of profile values, by field name (empty when valid)."""
    errors: dict[str, list[str]] = {}
    for field in ("name", "about", "description", "address", "phone", "support_email", "support_phone",
                  "support_website", "email", "vertical"):
        if not isinstance(values.get(field, ""), str):
            errors[field] = [f"{field} must be text."]
    if errors:
        return errors
    _length(errors, "name", values.get("name", ""), NAME_MAX, required=True)
    _length(errors, "about", values.get("about", ""), ABOUT_MAX, required=True)
    _length(errors, "description", values.get("description", ""), DESCRIPTION_MAX)
    _length(errors, "address", values.get("address", ""), ADDRESS_MAX)
    _email(errors, "email", values.get("email", ""))
    _email(errors, "support_email", values.get("support_email", ""))
    _phone(errors, "phone", values.get("phone", ""))
    _phone(errors, "support_phone", values.get("support_phone", ""))
    if values.get("support_website"):
        _website(errors, "support_website", values["support_website"])

    websites = values.get("websites", [])
    if not isinstance(websites, list) or not all(isinstance(w, str) for w in websites):
        errors["websites"] = ["websites must be a list of URLs."]
    elif len(websites) > WEBSITES_MAX:
        errors["websites"] = [f"websites may hold at most {WEBSITES_MAX} URLs; it has {len(websites)}."]
    else:
        for index, website in enumerate(websites):
            _website(errors, f"websites[{index}]", website)
        # Keep the errors under the form's field name as well as the item's.
        nested = [msg for key, msgs in errors.items() if key.startswith("websites[") for msg in msgs]
        for key in [k for k in errors if k.startswith("websites[")]:
            del errors[key]
        if nested:
            errors["websites"] = nested

    vertical = values.get("vertical", "")
    if vertical and vertical not in Vertical.values:
        errors["vertical"] = [
            f"vertical must be empty or one of Meta's {len(Vertical.values)} values "
            f"({', '.join(Vertical.values)}); got {vertical!r}."
        ]
    return errors


def profile_validate(values: Mapping[str, Any]) -> None:
    """Raise a ValidationError keyed by field when any value breaks a limit."""
    errors = profile_errors(values)
    if errors:
        raise ValidationError(errors)
