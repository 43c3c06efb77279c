"""Phone numbers: parse any accepted input to E.164, mask for display, digest for look-ups.

API.md: E.164 is canonical; national Indian formats (09227021270, 9227021270) and Meta's wa_id
digits (919227021270) are accepted; anything that is not a valid number is refused.
"""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers
from django.conf import settings


class InvalidPhoneNumber(ValueError):
    pass


def normalize_phone(raw: str, *, region: str | None = None) -> str:
    """The E.164 form of `raw`, or InvalidPhoneNumber saying why not."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("A phone number is required.")
    default_region = region or settings.PHONE_DEFAULT_REGION
    candidates = [text]
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text.startswith("+") and len(digits) > 10 and not text.startswith("0"):
        candidates.append("+" + digits)  # Meta's wa_id: country code without the plus
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidPhoneNumber(f"{mask_phone(text) if len(digits) > 6 else 'This'} is not a valid phone number.")


COUNTRY_CODES = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def mask_phone(e164: str) -> str:
    """+919227021270 -> +91******1270: the country code and the last four digits only."""
    if not e164:
        return ""
    digits = e164.lstrip("+")
    # Country calling codes are prefix-free and 1-3 digits long: the first known prefix is it
    # (parsing the whole number to find it cost more than the rest of a send request's reply).
    country = next((digits[:n] for n in (1, 2, 3) if digits[:n].isdigit() and int(digits[:n]) in COUNTRY_CODES),
                   digits[:2])
    hidden = max(len(digits) - len(country) - 4, 0)
    return f"+{country}{'*' * hidden}{digits[-4:]}"


def phone_digest(e164: str) -> str:
    """Keyed HMAC-SHA256 of the E.164 number: equality look-ups without decrypting anything."""
    return hmac.new(settings.PII_HASH_KEY.encode(), e164.encode(), hashlib.sha256).hexdigest()
