"""Meta's error responses as a small typed hierarchy (reference/whatsapp-cloud-api.md §5).

Callers branch on the class, never on titles: retry `TransientError` (after `retry_after`
seconds when Meta or the code says so), record `PermanentError` and never retry it, and act on
`PolicyRejection.code` (an opt-out, an undeliverable contact, an account-level stop).
`DeliveryUnknown` means the request may have reached Meta: a send must not be retried blindly.
"""

from __future__ import annotations

from typing import Any

HOUR = 60 * 60

# Codes whose meaning obliges the sender to act, beyond not retrying.
USER_STOPPED_MARKETING = 131050
UNDELIVERABLE = 131026
OUTSIDE_SERVICE_WINDOW = 131047
OUTSIDE_SERVICE_WINDOW_LEGACY = 470
ECOSYSTEM_ENGAGEMENT = 131049  # per-user marketing limit: wait at least 24 h
PAIR_RATE_LIMIT = 131056  # one message per user per 6 s; back off that recipient only
THROUGHPUT_LIMIT = 130429
# Account-level enforcement: stop all sending and alert staff.
ACCOUNT_BLOCKED_FOR_POLICY = 368
ACCOUNT_LOCKED = 131031
SPAM_RATE_LIMIT = 131048
TEMPLATE_CLASSIFICATION_LIMIT = 131064
COUNTRY_RESTRICTED = 130497
ACCOUNT_LEVEL_CODES = frozenset({ACCOUNT_BLOCKED_FOR_POLICY, ACCOUNT_LOCKED, SPAM_RATE_LIMIT, TEMPLATE_CLASSIFICATION_LIMIT})

POLICY_CODES = frozenset(
    {
        USER_STOPPED_MARKETING,
        UNDELIVERABLE,
        OUTSIDE_SERVICE_WINDOW,
        OUTSIDE_SERVICE_WINDOW_LEGACY,
        COUNTRY_RESTRICTED,
        130472,  # user in a Meta experiment group
        *ACCOUNT_LEVEL_CODES,
    }
)
# Transient codes, with the wait Meta asks for (None: caller's exponential backoff).
TRANSIENT_CODES: dict[int, float | None] = {
    ECOSYSTEM_ENGAGEMENT: 24 * HOUR,
    PAIR_RATE_LIMIT: None,
    THROUGHPUT_LIMIT: None,
    131057: 60.0,  # maintenance mode during a throughput upgrade, about a minute
    131000: None,  # unknown error
    131016: None,  # service unavailable
    80007: None,  # WABA rate limit (management API)
    4: None,  # app rate limit
    1: None,  # unknown API error
    2: None,  # API service temporarily unavailable
}


class WhatsAppError(Exception):
    """An error from the WhatsApp gateway. `code` is Meta's error code when Meta sent one."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        title: str = "",
        details: str = "",
        http_status: int | None = None,
        payload: Any = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.title = title or message
        self.details = details
        self.http_status = http_status
        self.payload = payload


class PermanentError(WhatsAppError):
    """Will never succeed as sent (bad payload, unknown template, auth): record, do not retry."""


class PolicyRejection(PermanentError):
    """Meta refused for a policy reason the sender must act on (see `code`)."""

    @property
    def account_level(self) -> bool:
        """True when the whole account is restricted: stop all sending."""
        return self.code in ACCOUNT_LEVEL_CODES


class TransientError(WhatsAppError):
    """May succeed later: retry with backoff, not before `retry_after` seconds when given."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class DeliveryUnknown(WhatsAppError):
    """The request was sent but no answer came back (read timeout, connection dropped).

    Meta may have accepted it and has no idempotency key: a send in this state is reconciled
    from the status webhooks (they echo biz_opaque_callback_data), never blindly re-sent.
    """


def classify(
    *,
    http_status: int,
    code: int | None,
    title: str = "",
    details: str = "",
    retry_after: float | None = None,
    payload: Any = None,
) -> WhatsAppError:
    """The error class for one Meta error response (or an async `errors[]` item)."""
    message = f"{code or http_status}: {title or 'WhatsApp error'}" + (f" ({details})" if details else "")
    common: dict[str, Any] = {"code": code, "title": title, "details": details, "http_status": http_status, "payload": payload}
    if code in POLICY_CODES:
        return PolicyRejection(message, **common)
    if code in TRANSIENT_CODES:
        wait = TRANSIENT_CODES[code]
        return TransientError(message, retry_after=max(filter(None, (wait, retry_after)), default=None), **common)
    if http_status == 429 or http_status >= 500:
        return TransientError(message, retry_after=retry_after, **common)
    return PermanentError(message, **common)
