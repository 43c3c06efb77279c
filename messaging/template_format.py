"""A template's content as plain data, its `{{n}}` placeholders, and Meta's component shape.

Django-free: the lint, the services and the sending pipeline share these helpers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
POSITIONAL = re.compile(r"[1-9][0-9]*")


@dataclass(frozen=True)
class TemplateContent:
    """What a revision says, in the shape the lint and the submission read."""

    name: str
    language: str
    category: str
    body: str
    header_text: str = ""
    footer: str = ""
    buttons: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    header_examples: Sequence[str] = field(default_factory=tuple)
    body_examples: Sequence[str] = field(default_factory=tuple)


def placeholders(text: str) -> list[str]:
    """The raw contents of every `{{...}}` in `text`, in order (valid or not)."""
    return PLACEHOLDER.findall(text or "")


def variable_numbers(text: str) -> list[int]:
    """The positional variables of `text` in order of appearance (malformed ones skipped)."""
    return [int(raw) for raw in placeholders(text) if POSITIONAL.fullmatch(raw)]


def variable_count(text: str) -> int:
    """How many distinct values a send must supply for `text`."""
    return len(set(variable_numbers(text)))


def render(text: str, values: Sequence[str]) -> str:
    """`text` with `{{n}}` replaced by values[n-1] (what the customer will read)."""

    def substitute(match: re.Match[str]) -> str:
        raw = match.group(1)
        if POSITIONAL.fullmatch(raw) and int(raw) <= len(values):
            return str(values[int(raw) - 1])
        return match.group(0)

    return PLACEHOLDER.sub(substitute, text or "")


def _meta_button(button: Mapping[str, Any]) -> dict[str, Any]:
    kind = str(button.get("type", "")).upper()
    out: dict[str, Any] = {"type": kind}
    if kind == "OTP":
        out["otp_type"] = str(button.get("otp_type") or "COPY_CODE").upper()
        if button.get("text"):
            out["text"] = button["text"]
        return out
    if kind == "COPY_CODE":
        out["example"] = button.get("example", "")
        return out
    out["text"] = button.get("text", "")
    if kind == "URL":
        out["url"] = button.get("url", "")
        if variable_count(str(button.get("url", ""))):
            out["example"] = [button.get("example", "")]
    elif kind == "PHONE_NUMBER":
        out["phone_number"] = button.get("phone_number", "")
    return out


def meta_components(content: TemplateContent) -> list[dict[str, Any]]:
    """The `components` of `POST /{waba-id}/message_templates` (parameter_format POSITIONAL).

    AUTHENTICATION templates use Meta's fixed wording: the body only asks for the security
    recommendation, the button is the OTP button; our stored body is the English rendering.
    """
    components: list[dict[str, Any]] = []
    if content.category == "AUTHENTICATION":
        components.append({"type": "BODY", "add_security_recommendation": True})
        buttons = [_meta_button(b) for b in content.buttons]
        if buttons:
            components.append({"type": "BUTTONS", "buttons": buttons})
        return components
    if content.header_text:
        header: dict[str, Any] = {"type": "HEADER", "format": "TEXT", "text": content.header_text}
        if variable_count(content.header_text):
            header["example"] = {"header_text": list(content.header_examples)}
        components.append(header)
    body: dict[str, Any] = {"type": "BODY", "text": content.body}
    if variable_count(content.body):
        body["example"] = {"body_text": [list(content.body_examples)]}
    components.append(body)
    if content.footer:
        components.append({"type": "FOOTER", "text": content.footer})
    if content.buttons:
        components.append({"type": "BUTTONS", "buttons": [_meta_button(b) for b in content.buttons]})
    return components
