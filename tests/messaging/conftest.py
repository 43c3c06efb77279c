from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


class Committing:
    """Runs each call as if its transaction committed: on_commit callbacks (the send task,
    eager in tests) run when the call returns, as they would in production."""

    def __init__(self, target: Any, capture: Callable[..., Any]) -> None:
        self._target = target
        self._capture = capture

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._capture(execute=True):
                return attr(*args, **kwargs)

        return call


@pytest.fixture
def committing(django_capture_on_commit_callbacks: Callable[..., Any]) -> Callable[[Any], Any]:
    """`committing(obj).method(...)`: call with on_commit callbacks executed afterwards."""
    return lambda target: Committing(target, django_capture_on_commit_callbacks)


@pytest.fixture
def api(api_client: Any, committing: Callable[[Any], Any]) -> Any:
    """The storefront's API client, with each request's commit callbacks executed."""
    return committing(api_client)
