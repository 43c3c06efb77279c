"""The Redis cache backend (pandorakart_wa/core/cache.py): Django's, keeping one client per pool."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

from pandorakart_wa.core.cache import RedisCache
from tests.needs import missing


@pytest.fixture
def redis_cache() -> RedisCache:
    broker = urlsplit(settings.CELERY_BROKER_URL)
    if broker.scheme != "redis":
        missing("needs Redis (CELERY_BROKER_URL)")
    url = urlunsplit((broker.scheme, broker.netloc, f"/{int(broker.path.strip('/') or 0) + 2}", "", ""))
    cache = RedisCache(url, {"KEY_PREFIX": "test-cache-backend"})
    cache.clear()
    return cache


def test_it_is_djangos_cache_with_one_client(redis_cache):
    redis_cache.set("a", {"x": 1})
    assert redis_cache.get("a") == {"x": 1}
    assert redis_cache.add("n", 1)
    assert redis_cache.incr("n") == 2
    assert redis_cache.get_many(["a", "n", "missing"]) == {"a": {"x": 1}, "n": 2}
    client = redis_cache._cache.get_client(write=True)
    assert redis_cache._cache.get_client("a") is client  # one server: reads and writes share it


def test_threads_share_the_client_safely(redis_cache):
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                redis_cache.set(f"k{n}:{i}", i)
                assert redis_cache.get(f"k{n}:{i}") == i
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert redis_cache.get("k7:49") == 49
