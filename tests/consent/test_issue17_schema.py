"""The OpenAPI schema describes the preference-centre and consent-manager endpoints exactly as
API.md names them: paths, fields and status codes."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator

    generated: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    return generated


def _fields(schema: dict[str, Any], ref_holder: dict[str, Any]) -> set[str]:
    ref = ref_holder["content"]["application/json"]["schema"]["$ref"]
    return set(schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"])


def test_preference_link_is_described(schema):
    operation = schema["paths"]["/api/v1/preferences/link"]["post"]
    assert {"201", "400", "401", "403", "404", "422"} <= set(operation["responses"])
    assert _fields(schema, operation["requestBody"]) == {"phone", "language"}
    assert _fields(schema, operation["responses"]["201"]) == {"url", "expires_at"}


def test_consent_manager_endpoints_are_described(schema):
    events = schema["paths"]["/api/v1/consent-manager/events"]["post"]
    assert {"200", "201", "400", "401", "403", "422"} <= set(events["responses"])
    assert _fields(schema, events["requestBody"]) == {"artefact_id", "phone", "action", "purposes", "notice_version",
                                                      "occurred_at"}
    assert {"receipt", "contact", "purposes", "history"} <= _fields(schema, events["responses"]["201"])
    artefact = schema["paths"]["/api/v1/consent-manager/artefacts/{artefact_id}"]["get"]
    assert {"200", "404"} <= set(artefact["responses"])
    assert {"artefact_id", "status", "purposes", "events"} <= _fields(schema, artefact["responses"]["200"])


def test_the_served_schema_names_the_new_paths(anon_client):
    served = yaml.safe_load(anon_client.get("/api/schema/").content)
    assert {"/api/v1/preferences/link", "/api/v1/consent-manager/events",
            "/api/v1/consent-manager/artefacts/{artefact_id}"} <= set(served["paths"])
