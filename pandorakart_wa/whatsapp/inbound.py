"""Meta's webhook payloads parsed once into typed items (DESIGN.md "Webhooks from Meta").

A POST from Meta batches up to 1,000 updates of several kinds: a customer's message, the status
of one of ours, a marketing preference, a template verdict, an account change, an identity
change, an echo of a message sent from the WhatsApp Business app or Meta's agent. `parse_body`
turns the raw bytes into a list of `Item`s, each a self-contained, JSON-safe record that carries
Meta's own id as its dedupe `key`; nothing downstream walks `entry[].changes[]` again.

Hostile input is normal input here, and parsing never raises for bytes that are JSON:
- odd bytes: a UTF-8 BOM, UTF-16/32 (json detects them), NUL escapes and lone surrogates (removed
  from every string kept: PostgreSQL's text refuses them), NaN/Infinity and 1e999999 (null), an
  integer of thousands of digits (kept as its string), nesting deeper than Python's parser allows
  (the body is kept, nothing is parsed: `Parsed.problem`);
- odd shapes: `"entry": 5`, `"changes": 7`, a change without `field` (some of Meta's own samples
  put it inside `value`), a number where a string belongs, a string where an object belongs:
  each is skipped or coerced where it stands, and the items beside it are kept;
- odd values: timestamps as strings, ISO dates or in the future (`occurred_at` is clamped to the
  receipt time: a 2100 timestamp cannot keep a service window open), over-long ids (dropped, not
  truncated into someone else's), 64-bit error codes (kept as text, never as an int column).

This module imports no app: which texts are consent keywords is decided by the intake
(pandorakart_wa.webhooks), which has the keyword list.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

MAX_BODY_BYTES = 3 * 1024 * 1024  # Meta: payloads up to 3 MB (API.md 413 above that)
TEXT_MAX = 8192  # WhatsApp texts are at most 4,096 characters; captions and bodies less
NAME_MAX = 256
ID_MAX = 512  # wamids are ~60 characters; anything this long is not an id of Meta's
# BSUIDs are like "US.13491208655302741918": a country code, a period and up to 128 alphanumerics,
# "ENT." more for a parent BSUID (Meta's "Business-scoped user IDs"); Contact.user_id holds 160.
USER_ID_MAX = 160
INT32 = 2**31
# WhatsApp did not exist before 2009: an earlier timestamp is a broken one, not an old event.
EARLIEST = datetime(2009, 1, 1, tzinfo=UTC)
# Meta's clock and ours differ by a little; beyond this a future timestamp counts as "now".
FUTURE_TOLERANCE = timedelta(seconds=0)

_SURROGATES = re.compile("[\ud800-\udfff]")


class NotJson(ValueError):
    """The body's bytes are not JSON (API.md: 400); every other signed body is stored, 200."""


class ItemKind(StrEnum):
    MESSAGE = "message"  # a customer's message to us (every type: text, button, media, order...)
    STATUS = "status"  # the status of a message we sent
    PREFERENCE = "preference"  # user_preferences: marketing stop / resume / signup
    TEMPLATE_STATUS = "template_status"
    TEMPLATE_QUALITY = "template_quality"
    TEMPLATE_CATEGORY = "template_category"  # incl. Meta's advance notice (correct_category)
    TEMPLATE_COMPONENTS = "template_components"
    ACCOUNT_UPDATE = "account_update"
    IDENTITY_CHANGE = "identity_change"  # system messages: number / BSUID / security code changed
    ECHO = "echo"  # a message sent from the WhatsApp Business app or by Meta's agent on our number
    ERROR = "error"  # a system-level error Meta reports in a change's `errors`
    OTHER = "other"  # a field this service does not act on: stored, recorded, not applied


@dataclass(frozen=True)
class Item:
    """One update of a webhook POST, JSON-safe and self-contained.

    `key` is Meta's identity of the update (a message's id, a status's id + status...): two
    deliveries of the same update, in any batch or serialisation, have the same key. `wa_id` /
    `user_id` name the customer concerned (either may be empty), `data` holds the rest.
    """

    kind: ItemKind
    field: str
    key: str
    occurred_at: datetime
    phone_number_id: str = ""
    waba_id: str = ""
    wa_id: str = ""
    user_id: str = ""
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    keyword_text: str | None = None  # the words that could be a consent keyword (messages only)

    @property
    def marketing_stop(self) -> bool:
        """Meta's own opt-out: the customer tapped "stop" for marketing in WhatsApp."""
        return self.kind == ItemKind.PREFERENCE and self.data.get("value") == "stop"


@dataclass(frozen=True)
class Parsed:
    payload: Any
    items: list[Item]
    fields: list[str]
    problem: str = ""  # why nothing (or not everything) could be read, for staff


# --- Bytes to JSON --------------------------------------------------------------------------------


def _parse_int(text: str) -> int | str:
    # Python refuses to convert integers of more than 4,300 digits (a ValueError that is not a
    # JSONDecodeError); no id or count of Meta's is that long: keep such a number as its text.
    return int(text) if len(text) <= 40 else text


def _parse_float(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None  # 1e999999 is inf


def _parse_constant(name: str) -> None:
    return None  # NaN, Infinity, -Infinity: not JSON, but Python would accept them as floats


def load_json(raw: bytes) -> tuple[Any, str]:
    """(payload, problem) for any bytes that are JSON; NotJson otherwise.

    `problem` is set (and payload None) when the bytes are JSON that cannot be read safely:
    nesting deeper than the parser's recursion limit."""
    try:
        return json.loads(raw, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant), ""
    except RecursionError:
        return None, "nested too deeply to be read (kept as received, nothing applied)"
    except UnicodeDecodeError as exc:
        raise NotJson(f"the body is not UTF-8, UTF-16 or UTF-32 text: {exc.reason}") from exc
    except json.JSONDecodeError as exc:
        raise NotJson(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except ValueError as exc:  # anything else the decoder refuses is not JSON either
        raise NotJson(str(exc)) from exc


# --- Safe scalars ---------------------------------------------------------------------------------


def clean_text(value: Any, limit: int = TEXT_MAX) -> str:
    """A string fit for any column: NUL and lone surrogates replaced, at most `limit` chars.
    Numbers become their text (Meta's ids arrive as numbers in some samples); other types ""."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return ""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if _SURROGATES.search(value):
        value = _SURROGATES.sub("\ufffd", value)
    return cast(str, value[:limit])  # a str here: the checks above return "" for anything else


def clean_id(value: Any, limit: int = ID_MAX) -> str:
    """An identifier, or "" when it is missing or too long to be one (never truncated: a cut id
    could be someone else's)."""
    text = clean_text(value, limit + 1).strip()
    return "" if len(text) > limit else text


def clean_wa_id(value: Any) -> str:
    """Meta's wa_id: the number's digits ("+91 98..." tolerated), or "" when it has none."""
    if isinstance(value, str) and value.isascii() and value.isdigit():  # Meta's own form: no copying
        return value if 6 <= len(value) <= 15 else ""
    text = clean_id(value, 32)
    digits = "".join(ch for ch in text if ch.isdigit())
    return digits if 6 <= len(digits) <= 15 else ""


def clean_int(value: Any) -> int | None:
    """An int that fits a 32-bit column (Meta's error codes), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value.strip()) <= 12:
        value = int(value.strip())
    if isinstance(value, int) and -INT32 < value < INT32:
        return value
    return None


def meta_time(value: Any, received_at: datetime) -> datetime:
    """Meta's timestamp (epoch seconds as int, float or digits; an ISO date tolerated), clamped
    to [2009, receipt time]; the receipt time when it is missing or unreadable."""
    at: datetime | None = None
    try:
        if isinstance(value, bool):
            at = None
        elif isinstance(value, int | float):
            at = datetime.fromtimestamp(float(value), tz=UTC)
        elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
            at = datetime.fromtimestamp(int(value), tz=UTC)  # Meta's usual form, first
        elif isinstance(value, str) and value.strip():
            text = value.strip()
            if re.fullmatch(r"\d{1,12}(\.\d+)?", text):
                at = datetime.fromtimestamp(float(text), tz=UTC)
            else:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
                at = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        at = None
    if at is None or at < EARLIEST:
        return received_at
    return min(at, received_at + FUTURE_TOLERANCE)


def _digest(value: Any) -> str:
    """A stable digest of a JSON value: the same object re-serialised digests the same."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _safe(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of a small structure (template and account events), bounded in depth
    and size; strings cleaned as above."""
    if depth > 8:
        return None
    if isinstance(value, Mapping):
        return {clean_text(k, 128): _safe(v, depth + 1) for k, v in list(value.items())[:100]}
    if isinstance(value, list):
        return [_safe(v, depth + 1) for v in value[:100]]
    if isinstance(value, str):
        return clean_text(value, 2000)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -(2**63) < value < 2**63 else str(value)
    if isinstance(value, float):
        return value
    return None


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- The walk ---------------------------------------------------------------------------------------


def changes_of(payload: Any) -> Iterator[tuple[Mapping[str, Any], str, Mapping[str, Any]]]:
    """(entry, field, value) for each object change of a webhook envelope, whatever the shape."""
    for entry in _list(_obj(payload).get("entry")):
        if not isinstance(entry, Mapping):
            continue
        for change in _list(entry.get("changes")):
            if not isinstance(change, Mapping):
                continue
            value = change.get("value")
            if not isinstance(value, Mapping):
                continue
            name = clean_id(change.get("field") or value.get("field"), 128)
            yield entry, name, value


def parse_body(raw: bytes, *, received_at: datetime) -> Parsed:
    """Every item of a webhook body (NotJson for bytes that are not JSON)."""
    payload, problem = load_json(raw)
    if problem:
        return Parsed(payload=None, items=[], fields=[], problem=problem)
    return parse_payload(payload, received_at=received_at)


def parse_payload(payload: Any, *, received_at: datetime) -> Parsed:
    if not isinstance(payload, Mapping):
        return Parsed(payload=payload, items=[], fields=[], problem="not a webhook envelope (a JSON object)")
    items: list[Item] = []
    fields: list[str] = []
    for entry, name, value in changes_of(payload):
        if name not in fields:
            fields.append(name)
        context = _Context(
            field=name,
            waba_id=clean_id(entry.get("id"), 64),
            phone_number_id=clean_id(_obj(value.get("metadata")).get("phone_number_id"), 64),
            entry_time=clean_text(entry.get("time"), 32),
            received_at=received_at,
        )
        items.extend(_items_of(context, value))
    problem = "" if items or fields else "no changes to read"
    return Parsed(payload=payload, items=items, fields=fields, problem=problem)


@dataclass(frozen=True)
class _Context:
    field: str
    waba_id: str
    phone_number_id: str
    entry_time: str
    received_at: datetime

    def item(self, kind: ItemKind, key: str, at: Any, **rest: Any) -> Item:
        return Item(kind=kind, field=self.field, key=key, occurred_at=meta_time(at, self.received_at),
                    phone_number_id=self.phone_number_id, waba_id=self.waba_id, **rest)


MESSAGE_FIELDS = frozenset({"messages", "standby"})  # standby: while Meta's agent holds the chat
ECHO_FIELDS = frozenset({"messages", "standby", "smb_message_echoes"})
TEMPLATE_KINDS = {
    "message_template_status_update": ItemKind.TEMPLATE_STATUS,
    "message_template_quality_update": ItemKind.TEMPLATE_QUALITY,
    "template_category_update": ItemKind.TEMPLATE_CATEGORY,
    "message_template_components_update": ItemKind.TEMPLATE_COMPONENTS,
}


def _items_of(context: _Context, value: Mapping[str, Any]) -> Iterator[Item]:
    name = context.field
    profiles = _profiles(value)
    if name in MESSAGE_FIELDS:
        for message in _list(value.get("messages")):
            if isinstance(message, Mapping):
                yield _message(context, message, profiles, standby=name == "standby")
        for status in _list(value.get("statuses")):
            if isinstance(status, Mapping):
                yield _status(context, status)
    if name in ECHO_FIELDS:
        for echo in _list(value.get("message_echoes")):
            if isinstance(echo, Mapping):
                yield _echo(context, echo, profiles)
    if name == "user_preferences":
        for preference in _list(value.get("user_preferences")):
            if isinstance(preference, Mapping):
                yield _preference(context, preference, profiles)
    elif name in TEMPLATE_KINDS:
        kind = TEMPLATE_KINDS[name]
        if kind == ItemKind.TEMPLATE_STATUS and "event" not in value and "new_quality_score" in value:
            kind = ItemKind.TEMPLATE_QUALITY  # one of Meta's own samples files a quality change here
        yield _management(context, kind, value)
    elif name == "account_update":
        yield _management(context, ItemKind.ACCOUNT_UPDATE, value)
    elif name not in MESSAGE_FIELDS | ECHO_FIELDS:
        yield _management(context, ItemKind.OTHER, value)
    for error in _list(value.get("errors")):
        if isinstance(error, Mapping):
            data = _error(error)
            yield context.item(ItemKind.ERROR, f"error:{name}:{context.entry_time}:{_digest(data)}", None, data=data)


def _profiles(value: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """wa_id (or BSUID) -> {"wa_id", "user_id", "parent_user_id", "name"} from `contacts[]`."""
    found: dict[str, dict[str, str]] = {}
    for contact in _list(value.get("contacts")):
        if not isinstance(contact, Mapping):
            continue
        profile = {
            "wa_id": clean_wa_id(contact.get("wa_id")),
            "user_id": clean_id(contact.get("user_id"), USER_ID_MAX),
            "parent_user_id": clean_id(contact.get("parent_user_id"), USER_ID_MAX),
            "name": clean_text(_obj(contact.get("profile")).get("name"), NAME_MAX),
            "username": clean_text(_obj(contact.get("profile")).get("username"), NAME_MAX),
        }
        for ident in (profile["wa_id"], profile["user_id"]):
            if ident:
                found[ident] = profile
    return found


def _error(error: Mapping[str, Any]) -> dict[str, Any]:
    code = error.get("code")
    return {
        "code": clean_int(code),
        "code_text": clean_text(code, 40),
        "title": clean_text(error.get("title"), 500),
        "message": clean_text(error.get("message"), 500),
        "details": clean_text(_obj(error.get("error_data")).get("details"), 1000),
    }


def _message(context: _Context, message: Mapping[str, Any], profiles: dict[str, dict[str, str]], *,
             standby: bool) -> Item:
    wa_id = clean_wa_id(message.get("from"))
    user_id = clean_id(message.get("from_user_id"), USER_ID_MAX)
    profile = profiles.get(wa_id) or profiles.get(user_id) or {}
    user_id = user_id or profile.get("user_id", "")
    wamid = clean_id(message.get("id"))
    kind_name = clean_id(message.get("type"), 64) or "unknown"
    summary, keyword_text = _content(kind_name, message)
    data: dict[str, Any] = {
        "id": wamid,
        "type": kind_name,
        "text": summary,
        "context_id": clean_id(_obj(message.get("context")).get("id")),
        "name": profile.get("name", ""),
        "parent_user_id": profile.get("parent_user_id", ""),
        "standby": standby,
    }
    if message.get("errors"):
        data["errors"] = [_error(e) for e in _list(message.get("errors"))[:5] if isinstance(e, Mapping)]
    if kind_name == "system":
        system = _obj(message.get("system"))
        data["system"] = {
            "type": clean_id(system.get("type"), 64),
            "body": clean_text(system.get("body"), 500),
            "new_wa_id": clean_wa_id(system.get("wa_id") or system.get("new_wa_id")),
            "user_id": clean_id(system.get("user_id"), USER_ID_MAX),
            "previous_user_id": clean_id(system.get("previous_user_id"), USER_ID_MAX),
            "parent_user_id": clean_id(system.get("parent_user_id"), USER_ID_MAX),
            "previous_parent_user_id": clean_id(system.get("previous_parent_user_id"), USER_ID_MAX),
        }
        # Meta's changelog (2026-08-11): user_changed_user_id carries the previous BSUID in
        # system.previous_user_id and the new one in system.user_id; the sender may be the old.
        user_id = user_id or data["system"]["previous_user_id"]
    key = f"message:{wamid}" if wamid else f"message:{_digest([wa_id, user_id, message.get('timestamp'), data])}"
    kind = ItemKind.IDENTITY_CHANGE if kind_name == "system" else ItemKind.MESSAGE
    return context.item(kind, key, message.get("timestamp"), wa_id=wa_id, user_id=user_id, data=data,
                        keyword_text=keyword_text)


def _content(kind: str, message: Mapping[str, Any]) -> tuple[str, str | None]:
    """(a one-line summary for staff, the words that could be a keyword or None)."""
    if kind == "text":
        raw = message.get("text")  # `"text": "STOP"` as a bare string is read as the body too
        body = clean_text(raw.get("body") if isinstance(raw, Mapping) else raw)
        return body, body
    if kind == "button":  # a template's quick-reply button ("Stop promotions")
        button = _obj(message.get("button"))
        words = clean_text(button.get("text"), 256) or clean_text(button.get("payload"), 256)
        return words, words
    if kind == "interactive":
        interactive = _obj(message.get("interactive"))
        reply = _obj(interactive.get("button_reply")) or _obj(interactive.get("list_reply"))
        if reply:
            title = clean_text(reply.get("title"), 256)
            return title, title
        flow = _obj(interactive.get("nfm_reply"))
        if flow:
            return f"[form reply: {clean_text(flow.get('name'), 100) or 'flow'}]", None
        return f"[interactive {clean_id(interactive.get('type'), 64) or 'reply'}]", None
    if kind == "reaction":
        reaction = _obj(message.get("reaction"))
        emoji = clean_text(reaction.get("emoji"), 16)
        return (f"[reaction {emoji}]" if emoji else "[reaction removed]"), None
    if kind in ("image", "video", "document", "sticker", "audio"):
        media = _obj(message.get(kind))
        caption = clean_text(media.get("caption"), 1024)
        return (f"[{kind}] {caption}".strip()), None
    if kind == "location":
        location = _obj(message.get("location"))
        return f"[location {clean_text(location.get('name'), 100)}]".replace(" ]", "]"), None
    if kind == "order":
        order = _obj(message.get("order"))
        return f"[order of {len(_list(order.get('product_items')))} item(s)]", None
    if kind == "contacts":
        return f"[{len(_list(message.get('contacts')))} contact card(s)]", None
    if kind == "system":
        return clean_text(_obj(message.get("system")).get("body"), 500), None
    return f"[{kind} message]", None


def _status(context: _Context, status: Mapping[str, Any]) -> Item:
    wamid = clean_id(status.get("id"))
    state = clean_id(status.get("status"), 32)
    pricing = _obj(status.get("pricing"))
    data: dict[str, Any] = {
        "id": wamid,
        "status": state,
        "recipient_id": clean_wa_id(status.get("recipient_id")),
        "recipient_user_id": clean_id(status.get("recipient_user_id"), USER_ID_MAX),
        "biz_opaque_callback_data": clean_id(status.get("biz_opaque_callback_data")),
        "errors": [_error(e) for e in _list(status.get("errors"))[:5] if isinstance(e, Mapping)],
    }
    if pricing:
        data["pricing"] = {
            "billable": pricing.get("billable") if isinstance(pricing.get("billable"), bool) else None,
            "pricing_model": clean_id(pricing.get("pricing_model"), 32),
            "type": clean_id(pricing.get("type"), 32),
            "category": clean_id(pricing.get("category"), 32),
        }
    key = f"status:{wamid}:{state}" if wamid else f"status:{_digest(data)}:{status.get('timestamp')}"
    item = context.item(ItemKind.STATUS, key, status.get("timestamp"), wa_id=data["recipient_id"],
                        user_id=data["recipient_user_id"], data=data)
    data["timestamp"] = int(item.occurred_at.timestamp())  # what messaging sorts and stamps by
    return item


def _preference(context: _Context, preference: Mapping[str, Any], profiles: dict[str, dict[str, str]]) -> Item:
    wa_id = clean_wa_id(preference.get("wa_id"))
    user_id = clean_id(preference.get("user_id"), USER_ID_MAX)
    user_id = user_id or (profiles.get(wa_id) or {}).get("user_id", "")
    data = {
        "category": clean_id(preference.get("category"), 64),
        "value": clean_id(preference.get("value"), 32).lower(),
        "detail": clean_text(preference.get("detail"), 500),
        "signup_id": clean_id(preference.get("signup_id"), 64),
    }
    timestamp = clean_text(preference.get("timestamp"), 32)
    key = f"preference:{wa_id or user_id}:{data['category']}:{data['value']}:{timestamp}"
    return context.item(ItemKind.PREFERENCE, key, preference.get("timestamp"), wa_id=wa_id, user_id=user_id,
                        data=data)


def _echo(context: _Context, echo: Mapping[str, Any], profiles: dict[str, dict[str, str]]) -> Item:
    wa_id = clean_wa_id(echo.get("to"))
    user_id = clean_id(echo.get("to_user_id"), USER_ID_MAX)
    user_id = user_id or (profiles.get(wa_id) or {}).get("user_id", "")
    wamid = clean_id(echo.get("id"))
    kind_name = clean_id(echo.get("type"), 64) or "unknown"
    summary, _ = _content(kind_name, echo)
    template = _obj(echo.get("template"))
    data = {
        "id": wamid,
        "type": kind_name,
        "text": summary,
        "template": clean_id(template.get("name"), 512),
        "language": clean_id(_obj(template.get("language")).get("code") or template.get("language"), 16),
        "via": "meta_agent" if context.field == "standby" else "business_app",
    }
    key = f"echo:{wamid}" if wamid else f"echo:{_digest([wa_id, user_id, echo.get('timestamp'), data])}"
    return context.item(ItemKind.ECHO, key, echo.get("timestamp"), wa_id=wa_id, user_id=user_id, data=data)


def _management(context: _Context, kind: ItemKind, value: Mapping[str, Any]) -> Item:
    """Template, account and other management events: the value as it came (bounded, cleaned),
    keyed by its content and the entry's time (Meta's redelivery repeats both)."""
    data = _safe(value)
    return context.item(kind, f"{context.field}:{context.entry_time}:{_digest(data)}", context.entry_time or None,
                        data=data)
