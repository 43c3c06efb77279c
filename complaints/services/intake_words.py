"""The words that make a WhatsApp message a complaint (staff edit them)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from complaints.intake import normalize_phrase
from complaints.models import (
    IntakeTrigger,
)
from pandorakart_wa.core.audit import User
from pandorakart_wa.core.roles import authorise


@transaction.atomic
def intake_trigger_save(*, trigger: IntakeTrigger, actor: User) -> IntakeTrigger:
    """Create or change an intake word (the admin's save): stores its normalised form."""
    authorise(actor, "complaints.change_intaketrigger" if trigger.pk else "complaints.add_intaketrigger",
               "edit the WhatsApp intake words")
    normalized = normalize_phrase(trigger.phrase)
    if not normalized:
        raise ValidationError({"phrase": "An intake word needs at least one letter."})
    if IntakeTrigger.objects.filter(normalized=normalized).exclude(pk=trigger.pk).exists():
        raise ValidationError({"phrase": "This word is already on the list."})
    trigger.normalized = normalized
    trigger.save()
    return trigger
