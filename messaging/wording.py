"""The sentences of the messaging API's errors, in one place: each says what was expected and
what came, and a refusal names the purpose the message needed consent for."""

from __future__ import annotations

from consent.purposes import Purpose

_PURPOSE_WORDS: dict[str, str] = {
    Purpose.ORDER_UPDATES: "order updates (order_updates)",
    Purpose.ACCOUNT_SECURITY: "account security codes (account_security)",
    Purpose.MARKETING: "marketing (marketing)",
    Purpose.SUPPORT: "support replies (support)",
}


def variable_count_error(expected: int, given: int) -> str:
    """'The template needs 3 variables; 1 was given.'"""
    needs = f"{expected} variable" + ("" if expected == 1 else "s")
    came = f"{given} " + ("was" if given == 1 else "were")
    return f"The template needs {needs}; {came} given."


def purpose_words(purpose: str) -> str:
    return _PURPOSE_WORDS.get(purpose, purpose)


def refusal_detail(code: str, purpose: str, default: str) -> str:
    """The 422's sentence; the consent refusals name the purpose that was checked."""
    if code == "consent_missing":
        return f"The customer has not consented to messages for {purpose_words(purpose)}, which this message needs."
    if code == "opted_out":
        return f"The customer opted out of messages for {purpose_words(purpose)}, which this message needs."
    return default
