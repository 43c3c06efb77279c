"""The customer's preference centre page (no login: the signed link is the key).

GET shows each purpose in plain words with its state and the notice in force, in one form;
POST applies the ticked boxes (consent.preferences) and shows the new state. An invalid link
answers 404, an expired one or an erased customer's 410, and changes nothing. The page is never
cached, never indexed, and sends no Referer to other sites (the link is in its address).
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from consent.models import ConsentNotice, Status
from consent.preference_texts import LANGUAGES, PURPOSE_WORDS, WORDS, language_or_default
from consent.preferences import (
    LinkExpired,
    LinkGone,
    LinkInvalid,
    OpenedLink,
    PreferenceChange,
    consent_preferences_save,
    preference_link_open,
    preference_notice,
    preference_purposes,
)
from consent.purposes import Purpose
from consent.services.common import ConsentError, ContactErased

logger = logging.getLogger(__name__)

EVIDENCE_USER_AGENT_MAX = 500


def _private(response: HttpResponse) -> HttpResponse:
    # same-origin, not no-referrer: other sites never see the link, and the form's own POST
    # keeps its Origin (with no-referrer browsers send "Origin: null" and CSRF refuses it)
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _error(request: HttpRequest, kind: str, status: int) -> HttpResponse:
    # Shown in both languages: a link we cannot read tells us nothing of the customer's language.
    pages = [{"lang": code, "words": WORDS[code], "message": WORDS[code][f"error_{kind}"]} for code in LANGUAGES]
    response = TemplateResponse(request, "consent/preferences_error.html", {"pages": pages}, status=status)
    return _private(response.render())


def _language(request: HttpRequest, opened: OpenedLink) -> str:
    asked = request.GET.get("lang") or request.POST.get("lang")
    return language_or_default(asked) if asked else opened.language


def _rows(opened: OpenedLink, notice: ConsentNotice | None, language: str) -> list[dict[str, Any]]:
    states = preference_purposes(opened.contact)
    offered = set(notice.purposes if notice is not None else [])
    rows = []
    for purpose in Purpose.values:
        title, description = PURPOSE_WORDS[language][purpose]
        state = states.get(purpose)
        status = state.status if state is not None else Status.NONE
        rows.append({
            "purpose": purpose,
            "title": title,
            "description": description,
            "status": status,
            "since": state.since if state is not None else None,
            "checked": status == Status.OPTED_IN,
            # a purpose the notice does not ask for can be switched off, never on
            "offered": purpose in offered or status == Status.OPTED_IN,
            "not_offered": purpose not in offered,
        })
    return rows


def _render(request: HttpRequest, opened: OpenedLink, language: str, *, status: int = 200,
            change: PreferenceChange | None = None, error: str = "") -> HttpResponse:
    notice = preference_notice(language)
    words = WORDS[language]
    other = next(code for code in LANGUAGES if code != language)
    context = {
        "lang": language,
        "words": words,
        "other_lang": other,
        "phone": opened.contact.masked_phone,
        "rows": _rows(opened, notice, language),
        "notice": notice,
        "expires_at": opened.expires_at,
        "change": change,
        "turned_on": [PURPOSE_WORDS[language][p][0] for p in (change.opted_in if change else [])],
        "turned_off": [PURPOSE_WORDS[language][p][0] for p in (change.opted_out if change else [])],
        "error": error,
    }
    response = TemplateResponse(request, "consent/preferences.html", context, status=status)
    return _private(response.render())


def _evidence(request: HttpRequest, opened: OpenedLink, language: str, notice: ConsentNotice,
              chosen: list[str]) -> dict[str, Any]:
    """What proves this save (DPDP s.6(10)): the page, its language and notice, the boxes ticked,
    the link's issue time, and the browser's address and user agent (encrypted at rest)."""
    return {
        "page": "preference_centre",
        "language": language,
        "notice_shown": notice.version,
        "ticked": chosen,
        "link_issued_at": opened.issued_at.isoformat(),
        "ip": request.META.get("REMOTE_ADDR", ""),
        "user_agent": request.headers.get("User-Agent", "")[:EVIDENCE_USER_AGENT_MAX],
    }


@never_cache
@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def preference_centre(request: HttpRequest, token: str) -> HttpResponse:
    try:
        opened = preference_link_open(token)
    except LinkInvalid:
        return _error(request, "invalid", 404)
    except LinkExpired:
        return _error(request, "expired", 410)
    except LinkGone:
        return _error(request, "gone", 410)
    language = _language(request, opened)
    if request.method != "POST":
        return _render(request, opened, language)
    chosen = [p for p in request.POST.getlist("purpose") if p]
    notice = preference_notice(language)
    if notice is None:
        return _render(request, opened, language, status=503, error="No consent notice is published yet.")
    try:
        change = consent_preferences_save(
            contact=opened.contact, chosen=chosen, notice=notice,
            evidence=_evidence(request, opened, language, notice, chosen),
        )
    except ContactErased:
        return _error(request, "gone", 410)
    except ConsentError as exc:
        return _render(request, opened, language, status=400, error=str(exc))
    return _render(request, opened, language, change=change)
