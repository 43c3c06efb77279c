"""Log filters: every line carries the correlation id, and no line carries a phone number."""

from __future__ import annotations

import logging
import re

from pandorakart_wa.core.correlation import get_correlation_id

# Runs of 10 to 15 digits (optionally after "+", or its URL encoding %2B) are phone numbers or
# wa_ids in practice, also when written in groups ("+91 92270 21270", or in a query string
# "91+92270+21270" / "91%2092270%2021270"): keep the first two digits and the last four, as the
# admin does (+91******1270). Not after a letter, digit, dot, dash or "%" (ids, versions, UUIDs).
_SEPARATOR = r"(?:%20|\+| )"
_PHONE_RE = re.compile(rf"(?<![\w.%-])(\+|%2[Bb])?(\d(?:{_SEPARATOR}?\d){{9,14}})(?![\d\w])")
_DIGIT = re.compile(r"\d")
# A preference-centre link (/preferences/<signed token>/) opens a customer's consent page: the
# token is a bearer credential, so access-log and error lines keep only the path's shape.
_PREFERENCE_LINK_RE = re.compile(r"(/preferences/)[^/\s?\"']{20,}")
_KEEP_HEAD, _KEEP_TAIL = 2, 4


def _mask(match: re.Match[str]) -> str:
    number = match.group(2)
    digits = len(_DIGIT.findall(number))
    seen = 0

    def star(digit: re.Match[str]) -> str:
        nonlocal seen
        seen += 1
        return digit.group(0) if seen <= _KEEP_HEAD or seen > digits - _KEEP_TAIL else "*"

    return (match.group(1) or "") + _DIGIT.sub(star, number)


def mask_phone_numbers(text: str) -> str:
    """`text` with every phone number masked (log lines, access-log request lines and URLs), and
    preference-centre link tokens replaced."""
    return _PHONE_RE.sub(_mask, _PREFERENCE_LINK_RE.sub(r"\1[token]", text))


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
