"""Consent notices (itemised, frozen once published) and the opt-out keywords staff edit."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from consent.keywords import normalize_keyword
from consent.ledger import canonical_json, sha256_hex
from consent.models import (
    ConsentNotice,
    OptOutKeyword,
)
from consent.services.common import ALL_PURPOSES, ConsentError, NoticePublished
from consent.types import Actor

logger = logging.getLogger(__name__)


@transaction.atomic
def keyword_save(*, keyword: OptOutKeyword) -> OptOutKeyword:
    """Create or change a keyword (the admin's save): stores its normalised form."""
    normalized = normalize_keyword(keyword.phrase)
    if not normalized:
        raise ConsentError("A keyword needs at least one letter.", field="phrase")
    if keyword.action == OptOutKeyword.KeywordAction.OPT_OUT and not keyword.scope:
        raise ConsentError("An opt-out keyword needs a scope.", field="scope")
    if keyword.action == OptOutKeyword.KeywordAction.PREFERENCES and keyword.reply_text and (
        "{link}" not in keyword.reply_text
    ):
        raise ConsentError("A preferences keyword's reply must contain {link} (the customer's link).",
                           field="reply_text")
    clash = OptOutKeyword.objects.filter(normalized=normalized).exclude(pk=keyword.pk).first()
    if clash is not None:
        raise ConsentError(f"{keyword.phrase!r} matches the existing keyword {clash.phrase!r}.", field="phrase")
    keyword.normalized = normalized
    keyword.save()
    return keyword


def _notice_content(notice: ConsentNotice) -> dict[str, Any]:
    return {
        "version": notice.version,
        "language": notice.language,
        "title": notice.title,
        "text": notice.text,
        "items": notice.items,
        "purposes": notice.purposes,
        "withdrawal_instructions": notice.withdrawal_instructions,
        "complaint_instructions": notice.complaint_instructions,
        "business_name": notice.business_name,
        "business_contact": notice.business_contact,
    }


NOTICE_FIELDS = (
    "version",
    "language",
    "title",
    "text",
    "items",
    "purposes",
    "withdrawal_instructions",
    "complaint_instructions",
    "business_name",
    "business_contact",
)


@transaction.atomic
def notice_save(*, notice: ConsentNotice) -> ConsentNotice:
    """Create or edit a draft notice. A published notice never changes (NoticePublished)."""
    if notice.pk is not None:
        stored = ConsentNotice.objects.select_for_update().get(pk=notice.pk)
        if stored.is_published:
            raise NoticePublished(stored)
    notice.published_at = None
    notice.text_sha256 = ""
    notice.save()
    return notice


def notice_problems(notice: ConsentNotice) -> dict[str, str]:
    """What a notice lacks before it may be published (DPDP s.5 / Rules r.3: itemised,
    withdrawal route, complaint route incl. the Board, business name and contact)."""
    problems: dict[str, str] = {}
    for name in ("title", "text", "withdrawal_instructions", "complaint_instructions", "business_name",
                 "business_contact", "language"):
        if not str(getattr(notice, name) or "").strip():
            problems[name] = "This field is required before publishing."
    if "data protection board" not in (notice.complaint_instructions or "").casefold() and (
        "डेटा संरक्षण बोर्ड" not in (notice.complaint_instructions or "")
    ):
        problems.setdefault("complaint_instructions", "Name the Data Protection Board of India as the complaint route.")
    purposes = notice.purposes if isinstance(notice.purposes, list) else []
    if not purposes or any(p not in ALL_PURPOSES for p in purposes):
        problems["purposes"] = f"List the purposes asked for, among: {', '.join(ALL_PURPOSES)}."
    items = notice.items if isinstance(notice.items, list) else []
    if not items:
        problems["items"] = "Itemise the personal data collected, each with its purposes."
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not item.get("data") or not item.get("purposes"):
            problems["items"] = f"Item {index + 1} needs 'data' and 'purposes'."
            break
        if any(p not in ALL_PURPOSES for p in item["purposes"]):
            problems["items"] = f"Item {index + 1} names an unknown purpose."
            break
    return problems


@transaction.atomic
def notice_publish(*, notice: ConsentNotice, actor: Actor) -> ConsentNotice:
    """Freeze a draft: from now on it can be cited by consents and never changes."""
    notice = ConsentNotice.objects.select_for_update().get(pk=notice.pk)
    if notice.is_published:
        raise NoticePublished(notice)
    problems = notice_problems(notice)
    if problems:
        field, message = next(iter(problems.items()))
        raise ConsentError(f"{field}: {message}", field=field)
    notice.text_sha256 = sha256_hex(canonical_json(_notice_content(notice)))
    notice.published_at = timezone.now()
    notice.save(update_fields=["text_sha256", "published_at", "updated_at"])
    logger.info("Consent notice %s published by %s", notice.version, actor.label)
    return notice
