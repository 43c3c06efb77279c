"""Public pages: the WhatsApp Business Policy in force and each earlier version (no login)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from profile.models import PolicyVersion
from profile.policy_text import policy_blocks
from profile.selectors import policy_current, policy_published, support_contacts

TEMPLATE = "profile/policy.html"


def _render(request: HttpRequest, version: PolicyVersion | None, *, status: int = 200) -> HttpResponse:
    current = policy_current()
    versions = list(policy_published().only("number", "title", "published_at"))
    return render(
        request,
        TEMPLATE,
        {
            "version": version,
            "current": current,
            "is_current": version is not None and current is not None and version.pk == current.pk,
            "blocks": policy_blocks(version.body) if version is not None else [],
            "versions": versions,
            "support": support_contacts(),
        },
        status=status,
    )


@require_safe
@cache_control(public=True, max_age=60)
def policy_current_view(request: HttpRequest) -> HttpResponse:
    version = policy_current()
    return _render(request, version, status=200 if version is not None else 404)


@require_safe
@cache_control(public=True, max_age=60)
def policy_version_view(request: HttpRequest, number: int) -> HttpResponse:
    version = policy_published().filter(number=number).first()
    return _render(request, version, status=200 if version is not None else 404)
