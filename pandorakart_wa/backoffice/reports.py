"""CSV reports, streamed: the consent ledger, the suppression list, the complaints register.

Each report is a generator of CSV text chunks fed by a server-side cursor (`.iterator()`), so
memory stays flat however many rows there are. No full phone number is ever written: contacts
appear as their public id and phone digest (the keyed HMAC the storefront can match), the
complaints register as a masked number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.utils import timezone

from consent.reporting import ledger_export_rows, suppressed_digests
from pandorakart_wa.backoffice.selectors import DateRange

CHUNK_BYTES = 64 * 1024  # one write to the socket per ~64 KiB, not one per row
CURSOR_CHUNK = 2000
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

LEDGER_COLUMNS = (
    "event_id", "sequence", "hash", "prev_hash", "contact", "phone_digest", "purpose", "action", "source",
    "notice_version", "notice_sha256", "evidence_sha256", "actor_type", "actor", "occurred_at", "recorded_at",
)
SUPPRESSION_COLUMNS = ("phone_digest", "purpose", "reason", "since")
ALL_PURPOSES = "*"


def safe_cell(value: Any) -> str:
    """A CSV cell: ISO timestamps in UTC, and text that a spreadsheet cannot run as a formula."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def ledger_rows(date_range: DateRange) -> Iterator[tuple[Any, ...]]:
    """The ledger events that occurred in the range, in sequence (chain) order."""
    rows = ledger_export_rows(since=date_range.since, until=date_range.until, chunk_size=CURSOR_CHUNK)
    for uid, sequence, event_hash, prev_hash, contact_uid, *rest in rows:
        yield (f"ev_{uid.hex}", sequence, event_hash, prev_hash, f"c_{contact_uid.hex}", *rest)


def ledger_csv(date_range: DateRange) -> Iterator[str]:
    return csv_chunks(LEDGER_COLUMNS, ledger_rows(date_range))


def suppression_rows() -> Iterator[tuple[Any, ...]]:
    """Who must not be messaged, by digest: erased numbers (every purpose), blocked contacts
    (every purpose), then each purpose a contact opted out of. Contacts known only by Meta's
    user id (no digest) cannot be matched by number and are left out."""
    for digest, purpose, reason, since in suppressed_digests(chunk_size=CURSOR_CHUNK):
        yield digest, ALL_PURPOSES if purpose is None else purpose, reason, since


def suppression_csv() -> Iterator[str]:
    return csv_chunks(SUPPRESSION_COLUMNS, suppression_rows())


def export_filename(kind: str, date_range: DateRange | None = None) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    span = f"-{date_range.start:%Y%m%d}-{date_range.end:%Y%m%d}" if date_range else ""
    return f"pandorakart-{kind}{span}-{stamp}.csv"
