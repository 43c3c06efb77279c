"""What identifies or describes a customer is ciphertext in the database (read with SQL), old
plaintext rows are encrypted in place, and key rotation reaches every encrypted column."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import IntegrityError, InternalError, connection, transaction
from django.db.utils import DatabaseError

from complaints.models import Complaint, ComplaintAction, Outcome
from complaints.services.handling import complaint_customer_message
from complaints.services.workflow import complaint_resolve
from consent.models import ConsentEvidence, Contact
from pandorakart_wa.core.fields import encrypt_plaintext_rows
from pandorakart_wa.management.commands.rotate_field_encryption import encrypted_columns
from pandorakart_wa.webhooks.models import WebhookEvent, WebhookItem
from tests.complaints.factories import new_complaint, system

pytestmark = pytest.mark.django_db

PHONE = "+919227021270"
SECRETS = {
    "description": "My neighbour Sunita Rao gets my order PK-77123 details",
    "name": "Ravindra Kulkarni",
    "reply": "ravindra.k@example.in",
    "customer_text": "Please also delete my address 14 MG Road",
    "resolution": "We removed the number 9811122233 from every list",
    "ip": "203.0.113.77",
}
FERNET_PREFIX = "gAAAAA"  # a Fernet token: version byte 0x80, then the timestamp


def sql(query: str, *params: str | int) -> list[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return list(cursor.fetchall()) if cursor.description else []


@pytest.fixture
def notices(db):
    from consent.seed import seed_notices

    return seed_notices()


@pytest.fixture
def customer_data(api_client, notices):
    api_client.post("/api/v1/consents/opt-in", {
        "phone": PHONE, "purposes": ["marketing"], "notice_version": "2026-11-01-en", "source": "checkout",
        "evidence": {"ip": SECRETS["ip"], "user_agent": "Mozilla/5.0 (Linux; Android 14)"}}, format="json")
    response = api_client.post("/api/v1/complaints", {
        "phone": PHONE, "channel": "website", "category": "privacy", "description": SECRETS["description"],
        "name": SECRETS["name"]}, format="json")
    assert response.status_code == 201, response.json()
    complaint = Complaint.objects.get(reference=response.json()["reference"])
    complaint_customer_message(complaint=complaint, text=SECRETS["customer_text"], wamid="wamid.ENC1", actor=system())
    complaint_resolve(complaint=complaint, outcome=Outcome.RESOLVED_OTHER, resolution=SECRETS["resolution"],
                      actor=system())
    anonymous = new_complaint(description="Anonymous caller", contact_details=SECRETS["reply"])
    return complaint, anonymous


def test_the_encrypted_columns_hold_no_plaintext(customer_data):
    complaint, anonymous = customer_data
    # when the database is read as a DBA would
    columns = {
        "complaints_complaint": ["description", "customer_name", "contact_details", "resolution", "evidence"],
        "complaints_complaintaction": ["note"],
        "consent_consentevidence": ["data"],
    }
    dump = []
    for table, names in columns.items():
        for row in sql(f"SELECT {', '.join(names)} FROM {table}"):  # noqa: S608 - fixed names
            for name, value in zip(names, row, strict=True):
                if value not in (None, ""):
                    # then every value is a Fernet token
                    assert str(value).startswith(FERNET_PREFIX), (table, name, value)
                    dump.append(str(value))
    text = "\n".join(dump)
    for secret in SECRETS.values():
        assert secret not in text
    assert len(dump) >= 10
    # and the application reads them back as they were given
    fresh = Complaint.objects.get(pk=complaint.pk)
    assert (fresh.description, fresh.customer_name, fresh.resolution) == (
        SECRETS["description"], SECRETS["name"], SECRETS["resolution"])
    assert fresh.evidence["complaint"]["description"] == SECRETS["description"]
    assert Complaint.objects.get(pk=anonymous.pk).contact_details == SECRETS["reply"]
    assert SECRETS["customer_text"] in [a.note for a in fresh.actions.all()]
    assert ConsentEvidence.objects.get().data["ip"] == SECRETS["ip"]


def test_what_the_dashboard_aggregates_stays_plain(customer_data):
    complaint, _ = customer_data
    assert sql("SELECT status, channel, category FROM complaints_complaint WHERE id = %s", complaint.pk) == [
        ("resolved", "website", "privacy")]


def test_rows_written_before_the_migration_are_encrypted_in_place(customer_data):
    # given rows as the earlier schema left them: plain text (written past the field, with SQL)
    complaint, _ = customer_data
    action = complaint.actions.get(kind=ComplaintAction.Kind.CUSTOMER_MESSAGE)
    with transaction.atomic():
        sql("UPDATE complaints_complaint SET description = %s, evidence = %s WHERE id = %s",
            "plain words", '{"old": "snapshot"}', complaint.pk)
        sql("SET LOCAL pandorakart.reencrypt = 'on'")
        sql("UPDATE complaints_complaintaction SET note = %s WHERE id = %s", "a plain note", action.pk)
        sql("UPDATE consent_consentevidence SET data = %s", '{"ip": "198.51.100.1"}')
    # when the data migrations' step runs (twice: the second finds nothing to do)
    done = (encrypt_plaintext_rows(Complaint, ["description", "evidence"])
            + encrypt_plaintext_rows(ComplaintAction, ["note"]) + encrypt_plaintext_rows(ConsentEvidence, ["data"]))
    again = encrypt_plaintext_rows(Complaint, ["description", "evidence"])
    # then
    assert (done, again) == (4, 0)
    raw = sql("SELECT description, evidence FROM complaints_complaint WHERE id = %s", complaint.pk)[0]
    assert all(str(v).startswith(FERNET_PREFIX) for v in raw)
    fresh = Complaint.objects.get(pk=complaint.pk)
    assert (fresh.description, fresh.evidence) == ("plain words", {"old": "snapshot"})
    assert ComplaintAction.objects.get(pk=action.pk).note == "a plain note"
    assert ConsentEvidence.objects.get().data == {"ip": "198.51.100.1"}


def test_the_timeline_stays_append_only_but_for_re_encryption(customer_data):
    complaint, _ = customer_data
    action = complaint.actions.first()
    # an UPDATE without the re-encryption flag, or one that changes more than the note, is refused
    for flag, assignment in (("off", "note = 'x'"), ("on", "kind = 'note'"), ("on", "note = 'x', internal = NOT internal")):
        with pytest.raises((InternalError, IntegrityError, DatabaseError)), transaction.atomic():
            sql(f"SET LOCAL pandorakart.reencrypt = '{flag}'")
            sql(f"UPDATE complaints_complaintaction SET {assignment} WHERE id = %s", action.pk)  # noqa: S608
    with pytest.raises((InternalError, IntegrityError, DatabaseError)), transaction.atomic():
        sql("SET LOCAL pandorakart.reencrypt = 'on'")
        sql("DELETE FROM complaints_complaintaction WHERE id = %s", action.pk)


def test_rotation_reaches_every_encrypted_column(customer_data, settings, capsys):
    # given every encrypted column is known to the command, including the reply address it missed
    columns = {model._meta.label: set(fields) for model, fields in encrypted_columns().items()}
    assert columns["complaints.Complaint"] == {"description", "customer_name", "contact_details", "resolution",
                                               "evidence"}
    assert columns["complaints.ComplaintAction"] == {"note"}
    assert columns["consent.ConsentEvidence"] == {"data"}
    assert columns["consent.Contact"] == {"phone", "wa_id"}
    assert columns[WebhookEvent._meta.label] == {"body_token"}
    assert columns[WebhookItem._meta.label] == {"payload"}
    # when a new key is put first, the command runs and the old key is dropped
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_field_encryption")
    assert "complaints.ComplaintAction: " in capsys.readouterr().out
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    # then everything still reads
    complaint, anonymous = customer_data
    fresh = Complaint.objects.get(pk=complaint.pk)
    assert fresh.description == SECRETS["description"] and fresh.evidence["complaint"]["reference"]
    assert Complaint.objects.get(pk=anonymous.pk).contact_details == SECRETS["reply"]
    assert SECRETS["customer_text"] in [a.note for a in ComplaintAction.objects.all()]
    assert ConsentEvidence.objects.get().data["ip"] == SECRETS["ip"]
    assert Contact.objects.get().phone == PHONE
