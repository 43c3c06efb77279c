"""log_access: reveals and exports in the audit trail, and system actors across tasks."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType

from pandorakart_wa.core.api.keys import api_key_create
from pandorakart_wa.core.audit import CELERY, META_WEBHOOK, acting_as, log_access, system_user
from pandorakart_wa.core.correlation import set_correlation_id
from pandorakart_wa.core.models import StorefrontApiKey

pytestmark = pytest.mark.django_db


def test_reveal_of_an_object_is_an_access_entry_with_actor_and_current_cid(staff):
    # given an officer and an object, inside a request with a correlation id
    officer = staff("officer")
    api_key, _ = api_key_create(name="storefront")
    set_correlation_id("cid-request-1")
    try:
        # when
        entry = log_access(user=officer, obj_or_label=api_key, what="revealed full phone number")
    finally:
        set_correlation_id(None)
    # then
    entry.refresh_from_db()
    assert entry.action == LogEntry.Action.ACCESS
    assert entry.actor == officer
    assert entry.cid == "cid-request-1"
    assert entry.content_type == ContentType.objects.get_for_model(StorefrontApiKey)
    assert entry.object_pk == str(api_key.pk)
    assert entry.additional_data == {"what": "revealed full phone number"}
    assert entry in LogEntry.objects.get_for_object(api_key)


def test_export_of_a_kind_of_record_with_details_and_explicit_cid(staff):
    officer = staff("auditor")
    entry = log_access(
        user=officer,
        obj_or_label=Group,
        what="exported roles CSV",
        correlation_id="cid-export",
        details={"rows": 4},
    )
    assert entry.object_pk == ""
    assert entry.object_repr == "groups"
    assert entry.cid == "cid-export"
    assert entry.additional_data == {"what": "exported roles CSV", "rows": 4}


def test_free_label_and_current_actor(staff):
    # given no explicit user: the current audit actor is recorded
    task_user = system_user(CELERY)
    with acting_as(task_user):
        entry = log_access(user=None, obj_or_label="evidence pack +91******1270", what="exported evidence pack")
    assert entry.actor == task_user
    assert entry.object_repr == "evidence pack +91******1270"
    assert entry.content_type == ContentType.objects.get_for_model(LogEntry)


def test_no_actor_at_all_is_recorded_as_none(db):
    entry = log_access(user=None, obj_or_label="nightly export", what="exported consent ledger")
    assert entry.actor is None


def test_sequential_acting_as_blocks_each_record_their_actor(db):
    # given two system tasks run one after the other in the same thread (a Celery worker)
    api_key, _ = api_key_create(name="storefront")
    for name, actor_name in (("first", CELERY), ("second", META_WEBHOOK)):
        # when
        with acting_as(system_user(actor_name)):
            api_key.name = name
            api_key.save()
    # then the second change is not left without an actor (auditlog's stale context)
    latest = LogEntry.objects.get_for_object(api_key).order_by("-pk")[:2]
    assert [e.actor.username for e in latest] == [f"system:{META_WEBHOOK}", f"system:{CELERY}"]
