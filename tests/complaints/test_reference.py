"""References CMP-YYYY-NNNNNN: sequential per year (India's calendar), reset each year, no
duplicates or gaps under concurrent intake."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from complaints.models import Complaint
from tests.complaints.factories import new_complaint


@pytest.mark.django_db
def test_references_are_sequential_within_a_year_and_restart_the_next():
    # given complaints at the end of 2026 and the start of 2027 (India time)
    late = dt.datetime(2026, 12, 31, 18, 0, tzinfo=dt.UTC)  # 23:30 in India
    early = dt.datetime(2026, 12, 31, 19, 0, tzinfo=dt.UTC)  # 00:30 on 1 Jan 2027 in India
    refs = [new_complaint(now=late).reference for _ in range(3)]
    refs.append(new_complaint(now=early).reference)
    refs.append(new_complaint(now=late).reference)
    # then each year counts on its own from 1
    assert refs == ["CMP-2026-000001", "CMP-2026-000002", "CMP-2026-000003", "CMP-2027-000001", "CMP-2026-000004"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_intakes_get_distinct_consecutive_numbers():
    # given 12 intakes at the same moment, each in its own connection and transaction
    now = dt.datetime(2026, 6, 1, 6, 0, tzinfo=dt.UTC)
    barrier = threading.Barrier(12)
    errors: list[BaseException] = []

    def intake() -> None:
        try:
            barrier.wait()
            new_complaint(now=now)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=intake) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then none failed, and the numbers are exactly 1..12
    assert errors == []
    assert sorted(Complaint.objects.values_list("number", flat=True)) == list(range(1, 13))
    assert Complaint.objects.values("reference").distinct().count() == 12
