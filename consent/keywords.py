"""Inbound keyword matching: whole message, case- and whitespace-insensitive, any script."""

from __future__ import annotations

import unicodedata

# API.md's list: (phrase, action, scope, language, confirmation reply).
DEFAULT_KEYWORDS: tuple[tuple[str, str, str, str, str], ...] = (
    ("STOP", "opt_out", "marketing", "en", "You will no longer receive offers from PANDORAKART. Reply START to undo."),
    ("UNSUBSCRIBE", "opt_out", "marketing", "en",
     "You will no longer receive offers from PANDORAKART. Reply START to undo."),
    ("STOP PROMOTIONS", "opt_out", "marketing", "en",
     "You will no longer receive offers from PANDORAKART. Reply START to undo."),
    ("CANCEL", "opt_out", "marketing", "en", "You will no longer receive offers from PANDORAKART. Reply START to undo."),
    ("END", "opt_out", "marketing", "en", "You will no longer receive offers from PANDORAKART. Reply START to undo."),
    ("QUIT", "opt_out", "marketing", "en", "You will no longer receive offers from PANDORAKART. Reply START to undo."),
    ("रोकें", "opt_out", "marketing", "hi", "अब आपको PANDORAKART से ऑफ़र नहीं भेजे जाएँगे। वापस पाने के लिए START भेजें।"),
    ("बंद", "opt_out", "marketing", "hi", "अब आपको PANDORAKART से ऑफ़र नहीं भेजे जाएँगे। वापस पाने के लिए START भेजें।"),
    ("STOP ALL", "opt_out", "*", "en",
     "You will no longer receive any WhatsApp messages from PANDORAKART. Reply START to undo."),
    ("START", "resubscribe", "", "en", "Welcome back: your PANDORAKART WhatsApp messages are restored."),
)

# Keywords that answer with the customer's preference-centre link (issue 17): staff-editable like
# the rest; {link} is the signed link, {days} its lifetime.
PREFERENCE_KEYWORDS: tuple[tuple[str, str, str, str, str], ...] = (
    ("PREFERENCES", "preferences", "", "en",
     "Choose which WhatsApp messages you get from PANDORAKART: {link} (the link works for {days} days)."),
    ("पसंद", "preferences", "", "hi",
     "PANDORAKART से कौन-से WhatsApp संदेश आपको मिलें, यहाँ चुनें: {link} (यह लिंक {days} दिन तक काम करेगा)।"),
)


def normalize_keyword(text: str) -> str:
    """Canonical form for comparison: NFKC (fullwidth STOP, U+FF33..., and other compatibility forms
    are the plain letters), case-folded, spaces collapsed, outer punctuation removed ("Stop."
    and " stop " match STOP; the Devanagari danda counts as punctuation)."""
    value = unicodedata.normalize("NFKC", text or "")
    value = " ".join(value.split()).casefold()
    start, end = 0, len(value)
    while start < end and _is_trim(value[start]):
        start += 1
    while end > start and _is_trim(value[end - 1]):
        end -= 1
    return " ".join(value[start:end].split())


def _is_trim(char: str) -> bool:
    category = unicodedata.category(char)
    return category.startswith("P") or category.startswith("Z") or category in ("So", "Cf")
