from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_health_reports_database_and_broker(client):
    # given the test database and the Redis broker are up
    # when
    response = client.get("/health")
    # then
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}
