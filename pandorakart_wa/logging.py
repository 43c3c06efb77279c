"""Log filters: every line carries the correlation id, and no line carries a phone number."""

from __future__ import annotations

import logging
import re

from pandorakart_wa.correlation import get_correlation_id

# Runs of 8+ digits (optionally after "+") are phone numbers or wa_ids in practice: keep the
# country prefix and the last four digits, as the admin does (+91******1270).
_PHONE_RE = re.compile(r"(?<![\w.])(\+?)(\d{2})(\d{4,})(\d{4})(?!\d)")


def mask_phone_numbers(text: str) -> str:
    return _PHONE_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{'*' * len(m.group(3))}{m.group(4)}", text)


class CorrelationIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = get_correlation_id() or "-"
        return True


class MaskPhoneNumbersFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phone_numbers(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
