"""A test that lacks Redis skips on a developer's machine and fails under CI=true."""

from __future__ import annotations

import pytest

from tests.needs import missing


def test_missing_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        missing("needs Redis")


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_missing_fails_under_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="needs Redis: CI must provide it"):
        missing("needs Redis")
