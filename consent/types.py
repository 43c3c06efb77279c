"""Small value types shared by consent's services, selectors and callers in other apps (`Actor`, who
made a change, is the project's one actor type: pandorakart_wa/core/audit.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from pandorakart_wa.core.audit import Actor

__all__ = ["Actor", "ConsentReceipt", "Decision", "InboundKeyword", "InboundOptOut", "InboundOutcome",
           "KeywordResult", "PolicyCode"]

if TYPE_CHECKING:
    from consent.models import ConsentEvent, Contact


class PolicyCode:
    """API.md's 422 policy codes that consent answers (also the reasons of a Decision)."""

    CONSENT_MISSING = "consent_missing"
    OPTED_OUT = "opted_out"
    CONTACT_BLOCKED = "contact_blocked"
    CONTACT_ERASED = "contact_erased"


@dataclass(frozen=True)
class Decision:
    """May we message this contact for this purpose? `reason` is a PolicyCode when not."""

    allowed: bool
    reason: str | None = None


@dataclass(frozen=True)
class ConsentReceipt:
    """What a consent service wrote: the contact and the ledger events (possibly none)."""

    contact: Contact
    events: list[ConsentEvent] = field(default_factory=list)
    created: bool = False  # the contact was first seen in this call


@dataclass(frozen=True)
class KeywordResult:
    """An inbound message that was a consent keyword, and what it changed.

    Messaging sends `reply_text` back inside the service window (the confirmation API.md asks
    for); `purposes` is empty when nothing changed (e.g. START with nothing to restore).
    """

    contact: Contact
    keyword: str
    action: str
    purposes: list[str]
    events: list[ConsentEvent]
    reply_text: str
    language: str


@dataclass(frozen=True)
class InboundKeyword:
    """A consent keyword matched at the webhook's intake (the match travels with the update,
    so applying it never matches again)."""

    phrase: str
    action: str  # OptOutKeyword.KeywordAction
    scope: str  # a purpose, or "*" / "" for every purpose
    reply_text: str = ""
    language: str = "en"


@dataclass(frozen=True)
class InboundOutcome:
    """What an inbound WhatsApp message did to consent."""

    contact: Contact | None  # None: the update named no one (no wa_id, no BSUID)
    result: KeywordResult | None = None  # the keyword it was, and what it changed
    superseded: bool = False  # Meta's timestamps show a later, opposite decision already applied


@dataclass(frozen=True)
class InboundOptOut:
    """One opt-out keyword from a customer's WhatsApp number, for consent_apply_inbound_opt_outs."""

    wa_id: str
    user_id: str
    wamid: str
    at: datetime
    keyword: InboundKeyword
    record_window: bool = True
