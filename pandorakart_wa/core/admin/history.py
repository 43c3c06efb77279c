"""How an audit-log entry reads to staff: who acted, which fields changed from what to what (with
personal data masked and related objects named), and what an ACCESS entry records. Used by every
admin's per-object history (mixins.AuditTrailMixin) and by the audit screen
(pandorakart_wa/backoffice/admin/audit.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from auditlog.diff import mask_str
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import capfirst

from pandorakart_wa.core.audit import (
    API_KEY_USER_PREFIX,
    META_WEBHOOK,
    SYSTEM_USER_PREFIX,
)

_MAX_VALUE_CHARS = 60


def short_value(value: Any) -> str:
    text = "—" if value in (None, "", "None") else str(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


EMPTY = "—"
MASKED = "(personal data: not shown)"
_EMPTY_VALUES = frozenset({"", "None", mask_str("None"), "[]", "{}"})


def actor_name(actor: Any) -> str:
    """A user as the trail names them: staff by username, the service's own actors by role."""
    if actor is None:
        return EMPTY
    username = actor.get_username()
    if username.startswith(API_KEY_USER_PREFIX):
        return f"API key {actor.first_name or username}"
    if username == f"{SYSTEM_USER_PREFIX}{META_WEBHOOK}":
        return "Meta webhook"
    if username.startswith(SYSTEM_USER_PREFIX):
        return f"System: {username.removeprefix(SYSTEM_USER_PREFIX)}"
    return str(username)


class Related:
    """Related objects named once per page, however many entries mention them."""

    def __init__(self) -> None:
        self.cache: dict[tuple[type[Model], str], str] = {}

    def name(self, model: type[Model], pk: str) -> str:
        key = (model, pk)
        if key not in self.cache:
            try:
                obj = model._default_manager.filter(pk=model._meta.pk.to_python(pk)).first()
            except Exception:  # a value of another type than the key (a legacy repr): show it
                obj = None
                self.cache[key] = pk
                return pk
            if obj is None:
                text = f"#{pk} (deleted)"
            elif hasattr(obj, "get_username"):
                text = actor_name(obj)
            else:
                text = str(obj)
            self.cache[key] = text
        return self.cache[key]


def _readable_value(field: Any, value: Any, related: Related) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_readable_value(field, v, related) for v in value) or EMPTY
    text = str(value)
    if text in _EMPTY_VALUES:
        return EMPTY
    if field is None:
        return short_value(text)
    if getattr(field, "flatchoices", None):
        return short_value(dict(field.flatchoices).get(text, text))
    if field.is_relation and field.related_model is not None:
        return short_value(related.name(field.related_model, text))
    kind = field.get_internal_type()
    if kind == "BooleanField":
        return {"True": "yes", "False": "no"}.get(text, text)
    if kind == "DateTimeField":
        try:
            moment = parse_datetime(text)
        except ValueError:
            moment = None
        if moment is None:
            return short_value(text)
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, dt.UTC)
        return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")
    return short_value(text)


def readable_changes(entry: LogEntry, related: Related | None = None) -> list[tuple[str, str, str]]:
    """(field, before, after) as staff read them: related objects by name rather than id,
    choices by their label, times in India time, empty values as a dash, and personal data the
    trail masks as "not shown" (never half of it)."""
    related = related or Related()
    model = entry.content_type.model_class()
    masked: set[str] = set()
    if model is not None and auditlog.contains(model):
        masked = set(auditlog.get_model_fields(model).get("mask_fields") or ())
    rows: list[tuple[str, str, str]] = []
    for name, change in (entry.changes_dict or {}).items():
        field = None
        label = str(capfirst(name.replace("_", " ")))
        if model is not None:
            try:
                field = model._meta.get_field(name)
                label = str(capfirst(getattr(field, "verbose_name", name)))
            except FieldDoesNotExist:
                field = None
        if field is not None and not field.concrete and not isinstance(change, dict):
            continue  # a reverse relation django-auditlog wrote at creation ("complaints.ComplaintAction.None")
        if isinstance(change, dict):  # m2m: {"type": "m2m", "operation": ..., "objects": [...]}
            objects = ", ".join(str(o) for o in change.get("objects", []))
            rows.append((label, str(change.get("operation", "changed")), short_value(objects)))
            continue
        if not isinstance(change, list | tuple) or len(change) != 2:
            rows.append((label, "", short_value(change)))
            continue
        before, after = (
            (EMPTY if str(v) in _EMPTY_VALUES else MASKED) if name in masked else _readable_value(field, v, related)
            for v in change
        )
        rows.append((label, before, after))
    return rows


def access_summary(entry: LogEntry) -> tuple[str, list[tuple[str, str]]]:
    """What an ACCESS entry (a reveal, an export) or a staff action recorded: the sentence and its facts."""
    data = entry.additional_data if isinstance(entry.additional_data, dict) else {}
    what = str(data.get("what") or ("access" if entry.action == LogEntry.Action.ACCESS else ""))
    facts = [(str(capfirst(str(k).replace("_", " "))), short_value(v)) for k, v in data.items() if k != "what"]
    return what, facts
