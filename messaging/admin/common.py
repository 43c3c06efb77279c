"""Shared by the template screens: the staff user, the lint table, the customer's preview."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from messaging.admin.widgets import BUTTON_TYPES as BUTTON_TYPE_LABELS
from messaging.models import (
    TemplateRevision,
)
from messaging.template_format import render

# An intermediate page asking for a reason (reject, release); kept here so the app ships no
# template directory of its own.
REASON_PAGE = """{% extends "admin/base_site.html" %}
{% block content %}
<form method="post">{% csrf_token %}
  <p>{{ question }}</p>
  <ul>{% for t in templates %}
    <li>{{ t }}{% if t.attention_reason %}: <em>{{ t.attention_reason }}</em>{% endif %}</li>
  {% endfor %}</ul>
  <p><textarea name="reason" rows="4" cols="90" required></textarea></p>
  {% for t in templates %}<input type="hidden" name="_selected_action" value="{{ t.pk }}">{% endfor %}
  <input type="hidden" name="action" value="{{ action }}">
  <input type="hidden" name="confirm" value="yes">
  <input type="submit" class="default" value="{{ title }}">
</form>
{% endblock %}"""


def staff_of(request: HttpRequest) -> AbstractBaseUser:
    """The signed-in staff user (the admin requires one) as the services' actor."""
    user = request.user
    assert isinstance(user, AbstractBaseUser)
    return user


def text_lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def lint_table(findings: Sequence[dict[str, str]]) -> SafeString | str:
    if not findings:
        return format_html('<span style="color:#2e7d32">{}</span>', "No findings: passes lint.")
    rows = format_html_join(
        "",
        '<tr><td style="color:{}"><b>{}</b></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>',
        (
            ("#c62828" if f["severity"] == "error" else "#ef6c00", f["severity"], f["component"], f["rule"], f["message"])
            for f in findings
        ),
    )
    return format_html("<table><tr><th>Severity</th><th>Component</th><th>Rule</th><th>Finding</th></tr>{}</table>", rows)


def preview(revision: TemplateRevision) -> dict[str, Any]:
    """The revision as the customer would read it, with the examples in place of {{n}}."""
    return {
        "header": render(revision.header_text, list(revision.header_examples or [])),
        "body": render(revision.body, list(revision.body_examples or [])),
        "footer": revision.footer,
        "buttons": [str(b.get("text") or dict(BUTTON_TYPE_LABELS).get(str(b.get("type", "")).upper(), ""))
                    for b in revision.buttons or [] if isinstance(b, dict)],
    }
