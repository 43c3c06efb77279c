"""Policy-change notifiers for the tests (profile.hooks.policy_change_notifiers)."""

from __future__ import annotations

calls: list[int] = []


def record(*, policy_version_id: int) -> None:
    calls.append(policy_version_id)


def explode(*, policy_version_id: int) -> None:
    raise RuntimeError("campaign service unavailable")
