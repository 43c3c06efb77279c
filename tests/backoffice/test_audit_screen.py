"""The global audit screen: who may open it, read-only for everyone, its filters, readable changes,
and the audit-trail link on object pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from pandorakart_wa.core.api.keys import api_key_create
from pandorakart_wa.core.audit import CELERY, META_WEBHOOK, acting_as, log_access, system_user
from pandorakart_wa.core.correlation import set_correlation_id
from pandorakart_wa.core.models import StorefrontApiKey

pytestmark = pytest.mark.django_db

SCREEN = "/admin/auditlog/logentry/"


def _rename(api_key: StorefrontApiKey, name: str, *, actor, cid: str) -> LogEntry:
    set_correlation_id(cid)
    try:
        with acting_as(actor):
            api_key.name = name
            api_key.save()
    finally:
        set_correlation_id(None)
    return LogEntry.objects.get_for_object(api_key).latest("timestamp")


def _listed(client, query: str = "") -> list[LogEntry]:
    response = client.get(f"{SCREEN}?{query}")
    assert response.status_code == 200, response.status_code
    return list(response.context["cl"].result_list)


@pytest.fixture
def trail(staff):
    """Three changes by three kinds of actor, and an API-key change, with known correlation ids."""
    officer = staff("officer", username="officer-alice")
    api_key, _ = api_key_create(name="storefront")
    entries = {
        "staff": _rename(api_key, "by-staff", actor=officer, cid="cid-staff"),
        "meta": _rename(api_key, "by-meta", actor=system_user(META_WEBHOOK), cid="cid-meta"),
        "task": _rename(api_key, "by-task", actor=system_user(CELERY), cid="cid-task"),
        "api_key": _rename(api_key, "by-key", actor=api_key.actor, cid="cid-key"),
    }
    return officer, api_key, entries


@pytest.mark.parametrize(("role", "status"), [("officer", 200), ("auditor", 200), ("support", 403), ("marketing", 403)])
def test_who_may_open_the_audit_screen(client_as, role, status):
    # given / when
    response = client_as(role).get(SCREEN)
    # then
    assert response.status_code == status


def test_admin_audit_url_leads_to_the_screen_keeping_filters(client_as):
    response = client_as("auditor").get("/admin/audit/?cid=abc")
    assert response.status_code == 302
    assert response.url == f"{SCREEN}?cid=abc"


@pytest.mark.parametrize("role", ["officer", "auditor", "superuser"])
def test_audit_screen_is_read_only_for_everyone(client_as, otp_client, staff, trail, role):
    # given
    client = otp_client(staff("officer", is_superuser=True)) if role == "superuser" else client_as(role)
    entry = trail[2]["staff"]
    # when / then: no add, change or delete, no bulk actions
    assert client.get(f"{SCREEN}add/").status_code == 403
    detail = client.get(f"{SCREEN}{entry.pk}/change/")
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert client.post(f"{SCREEN}{entry.pk}/change/", {"action": 0}).status_code == 403
    assert client.post(f"{SCREEN}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(SCREEN, {"action": "delete_selected", "_selected_action": [entry.pk]}).status_code in (200, 302)
    assert LogEntry.objects.filter(pk=entry.pk).exists()
    assert _listed(client) and client.get(SCREEN).context["action_form"] is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("actor_kind=staff", {"staff"}),
        ("actor_kind=meta", {"meta"}),
        ("actor_kind=system", {"task"}),
        ("actor_kind=api_key", {"api_key"}),
        ("cid=cid-meta", {"meta"}),
    ],
)
def test_filters_by_actor_kind_and_correlation_id(client_as, trail, query, expected):
    # given the trail; when
    listed = _listed(client_as("auditor"), query)
    # then only the API key's entries of that kind (the fixture's staff users add their own)
    key_entries = {name for name, entry in trail[2].items() if entry in listed}
    assert key_entries == expected


def test_filter_by_actor_model_and_object(client_as, trail):
    officer, api_key, entries = trail
    client = client_as("auditor")
    ct = ContentType.objects.get_for_model(StorefrontApiKey)
    # when / then
    assert _listed(client, f"actor={officer.pk}") == [entries["staff"]]
    by_model = _listed(client, f"resource_type={ct.pk}")
    assert set(by_model) >= set(entries.values())
    assert all(e.content_type_id == ct.pk for e in by_model)
    other_key, _ = api_key_create(name="other")
    all_of_key = set(LogEntry.objects.get_for_object(api_key))  # its creation and the four renames
    assert len(all_of_key) == 5
    assert set(_listed(client, f"resource_type={ct.pk}&object_pk={api_key.pk}")) == all_of_key
    assert _listed(client, f"object_pk={other_key.pk}&actor_kind=staff") == []


def test_filter_by_date_range(client_as, trail):
    # given an entry from ten days ago
    old = trail[2]["meta"]
    LogEntry.objects.filter(pk=old.pk).update(timestamp=timezone.now() - timedelta(days=10))
    today = timezone.localdate()
    client = client_as("auditor")
    # when / then
    recent = _listed(client, f"date_from={today - timedelta(days=1)}")
    assert old not in recent and trail[2]["staff"] in recent
    past = _listed(client, f"date_from={today - timedelta(days=11)}&date_to={today - timedelta(days=9)}")
    assert past == [old]


def test_bad_filter_values_do_not_break_the_screen(client_as, trail):
    client = client_as("auditor")
    for query in ("date_from=yesterday", "actor=alice", "resource_type=x"):
        response = client.get(f"{SCREEN}?{query}")
        assert response.status_code == 302  # the admin's "?e=1" redirect for bad lookups
        assert "e=1" in response.url


def test_changes_are_shown_readably(client_as, trail):
    response = client_as("auditor").get(f"{SCREEN}?cid=cid-meta")
    html = response.content.decode()
    assert "Name: by-staff → by-meta" in html  # the field by its verbose name
    assert "Meta webhook" in html
    detail = client_as("auditor").get(f"{SCREEN}{trail[2]['meta'].pk}/change/").content.decode()
    assert "by-staff" in detail and "by-meta" in detail


def test_access_entries_show_what_was_accessed(client_as, trail):
    officer, api_key, _ = trail
    log_access(user=officer, obj_or_label=api_key, what="revealed full phone number", correlation_id="cid-reveal")
    html = client_as("auditor").get(f"{SCREEN}?cid=cid-reveal").content.decode()
    assert "revealed full phone number" in html


def test_staff_email_is_masked_and_password_never_logged(client_as, staff):
    user = staff("support", username="bob")
    user.set_password("another-password-123")
    user.email = "bob.secret@pandorakart.com"
    user.save()
    changes = [e.changes_dict for e in LogEntry.objects.get_for_object(user)]
    assert all("password" not in c for c in changes)
    assert not any("bob.secret@pandorakart.com" in str(c) for c in changes)


def test_object_pages_link_to_their_audit_trail(client_as, trail):
    _, api_key, _ = trail
    client = client_as("officer")
    page = client.get(f"/admin/core/storefrontapikey/{api_key.pk}/change/").content.decode()
    assert 'class="auditlink"' in page
    history = client.get(f"/admin/core/storefrontapikey/{api_key.pk}/auditlog/")
    assert history.status_code == 200
    assert "by-meta" in history.content.decode()


def test_global_object_link_filters_the_screen(client_as, trail):
    _, api_key, entries = trail
    client = client_as("auditor")
    response = client.get(f"/admin/audit/object/core/storefrontapikey/{api_key.pk}/")
    assert response.status_code == 302
    assert set(_listed(client, response.url.split("?", 1)[1])) == set(LogEntry.objects.get_for_object(api_key))
    assert set(entries.values()) <= set(LogEntry.objects.get_for_object(api_key))


def test_object_history_needs_view_permission_on_the_object(client_as, trail):
    _, api_key, _ = trail
    assert client_as("support").get(f"/admin/core/storefrontapikey/{api_key.pk}/auditlog/").status_code == 403


@pytest.mark.parametrize(
    ("role", "sees", "hidden"),
    [
        ("auditor", ["Audit trail", "Staff users", "Storefront API keys"], ["Add user"]),
        ("officer", ["Audit trail", "Storefront API keys"], ["Add user"]),
        ("support", [], ["Audit trail", "Staff users", "Storefront API keys"]),
        ("marketing", [], ["Audit trail", "Staff users", "Storefront API keys"]),
    ],
)
def test_admin_index_shows_what_the_role_permits(client_as, role, sees, hidden):
    html = client_as(role).get("/admin/").content.decode()
    for text in sees:
        assert text in html
    for text in hidden:
        assert text not in html


def test_auditor_cannot_change_an_api_key(client_as, trail):
    _, api_key, _ = trail
    client = client_as("auditor")
    page = client.get(f"/admin/core/storefrontapikey/{api_key.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    response = client.post(f"/admin/core/storefrontapikey/{api_key.pk}/change/", {"name": "x", "revoked": "on"})
    assert response.status_code == 403
    api_key.refresh_from_db()
    assert not api_key.revoked
