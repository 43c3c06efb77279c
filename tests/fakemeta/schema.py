"""Request-body checks against Meta's own OpenAPI file (business-messaging-api v23.0).

A deliberately small validator: `$ref`, `allOf` (OpenAPI-style: the parts' properties merge, so
`additionalProperties: false` applies to their union), `oneOf` and base schemas dispatched by
`discriminator`, `type`, `enum`, `required`, `properties`, `additionalProperties`, `items`,
`minLength`/`maxLength`, `minItems`/`maxItems`, `minimum`/`maximum`, `format: email|uri`.
`pattern` is ignored on purpose: some of Meta's patterns are broken (`TemplateComponent.index`
is `^[2-6, 11-14]$`, which rejects Meta's own example "0").

Where the OpenAPI file is silent or contradicts Meta's reference pages, `PATCHES` says so and
cites the page (see the project's shared/reference/whatsapp-cloud-api.md).
"""

from __future__ import annotations

import copy
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

# Meta's OpenAPI file (facebook/openapi, business-messaging-api_v23.0.yaml, as kept in the
# project's shared/reference/), vendored beside this module so the suite runs from any checkout;
# FAKEMETA_OPENAPI points elsewhere (e.g. a newer version).
OPENAPI_PATH = Path(
    os.environ.get("FAKEMETA_OPENAPI", Path(__file__).resolve().parent / "meta-business-messaging-openapi-v23.yaml")
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_lock = threading.Lock()
_spec: dict[str, Any] | None = None

MESSAGES = "#/components/schemas/Message"
PROFILE_UPDATE = "#/components/schemas/WhatsAppBusinessProfileUpdateRequest"
TEMPLATE_CREATE = "#/x-fakemeta/TemplateCreate"
TEMPLATE_EDIT = "#/x-fakemeta/TemplateEdit"

TEMPLATE_CATEGORIES = ["MARKETING", "UTILITY", "AUTHENTICATION"]
COMPONENT_TYPES = ["HEADER", "BODY", "FOOTER", "BUTTONS", "header", "body", "footer", "buttons"]
# Reference §2 "Components and their limits" (Meta components page): text limits per component.
COMPONENT_TEXT_LIMITS = {"HEADER": 60, "BODY": 1024, "FOOTER": 60}


def _apply_patches(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    # 1. `biz_opaque_callback_data` is accepted on every send (Meta's status-webhook reference:
    #    it is echoed back in statuses); the v23 file only has it in the calls schema, max 512.
    schemas["BaseMessageProperties"]["properties"]["biz_opaque_callback_data"] = {"type": "string", "maxLength": 512}
    # 2. `TextMessage.text` in the file lacks `body`'s requirement and limit that `TextMessage_1`
    #    states (reference §1: "body can be up to 4096 characters").
    schemas["TextMessage"]["allOf"][1]["properties"]["text"] = {
        "$ref": "#/components/schemas/TextMessage_1",
    }
    schemas["TextMessage_1"]["additionalProperties"] = False
    # 3. `vertical` may be the empty string (reference §3 table: "empty string or one of the 21
    #    values"); and only the documented write fields are accepted (reference §3 "Write"):
    #    `profile_picture_url` is read-only, the upload handle is `profile_picture_handle`.
    profile = schemas["WhatsAppBusinessProfileUpdateRequest"]
    profile["properties"]["vertical"] = {"type": "string", "enum": ["", *schemas["WhatsAppBusinessVertical"]["enum"]]}
    profile["additionalProperties"] = False
    # 4. The template-creation body is an inline, loose schema in the file (no required fields);
    #    reference §2 ("Endpoints", "Names, languages and parameters") states what Meta requires.
    op = spec["paths"]["/{Version}/{WABA-ID}/message_templates"]["post"]
    create = copy.deepcopy(op["requestBody"]["content"]["application/json"]["schema"])
    create["required"] = ["name", "language", "category", "components"]
    create["properties"]["name"].update({"maxLength": 512, "minLength": 1})
    create["properties"]["language"]["minLength"] = 1
    create["properties"]["category"]["enum"] = TEMPLATE_CATEGORIES
    create["properties"]["parameter_format"] = {"type": "string", "enum": ["POSITIONAL", "NAMED"]}
    item = create["properties"]["components"]["items"]
    item["required"] = ["type"]
    item["properties"]["type"]["enum"] = COMPONENT_TYPES
    item["properties"]["format"] = {"type": "string"}
    create["properties"]["components"]["minItems"] = 1
    # 5. The edit body (`editTemplate`, POST /{TEMPLATE_ID}) is as loose; reference §2 "Edit":
    #    `category`, `components` (replaced as a whole) or the TTL, components shaped as at creation.
    op = spec["paths"]["/{Version}/{TEMPLATE_ID}"]["post"]
    edit = copy.deepcopy(op["requestBody"]["content"]["application/json"]["schema"])
    edit["properties"]["category"]["enum"] = TEMPLATE_CATEGORIES
    edit["properties"]["components"] = copy.deepcopy(create["properties"]["components"])
    edit["properties"]["message_send_ttl_seconds"] = {"type": "integer"}
    spec["x-fakemeta"] = {"TemplateCreate": create, "TemplateEdit": edit}


def spec() -> dict[str, Any]:
    """Meta's OpenAPI document, parsed once per process (about 0.4 s with libyaml)."""
    global _spec
    with _lock:
        if _spec is None:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            with OPENAPI_PATH.open("rb") as fh:
                loaded = yaml.load(fh, Loader=loader)  # noqa: S506 - a SafeLoader
            _apply_patches(loaded)
            _spec = loaded
        return _spec


def _resolve(ref: str) -> dict[str, Any]:
    node: Any = spec()
    for part in ref.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node  # type: ignore[no-any-return]


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "null":
        return value is None
    return True


class _Validator:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path or '(body)'}: {message}")

    def parts(self, schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """The schema and its `allOf` parts, refs resolved (no discriminator dispatch here)."""
        if "$ref" in schema:
            return self.parts(_resolve(schema["$ref"]))
        found: list[Mapping[str, Any]] = [schema]
        for part in schema.get("allOf") or []:
            found.extend(self.parts(part))
        return found

    def validate(self, schema: Mapping[str, Any], value: Any, path: str, dispatched: frozenset[str]) -> None:
        if "$ref" in schema:
            ref = schema["$ref"]
            target = _resolve(ref)
            disc = target.get("discriminator")
            if disc and "oneOf" not in target and ref not in dispatched and isinstance(value, dict):
                # A base schema (TemplateComponent, ParameterObject): check the mapped subtype,
                # whose allOf includes this base again (then without dispatching).
                mapped = (disc.get("mapping") or {}).get(value.get(disc["propertyName"]))
                if mapped:
                    self.validate({"$ref": mapped}, value, path, dispatched | {ref})
                    return
            self.validate(target, value, path, dispatched | ({ref} if disc else frozenset()))
            return
        parts = self.parts(schema)
        for part in parts:
            if "oneOf" in part or "anyOf" in part:
                self._one_of(part, value, path, dispatched)
            if not self._check_scalar(part, value, path, dispatched):
                return  # wrong type: the rest would only repeat it
        if isinstance(value, dict):
            self._check_object(parts, value, path, dispatched)

    def _one_of(self, schema: Mapping[str, Any], value: Any, path: str, dispatched: frozenset[str]) -> None:
        options = schema.get("oneOf") or schema.get("anyOf") or []
        disc = schema.get("discriminator")
        if disc and isinstance(value, dict):
            key = disc["propertyName"]
            mapping = disc.get("mapping") or {}
            if value.get(key) not in mapping:
                self.error(f"{path}.{key}".lstrip("."), f"must be one of {sorted(mapping)}, got {value.get(key)!r}")
                return
            self.validate({"$ref": mapping[value[key]]}, value, path, dispatched)
            return
        for option in options:
            trial = _Validator()
            trial.validate(option, value, path, dispatched)
            if not trial.errors:
                return
        self.error(path, "matches none of the allowed shapes")

    def _check_scalar(self, schema: Mapping[str, Any], value: Any, path: str, dispatched: frozenset[str]) -> bool:
        kind = schema.get("type")
        if kind is not None:
            kinds = kind if isinstance(kind, list) else [kind]
            if not any(_type_ok(k, value) for k in kinds):
                self.error(path, f"must be of type {kind}, got {type(value).__name__}")
                return False
        if "enum" in schema and value not in schema["enum"]:
            self.error(path, f"must be one of {schema['enum']}, got {value!r}")
        if isinstance(value, str):
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                self.error(path, f"is longer than {schema['maxLength']} characters ({len(value)})")
            if "minLength" in schema and len(value) < schema["minLength"]:
                self.error(path, f"is shorter than {schema['minLength']} characters")
            fmt = schema.get("format")
            if fmt == "email" and not _EMAIL.match(value):
                self.error(path, "is not a valid email address")
            if fmt == "uri" and not value.startswith(("http://", "https://")):
                self.error(path, "is not an http(s) URL")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if "maximum" in schema and value > schema["maximum"]:
                self.error(path, f"is greater than {schema['maximum']}")
            if "minimum" in schema and value < schema["minimum"]:
                self.error(path, f"is less than {schema['minimum']}")
        if isinstance(value, list):
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                self.error(path, f"has more than {schema['maxItems']} items")
            if "minItems" in schema and len(value) < schema["minItems"]:
                self.error(path, f"has fewer than {schema['minItems']} items")
            items = schema.get("items")
            if isinstance(items, Mapping):
                for index, item in enumerate(value):
                    self.validate(items, item, f"{path}[{index}]", dispatched)
        return True

    def _check_object(
        self, parts: list[Mapping[str, Any]], value: dict[str, Any], path: str, dispatched: frozenset[str]
    ) -> None:
        # OpenAPI-style allOf: properties merge, and `additionalProperties: false` in any part
        # closes the object to the union of every part's properties.
        properties: dict[str, list[Mapping[str, Any]]] = {}
        required: set[str] = set()
        closed = False
        for part in parts:
            for name, sub in (part.get("properties") or {}).items():
                properties.setdefault(name, []).append(sub)
            required.update(part.get("required") or [])
            closed = closed or part.get("additionalProperties") is False
        for name in sorted(required - set(value)):
            self.error(f"{path}.{name}".lstrip("."), "is required")
        for name, item in value.items():
            sub_path = f"{path}.{name}".lstrip(".")
            if name in properties:
                for sub in properties[name]:
                    self.validate(sub, item, sub_path, dispatched)
            elif closed:
                self.error(sub_path, "is not an allowed field")


def validate(ref: str, value: Any) -> list[str]:
    """Every violation of the schema at `ref` (a JSON pointer into the patched spec); [] if none."""
    validator = _Validator()
    validator.validate({"$ref": ref}, value, "", frozenset())
    if ref in (TEMPLATE_CREATE, TEMPLATE_EDIT) and isinstance(value, dict) and isinstance(value.get("components"), list):
        for index, component in enumerate(value.get("components") or []):
            if not isinstance(component, dict):
                continue
            limit = COMPONENT_TEXT_LIMITS.get(str(component.get("type", "")).upper())
            text = component.get("text")
            if limit and isinstance(text, str) and len(text) > limit:
                validator.error(f"components[{index}].text", f"is longer than {limit} characters ({len(text)})")
    return validator.errors
