"""The customer's preference centre (API.md "Preference centre"): signed links and the one form.

A link names one contact by its random public id (never a phone number) and a language, signed
with Django's TimestampSigner under a salt of its own: a changed character breaks the signature,
and the signer's timestamp makes it expire after PREFERENCE_LINK_DAYS. Opening a bad link
changes nothing. Saving the form appends to the ledger through consent.services' own append,
under the contact's lock, in one transaction: the withdrawals first, then the new consents
under the notice in force, all with source `preference_centre` and the customer as the actor.

It uses consent/services/common.py's append and lock helpers, so there is still one way into the
ledger.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse

from consent.models import Action, ConsentEvent, ConsentNotice, ConsentState, Contact, Source, Status
from consent.preference_texts import DEFAULT_KEYWORD_REPLY, language_or_default
from consent.purposes import Purpose
from consent.selectors import notice_current
from consent.services.common import (
    ALL_PURPOSES,
    ConsentError,
    ContactErased,
    append,
    check_evidence,
    lock_contact,
    published_notice,
)
from consent.types import Actor
from pandorakart_wa.core.audit import ActorType
from pandorakart_wa.core.errors import ApplicationError

logger = logging.getLogger(__name__)

LINK_SALT = "consent.preference-centre.link.v1"  # a signature made for anything else never opens a link
LINK_PLACEHOLDER = "{link}"
DAYS_PLACEHOLDER = "{days}"


class LinkInvalid(ApplicationError):
    """Tampered, truncated, or naming no contact: the page answers 404."""


class LinkExpired(ApplicationError):
    """Signed by us, but older than PREFERENCE_LINK_DAYS: the page answers 410."""


class LinkGone(ApplicationError):
    """The contact was erased at their request: the link answers 410 and changes nothing."""


@dataclass(frozen=True)
class PreferenceLink:
    url: str
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class OpenedLink:
    contact: Contact
    language: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class PreferenceChange:
    """What one save of the form did: the purposes turned on and off, and their ledger events."""

    contact: Contact
    opted_in: list[str]
    opted_out: list[str]
    events: list[ConsentEvent] = field(default_factory=list)


def _lifetime() -> timedelta:
    return timedelta(days=settings.PREFERENCE_LINK_DAYS)


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=LINK_SALT)


def preference_link_issue(*, contact: Contact, language: str = "en") -> PreferenceLink:
    """A signed link to `contact`'s preference centre, in `language` (en or hi), valid for
    PREFERENCE_LINK_DAYS. Writes nothing: the link is its own proof."""
    if contact.erased:
        raise ContactErased()
    issued = int(time.time())
    token = _signer().sign_object({"c": contact.uid.hex, "l": language_or_default(language), "i": issued},
                                  compress=True)
    url = settings.PUBLIC_BASE_URL + reverse("preference-centre", kwargs={"token": token})
    expires_at = datetime.fromtimestamp(issued, tz=UTC) + _lifetime()
    logger.info("Preference link issued for contact %s (expires %s)", contact.pk, expires_at.isoformat())
    return PreferenceLink(url=url, token=token, expires_at=expires_at)


def preference_link_open(token: str) -> OpenedLink:
    """The contact and language a link names; LinkInvalid, LinkExpired or LinkGone otherwise."""
    signer = _signer()
    try:
        payload = signer.unsign_object(token, max_age=_lifetime())
    except signing.SignatureExpired as exc:
        raise LinkExpired() from exc
    except (signing.BadSignature, ValueError, UnicodeDecodeError) as exc:  # a bad payload under a good signature
        raise LinkInvalid() from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("c"), str):
        raise LinkInvalid()
    uid = _uuid_or_none(payload["c"])
    contact = Contact.objects.filter(uid=uid).first() if uid is not None else None
    if contact is None:
        raise LinkInvalid()
    if contact.erased:
        raise LinkGone()
    issued_at = datetime.fromtimestamp(int(payload.get("i") or 0), tz=UTC)
    return OpenedLink(contact=contact, language=language_or_default(payload.get("l")), issued_at=issued_at,
                      expires_at=issued_at + _lifetime())


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(hex=value)
    except ValueError:
        return None


def preference_notice(language: str) -> ConsentNotice | None:
    """The notice in force for the page: the latest published one in the customer's language,
    else the English one."""
    return notice_current(language=language) or notice_current(language="en")


def _customer(contact: Contact) -> Actor:
    return Actor(ActorType.CUSTOMER, contact.public_id, "preference centre (signed link)")


@transaction.atomic
def consent_preferences_save(
    *,
    contact: Contact,
    chosen: Sequence[str],
    notice: ConsentNotice,
    evidence: Mapping[str, Any] | None = None,
) -> PreferenceChange:
    """The customer saved the form with `chosen` ticked: every purpose they held and left
    unticked is withdrawn, every newly ticked one is consented to under `notice` (which must be
    published and list it). Purposes they already held as ticked, or never held and left
    unticked, write nothing. Refuses (ConsentError on `purpose`) before writing anything."""
    unknown = [p for p in chosen if p not in ALL_PURPOSES]
    if unknown:
        raise ConsentError(f"Unknown purposes: {', '.join(map(str, unknown))}.", field="purpose")
    published = published_notice(notice)
    evidence_data = check_evidence(evidence)
    contact = lock_contact(contact)
    if contact.erased:
        raise ContactErased()
    held = {
        s.purpose
        for s in ConsentState.objects.filter(contact=contact, status=Status.OPTED_IN)
    }
    wanted = set(chosen)
    withdraw = [p for p in ALL_PURPOSES if p in held and p not in wanted]
    give = [p for p in ALL_PURPOSES if p in wanted and p not in held]
    not_offered = [p for p in give if p not in (published.purposes or [])]
    if not_offered:
        raise ConsentError(
            f"The notice in force ({published.version}) does not ask for: {', '.join(not_offered)}.", field="purpose"
        )
    actor = _customer(contact)
    events = append(contact=contact, action=Action.OPT_OUT, items=[(p, None) for p in withdraw],
                     source=Source.PREFERENCE_CENTRE, actor=actor, evidence=evidence_data)
    events += append(contact=contact, action=Action.OPT_IN, items=[(p, published) for p in give],
                      source=Source.PREFERENCE_CENTRE, actor=actor, evidence=evidence_data)
    if events:
        logger.info("Preference centre: contact %s turned on %s, off %s", contact.pk, give or "-", withdraw or "-")
    return PreferenceChange(contact=contact, opted_in=give, opted_out=withdraw, events=events)


def preference_purposes(contact: Contact) -> dict[str, ConsentState]:
    return {s.purpose: s for s in ConsentState.objects.filter(contact=contact, purpose__in=Purpose.values)}


def preference_keyword_reply(*, contact: Contact, reply_text: str, language: str) -> str | None:
    """The WhatsApp reply to a preferences keyword: staff's text (or the default) with {link}
    replaced by a fresh signed link and {days} by its lifetime. None for an erased contact."""
    if contact.erased:
        return None
    language = language_or_default(language)
    link = preference_link_issue(contact=contact, language=language)
    text = reply_text.strip() or DEFAULT_KEYWORD_REPLY[language]
    if LINK_PLACEHOLDER not in text:
        text = f"{text} {LINK_PLACEHOLDER}"
    return text.replace(LINK_PLACEHOLDER, link.url).replace(DAYS_PLACEHOLDER, str(settings.PREFERENCE_LINK_DAYS))

