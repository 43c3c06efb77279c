"""Phone numbers encrypted at rest: round trip, key rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection

from consent.models import Contact
from pandorakart_wa.core.fields import decrypt_str, encrypt_str, is_current
from tests.consent.factories import ContactFactory

pytestmark = pytest.mark.django_db


def raw_phone(contact: Contact) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone FROM consent_contact WHERE id = %s", [contact.pk])
        phone: str = cursor.fetchone()[0]
        return phone


def test_round_trip_and_ciphertext_at_rest():
    # given
    contact = ContactFactory(phone="+919227021270")
    # when read back
    fresh = Contact.objects.get(pk=contact.pk)
    # then the model sees the number, the column does not
    assert fresh.phone == "+919227021270"
    token = raw_phone(contact)
    assert "9227021270" not in token
    assert decrypt_str(token) == "+919227021270"


def test_ciphertext_cannot_be_filtered_on():
    with pytest.raises(TypeError, match="digest"):
        Contact.objects.filter(phone="+919227021270").exists()


def test_key_rotation_re_encrypts_with_the_newest_key(settings, capsys):
    # given rows written under the old key
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    contacts = [ContactFactory() for _ in range(5)]
    # when a new key is put first and the rotation command runs
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert not is_current(raw_phone(contacts[0]))
    assert Contact.objects.get(pk=contacts[0].pk).phone == contacts[0].phone  # old key still decrypts
    call_command("rotate_field_encryption", "--batch-size", "2")
    # then every row is under the new key alone
    assert "5 values re-encrypted" in capsys.readouterr().out
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    for contact in contacts:
        assert Contact.objects.get(pk=contact.pk).phone == contact.phone
    # and a second run has nothing left to do
    call_command("rotate_field_encryption")
    assert "0 values re-encrypted" in capsys.readouterr().out


def test_a_token_under_an_unknown_key_is_refused(settings):
    token = encrypt_str("+919227021270")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(InvalidToken):
        decrypt_str(token)
