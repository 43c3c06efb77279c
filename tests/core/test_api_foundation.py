"""The API conventions of API.md: key auth, the JSON error shape, limits, throttling, schema."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from rest_framework.test import APIClient

from pandorakart_wa.core.api.keys import api_key_create
from pandorakart_wa.core.models import ApiScope, StorefrontApiKey
from tests.needs import missing

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.core.urls")]


@pytest.fixture(params=["locmem", "redis"])
def any_cache(request: Any, settings: Any) -> Iterator[str]:
    """The tests' in-process cache, then Redis as in production (the throttle's pipelined path)."""
    if request.param == "redis":
        broker = urlsplit(django_settings.CELERY_BROKER_URL)
        if broker.scheme != "redis":
            missing("needs Redis (CELERY_BROKER_URL)")
        url = urlunsplit((broker.scheme, broker.netloc, f"/{int(broker.path.strip('/') or 0) + 2}", "", ""))
        redis.Redis.from_url(url).flushdb()
        settings.CACHES = {"default": {"BACKEND": "pandorakart_wa.core.cache.RedisCache", "LOCATION": url}}
    cache.clear()
    yield request.param
    cache.clear()


def test_no_key_is_401_json(anon_client):
    response = anon_client.get("/api/v1/ping")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize("header", ["Api-Key nope.nope", "Bearer abc", "Api-Key ", "Api-Key"])
def test_bad_key_is_401_json(anon_client, header):
    anon_client.credentials(HTTP_AUTHORIZATION=header)
    response = anon_client.get("/api/v1/ping")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_revoked_key_is_401(api_client, api_key):
    StorefrontApiKey.objects.filter(pk=api_key[0].pk).update(revoked=True)
    response = api_client.get("/api/v1/ping")
    assert response.status_code == 401


def test_a_remembered_key_revoked_is_refused_at_the_next_request(api_client, api_key, any_cache):
    # given a key verified once (remembered by the process: no query for it on the next request)
    assert api_client.get("/api/v1/ping").status_code == 200
    # when staff revoke it (the admin saves the row) and the revocation commits
    row = StorefrontApiKey.objects.get(pk=api_key[0].pk)
    with transaction.atomic():
        row.revoked = True
        row.save()
    # then the very next request is refused
    assert api_client.get("/api/v1/ping").status_code == 401


def test_a_key_changed_behind_djangos_back_is_refused_once_the_memory_lapses(api_client, api_key, settings,
                                                                             monkeypatch):
    assert api_client.get("/api/v1/ping").status_code == 200
    StorefrontApiKey.objects.filter(pk=api_key[0].pk).update(revoked=True)  # SQL by hand: no generation bump
    clock = [time.monotonic() + settings.API_KEY_CACHE_SECONDS + 1]
    monkeypatch.setattr("pandorakart_wa.core.api.auth.time.monotonic", lambda: clock[0])
    assert api_client.get("/api/v1/ping").status_code == 401


def test_a_key_remembered_by_one_process_is_not_another_keys(api_client, api_key, db):
    # the memory is by the whole key: a key with the same prefix and another secret is refused
    assert api_client.get("/api/v1/ping").status_code == 200
    prefix = api_key[1].partition(".")[0]
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Api-Key {prefix}.not-the-secret")
    assert forged.get("/api/v1/ping").status_code == 401


def test_valid_key_reaches_the_view(api_client):
    response = api_client.get("/api/v1/ping")
    assert response.status_code == 200
    assert response.json()["key"] == "storefront-test"
    assert response["X-Correlation-ID"]


def test_key_without_the_scope_is_403(db):
    # given a key limited to complaints
    _, key = api_key_create(name="complaints-only", scopes=[ApiScope.COMPLAINTS])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    # when it calls a consent endpoint
    response = client.get("/api/v1/test/consent-scoped")
    # then
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_key_with_the_scope_passes(db):
    _, key = api_key_create(name="consent-only", scopes=[ApiScope.CONSENT])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.get("/api/v1/test/consent-scoped").status_code == 200


def test_create_api_key_prints_the_key_alone_on_the_last_line(db, capsys):
    call_command("create_api_key", "storefront-prod")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    api_key = StorefrontApiKey.objects.get_from_key(key)
    assert api_key.name == "storefront-prod"
    assert api_key.is_valid(key)
    assert key not in api_key.hashed_key  # only a hash is stored


def test_unknown_path_is_404_json(api_client):
    response = api_client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_unknown_path_outside_the_api_is_404_json(anon_client):
    response = anon_client.get("/nothing-here")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_wrong_method_is_405_json(api_client):
    response = api_client.delete("/api/v1/ping")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_wrong_media_type_is_415_json(api_client):
    response = api_client.post("/api/v1/test/echo", data="name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_malformed_json_is_400_invalid(api_client):
    response = api_client.post("/api/v1/test/echo", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_bad_fields_are_named(api_client):
    response = api_client.post("/api/v1/test/echo", data={"name": "x" * 11}, format="json")
    body = response.json()
    assert response.status_code == 400
    assert body["code"] == "invalid"
    assert set(body["fields"]) == {"name", "count"}
    assert "name" in body["detail"] and "count" in body["detail"]


def test_oversize_body_is_413(api_client):
    body = json.dumps({"name": "x" * (1024 * 1024 + 1)})
    response = api_client.post("/api/v1/test/echo", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


def test_webhook_accepts_bodies_up_to_3_mib_but_not_more(anon_client):
    response = anon_client.post("/webhooks/whatsapp", data=b"x" * (3 * 1024 * 1024 + 1), content_type="application/json")
    assert response.status_code == 413


def test_unhandled_error_is_json_500_with_correlation_id(api_client, caplog):
    api_client.raise_request_exception = False
    response = api_client.get("/api/v1/test/boom", HTTP_X_CORRELATION_ID="trace-123")
    body = response.json()
    assert response.status_code == 500
    assert body["code"] == "server_error"
    assert body["correlation_id"] == "trace-123"
    assert "Traceback" not in response.content.decode()


def test_throttled_key_gets_429_with_retry_after(api_client, settings, any_cache):
    from pandorakart_wa.core.api.throttling import ApiKeyRateThrottle

    old_rates = ApiKeyRateThrottle.THROTTLE_RATES
    ApiKeyRateThrottle.THROTTLE_RATES = {"api_key": "3/min"}
    try:
        statuses = [api_client.get("/api/v1/ping").status_code for _ in range(4)]
        response = api_client.get("/api/v1/ping")
    finally:
        ApiKeyRateThrottle.THROTTLE_RATES = old_rates
    assert statuses[:3] == [200, 200, 200]
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) >= 1


def test_the_rate_limit_slides_across_windows(api_client, monkeypatch, any_cache):
    # given a limit of 4 a minute, and 4 requests at the end of one minute
    from pandorakart_wa.core.api.throttling import ApiKeyRateThrottle

    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "4/min"})
    clock = [6000.0 * 60 + 59]
    monkeypatch.setattr(ApiKeyRateThrottle, "timer", lambda self: clock[0])
    assert [api_client.get("/api/v1/ping").status_code for _ in range(4)] == [200] * 4
    # when the next minute is a quarter through, three quarters of those still count: one more fits
    clock[0] = 6001.0 * 60 + 15
    assert api_client.get("/api/v1/ping").status_code == 200
    assert api_client.get("/api/v1/ping").status_code == 429
    # and a moment later the old requests weigh a little less: one more fits
    clock[0] += 1.5
    assert api_client.get("/api/v1/ping").status_code == 200
    refused = api_client.get("/api/v1/ping")
    assert refused.status_code == 429
    # and Retry-After says when enough of them have slid out (at 30 s into the minute: 13.5 s on)
    assert int(refused["Retry-After"]) == 14
    clock[0] += 14
    assert api_client.get("/api/v1/ping").status_code == 200


def test_with_redis_a_request_is_counted_in_one_pipelined_round_trip(api_client, monkeypatch, any_cache):
    from django.core.cache.backends.redis import RedisCache

    def not_this_path(*args: object, **kwargs: object) -> None:
        raise AssertionError("the throttle took the read-then-count path on Redis")

    if any_cache == "redis":  # the production cache: counted and read in one pipeline, no get_many/incr
        monkeypatch.setattr(RedisCache, "get_many", not_this_path)
        monkeypatch.setattr(RedisCache, "incr", not_this_path)
    assert [api_client.get("/api/v1/ping").status_code for _ in range(3)] == [200] * 3


def test_with_no_memory_every_request_looks_its_key_up(api_client, api_key, settings):
    settings.API_KEY_CACHE_SECONDS = 0
    assert api_client.get("/api/v1/ping").status_code == 200
    StorefrontApiKey.objects.filter(pk=api_key[0].pk).update(revoked=True)  # no generation bump
    assert api_client.get("/api/v1/ping").status_code == 401
