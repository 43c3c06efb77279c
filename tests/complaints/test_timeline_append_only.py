"""On PostgreSQL the complaint timeline refuses UPDATE and DELETE at the database itself."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from complaints.models import ComplaintAction
from complaints.services.intake import complaint_create
from pandorakart_wa.core.audit import system_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "statement",
    ["UPDATE complaints_complaintaction SET note = 'rewritten' WHERE id = %s",
     "DELETE FROM complaints_complaintaction WHERE id = %s"],
)
def test_timeline_rows_cannot_be_changed_or_removed_in_sql(statement):
    # given a complaint with its first timeline entry
    complaint = complaint_create(channel="email", category="other", description="Late refund",
                                 actor=system_user("test"), acknowledge=False)
    entry = ComplaintAction.objects.filter(complaint=complaint).first()
    assert entry is not None
    # when someone edits or deletes it behind the services' back, then it is refused
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [entry.pk])
    entry.refresh_from_db()
    assert entry.note != "rewritten"
