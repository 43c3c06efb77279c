"""Which inbound WhatsApp texts open a complaint: whole words, any script, case-insensitive.

The list is staff-editable (IntakeTrigger, seeded by a data migration from DEFAULT_TRIGGERS).
Words are runs of letters, marks and digits, so Devanagari words with vowel signs ("शिकायत")
match whole, which a regex `\\b` does not guarantee.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# (phrase, kind, whole_message). "report" alone is too common in order chat ("delivery report")
# to count anywhere in a message; as the whole message it is a report.
DEFAULT_TRIGGERS: tuple[tuple[str, str, bool], ...] = (
    ("complaint", "complaint", False),
    ("complaints", "complaint", False),
    ("complain", "complaint", False),
    ("grievance", "complaint", False),
    ("शिकायत", "complaint", False),
    ("spam", "spam_report", False),
    ("scam", "spam_report", False),
    ("fraud", "spam_report", False),
    ("report spam", "spam_report", False),
    ("report abuse", "spam_report", False),
    ("report", "spam_report", True),
    ("स्पैम", "spam_report", False),
    ("धोखा", "spam_report", False),
    ("धोखाधड़ी", "spam_report", False),
    ("फ्रॉड", "spam_report", False),
)

COMPLAINT = "complaint"
SPAM_REPORT = "spam_report"


def words(text: str) -> list[str]:
    """The words of `text`: NFC, case-folded, split on anything not a letter, mark or digit."""
    found: list[str] = []
    current: list[str] = []
    for char in unicodedata.normalize("NFC", text or "").casefold():
        if unicodedata.category(char)[0] in "LMN":
            current.append(char)
        elif current:
            found.append("".join(current))
            current = []
    if current:
        found.append("".join(current))
    return found


def normalize_phrase(phrase: str) -> str:
    return " ".join(words(phrase))


@dataclass(frozen=True)
class Trigger:
    normalized: str
    kind: str
    whole_message: bool


def match(text: str, triggers: Iterable[Trigger]) -> str | None:
    """The kind of the strongest trigger in `text` (a spam report wins over a plain
    complaint: it is also a signal against the template), or None."""
    tokens = words(text)
    if not tokens:
        return None
    kinds: set[str] = set()
    for trigger in triggers:
        needle = trigger.normalized.split()
        if not needle:
            continue
        if trigger.whole_message:
            if tokens == needle:
                kinds.add(trigger.kind)
        elif any(tokens[i : i + len(needle)] == needle for i in range(len(tokens) - len(needle) + 1)):
            kinds.add(trigger.kind)
    if SPAM_REPORT in kinds:
        return SPAM_REPORT
    if COMPLAINT in kinds:
        return COMPLAINT
    return None
