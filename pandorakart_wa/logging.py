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


class QuietRoutineTasksFilter(logging.Filter):
    """Drops Celery's per-run lines (sent, received, succeeded) of the tasks beat runs every
    second or so and that log what they did themselves (the consent ledger's sequencer): a
    line per second per process would drown everything else in `make run` and in production."""

    ROUTINE = ("consent.tasks.consent_ledger_sequence_task", "consent-ledger-sequence")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        args = record.args
        values = args.values() if isinstance(args, dict) else args if isinstance(args, tuple) else ()
        return not any(value in self.ROUTINE for value in values if isinstance(value, str))
