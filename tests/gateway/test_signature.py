from __future__ import annotations

import hashlib
import hmac

from pandorakart_wa.whatsapp.signature import sign, verify_signature

SECRET = "test-app-secret"
BODY = b'{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[]}]}'


def _meta_header(body: bytes, secret: str = SECRET) -> str:
    """What Meta sends, computed independently of the code under test."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_valid_signature_is_accepted():
    # given the header Meta computes over the raw body
    header = _meta_header(BODY)
    # when / then
    assert verify_signature(BODY, header, SECRET) is True
    assert sign(BODY, SECRET) == header


def test_signature_with_another_secret_is_rejected():
    # given a header signed with a different app secret
    header = _meta_header(BODY, "someone-elses-secret")
    # when / then
    assert verify_signature(BODY, header, SECRET) is False


def test_wrong_hex_digest_is_rejected():
    # given a well-formed header whose digest is off by one character
    good = _meta_header(BODY)
    wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
    # when / then
    assert verify_signature(BODY, wrong, SECRET) is False


def test_missing_header_is_rejected():
    assert verify_signature(BODY, None, SECRET) is False
    assert verify_signature(BODY, "", SECRET) is False


def test_sha1_prefix_is_rejected_even_with_a_matching_sha1_digest():
    # given Meta's legacy X-Hub-Signature (sha1) value for the same body
    header = "sha1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()
    # when / then
    assert verify_signature(BODY, header, SECRET) is False


def test_sha256_digest_without_prefix_is_rejected():
    header = _meta_header(BODY).removeprefix("sha256=")
    assert verify_signature(BODY, header, SECRET) is False


def test_body_changed_by_one_byte_is_rejected():
    # given a valid header for the original body
    header = _meta_header(BODY)
    # when one byte of the body changes (as a re-serialising proxy would do)
    tampered = BODY.replace(b"102290129340398", b"102290129340399")
    assert len(tampered) == len(BODY)
    # then
    assert verify_signature(tampered, header, SECRET) is False


def test_empty_secret_never_verifies():
    # given a header computed with an empty key (what an unconfigured server would accept)
    header = _meta_header(BODY, "")
    # when / then
    assert verify_signature(BODY, header, "") is False
