"""Phone numbers: parse any accepted input to E.164, mask for display, digest for look-ups.

API.md: E.164 is canonical; national Indian formats (09227021270, 9227021270) and Meta's wa_id
digits (919227021270) are accepted; anything that is not a valid number is refused.
"""

from __future__ import annotations

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
    return hmac.digest(settings.PII_HASH_KEY.encode(), e164.encode(), "sha256").hex()


def wa_id_e164(wa_id: str | None) -> str | None:
    """The E.164 form of a wa_id Meta delivered, or None when it has no digits to speak of.

    Meta vouches that a wa_id is a WhatsApp user, so it is never refused for failing
    libphonenumber's validation (its sample sender 12345678, a new number range, 972987654321):
    a number that does not validate is kept as "+" and its digits, so that an opt-out from it is
    recorded and suppresses it like any other."""
    digits = wa_id if wa_id and wa_id.isascii() and wa_id.isdigit() else "".join(
        ch for ch in (wa_id or "") if ch.isdigit()
    )
    if not 6 <= len(digits) <= 15:
        return None
    # A wa_id is the number in international form without the "+": for every valid number that
    # is exactly its E.164 (what normalize_phone gives the storefront's input), with no parsing.
    return "+" + digits
