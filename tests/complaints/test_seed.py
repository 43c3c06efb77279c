"""complaints.seed.seed_demo: demo complaints in different states, idempotent."""

from __future__ import annotations

import io

import pytest

from complaints.models import Acknowledgement, Complaint, IntakeTrigger, Status
from complaints.seed import seed_demo
from consent.seed import seed_demo as consent_seed

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_complaints_in_different_states_once(django_capture_on_commit_callbacks):
    consent_seed(io.StringIO())
    with django_capture_on_commit_callbacks(execute=True):
        seed_demo(io.StringIO())
    out = io.StringIO()
    seed_demo(out)
    assert "demo complaints present" in out.getvalue()
    assert sorted(Complaint.objects.values_list("status", flat=True)) == sorted(
        [Status.RECEIVED, Status.INVESTIGATING, Status.CLOSED]
    )
    owed = Complaint.objects.get(status=Status.RECEIVED)
    assert owed.acknowledgement == Acknowledgement.OWED and owed.acknowledgement_channel == "phone"
    assert IntakeTrigger.objects.filter(normalized="शिकायत").exists()
