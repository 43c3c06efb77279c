"""Consent keywords matched once, at intake: which inbound words are STOP, START...

The intake reads every message of a batch before it answers, and needs to know which ones are
opt-outs; the match travels in the item's payload so that applying it never matches again (a
keyword edited in between changes nothing already received). The active list is cached per
process for a few seconds: a batch of 1,000 texts costs one query, or none.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from consent.keywords import normalize_keyword
from consent.selectors import keywords_active

CACHE_SECONDS = 5.0  # how soon a keyword staff add or change is matched by every process
KEYWORD_MAX = 100  # OptOutKeyword.normalized: a longer message cannot be one

_lock = threading.Lock()
_cache: tuple[float, dict[str, KeywordMatch]] | None = None


@dataclass(frozen=True)
class KeywordMatch:
    id: int
    phrase: str
    action: str  # OptOutKeyword.KeywordAction
    scope: str  # a purpose or "*"
    language: str
    reply_text: str

    @property
    def opts_out(self) -> bool:
        return self.action == "opt_out"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _active() -> dict[str, KeywordMatch]:
    global _cache
    now = time.monotonic()
    with _lock:
        if _cache is not None and now - _cache[0] < CACHE_SECONDS:
            return _cache[1]
    found = {row["normalized"]: KeywordMatch(**{k: row[k] for k in KeywordMatch.__dataclass_fields__})
             for row in keywords_active()}
    with _lock:
        _cache = (now, found)
    return found


def cache_clear() -> None:
    global _cache
    with _lock:
        _cache = None


def match_texts(texts: Iterable[str]) -> dict[str, KeywordMatch]:
    """text -> its keyword, for the texts that are one (whole message, NFKC, case and spacing
    ignored). No query when no text could be a keyword."""
    candidates = {text: normalize_keyword(text) for text in texts if text and len(text) <= 4 * KEYWORD_MAX}
    candidates = {t: n for t, n in candidates.items() if n and len(n) <= KEYWORD_MAX}
    if not candidates:
        return {}
    active = _active()
    return {text: active[normalized] for text, normalized in candidates.items() if normalized in active}
